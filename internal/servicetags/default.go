package servicetags

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"
)

//go:generate go run ./gen -in testdata/ServiceTags_Public_cn375_2025-11-06.json.gz -out default.bin.gz

// defaultGz is the official cn375 file in the compact form (compact.go),
// so the binary works offline without shipping 4 MB of JSON.
//
//go:embed default.bin.gz
var defaultGz []byte

var (
	defaultOnce sync.Once
	defaultCat  *Catalog
)

// Default returns the embedded catalog (Public changeNumber 375, 2025-11-06).
// It is decoded on first use and shared afterwards.
func Default() *Catalog {
	defaultOnce.Do(func() {
		c, err := loadEmbedded()
		if err != nil {
			// Only a broken build can get here; TestDefault guards it.
			panic(err)
		}
		defaultCat = c
	})
	return defaultCat
}

// loadEmbedded decodes the embedded catalog without caching, for Default and
// its benchmark.
func loadEmbedded() (*Catalog, error) {
	zr, err := gzip.NewReader(bytes.NewReader(defaultGz))
	if err != nil {
		return nil, fmt.Errorf("embedded service tags: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("embedded service tags: %w", err)
	}
	c, err := parseCompact(data)
	if err != nil {
		return nil, fmt.Errorf("embedded service tags: %w", err)
	}
	c.Source = "embedded (" + c.Source + ")"
	return c, nil
}
