// Command gen writes the embedded service tags catalog: an official
// ServiceTags_Public file, parsed and checked as `--service-tags` would read
// it, in the compact binary form servicetags loads quickly, gzip-compressed.
//
//	go run ./internal/servicetags/gen -in ServiceTags_Public_cn375_2025-11-06.json.gz -out internal/servicetags/default.bin.gz
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"securetrain/internal/servicetags"
)

func main() {
	in := flag.String("in", "", "official ServiceTags_Public_*.json file (or .json.gz)")
	out := flag.String("out", "", "output .bin.gz file")
	flag.Parse()
	if *in == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	n, err := run(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%d bytes)\n", *out, n)
}

func run(in, out string) (int, error) {
	data, err := os.ReadFile(in)
	if err != nil {
		return 0, err
	}
	// The repository keeps the official file gzip-compressed (testdata).
	if strings.HasSuffix(in, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", in, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return 0, fmt.Errorf("%s: %w", in, err)
		}
	}
	// The catalog's source is the official file's name, which also gives
	// its publication date.
	c, err := servicetags.Parse(data, strings.TrimSuffix(filepath.Base(in), ".gz"))
	if err != nil {
		return 0, err
	}
	if c.Date == "" {
		return 0, fmt.Errorf("%s: no publication date in the file name", in)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	if _, err := zw.Write(c.Compact()); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return buf.Len(), os.WriteFile(out, buf.Bytes(), 0o644)
}
