package provision

import (
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
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
	"securetrain/internal/store"
)

// Engine executes operations. Each one is a reconciliation: read what the
// compute should be and what its nodes are, change the difference in a
// transaction, act on the fabric, record the outcome in another. Every
// step can be replayed, so an operation interrupted by a crash resumes
// where it stood when the server starts again.
type Engine struct {
	st     store.Store
	fab    fabric.Fabric
	gov    Governance
	quotas Quotas
	log    *slog.Logger
	net    func(ctx context.Context, subscription string) (*netverify.Network, error)

	// Tick is how often the worker looks again while it waits: for a
	// retry, or for idle nodes to time out.
	Tick time.Duration
	// RetryAfter delays an operation that something (a lock) holds up.
	RetryAfter time.Duration

	mu      sync.Mutex
	running bool
	again   bool
	kick    chan struct{} // cuts the worker's sleep short when woken

	// networks caches compiled networks for one pass: the operations of a
	// pass (a burst of resizes) share one compilation.
	networks map[string]*netverify.Network
}

// New returns an engine. network compiles a subscription's resources for
// the verifier.
func New(st store.Store, fab fabric.Fabric, gov Governance, quotas Quotas, log *slog.Logger,
	network func(ctx context.Context, subscription string) (*netverify.Network, error)) *Engine {
	return &Engine{st: st, fab: fab, gov: gov, quotas: quotas.withDefaults(), log: log, net: network,
		Tick: 250 * time.Millisecond, RetryAfter: 500 * time.Millisecond, kick: make(chan struct{}, 1)}
}

// Wake makes the worker run now. It runs while there is work — pending
// operations, or clusters whose idle nodes will time out — and stops
// when there is none; the server wakes it on start to resume what a
// restart interrupted.
func (e *Engine) Wake() {
	e.mu.Lock()
	if e.running {
		e.again = true
		e.mu.Unlock()
		select {
		case e.kick <- struct{}{}:
		default:
		}
		return
	}
	e.running = true
	e.mu.Unlock()
	go e.loop()
}

func (e *Engine) loop() {
	ctx := context.Background()
	for {
		busy, err := e.Pass(ctx)
		if err != nil {
			e.log.Error("provisioning", "err", err)
		}
		e.mu.Lock()
		again := e.again
		e.again = false
		if !busy && !again {
			e.running = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		if !again {
			select {
			case <-time.After(e.Tick):
			case <-e.kick:
			}
		}
	}
}

// Pass executes the pending operations that are due, in the order they
// began, and starts scale-downs of idle nodes. It reports whether work
// remains for later.
func (e *Engine) Pass(ctx context.Context) (bool, error) {
	e.networks = map[string]*netverify.Network{}
	defer func() { e.networks = nil }()
	ops, err := pending(ctx, e.st)
	if err != nil {
		return false, err
	}
	busy := false
	held := map[string]bool{} // computes whose earlier operation waits
	now := time.Now()
	for _, op := range ops {
		key := strings.ToLower(op.ResourceID)
		if held[key] || now.Before(op.NotBefore) {
			held[key], busy = true, true
			continue
		}
		waiting, err := e.execute(ctx, op)
		if err != nil {
			// The store failed under this operation; the others still run,
			// and it is tried again on the next pass.
			e.log.Error("provisioning operation", "operation", op.ID, "compute", op.ResourceID, "err", err)
			waiting = true
		}
		if waiting {
			held[key], busy = true, true
		}
	}
	idle, err := e.scaleDownIdle(ctx, now)
	return busy || idle, err
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
func (e *Engine) execute(ctx context.Context, op Operation) (waiting bool, err error) {
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
		err = e.remove(ctx, op, id)
	default:
		err = e.reconcile(ctx, op, id)
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
	s, err := readSpec(id, body)
	if err != nil {
		return body, s, nil, err
	}
	nodes, err := nodesOf(ctx, rd, id)
	return body, s, nodes, err
}

// desired is the node count and instance state an operation aims at.
func desired(op Operation, s spec, nodes []node) (int, string) {
	switch op.Kind {
	case KindCreate:
		if s.Type == ComputeInstance {
			return 1, "Running"
		}
		return s.Min, ""
	case KindResize:
		return op.Target, ""
	case KindStop:
		return 1, "Stopped"
	case KindStart, KindRestart:
		return 1, "Running"
	}
	return len(nodes), ""
}

// readiness asks the verifier which required flows of the compute pass.
func (e *Engine) readiness(ctx context.Context, s spec) ([]fabric.Flow, []Error, error) {
	if s.Subnet.IsZero() {
		return nil, nil, nil
	}
	n := e.networks[s.ID.Subscription]
	if n == nil {
		var err error
		if n, err = e.net(ctx, s.ID.Subscription); err != nil {
			return nil, nil, err
		}
		if e.networks != nil {
			e.networks[s.ID.Subscription] = n
		}
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
			flows[i] = fabricFlow(fc)
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

// reconcile brings a compute's nodes to what the operation asks.
func (e *Engine) reconcile(ctx context.Context, op Operation, id arm.ID) error {
	var (
		s     spec
		nodes []node
	)
	if err := e.st.View(ctx, func(rd store.Reader) error {
		var err error
		_, s, nodes, err = load(ctx, rd, id)
		return err
	}); err != nil {
		return err
	}
	target, instanceState := desired(op, s, nodes)
	flows, blocked, err := e.readiness(ctx, s)
	if err != nil {
		return err
	}
	if op.Kind == KindCreate && len(blocked) > 0 {
		// Azure validates the network before it creates a compute (spec
		// §10 #2, #6): refuse with the blocked flows and their rules.
		return &Error{Code: "ComputeUnusable", Message: fmt.Sprintf("compute %s cannot work in subnet %s: %s", s.ID.Leaf(), s.Subnet.Leaf(), summary(blocked)), Details: blocked}
	}

	// Plan in one transaction: new nodes with their addresses, extra
	// nodes marked leaving.
	var shortfall *Error
	err = e.st.Update(ctx, func(tx store.Tx) error {
		body, s2, cur, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		s, nodes = s2, cur
		live := 0
		for _, n := range nodes {
			if n.State != NodeLeaving {
				live++
			}
		}
		switch {
		case live < target:
			if err := checkCreatable(ctx, tx, e.gov, s); err != nil {
				return err
			}
			add := target - live
			if err := e.checkQuota(ctx, tx, s, add); err != nil {
				return err
			}
			if err := ensureCreated(ctx, tx, e.gov, s); err != nil {
				return err
			}
			added, short, err := e.addNodes(ctx, tx, s, nodes, add)
			if err != nil {
				return err
			}
			nodes, shortfall = append(nodes, added...), short
		case live > target:
			nodes = markLeaving(nodes, live-target)
			for _, n := range nodes {
				if n.State == NodeLeaving {
					if err := putNode(ctx, tx, id, n); err != nil {
						return err
					}
				}
			}
		}
		setRuntime(body, s, provisioningDuring(op), nil, nodes, target, s.Type == AmlCompute, transitional(op, instanceState))
		return PutCompute(ctx, tx, id, body)
	})
	if err != nil {
		return err
	}

	// Act on the fabric, outside any transaction.
	broughtUp := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		fn := fabric.Node{Compute: id.String(), Name: n.NodeID, Subnet: n.Subnet, PrivateIP: parseAddr(n.PrivateIP), PublicIP: parseAddr(n.PublicIP)}
		switch {
		case n.State == NodeLeaving:
			if err := e.fab.Remove(ctx, fn); err != nil {
				return fmt.Errorf("remove node %s: %w", n.NodeID, err)
			}
		case n.State == NodePreparing || op.Kind == KindStart || op.Kind == KindRestart || (op.Kind == KindCreate && n.State != NodeStopped):
			if err := e.bringUp(ctx, op, fn, n, flows, blocked); err != nil {
				return err
			}
			broughtUp[n.NodeID] = true
		case op.Kind == KindStop:
			if err := e.fab.Stop(ctx, fn); err != nil {
				return fmt.Errorf("stop node %s: %w", n.NodeID, err)
			}
			n.State, n.Since = NodeStopped, time.Now().UTC()
		}
	}

	// Record the outcome.
	var held error
	err = e.st.Update(ctx, func(tx store.Tx) error {
		body, s, _, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		var kept []node
		for _, n := range nodes {
			if n.State == NodeLeaving {
				if err := tx.Delete(ctx, nodeID(id, n.NodeID), store.Condition{}); err != nil && !isNotFound(err) {
					return err
				}
				if err := release(ctx, tx, n.Subnet, n.PrivateIP); err != nil {
					return err
				}
				continue
			}
			if err := putNode(ctx, tx, id, n); err != nil {
				return err
			}
			kept = append(kept, n)
		}
		// Unusable nodes stay so until they leave (unusable ones leave
		// first); the operation fails when it brought up one.
		var errs []Error
		var reasons []Error
		unusable, failedNow := 0, 0
		for _, n := range kept {
			if n.State == NodeUnusable {
				unusable++
				if broughtUp[n.NodeID] {
					failedNow++
				}
				if reasons == nil {
					reasons = n.Errors
				}
			}
		}
		if unusable > 0 {
			errs = append(errs, Error{Code: "NodeUnusable", Message: fmt.Sprintf("%d of %d nodes are unusable: %s", unusable, len(kept), summary(reasons)), Details: reasons})
		}
		if shortfall != nil {
			errs = append(errs, *shortfall)
		}
		if len(kept) == 0 && s.Type == AmlCompute {
			if err := removeCreated(ctx, tx, e.gov, s); err != nil {
				// A lock on the VNet's group keeps the cluster resizing
				// (spec §10 #9: "stuck at resizing (0 → 0)").
				// The nodes are gone; what holds is committed and the
				// operation waits.
				held = err
				setRuntime(body, s, "Succeeded", []Error{*asError(err)}, kept, target, true, "")
				return PutCompute(ctx, tx, id, body)
			}
		}
		state := instanceState
		provisioning := "Succeeded"
		if s.Type == ComputeInstance && failedNow > 0 {
			state = "Unusable"
			if op.Kind == KindCreate {
				provisioning = "Failed"
			}
		}
		setRuntime(body, s, provisioning, errs, kept, target, false, state)
		if err := PutCompute(ctx, tx, id, body); err != nil {
			return err
		}
		var opErr error
		switch {
		case failedNow > 0:
			opErr = &errs[0]
		case shortfall != nil:
			opErr = shortfall
		}
		return finish(ctx, tx, op, opErr)
	})
	if err == nil && held != nil {
		return retry{held}
	}
	return err
}

// bringUp boots (or starts) a node and probes its flows.
func (e *Engine) bringUp(ctx context.Context, op Operation, fn fabric.Node, n *node, flows []fabric.Flow, blocked []Error) error {
	var err error
	if n.State == NodeStopped || op.Kind == KindStart || op.Kind == KindRestart {
		err = e.fab.Start(ctx, fn)
	} else {
		err = e.fab.Boot(ctx, fn)
	}
	if err != nil {
		return fmt.Errorf("bring up node %s: %w", n.NodeID, err)
	}
	probes, err := e.fab.Probe(ctx, fn, flows)
	if err != nil {
		return fmt.Errorf("probe node %s: %w", n.NodeID, err)
	}
	n.State, n.Errors, n.Since = NodeIdle, nil, time.Now().UTC()
	for _, p := range probes {
		if !p.Passed {
			n.State, n.Errors = NodeUnusable, blocked
			break
		}
	}
	return nil
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
	var addrs []netip.Addr
	if !s.Subnet.IsZero() {
		var err error
		if addrs, err = allocate(ctx, tx, s.Subnet, owners); err != nil {
			return nil, nil, err
		}
	} else {
		addrs = make([]netip.Addr, len(names)) // Azure's own network: no address of ours
	}
	var pub netip.Addr
	if c, ok := createdFor(s); ok {
		pub = publicAddress(c.pip)
	}
	now := time.Now().UTC()
	var out []node
	for i, a := range addrs {
		n := node{NodeID: names[i], State: NodePreparing, Subnet: s.Subnet.String(), Location: strings.ToLower(s.Location),
			Family: s.Family, Cores: s.Cores, Since: now}
		if s.Subnet.IsZero() {
			n.Subnet = ""
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
		prefixes, _ := subnetPrefixes(ctx, tx, s.Subnet)
		return out, &Error{Code: "AllocationFailed", Message: fmt.Sprintf(
			"Desired number of dedicated nodes could not be allocated: %d of %d requested; subnet %s (%s usable addresses) is full. Use a bigger subnet.",
			len(out), count, s.Subnet.Leaf(), fmt.Sprint(usable(prefixes)))}, nil
	}
	return out, nil, nil
}

func nodeIndex(name string) int {
	var i int
	fmt.Sscanf(strings.TrimPrefix(name, "tvm-"), "%d", &i)
	return i
}

// markLeaving marks count nodes leaving: unusable ones first, then the
// highest names.
func markLeaving(nodes []node, count int) []node {
	order := make([]int, 0, len(nodes))
	for i := range nodes {
		if nodes[i].State != NodeLeaving {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ua, ub := nodes[a].State == NodeUnusable, nodes[b].State == NodeUnusable
		if ua != ub {
			if ua {
				return -1
			}
			return 1
		}
		return strings.Compare(nodes[b].NodeID, nodes[a].NodeID)
	})
	for _, i := range order[:count] {
		nodes[i].State = NodeLeaving
	}
	return nodes
}

// remove deletes a compute: its nodes, their addresses, the resources
// Azure created for it, then the compute.
func (e *Engine) remove(ctx context.Context, op Operation, id arm.ID) error {
	var nodes []node
	if err := e.st.View(ctx, func(rd store.Reader) error {
		var err error
		nodes, err = nodesOf(ctx, rd, id)
		return err
	}); err != nil {
		return err
	}
	for _, n := range nodes {
		fn := fabric.Node{Compute: id.String(), Name: n.NodeID, Subnet: n.Subnet, PrivateIP: parseAddr(n.PrivateIP)}
		if err := e.fab.Remove(ctx, fn); err != nil {
			return fmt.Errorf("remove node %s: %w", n.NodeID, err)
		}
	}
	return e.st.Update(ctx, func(tx store.Tx) error {
		body, s, nodes, err := load(ctx, tx, id)
		var pe *Error
		if errors.As(err, &pe) && pe.Code == "ResourceNotFound" {
			return finish(ctx, tx, op, nil) // already gone
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
		return finish(ctx, tx, op, nil)
	})
}

// fail records a failed operation and its compute's errors.
func (e *Engine) fail(ctx context.Context, op Operation, id arm.ID, cause error) error {
	return e.st.Update(ctx, func(tx store.Tx) error {
		if !id.IsZero() {
			body, s, nodes, err := load(ctx, tx, id)
			if err == nil || body != nil {
				state := ""
				if s.Type == ComputeInstance && op.Kind == KindCreate {
					state = "CreateFailed"
				}
				provisioning := "Failed"
				if op.Kind != KindCreate {
					provisioning = "Succeeded" // the compute exists; the operation failed
				}
				if op.Kind == KindDelete {
					provisioning = "Failed"
				}
				setRuntime(body, s, provisioning, []Error{*asError(cause)}, nodes, len(nodes), false, state)
				if err := PutCompute(ctx, tx, id, body); err != nil {
					return err
				}
			}
		}
		return finish(ctx, tx, op, cause)
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
		cur.Error, cur.NotBefore = asError(cause), time.Now().Add(e.RetryAfter)
		return putJSON(ctx, tx, cur.ID, OperationType, cur)
	})
}

// scaleDownIdle starts a resize of every cluster whose idle nodes above
// its minimum have been idle longer than nodeIdleTimeBeforeScaleDown. It
// reports whether some cluster still has nodes that will time out.
func (e *Engine) scaleDownIdle(ctx context.Context, now time.Time) (bool, error) {
	type plan struct {
		id     arm.ID
		loc    string
		target int
	}
	var plans []plan
	watching := false
	err := e.st.View(ctx, func(rd store.Reader) error {
		return store.Each(ctx, rd, store.Query{Scope: "", Type: "Microsoft.MachineLearningServices/workspaces/computes"}, func(rec store.Record) error {
			body, err := arm.DecodeBody(rec.Body)
			if err != nil || ComputeKind(body) != AmlCompute || arm.Int(arm.Field(arm.Field(body, "properties"), "properties"), "currentNodeCount") == 0 {
				return nil
			}
			id, err := arm.ParseID(rec.ID, "")
			if err != nil {
				return nil
			}
			s, err := readSpec(id, body)
			if err != nil {
				return nil
			}
			nodes, err := nodesOf(ctx, rd, id)
			if err != nil || len(nodes) <= s.Min {
				return err
			}
			busy, expired := 0, 0
			for _, n := range nodes {
				switch {
				case n.State != NodeIdle:
					busy++
				case now.Sub(n.Since) >= s.IdleTimeout:
					expired++
				}
			}
			target := max(s.Min, len(nodes)-expired)
			if len(nodes) > max(s.Min, busy) {
				watching = true
			}
			if target < len(nodes) {
				if op, err := Busy(ctx, rd, id); err == nil && op == "" {
					plans = append(plans, plan{id, arm.Str(body, "location"), target})
				}
			}
			return nil
		})
	})
	if err != nil {
		return watching, err
	}
	for _, p := range plans {
		err := e.st.Update(ctx, func(tx store.Tx) error {
			body, _, _, err := load(ctx, tx, p.id)
			if err != nil {
				return err
			}
			MarkResizing(body, p.target)
			if err := PutCompute(ctx, tx, p.id, body); err != nil {
				return err
			}
			_, err = Begin(ctx, tx, p.id, p.loc, KindResize, p.target)
			return err
		})
		if err != nil {
			return true, err
		}
		watching = true
		e.log.Info("scaling down idle nodes", "compute", p.id.String(), "target", p.target)
	}
	return watching, nil
}

// checkQuota refuses adding nodes beyond the cores quota of the VM family
// or the region, and public-IP computes beyond the network quotas.
func (e *Engine) checkQuota(ctx context.Context, rd store.Reader, s spec, add int) error {
	region := strings.ToLower(s.Location)
	family, total := 0, 0
	err := store.Each(ctx, rd, store.Query{Scope: "/subscriptions/" + s.ID.Subscription, Type: nodeType}, func(rec store.Record) error {
		var n node
		if err := json.Unmarshal(rec.Body, &n); err != nil {
			return fmt.Errorf("stored node %s: %w", rec.ID, err)
		}
		if n.Location == region {
			total += n.Cores // stopped instances keep their quota (spec §9)
			if n.Family == s.Family {
				family += n.Cores
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
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
	c, ok := createdFor(s)
	if !ok {
		return nil
	}
	for _, q := range []struct {
		id    arm.ID
		limit int
		what  string
	}{{c.pip, e.quotas.PublicIPAddresses, "public IP addresses"}, {c.lb, e.quotas.LoadBalancers, "load balancers"}, {c.nsg, e.quotas.NetworkSecurityGroups, "network security groups"}} {
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

// PutCompute stores a compute's body as provisioning changed it, keeping
// the references the API recorded.
func PutCompute(ctx context.Context, tx store.Tx, id arm.ID, body arm.Body) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	rec, err := tx.Get(ctx, id.String())
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{ID: rec.ID, Type: rec.Type, Body: raw, Refs: arm.RefsOutside(body, rec.ID)}, store.Condition{})
	return err
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

func provisioningDuring(op Operation) string {
	switch op.Kind {
	case KindCreate:
		return "Creating"
	case KindDelete:
		return "Deleting"
	}
	return "Succeeded"
}

// transitional is an instance's state while an operation runs.
func transitional(op Operation, final string) string {
	switch op.Kind {
	case KindCreate:
		return "Creating"
	case KindStop:
		return "Stopping"
	case KindStart:
		return "Starting"
	case KindRestart:
		return "Restarting"
	}
	return final
}
