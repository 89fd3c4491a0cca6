// Package ipset is IPv4 address-set algebra on sorted, disjoint ranges. The
// verifier works on sets, not points: a rule, a route, a service tag or a
// query is a Set, and answers are split into the sub-ranges that behave alike.
package ipset

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Range is an inclusive IPv4 range.
type Range struct{ Lo, Hi uint32 }

// Set is a sorted list of disjoint, non-adjacent ranges. The zero value is
// the empty set. Sets are values: operations return new sets.
type Set struct{ r []Range }

// All is 0.0.0.0/0.
var All = Set{r: []Range{{0, 0xFFFFFFFF}}}

// U32 converts an IPv4 address to an integer; ok is false for IPv6.
func U32(a netip.Addr) (uint32, bool) {
	if a.Is4In6() {
		a = a.Unmap()
	}
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// Addr converts an integer to an IPv4 address.
func Addr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// PrefixRange returns the range of an IPv4 prefix; ok is false for IPv6.
func PrefixRange(p netip.Prefix) (Range, bool) {
	lo, ok := U32(p.Masked().Addr())
	if !ok {
		return Range{}, false
	}
	size := uint64(1) << (32 - p.Bits())
	return Range{lo, uint32(uint64(lo) + size - 1)}, true
}

// FromRanges builds a set from ranges in any order, overlapping or not.
func FromRanges(rs []Range) Set {
	return Normalize(slices.Clone(rs))
}

// Normalize is FromRanges reusing rs's memory (sorted and merged in place)
// for callers whose rs is a scratch buffer; rs must not be used after.
func Normalize(c []Range) Set {
	if len(c) == 0 {
		return Set{}
	}
	slices.SortFunc(c, func(a, b Range) int {
		switch {
		case a.Lo < b.Lo:
			return -1
		case a.Lo > b.Lo:
			return 1
		}
		return 0
	})
	out := c[:1]
	for _, r := range c[1:] {
		last := &out[len(out)-1]
		if uint64(r.Lo) <= uint64(last.Hi)+1 {
			if r.Hi > last.Hi {
				last.Hi = r.Hi
			}
			continue
		}
		out = append(out, r)
	}
	return Set{r: slices.Clip(out)}
}

// FromPrefixes builds a set from prefixes; IPv6 prefixes are skipped (the
// verifier is IPv4-only, see docs/semantics.md).
func FromPrefixes(ps []netip.Prefix) Set {
	rs := make([]Range, 0, len(ps))
	for _, p := range ps {
		if r, ok := PrefixRange(p); ok {
			rs = append(rs, r)
		}
	}
	return FromRanges(rs)
}

// FromAddrs builds a set of single addresses; IPv6 addresses are skipped.
func FromAddrs(addrs ...netip.Addr) Set {
	rs := make([]Range, 0, len(addrs))
	for _, a := range addrs {
		if u, ok := U32(a); ok {
			rs = append(rs, Range{u, u})
		}
	}
	return FromRanges(rs)
}

// Single is the set holding one address.
func Single(u uint32) Set { return Set{r: []Range{{u, u}}} }

// Ranges returns the set's ranges; callers must not modify them.
func (s Set) Ranges() []Range { return s.r }

// IsEmpty reports whether the set holds no address.
func (s Set) IsEmpty() bool { return len(s.r) == 0 }

// Size is the number of addresses.
func (s Set) Size() uint64 {
	var n uint64
	for _, r := range s.r {
		n += uint64(r.Hi) - uint64(r.Lo) + 1
	}
	return n
}

// Contains reports whether u is in the set (binary search).
func (s Set) Contains(u uint32) bool {
	in, _, _ := s.Around(u)
	return in
}

// Around reports whether u is in the set, and the largest range around u
// whose addresses all share that answer.
func (s Set) Around(u uint32) (bool, uint32, uint32) {
	i, _ := slices.BinarySearchFunc(s.r, u, func(r Range, t uint32) int {
		switch {
		case r.Hi < t:
			return -1
		case r.Lo > t:
			return 1
		}
		return 0
	})
	if i < len(s.r) && s.r[i].Lo <= u && u <= s.r[i].Hi {
		return true, s.r[i].Lo, s.r[i].Hi
	}
	// u lies in the gap before s.r[i] (or after the last range).
	lo, hi := uint32(0), uint32(0xFFFFFFFF)
	if i > 0 {
		lo = s.r[i-1].Hi + 1
	}
	if i < len(s.r) {
		hi = s.r[i].Lo - 1
	}
	return false, lo, hi
}

// Union returns s ∪ o.
func (s Set) Union(o Set) Set {
	if len(o.r) == 0 {
		return s
	}
	if len(s.r) == 0 {
		return o
	}
	return FromRanges(append(slices.Clone(s.r), o.r...))
}

// Intersect returns s ∩ o.
func (s Set) Intersect(o Set) Set {
	var out []Range
	i, j := 0, 0
	for i < len(s.r) && j < len(o.r) {
		a, b := s.r[i], o.r[j]
		lo, hi := max(a.Lo, b.Lo), min(a.Hi, b.Hi)
		if lo <= hi {
			out = append(out, Range{lo, hi})
		}
		if a.Hi < b.Hi {
			i++
		} else {
			j++
		}
	}
	return Set{r: out}
}

// Complement returns all addresses not in s.
func (s Set) Complement() Set {
	var out []Range
	next := uint64(0)
	for _, r := range s.r {
		if uint64(r.Lo) > next {
			out = append(out, Range{uint32(next), r.Lo - 1})
		}
		next = uint64(r.Hi) + 1
	}
	if next <= 0xFFFFFFFF {
		out = append(out, Range{uint32(next), 0xFFFFFFFF})
	}
	return Set{r: out}
}

// Subtract returns s \ o.
func (s Set) Subtract(o Set) Set { return s.Intersect(o.Complement()) }

// Overlaps reports whether s and o share an address, without allocating
// (analyses call it for every pair of rules): each range of the smaller set
// is looked up in the larger one.
func (s Set) Overlaps(o Set) bool {
	small, large := s.r, o.r
	if len(small) > len(large) {
		small, large = large, small
	}
	if len(small) == 0 || small[len(small)-1].Hi < large[0].Lo || large[len(large)-1].Hi < small[0].Lo {
		return false
	}
	for _, r := range small {
		// The first range of large that ends at or after r.Lo.
		lo, hi := 0, len(large)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if large[mid].Hi < r.Lo {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < len(large) && large[lo].Lo <= r.Hi {
			return true
		}
	}
	return false
}

// Covers reports whether every address of o is in s, without allocating.
func (s Set) Covers(o Set) bool {
	i := 0
	for _, r := range o.r {
		for i < len(s.r) && s.r[i].Hi < r.Lo {
			i++
		}
		if i == len(s.r) || s.r[i].Lo > r.Lo || s.r[i].Hi < r.Hi {
			return false
		}
	}
	return true
}

// Equal reports whether both sets hold the same addresses.
func (s Set) Equal(o Set) bool { return slices.Equal(s.r, o.r) }

// Prefixes returns the smallest list of CIDRs covering exactly the set.
func (s Set) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, r := range s.r {
		out = append(out, r.Prefixes()...)
	}
	return out
}

// Prefixes returns the CIDRs covering exactly the range.
func (r Range) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	lo, hi := uint64(r.Lo), uint64(r.Hi)
	for lo <= hi {
		bits := 32
		for bits > 0 {
			size := uint64(1) << (32 - (bits - 1))
			if lo%size != 0 || lo+size-1 > hi {
				break
			}
			bits--
		}
		out = append(out, netip.PrefixFrom(Addr(uint32(lo)), bits))
		lo += uint64(1) << (32 - bits)
	}
	return out
}

// String renders a range as a CIDR when it is one, else "a-b".
func (r Range) String() string {
	if r.Lo == r.Hi {
		return Addr(r.Lo).String()
	}
	// One prefix when the size is a power of two and Lo is aligned to it.
	if size := uint64(r.Hi) - uint64(r.Lo) + 1; size&(size-1) == 0 && uint64(r.Lo)&(size-1) == 0 {
		return Addr(r.Lo).String() + "/" + strconv.Itoa(32-bits.TrailingZeros64(size))
	}
	return Addr(r.Lo).String() + "-" + Addr(r.Hi).String()
}

// String lists the ranges, comma-separated, abbreviated past max entries.
func (s Set) String() string { return s.Format(8) }

// Format lists at most max ranges and says how many more there are.
func (s Set) Format(max int) string {
	if len(s.r) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for i, r := range s.r {
		if i == max {
			fmt.Fprintf(&b, ", … (%d more ranges)", len(s.r)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// ParseAddrOrPrefix parses "10.0.0.4", "10.0.0.0/24" or "10.0.0.4-10.0.0.9".
func ParseAddrOrPrefix(s string) (Set, error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		ua, ok1 := U32(a)
		ub, ok2 := U32(b)
		if err1 != nil || err2 != nil || !ok1 || !ok2 || ua > ub {
			return Set{}, fmt.Errorf("%q is not a valid IPv4 range (a.b.c.d-e.f.g.h, low first)", s)
		}
		return Set{r: []Range{{ua, ub}}}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Set{}, fmt.Errorf("%q is not a valid CIDR", s)
		}
		r, ok := PrefixRange(p)
		if !ok {
			return Set{}, fmt.Errorf("%q is IPv6; the verifier is IPv4-only", s)
		}
		return Set{r: []Range{r}}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Set{}, fmt.Errorf("%q is not a valid IP address", s)
	}
	u, ok := U32(a)
	if !ok {
		return Set{}, fmt.Errorf("%q is IPv6; the verifier is IPv4-only", s)
	}
	return Single(u), nil
}
