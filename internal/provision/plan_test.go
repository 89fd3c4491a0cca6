package provision

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/resources"
)

var t0 = time.Date(2025, 11, 6, 9, 0, 0, 0, time.UTC)

func cluster(minN, maxN int) spec {
	id, _ := arm.ParseID("/subscriptions/s/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/w/computes/cpu", "")
	return spec{Compute: &resources.Compute{Meta: resources.Meta{ID: id}, ComputeType: resources.ComputeAml}, Min: minN, Max: maxN}
}

func instance() spec {
	s := cluster(1, 1)
	s.ComputeType = resources.ComputeInstance
	return s
}

func nodesIn(states ...string) []node {
	out := make([]node, len(states))
	for i, st := range states {
		out[i] = node{NodeID: nextNodeNames(out[:i], 1)[0], State: st}
	}
	return out
}

func statesOf(nodes []node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.State
	}
	return out
}

func TestPlanOperation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     Operation
		s      spec
		nodes  []node
		target int
		add    int
		states []string // the nodes after the plan
		during runtimeFields
	}{
		{"create a cluster at its minimum", Operation{Kind: KindCreate}, cluster(2, 4), nil, 2, 2, []string{},
			runtimeFields{provisioning: "Creating", target: 2, resizing: true}},
		{"create an instance", Operation{Kind: KindCreate}, instance(), nil, 1, 1, []string{},
			runtimeFields{provisioning: "Creating", target: 1, state: "Creating"}},
		{"grow: leaving nodes do not count", Operation{Kind: KindResize, Target: 3}, cluster(0, 4), nodesIn(NodeIdle, NodeLeaving), 3, 2,
			[]string{NodeIdle, NodeLeaving}, runtimeFields{provisioning: "Succeeded", target: 3, resizing: true}},
		{"shrink: the unusable node leaves first", Operation{Kind: KindResize, Target: 1}, cluster(0, 4), nodesIn(NodeIdle, NodeUnusable, NodeIdle), 1, 0,
			[]string{NodeIdle, NodeLeaving, NodeLeaving}, runtimeFields{provisioning: "Succeeded", target: 1, resizing: true}},
		{"same count: nothing added or removed", Operation{Kind: KindResize, Target: 2}, cluster(0, 4), nodesIn(NodeUnusable, NodeUnusable), 2, 0,
			[]string{NodeUnusable, NodeUnusable}, runtimeFields{provisioning: "Succeeded", target: 2, resizing: true}},
		{"stop an instance", Operation{Kind: KindStop}, instance(), nodesIn(NodeIdle), 1, 0, []string{NodeIdle},
			runtimeFields{provisioning: "Succeeded", target: 1, state: "Stopping"}},
		{"restart an instance", Operation{Kind: KindRestart}, instance(), nodesIn(NodeIdle), 1, 0, []string{NodeIdle},
			runtimeFields{provisioning: "Succeeded", target: 1, state: "Restarting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.nodes)
			p := planOperation(tc.op, tc.s, tc.nodes)
			if p.target != tc.target || p.add != tc.add || !slices.Equal(statesOf(p.nodes), tc.states) {
				t.Fatalf("plan: target %d, add %d, nodes %v; want %d, %d, %v", p.target, p.add, statesOf(p.nodes), tc.target, tc.add, tc.states)
			}
			if !slices.EqualFunc(before, tc.nodes, func(a, b node) bool { return a.State == b.State }) {
				t.Fatal("planOperation changed its input")
			}
			during := p.during(tc.op, tc.s, p.nodes)
			tc.during.nodes = p.nodes
			if during.provisioning != tc.during.provisioning || during.target != tc.during.target || during.resizing != tc.during.resizing || during.state != tc.during.state {
				t.Fatalf("during: %+v, want %+v", during, tc.during)
			}
		})
	}
}

func TestActionFor(t *testing.T) {
	for _, tc := range []struct {
		kind, state string
		want        action
	}{
		{KindResize, NodeLeaving, remove},
		{KindResize, NodePreparing, boot},
		{KindResize, NodeUnusable, boot}, // the network may have been fixed
		{KindResize, NodeIdle, keep},
		{KindCreate, NodeIdle, boot}, // replayed after a crash
		{KindCreate, NodeStopped, keep},
		{KindStop, NodeIdle, stop},
		{KindStart, NodeStopped, start},
		{KindRestart, NodeIdle, start},
		{KindRestart, NodeUnusable, start},
	} {
		if got := actionFor(Operation{Kind: tc.kind}, node{State: tc.state}); got != tc.want {
			t.Errorf("%s of a %s node: %v, want %v", tc.kind, tc.state, got, tc.want)
		}
	}
}

func TestObserve(t *testing.T) {
	open := fabric.Flow{Name: "outbound TCP 443 to AzureMachineLearning", Predicted: true}
	closed := fabric.Flow{Name: "outbound UDP 5831 to AzureMachineLearning", Predicted: false}
	blocked := []Error{{Code: "required-outbound-blocked", Message: "UDP 5831 is denied by rule DenyUDP5831"}}
	n := node{NodeID: "tvm-0000", State: NodePreparing, Since: t0}
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		a      action
		r      result
		state  string
		codes  []string
		detail string // in the first error's message
	}{
		{"every flow passes", boot, result{probes: []fabric.Probe{{Flow: open, Passed: true}}}, NodeIdle, nil, ""},
		{"a flow the verifier blocks fails", boot, result{probes: []fabric.Probe{{Flow: open, Passed: true}, {Flow: closed}}},
			NodeUnusable, []string{"required-outbound-blocked"}, "DenyUDP5831"},
		{"the fabric blocks a flow the verifier allows", boot, result{probes: []fabric.Probe{{Flow: open, Detail: "timeout after 2 s"}}},
			NodeUnusable, []string{codeFlowFailed}, "timeout after 2 s"},
		{"the fabric allows a flow the verifier blocks", boot, result{probes: []fabric.Probe{{Flow: closed, Passed: true}}}, NodeIdle, nil, ""},
		{"boot fails", boot, result{err: errors.New("no capacity")}, NodeUnusable, []string{codeBootFailed}, "no capacity"},
		{"start fails", start, result{err: errors.New("disk gone")}, NodeUnusable, []string{codeStartFailed}, "disk gone"},
		{"the probe fails", boot, result{probeErr: errors.New("agent unreachable")}, NodeUnusable, []string{codeProbeFailed}, "agent unreachable"},
		{"stop", stop, result{}, NodeStopped, nil, ""},
		{"stop fails: unchanged", stop, result{err: errors.New("stuck")}, NodePreparing, nil, ""},
		{"remove fails: unchanged", remove, result{err: errors.New("stuck")}, NodePreparing, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := observe(n, tc.a, tc.r, blocked, now)
			var codes []string
			for _, e := range got.Errors {
				codes = append(codes, e.Code)
			}
			if got.State != tc.state || !slices.Equal(codes, tc.codes) {
				t.Fatalf("%s with %v errors, want %s with %v", got.State, codes, tc.state, tc.codes)
			}
			if tc.detail != "" && !strings.Contains(got.Errors[0].Message, tc.detail) {
				t.Fatalf("error %q lacks %q", got.Errors[0].Message, tc.detail)
			}
			if changed := got.State != n.State; changed != got.Since.Equal(now) {
				t.Fatalf("since %v after %s → %s", got.Since, n.State, got.State)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	unusable := func(n node) node {
		n.State, n.Errors = NodeUnusable, []Error{{Code: "required-outbound-blocked", Message: "UDP 5831 denied"}}
		return n
	}
	short := &Error{Code: "AllocationFailed", Message: "3 of 5"}
	type want struct {
		kept, gone   int
		provisioning string
		state        string
		codes        []string // the runtime errors
		err, hold    string   // codes
		release      bool
	}
	for _, tc := range []struct {
		name      string
		op        Operation
		s         spec
		nodes     []node // as observed
		acts      []action
		results   map[int]result
		shortfall *Error
		want      want
	}{
		{"grown", Operation{Kind: KindResize, Target: 2}, cluster(0, 4), nodesIn(NodeIdle, NodeIdle), []action{keep, boot}, nil, nil,
			want{kept: 2, provisioning: "Succeeded"}},
		{"a node brought up is unusable", Operation{Kind: KindResize, Target: 2}, cluster(0, 4),
			[]node{{NodeID: "tvm-0000", State: NodeIdle}, unusable(node{NodeID: "tvm-0001"})}, []action{keep, boot}, nil, nil,
			want{kept: 2, provisioning: "Succeeded", codes: []string{codeNodeUnusable}, err: codeNodeUnusable}},
		{"an old unusable node only reports", Operation{Kind: KindResize, Target: 3}, cluster(0, 4),
			[]node{unusable(node{NodeID: "tvm-0000"}), {NodeID: "tvm-0001", State: NodeIdle}}, []action{keep, boot}, nil, nil,
			want{kept: 2, provisioning: "Succeeded", codes: []string{codeNodeUnusable}}},
		{"the subnet was full", Operation{Kind: KindResize, Target: 5}, cluster(0, 5), nodesIn(NodeIdle, NodeIdle, NodeIdle), []action{boot, boot, boot}, nil, short,
			want{kept: 3, provisioning: "Succeeded", codes: []string{"AllocationFailed"}, err: "AllocationFailed"}},
		{"shrunk to zero: what Azure created goes", Operation{Kind: KindResize}, cluster(0, 4), nodesIn(NodeLeaving, NodeLeaving), []action{remove, remove}, nil, nil,
			want{gone: 2, provisioning: "Succeeded", release: true}},
		{"a removal failed: the operation waits", Operation{Kind: KindResize}, cluster(0, 4), nodesIn(NodeLeaving, NodeLeaving), []action{remove, remove},
			map[int]result{1: {err: errors.New("busy")}}, nil,
			want{kept: 1, gone: 1, provisioning: "Succeeded", codes: []string{codeRemoveFailed}, hold: codeRemoveFailed}},
		{"an instance fails to come up at create", Operation{Kind: KindCreate}, instance(), []node{unusable(node{NodeID: "tvm-0000"})}, []action{boot}, nil, nil,
			want{kept: 1, provisioning: "Failed", state: "Unusable", codes: []string{codeNodeUnusable}, err: codeNodeUnusable}},
		{"an instance fails to start", Operation{Kind: KindStart}, instance(), []node{unusable(node{NodeID: "tvm-0000"})}, []action{start}, nil, nil,
			want{kept: 1, provisioning: "Succeeded", state: "Unusable", codes: []string{codeNodeUnusable}, err: codeNodeUnusable}},
		{"an instance stops", Operation{Kind: KindStop}, instance(), nodesIn(NodeStopped), []action{stop}, nil, nil,
			want{kept: 1, provisioning: "Succeeded", state: "Stopped"}},
		{"an instance does not stop", Operation{Kind: KindStop}, instance(), nodesIn(NodeIdle), []action{stop}, map[int]result{0: {err: errors.New("stuck")}}, nil,
			want{kept: 1, provisioning: "Succeeded", state: "Running", codes: []string{codeStopFailed}, err: codeStopFailed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts, results := map[string]action{}, map[string]result{}
			for i, n := range tc.nodes {
				acts[n.NodeID], results[n.NodeID] = tc.acts[i], tc.results[i]
			}
			o := settle(tc.op, tc.s, planOperation(tc.op, tc.s, nil), tc.nodes, acts, results, tc.shortfall)
			var codes []string
			for _, e := range o.runtime.errors {
				codes = append(codes, e.Code)
			}
			code := func(e *Error) string {
				if e == nil {
					return ""
				}
				return e.Code
			}
			got := want{kept: len(o.kept), gone: len(o.gone), provisioning: o.runtime.provisioning, state: o.runtime.state, codes: codes,
				err: code(o.err), hold: code(o.hold), release: o.releaseCreated}
			if !slices.Equal(got.codes, tc.want.codes) || got.kept != tc.want.kept || got.gone != tc.want.gone || got.provisioning != tc.want.provisioning ||
				got.state != tc.want.state || got.err != tc.want.err || got.hold != tc.want.hold || got.release != tc.want.release {
				t.Fatalf("outcome %+v, want %+v", got, tc.want)
			}
			if tc.s.ComputeType == resources.ComputeAml && o.runtime.resizing != (o.hold != nil) {
				t.Fatalf("resizing %v with hold %v", o.runtime.resizing, o.hold)
			}
		})
	}
}

func TestFailedAndHeldRuntime(t *testing.T) {
	cause := &Error{Code: "QuotaExceeded", Message: "over"}
	nodes := nodesIn(NodeIdle)
	for _, tc := range []struct {
		op                  Operation
		s                   spec
		provisioning, state string
	}{
		{Operation{Kind: KindCreate}, instance(), "Failed", "CreateFailed"},
		{Operation{Kind: KindCreate}, cluster(0, 4), "Failed", ""},
		{Operation{Kind: KindResize}, cluster(0, 4), "Succeeded", ""}, // the compute exists; the operation failed
		{Operation{Kind: KindDelete}, cluster(0, 4), "Failed", ""},
	} {
		r := failed(tc.op, tc.s, nodes, cause)
		if r.provisioning != tc.provisioning || r.state != tc.state || len(r.errors) != 1 || r.errors[0].Code != "QuotaExceeded" || r.target != 1 {
			t.Errorf("%s of a %s: %+v", tc.op.Kind, tc.s.ComputeType, r)
		}
	}
	lock := &Error{Code: "ScopeLocked", Message: "locked"}
	o := outcome{runtime: runtimeFields{provisioning: "Succeeded", errors: []Error{{Code: codeNodeUnusable}}, target: 0}}
	if r := heldByRelease(o, lock); !r.resizing || len(r.errors) != 1 || r.errors[0].Code != "ScopeLocked" || r.provisioning != "Succeeded" {
		t.Fatalf("held by a lock: %+v", r)
	}
}

func TestRuntimeApply(t *testing.T) {
	body := arm.Body{"properties": arm.Body{"properties": arm.Body{"allocationState": "Steady"}}}
	r := runtimeFields{provisioning: "Succeeded", errors: []Error{{Code: "AllocationFailed", Message: "full"}}, nodes: nodesIn(NodeIdle, NodeUnusable, NodeLeaving), target: 3, resizing: true}
	r.apply(body, cluster(0, 4), t0)
	props := arm.Field(body, "properties")
	in := arm.Field(props, "properties")
	if props["provisioningState"] != "Succeeded" || props["createdOn"] != "2025-11-06T09:00:00Z" || in["allocationState"] != "Resizing" ||
		in["allocationStateTransitionTime"] != "2025-11-06T09:00:00Z" || in["targetNodeCount"] != 3 || in["currentNodeCount"] != 3 {
		t.Fatalf("applied: %v", props)
	}
	if c := in["nodeStateCounts"].(NodeStateCounts); c.Idle != 1 || c.Unusable != 1 || c.Leaving != 1 || len(in["errors"].([]any)) != 1 {
		t.Fatalf("counts %+v, errors %v", c, in["errors"])
	}
	// A second write keeps createdOn and the transition time of an unchanged state.
	r.apply(body, cluster(0, 4), t0.Add(time.Hour))
	if props["createdOn"] != "2025-11-06T09:00:00Z" || props["modifiedOn"] != "2025-11-06T10:00:00Z" || in["allocationStateTransitionTime"] != "2025-11-06T09:00:00Z" {
		t.Fatalf("second write: %v", props)
	}
}
