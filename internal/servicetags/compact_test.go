package servicetags

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// TestCompactRoundTrip: a catalog read back from its compact form equals
// the catalog parsed from the official file, for both official files kept.
func TestCompactRoundTrip(t *testing.T) {
	for _, name := range []string{full375, full290} {
		want := loadOfficial(t, name)
		got, err := parseCompact(want.Compact())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ChangeNumber != want.ChangeNumber || got.Cloud != want.Cloud || got.Date != want.Date || got.Source != want.Source {
			t.Errorf("%s: header %q %q, want %q %q", name, got.Version(), got.Source, want.Version(), want.Source)
		}
		if !slices.Equal(got.Names(), want.Names()) || got.PrefixCount() != want.PrefixCount() {
			t.Fatalf("%s: %d tags %d prefixes, want %d %d", name, got.Len(), got.PrefixCount(), want.Len(), want.PrefixCount())
		}
		for _, n := range want.Names() {
			a, _ := want.Lookup(n)
			b, _ := got.Lookup(n)
			if a.Name != b.Name || a.Region != b.Region || a.SystemService != b.SystemService || !slices.Equal(a.Prefixes, b.Prefixes) {
				t.Errorf("%s: tag %s differs", name, n)
			}
		}
	}
}

// TestCompactRefusesDamage: a truncated, padded or altered compact
// catalog is refused, never loaded in part.
func TestCompactRefusesDamage(t *testing.T) {
	good := loadOfficial(t, full290).Compact()
	cases := map[string][]byte{
		"empty":     nil,
		"no header": good[len(compactMagic):],
		"truncated": good[:len(good)-3],
		"padded":    append(slices.Clone(good), 0),
	}
	for name, data := range cases {
		if _, err := parseCompact(data); !errors.Is(err, errCompact) {
			t.Errorf("%s: got %v, want a damaged-catalog error", name, err)
		}
	}
}

// FuzzParseCompact: any input is refused with an error or read into a
// catalog whose compact form is the input again.
func FuzzParseCompact(f *testing.F) {
	f.Add(loadOfficial(f, full290).Compact()[:4000])
	small, err := Parse([]byte(`{"changeNumber":1,"cloud":"Public","values":[{"name":"A.B","properties":{"region":"x","addressPrefixes":["10.0.0.0/8","fe80::/10","::/128"]}}]}`), "f.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small.Compact())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseCompact(data)
		if err != nil {
			return
		}
		if again := c.Compact(); !bytes.Equal(again, data) {
			t.Fatalf("read %d bytes, wrote back %d different ones", len(data), len(again))
		}
	})
}
