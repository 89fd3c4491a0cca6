package provision

import (
	"context"
	"fmt"
	"slices"
	"time"

	"securetrain/internal/arm"
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

// ClaimedNode is a node given to a job.
type ClaimedNode struct {
	Name      string
	PrivateIP string
}

// NodesError says why a job can never get the nodes it asks for.
type NodesError struct{ Message string }

func (e *NodesError) Error() string { return e.Message }

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
	now := e.clock.Now().UTC()
	if len(idle) < count {
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
		claimed = append(claimed, ClaimedNode{Name: nodes[i].NodeID, PrivateIP: nodes[i].PrivateIP})
	}
	return claimed, false, e.putCounts(ctx, tx, compute, body, nodes)
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
