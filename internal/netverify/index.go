package netverify

import (
	"cmp"
	"math/bits"
	"slices"
	"sync"

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

// dimBuilder is buildDimIndex's scratch memory, reused from build to
// build (a large environment has thousands of NSG dimensions to index, and
// fresh memory costs a page fault per page).
type dimBuilder struct {
	groupOf     map[setKey]int
	groupOfRule []int
	groups      []ipset.Set
	masks       []uint64
	toggles     []uint64
	sortBuf     []uint64
	cur         []uint64
	table       []uint64
	in          interner
}

var dimBuilders = sync.Pool{New: func() any { return &dimBuilder{groupOf: map[setKey]int{}} }}

// zeroed returns buf's memory as n zeroed words (new memory if too short).
func zeroed(buf []uint64, n int) []uint64 {
	if cap(buf) < n {
		return make([]uint64, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

func buildDimIndex(sets []ipset.Set) *dimIndex {
	b := dimBuilders.Get().(*dimBuilder)
	defer dimBuilders.Put(b)
	defer b.release()
	words := bitsetWords(len(sets))
	// Rules with the same set form a group with one mask. Groups' masks are
	// disjoint and a set's ranges are disjoint, so entering and leaving a
	// range are both an XOR of the group's mask.
	for _, s := range sets {
		k := keyOf(s)
		g, ok := b.groupOf[k]
		if !ok {
			g = len(b.groups)
			b.groupOf[k] = g
			b.groups = append(b.groups, s)
		}
		b.groupOfRule = append(b.groupOfRule, g)
	}
	b.masks = zeroed(b.masks, len(b.groups)*words)
	for i, g := range b.groupOfRule {
		b.masks[g*words+i/64] |= 1 << (i % 64)
	}
	// Every range of a group toggles its mask where it starts and after
	// it ends. The toggles, each a value in the high half of a word and its
	// group in the low half, are sorted by value with a radix sort (a
	// service tag's thousands of ranges make sorting the largest part of
	// the build), then swept: between two distinct values the bitset is
	// constant.
	toggles := b.toggles[:0]
	for g, s := range b.groups {
		for _, r := range s.Ranges() {
			toggles = append(toggles, uint64(r.Lo)<<32|uint64(g))
			if r.Hi != 0xFFFFFFFF {
				toggles = append(toggles, uint64(r.Hi+1)<<32|uint64(g))
			}
		}
	}
	toggles, b.sortBuf = sortByHigh(toggles, b.sortBuf)
	b.toggles = toggles
	// The index is kept for the network's life: sized exactly.
	intervals := 1
	for i, t := range toggles {
		if v := uint32(t >> 32); v != 0 && (i == 0 || v != uint32(toggles[i-1]>>32)) {
			intervals++
		}
	}
	idx := &dimIndex{starts: make([]uint32, 1, intervals), ids: make([]uint32, 0, intervals), words: words, table: b.table[:0]}
	// The bitset's hash follows it through the toggles: the XOR of a key
	// per group in it (distinct groups' masks are disjoint and not empty,
	// so equal bitsets are equal sets of groups and hash alike).
	b.cur = zeroed(b.cur, words)
	cur, hash := b.cur, uint64(0)
	b.in.reset(len(b.groups), intervals)
	for _, t := range toggles {
		if v := uint32(t >> 32); v != idx.starts[len(idx.starts)-1] {
			idx.ids = append(idx.ids, idx.intern(&b.in, hash, cur))
			idx.starts = append(idx.starts, v)
		}
		g := int(uint32(t))
		m := b.masks[g*words : (g+1)*words]
		for w := range cur {
			cur[w] ^= m[w]
		}
		hash ^= b.in.keys[g]
	}
	idx.ids = append(idx.ids, idx.intern(&b.in, hash, cur))
	// The bitsets were gathered in the builder's memory: the index keeps
	// an exact copy.
	b.table, idx.table = idx.table, slices.Clone(idx.table)
	return idx
}

// release drops the builder's references to the sets it indexed.
func (b *dimBuilder) release() {
	clear(b.groupOf)
	clear(b.groups)
	b.groups, b.groupOfRule = b.groups[:0], b.groupOfRule[:0]
}

// sortByHigh sorts words by their high 32 bits (least significant byte
// first, stable), skipping the bytes every word shares. It returns the
// sorted words, in xs or in buf (grown to len(xs) if shorter), and the
// other of the two, for reuse.
func sortByHigh(xs, buf []uint64) (sorted, spare []uint64) {
	if len(xs) < 256 {
		slices.SortFunc(xs, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
		return xs, buf
	}
	if cap(buf) < len(xs) {
		buf = make([]uint64, len(xs))
	}
	buf = buf[:len(xs)]
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
	return xs, buf
}

// interner finds the bitsets already in an index's table by hash (see
// buildDimIndex): an open-addressing table of ids.
type interner struct {
	keys   []uint64 // by group: what its mask adds to a bitset's hash
	slots  []uint32 // id+1, 0 when empty; the length is a power of two
	hashes []uint64 // by id
}

// reset empties the interner for an index of groups groups and at most
// intervals distinct bitsets; it starts with at most 4,096 slots (far
// fewer bitsets than intervals are distinct) and grows as needed.
func (in *interner) reset(groups, intervals int) {
	in.keys = in.keys[:0]
	for g := range groups {
		in.keys = append(in.keys, splitmix64(uint64(g)))
	}
	in.hashes = in.hashes[:0]
	n := 64
	for n < 2*intervals && n < 1<<12 {
		n *= 2
	}
	if cap(in.slots) < n {
		in.slots = make([]uint32, n)
		return
	}
	in.slots = in.slots[:n]
	clear(in.slots)
}

// splitmix64 is a well-mixed 64-bit value for each x (SplitMix64's
// finaliser), deterministic so that builds are.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// intern returns the id of a bitset whose hash is h, adding it to the
// table when new.
func (d *dimIndex) intern(in *interner, h uint64, bs []uint64) uint32 {
	mask := uint64(len(in.slots) - 1)
	i := h & mask
	for ; in.slots[i] != 0; i = (i + 1) & mask {
		id := in.slots[i] - 1
		if in.hashes[id] == h && slices.Equal(d.table[int(id)*d.words:int(id+1)*d.words], bs) {
			return id
		}
	}
	id := uint32(len(in.hashes))
	d.table = append(d.table, bs...)
	in.hashes = append(in.hashes, h)
	in.slots[i] = id + 1
	if 2*len(in.hashes) > len(in.slots) {
		in.grow()
	}
	return id
}

// grow doubles the slots, keeping them at most half full.
func (in *interner) grow() {
	in.slots = make([]uint32, 2*len(in.slots))
	mask := uint64(len(in.slots) - 1)
	for id, h := range in.hashes {
		i := h & mask
		for in.slots[i] != 0 {
			i = (i + 1) & mask
		}
		in.slots[i] = uint32(id) + 1
	}
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
