// Package servicetags is a catalog of Azure service tags read from the
// official ServiceTags_Public JSON format (or the compact embedded copy of it).
package servicetags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"securetrain/internal/lazyregexp"
)

// Tag is one service tag. Tags are shared by every user of a Catalog and must
// not be modified.
type Tag struct {
	Name          string // as spelled in the file, e.g. "Storage.WestUS2"
	Region        string // "westus2" or "" for global tags
	SystemService string
	Prefixes      []netip.Prefix // v4 and v6, masked, sorted, without duplicates
}

// Catalog is an immutable set of service tags.
type Catalog struct {
	ChangeNumber int
	Cloud        string
	// Date is the publication date "2025-11-06" when known (from the compact
	// file's own field, or from the file name), else "".
	Date   string
	Source string // path or name it was loaded from, or "embedded (<file name>)"

	tags     map[string]*Tag // lower-cased name -> tag
	names    []string        // sorted case-insensitively
	prefixes int
}

// maxFileSize bounds Load: the official file is about 4 MB, so anything far
// larger is not a service tags file and would only waste memory.
const maxFileSize = 64 << 20

// maxErrors caps the reported problems: a wrong file yields thousands.
const maxErrors = 50

// reserved tags are computed per virtual network by Azure; a file that
// defines them would silently shadow that meaning.
var reserved = []string{"virtualnetwork", "internet", "azureloadbalancer"}

// document is the official format; unknown fields are ignored because
// Microsoft adds fields over time. Official files have no date (it is taken
// from the file's name); a "date" field, when present, overrides it.
type document struct {
	ChangeNumber int     `json:"changeNumber"`
	Cloud        string  `json:"cloud"`
	Date         string  `json:"date"`
	Values       []value `json:"values"`
}

type value struct {
	Name       string `json:"name"`
	Properties struct {
		Region          string   `json:"region"`
		SystemService   string   `json:"systemService"`
		AddressPrefixes []string `json:"addressPrefixes"`
	} `json:"properties"`
}

// Load reads a service tags file and parses it.
func Load(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("service tags: %w", err)
	}
	defer f.Close()
	tooBig := fmt.Errorf("service tags: %s is larger than %d MiB, refusing to load it", path, maxFileSize>>20)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > maxFileSize {
		return nil, tooBig
	}
	// Pipes and devices have no size, so the read is bounded too.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("service tags: reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, tooBig
	}
	return Parse(data, path)
}

// Parse decodes a file in the official ServiceTags_Public format. source names
// the file in errors and is searched for a publication date. All problems in
// the file are reported together.
func Parse(data []byte, source string) (*Catalog, error) {
	// Unmarshal accepts null into a struct, so check the shape first.
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%s: top level is not a JSON object", source)
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		// The default message names Go types, which mean nothing to a user.
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, fmt.Errorf("%s: %s is a JSON %s, which is the wrong type", source, te.Field, te.Value)
		}
		return nil, fmt.Errorf("%s: invalid JSON: %w", source, err)
	}
	if len(doc.Values) == 0 {
		return nil, fmt.Errorf("%s: \"values\" is missing or empty", source)
	}
	c := &Catalog{
		ChangeNumber: doc.ChangeNumber,
		Cloud:        doc.Cloud,
		Date:         doc.Date,
		Source:       source,
		tags:         make(map[string]*Tag, len(doc.Values)),
		names:        make([]string, 0, len(doc.Values)),
	}
	keys := make([]string, 0, len(doc.Values))
	var errs []error
	report := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{source}, args...)...))
	}
	if c.Date == "" {
		c.Date = dateFromName(source)
	} else if _, err := time.Parse(time.DateOnly, c.Date); err != nil {
		report("\"date\" %q is not a YYYY-MM-DD date", c.Date)
	}
	for i, v := range doc.Values {
		key := strings.ToLower(v.Name)
		switch {
		case v.Name == "":
			report("values[%d]: tag name is empty", i)
			continue
		case slices.Contains(reserved, key):
			report("tag %q: reserved name, computed per virtual network, must not come from a file", v.Name)
			continue
		case c.tags[key] != nil:
			report("tag %q: duplicate name (same as %q, ignoring case)", v.Name, c.tags[key].Name)
			continue
		}
		t := &Tag{
			Name:          v.Name,
			Region:        strings.ToLower(v.Properties.Region),
			SystemService: v.Properties.SystemService,
			Prefixes:      make([]netip.Prefix, 0, len(v.Properties.AddressPrefixes)),
		}
		for j, s := range v.Properties.AddressPrefixes {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				report("tag %q: addressPrefixes[%d] %q is not a valid CIDR", v.Name, j, s)
				continue
			}
			t.Prefixes = append(t.Prefixes, p.Masked())
		}
		slices.SortFunc(t.Prefixes, netip.Prefix.Compare)
		// Masking can make two spellings equal; a tag is a set of prefixes.
		t.Prefixes = slices.Compact(t.Prefixes)
		c.tags[key] = t
		keys = append(keys, key)
		c.prefixes += len(t.Prefixes)
	}
	if len(errs) > maxErrors {
		errs = append(errs[:maxErrors], fmt.Errorf("… and %d more", len(errs)-maxErrors))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.sortNames(keys)
	return c, nil
}

// sortNames sets the catalog's names in the order of their lower-cased
// keys: sorting the keys, rather than lower-casing in the comparison,
// keeps loading fast.
func (c *Catalog) sortNames(keys []string) {
	slices.Sort(keys)
	c.names = make([]string, 0, len(keys))
	for _, k := range keys {
		c.names = append(c.names, c.tags[k].Name)
	}
}

// dateRE finds "2025-11-06" or "20251103" delimited by non-digits, as in
// ServiceTags_Public_cn375_2025-11-06.json and ServiceTags_Public_20251103.json.
var dateRE = lazyregexp.New(`(?:^|\D)(\d{4}-\d{2}-\d{2}|\d{8})(?:\D|$)`)

// dateFromName returns the publication date in a file name, or "".
func dateFromName(source string) string {
	m := dateRE.FindStringSubmatch(filepath.Base(source))
	if m == nil {
		return ""
	}
	d, err := time.Parse("20060102", strings.ReplaceAll(m[1], "-", ""))
	if err != nil {
		return ""
	}
	return d.Format(time.DateOnly)
}

// Lookup finds a tag by exact name, ignoring case: "storage.westus2" finds
// "Storage.WestUS2", as Azure treats tag names case-insensitively.
func (c *Catalog) Lookup(name string) (*Tag, bool) {
	t, ok := c.tags[strings.ToLower(name)]
	return t, ok
}

// Names returns all tag names, sorted case-insensitively.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

// Len returns the number of tags.
func (c *Catalog) Len() int { return len(c.names) }

// PrefixCount returns the number of prefixes over all tags.
func (c *Catalog) PrefixCount() int { return c.prefixes }

// Version describes the catalog, e.g. "Public changeNumber 375 (2025-11-06)".
func (c *Catalog) Version() string {
	v := fmt.Sprintf("%s changeNumber %d", c.Cloud, c.ChangeNumber)
	if c.Date != "" {
		v += " (" + c.Date + ")"
	}
	return v
}

// Regions returns the regions having a regional variant "Base.Region" of
// tagBase (ignoring case). The names are properties.region, lower-cased,
// sorted and unique; they are Azure's region ids, which are not always the ARM
// location name ("Storage.FranceCentral" has region "centralfrance").
func (c *Catalog) Regions(tagBase string) []string {
	prefix := strings.ToLower(tagBase) + "."
	var regions []string
	for key, t := range c.tags {
		if strings.HasPrefix(key, prefix) && t.Region != "" {
			regions = append(regions, t.Region)
		}
	}
	slices.Sort(regions)
	return slices.Compact(regions)
}
