package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/clock"
	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Engine executes operations. Each one is a reconciliation: read what the
// compute should be and what its nodes are, change the difference in a
// transaction, act on the fabric, record the outcome in another. Every
// step can be replayed, so an operation interrupted by a crash resumes
// where it stood when the server starts again.
//
// Run owns the engine's one worker goroutine and Stop ends it; Wake asks
// for a pass. Time comes from an injected clock, so that tests advance it.
type Engine struct {
	st     store.Store
	fab    fabric.Fabric
	gov    Governance
	quotas Quotas
	log    *slog.Logger
	net    func(ctx context.Context, subscription string) (*netverify.Network, error)
	clock  clock.Clock
	// changes, seen and stale are the re-probing's (reprobe.go); only the
	// engine's passes touch seen and stale.
	changes func(ctx context.Context) (map[string]int64, error)
	seen    map[string]int64
	stale   map[string]*staleCompute
	// scheduler places jobs on nodes in each pass; nil: none.
	scheduler Scheduler
	// lease, when set, shares the work with other replicas' engines
	// (lease.go): shared is the store as given, st the store fenced by
	// held, the lease while this engine holds it.
	lease  *Lease
	shared store.Store
	held   atomic.Pointer[store.Lease]

	// RetryAfter delays an operation that something (a lock, a failing
	// store) holds up.
	RetryAfter time.Duration
	// ReprobeAfter is how long the engine waits after a change of the
	// network before it re-probes the nodes: a burst of writes (a
	// template deployment) is probed once.
	ReprobeAfter time.Duration

	kick chan struct{} // a Wake for the worker

	mu      sync.Mutex
	cancel  context.CancelFunc // ends the running Run; nil when none runs
	done    chan struct{}      // closed when the running Run has returned
	woken   bool               // a Wake that no pass has taken up yet
	inPass  bool
	changed chan struct{} // closed (and replaced) when the fields above change
}

// Config is what an engine works with.
type Config struct {
	Store      store.Store
	Fabric     fabric.Fabric
	Governance Governance
	Quotas     Quotas
	Log        *slog.Logger
	// Network compiles a subscription's resources for the verifier.
	Network func(ctx context.Context, subscription string) (*netverify.Network, error)
	// NetworkChanges counts the changes of each subscription's network
	// that may change what nodes reach (by arm.FoldKey of the
	// subscription; counts only grow); the engine re-probes the nodes of a
	// subscription whose count moved. nil: no re-probing.
	NetworkChanges func(ctx context.Context) (map[string]int64, error)
	// Clock is the time source; nil is the system clock.
	Clock clock.Clock
	// Lease, when set, makes the engine one of several replicas on a
	// shared store, working only while it holds the engine's lease; nil:
	// it has the store to itself.
	Lease *Lease
}

// New returns an engine; it does nothing until Run.
func New(cfg Config) *Engine {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	e := &Engine{st: ownStore{cfg.Store}, fab: cfg.Fabric, gov: cfg.Governance, quotas: cfg.Quotas.withDefaults(), log: cfg.Log, net: cfg.Network,
		changes: cfg.NetworkChanges, seen: map[string]int64{}, stale: map[string]*staleCompute{},
		clock: clk, RetryAfter: 500 * time.Millisecond, ReprobeAfter: 250 * time.Millisecond, kick: make(chan struct{}, 1), changed: make(chan struct{}), lease: cfg.Lease, shared: cfg.Store}
	if cfg.Lease != nil {
		e.st = fencedStore{Store: e.st, e: e}
	}
	return e
}

// Run works until ctx ends or Stop is called. It makes a pass at once (to
// resume what a restart interrupted), then one whenever Wake is called or
// a time it set comes: a held operation's retry, idle nodes timing out.
// It refuses to run twice at the same time. An engine with a Lease works
// only while it holds it, and asks for it meanwhile.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	e.mu.Lock()
	if e.done != nil {
		e.mu.Unlock()
		return errors.New("the provisioning engine is already running")
	}
	e.cancel, e.done, e.woken = cancel, done, true
	e.notifyLocked()
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.cancel, e.done, e.inPass = nil, nil, false
		e.notifyLocked()
		e.mu.Unlock()
		close(done)
	}()
	if e.lease != nil {
		e.lead(ctx)
	} else {
		e.work(ctx, 0)
	}
	return nil
}

// work makes passes until ctx ends: at once, then when woken, when a time
// a pass set comes, and at least every poll (0: no polling).
func (e *Engine) work(ctx context.Context, poll time.Duration) {
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for ctx.Err() == nil {
		e.beginPass()
		next := e.pass(ctx)
		if poll > 0 {
			if at := e.clock.Now().Add(poll); next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if !next.IsZero() {
			timer = e.clock.AfterFunc(next.Sub(e.clock.Now()), e.Wake)
		}
		e.endPass()
		select {
		case <-ctx.Done():
		case <-e.kick:
		}
	}
}

// beginPass takes up the Wakes so far; endPass says the pass is over.
func (e *Engine) beginPass() {
	e.mu.Lock()
	e.woken, e.inPass = false, true
	e.notifyLocked()
	e.mu.Unlock()
}

func (e *Engine) endPass() {
	e.mu.Lock()
	e.inPass = false
	e.notifyLocked()
	e.mu.Unlock()
}

// Stop ends Run and waits until it has returned. A pass in progress sees
// its context canceled: its operation stays pending and resumes on the
// next Run, after a restart. Stop without Run returns at once.
func (e *Engine) Stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Wake asks for a pass: now, or when the running one ends.
func (e *Engine) Wake() {
	e.mu.Lock()
	e.woken = true
	e.notifyLocked()
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Quiet waits until the engine runs and has taken up every Wake before
// the call: no pass runs, and what remains waits for a later time or a
// change. Tests call it instead of polling; with a fake clock, Advance
// wakes the engine for what became due.
func (e *Engine) Quiet(ctx context.Context) error {
	for {
		e.mu.Lock()
		quiet, changed := e.done != nil && !e.woken && !e.inPass, e.changed
		e.mu.Unlock()
		if quiet {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the provisioning engine: %w", ctx.Err())
		}
	}
}

// Changed returns a channel closed at the engine's next change of state
// (a pass starting or ending, a Wake): a caller waiting for an operation
// takes it, reads the operation, and waits on it if the operation has not
// finished, so that no outcome is missed between the read and the wait.
func (e *Engine) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

func (e *Engine) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// passState is what the operations of one pass share.
type passState struct {
	// stopping ends when the engine stops. The fabric's calls, which may
	// take long, get it; the store's transactions, short, run to their end
	// without it: given a context that can end, the SQLite driver starts a
	// goroutine for every statement, thousands in a 1,000-node resize
	// (~3.5 % of BenchmarkClusterScale1000's CPU profile).
	stopping context.Context
	// networks are compiled once per pass: a burst of resizes shares them.
	networks map[string]*netverify.Network
}

// pass executes the pending operations that are due, in the order they
// began, and starts scale-downs of idle nodes. It returns when it wants to
// run again (zero: only when woken).
func (e *Engine) pass(stopping context.Context) time.Time {
	ps := &passState{stopping: stopping, networks: map[string]*netverify.Network{}}
	ctx := context.WithoutCancel(stopping)
	now := e.clock.Now()
	var next time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	ops, err := pending(ctx, e.st)
	if err != nil {
		e.logFailure(stopping, "provisioning", err)
		return now.Add(e.RetryAfter)
	}
	held := map[string]bool{} // computes whose earlier operation waits
	for _, op := range ops {
		key := strings.ToLower(op.ResourceID)
		if held[key] || now.Before(op.NotBefore) {
			held[key] = true
			soon(op.NotBefore)
			continue
		}
		waiting, err := e.execute(ctx, ps, op)
		if stopping.Err() != nil {
			return time.Time{} // stopping: the operation resumes on the next Run
		}
		if err != nil {
			// The store failed under this operation; the others still run,
			// and it is tried again later.
			e.log.Error("provisioning operation", "operation", op.ID, "compute", op.ResourceID, "err", err)
			waiting = true
		}
		if waiting {
			held[key] = true
			soon(e.clock.Now().Add(e.RetryAfter))
		}
	}
	// Before the scheduler: a node the network broke takes no job.
	soon(e.reprobe(ctx, ps, e.clock.Now()))
	if e.scheduler != nil {
		soon(e.scheduler.Schedule(ctx, e.clock.Now()))
	}
	idle, err := e.scaleDownIdle(ctx, e.clock.Now())
	if err != nil {
		e.logFailure(stopping, "provisioning: idle nodes", err)
		soon(now.Add(e.RetryAfter))
	}
	soon(idle)
	return next
}

// logFailure logs err unless the engine is stopping.
func (e *Engine) logFailure(ctx context.Context, msg string, err error) {
	if ctx.Err() == nil {
		e.log.Error(msg, "err", err)
	}
}

// pending lists the unfinished operations, oldest first.
func pending(ctx context.Context, rd store.Reader) ([]Operation, error) {
	var ops []Operation
	err := store.Each(ctx, rd, store.Query{Scope: pendingScope}, func(rec store.Record) error {
		var p struct{ Operation string }
		if err := json.Unmarshal(rec.Body, &p); err != nil {
			return fmt.Errorf("stored %s: %w", rec.ID, err)
		}
		op, err := readOperation(ctx, rd, p.Operation)
		if err != nil {
			return err
		}
		ops = append(ops, op)
		return nil
	})
	slices.SortStableFunc(ops, func(a, b Operation) int { return a.StartTime.Compare(b.StartTime) })
	return ops, err
}

func readOperation(ctx context.Context, rd store.Reader, id string) (Operation, error) {
	rec, err := rd.Get(ctx, id)
	if err != nil {
		return Operation{}, err
	}
	var op Operation
	if err := json.Unmarshal(rec.Body, &op); err != nil {
		return Operation{}, fmt.Errorf("stored operation %s: %w", id, err)
	}
	return op, nil
}

// Busy returns the unfinished operation on a compute, if any.
func Busy(ctx context.Context, rd store.Reader, compute arm.ID) (string, error) {
	ops, err := pending(ctx, rd)
	for _, op := range ops {
		if strings.EqualFold(op.ResourceID, compute.String()) {
			return op.ID, err
		}
	}
	return "", err
}

// retry marks an error that holds an operation up until something changes
// (a lock is removed): the operation waits and tries again.
type retry struct{ err error }

func (r retry) Error() string { return r.err.Error() }
func (r retry) Unwrap() error { return r.err }

// execute runs one operation as far as it can go. waiting means it is held
// up and will be tried again.
func (e *Engine) execute(ctx context.Context, ps *passState, op Operation) (waiting bool, err error) {
	defer func() {
		// A bug must not take the server down with it: the operation
		// fails with an internal error, and the stack goes to the log.
		if p := recover(); p != nil {
			e.log.Error("provisioning panicked", "operation", op.ID, "panic", p, "stack", string(debug.Stack()))
			id, _ := arm.ParseID(op.ResourceID, "")
			waiting, err = false, e.fail(ctx, op, id, &Error{Code: "InternalServerError", Message: "provisioning failed unexpectedly; the server log has the details"})
		}
	}()
	id, err := arm.ParseID(op.ResourceID, "")
	if err != nil {
		return false, e.fail(ctx, op, arm.ID{}, err)
	}
	switch op.Kind {
	case KindDelete:
		err = e.remove(ctx, ps, op, id)
	default:
		err = e.reconcile(ctx, ps, op, id)
	}
	var r retry
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &r):
		return true, e.hold(ctx, op, id, r.err)
	case coded(err):
		return false, e.fail(ctx, op, id, err)
	}
	return false, err // the store failed: the operation stays pending
}

// coded reports whether err is an ARM error (ours, or the API's through
// Governance), which fails the operation rather than the server.
func coded(err error) bool {
	var pe *Error
	var ae interface{ ARMCode() (string, string) }
	return errors.As(err, &pe) || errors.As(err, &ae)
}

// load reads a compute: its body, spec and nodes.
func load(ctx context.Context, rd store.Reader, id arm.ID) (arm.Body, spec, []node, error) {
	rec, err := rd.Get(ctx, id.String())
	if isNotFound(err) {
		return nil, spec{}, nil, &Error{Code: "ResourceNotFound", Message: fmt.Sprintf("compute %s no longer exists", id.Name())}
	}
	if err != nil {
		return nil, spec{}, nil, err
	}
	body, err := arm.DecodeBody(rec.Body)
	if err != nil {
		return nil, spec{}, nil, fmt.Errorf("stored %s: %w", rec.ID, err)
	}
	s, err := readSpec(rec.Body)
	if err != nil {
		return body, s, nil, err
	}
	nodes, err := nodesOf(ctx, rd, id)
	return body, s, nodes, err
}

// readiness asks the verifier which required flows of the compute pass.
func (e *Engine) readiness(ctx context.Context, ps *passState, s spec) ([]fabric.Flow, []Error, error) {
	if !s.Subnet.IsSet() {
		return nil, nil, nil
	}
	n := ps.networks[s.ID.Subscription]
	if n == nil {
		var err error
		if n, err = e.net(ctx, s.ID.Subscription); err != nil {
			return nil, nil, err
		}
		ps.networks[s.ID.Subscription] = n
	}
	var c = n.Snapshot().Computes
	for _, rc := range c {
		if !rc.ID.Equal(s.ID) {
			continue
		}
		checks, blocked, err := requirements.Readiness(n, rc, requirements.Options{})
		if err != nil {
			return nil, nil, err
		}
		flows := make([]fabric.Flow, len(checks))
		for i, fc := range checks {
			flows[i] = FabricFlow(fc)
		}
		var errs []Error
		for _, f := range blocked {
			errs = append(errs, Error{Code: f.Code, Message: f.Message + ". Fix: " + f.Fix}) // check's finding code (docs/findings.md)
		}
		return flows, errs, nil
	}
	if why, ok := n.Snapshot().Exclusion(s.ID); ok {
		// A broken reference in the stored network: this compute needs it.
		return nil, nil, &Error{Code: "InvalidNetworkConfiguration", Message: fmt.Sprintf("compute %s cannot be evaluated: %s", s.ID.Leaf(), why)}
	}
	return nil, nil, fmt.Errorf("compute %s is not in the verifier's model", s.ID)
}

// reconcile brings a compute's nodes to what the operation asks: plan in
// one transaction (new nodes with their addresses, extra nodes marked
// leaving), act on the fabric outside any, record the outcome in another.
func (e *Engine) reconcile(ctx context.Context, ps *passState, op Operation, id arm.ID) error {
	var s spec
	if err := e.st.View(ctx, func(rd store.Reader) error {
		var err error
		_, s, _, err = load(ctx, rd, id)
		return err
	}); err != nil {
		return err
	}
	flows, blocked, err := e.readiness(ctx, ps, s)
	if err != nil {
		return err
	}
	if op.Kind == KindCreate && len(blocked) > 0 {
		// Azure validates the network before it creates a compute (spec
		// §10 #2, #6): refuse with the blocked flows and their rules.
		return &Error{Code: "ComputeUnusable", Message: fmt.Sprintf("compute %s cannot work in subnet %s: %s", s.ID.Leaf(), s.Subnet.ID.Leaf(), summary(blocked)), Details: blocked}
	}
	p, nodes, shortfall, err := e.planInStore(ctx, op, id)
	if err != nil {
		return err
	}
	acts, results, err := e.act(ps.stopping, op, id, nodes, flows)
	if err != nil {
		return err
	}
	now := e.clock.Now().UTC()
	for i, n := range nodes {
		e.logDisagreement(id, n, results[n.NodeID].probes)
		nodes[i] = observe(n, acts[n.NodeID], results[n.NodeID], blocked, now)
	}
	return e.record(ctx, op, id, p, nodes, acts, results, shortfall)
}

// planInStore plans op in a transaction: the plan, the compute's nodes
// with those added (their addresses allocated) and those leaving marked,
// and the shortfall when the subnet had too few addresses.
func (e *Engine) planInStore(ctx context.Context, op Operation, id arm.ID) (plan, []node, *Error, error) {
	var (
		p         plan
		nodes     []node
		shortfall *Error
	)
	err := e.st.Update(ctx, func(tx store.Tx) error {
		body, s, cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		p = planOperation(op, s, cur)
		nodes, shortfall = p.nodes, nil
		if p.add > 0 {
			if err := checkCreatable(ctx, tx, e.gov, s); err != nil {
				return err
			}
			if err := e.checkQuota(ctx, tx, s, p.add); err != nil {
				return err
			}
			if err := ensureCreated(ctx, tx, e.gov, s); err != nil {
				return err
			}
			added, short, err := e.addNodes(ctx, tx, s, nodes, p.add)
			if err != nil {
				return err
			}
			nodes, shortfall = append(nodes, added...), short
		}
		for _, n := range p.nodes {
			if n.State == NodeLeaving {
				if err := putNode(ctx, tx, id, n); err != nil {
					return err
				}
			}
		}
		p.during(op, s, nodes).apply(body, s, e.clock.Now())
		return e.gov.PutCompute(ctx, tx, id, body)
	})
	return p, nodes, shortfall, err
}

// act carries out on the fabric, outside any transaction, what op does to
// each node. A failing fabric is reported in the results; a canceled
// context (the engine stopping) ends it with the context's error, and the
// operation resumes on the next Run.
func (e *Engine) act(ctx context.Context, op Operation, id arm.ID, nodes []node, flows []fabric.Flow) (map[string]action, map[string]result, error) {
	acts := make(map[string]action, len(nodes))
	results := make(map[string]result, len(nodes))
	var up []node // brought up: their flows are probed, all together
	for _, n := range nodes {
		a := actionFor(op, n)
		acts[n.NodeID] = a
		fn := fabricNode(id, n)
		var r result
		switch a {
		case keep:
			continue
		case boot:
			r.err = e.fab.Boot(ctx, fn)
		case start:
			r.err = e.fab.Start(ctx, fn)
		case stop:
			r.err = e.fab.Stop(ctx, fn)
		case remove:
			r.err = e.fab.Remove(ctx, fn)
		}
		if err := ctx.Err(); err != nil && r.err != nil {
			return nil, nil, fmt.Errorf("%s node %s: %w", a, n.NodeID, err)
		}
		if r.err == nil && (a == boot || a == start) {
			up = append(up, n)
		}
		results[n.NodeID] = r
	}
	probed := e.probeAll(ctx, id, up, flows)
	for i, n := range up {
		r := results[n.NodeID]
		r.probes, r.probeErr = probed[i].probes, probed[i].probeErr
		if err := ctx.Err(); err != nil && r.probeErr != nil {
			return nil, nil, fmt.Errorf("probe node %s: %w", n.NodeID, err)
		}
		results[n.NodeID] = r
	}
	return acts, results, nil
}

// nodeConcurrency bounds the nodes probed at once: a probe that gets no
// answer waits for its timeout, and a node agent takes a while to start;
// a cluster's nodes wait together.
const nodeConcurrency = 16

// probeAll probes the flows of each node, several at once, and returns
// their results (probes and probeErr) in the nodes' order.
func (e *Engine) probeAll(ctx context.Context, id arm.ID, nodes []node, flows []fabric.Flow) []result {
	results := make([]result, len(nodes))
	slots := make(chan struct{}, nodeConcurrency)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			results[i].probes, results[i].probeErr = e.fab.Probe(ctx, fabricNode(id, n), flows)
		})
	}
	wg.Wait()
	return results
}

// fabricNode is node n of compute id as the fabric knows it.
func fabricNode(id arm.ID, n node) fabric.Node {
	return fabric.Node{Compute: id.String(), Name: n.NodeID, Subnet: n.Subnet, PrivateIP: parseAddr(n.PrivateIP), PublicIP: parseAddr(n.PublicIP)}
}

// logDisagreement logs the flows that passed on node n although the
// verifier predicted them blocked: the fabric is believed, and the
// verifier's model of this network is wrong somewhere.
func (e *Engine) logDisagreement(id arm.ID, n node, probes []fabric.Probe) {
	for _, p := range probes {
		if p.Passed && !p.Flow.Predicted {
			e.log.Warn("the fabric disagrees with the verifier", "compute", id.String(), "node", n.NodeID, "flow", p.Flow.Name, "detail", p.Detail)
		}
	}
}

// record stores the outcome of op in a transaction: nodes removed and
// their addresses released, the others as observed, what Azure created
// released with a cluster's last node, the runtime fields, and the
// operation's end, or a retry error when it must wait.
func (e *Engine) record(ctx context.Context, op Operation, id arm.ID, p plan, nodes []node, acts map[string]action, results map[string]result, shortfall *Error) error {
	var held *Error
	err := e.st.Update(ctx, func(tx store.Tx) error {
		held = nil // the closure may be re-run (store.Store)
		body, s, _, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		o := settle(op, s, p, nodes, acts, results, shortfall)
		held = o.hold
		for _, n := range o.gone {
			if err := tx.Delete(ctx, nodeID(id, n.NodeID), store.Condition{}); err != nil && !isNotFound(err) {
				return err
			}
			if err := release(ctx, tx, n.Subnet, n.PrivateIP); err != nil {
				return err
			}
		}
		for _, n := range o.kept {
			if err := putNode(ctx, tx, id, n); err != nil {
				return err
			}
		}
		if o.releaseCreated {
			if err := removeCreated(ctx, tx, e.gov, s); err != nil {
				// A lock on the VNet's group keeps the cluster resizing. The
				// nodes are gone; what holds is committed and the operation
				// waits.
				held = asError(err)
				heldByRelease(o, held).apply(body, s, e.clock.Now())
				return e.gov.PutCompute(ctx, tx, id, body)
			}
		}
		o.runtime.apply(body, s, e.clock.Now())
		if err := e.gov.PutCompute(ctx, tx, id, body); err != nil {
			return err
		}
		if held != nil {
			return nil
		}
		var opErr error
		if o.err != nil {
			opErr = o.err
		}
		return finish(ctx, tx, op, opErr, e.clock.Now())
	})
	if err == nil && held != nil {
		return retry{held}
	}
	return err
}

// addNodes creates up to count node records with an address each; fewer
// when the subnet is full, with the shortfall as an AllocationFailed
// error (spec §8.3, §10 #10).
func (e *Engine) addNodes(ctx context.Context, tx store.Tx, s spec, nodes []node, count int) ([]node, *Error, error) {
	names := nextNodeNames(nodes, count)
	owners := make([]string, len(names))
	for i, n := range names {
		owners[i] = nodeID(s.ID, n)
	}
	var (
		addrs []netip.Addr
		sn    *resources.Subnet
	)
	if s.Subnet.IsSet() {
		var err error
		if sn, err = storedSubnet(ctx, tx, s.Subnet.ID); err != nil {
			return nil, nil, err
		}
		if addrs, err = allocate(ctx, tx, sn, owners); err != nil {
			return nil, nil, err
		}
	} else {
		addrs = make([]netip.Addr, len(names)) // Azure's own network: no address of ours
	}
	var pub netip.Addr
	if aml, ok := resources.AzureMLResourcesFor(s.Compute); ok {
		pub = aml.Address
	}
	now := e.clock.Now().UTC()
	var out []node
	for i, a := range addrs {
		n := node{NodeID: names[i], State: NodePreparing, Location: strings.ToLower(s.ComputeLocation),
			Family: s.Family, Cores: s.Cores, Since: now}
		if s.Subnet.IsSet() {
			n.Subnet = s.Subnet.ID.String()
		}
		if a.IsValid() {
			n.PrivateIP = a.String()
		}
		if pub.IsValid() {
			n.PublicIP, n.Port = pub.String(), 50000+nodeIndex(names[i])
		}
		if err := putNode(ctx, tx, s.ID, n); err != nil {
			return nil, nil, err
		}
		out = append(out, n)
	}
	if len(out) < count {
		return out, &Error{Code: "AllocationFailed", Message: fmt.Sprintf(
			"Desired number of dedicated nodes could not be allocated: %d of %d requested; subnet %s (%d usable addresses) is full. Use a bigger subnet.",
			len(out), count, s.Subnet.ID.Leaf(), usable(sn.AddressPrefixes))}, nil
	}
	return out, nil, nil
}

func nodeIndex(name string) int {
	var i int
	fmt.Sscanf(strings.TrimPrefix(name, "tvm-"), "%d", &i)
	return i
}

// markLeaving marks count nodes leaving: unusable ones first, then idle
// ones, longest idle first (an idle scale-down removes the nodes whose
// time ran out), then the others; among equals the highest names.
func markLeaving(nodes []node, count int) []node {
	order := make([]int, 0, len(nodes))
	for i := range nodes {
		if nodes[i].State != NodeLeaving {
			order = append(order, i)
		}
	}
	rank := func(n node) int {
		switch n.State {
		case NodeUnusable:
			return 0
		case NodeIdle:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(order, func(a, b int) int {
		na, nb := nodes[a], nodes[b]
		if c := cmp.Compare(rank(na), rank(nb)); c != 0 {
			return c
		}
		if c := na.Since.Compare(nb.Since); c != 0 {
			return c
		}
		return strings.Compare(nb.NodeID, na.NodeID)
	})
	for _, i := range order[:count] {
		nodes[i].State = NodeLeaving
	}
	return nodes
}

// remove deletes a compute: its nodes, their addresses, the resources
// Azure created for it, then the compute.
func (e *Engine) remove(ctx context.Context, ps *passState, op Operation, id arm.ID) error {
	var nodes []node
	if err := e.st.View(ctx, func(rd store.Reader) error {
		var err error
		nodes, err = nodesOf(ctx, rd, id)
		return err
	}); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := e.fab.Remove(ps.stopping, fabricNode(id, n)); err != nil {
			if ps.stopping.Err() != nil {
				return fmt.Errorf("remove node %s: %w", n.NodeID, ps.stopping.Err())
			}
			// The machine goes before its record and address: the delete
			// waits, its error shown, and is tried again.
			return retry{removeFailed(n, err)}
		}
	}
	return e.st.Update(ctx, func(tx store.Tx) error {
		body, s, nodes, err := load(ctx, tx, id)
		var pe *Error
		if errors.As(err, &pe) && pe.Code == "ResourceNotFound" {
			return finish(ctx, tx, op, nil, e.clock.Now()) // already gone
		}
		if err != nil && body == nil {
			return err
		}
		for _, n := range nodes {
			if err := release(ctx, tx, n.Subnet, n.PrivateIP); err != nil {
				return err
			}
		}
		if err := removeCreated(ctx, tx, e.gov, s); err != nil {
			return err // locks were checked when the delete was asked; a new one fails it
		}
		if err := tx.Delete(ctx, id.String(), store.Condition{}); err != nil && !isNotFound(err) {
			return err
		}
		if _, err := tx.DeleteUnder(ctx, id.String()); err != nil {
			return err
		}
		return finish(ctx, tx, op, nil, e.clock.Now())
	})
}

// fail records a failed operation and its compute's errors.
func (e *Engine) fail(ctx context.Context, op Operation, id arm.ID, cause error) error {
	return e.st.Update(ctx, func(tx store.Tx) error {
		if !id.IsZero() {
			body, s, nodes, err := load(ctx, tx, id)
			if err == nil || body != nil {
				failed(op, s, nodes, asError(cause)).apply(body, s, e.clock.Now())
				if err := e.gov.PutCompute(ctx, tx, id, body); err != nil {
					return err
				}
			}
		}
		return finish(ctx, tx, op, cause, e.clock.Now())
	})
}

// hold keeps an operation waiting (its error shown on the operation) and
// tries again after RetryAfter.
func (e *Engine) hold(ctx context.Context, op Operation, id arm.ID, cause error) error {
	return e.st.Update(ctx, func(tx store.Tx) error {
		cur, err := readOperation(ctx, tx, op.ID)
		if err != nil {
			return err
		}
		cur.Error, cur.NotBefore = asError(cause), e.clock.Now().Add(e.RetryAfter)
		return putJSON(ctx, tx, cur.ID, OperationType, cur)
	})
}

// scaleDownIdle starts a resize of every cluster whose idle nodes above
// its minimum have been idle longer than nodeIdleTimeBeforeScaleDown. It
// returns when it must look again: now when it started a resize, else
// when the next idle node above a minimum times out (zero: none will).
func (e *Engine) scaleDownIdle(ctx context.Context, now time.Time) (time.Time, error) {
	type scaleDown struct {
		id     arm.ID
		loc    string
		target int
	}
	var downs []scaleDown
	var next time.Time
	err := e.st.View(ctx, func(rd store.Reader) error {
		return store.Each(ctx, rd, store.Query{Scope: "", Type: "Microsoft.MachineLearningServices/workspaces/computes"}, func(rec store.Record) error {
			s, err := readSpec(rec.Body)
			if err != nil || s.ComputeType != resources.ComputeAml || s.CurrentNodeCount == 0 {
				return nil
			}
			id := s.ID
			nodes, err := nodesOf(ctx, rd, id)
			if err != nil || len(nodes) <= s.Min {
				return err
			}
			expired := 0
			for _, n := range nodes {
				if n.State != NodeIdle {
					continue
				}
				if at := n.Since.Add(s.IdleTimeout); now.Before(at) {
					if next.IsZero() || at.Before(next) {
						next = at
					}
				} else {
					expired++
				}
			}
			if target := max(s.Min, len(nodes)-expired); target < len(nodes) {
				if op, err := Busy(ctx, rd, id); err == nil && op == "" {
					downs = append(downs, scaleDown{id, s.Location, target})
				}
			}
			return nil
		})
	})
	if err != nil {
		return next, err
	}
	for _, d := range downs {
		err := e.st.Update(ctx, func(tx store.Tx) error {
			body, _, _, err := load(ctx, tx, d.id)
			if err != nil {
				return err
			}
			MarkResizing(body, d.target, e.clock.Now())
			if err := e.gov.PutCompute(ctx, tx, d.id, body); err != nil {
				return err
			}
			_, err = Begin(ctx, tx, e.clock.Now(), d.id, d.loc, KindResize, d.target)
			return err
		})
		if err != nil {
			return next, err
		}
		next = now
		e.log.Info("scaling down idle nodes", "compute", d.id.String(), "target", d.target)
	}
	return next, nil
}

// checkQuota refuses adding nodes beyond the cores quota of the VM family
// or the region, and public-IP computes beyond the network quotas.
func (e *Engine) checkQuota(ctx context.Context, rd store.Reader, s spec, add int) error {
	region := strings.ToLower(s.ComputeLocation)
	total, families, err := coresInUse(ctx, rd, s.ID.Subscription, region)
	if err != nil {
		return err
	}
	family := families[s.Family]
	need := add * s.Cores
	if limit := e.quotas.family(s.Family); family+need > limit {
		return &Error{Code: "QuotaExceeded", Message: fmt.Sprintf(
			"Operation could not be completed as it results in exceeding approved %s Cores quota. Location: %s, current limit: %d, current usage: %d, additional required: %d.",
			s.Family, region, limit, family, need)}
	}
	if total+need > e.quotas.TotalCores {
		return &Error{Code: "QuotaExceeded", Message: fmt.Sprintf(
			"Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Location: %s, current limit: %d, current usage: %d, additional required: %d.",
			region, e.quotas.TotalCores, total, need)}
	}
	aml, ok := resources.AzureMLResourcesFor(s.Compute)
	if !ok {
		return nil
	}
	for _, q := range []struct {
		id    arm.ID
		limit int
		what  string
	}{{aml.PublicIP, e.quotas.PublicIPAddresses, "public IP addresses"}, {aml.LoadBalancer, e.quotas.LoadBalancers, "load balancers"}, {aml.NSG, e.quotas.NetworkSecurityGroups, "network security groups"}} {
		if _, err := rd.Get(ctx, q.id.String()); err == nil {
			continue // exists already
		}
		n := 0
		if err := store.Each(ctx, rd, store.Query{Scope: "/subscriptions/" + s.ID.Subscription, Type: q.id.Type()}, func(rec store.Record) error {
			var r struct{ Location string }
			if json.Unmarshal(rec.Body, &r) == nil && strings.EqualFold(r.Location, region) {
				n++
			}
			return nil
		}); err != nil {
			return err
		}
		if n+1 > q.limit {
			return &Error{Code: "QuotaExceeded", Message: fmt.Sprintf("Creating %s would exceed the quota of %d %s in %s for subscription %s.",
				q.id.Name(), q.limit, q.what, region, s.ID.Subscription)}
		}
	}
	return nil
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// summary leads with the first cause; details carry every one.
func summary(es []Error) string {
	switch len(es) {
	case 0:
		return "no reason recorded"
	case 1:
		return es[0].Message
	}
	return fmt.Sprintf("%s (and %d more causes in details)", es[0].Message, len(es)-1)
}
