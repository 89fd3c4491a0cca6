package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// spec is a compute as provisioning reads it: the typed compute, and what
// its size and scale settings mean here.
type spec struct {
	*resources.Compute
	Cores       int
	Family      string
	Min, Max    int
	IdleTimeout time.Duration
}

// readSpec decodes a stored compute.
func readSpec(body []byte) (spec, error) {
	snap, err := resources.DecodeStored(body)
	if err != nil {
		return spec{}, err
	}
	if len(snap.Computes) != 1 {
		return spec{}, errors.New("the record is not one compute")
	}
	s := spec{Compute: snap.Computes[0], Min: 1, Max: 1}
	size, err := SizeOf(s.VMSize)
	if err != nil {
		return s, err
	}
	s.Cores, s.Family = size.Cores, size.Family
	switch s.ComputeType {
	case resources.ComputeAml:
		s.Min, s.Max = s.MinNodeCount, s.MaxNodeCount
		s.IdleTimeout = 120 * time.Second
		if d := s.NodeIdleTimeBeforeScaleDown; d != "" {
			if s.IdleTimeout, err = ParseDuration(d); err != nil {
				return s, &Error{Code: "BadRequest", Message: fmt.Sprintf("scaleSettings.nodeIdleTimeBeforeScaleDown %q: %v", d, err)}
			}
		}
	case resources.ComputeInstance:
	default:
		return s, &Error{Code: "BadRequest", Message: fmt.Sprintf("compute type %q is not provisioned (attached computes exist elsewhere)", s.ComputeType)}
	}
	return s, nil
}

// ParseDuration reads an ISO 8601 duration of days, hours, minutes and
// seconds (PT120S, PT2M, P1DT1H).
func ParseDuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "P")
	if !ok || rest == "" {
		return 0, errors.New("not an ISO 8601 duration (PT120S)")
	}
	var d time.Duration
	inTime := false
	num := ""
	for _, r := range rest {
		switch {
		case r == 'T':
			inTime = true
		case r >= '0' && r <= '9' || r == '.':
			num += string(r)
		default:
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || num == "" {
				return 0, errors.New("not an ISO 8601 duration (PT120S)")
			}
			unit := map[rune]time.Duration{'D': 24 * time.Hour, 'H': time.Hour, 'M': time.Minute, 'S': time.Second}[r]
			if r == 'M' && !inTime || unit == 0 {
				return 0, fmt.Errorf("unsupported unit %q (days, hours, minutes, seconds)", r)
			}
			d += time.Duration(f * float64(unit))
			num = ""
		}
	}
	if num != "" {
		return 0, errors.New("a number without a unit")
	}
	if strings.HasSuffix(rest, "T") {
		return 0, errors.New("no time after T")
	}
	return d, nil
}

// node is a node record: one machine of a compute.
type node struct {
	NodeID    string    `json:"nodeId"`
	PrivateIP string    `json:"privateIpAddress"`
	PublicIP  string    `json:"publicIpAddress,omitempty"`
	Port      int       `json:"port,omitempty"`
	State     string    `json:"nodeState"` // preparing, idle, running, unusable, leaving, stopped
	Subnet    string    `json:"subnet"`
	Location  string    `json:"location"`
	Family    string    `json:"family"`
	Cores     int       `json:"cores"`
	Since     time.Time `json:"since"` // when it entered its state
	Errors    []Error   `json:"errors,omitempty"`
}

// Node states (Azure's nodeState values, plus stopped for instances).
const (
	NodePreparing = "preparing"
	NodeIdle      = "idle"
	NodeRunning   = "running"
	NodeUnusable  = "unusable"
	NodeLeaving   = "leaving"
	NodeStopped   = "stopped"
)

const nodeType = "securetrain/nodes"

func nodeID(compute arm.ID, name string) string { return compute.String() + "/nodes/" + name }

// nodesOf reads a compute's nodes, in name order.
func nodesOf(ctx context.Context, rd store.Reader, compute arm.ID) ([]node, error) {
	var out []node
	err := store.Each(ctx, rd, store.Query{Scope: compute.String() + "/nodes", Type: nodeType}, func(rec store.Record) error {
		var n node
		if err := json.Unmarshal(rec.Body, &n); err != nil {
			return fmt.Errorf("stored node %s: %w", rec.ID, err)
		}
		out = append(out, n)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, err
}

func putNode(ctx context.Context, tx store.Tx, compute arm.ID, n node) error {
	return putJSON(ctx, tx, nodeID(compute, n.NodeID), nodeType, n)
}

// nextNodeNames are count names not yet used in the compute.
func nextNodeNames(nodes []node, count int) []string {
	used := map[string]bool{}
	for _, n := range nodes {
		used[n.NodeID] = true
	}
	var out []string
	for i := 0; len(out) < count; i++ {
		name := fmt.Sprintf("tvm-%04d", i)
		if !used[name] {
			out = append(out, name)
		}
	}
	return out
}

// NodeStateCounts are Azure's nodeStateCounts.
type NodeStateCounts struct {
	Idle      int `json:"idleNodeCount"`
	Running   int `json:"runningNodeCount"`
	Preparing int `json:"preparingNodeCount"`
	Unusable  int `json:"unusableNodeCount"`
	Leaving   int `json:"leavingNodeCount"`
	Preempted int `json:"preemptedNodeCount"`
}

func counts(nodes []node) NodeStateCounts {
	var c NodeStateCounts
	for _, n := range nodes {
		switch n.State {
		case NodeIdle, NodeStopped:
			c.Idle++
		case NodeRunning:
			c.Running++
		case NodePreparing:
			c.Preparing++
		case NodeUnusable:
			c.Unusable++
		case NodeLeaving:
			c.Leaving++
		}
	}
	return c
}

// setAllocation sets a cluster's allocation state and target, stamping
// the transition when the state changes.
func setAllocation(in arm.Body, state string, target int, now string) {
	if in["allocationState"] != state {
		in["allocationStateTransitionTime"] = now
	}
	in["allocationState"] = state
	in["targetNodeCount"] = target
}

// MarkResizing shows a cluster's resize from the moment it is accepted
// (at now): allocationState Resizing toward target, before the worker
// takes it up.
func MarkResizing(body arm.Body, target int, now time.Time) {
	in := arm.EnsureField(arm.EnsureField(body, "properties"), "properties")
	setAllocation(in, "Resizing", target, now.UTC().Format(time.RFC3339Nano))
}

// NodeInfo is a node as Azure's listNodes shows it.
type NodeInfo struct {
	NodeID    string `json:"nodeId"`
	PrivateIP string `json:"privateIpAddress,omitempty"`
	PublicIP  string `json:"publicIpAddress,omitempty"`
	Port      int    `json:"port,omitempty"`
	NodeState string `json:"nodeState"`
	// Errors say why a node is unusable (securetrain's addition).
	Errors []Error `json:"errors,omitempty"`
}

// Nodes lists a compute's nodes.
func Nodes(ctx context.Context, rd store.Reader, compute arm.ID) ([]NodeInfo, error) {
	nodes, err := nodesOf(ctx, rd, compute)
	out := make([]NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = NodeInfo{NodeID: n.NodeID, PrivateIP: n.PrivateIP, PublicIP: n.PublicIP, Port: n.Port, NodeState: n.State, Errors: n.Errors}
	}
	return out, err
}
