package provision

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Re-probing: when the network that nodes run in changes (an NSG, a
// route, an association written through the API, by any replica), the
// engine probes the nodes of the subscription's computes again, as
// Azure's node agent keeps reporting: an unusable node whose flows now
// pass becomes idle, an idle node that lost a flow becomes unusable
// (Azure marks a node unusable when its agent loses contact with the
// service), each with the flow and the verifier's reason. Nodes that run
// a job or are being prepared are probed when they are idle again (the
// engine looks every RetryAfter);
// stopped and leaving nodes are not probed. A change is probed
// ReprobeAfter after it was seen, so that a burst of writes is probed
// once.

// staleCompute is a compute whose nodes a network change left unprobed.
type staleCompute struct {
	id    arm.ID
	at    time.Time       // when to probe them: the change's debounce, or a retry
	nodes map[string]bool // the nodes still to probe, by name
}

// ownWrite marks the context of the engine's own transactions.
type ownWrite struct{}

// OwnWrite reports whether ctx is a transaction of the engine's: what it
// writes of the network (what Azure creates for a compute with public IP)
// concerns the compute it provisions, whose nodes it probes anyway, and
// queues no re-probe.
func OwnWrite(ctx context.Context) bool { return ctx.Value(ownWrite{}) != nil }

// ownStore is the store as the engine writes it: its transactions carry
// OwnWrite.
type ownStore struct{ store.Store }

func (s ownStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(context.WithValue(ctx, ownWrite{}, true), fn)
}

// reprobe notes the computes of subscriptions whose network changed and
// probes those whose time came. It returns when it wants to run again
// (zero: only when woken).
func (e *Engine) reprobe(ctx context.Context, ps *passState, now time.Time) time.Time {
	if e.changes == nil {
		return time.Time{}
	}
	var next time.Time
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	counts, err := e.changes(ctx)
	if err != nil {
		e.logFailure(ps.stopping, "provisioning: reading the network's changes", err)
		soon(now.Add(e.RetryAfter))
	}
	for sub, n := range counts {
		if n == e.seen[sub] {
			continue
		}
		if err := e.noteStale(ctx, sub, now.Add(e.ReprobeAfter)); err != nil {
			e.logFailure(ps.stopping, "provisioning: listing the nodes to probe again", err)
			soon(now.Add(e.RetryAfter))
			continue
		}
		e.seen[sub] = n
	}
	for key, sc := range e.stale {
		if now.Before(sc.at) {
			soon(sc.at)
			continue
		}
		retry, err := e.reprobeCompute(ctx, ps, sc)
		if ps.stopping.Err() != nil {
			return time.Time{}
		}
		if err != nil {
			e.log.Error("provisioning: probing nodes again", "compute", sc.id.String(), "err", err)
			retry = true
		}
		if !retry && len(sc.nodes) == 0 {
			delete(e.stale, key)
			continue
		}
		// Held up, or nodes that run a job or are being prepared: look
		// again soon.
		sc.at = e.clock.Now().Add(e.RetryAfter)
		soon(sc.at)
	}
	return next
}

// noteStale marks the nodes of the subscription's computes to be probed
// at at (or sooner, when they already were).
func (e *Engine) noteStale(ctx context.Context, sub string, at time.Time) error {
	return e.st.View(ctx, func(rd store.Reader) error {
		return store.Each(ctx, rd, store.Query{Scope: "/subscriptions/" + sub, Type: resources.TypeCompute}, func(rec store.Record) error {
			id, err := arm.ParseID(rec.ID, "")
			if err != nil {
				return nil // not a compute's id: nothing to probe
			}
			nodes, err := nodesOf(ctx, rd, id)
			if err != nil || len(nodes) == 0 {
				return err
			}
			key := strings.ToLower(id.String())
			sc := e.stale[key]
			if sc == nil {
				sc = &staleCompute{id: id, at: at, nodes: map[string]bool{}}
				e.stale[key] = sc
			}
			if at.Before(sc.at) {
				sc.at = at
			}
			for _, n := range nodes {
				sc.nodes[n.NodeID] = true
			}
			return nil
		})
	})
}

// reprobeCompute probes the stale nodes of a compute that are idle or
// unusable and records what they are now. Nodes that are gone, leaving or
// stopped are forgotten; running and preparing ones wait. retry: the
// compute has an operation under way (it probes what it brings up; the
// others wait for its end).
func (e *Engine) reprobeCompute(ctx context.Context, ps *passState, sc *staleCompute) (retry bool, err error) {
	var (
		s     spec
		nodes []node
		busy  string
	)
	err = e.st.View(ctx, func(rd store.Reader) error {
		var err error
		if _, s, nodes, err = load(ctx, rd, sc.id); err != nil {
			return err
		}
		busy, err = Busy(ctx, rd, sc.id)
		return err
	})
	if coded(err) {
		clear(sc.nodes) // the compute is gone or no longer provisioned
		return false, nil
	}
	if err != nil || busy != "" {
		return busy != "", err
	}
	var probe []node
	present := map[string]bool{}
	for _, n := range nodes {
		present[n.NodeID] = true
		if !sc.nodes[n.NodeID] {
			continue
		}
		switch n.State {
		case NodeIdle, NodeUnusable:
			probe = append(probe, n)
			delete(sc.nodes, n.NodeID)
		case NodeLeaving, NodeStopped:
			delete(sc.nodes, n.NodeID)
		}
	}
	for name := range sc.nodes {
		if !present[name] {
			delete(sc.nodes, name)
		}
	}
	if len(probe) == 0 {
		return false, nil
	}
	flows, blocked, err := e.readiness(ctx, ps, s)
	results := make([]result, len(probe))
	switch {
	case coded(err):
		// The compute cannot be evaluated any more (its subnet is gone):
		// its nodes cannot work, and say why.
		for i := range results {
			results[i].probeErr = err
		}
	case err != nil:
		for _, n := range probe {
			sc.nodes[n.NodeID] = true
		}
		return true, err
	default:
		results = e.probeNodes(ps.stopping, sc.id, probe, flows)
	}
	if ps.stopping.Err() != nil {
		return false, nil
	}
	now := e.clock.Now().UTC()
	observed := make(map[string]node, len(probe))
	for i, n := range probe {
		o := observe(n, start, results[i], blocked, now)
		if o.State == n.State {
			o.Since = n.Since // still idle: its idle time runs on
		}
		e.logDisagreement(sc.id, n, results[i].probes)
		observed[n.NodeID] = o
	}
	return false, e.recordProbed(ctx, sc.id, probe, observed)
}

// probeNodes starts each node (a node the fabric lost with a restart is
// booted anew; a running one stays as it is) and probes the flows of
// those that run.
func (e *Engine) probeNodes(ctx context.Context, id arm.ID, nodes []node, flows []fabric.Flow) []result {
	results := make([]result, len(nodes))
	var up []node
	var at []int
	for i, n := range nodes {
		if results[i].err = e.fab.Start(ctx, fabricNode(id, n)); results[i].err == nil {
			up, at = append(up, n), append(at, i)
		}
	}
	for k, r := range e.probeAll(ctx, id, up, flows) {
		results[at[k]].probes, results[at[k]].probeErr = r.probes, r.probeErr
	}
	return results
}

// recordProbed stores the probed nodes as observed, unless an operation
// or a job changed one meanwhile, and the compute's node counts, errors
// and an instance's state with them.
func (e *Engine) recordProbed(ctx context.Context, id arm.ID, probed []node, observed map[string]node) error {
	return e.st.Update(ctx, func(tx store.Tx) error {
		body, s, nodes, err := load(ctx, tx, id)
		if err != nil {
			if coded(err) {
				return nil // deleted meanwhile
			}
			return err
		}
		was := map[string]node{}
		for _, n := range probed {
			was[n.NodeID] = n
		}
		changed := false
		for i, n := range nodes {
			o, ok := observed[n.NodeID]
			if !ok || n.State != was[n.NodeID].State || !n.Since.Equal(was[n.NodeID].Since) {
				continue
			}
			nodes[i] = o
			changed = true
			if err := putNode(ctx, tx, id, o); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		reprobed(body, s, nodes)
		return e.putCounts(ctx, tx, id, body, nodes)
	})
}

// reprobed updates a compute's errors and an instance's state for its
// nodes as probed: the unusable nodes' reasons replace the earlier ones,
// the compute's other errors (an allocation's shortfall) stay.
func reprobed(body arm.Body, s spec, nodes []node) {
	props := arm.EnsureField(body, "properties")
	in := arm.EnsureField(props, "properties")
	var kept []Error
	if raw, err := json.Marshal(props["provisioningErrors"]); err == nil {
		var cur []struct{ Error Error }
		if json.Unmarshal(raw, &cur) == nil {
			for _, c := range cur {
				if c.Error.Code != codeNodeUnusable {
					kept = append(kept, c.Error)
				}
			}
		}
	}
	errs := append(unusableErrors(nodes), kept...)
	pe := make([]any, 0, len(errs))
	for _, e := range errs {
		pe = append(pe, arm.Body{"error": e})
	}
	props["provisioningErrors"], in["errors"] = pe, pe
	if s.ComputeType == resources.ComputeInstance && (in["state"] == "Running" || in["state"] == "Unusable") {
		in["state"] = "Running"
		if len(nodes) > 0 && nodes[0].State == NodeUnusable {
			in["state"] = "Unusable"
		}
	}
}
