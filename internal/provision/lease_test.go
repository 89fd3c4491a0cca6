package provision

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"securetrain/internal/clock"
	"securetrain/internal/store"
)

// TestEngineWritesNeedTheLease: an engine on a shared store writes only
// under the engine's lease, and nothing once another replica has taken
// the lease over (its lease expired while it was paused), whatever its
// own idea of the time.
func TestEngineWritesNeedTheLease(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock.NewFake(now),
		Lease: &Lease{Holder: "a", TTL: time.Minute, Poll: time.Second}})
	write := func(id string) error {
		return e.Store().Update(ctx, func(tx store.Tx) error {
			_, err := tx.Put(ctx, store.Record{ID: id, Type: "t", Body: []byte(`{}`)}, store.Condition{})
			return err
		})
	}
	if err := write("/r/before"); !errors.Is(err, store.ErrLeaseLost) || e.Working() {
		t.Fatalf("a write without the lease: %v (working %v)", err, e.Working())
	}
	l, err := store.AcquireLease(ctx, st, EngineLease, "a", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.held.Store(&l)
	if err := write("/r/held"); err != nil || !e.Working() {
		t.Fatalf("a write under the lease: %v (working %v)", err, e.Working())
	}
	if _, err := store.AcquireLease(ctx, st, EngineLease, "b", now.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := write("/r/overtaken"); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a write after b took the lease over: %v", err)
	}
	for id, want := range map[string]bool{"/r/before": false, "/r/held": true, "/r/overtaken": false} {
		if _, err := st.Get(ctx, id); (err == nil) != want {
			t.Errorf("%s stored: %v, want %v", id, err == nil, want)
		}
	}
}

// TestEngineHandsOver: of two engines on one store, the first to ask
// works and the other waits; when the first stops it gives the lease up,
// and the other works from its next poll.
func TestEngineHandsOver(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	engine := func(holder string) *Engine {
		e := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clk,
			Lease: &Lease{Holder: holder, TTL: time.Minute, Poll: time.Second}})
		go e.Run(ctx)
		if err := e.Quiet(ctx); err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := engine("a")
	b := engine("b")
	if !a.Working() || b.Working() {
		t.Fatalf("working: a %v, b %v; want a only", a.Working(), b.Working())
	}
	a.Stop()
	clk.Advance(time.Second) // b's poll: it asks again
	if err := b.Quiet(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.Working() {
		t.Fatal("b does not work after a stopped")
	}
	b.Stop()
}
