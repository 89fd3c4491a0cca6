package ipset

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func set(t testing.TB, s ...string) Set {
	t.Helper()
	var out Set
	for _, x := range s {
		p, err := ParseAddrOrPrefix(x)
		if err != nil {
			t.Fatal(err)
		}
		out = out.Union(p)
	}
	return out
}

func TestAlgebra(t *testing.T) {
	a := set(t, "10.0.0.0/24", "10.0.2.0/24")
	b := set(t, "10.0.0.128/25", "10.0.1.0/24")
	if got := a.Union(b).String(); got != "10.0.0.0-10.0.2.255" {
		t.Errorf("union %s, want 10.0.0.0-10.0.2.255", got)
	}
	if got := a.Intersect(b).String(); got != "10.0.0.128/25" {
		t.Errorf("intersect %s", got)
	}
	if got := a.Subtract(b).String(); got != "10.0.0.0/25, 10.0.2.0/24" {
		t.Errorf("subtract %s", got)
	}
	if got := All.Subtract(set(t, "0.0.0.0/1")).String(); got != "128.0.0.0/1" {
		t.Errorf("complement half %s", got)
	}
	if !All.Complement().IsEmpty() || !(Set{}).Complement().Equal(All) {
		t.Error("complement of all/none")
	}
	if a.Size() != 512 || !a.Contains(mustU32("10.0.2.255")) || a.Contains(mustU32("10.0.1.0")) {
		t.Error("size/contains")
	}
	if got := set(t, "10.0.0.1-10.0.0.6").Prefixes(); len(got) != 4 || got[1].String() != "10.0.0.2/31" {
		t.Errorf("prefixes of .1-.6: %v, want .1/32 .2/31 .4/31 .6/32", got)
	}
}

func mustU32(s string) uint32 {
	u, _ := U32(netip.MustParseAddr(s))
	return u
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "10.0.0.300", "10.0.0.9-10.0.0.1", "::1", "2001:db8::/32", "x", ""} {
		if _, err := ParseAddrOrPrefix(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// TestRandomAgainstMembership checks the algebra against a bitmap of a
// small address space.
func TestRandomAgainstMembership(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randomSet := func() (Set, [256]bool) {
		var bm [256]bool
		var rs []Range
		for i := r.IntN(6); i > 0; i-- {
			lo := uint32(r.IntN(256))
			hi := lo + uint32(r.IntN(int(256-lo)))
			rs = append(rs, Range{lo, hi})
			for u := lo; u <= hi; u++ {
				bm[u] = true
			}
		}
		return FromRanges(rs), bm
	}
	for i := 0; i < 2000; i++ {
		a, am := randomSet()
		b, bm := randomSet()
		u, in, d := a.Union(b), a.Intersect(b), a.Subtract(b)
		for x := uint32(0); x < 256; x++ {
			in, lo, hi := a.Around(x)
			if in != am[x] || lo > x || hi < x {
				t.Fatalf("%v around %d: %v %d-%d", a, x, in, lo, hi)
			}
			for y := lo; y <= hi && y < 256; y++ {
				if am[y] != in {
					t.Fatalf("%v around %d: %d-%d is not uniform at %d", a, x, lo, hi, y)
				}
			}
			if (lo > 0 && am[lo-1] == in) || (hi < 255 && am[hi+1] == in) {
				t.Fatalf("%v around %d: %d-%d is not maximal", a, x, lo, hi)
			}
		}
		if a.Overlaps(b) != !in.IsEmpty() || a.Covers(b) != b.Subtract(a).IsEmpty() {
			t.Fatalf("%v %v: overlaps %v covers %v", a, b, a.Overlaps(b), a.Covers(b))
		}
		for x := uint32(0); x < 256; x++ {
			if u.Contains(x) != (am[x] || bm[x]) || in.Contains(x) != (am[x] && bm[x]) || d.Contains(x) != (am[x] && !bm[x]) {
				t.Fatalf("%v %v at %d", a, b, x)
			}
		}
		if len(u.r) > 1 {
			for k := 1; k < len(u.r); k++ {
				if u.r[k].Lo <= u.r[k-1].Hi+1 {
					t.Fatalf("union not normalised: %v", u.r)
				}
			}
		}
	}
}

func FuzzParseAddrOrPrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "1.2.3.4", "1.2.3.4-1.2.3.9", "0.0.0.0/0", "255.255.255.255/32", "::/0", "1.2.3.4/", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseAddrOrPrefix(s)
		if err != nil {
			return
		}
		if set.IsEmpty() {
			t.Fatalf("%q parsed to an empty set", s)
		}
		ps := set.Prefixes()
		if !FromPrefixes(ps).Equal(set) {
			t.Fatalf("%q: prefixes %v do not cover the set exactly", s, ps)
		}
	})
}
