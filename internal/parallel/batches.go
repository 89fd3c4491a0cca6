package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Batches calls work(i) for every i in [0, n) on every core, and done for
// each batch [lo, hi) of size items in order, on the calling goroutine, once
// the batch's work has returned. Work runs at most one batch ahead of done,
// so that no core waits while a batch is handed over. An error from done
// stops the work (what runs finishes) and is returned.
func Batches(n, size int, work func(i int), done func(lo, hi int) error) error {
	batches := (n + size - 1) / size
	left := make([]atomic.Int32, batches)
	finished := make([]chan struct{}, batches)
	emitted := make([]chan struct{}, batches)
	for b := range batches {
		left[b].Store(int32(min(size, n-b*size)))
		finished[b], emitted[b] = make(chan struct{}), make(chan struct{})
	}
	next, stop := make(chan int), make(chan struct{})
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				work(i)
				if b := i / size; left[b].Add(-1) == 0 {
					close(finished[b])
				}
			}
		})
	}
	go func() {
		defer close(next)
		for b := range batches {
			if b >= 2 {
				select {
				case <-emitted[b-2]:
				case <-stop:
					return
				}
			}
			for i := b * size; i < min((b+1)*size, n); i++ {
				select {
				case next <- i:
				case <-stop:
					return
				}
			}
		}
	}()
	var err error
	for b := range batches {
		<-finished[b]
		if err = done(b*size, min((b+1)*size, n)); err != nil {
			break
		}
		close(emitted[b])
	}
	close(stop)
	wg.Wait()
	return err
}
