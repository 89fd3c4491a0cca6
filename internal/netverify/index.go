package netverify

import (
	"cmp"
	"math/bits"
	"slices"

	"securetrain/internal/ipset"
)

// dimIndex answers "which rules match value v in this dimension" (an address
// or a port) with a bitset over the rules, in one binary search. Each rule's
// values are a set; the index cuts the value space at every boundary and
// stores, per interval, an interned bitset. Interning keeps memory small:
// many intervals share the same rule combination.
type dimIndex struct {
	starts []uint32 // interval k covers [starts[k], starts[k+1]-1]; starts[0] == 0
	ids    []uint32 // interval -> bitset id
	words  int
	table  []uint64 // bitset id*words … (id+1)*words
}

// setKey identifies a set for grouping: rules that name the same service
// tag share one Set (the compile cache hands out the same ranges), and
// small sets compare by value.
type setKey struct {
	first *ipset.Range
	n     int
	small [2]ipset.Range
}

func keyOf(s ipset.Set) setKey {
	rs := s.Ranges()
	k := setKey{n: len(rs)}
	if len(rs) <= len(k.small) {
		copy(k.small[:], rs)
	} else {
		k.first = &rs[0]
	}
	return k
}

// bitsetWords is the number of words of a bitset over n rules. It is at
// least one, so that a table without rules (a firewall with application
// rules only) still has a word to AND against: every lookup's bitsets must
// have the same length.
func bitsetWords(n int) int { return max((n+63)/64, 1) }

func buildDimIndex(sets []ipset.Set) *dimIndex {
	words := bitsetWords(len(sets))
	// Rules with the same set form a group with one mask. Groups' masks are
	// disjoint and a set's ranges are disjoint, so entering and leaving a
	// range are both an XOR of the group's mask.
	groupOf := map[setKey]int{}
	var groups []ipset.Set
	var masks []uint64
	for i, s := range sets {
		k := keyOf(s)
		g, ok := groupOf[k]
		if !ok {
			g = len(groups)
			groupOf[k] = g
			groups = append(groups, s)
			masks = append(masks, make([]uint64, words)...)
		}
		masks[g*words+i/64] |= 1 << (i % 64)
	}
	// Every range of a group toggles its mask where it starts and after
	// it ends. The toggles, each a value in the high half of a word and its
	// group in the low half, are sorted by value with a radix sort (a
	// service tag's thousands of ranges make sorting the largest part of
	// the build), then swept: between two distinct values the bitset is
	// constant.
	n := 0
	for _, s := range groups {
		n += 2 * len(s.Ranges())
	}
	toggles := make([]uint64, 0, n)
	for g, s := range groups {
		for _, r := range s.Ranges() {
			toggles = append(toggles, uint64(r.Lo)<<32|uint64(g))
			if r.Hi != 0xFFFFFFFF {
				toggles = append(toggles, uint64(r.Hi+1)<<32|uint64(g))
			}
		}
	}
	toggles = sortByHigh(toggles)
	// The index is kept for the network's life: sized exactly.
	intervals := 1
	for i, t := range toggles {
		if v := uint32(t >> 32); v != 0 && (i == 0 || v != uint32(toggles[i-1]>>32)) {
			intervals++
		}
	}
	idx := &dimIndex{starts: make([]uint32, 1, intervals), ids: make([]uint32, 0, intervals), words: words}
	cur := make([]uint64, words)
	in := interner{seen: map[uint64]uint32{}}
	for _, t := range toggles {
		if v := uint32(t >> 32); v != idx.starts[len(idx.starts)-1] {
			idx.ids = append(idx.ids, idx.intern(&in, cur))
			idx.starts = append(idx.starts, v)
		}
		m := masks[int(uint32(t))*words : int(uint32(t)+1)*words]
		for w := range cur {
			cur[w] ^= m[w]
		}
	}
	idx.ids = append(idx.ids, idx.intern(&in, cur))
	idx.table = slices.Clip(idx.table)
	return idx
}

// sortByHigh sorts words by their high 32 bits (least significant byte
// first, stable), skipping the bytes every word shares; it returns the
// sorted words, in xs or in a buffer of the same length.
func sortByHigh(xs []uint64) []uint64 {
	if len(xs) < 256 {
		slices.SortFunc(xs, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
		return xs
	}
	buf := make([]uint64, len(xs))
	for shift := 32; shift < 64; shift += 8 {
		var count [256]int
		for _, x := range xs {
			count[byte(x>>shift)]++
		}
		if count[byte(xs[0]>>shift)] == len(xs) {
			continue // every word has this byte
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, x := range xs {
			d := byte(x >> shift)
			buf[count[d]] = x
			count[d]++
		}
		xs, buf = buf, xs
	}
	return xs
}

// interner finds the bitsets already in an index's table by hash: seen
// holds the first id of each hash, next chains ids of the same hash.
type interner struct {
	seen map[uint64]uint32
	next []uint32 // by id; ^0 ends a chain
}

// intern returns the id of a bitset, adding it to the table when new.
func (d *dimIndex) intern(in *interner, bs []uint64) uint32 {
	h := uint64(14695981039346656037)
	for _, w := range bs {
		h = (h ^ w) * 1099511628211
	}
	first, ok := in.seen[h]
	if ok {
		for id := first; id != ^uint32(0); id = in.next[id] {
			if slices.Equal(d.table[int(id)*d.words:int(id+1)*d.words], bs) {
				return id
			}
		}
	}
	id := uint32(len(d.table) / d.words)
	d.table = append(d.table, bs...)
	if ok {
		// Chained behind the first of its hash: lookups still find it.
		in.next = append(in.next, in.next[first])
		in.next[first] = id
	} else {
		in.seen[h] = id
		in.next = append(in.next, ^uint32(0))
	}
	return id
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
	bs, _, _ := d.lookupRange(v)
	return bs
}

// lookupRange also returns the interval around v that shares the bitset.
func (d *dimIndex) lookupRange(v uint32) ([]uint64, uint32, uint32) {
	k := intervalOf(d.starts, v)
	id := d.ids[k]
	return d.table[int(id)*d.words : int(id+1)*d.words], d.starts[k], intervalEnd(d.starts, k)
}

// firstAlong returns the first rule set both in every bitset of others and
// at v in this dimension (-1 if none), and the interval around v where the
// query's destinations get that same first rule (see box.joinDst).
func (d *dimIndex) firstAlong(v uint32, b *box, others [][]uint64) (first int, lo, hi uint32) {
	k := intervalOf(d.starts, v)
	first, id := d.firstWith(k, others), d.ids[k]
	// Intervals of a tag's ranges often share a bitset: the last one
	// compared is remembered.
	lastID, lastSame := id, true
	hi = b.joinDst(d.starts, k, func(j int) bool {
		if d.ids[j] != lastID {
			lastID, lastSame = d.ids[j], d.firstWith(j, others) == first
		}
		return lastSame
	})
	return first, d.starts[k], hi
}

// firstWith is firstCommon of interval k's bitset and others.
func (d *dimIndex) firstWith(k int, others [][]uint64) int {
	id := int(d.ids[k])
	bs := d.table[id*d.words : (id+1)*d.words]
	for w, x := range bs {
		for _, o := range others {
			x &= o[w]
		}
		if x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

// intervalEnd is the last value of interval k.
func intervalEnd(starts []uint32, k int) uint32 {
	if k+1 < len(starts) {
		return starts[k+1] - 1
	}
	return 0xFFFFFFFF
}
