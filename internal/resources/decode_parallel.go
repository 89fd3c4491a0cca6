package resources

import (
	"maps"

	"securetrain/internal/arm"
	"securetrain/internal/parallel"
)

// parallelMin is the number of resources (nested children included) from
// which a file's resources are decoded on every core. Below it the
// goroutines and the replay cost more than they save.
var parallelMin = 4096

// chunksPerDecode is how many pieces a parallel decode cuts the resource
// list into: enough that the cores stay busy however unevenly the heavy
// entries (an NSG with 1,000 rules) are spread.
const chunksPerDecode = 64

// registration is a register call recorded by a chunk's decoder.
type registration struct {
	r      *res
	key    string // r.id.Key(), computed on the chunk's core
	parent any
}

// decodeParallel decodes the resource list in chunks on every core, each
// chunk with a decoder of its own that records its registrations and
// references instead of making them, then replays them in file order: the
// snapshot is the one a decode in one pass gives. Decoding a resource reads
// nothing that other resources write; registering (ids, duplicates, the
// snapshot's lists) is what needs file order. A chunk that finds a problem
// leaves its problems in d, and decode starts again in one pass (whatever
// was replayed before is dropped with d): the messages, their order and
// the cap on their number are that pass's.
func (d *decoder) decodeParallel(items []arm.Node) {
	bounds, weights := chunkBounds(items)
	chunks := make([]*decoder, len(bounds)-1)
	done := make([]chan struct{}, len(chunks))
	for c := range done {
		done[c] = make(chan struct{})
	}
	all := make(chan struct{})
	go func() {
		defer close(all)
		parallel.For(len(chunks), func(c int) {
			w := &decoder{file: d.file, snap: &Snapshot{Subscription: d.snap.Subscription},
				lbPools: map[string]bool{}, deferred: true, regs: make([]registration, 0, weights[c])}
			w.fileRes = &res{d: w}
			w.decodeResources(bounds[c], items[bounds[c]:bounds[c+1]])
			chunks[c] = w
			close(done[c])
		})
	}()
	// Chunks are replayed as they finish, in order, while later ones are
	// still decoding: the replay is work in file order on one core.
	failed := false
	for c := range chunks {
		<-done[c]
		w := chunks[c]
		if failed {
			continue
		}
		if len(w.problems) > 0 || w.dropped > 0 {
			d.problems = append(d.problems, w.problems...)
			failed = true
			continue
		}
		for _, g := range w.regs {
			g.r.d = d
			d.place(g.r, g.key, g.parent)
		}
		for _, p := range w.refs {
			p.r.d = d
		}
		d.refs = append(d.refs, w.refs...)
		maps.Copy(d.lbPools, w.lbPools)
	}
	<-all
}

// chunkBounds cuts items into about chunksPerDecode runs of similar work
// (an entry and its nested children); chunk c is items[b[c]:b[c+1]], and
// holds w[c] resources.
func chunkBounds(items []arm.Node) (b, w []int) {
	total := 0
	weights := make([]int, len(items))
	for i, it := range items {
		nested, _ := nestedCount(it)
		weights[i] = 1 + nested
		total += weights[i]
	}
	per := max(total/chunksPerDecode, 1)
	bounds := []int{0}
	var sums []int
	acc := 0
	for i, w := range weights {
		acc += w
		if acc >= per && i+1 < len(items) {
			bounds, sums = append(bounds, i+1), append(sums, acc)
			acc = 0
		}
	}
	return append(bounds, len(items)), append(sums, acc)
}
