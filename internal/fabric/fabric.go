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
	"time"
)

// Node is one machine of a compute.
type Node struct {
	Compute   string // the compute's ARM id
	Name      string // tvm-0001, unique in the compute
	Subnet    string // the subnet's ARM id
	PrivateIP netip.Addr
	PublicIP  netip.Addr // invalid without public IP
}

// Flow is one flow a compute's nodes need (the required flows of
// `securetrain check`): a packet a probe can send, what its remote end
// stands for, and the verifier's prediction.
type Flow struct {
	// Name describes it: "outbound UDP 5831 to AzureMachineLearning".
	Name string
	// Inbound: the flow arrives at the node (Remote is its source); else
	// it leaves the node (Remote is its destination).
	Inbound bool
	// Protocol is TCP, UDP or ICMP.
	Protocol string
	// Source and Destination are the packet's addresses, the node's own
	// being one address of the compute's: At puts a node's in its place.
	// When the verifier predicts a block they are in the blocked part.
	Source, Destination netip.Addr
	// SourcePort and DestinationPort are the packet's ports (TCP, UDP).
	SourcePort, DestinationPort uint16
	// Remote is what the remote end stands for: a service tag
	// ("Storage.WestUS2"), a DNS name or an address prefix.
	Remote string
	// DNSName is the name an outbound flow goes to (Remote, when it is a
	// DNS name): a fabric of packets resolves it from the node and sends
	// the flow to its answer; Destination is the verifier's.
	DNSName string
	// Predicted is the verifier's verdict: the flow passes.
	Predicted bool
	// Blocker explains a predicted block: the deciding rule or route and
	// the fix.
	Blocker string
}

// At is the flow as node n sends (or, inbound, receives) it.
func (f Flow) At(n Node) Flow {
	if f.Inbound {
		f.Destination = n.PrivateIP
	} else {
		f.Source = n.PrivateIP
	}
	return f
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
	// Probe tests the node's flows (the compute's: Flow.At places each at
	// the node).
	Probe(ctx context.Context, n Node, flows []Flow) ([]Probe, error)
	// Stop halts the machine, keeping its address and disk.
	Stop(ctx context.Context, n Node) error
	// Start runs a stopped machine again.
	Start(ctx context.Context, n Node) error
	// Remove deletes the machine; removing a missing one succeeds.
	Remove(ctx context.Context, n Node) error
}

// Host is a fabric whose nodes have a network of their own for
// processes (the netns fabric): Enter runs start on a thread inside node
// n's network namespace, so that a process start starts lives there and
// its traffic meets the node's NSGs, routes and services, and resolves
// names through the node's DNS server (its resolv.conf). The thread
// ends afterwards: start must not ask for a parent-death signal. The sim
// fabric is not one: its jobs' processes share the server's network.
//
// Refused lists the connections from node n, since the time given, that
// a firewall on its way refused by name (an Azure Firewall's application
// rules), oldest first: what the node's processes asked for and did not
// get, as the firewall saw it.
type Host interface {
	Enter(n Node, start func() error) error
	Refused(n Node, since time.Time) []Refusal
}

// Refusal is one connection a firewall refused.
type Refusal struct {
	Source      netip.Addr
	Destination netip.AddrPort
	// Name is the TLS server name or HTTP Host the client sent ("" when
	// it sent none).
	Name string
	At   time.Time
}
