package netns

import (
	"context"
	"log/slog"
	"time"

	"securetrain/internal/netverify"
	"securetrain/internal/sandbox"
)

// NamePrefix starts the name of every namespace a netns fabric creates.
const NamePrefix = "securetrain-"

// Config is what a netns fabric works with.
type Config struct {
	// Instance names this fabric's namespaces ("securetrain-INSTANCE-…"),
	// so that two servers or tests on one host never touch each other's
	// objects. Lower-case letters and digits, at most 16; "" is "main".
	Instance string
	// Network compiles a subscription's resources for the verifier: the
	// fabric realises the network it describes.
	Network func(ctx context.Context, subscription string) (*netverify.Network, error)
	// ProbeTimeout bounds one probe of a flow; 0 is 2 s.
	ProbeTimeout time.Duration
	// Log receives what the fabric does; nil discards it.
	Log *slog.Logger
	// Agent, when set, sends each node's outbound flows from a node agent
	// process (agent.go); nil sends them from the server's own threads.
	Agent *Agent
}

// Agent says how the fabric starts node agents.
type Agent struct {
	// Args follow the server's own binary (/proc/self/exe): "agent".
	Args []string
	// Env is the agent's whole environment (nothing is inherited).
	Env []string
	// UID is the user (and group) the agent runs as; 0 is AgentUID.
	UID int
}

// AgentUID is the default user of node agents: nobody, shared by every
// node's agent; jobs run as users of their own.
const AgentUID = sandbox.Nobody

// Namespace is what `securetrain fabric status` shows of one namespace.
type Namespace struct {
	Name  string
	Links []string // "name address/bits …"
	// Rules counts the rules of the fabric's nftables table in it.
	Rules int
}
