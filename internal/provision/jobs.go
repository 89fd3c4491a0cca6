package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// What the provisioner offers the jobs that run on its computes: nodes
// claimed for a job (running) and given back (idle, so that the idle
// timeout scales them down), and a cluster's scale-up toward what queued
// jobs need.

// Scheduler places jobs on nodes. The engine calls it in each pass, after
// the operations and before idle nodes time out, so that nodes a resize
// brought up are claimed before anything else looks at them.
type Scheduler interface {
	// Schedule does what is due at now and returns when it wants to run
	// again (zero: only when woken).
	Schedule(ctx context.Context, now time.Time) time.Time
	// Shutdown stops every job this process runs, when its engine
	// stops working: the lease was lost to another replica, whose
	// scheduler ends those jobs (they are not run twice).
	Shutdown()
}

// SetScheduler gives the engine its job scheduler; call it before Run.
func (e *Engine) SetScheduler(s Scheduler) { e.scheduler = s }

// ClaimedNode is a node given to a job: its name, address and VM size
// (the limits of its processes).
type ClaimedNode struct {
	Name      string
	PrivateIP string
	Size      Size
}

// NodesError says why a job can never get the nodes it asks for.
type NodesError struct{ Message string }

func (e *NodesError) Error() string { return e.Message }

// UnusableError says a job cannot get its nodes while the compute's
// unusable nodes stay unusable (their network blocks a required flow):
// the usable nodes it has or could scale to are too few. Unusable are
// those nodes, Reason the compute's error for them.
type UnusableError struct {
	Unusable []ClaimedNode
	Reason   Error
}

func (e *UnusableError) Error() string { return e.Reason.Message }

// ClaimNodes, in tx, marks count idle nodes of compute running and
// returns them. With fewer idle nodes it claims none; a cluster then
// scales up toward its busy nodes plus count (within maxNodeCount) unless
// an operation is under way, and resizing says it began one: the caller
// asks for a pass that runs it, then asks again. Otherwise nodes free up
// when a job ends, which wakes the engine.
func (e *Engine) ClaimNodes(ctx context.Context, tx store.Tx, compute arm.ID, count int) (claimed []ClaimedNode, resizing bool, err error) {
	body, s, nodes, err := load(ctx, tx, compute)
	if err != nil {
		return nil, false, err
	}
	if count > s.Max {
		return nil, false, &NodesError{fmt.Sprintf("the job asks for %d nodes but compute %s has at most %d", count, compute.Leaf(), s.Max)}
	}
	var idle []int
	live := 0
	for i, n := range nodes {
		if n.State != NodeLeaving {
			live++
		}
		if n.State == NodeIdle {
			idle = append(idle, i)
		}
	}
	size, err := SizeOf(s.VMSize)
	if err != nil {
		return nil, false, err
	}
	now := e.clock.Now().UTC()
	if len(idle) < count {
		if err := unusableShortfall(s, nodes, count, size); err != nil {
			return nil, false, err
		}
		want := min(s.Max, live-len(idle)+count)
		if s.ComputeType != resources.ComputeAml || want <= live {
			return nil, false, nil // nodes are busy (or an instance is stopped): wait
		}
		if op, err := Busy(ctx, tx, compute); err != nil || op != "" {
			return nil, false, err
		}
		MarkResizing(body, want, now)
		if err := e.gov.PutCompute(ctx, tx, compute, body); err != nil {
			return nil, false, err
		}
		_, err := Begin(ctx, tx, now, compute, s.Location, KindResize, want)
		return nil, err == nil, err
	}
	for _, i := range idle[:count] {
		nodes[i].State, nodes[i].Since = NodeRunning, now
		if err := putNode(ctx, tx, compute, nodes[i]); err != nil {
			return nil, false, err
		}
		claimed = append(claimed, ClaimedNode{Name: nodes[i].NodeID, PrivateIP: nodes[i].PrivateIP, Size: size})
	}
	return claimed, false, e.putCounts(ctx, tx, compute, body, nodes)
}

// unusableShortfall is an UnusableError when compute s's unusable nodes
// leave room for fewer than count usable ones (a cluster's maxNodeCount,
// an instance's one node), else nil: the job would wait for a network
// fix that may never come, where Azure fails it.
func unusableShortfall(s spec, nodes []node, count int, size Size) error {
	var unusable []ClaimedNode
	for _, n := range nodes {
		if n.State == NodeUnusable {
			unusable = append(unusable, ClaimedNode{Name: n.NodeID, PrivateIP: n.PrivateIP, Size: size})
		}
	}
	capacity := 1
	if s.ComputeType == resources.ComputeAml {
		capacity = s.Max
	}
	if len(unusable) == 0 || capacity-len(unusable) >= count {
		return nil
	}
	return &UnusableError{Unusable: unusable, Reason: unusableErrors(nodes)[0]}
}

// ReleaseNodes, in tx, gives a job's running nodes back: idle from now.
// Nodes that are gone (a resize removed them) are skipped.
func (e *Engine) ReleaseNodes(ctx context.Context, tx store.Tx, compute arm.ID, names []string) error {
	body, _, nodes, err := load(ctx, tx, compute)
	if err != nil {
		return err
	}
	now := e.clock.Now().UTC()
	for i, n := range nodes {
		if n.State == NodeRunning && slices.Contains(names, n.NodeID) {
			nodes[i].State, nodes[i].Since = NodeIdle, now
			if err := putNode(ctx, tx, compute, nodes[i]); err != nil {
				return err
			}
		}
	}
	return e.putCounts(ctx, tx, compute, body, nodes)
}

// putCounts stores a cluster's nodeStateCounts after nodes changed state.
func (e *Engine) putCounts(ctx context.Context, tx store.Tx, compute arm.ID, body arm.Body, nodes []node) error {
	in := arm.EnsureField(arm.EnsureField(body, "properties"), "properties")
	if _, cluster := in["nodeStateCounts"]; cluster {
		in["nodeStateCounts"] = counts(nodes)
	}
	return e.gov.PutCompute(ctx, tx, compute, body)
}

// Enter is the fabric's way into node of compute: it runs start on a
// thread inside the node's network namespace (fabric.Host). It is nil
// when the fabric's nodes have no network of their own (sim): processes
// then run in the server's.
func (e *Engine) Enter(compute arm.ID, node string) func(start func() error) error {
	h, ok := e.fab.(fabric.Host)
	if !ok {
		return nil
	}
	n := fabric.Node{Compute: compute.String(), Name: node}
	return func(start func() error) error { return h.Enter(n, start) }
}

// Refused lists the connections from node of compute, since since, that a
// firewall refused by name (fabric.Host.Refused); none on a fabric whose
// nodes send no packets (sim).
func (e *Engine) Refused(compute arm.ID, node string, since time.Time) []fabric.Refusal {
	h, ok := e.fab.(fabric.Host)
	if !ok {
		return nil
	}
	return h.Refused(fabric.Node{Compute: compute.String(), Name: node}, since)
}

// ProbeStorage sends, from node of compute, the compute's required flows
// to storage (the Storage service tag, the default storage account's
// blob and file endpoints) and returns those that failed: Azure mounts
// the workspace's storage on a node for every job it runs. The network's
// current rules apply (the fabric brings them up to date first). On a
// fabric without packets (sim) the probes are the verifier's prediction.
func (e *Engine) ProbeStorage(ctx context.Context, compute arm.ID, nodeName string) ([]fabric.Probe, error) {
	var s spec
	var nodes []node
	if err := e.st.View(ctx, func(rd store.Reader) error {
		var err error
		_, s, nodes, err = load(ctx, rd, compute)
		return err
	}); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(nodes, func(n node) bool { return n.NodeID == nodeName })
	if i < 0 {
		return nil, fmt.Errorf("node %s of %s is gone", nodeName, compute.Leaf())
	}
	flows, _, err := e.readiness(ctx, &passState{stopping: ctx, networks: map[string]*netverify.Network{}}, s)
	if err != nil {
		return nil, err
	}
	flows = slices.DeleteFunc(flows, func(f fabric.Flow) bool { return f.Inbound || !isStorage(f.Remote) })
	n := nodes[i]
	probes, err := e.fab.Probe(ctx, fabric.Node{Compute: compute.String(), Name: n.NodeID, Subnet: n.Subnet, PrivateIP: parseAddr(n.PrivateIP), PublicIP: parseAddr(n.PublicIP)}, flows)
	if err != nil {
		return nil, fmt.Errorf("probe the storage flows of node %s: %w", nodeName, err)
	}
	return slices.DeleteFunc(probes, func(p fabric.Probe) bool { return p.Passed }), nil
}

// isStorage reports whether a required flow's remote end is storage.
func isStorage(remote string) bool {
	r := strings.ToLower(remote)
	return r == "storage" || strings.HasPrefix(r, "storage.") || strings.HasSuffix(r, ".blob.core.windows.net") || strings.HasSuffix(r, ".file.core.windows.net")
}

// ExplainFlow asks the verifier about a flow in subscription's network:
// its verdict and, when it is blocked, the deciding rule or route and the
// fix.
func (e *Engine) ExplainFlow(ctx context.Context, subscription string, q netverify.Query) (*netverify.Result, error) {
	n, err := e.net(ctx, subscription)
	if err != nil {
		return nil, err
	}
	return n.Flow(q)
}
