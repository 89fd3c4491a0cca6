// Package fabric realises the nodes of computes. The provisioner decides
// what should exist (which nodes, which addresses) and records it in the
// store; a Fabric makes it so and says whether a node can do its work: it
// probes the flows the node needs. The sim fabric answers probes from the
// verifier's prediction; a netns fabric (namespaces, veths, real packets)
// will measure them, behind the same interface.
package fabric

import (
	"context"
	"net/netip"
)

// Node is one machine of a compute.
type Node struct {
	Compute   string // the compute's ARM id
	Name      string // tvm-0001, unique in the compute
	Subnet    string // the subnet's ARM id
	PrivateIP netip.Addr
	PublicIP  netip.Addr // invalid without public IP
}

// Flow is one flow a node needs (the required flows of `securetrain
// check`), with the verifier's prediction.
type Flow struct {
	// Name describes it: "outbound UDP 5831 to AzureMachineLearning".
	Name string
	// Predicted is the verifier's verdict: the flow passes.
	Predicted bool
	// Blocker explains a predicted block: the deciding rule or route and
	// the fix.
	Blocker string
}

// Probe is a flow's outcome as the fabric observed it.
type Probe struct {
	Flow   Flow
	Passed bool
	// Detail says what was seen ("answered by the verifier", "timeout
	// after 2 s").
	Detail string
}

// Fabric brings nodes up and down and probes their flows. Every method is
// idempotent: the provisioner replays steps after a restart.
type Fabric interface {
	// Boot creates the node's machine (or finds it created).
	Boot(ctx context.Context, n Node) error
	// Probe tests the node's flows.
	Probe(ctx context.Context, n Node, flows []Flow) ([]Probe, error)
	// Stop halts the machine, keeping its address and disk.
	Stop(ctx context.Context, n Node) error
	// Start runs a stopped machine again.
	Start(ctx context.Context, n Node) error
	// Remove deletes the machine; removing a missing one succeeds.
	Remove(ctx context.Context, n Node) error
}
