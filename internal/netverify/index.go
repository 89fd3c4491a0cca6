package netverify

import (
	"math/bits"
	"slices"
	"unsafe"

	"securetrain/internal/ipset"
)

// dimIndex answers "which rules match value v in this dimension" (an address
// or a port) with a bitset over the rules, in one binary search. Each rule's
// values are a set; the index cuts the value space at every boundary and
// stores, per interval, an interned bitset. Interning keeps memory small:
// neighbouring intervals mostly share the same rule combination.
type dimIndex struct {
	starts []uint32 // interval k covers [starts[k], starts[k+1]-1]; starts[0] == 0
	ids    []uint32 // interval -> bitset id
	words  int
	table  []uint64 // bitset id*words … (id+1)*words
}

func buildDimIndex(sets []ipset.Set) *dimIndex {
	words := (len(sets) + 63) / 64
	if words == 0 {
		words = 1
	}
	starts := []uint32{0}
	for _, s := range sets {
		for _, r := range s.Ranges() {
			starts = append(starts, r.Lo)
			if r.Hi != 0xFFFFFFFF {
				starts = append(starts, r.Hi+1)
			}
		}
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	type event struct {
		at   int
		rule int
		add  bool
	}
	var events []event
	for i, s := range sets {
		for _, r := range s.Ranges() {
			lo := intervalOf(starts, r.Lo)
			events = append(events, event{lo, i, true})
			if r.Hi != 0xFFFFFFFF {
				events = append(events, event{intervalOf(starts, r.Hi+1), i, false})
			}
		}
	}
	// Removals before additions at the same interval: a rule's ranges are
	// disjoint, so a removal never cancels its own addition.
	slices.SortFunc(events, func(a, b event) int {
		if a.at != b.at {
			return a.at - b.at
		}
		if a.add == b.add {
			return 0
		}
		if !a.add {
			return -1
		}
		return 1
	})
	idx := &dimIndex{starts: starts, ids: make([]uint32, len(starts)), words: words}
	cur := make([]uint64, words)
	intern := map[string]uint32{}
	e := 0
	for k := range starts {
		for e < len(events) && events[e].at == k {
			ev := events[e]
			if ev.add {
				cur[ev.rule/64] |= 1 << (ev.rule % 64)
			} else {
				cur[ev.rule/64] &^= 1 << (ev.rule % 64)
			}
			e++
		}
		key := string(unsafe.Slice((*byte)(unsafe.Pointer(&cur[0])), words*8))
		id, ok := intern[key]
		if !ok {
			id = uint32(len(idx.table) / words)
			idx.table = append(idx.table, cur...)
			intern[key] = id
		}
		idx.ids[k] = id
	}
	idx.table = slices.Clip(idx.table)
	return idx
}

// intervalOf returns the index of the interval holding v.
func intervalOf(starts []uint32, v uint32) int {
	// Largest k with starts[k] <= v; starts[0] == 0 so k >= 0.
	lo, hi := 0, len(starts)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if starts[mid] <= v {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func (d *dimIndex) lookup(v uint32) []uint64 {
	id := d.ids[intervalOf(d.starts, v)]
	return d.table[int(id)*d.words : int(id+1)*d.words]
}

// firstCommon returns the lowest bit set in every bitset, or -1.
func firstCommon(sets ...[]uint64) int {
	for w := range sets[0] {
		x := sets[0][w]
		for _, s := range sets[1:] {
			x &= s[w]
		}
		if x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return -1
}
