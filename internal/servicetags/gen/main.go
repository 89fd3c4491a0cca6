// Command gen writes the compact embedded service tags catalog: the official
// ServiceTags_Public file reduced to the fields servicetags uses, plus the
// publication date and source file name, as gzip-compressed JSON.
//
//	go run ./internal/servicetags/gen -in ServiceTags_Public_cn375_2025-11-06.json -out internal/servicetags/default.json.gz
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// compact is the official format with only the fields the catalog reads.
// Prefixes stay strings, exactly as published, so parsing the compact file
// gives the same catalog as parsing the original.
type compact struct {
	ChangeNumber int    `json:"changeNumber"`
	Cloud        string `json:"cloud"`
	Date         string `json:"date"`
	Source       string `json:"source"`
	Values       []struct {
		Name       string `json:"name"`
		Properties struct {
			Region          string   `json:"region"`
			SystemService   string   `json:"systemService"`
			AddressPrefixes []string `json:"addressPrefixes"`
		} `json:"properties"`
	} `json:"values"`
}

// dateRE matches the date in names like ServiceTags_Public_cn375_2025-11-06.json.
var dateRE = regexp.MustCompile(`(\d{4})-?(\d{2})-?(\d{2})\.json$`)

func main() {
	in := flag.String("in", "", "official ServiceTags_Public_*.json file")
	out := flag.String("out", "", "output .json.gz file")
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
	var doc compact
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", in, err)
	}
	if len(doc.Values) == 0 {
		return 0, fmt.Errorf("%s: no values", in)
	}
	doc.Source = strings.TrimSuffix(filepath.Base(in), ".gz")
	m := dateRE.FindStringSubmatch(doc.Source)
	if m == nil {
		return 0, errors.New(in + ": no publication date in the file name")
	}
	doc.Date = m[1] + "-" + m[2] + "-" + m[3]

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	if err := json.NewEncoder(zw).Encode(doc); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return buf.Len(), os.WriteFile(out, buf.Bytes(), 0o644)
}
