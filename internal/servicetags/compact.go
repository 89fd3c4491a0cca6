package servicetags

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The embedded catalog is kept in a compact binary form that ./gen writes
// from an official file after parsing and checking it with Parse: every
// command that needs the catalog loads it in a few milliseconds, where
// decoding its JSON took about 60 ms (docs/performance.md).
//
// Layout: the magic, then unsigned varints and strings (a varint length
// and the bytes): changeNumber, cloud, date, the source file's name, the
// number of tags, and for each tag its name, region, systemService, the
// number of prefixes and each prefix as one byte (its length, plus 64 for
// IPv6) followed by its 4 or 16 address bytes.
const compactMagic = "securetrain-servicetags-1\n"

// v6Base is added to an IPv6 prefix's length (0–128) in its length byte;
// an IPv4 prefix's (0–32) is written as it is.
const v6Base = 64

// Compact returns the catalog in the embedded form, naming Source as the
// file it came from.
func (c *Catalog) Compact() []byte {
	b := []byte(compactMagic)
	b = binary.AppendUvarint(b, uint64(c.ChangeNumber))
	b = appendString(b, c.Cloud)
	b = appendString(b, c.Date)
	b = appendString(b, c.Source)
	b = binary.AppendUvarint(b, uint64(len(c.names)))
	for _, name := range c.names {
		t := c.tags[strings.ToLower(name)]
		b = appendString(b, t.Name)
		b = appendString(b, t.Region)
		b = appendString(b, t.SystemService)
		b = binary.AppendUvarint(b, uint64(len(t.Prefixes)))
		for _, p := range t.Prefixes {
			if p.Addr().Is4() {
				a := p.Addr().As4()
				b = append(append(b, byte(p.Bits())), a[:]...)
			} else {
				a := p.Addr().As16()
				b = append(append(b, byte(v6Base+p.Bits())), a[:]...)
			}
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// errCompact is the one error of a damaged compact catalog: only a broken
// build can produce one (TestDefault guards the embedded file).
var errCompact = errors.New("damaged compact catalog")

// compactReader reads the compact form; the first error sticks.
type compactReader struct {
	data []byte
	err  error
}

func (r *compactReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.data)
	// An overlong encoding is refused: each catalog has one compact form.
	var shortest [binary.MaxVarintLen64]byte
	if n <= 0 || binary.PutUvarint(shortest[:], v) != n {
		r.err = errCompact
		r.data = nil
		return 0
	}
	r.data = r.data[n:]
	return v
}

// count reads a length that must fit in what is left, each item taking
// at least size bytes.
func (r *compactReader) count(size int) int {
	v := r.uvarint()
	if v > uint64(len(r.data)/size) {
		r.err = errCompact
		r.data = nil
		return 0
	}
	return int(v)
}

func (r *compactReader) bytes(n int) []byte {
	if n > len(r.data) {
		r.err = errCompact
		r.data = nil
		return nil
	}
	b := r.data[:n]
	r.data = r.data[n:]
	return b
}

func (r *compactReader) string() string { return string(r.bytes(r.count(1))) }

// parseCompact reads a catalog written by Compact, checking what Parse
// would have refused.
func parseCompact(data []byte) (*Catalog, error) {
	rest, ok := strings.CutPrefix(string(data), compactMagic)
	if !ok {
		return nil, fmt.Errorf("%w: no header", errCompact)
	}
	r := &compactReader{data: []byte(rest)}
	c := &Catalog{ChangeNumber: int(r.uvarint())}
	c.Cloud, c.Date, c.Source = r.string(), r.string(), r.string()
	n := r.count(4) // a tag takes at least its four lengths
	c.tags = make(map[string]*Tag, n)
	keys := make([]string, 0, n)
	for range n {
		t := &Tag{Name: r.string(), Region: r.string(), SystemService: r.string()}
		t.Prefixes = make([]netip.Prefix, r.count(5))
		for i := range t.Prefixes {
			t.Prefixes[i] = r.prefix()
			p := t.Prefixes[i]
			if r.err == nil && (!p.IsValid() || p != p.Masked() || i > 0 && t.Prefixes[i-1].Compare(p) >= 0) {
				r.err = fmt.Errorf("%w: tag %q: prefixes not valid, masked, sorted and distinct", errCompact, t.Name)
			}
		}
		key := strings.ToLower(t.Name)
		if r.err == nil && (t.Name == "" || c.tags[key] != nil || slices.Contains(reserved, key)) {
			r.err = fmt.Errorf("%w: tag %q empty, repeated or reserved", errCompact, t.Name)
		}
		if r.err != nil {
			return nil, r.err
		}
		c.tags[key] = t
		keys = append(keys, key)
		c.prefixes += len(t.Prefixes)
	}
	if r.err != nil || len(r.data) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over", errCompact, len(r.data))
	}
	c.sortNames(keys)
	return c, nil
}

// prefix reads one prefix: its length byte and address bytes.
func (r *compactReader) prefix() netip.Prefix {
	lb := r.bytes(1)
	if lb == nil {
		return netip.Prefix{}
	}
	if lb[0] < v6Base {
		a := r.bytes(4)
		if a == nil {
			return netip.Prefix{}
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(a)), int(lb[0]))
	}
	a := r.bytes(16)
	if a == nil {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(netip.AddrFrom16([16]byte(a)), int(lb[0])-v6Base)
}
