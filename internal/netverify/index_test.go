package netverify

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"securetrain/internal/ipset"
)

// TestDimIndexMatchesSets checks the index against the sets it was built
// from: at every interval boundary and at random values, the bitset holds
// exactly the sets that contain the value. Sets are small and large (a
// large one takes the radix sort), shared by several rules (one group),
// and touch 0 and the top of the space.
func TestDimIndexMatchesSets(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	randomSet := func(n int, span uint32) ipset.Set {
		rs := make([]ipset.Range, n)
		for i := range rs {
			lo := r.Uint32N(span)
			rs[i] = ipset.Range{Lo: lo, Hi: lo + r.Uint32N(span/16+1)}
			if r.IntN(20) == 0 {
				rs[i] = ipset.Range{Lo: 0xFFFFFF00, Hi: 0xFFFFFFFF}
			}
			if r.IntN(20) == 0 {
				rs[i].Lo = 0
			}
		}
		return ipset.Normalize(rs)
	}
	for round := range 30 {
		var sets []ipset.Set
		shared := randomSet(1+r.IntN(3000), 1<<uint(8+r.IntN(24)))
		for range 1 + r.IntN(150) {
			switch r.IntN(4) {
			case 0:
				sets = append(sets, shared)
			case 1:
				sets = append(sets, ipset.Set{})
			default:
				sets = append(sets, randomSet(1+r.IntN(40), 1<<uint(8+r.IntN(24))))
			}
		}
		idx := buildDimIndex(sets)
		if idx.starts[0] != 0 || len(idx.ids) != len(idx.starts) {
			t.Fatalf("round %d: starts[0] = %d, %d ids for %d intervals", round, idx.starts[0], len(idx.ids), len(idx.starts))
		}
		probes := []uint32{0, 0xFFFFFFFF}
		for k, s := range idx.starts {
			probes = append(probes, s, intervalEnd(idx.starts, k))
		}
		for range 2000 {
			probes = append(probes, r.Uint32())
		}
		for _, v := range probes {
			got := idx.lookup(v)
			for i, s := range sets {
				if in := got[i/64]&(1<<(i%64)) != 0; in != s.Contains(v) {
					t.Fatalf("round %d: value %d, rule %d: index says %v, the set %v", round, v, i, in, s.Contains(v))
				}
			}
			var n int
			for _, w := range got {
				n += bits.OnesCount64(w)
			}
			if n > len(sets) {
				t.Fatalf("round %d: value %d: %d bits for %d rules", round, v, n, len(sets))
			}
		}
		// Every distinct bitset is stored once.
		for id := range len(idx.table) / idx.words {
			for other := range id {
				if slices.Equal(idx.table[id*idx.words:(id+1)*idx.words], idx.table[other*idx.words:(other+1)*idx.words]) {
					t.Fatalf("round %d: bitsets %d and %d are equal", round, other, id)
				}
			}
		}
	}
}

// TestSortByHigh: sorted by the high half, the same words.
func TestSortByHigh(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for _, n := range []int{0, 1, 255, 256, 5000} {
		xs := make([]uint64, n)
		for i := range xs {
			xs[i] = uint64(r.Uint32N(1<<uint(1+r.IntN(31))))<<32 | uint64(r.Uint32N(100))
		}
		want := slices.Clone(xs)
		slices.Sort(want)
		got, _ := sortByHigh(slices.Clone(xs), nil)
		if !slices.IsSortedFunc(got, func(a, b uint64) int { return int(a>>32) - int(b>>32) }) {
			t.Fatalf("n=%d: not sorted by the high half", n)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: the sorted words are not the input's", n)
		}
	}
}
