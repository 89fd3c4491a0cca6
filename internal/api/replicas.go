package api

import (
	"context"
	"errors"
	"net/http"

	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// A template deployment runs in the replica that accepted it. When the
// store is shared, that replica holds a lease on the deployment while it
// runs it: another replica then refuses to run the same deployment at
// the same time, and ends as interrupted (recoverDeployments) only the
// runs whose replica stopped renewing — not those running elsewhere. A
// cancel through another replica is recorded, and the running replica
// stops its run when it next renews the lease.

// deploymentLease names the lease of a deployment's run.
func deploymentLease(key string) string { return "deployments" + key }

// claimRun takes the lease of the deployment id for this replica (nil
// when the store is not shared).
func (s *Server) claimRun(ctx context.Context, id arm.ID) (*store.Lease, error) {
	if s.replica == nil {
		return nil, nil
	}
	l, err := store.AcquireLease(ctx, s.store, deploymentLease(id.Key()), s.replica.Holder, s.clock.Now(), s.replica.TTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		return nil, newError(http.StatusConflict, "DeploymentActive", "Unable to edit or replace deployment '%s': it is still running on another replica. Wait for it to finish or cancel it there.", id.Leaf())
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// checkRunLease fails, in tx, unless l (nil: the store is not shared)
// is still the lease of the run: the store's fencing of a stale writer.
func checkRunLease(ctx context.Context, tx store.Tx, l *store.Lease) error {
	if l == nil {
		return nil
	}
	return store.CheckLease(ctx, tx, *l)
}

// underRunLease runs run while keeping l (nil: just runs it), then gives
// the lease up. Losing it stops the run.
func (s *Server) underRunLease(ctx context.Context, l *store.Lease, key string, run func(context.Context)) {
	if l == nil {
		run(ctx)
		return
	}
	kctx, stop := context.WithCancel(ctx)
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		err := provision.KeepLease(kctx, s.store, s.clock, *l, s.replica.TTL, func(store.Lease) { s.canceledElsewhere(kctx, key) },
			func(err error) { s.log.Error("renewing a deployment's lease", "deployment", key, "err", err) })
		if err != nil {
			s.log.Error("a deployment's lease was lost; the run stops", "deployment", key, "err", err)
			s.deployments.cancel(key, errStopping)
		}
	}()
	run(ctx)
	stop()
	<-kept
	s.releaseRun(ctx, l, key)
}

// canceledElsewhere stops the run of deployment key when another replica
// recorded it Canceled (cancelDeployment there cannot reach this run):
// looked at each time the run's lease is renewed.
func (s *Server) canceledElsewhere(ctx context.Context, key string) {
	d, err := readDeployment(ctx, s.store, key)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("reading a running deployment", "deployment", key, "err", err)
		}
		return
	}
	if d.Properties.ProvisioningState == deployCanceled {
		s.deployments.cancel(key, errCanceled)
	}
}

// releaseRun gives up the lease of a deployment's run (nil: none).
func (s *Server) releaseRun(ctx context.Context, l *store.Lease, key string) {
	if l == nil {
		return
	}
	if err := store.ReleaseLease(context.WithoutCancel(ctx), s.store, *l); err != nil {
		s.log.Error("releasing a deployment's lease", "deployment", key, "err", err)
	}
}

// orphaned reports whether no replica runs the deployment key: always
// when the store is not shared; else when its lease is free, and then
// the lease is returned, held, for releaseRun once the run is recorded
// as ended.
func (s *Server) orphaned(ctx context.Context, key string) (bool, *store.Lease, error) {
	if s.replica == nil {
		return true, nil, nil
	}
	l, err := store.AcquireLease(ctx, s.store, deploymentLease(key), s.replica.Holder, s.clock.Now(), s.replica.TTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, &l, nil
}
