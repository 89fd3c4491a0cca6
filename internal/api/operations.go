package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// Long-running operations, as ARM runs them: the first response carries
// Azure-AsyncOperation, an absolute URL on the host and scheme the client
// used, and a small retry-after-ms (the SDK otherwise waits 30 s between
// polls); GET on it answers {"status": InProgress|Succeeded|Failed|…}.
// Operations are records, so they survive a restart.

const (
	// retryAfterMs is the poll interval the server asks for while an
	// operation runs.
	retryAfterMs = "10"
	// retryAfterDone is sent with an operation that finished before the
	// response: azcore sleeps the first response's hint even when the body
	// is already terminal, so any other value is a pure delay (measured:
	// 10 ms per SDK create).
	retryAfterDone = "0"
)

// beginOperation records an operation on target (provision.KindWrite: a
// write finished within its transaction) and returns its absolute status
// URL, on the scheme and host the client used (link).
func (s *Server) beginOperation(ctx context.Context, tx store.Tx, link opLink, target arm.ID, location, kind string, nodes int) (string, error) {
	opID, err := provision.Begin(ctx, tx, s.clock.Now(), target, location, kind, nodes)
	if err != nil {
		return "", err
	}
	return link.operationURL(opID), nil
}

// operationRoute answers GET .../providers/{ns}/locations/{l}/operations/{name}
// to whoever may read the resource the operation concerns.
func (s *Server) operationRoute(w http.ResponseWriter, r *http.Request, who, id string) error {
	if r.Method != http.MethodGet {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on an operation", r.Method)
	}
	rec, err := s.store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return newError(http.StatusNotFound, "OperationNotFound", "The operation '%s' could not be found.", id)
	}
	if err != nil {
		return err
	}
	var op provision.Operation
	if err := json.Unmarshal(rec.Body, &op); err != nil {
		return err
	}
	target, err := arm.ParseID(op.ResourceID, "")
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), who, target.Type()+"/read", op.ResourceID); err != nil {
		return err
	}
	if !provision.Terminal(op.Status) {
		w.Header().Set("Retry-After-Ms", retryAfterMs)
	}
	return writeRecord(w, http.StatusOK, rec)
}

// OperationRetention is how long a finished operation stays readable
// (ARM keeps operation status for a limited time too).
const OperationRetention = 24 * time.Hour

// SweepOperations deletes the finished operations that ended before
// cutoff, and returns how many.
func (s *Server) SweepOperations(ctx context.Context, cutoff time.Time) (int, error) {
	var old []string
	err := store.Each(ctx, s.store, store.Query{Scope: "", Type: provision.OperationType}, func(rec store.Record) error {
		var op provision.Operation
		if err := json.Unmarshal(rec.Body, &op); err != nil {
			return fmt.Errorf("stored operation %s: %w", rec.ID, err)
		}
		if provision.Terminal(op.Status) && op.EndTime.Before(cutoff) {
			old = append(old, rec.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i := 0; i < len(old); i += store.MaxPage { // bounded transactions
		batch := old[i:min(i+store.MaxPage, len(old))]
		err := s.store.Update(ctx, func(tx store.Tx) error {
			for _, id := range batch {
				if err := tx.Delete(ctx, id, store.Condition{}); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return i, err
		}
	}
	return len(old), nil
}

// Background runs the server's periodic work until ctx ends, and returns
// when all of it has stopped (so that the store can then be closed): the
// provisioning engine, which first resumes what a restart interrupted, and
// a sweep of finished operations every ten minutes. It first ends the
// template deployments a previous run of the server left running, and on
// the way out stops the ones running (both recorded Failed, with why).
func (s *Server) Background(ctx context.Context) {
	if err := s.recoverDeployments(ctx); err != nil {
		s.log.Error("ending interrupted deployments", "err", err)
	}
	defer s.deployments.stop()
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		if err := s.engine.Run(ctx); err != nil {
			s.log.Error("provisioning engine", "err", err)
		}
	}()
	defer func() {
		<-engineDone
		s.jobs.Shutdown() // a restart fails what ran (jobs.Scheduler)
	}()
	sweep := make(chan struct{}, 1)
	for {
		t := s.clock.AfterFunc(10*time.Minute, func() { sweep <- struct{}{} })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-sweep:
		}
		if !s.engine.Working() {
			continue // the replica whose engine works sweeps
		}
		if s.replica != nil {
			// Runs of a replica that died end here, not at a restart.
			if err := s.recoverDeployments(ctx); err != nil {
				s.log.Error("ending interrupted deployments", "err", err)
			}
		}
		if n, err := s.SweepOperations(ctx, s.clock.Now().Add(-OperationRetention)); err != nil {
			s.log.Error("sweeping finished operations", "err", err)
		} else if n > 0 {
			s.log.Info("swept finished operations", "count", n)
		}
	}
}
