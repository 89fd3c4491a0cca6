package servicetags

import (
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The official files, gzip-compressed (Azure's download, unchanged).
const dataDir = "testdata"

const (
	full375 = "ServiceTags_Public_cn375_2025-11-06.json"
	full290 = "ServiceTags_Public_cn290_2024-01-24.json"
)

// officialFile reads an official file from testdata.
func officialFile(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, name+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// loadOfficial parses an official file from testdata.
func loadOfficial(t testing.TB, name string) *Catalog {
	t.Helper()
	c, err := Parse(officialFile(t, name), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefault(t *testing.T) {
	c, err := loadEmbedded()
	if err != nil {
		t.Fatalf("embedded catalog is corrupt: %v", err)
	}
	first := Default()
	if first != Default() {
		t.Error("Default() is not cached")
	}
	if c.ChangeNumber != 375 || c.Cloud != "Public" || c.Date != "2025-11-06" {
		t.Errorf("got changeNumber %d cloud %q date %q", c.ChangeNumber, c.Cloud, c.Date)
	}
	if c.Len() != 3039 || c.PrefixCount() != 93362 {
		t.Errorf("Len %d PrefixCount %d, want 3039 93362", c.Len(), c.PrefixCount())
	}
	if got, want := c.Version(), "Public changeNumber 375 (2025-11-06)"; got != want {
		t.Errorf("Version %q, want %q", got, want)
	}
	if got, want := c.Source, "embedded ("+full375+")"; got != want {
		t.Errorf("Source %q, want %q", got, want)
	}

	st, ok := c.Lookup("storage.westus2")
	if !ok || st.Name != "Storage.WestUS2" || st.Region != "westus2" || st.SystemService != "AzureStorage" || len(st.Prefixes) != 52 {
		t.Errorf("Lookup(storage.westus2) = %+v, %v", st, ok)
	}
	if ml, ok := c.Lookup("AzureMachineLearning"); !ok || len(ml.Prefixes) != 336 || ml.Region != "" {
		t.Errorf("Lookup(AzureMachineLearning) = %+v, %v", ml, ok)
	}
	if _, ok := c.Lookup("VirtualNetwork"); ok {
		t.Error("VirtualNetwork must not be in the catalog")
	}
	if _, ok := c.Lookup("Storage.Nowhere"); ok {
		t.Error("Lookup found a tag that does not exist")
	}
}

func TestTagPrefixesSortedMaskedMixed(t *testing.T) {
	st, _ := Default().Lookup("Storage.WestUS2")
	if !slices.IsSortedFunc(st.Prefixes, netip.Prefix.Compare) {
		t.Error("prefixes not sorted")
	}
	var v4, v6 int
	for _, p := range st.Prefixes {
		if p != p.Masked() {
			t.Errorf("%v not masked", p)
		}
		if p.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 == 0 || v6 == 0 {
		t.Errorf("want both families, got %d v4 %d v6", v4, v6)
	}
}

func TestNamesSortedCaseInsensitive(t *testing.T) {
	names := Default().Names()
	if len(names) != Default().Len() {
		t.Fatalf("Names has %d, Len %d", len(names), Default().Len())
	}
	if !slices.IsSortedFunc(names, func(a, b string) int {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	}) {
		t.Error("names not sorted case-insensitively")
	}
	names[0] = "changed"
	if Default().Names()[0] == "changed" {
		t.Error("Names exposes the catalog's slice")
	}
}

func TestRegions(t *testing.T) {
	r := Default().Regions("storage")
	for _, want := range []string{"westus2", "eastus", "centralfrance"} {
		if !slices.Contains(r, want) {
			t.Errorf("Regions(storage) lacks %q: %v", want, r)
		}
	}
	if !slices.IsSorted(r) || len(slices.Compact(slices.Clone(r))) != len(r) {
		t.Errorf("Regions not sorted and unique: %v", r)
	}
	// AzureFrontDoor.Frontend etc. are not regional.
	if r := Default().Regions("AzureFrontDoor"); len(r) != 0 {
		t.Errorf("Regions(AzureFrontDoor) = %v, want none", r)
	}
	if r := Default().Regions("Stor"); len(r) != 0 {
		t.Errorf("Regions(Stor) = %v, want none", r)
	}
}

// TestEmbeddedFaithful proves the compact file loses nothing the catalog uses.
func TestEmbeddedFaithful(t *testing.T) {
	// Through Load, as `--service-tags FILE` reads a download.
	path := filepath.Join(t.TempDir(), full375)
	if err := os.WriteFile(path, officialFile(t, full375), 0o600); err != nil {
		t.Fatal(err)
	}
	full, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	emb := Default()
	if full.ChangeNumber != emb.ChangeNumber || full.Cloud != emb.Cloud || full.Date != emb.Date {
		t.Errorf("header differs: %s vs %s", full.Version(), emb.Version())
	}
	if !slices.Equal(full.Names(), emb.Names()) {
		t.Fatal("names differ")
	}
	for _, n := range full.Names() {
		a, _ := full.Lookup(n)
		b, _ := emb.Lookup(n)
		if a.Name != b.Name || a.Region != b.Region || a.SystemService != b.SystemService || !slices.Equal(a.Prefixes, b.Prefixes) {
			t.Errorf("tag %s differs", n)
		}
	}
}

func TestLoadOlder(t *testing.T) {
	c := loadOfficial(t, full290)
	if c.ChangeNumber != 290 || c.Date != "2024-01-24" {
		t.Errorf("got %s", c.Version())
	}
	if got := filepath.Base(c.Source); got != full290 {
		t.Errorf("Source %q", c.Source)
	}
	// cn290 publishes Storage.EastUS without a region: still accepted.
	if st, ok := c.Lookup("Storage.EastUS"); !ok || st.Region != "" {
		t.Errorf("Storage.EastUS = %+v, %v", st, ok)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
	big := filepath.Join(t.TempDir(), "big.json")
	// A sparse file: the size check must not depend on the content.
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxFileSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestDateFromName(t *testing.T) {
	for name, want := range map[string]string{
		"ServiceTags_Public_20251103.json":             "2025-11-03",
		"dir/ServiceTags_Public_cn375_2025-11-06.json": "2025-11-06",
		"ServiceTags_Public.json":                      "",
		"ServiceTags_Public_20251340.json":             "", // not a date
		"ServiceTags_Public_120251103.json":            "", // 9 digits
	} {
		if got := dateFromName(name); got != want {
			t.Errorf("dateFromName(%q) = %q, want %q", name, got, want)
		}
	}
}

const validDoc = `{"changeNumber":7,"cloud":"Public","extra":{"new":1},"values":[
 {"name":"Storage","id":"Storage","properties":{"region":"","systemService":"AzureStorage","addressPrefixes":["10.0.0.0/8","2603:1000::/40"],"networkFeatures":["NSG"]}},
 {"name":"Storage.WestUS2","properties":{"region":"WestUS2","systemService":"AzureStorage","addressPrefixes":["2603:1030::1/48","10.1.2.3/16","10.1.0.0/16","10.0.0.0/24"]}},
 {"name":"Sql.EastUS","properties":{"addressPrefixes":[]}}]}`

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(validDoc), "ServiceTags_Public_20240101.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Version(), "Public changeNumber 7 (2024-01-01)"; got != want {
		t.Errorf("Version %q, want %q", got, want)
	}
	st, ok := c.Lookup("STORAGE.westus2")
	if !ok || st.Region != "westus2" {
		t.Fatalf("Lookup = %+v, %v", st, ok)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/24"),
		netip.MustParsePrefix("10.1.0.0/16"), // 10.1.2.3/16 masked, duplicate dropped
		netip.MustParsePrefix("2603:1030::/48"),
	}
	if !slices.Equal(st.Prefixes, want) {
		t.Errorf("prefixes %v, want %v", st.Prefixes, want)
	}
	if c.PrefixCount() != 5 || c.Len() != 3 {
		t.Errorf("PrefixCount %d Len %d", c.PrefixCount(), c.Len())
	}
	if got := c.Names(); !slices.Equal(got, []string{"Sql.EastUS", "Storage", "Storage.WestUS2"}) {
		t.Errorf("Names %v", got)
	}
	if c, err := Parse([]byte(validDoc), "x.json"); err != nil || c.Date != "" || c.Version() != "Public changeNumber 7" {
		t.Errorf("no date: %v %v", c, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"invalid JSON", `{"values":[`, []string{"x.json: invalid JSON"}},
		{"array", `[{"values":[]}]`, []string{"x.json: top level is not a JSON object"}},
		{"null", `null`, []string{"not a JSON object"}},
		{"empty input", ``, []string{"not a JSON object"}},
		{"wrong type", `{"values":[{"name":5}]}`, []string{"x.json: values.name is a JSON number, which is the wrong type"}},
		{"values not a list", `{"values":{}}`, []string{"values is a JSON object"}},
		{"missing values", `{"changeNumber":1}`, []string{`"values" is missing`}},
		{"empty name", `{"values":[{"name":"A"},{"name":""}]}`, []string{"values[1]: tag name is empty"}},
		{"duplicate", `{"values":[{"name":"Storage.WestUS2"},{"name":"storage.westus2"}]}`,
			[]string{`tag "storage.westus2": duplicate name (same as "Storage.WestUS2"`}},
		{"invalid prefix", `{"values":[{"name":"Storage.WestUS2","properties":{"addressPrefixes":["1.2.3.0/24","1.2.3.0/24","::/0","1.2.3.0/33"]}}]}`,
			[]string{`x.json: tag "Storage.WestUS2": addressPrefixes[3] "1.2.3.0/33" is not a valid CIDR`}},
		{"reserved", `{"values":[{"name":"virtualNetwork"}]}`, []string{`tag "virtualNetwork": reserved name`}},
		{"bad date", `{"date":"2025-13-01","values":[{"name":"A"}]}`, []string{`"date" "2025-13-01" is not`}},
		{"several", `{"values":[{"name":""},{"name":"Internet"},{"name":"A","properties":{"addressPrefixes":["nope"]}},{"name":"a"}]}`,
			[]string{"values[0]: tag name is empty", `tag "Internet": reserved`, `tag "A": addressPrefixes[0] "nope"`, `tag "a": duplicate`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.doc), "x.json")
			if err == nil {
				t.Fatalf("no error, got catalog %v", c.Version())
			}
			if c != nil {
				t.Error("catalog returned with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"values":[{"name":"A","properties":{"addressPrefixes":[`)
	for i := range 60 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"bad"`)
	}
	b.WriteString(`]}}]}`)
	_, err := Parse([]byte(b.String()), "x.json")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 51 || lines[50] != "… and 10 more" || !strings.Contains(lines[49], "addressPrefixes[49]") {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		validDoc,
		`{"values":[]}`,
		`{"values":[{"name":"A","properties":{"addressPrefixes":["1.2.3.4/33","::1/129","1.2.3.4"]}}]}`,
		`{"values":[{"name":"a"},{"name":"A"},{"name":""},{"name":"Internet"}]}`,
		`{"date":"20x5","values":[{"name":"A"}]}`,
		`[1,2]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s), "ServiceTags_Public_20251103.json")
	}
	f.Fuzz(func(t *testing.T, data []byte, source string) {
		c, err := Parse(data, source)
		if (c == nil) == (err == nil) {
			t.Fatalf("catalog %v with error %v", c, err)
		}
		if err != nil {
			return
		}
		// Every name must be found again, and counts must agree.
		n := 0
		for _, name := range c.Names() {
			tag, ok := c.Lookup(name)
			if !ok || tag.Name != name {
				t.Fatalf("Lookup(%q) failed", name)
			}
			n += len(tag.Prefixes)
			c.Regions(name)
		}
		if n != c.PrefixCount() || len(c.Names()) != c.Len() {
			t.Fatalf("counts disagree")
		}
		_ = c.Version()
	})
}

func BenchmarkDefault(b *testing.B) {
	b.SetBytes(int64(len(defaultGz)))
	for b.Loop() {
		if _, err := loadEmbedded(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadFull(b *testing.B) {
	data := officialFile(b, full375)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, full375); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	c := Default()
	for b.Loop() {
		if _, ok := c.Lookup("storage.westus2"); !ok {
			b.Fatal("not found")
		}
	}
}
