package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"securetrain/internal/clock"
	"securetrain/internal/store"
)

// Several replicas of the control plane on one store each have an engine,
// and one of them works at a time: the one that holds the store lease
// EngineLease. It carries out every pending operation, whichever replica
// began it, runs the job scheduler and the idle scale-down, and renews
// the lease while it works. When it dies, its lease expires and another
// replica's engine takes over, resuming the operations where the store
// says they stood (each step is replayable). Every write transaction of
// the engine — and of the job scheduler, which writes through Store —
// first checks that the lease is still this engine's, so an engine that
// was paused past its lease and overtaken commits nothing.

// EngineLease is the store lease the working engine holds.
const EngineLease = "provisioning-engine"

// Lease makes an engine one of several replicas on a shared store.
type Lease struct {
	// Holder names this replica in the lease (and the log); unique per
	// process.
	Holder string
	// TTL is how long the lease lasts unrenewed: how long operations wait
	// after the working replica dies. It is renewed every TTL/3.
	TTL time.Duration
	// Poll is how often the working engine looks for operations that
	// other replicas began (they cannot wake it), and how often the
	// others ask for the lease.
	Poll time.Duration
}

// errNotHolder refuses a write of an engine that does not hold the lease.
var errNotHolder = fmt.Errorf("provisioning: this replica does not hold the engine's lease: %w", store.ErrLeaseLost)

// fencedStore is the store the engine writes through when it shares it:
// each transaction runs only under the engine's current lease.
type fencedStore struct {
	store.Store
	e *Engine
}

func (f fencedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	l := f.e.held.Load()
	if l == nil {
		return errNotHolder
	}
	lease := *l
	return f.Store.Update(ctx, func(tx store.Tx) error {
		if err := store.CheckLease(ctx, tx, lease); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Store is the store as the engine writes it: for a scheduler that
// works in the engine's passes.
func (e *Engine) Store() store.Store { return e.st }

// Working reports whether this engine does the work now: always when
// it has the store to itself, else while it holds the lease. Periodic
// work outside the engine runs only where it is true, so it runs once.
func (e *Engine) Working() bool { return e.lease == nil || e.held.Load() != nil }

// lead asks for the lease until ctx ends, and works while it holds it.
func (e *Engine) lead(ctx context.Context) {
	for ctx.Err() == nil {
		e.beginPass()
		l, err := store.AcquireLease(ctx, e.shared, EngineLease, e.lease.Holder, e.clock.Now(), e.lease.TTL)
		if err == nil {
			e.log.Info("provisioning engine: this replica works", "holder", l.Holder, "expires", l.Expires)
			e.held.Store(&l) // Working before the attempt ends (Quiet)
			e.endPass()
			e.underLease(ctx, l)
			continue
		}
		if !errors.Is(err, store.ErrLeaseHeld) {
			e.logFailure(ctx, "provisioning: asking for the engine's lease", err)
		}
		e.endPass()
		e.sleep(ctx, e.clock.Now().Add(e.lease.Poll))
	}
}

// underLease works while l (already held) holds, renewing it, and gives
// it up when ctx ends.
func (e *Engine) underLease(ctx context.Context, l store.Lease) {
	lctx, lost := context.WithCancel(ctx)
	defer lost()
	renewed := make(chan struct{})
	go func() { defer close(renewed); e.renew(lctx, lost, l) }()
	e.work(lctx, e.lease.Poll)
	lost()
	<-renewed
	final := e.held.Swap(nil)
	if ctx.Err() == nil && e.scheduler != nil {
		// The lease is another's: the jobs this replica runs are no longer
		// its to run (stopping, the server's Background stops them).
		e.scheduler.Shutdown()
	}
	if ctx.Err() != nil && final != nil {
		// Stopping: the next replica need not wait for the lease to expire.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.lease.TTL)
		defer cancel()
		if err := store.ReleaseLease(rctx, e.shared, *final); err != nil {
			e.log.Error("provisioning: releasing the engine's lease", "err", err)
		}
	}
}

// renew keeps l until ctx ends, and calls lost when it cannot.
func (e *Engine) renew(ctx context.Context, lost context.CancelFunc, l store.Lease) {
	err := KeepLease(ctx, e.shared, e.clock, l, e.lease.TTL, func(next store.Lease) { e.held.Store(&next) },
		func(err error) { e.logFailure(ctx, "provisioning: renewing the engine's lease", err) })
	if err != nil {
		e.log.Warn("provisioning: this replica stops working", "holder", l.Holder, "err", err)
		lost()
	}
}

// KeepLease renews l every ttl/3 until ctx ends (nil) or the lease is lost:
// another's (ErrLeaseLost), or run out without a renewal (the store
// unreachable; another process may have it by then). renewed gets each
// renewed lease; failed each renewal that failed while time remained.
func KeepLease(ctx context.Context, st store.Store, clk clock.Clock, l store.Lease, ttl time.Duration, renewed func(store.Lease), failed func(error)) error {
	tick := make(chan struct{}, 1)
	for {
		t := clk.AfterFunc(ttl/3, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-tick:
		}
		now := clk.Now()
		next, err := store.RenewLease(ctx, st, l, now, ttl)
		switch {
		case err == nil:
			l = next
			if renewed != nil {
				renewed(l)
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, store.ErrLeaseLost):
			return err
		case !now.Before(l.Expires):
			return fmt.Errorf("lease %s ran out unrenewed: %w", l.Name, err)
		default:
			failed(err)
		}
	}
}

// sleep waits until at, a Wake, or ctx's end.
func (e *Engine) sleep(ctx context.Context, at time.Time) {
	t := e.clock.AfterFunc(at.Sub(e.clock.Now()), e.Wake)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-e.kick:
	}
}
