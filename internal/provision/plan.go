package provision

import (
	"fmt"
	"slices"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/resources"
)

// What an operation does is decided here, by pure functions of the
// operation, the compute and its nodes as stored, and what the fabric
// reported: planOperation (the nodes to add and to remove, and what the
// compute shows meanwhile), actionFor (what the fabric does to each node),
// observe (a node after its action) and settle (the outcome: the nodes
// kept, the runtime fields, the operation's end). The engine runs them
// between its transactions and the fabric: plan → act → record.

// plan is what an operation does to a compute's nodes. Adding nodes is
// left to the transaction, which gives them their addresses.
type plan struct {
	target int    // the node count the operation aims at
	final  string // an instance's state at the end ("" for a cluster)
	add    int    // nodes to create
	nodes  []node // the compute's nodes, those to remove marked leaving
}

// planOperation decides what op does to a compute with these nodes.
func planOperation(op Operation, s spec, nodes []node) plan {
	p := plan{nodes: slices.Clone(nodes)}
	p.target, p.final = desired(op, s, nodes)
	live := 0
	for _, n := range nodes {
		if n.State != NodeLeaving {
			live++
		}
	}
	switch {
	case live < p.target:
		p.add = p.target - live
	case live > p.target:
		p.nodes = markLeaving(p.nodes, live-p.target)
	}
	return p
}

// desired is the node count and instance state an operation aims at.
func desired(op Operation, s spec, nodes []node) (int, string) {
	switch op.Kind {
	case KindCreate:
		if s.ComputeType == resources.ComputeInstance {
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

// during is what the compute shows while the operation runs on nodes.
func (p plan) during(op Operation, s spec, nodes []node) runtimeFields {
	r := runtimeFields{provisioning: provisioningDuring(op), nodes: nodes, target: p.target, resizing: s.ComputeType == resources.ComputeAml}
	if s.ComputeType == resources.ComputeInstance {
		r.state = transitional(op, p.final)
	}
	return r
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

// action is what the fabric does to one node.
type action int

const (
	keep   action = iota // nothing
	boot                 // create the machine (or find it), then probe its flows
	start                // start the stopped machine, then probe its flows
	stop                 // halt the machine
	remove               // delete the machine
)

func (a action) String() string {
	return [...]string{"keep", "boot", "start", "stop", "remove"}[a]
}

// actionFor decides what the fabric does to node n in op. An unusable
// node is booted and probed again by every operation that wants it up:
// the network that broke it may have been fixed.
func actionFor(op Operation, n node) action {
	switch {
	case n.State == NodeLeaving:
		return remove
	case op.Kind == KindStart || op.Kind == KindRestart:
		return start
	case n.State == NodePreparing || n.State == NodeUnusable:
		return boot
	case op.Kind == KindCreate && n.State != NodeStopped:
		return boot // a create replayed after a crash
	case op.Kind == KindStop:
		return stop
	}
	return keep
}

// result is what the fabric did with one node's action: the error of the
// action itself (boot, start, stop, remove), and of the probe and its
// answers after a boot or start.
type result struct {
	err      error
	probeErr error
	probes   []fabric.Probe
}

// Codes of the errors the fabric causes (docs/provisioning.md).
const (
	codeBootFailed   = "NodeBootFailed"
	codeStartFailed  = "NodeStartFailed"
	codeProbeFailed  = "NodeProbeFailed"
	codeFlowFailed   = "FlowFailedOnNode"
	codeStopFailed   = "NodeStopFailed"
	codeRemoveFailed = "NodeRemoveFailed"
	codeNodeUnusable = "NodeUnusable"
)

// observe is node n after the fabric carried out a on it, at now. blocked
// are the verifier's findings for the flows it predicts blocked. A node
// brought up is idle when every probe passed and unusable otherwise, with
// the reasons: the verifier's findings for flows it predicted blocked, and
// the fabric's word for a flow it predicted open. A failed stop or
// remove leaves the node as it was (settle reports it).
func observe(n node, a action, r result, blocked []Error, now time.Time) node {
	switch a {
	case stop:
		if r.err == nil {
			n.State, n.Since = NodeStopped, now
		}
		return n
	case boot, start:
	default:
		return n
	}
	var errs []Error
	switch {
	case r.err != nil:
		code := codeBootFailed
		if a == start {
			code = codeStartFailed
		}
		errs = []Error{{Code: code, Message: fmt.Sprintf("the fabric could not %s node %s: %v", a, n.NodeID, r.err)}}
	case r.probeErr != nil:
		errs = []Error{{Code: codeProbeFailed, Message: fmt.Sprintf("the fabric could not probe the flows of node %s: %v", n.NodeID, r.probeErr)}}
	default:
		predictedBlocked := false
		for _, p := range r.probes {
			switch {
			case p.Passed:
			case !p.Flow.Predicted:
				predictedBlocked = true
			default:
				errs = append(errs, Error{Code: codeFlowFailed, Message: fmt.Sprintf(
					"%s failed on node %s (%s), although the network's rules allow it", p.Flow.Name, n.NodeID, p.Detail)})
			}
		}
		if predictedBlocked {
			errs = append(slices.Clone(blocked), errs...)
		}
	}
	state := NodeIdle
	if len(errs) > 0 {
		state = NodeUnusable
	}
	n.State, n.Errors, n.Since = state, errs, now
	return n
}

// outcome is how an operation ends, as settle decides it.
type outcome struct {
	kept, gone []node // the node records to keep, and those to delete
	runtime    runtimeFields
	// releaseCreated: the cluster has no node left, so what Azure created
	// for it goes.
	releaseCreated bool
	// err fails the operation; hold keeps it waiting to be tried again (a
	// removal the fabric failed: the machine must go before its record).
	err, hold *Error
}

// settle decides the outcome of op on the compute from its plan, the
// nodes as observed, what each one's action was and its result, and the
// shortfall of an allocation that found the subnet full.
func settle(op Operation, s spec, p plan, nodes []node, acts map[string]action, results map[string]result, shortfall *Error) outcome {
	var o outcome
	var failedRemovals, failedStops []Error
	for _, n := range nodes {
		r := results[n.NodeID]
		switch {
		case n.State == NodeLeaving && r.err == nil:
			o.gone = append(o.gone, n)
			continue
		case n.State == NodeLeaving:
			failedRemovals = append(failedRemovals, *removeFailed(n, r.err))
		case acts[n.NodeID] == stop && r.err != nil:
			failedStops = append(failedStops, Error{Code: codeStopFailed, Message: fmt.Sprintf("the fabric could not stop node %s: %v", n.NodeID, r.err)})
		}
		o.kept = append(o.kept, n)
	}
	// Unusable nodes stay so until they leave (unusable ones leave first)
	// or an operation brings them up again; the operation fails when a
	// node it brought up is unusable.
	failedNow := 0
	for _, n := range o.kept {
		if a := acts[n.NodeID]; n.State == NodeUnusable && (a == boot || a == start) {
			failedNow++
		}
	}
	errs := unusableErrors(o.kept)
	if shortfall != nil {
		errs = append(errs, *shortfall)
	}
	errs = append(append(errs, failedStops...), failedRemovals...)

	state, provisioning := p.final, "Succeeded"
	switch {
	case s.ComputeType == resources.ComputeInstance && failedNow > 0:
		state = "Unusable"
		if op.Kind == KindCreate {
			provisioning = "Failed"
		}
	case len(failedStops) > 0:
		state = "Running" // the machine did not stop
	}
	o.runtime = runtimeFields{provisioning: provisioning, errors: errs, nodes: o.kept, target: p.target, state: state}
	switch {
	case len(failedRemovals) > 0:
		o.hold = &failedRemovals[0]
		o.runtime.resizing = s.ComputeType == resources.ComputeAml
	case failedNow > 0:
		o.err = &errs[0]
	case shortfall != nil:
		o.err = shortfall
	case len(failedStops) > 0:
		o.err = &failedStops[0]
	}
	o.releaseCreated = len(o.kept) == 0 && s.ComputeType == resources.ComputeAml && o.hold == nil
	return o
}

// unusableErrors is the compute's error for its unusable nodes, if any:
// how many, and the first one's reasons.
func unusableErrors(nodes []node) []Error {
	var reasons []Error
	unusable := 0
	for _, n := range nodes {
		if n.State != NodeUnusable {
			continue
		}
		unusable++
		if reasons == nil {
			reasons = n.Errors
		}
	}
	if unusable == 0 {
		return nil
	}
	return []Error{{Code: codeNodeUnusable, Message: fmt.Sprintf("%d of %d nodes are unusable: %s", unusable, len(nodes), summary(reasons)), Details: reasons}}
}

// removeFailed is the error of a removal the fabric failed.
func removeFailed(n node, err error) *Error {
	return &Error{Code: codeRemoveFailed, Message: fmt.Sprintf("the fabric could not remove node %s: %v", n.NodeID, err)}
}

// heldByRelease is what a cluster shows when what Azure created for it
// cannot go yet (a lock on the VNet's group): its nodes are gone, and it
// stays resizing with the reason (spec §10 #9: "stuck at resizing
// (0 → 0)").
func heldByRelease(o outcome, cause *Error) runtimeFields {
	r := o.runtime
	r.provisioning, r.errors, r.resizing, r.state = "Succeeded", []Error{*cause}, true, ""
	return r
}

// failed is what a compute shows when op failed with cause before the
// fabric was asked anything.
func failed(op Operation, s spec, nodes []node, cause *Error) runtimeFields {
	r := runtimeFields{provisioning: "Succeeded", errors: []Error{*cause}, nodes: nodes, target: len(nodes)} // the compute exists; the operation failed
	switch op.Kind {
	case KindCreate:
		r.provisioning = "Failed"
		if s.ComputeType == resources.ComputeInstance {
			r.state = "CreateFailed"
		}
	case KindDelete:
		r.provisioning = "Failed"
	}
	return r
}

// runtimeFields are what provisioning owns of a compute's body at one moment:
// provisioningState and its errors, and the cluster's allocation or the
// instance's state.
type runtimeFields struct {
	provisioning string
	errors       []Error
	nodes        []node // a cluster's nodes, counted by state
	target       int    // a cluster's targetNodeCount
	resizing     bool   // a cluster's allocationState: Resizing, else Steady
	state        string // an instance's state; "" keeps it
}

// apply writes r into a compute's body, stamped at now.
func (r runtimeFields) apply(body arm.Body, s spec, now time.Time) {
	props := arm.EnsureField(body, "properties")
	in := arm.EnsureField(props, "properties")
	props["provisioningState"] = r.provisioning
	at := now.UTC().Format(time.RFC3339Nano)
	props["modifiedOn"] = at
	if _, ok := props["createdOn"]; !ok {
		props["createdOn"] = at
	}
	pe := make([]any, 0, len(r.errors))
	for _, e := range r.errors {
		pe = append(pe, arm.Body{"error": e})
	}
	props["provisioningErrors"] = pe
	in["errors"] = pe
	switch s.ComputeType {
	case resources.ComputeAml:
		state := "Steady"
		if r.resizing {
			state = "Resizing"
		}
		setAllocation(in, state, r.target, at)
		in["currentNodeCount"] = len(r.nodes)
		in["nodeStateCounts"] = counts(r.nodes)
	case resources.ComputeInstance:
		if r.state != "" {
			in["state"] = r.state
		}
	}
}
