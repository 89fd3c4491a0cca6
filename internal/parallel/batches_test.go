package parallel

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
)

// Batches hands every batch over in order, once all its work is done,
// never runs work more than one batch ahead of what was handed over, and
// stops at the first error.
func TestBatchesOrderAndBounds(t *testing.T) {
	for _, n := range []int{0, 1, 5, 64, 65, 200, 1000} {
		const size = 7
		var doneUpTo atomic.Int64 // items handed over
		var ahead atomic.Int64    // most items worked ahead of doneUpTo
		worked := make([]atomic.Bool, n)
		var batches [][2]int
		err := Batches(n, size, func(i int) {
			if d := int64(i) - doneUpTo.Load(); d > ahead.Load() {
				ahead.Store(d) // racy max, enough to see a runaway
			}
			worked[i].Store(true)
		}, func(lo, hi int) error {
			for i := lo; i < hi; i++ {
				if !worked[i].Load() {
					t.Fatalf("n=%d: batch [%d,%d) handed over before item %d was worked", n, lo, hi, i)
				}
			}
			batches = append(batches, [2]int{lo, hi})
			doneUpTo.Store(int64(hi))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want [][2]int
		for lo := 0; lo < n; lo += size {
			want = append(want, [2]int{lo, min(lo+size, n)})
		}
		if !slices.Equal(batches, want) {
			t.Fatalf("n=%d: batches %v, want %v", n, batches, want)
		}
		if a := ahead.Load(); a >= 2*size {
			t.Fatalf("n=%d: work ran %d items ahead of the batches handed over (at most %d)", n, a, 2*size-1)
		}
	}
}

func TestBatchesStopsAtError(t *testing.T) {
	stop := errors.New("stop")
	var worked atomic.Int64
	calls := 0
	err := Batches(1000, 10, func(int) { worked.Add(1) }, func(lo, hi int) error {
		calls++
		if lo == 30 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 4 {
		t.Fatalf("err %v after %d batches, want %v after 4", err, calls, stop)
	}
	// Returned: nothing runs any more, and at most the batch after the
	// failing one was started.
	w := worked.Load()
	if w > 50 {
		t.Fatalf("%d items worked, want at most 50", w)
	}
	if worked.Load() != w {
		t.Fatal("work still running after Batches returned")
	}
}
