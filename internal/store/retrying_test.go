package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// id is the record the Retrying tests write.
const id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"

// TestRetryingConformance: a store that re-runs closures keeps the
// contract, and the suite's own closures are re-runnable and return the
// store's errors.
func TestRetryingConformance(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			var all []*storetest.Retrying
			storetest.Run(t, func(t *testing.T) store.Store {
				r := storetest.NewRetrying(openSQLite(t), seed)
				all = append(all, r)
				return r
			})
			for _, r := range all {
				if v := r.Violations(); len(v) > 0 {
					t.Errorf("violations: %v", v)
				}
			}
		})
	}
}

// TestRetryingRunsEveryClosureAgain: each run but the last is rolled back,
// and a closure that counts its runs in a captured variable stores another
// answer than through the plain store.
func TestRetryingRunsEveryClosureAgain(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		seed uint64
		runs int
	}{{0, 2}, {7, 3}} {
		s := openSQLite(t)
		r := storetest.NewRetrying(s, tc.seed)
		runs := 0 // captured and not reset: not re-runnable
		err := r.Update(ctx, func(tx store.Tx) error {
			runs++
			if _, err := tx.Get(ctx, id); err == nil {
				return errors.New("a rolled-back run's write is visible")
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			_, err := tx.Put(ctx, store.Record{ID: id, Type: "T", Body: []byte(fmt.Sprint(runs))}, store.Condition{})
			return err
		})
		if err != nil {
			t.Fatalf("seed %d: %v", tc.seed, err)
		}
		got, err := s.Get(ctx, id)
		if err != nil || runs != tc.runs || string(got.Body) != fmt.Sprint(tc.runs) {
			t.Fatalf("seed %d: %d runs, stored %s (%v); want %d runs, the last one's write", tc.seed, runs, got.Body, err, tc.runs)
		}
		if v := r.Violations(); len(v) > 0 {
			t.Fatalf("seed %d: %v", tc.seed, v)
		}
	}
}

// TestRetryingRecordsSwallowedFailures: a closure that answers "not found"
// for any failed read hides the store's failure, and is recorded.
func TestRetryingRecordsSwallowedFailures(t *testing.T) {
	ctx := context.Background()
	r := storetest.NewRetrying(openSQLite(t), 1)
	notThere := errors.New("no such record")
	err := r.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, id); err != nil {
			return notThere // wrong: the failure may not be ErrNotFound
		}
		return nil
	})
	if !errors.Is(err, notThere) {
		t.Fatalf("Update: %v", err)
	}
	v := r.Violations()
	if len(v) != 1 || !strings.Contains(v[0], "no such record") || !strings.Contains(v[0], "store call 0") {
		t.Fatalf("violations: %q", v)
	}
}

// TestRetryingBetween: the hook runs once, after the interrupted runs and
// before the last, which alone sees what it wrote.
func TestRetryingBetween(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	r := storetest.NewRetrying(s, 3)
	var seen []bool
	hooks := 0
	r.Between(func(ctx context.Context) error {
		hooks++
		return s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Put(ctx, store.Record{ID: id, Type: "T", Body: []byte(`{}`)}, store.Condition{})
			return err
		})
	})
	update := func() {
		t.Helper()
		seen = nil
		err := r.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Get(ctx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			seen = append(seen, err == nil) // the test reads every run's
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Three runs: the whole one, one cut at its only call (it returns the
	// failure, seeing nothing), the last.
	update()
	if hooks != 1 || fmt.Sprint(seen) != "[false true]" {
		t.Fatalf("hook ran %d times; runs saw the record: %v", hooks, seen)
	}
	update()
	if hooks != 1 || fmt.Sprint(seen) != "[true true]" {
		t.Fatalf("second Update: hook ran %d times; runs saw the record: %v", hooks, seen)
	}
}
