package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"securetrain/internal/arm"
	"securetrain/internal/clock"
	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/procusers"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Config is what a scheduler works with.
type Config struct {
	Store  store.Store
	Engine *provision.Engine
	Clock  clock.Clock
	Log    *slog.Logger
	// LogDir keeps each job's user_logs, private to the server: it belongs
	// under the data directory.
	LogDir string
	// WorkDir holds the nodes' working directories; a job's belongs to
	// the job's user. It must not be inside the data directory, which the
	// job's user cannot enter.
	WorkDir string
	// Datastore reads the workspaces' storage for jobs' code and inputs;
	// nil when the server keeps no blobs.
	Datastore Datastore
	// Runner names this replica when the store is shared with others
	// (its lease holder name); "" when the store is its alone.
	Runner string
	// FirstUID and UIDs are the range of user ids jobs run as, one per
	// running job; ids an account or a process uses are skipped.
	FirstUID, UIDs int
	// UIDLeaseDir is where the user ids are leased (uids.go): every
	// server on the host must share it. "" is DefaultUIDLeaseDir.
	UIDLeaseDir string
}

// Default user ids of jobs: above the ranges distributions give accounts.
const (
	DefaultFirstUID = 2_900_000
	DefaultUIDs     = 4096
)

// Scheduler moves jobs through their lifecycle (provision.Scheduler).
type Scheduler struct {
	cfg Config

	mu   sync.Mutex
	runs map[string]*run // by entry key
	// leases hold the user ids of running jobs and commands, and of a job
	// being started, host-wide (uids.go).
	leases map[int]*os.File
}

// New returns a scheduler; the engine runs it (Engine.SetScheduler).
func New(cfg Config) *Scheduler {
	if cfg.FirstUID == 0 {
		cfg.FirstUID, cfg.UIDs = DefaultFirstUID, DefaultUIDs
	}
	if cfg.UIDLeaseDir == "" {
		cfg.UIDLeaseDir = DefaultUIDLeaseDir
	}
	return &Scheduler{cfg: cfg, runs: map[string]*run{}, leases: map[int]*os.File{}}
}

// LogPath is where a job's log file lives (user_logs/name), or "" when
// name is not a log file's name.
func (s *Scheduler) LogPath(jobID, name string) string {
	if name != "std_log.txt" && !(strings.HasPrefix(name, "std_log_process_") && strings.HasSuffix(name, ".txt")) || strings.ContainsAny(name, `/\`) {
		return ""
	}
	return filepath.Join(s.logDir(jobID), name)
}

// Logs lists a job's log files.
func (s *Scheduler) Logs(jobID string) []string {
	entries, _ := os.ReadDir(s.logDir(jobID))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func (s *Scheduler) logDir(jobID string) string {
	return filepath.Join(s.cfg.LogDir, key(jobID), "user_logs")
}

// Schedule takes every active job one step further, oldest first
// (provision.Scheduler). A compute whose first queued job waits for
// nodes holds the jobs after it: jobs start in the order they came.
func (s *Scheduler) Schedule(ctx context.Context, now time.Time) time.Time {
	var entries []entry
	if err := s.cfg.Store.View(ctx, func(rd store.Reader) error {
		var err error
		entries, err = queue(ctx, rd)
		return err
	}); err != nil {
		s.cfg.Log.Error("jobs: read the queue", "err", err)
		return now.Add(time.Second)
	}
	ps := &passState{waiting: map[string]bool{}}
	var next time.Time
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, e := range entries {
		again, err := s.step(ctx, e, ps)
		switch {
		case err != nil:
			// The job stays where it is and is tried again later.
			s.cfg.Log.Error("jobs: step", "job", e.Job, "err", err)
			soon(s.cfg.Clock.Now().Add(retryAfter))
		case again:
			soon(s.cfg.Clock.Now())
		}
	}
	return next
}

// codeDeleted is the reason of a run stopped because its job was deleted.
const codeDeleted = "JobDeleted"

// passState is what the steps of one pass share.
type passState struct {
	// waiting are the computes (lower-cased ids) whose first queued job
	// waits for nodes: the jobs after it wait too.
	waiting map[string]bool
	// busy are the user ids live processes use, read from /proc once a
	// pass.
	busy map[int]bool
}

// retryAfter delays a job whose step failed (the store, the host).
const retryAfter = 500 * time.Millisecond

// step takes job e one step further; again asks for another pass at once
// (nodes were freed, a resize was begun).
func (s *Scheduler) step(ctx context.Context, e entry, ps *passState) (again bool, err error) {
	started := len(e.Nodes) > 0
	if !started && e.Queued && ps.waiting[strings.ToLower(e.Compute)] {
		return false, nil // behind a job that waits for nodes: in order
	}
	var body arm.Body
	if err := s.cfg.Store.View(ctx, func(rd store.Reader) error {
		body, err = readBody(ctx, rd, e.Job)
		return err
	}); err != nil {
		return false, err
	}
	s.mu.Lock()
	r := s.runs[key(e.Job)]
	s.mu.Unlock()
	status := ""
	if body != nil {
		status = arm.Str(arm.EnsureField(body, "properties"), "status")
	}
	switch {
	case r == nil && started:
		// Started before the server restarted, or by another replica that
		// stopped working: whatever is left of it here is stopped, and it
		// fails rather than run twice. Its user's processes are killed
		// unless another job or command holds its user id now.
		retaken, err := s.retakeUID(e.UID)
		if err != nil {
			return false, err
		}
		if retaken {
			killUser(e.UID)
			s.releaseUID(e.UID)
		}
		removeGroupsLeft(filepath.Join(s.cfg.WorkDir, key(e.Job)), len(e.Nodes))
		return true, s.end(ctx, e, resources.JobFailed, s.interrupted(e))
	case body == nil && r == nil, resources.JobTerminal(status):
		return false, s.end(ctx, e, "", nil)
	case body == nil:
		r.stop(resources.JobCanceled, &Failure{Code: codeDeleted, Message: "the job was deleted while it ran"})
		return s.collect(ctx, e, r)
	case status == resources.JobCancelRequested && r == nil:
		return true, s.end(ctx, e, resources.JobCanceled, nil)
	case status == resources.JobCancelRequested:
		r.stop(resources.JobCanceled, nil)
		return s.collect(ctx, e, r)
	case r != nil:
		return s.collect(ctx, e, r)
	}
	job, err := typedJob(e.Job, body)
	if err != nil {
		// A stored job that no longer decodes cannot run.
		return true, s.end(ctx, e, resources.JobFailed, &Failure{Code: "InvalidJob", Message: err.Error()})
	}
	return s.place(ctx, e, job, ps)
}

// interrupted is why a started job that no run of this process holds
// fails: its replica (this one too, when it lost its lease meanwhile and
// took it again) stopped running it, or the server restarted.
func (s *Scheduler) interrupted(e entry) *Failure {
	if e.Runner != "" {
		return &Failure{Code: "ReplicaLost", Message: fmt.Sprintf("the control plane replica %s, which ran the job's processes, "+
			"stopped or lost its lease while the job ran; the job is not run again. Submit it again.", e.Runner)}
	}
	return &Failure{Code: "ServiceRestarted", Message: "the control plane restarted while the job ran; its processes were stopped. Submit it again."}
}

// spec is the run of job on nodes as far as the nodes decide it: how to
// enter them, and on netns how to probe their way to storage.
func (s *Scheduler) spec(job *resources.Job, nodes []provision.ClaimedNode) spec {
	sp := spec{job: job, nodes: nodes, datastore: s.cfg.Datastore}
	for _, n := range nodes {
		sp.enter = append(sp.enter, s.cfg.Engine.Enter(job.Compute.ID, n.Name))
	}
	if sp.netns() {
		sp.probeStorage = func(ctx context.Context, node string) ([]fabric.Probe, error) {
			return s.cfg.Engine.ProbeStorage(ctx, job.Compute.ID, node)
		}
	}
	return sp
}

// unusableFailure is why a job fails that could only get unusable nodes:
// on netns, storage the nodes cannot reach fails it as the storage mount
// does (mountStorage); otherwise the nodes' own reason.
func (s *Scheduler) unusableFailure(ctx context.Context, job *resources.Job, u *provision.UnusableError) *Failure {
	if sp := s.spec(job, u.Unusable); sp.netns() {
		var why *Failure
		if err := mountStorage(ctx, sp); errors.As(err, &why) {
			return why
		}
	}
	return &Failure{Code: "NodesUnusable", Message: fmt.Sprintf("compute %s has no usable node for the job: %s. Fix the network (the compute's errors name the flow and the rule); its nodes are probed again when it changes.",
		job.Compute.ID.Leaf(), u.Reason.Message)}
}

// place starts a queued job on nodes it claims, or shows it Queued.
func (s *Scheduler) place(ctx context.Context, e entry, job *resources.Job, ps *passState) (bool, error) {
	if err := s.canRun("jobs'"); err != nil {
		return true, s.end(ctx, e, resources.JobFailed, &Failure{Code: "JobPreparationFailed", Message: err.Error()})
	}
	compute := strings.ToLower(job.Compute.ID.String())
	if ps.waiting[compute] {
		return false, s.queued(ctx, e)
	}
	if ps.busy == nil {
		ps.busy = procusers.Users()
	}
	uid, err := s.takeUID(ps.busy)
	if err != nil {
		return true, s.end(ctx, e, resources.JobFailed, &Failure{Code: "JobPreparationFailed", Message: err.Error()})
	}
	kept := false // the uid stays taken while the job runs
	defer func() {
		if !kept {
			s.releaseUID(uid)
		}
	}()
	var nodes []provision.ClaimedNode
	var resizing, left bool
	var never *provision.NodesError
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		e.Nodes, e.UID, e.Runner = nil, uid, s.cfg.Runner // the closure may be re-run (store.Store)
		// A cancel or delete since the step read the job wins: it takes no
		// nodes and its entry is not put back.
		if left, err = leftQueue(ctx, tx, e.Job); err != nil || left {
			return err
		}
		if nodes, resizing, err = s.cfg.Engine.ClaimNodes(ctx, tx, job.Compute.ID, job.InstanceCount); err != nil || len(nodes) == 0 {
			return err
		}
		// The claim is recorded with the job's entry: a restart from here
		// on gives the nodes back (step).
		for _, n := range nodes {
			e.Nodes = append(e.Nodes, n.Name)
		}
		if err := putEntry(ctx, tx, e); err != nil {
			return err
		}
		return setStatus(ctx, tx, e.Job, resources.JobPreparing, nil)
	})
	var pe *provision.Error
	var unusable *provision.UnusableError
	switch {
	case errors.As(err, &never):
		return true, s.end(ctx, e, resources.JobFailed, &Failure{Code: "InsufficientNodes", Message: never.Message})
	case errors.As(err, &unusable):
		return true, s.end(ctx, e, resources.JobFailed, s.unusableFailure(ctx, job, unusable))
	case errors.As(err, &pe):
		return true, s.end(ctx, e, resources.JobFailed, &Failure{Code: pe.Code, Message: pe.Message})
	case err != nil:
		return false, err
	case left:
		return true, nil
	case len(nodes) == 0:
		ps.waiting[compute] = true
		return resizing, s.queued(ctx, e)
	}
	sp := s.spec(job, nodes)
	sp.uid, sp.workDir, sp.logDir = uid, filepath.Join(s.cfg.WorkDir, key(e.Job)), s.logDir(e.Job)
	r, err := start(ctx, sp, s.cfg.Engine.Wake)
	if err != nil {
		killUser(uid)
		why := &Failure{Code: "JobPreparationFailed", Message: err.Error()}
		errors.As(err, &why)
		return true, s.end(ctx, e, resources.JobFailed, why)
	}
	r.jobID = e.Job
	s.mu.Lock()
	s.runs[key(e.Job)] = r
	s.mu.Unlock()
	kept = true
	if job.Timeout != "" {
		d, _ := provision.ParseDuration(job.Timeout) // admission checked it
		t := s.cfg.Clock.AfterFunc(d, func() {
			r.stop(resources.JobFailed, &Failure{Code: "JobTimeout", Message: fmt.Sprintf("the job ran longer than its limits.timeout (%s) and was stopped", job.Timeout)})
		})
		r.mu.Lock()
		r.timer = t
		r.mu.Unlock()
	}
	return false, s.cfg.Store.Update(ctx, func(tx store.Tx) error { return setStatus(ctx, tx, e.Job, resources.JobRunning, nil) })
}

// queued shows a job that waits for nodes as Queued, once: its entry
// remembers, so that later passes pass over it without reading it.
func (s *Scheduler) queued(ctx context.Context, e entry) error {
	if e.Queued {
		return nil
	}
	e.Queued = true
	return s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if left, err := leftQueue(ctx, tx, e.Job); err != nil || left {
			return err
		}
		if err := putEntry(ctx, tx, e); err != nil {
			return err
		}
		return setStatus(ctx, tx, e.Job, resources.JobQueued, nil)
	})
}

// collect ends a run whose processes have all exited: its final status
// with the reason. A job with outputs is Finalizing while they are kept
// in the data directory and uploaded to its workspace's storage.
func (s *Scheduler) collect(ctx context.Context, e entry, r *run) (bool, error) {
	if !r.finished() {
		return false, nil // its exit wakes the engine
	}
	r.mu.Lock()
	status, why, exits, signals, ooms := r.status, r.reason, r.exits, r.signals, r.oomKills
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.leftover != nil {
		s.cfg.Log.Warn("jobs: control group left behind", "job", e.Job, "err", r.leftover)
	}
	r.mu.Unlock()
	if status == "" {
		status = resources.JobCompleted
		for i, code := range exits {
			if code != 0 {
				p := r.procs[i]
				status, why = resources.JobFailed, &Failure{Code: "UserError", Message: fmt.Sprintf(
					"Execution failed. User process 'Rank %d' exited with status code %d%s. Last lines of user_logs/%s:\n%s",
					p.rank, code, howEnded(signals[i], ooms[p.node], e.Nodes[p.node]), filepath.Base(p.logPath), strings.Join(lastLines(p.logPath, 10), "\n"))}
				if r.rendezvous != nil {
					why.Message += s.explainRendezvous(ctx, e, r.rendezvous)
				}
				why.Message += s.explainRefusals(ctx, e, r.started)
				break
			}
		}
	}
	if len(r.outputs) > 0 && (why == nil || why.Code != codeDeleted) {
		if err := s.cfg.Store.Update(ctx, func(tx store.Tx) error { return setStatus(ctx, tx, e.Job, resources.JobFinalizing, nil) }); err != nil {
			return false, err
		}
		err := keepOutputs(r.workDir, r.outputs, r.uid, s.outputsDir(e.Job))
		if err == nil {
			err = s.uploadOutputs(ctx, e.Job)
		}
		if err != nil {
			s.cfg.Log.Warn("jobs: outputs not kept", "job", e.Job, "err", err)
			if status == resources.JobCompleted {
				status, why = resources.JobFailed, &Failure{Code: "OutputsNotKept", Message: err.Error()}
			}
		}
	}
	if why == nil || why.Code != codeDeleted {
		s.keepLogs(ctx, e.Job)
	}
	if err := s.end(ctx, e, status, why); err != nil {
		return false, err
	}
	s.mu.Lock()
	delete(s.runs, key(e.Job))
	s.mu.Unlock()
	s.releaseUID(r.uid)
	return true, nil
}

// howEnded says what ended a process beyond its exit code: the signal,
// when a signal ended it, and the kernel's OOM kills on its node, when
// its node's processes ran out of the VM size's memory ("" for neither).
func howEnded(sig syscall.Signal, ooms int, node string) string {
	var how string
	if sig != 0 {
		how = fmt.Sprintf(" (ended by signal %s)", unix.SignalName(sig))
	}
	if ooms > 0 {
		how += fmt.Sprintf("; the kernel's OOM killer killed %d process(es) on node %s: its processes used more memory than its VM size has", ooms, node)
	}
	return how
}

// explainRendezvous says, for a distributed job that failed on the netns
// fabric, which node could not reach the master's MASTER_PORT and the rule
// or route that blocks it, as the verifier explains the flow ("" when the
// network allows every node to reach it).
func (s *Scheduler) explainRendezvous(ctx context.Context, e entry, d *distribution) string {
	cid, err := arm.ParseID(e.Compute, "")
	if err != nil {
		return ""
	}
	master, err := netip.ParseAddr(d.addrs[0])
	if err != nil {
		return ""
	}
	for _, a := range d.addrs[1:] {
		src, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		res, err := s.cfg.Engine.ExplainFlow(ctx, cid.Subscription, netverify.Query{From: netverify.AddressEndpoint(src),
			To: netverify.AddressEndpoint(master), Protocol: netverify.TCP, Port: uint16(d.port)})
		if err != nil {
			s.cfg.Log.Warn("jobs: explain the rendezvous flow", "job", e.Job, "err", err)
			return ""
		}
		if why := blocked(res); why != "" {
			return fmt.Sprintf("\nThe rendezvous flow TCP %s -> %s:%d (MASTER_ADDR:MASTER_PORT) is %s", src, master, d.port, why)
		}
	}
	return ""
}

// blocked is the verifier's first outcome of a flow that is not allowed —
// its verdict, the deciding rule or route, and the fix — or "" when every
// outcome is allowed.
func blocked(res *netverify.Result) string {
	for _, o := range res.Outcomes {
		if o.Verdict == netverify.Allowed {
			continue
		}
		why := fmt.Sprintf("%s: %s", o.Verdict, o.Reason)
		if o.Fix != "" {
			why += "; fix: " + o.Fix
		}
		return why
	}
	return ""
}

// maxExplained bounds the refused flows a failure explains.
const maxExplained = 5

// explainRefusals says, for a job that failed on the netns fabric, which
// connections of its nodes' processes a firewall refused while it ran
// (what they asked for, as the firewall saw it: TCP to a name on a port)
// and why, as the verifier explains the flow: its rule collection or
// default deny and the fix ("" when nothing was refused). Only refusals
// seen are named: the flows the job asked for are not guessed.
func (s *Scheduler) explainRefusals(ctx context.Context, e entry, since time.Time) string {
	cid, err := arm.ParseID(e.Compute, "")
	if err != nil {
		return ""
	}
	var msg strings.Builder
	seen := map[string]bool{}
	for _, node := range e.Nodes {
		for _, ref := range s.cfg.Engine.Refused(cid, node, since) {
			to, shown := netverify.AddressEndpoint(ref.Destination.Addr()), ref.Destination.Addr().String()
			if ref.Name != "" {
				to, shown = netverify.NameEndpoint(ref.Name), ref.Name
			}
			flow := fmt.Sprintf("TCP %s -> %s:%d", ref.Source, shown, ref.Destination.Port())
			if seen[flow] || len(seen) == maxExplained {
				continue
			}
			seen[flow] = true
			fmt.Fprintf(&msg, "\nA firewall refused the flow %s (node %s)", flow, node)
			res, err := s.cfg.Engine.ExplainFlow(ctx, cid.Subscription, netverify.Query{From: netverify.AddressEndpoint(ref.Source),
				To: to, Protocol: netverify.TCP, Port: ref.Destination.Port()})
			if err != nil {
				s.cfg.Log.Warn("jobs: explain a refused flow", "job", e.Job, "flow", flow, "err", err)
				continue
			}
			if why := blocked(res); why != "" {
				msg.WriteString(": " + why)
			} else {
				msg.WriteString("; the verifier allows it")
			}
		}
	}
	return msg.String()
}

// end finishes job e with status ("" leaves the record as it is): its
// nodes go back to idle, its working directory goes, it leaves the queue.
// A job that was deleted loses its logs and outputs too.
func (s *Scheduler) end(ctx context.Context, e entry, status string, why *Failure) error {
	if len(e.Nodes) > 0 {
		if err := os.RemoveAll(filepath.Join(s.cfg.WorkDir, key(e.Job))); err != nil {
			return fmt.Errorf("remove the job's working directory: %w", err)
		}
	}
	var deleted bool
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get(ctx, e.Job)
		if deleted = errors.Is(err, store.ErrNotFound); err != nil && !deleted {
			return err
		}
		if status != "" && !deleted {
			if err := setStatus(ctx, tx, e.Job, status, why); err != nil {
				return err
			}
		}
		if len(e.Nodes) > 0 {
			cid, err := arm.ParseID(e.Compute, "")
			if err != nil {
				return fmt.Errorf("queue entry of %s: %w", e.Job, err)
			}
			err = s.cfg.Engine.ReleaseNodes(ctx, tx, cid, e.Nodes)
			var pe *provision.Error
			if err != nil && !(errors.As(err, &pe) && pe.Code == "ResourceNotFound") {
				return err
			}
		}
		if err := tx.Delete(ctx, entryID(e.Job), store.Condition{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err == nil && deleted {
		err = s.removeFiles(e.Job)
	}
	return err
}

// removeFiles removes a deleted job's logs and outputs.
func (s *Scheduler) removeFiles(jobID string) error {
	if s.cfg.LogDir == "" {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(s.cfg.LogDir, key(jobID))); err != nil {
		return fmt.Errorf("remove the logs and outputs of deleted job %s: %w", jobID, err)
	}
	return nil
}

// Forget removes the logs and outputs of a job just deleted, unless it is
// still in the queue: then the scheduler stops it and removes them.
func (s *Scheduler) Forget(ctx context.Context, jobID string) error {
	var active bool
	if err := s.cfg.Store.View(ctx, func(rd store.Reader) error {
		var err error
		active, err = Active(ctx, rd, jobID)
		return err
	}); err != nil || active {
		return err
	}
	return s.removeFiles(jobID)
}

// Shutdown kills the processes of every running job and waits for them,
// when the server stops or its engine lost the lease: the jobs stay
// Running in the store, and the next start, or the replica that works
// next, fails them (ServiceRestarted, ReplicaLost) rather than run them
// twice. Their logs are kept in the datastore.
func (s *Scheduler) Shutdown() {
	s.mu.Lock()
	runs := make(map[string]*run, len(s.runs))
	for k, r := range s.runs {
		runs[r.jobID] = r
		delete(s.runs, k)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for jobID, r := range runs {
		r.kill()
		<-r.done
		s.releaseUID(r.uid)
		// The replica that ends the job (a restart of this one, or
		// another) serves its logs from the datastore.
		s.keepLogs(ctx, jobID)
	}
}
