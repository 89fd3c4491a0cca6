package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"securetrain/internal/store"
)

// testLeases: a lease is its holder's until it expires or is released;
// another holder is refused meanwhile and takes it over afterwards; the
// holder that lost it can neither renew it nor pass CheckLease, and its
// release leaves the new holder's lease alone.
func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const ttl = 10 * time.Second
	a, err := store.AcquireLease(ctx, s, "engine", "a", t0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	held, err := store.AcquireLease(ctx, s, "engine", "b", t0.Add(ttl-time.Nanosecond), ttl)
	if !errors.Is(err, store.ErrLeaseHeld) || held.Holder != "a" || !held.Expires.Equal(t0.Add(ttl)) {
		t.Fatalf("b asked for a's unexpired lease: %+v, %v; want a's lease and ErrLeaseHeld", held, err)
	}
	if _, err := store.AcquireLease(ctx, s, "sweeper", "b", t0, ttl); err != nil {
		t.Fatalf("another name is another lease: %v", err)
	}
	a, err = store.RenewLease(ctx, s, a, t0.Add(ttl/2), ttl)
	if err != nil || !a.Expires.Equal(t0.Add(ttl/2+ttl)) {
		t.Fatalf("renew: %+v, %v", a, err)
	}
	if _, err := store.AcquireLease(ctx, s, "engine", "b", t0.Add(ttl), ttl); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("b took a's renewed lease at its first expiry: %v", err)
	}
	late := t0.Add(ttl/2 + ttl)
	b, err := store.AcquireLease(ctx, s, "engine", "b", late, ttl)
	if err != nil || b.Holder != "b" || b.Token == a.Token {
		t.Fatalf("b did not take over the expired lease: %+v, %v", b, err)
	}
	if _, err := store.RenewLease(ctx, s, a, late, ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("a renewed a lease b took over: %v", err)
	}
	if err := s.View(ctx, func(rd store.Reader) error { return store.CheckLease(ctx, rd, a) }); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CheckLease passed a's lost lease: %v", err)
	}
	if err := store.ReleaseLease(ctx, s, a); err != nil {
		t.Errorf("releasing a lost lease: %v", err)
	}
	if err := s.View(ctx, func(rd store.Reader) error { return store.CheckLease(ctx, rd, b) }); err != nil {
		t.Errorf("a's release of its lost lease took b's: %v", err)
	}
	if err := store.ReleaseLease(ctx, s, b); err != nil {
		t.Fatal(err)
	}
	if c, err := store.AcquireLease(ctx, s, "engine", "c", late, ttl); err != nil || c.Holder != "c" {
		t.Errorf("a released lease was not free: %+v, %v", c, err)
	}
	if _, err := store.AcquireLease(ctx, s, "", "c", late, ttl); err == nil {
		t.Error("a lease without a name was acquired")
	}
}

// testLeaseRace: holders that race for one expired lease get it once.
func testLeaseRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const holders = 8
	errs := concurrently(holders, func(i int) error {
		_, err := store.AcquireLease(ctx, s, "engine", fmt.Sprintf("h%d", i), now, time.Minute)
		return err
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrLeaseHeld):
			t.Errorf("acquire: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing holders acquired the lease; want 1", won, holders)
	}
}
