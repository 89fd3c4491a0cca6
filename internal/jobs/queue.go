// Package jobs runs Azure ML command jobs on the nodes of computes: a
// durable queue of the jobs not yet finished, a scheduler the provisioning
// engine runs in each pass (nodes claimed in order, a cluster scaled up
// for them, given back when the job ends), and an executor that runs each
// job's processes on the host for the sim fabric, as a user of its own.
package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// activeScope holds one record per job not yet finished: the queue, in
// the order jobs were submitted, and what a started job holds (its nodes
// and user), so that a restart finds and stops what ran.
const (
	activeScope = "/providers/securetrain/activeJobs"
	activeType  = "securetrain/activeJobs"
)

// entry is an active-job record.
type entry struct {
	Job      string    `json:"job"`
	QueuedAt time.Time `json:"queuedAt"`
	Compute  string    `json:"compute"`
	// Queued: the job has been shown Queued.
	Queued bool `json:"queued,omitempty"`
	// Nodes are set when the job is given its nodes, UID just after.
	Nodes []string `json:"nodes,omitempty"`
	UID   int      `json:"uid,omitempty"`
	// Runner is the replica whose processes run the job (Config.Runner),
	// set with Nodes; "" when the store is not shared.
	Runner string `json:"runner,omitempty"`
}

// key names a job in the queue and on disk: a digest of its id, which
// ARM compares case-insensitively.
func key(jobID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(jobID)))
	return hex.EncodeToString(sum[:12])
}

func entryID(jobID string) string { return activeScope + "/" + key(jobID) }

// Enqueue puts a new job, to run on compute, at the end of the queue, in
// tx, at now.
func Enqueue(ctx context.Context, tx store.Tx, jobID, compute string, now time.Time) error {
	return putEntry(ctx, tx, entry{Job: jobID, Compute: compute, QueuedAt: now.UTC()})
}

// Active reports whether a job of this id is in the queue: not finished,
// or deleted and still being stopped.
func Active(ctx context.Context, rd store.Reader, jobID string) (bool, error) {
	_, err := rd.Get(ctx, entryID(jobID))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func putEntry(ctx context.Context, tx store.Tx, e entry) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode the queue entry of %s: %w", e.Job, err)
	}
	_, err = tx.Put(ctx, store.Record{ID: entryID(e.Job), Type: activeType, Body: body}, store.Condition{})
	return err
}

// queue lists the active jobs, oldest first.
func queue(ctx context.Context, rd store.Reader) ([]entry, error) {
	var out []entry
	err := store.Each(ctx, rd, store.Query{Scope: activeScope, Type: activeType}, func(rec store.Record) error {
		var e entry
		if err := json.Unmarshal(rec.Body, &e); err != nil {
			return fmt.Errorf("stored %s: %w", rec.ID, err)
		}
		out = append(out, e)
		return nil
	})
	slices.SortStableFunc(out, func(a, b entry) int { return a.QueuedAt.Compare(b.QueuedAt) })
	return out, err
}

// Failure is why a job failed or was canceled: ARM's error shape, kept in
// the job's properties.error.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error lets preparing a job fail it with a code of its own.
func (f *Failure) Error() string { return f.Message }

// readBody reads a stored job's body; a job that is gone is (nil, nil).
func readBody(ctx context.Context, rd store.Reader, jobID string) (arm.Body, error) {
	rec, err := rd.Get(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	body, err := arm.DecodeBody(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", jobID, err)
	}
	return body, nil
}

// typedJob is the typed view of a stored job's body.
func typedJob(jobID string, body arm.Body) (*resources.Job, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", jobID, err)
	}
	snap, err := resources.DecodeStored(raw)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", jobID, err)
	}
	if len(snap.Jobs) != 1 {
		return nil, fmt.Errorf("stored %s is not one job", jobID)
	}
	return snap.Jobs[0], nil
}

// leftQueue reports, in tx, whether job jobID has left the queue since it
// was read: deleted, canceled before it had nodes (its entry is gone), or
// with a cancel asked for.
func leftQueue(ctx context.Context, tx store.Tx, jobID string) (bool, error) {
	if _, err := tx.Get(ctx, entryID(jobID)); errors.Is(err, store.ErrNotFound) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	body, err := readBody(ctx, tx, jobID)
	if body == nil {
		return err == nil, err
	}
	status := arm.Str(arm.EnsureField(body, "properties"), "status")
	return status == resources.JobCancelRequested || resources.JobTerminal(status), nil
}

// setStatus stores a job's status (and its failure, or none) in tx. A job
// that is gone is left gone; a finished job stays as it finished; a cancel
// asked for meanwhile is not undone by a step on the way (the next pass
// ends the job).
func setStatus(ctx context.Context, tx store.Tx, jobID, status string, why *Failure) error {
	rec, err := tx.Get(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	body, err := arm.DecodeBody(rec.Body)
	if err != nil {
		return fmt.Errorf("stored %s: %w", jobID, err)
	}
	props := arm.EnsureField(body, "properties")
	current, _ := props["status"].(string)
	if resources.JobTerminal(current) || current == resources.JobCancelRequested && !resources.JobTerminal(status) {
		return nil
	}
	props["status"] = status
	delete(props, "error")
	if why != nil {
		props["error"] = why
	}
	body["etag"] = store.NewETag()
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", jobID, err)
	}
	rec.Body, rec.ETag = raw, arm.Str(body, "etag")
	_, err = tx.Put(ctx, rec, store.Condition{})
	return err
}

// RequestCancel asks, in tx, for a job to stop: one that has no nodes
// yet is Canceled at once and leaves the queue; a running one becomes
// CancelRequested and the scheduler ends it; a finished one is left as it
// is. It reports whether the job exists.
func RequestCancel(ctx context.Context, tx store.Tx, jobID string) (bool, error) {
	body, err := readBody(ctx, tx, jobID)
	if body == nil {
		return false, err
	}
	if resources.JobTerminal(arm.Str(arm.EnsureField(body, "properties"), "status")) {
		return true, nil
	}
	rec, err := tx.Get(ctx, entryID(jobID))
	var e entry
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return true, err
	default:
		if err := json.Unmarshal(rec.Body, &e); err != nil {
			return true, fmt.Errorf("stored %s: %w", rec.ID, err)
		}
		if len(e.Nodes) == 0 {
			if err := tx.Delete(ctx, rec.ID, store.Condition{}); err != nil {
				return true, err
			}
			return true, setStatus(ctx, tx, jobID, resources.JobCanceled, nil)
		}
	}
	return true, setStatus(ctx, tx, jobID, resources.JobCancelRequested, nil)
}
