package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"securetrain/internal/store"
)

// Retrying is a store.Store whose Update runs every closure more than
// once, as a store that retries serialization failures may: each run but
// the last is interrupted and rolled back, and the last run commits. The
// first run goes to its end and fails at the commit; with a seed, a second
// run fails at one of the store calls the closure makes, chosen at random,
// and every later call of that run fails too (as in a transaction the
// database aborted).
//
// Through Retrying, a closure that is not re-runnable gives other results
// than through the store it wraps, which tests compare; a closure that
// turns the injected failure into another answer is recorded (Violations).
// View, Get, List and Referrers are the wrapped store's.
type Retrying struct {
	store.Store

	mu         sync.Mutex
	rnd        *rand.Rand // nil: no run is cut short
	between    func(ctx context.Context) error
	violations []string
}

// NewRetrying wraps s. With seed 0 every Update closure runs twice; with
// another seed three times, the middle run cut short at a store call that
// the seed chooses.
func NewRetrying(s store.Store, seed uint64) *Retrying {
	r := &Retrying{Store: s}
	if seed != 0 {
		r.rnd = rand.New(rand.NewPCG(seed, seed))
	}
	return r
}

// errInterrupted is the failure injected into the runs that do not commit.
var errInterrupted = errors.New("storetest: serialization failure (injected by Retrying)")

// Between has fn run once, in the next Update, after its interrupted runs
// and before its last one, outside any transaction: a test's concurrent
// writer, whose commit is what failed the earlier runs.
func (r *Retrying) Between(fn func(ctx context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.between = fn
}

// Violations describes each closure that returned something other than
// the injected failure after a store call of its run had failed.
func (r *Retrying) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.violations...)
}

// Update runs fn in interrupted, rolled-back transactions, then in the
// wrapped store's Update.
func (r *Retrying) Update(ctx context.Context, fn func(store.Tx) error) error {
	calls, err := r.interrupted(ctx, fn, -1)
	if err != nil {
		return err
	}
	if cut := r.cutAt(calls); cut >= 0 {
		if _, err := r.interrupted(ctx, fn, cut); err != nil {
			return err
		}
	}
	r.mu.Lock()
	between := r.between
	r.between = nil
	r.mu.Unlock()
	if between != nil {
		if err := between(ctx); err != nil {
			return fmt.Errorf("storetest: between the runs of a transaction: %w", err)
		}
	}
	return r.Store.Update(ctx, fn)
}

// cutAt chooses the call at which to cut a run of a closure that makes
// calls store calls; -1 for none.
func (r *Retrying) cutAt(calls int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rnd == nil || calls == 0 {
		return -1
	}
	return r.rnd.IntN(calls)
}

// interrupted runs fn in a transaction whose store calls fail from call
// number cut on (none when cut < 0), and which is rolled back whatever fn
// returns; it returns how many store calls fn made. An error is the
// wrapped store's own.
func (r *Retrying) interrupted(ctx context.Context, fn func(store.Tx) error, cut int) (int, error) {
	tx := &failingTx{cut: cut, failedAt: -1}
	err := r.Store.Update(ctx, func(inner store.Tx) error {
		tx.Tx = inner
		got := fn(tx)
		if tx.failedAt >= 0 && !errors.Is(got, errInterrupted) {
			r.mu.Lock()
			r.violations = append(r.violations, fmt.Sprintf(
				"a closure returned %v after its store call %d failed with %v: it must return the store's errors", got, tx.failedAt, errInterrupted))
			r.mu.Unlock()
		}
		return errInterrupted
	})
	if !errors.Is(err, errInterrupted) {
		return 0, err
	}
	return tx.calls, nil
}

// failingTx counts a run's store calls and fails them from call number
// cut on.
type failingTx struct {
	store.Tx
	cut, calls int
	failedAt   int
}

// call counts a store call and says whether it fails.
func (t *failingTx) call() error {
	n := t.calls
	t.calls++
	if t.cut < 0 || n < t.cut {
		return nil
	}
	if n == t.cut {
		t.failedAt = n
	}
	return errInterrupted
}

func (t *failingTx) Get(ctx context.Context, id string) (store.Record, error) {
	if err := t.call(); err != nil {
		return store.Record{}, err
	}
	return t.Tx.Get(ctx, id)
}

func (t *failingTx) List(ctx context.Context, q store.Query) (store.Page, error) {
	if err := t.call(); err != nil {
		return store.Page{}, err
	}
	return t.Tx.List(ctx, q)
}

func (t *failingTx) Referrers(ctx context.Context, id string) ([]string, error) {
	if err := t.call(); err != nil {
		return nil, err
	}
	return t.Tx.Referrers(ctx, id)
}

func (t *failingTx) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if err := t.call(); err != nil {
		return store.Record{}, err
	}
	return t.Tx.Put(ctx, rec, cond)
}

func (t *failingTx) Delete(ctx context.Context, id string, cond store.Condition) error {
	if err := t.call(); err != nil {
		return err
	}
	return t.Tx.Delete(ctx, id, cond)
}

func (t *failingTx) DeleteUnder(ctx context.Context, scope string) (int, error) {
	if err := t.call(); err != nil {
		return 0, err
	}
	return t.Tx.DeleteUnder(ctx, scope)
}
