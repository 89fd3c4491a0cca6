//go:build linux

// Package netns is the fabric of real packets: every node is a Linux
// network namespace wired into its subnet's bridge, every VNet a router
// namespace whose nftables rules are the NSGs the verifier compiled, and
// the Azure services a node needs answer from an emulated cloud namespace
// on addresses inside their service tags. A node's flows are probed by
// sending them. Nothing is ever attached to the host's own namespace:
// every object lives in a namespace the fabric created, named with its
// prefix, and removed by that exact name.
package netns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// Fabric realises nodes as network namespaces. Its methods are safe for
// concurrent use.
type Fabric struct {
	cfg    Config
	prefix string // NamePrefix + instance + "-"

	mu      sync.Mutex
	cloud   *cloud
	routers map[string]*router // by VNet key
	nodes   map[string]*node   // by nodeKey
	// generation counts the changes of the fabric's routers, nodes and
	// rules: with the network, what a router's update depends on.
	generation uint64
	// firewalls are the Azure Firewalls realised, by id key.
	firewalls map[string]*firewall
	probes    chan struct{} // bounds the probes in flight
	// applying are the routers being brought up to date (peers apply
	// each other).
	applying map[*router]bool
	// agentStarted, when set (tests), is told each node agent's process
	// id before the fabric waits for it.
	agentStarted func(pid int)
}

var instanceName = lazyregexp.New(`^[a-z0-9]{1,16}$`)

// Supported says why the netns fabric cannot run here, or nil when it
// can: it needs Linux and CAP_NET_ADMIN.
func Supported() error {
	return checkCapability()
}

// New starts a netns fabric: it removes what an earlier run of the same
// instance left (a kill -9 leaves namespaces behind) and creates the
// emulated cloud.
func New(cfg Config) (*Fabric, error) {
	if cfg.Instance == "" {
		cfg.Instance = "main"
	}
	if !instanceName.MatchString(cfg.Instance) {
		return nil, fmt.Errorf("fabric instance %q: use 1 to 16 lower-case letters and digits", cfg.Instance)
	}
	if cfg.Network == nil {
		return nil, errors.New("the netns fabric needs the network model (Config.Network)")
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := Supported(); err != nil {
		return nil, err
	}
	f := &Fabric{cfg: cfg, prefix: NamePrefix + cfg.Instance + "-", routers: map[string]*router{}, nodes: map[string]*node{},
		firewalls: map[string]*firewall{}, probes: make(chan struct{}, 64), applying: map[*router]bool{}}
	removed, err := Cleanup(f.prefix)
	if err != nil {
		return nil, err
	}
	if len(removed) > 0 {
		cfg.Log.Info("netns fabric: removed what an earlier run left", "namespaces", len(removed))
	}
	if f.cloud, err = newCloud(f.prefix + "cloud"); err != nil {
		_, cerr := Cleanup(f.prefix)
		return nil, errors.Join(err, cerr)
	}
	return f, nil
}

// Prefix is the name prefix of this fabric's namespaces.
func (f *Fabric) Prefix() string { return f.prefix }

// Close removes everything the fabric created.
func (f *Fabric) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, nd := range f.nodes {
		nd.stopAgent()
		nd.ns.close()
	}
	var errs []error
	for key := range f.firewalls {
		errs = append(errs, f.removeFirewall(key))
	}
	for _, r := range f.routers {
		for _, ep := range r.endpoints {
			ep.close()
		}
		errs = append(errs, r.stopDNS())
		r.ns.close()
	}
	f.cloud.close()
	f.nodes, f.routers = map[string]*node{}, map[string]*router{}
	_, err := Cleanup(f.prefix)
	return errors.Join(append(errs, err)...)
}

// Cleanup removes every namespace whose name starts with prefix (a
// fabric's, or NamePrefix for all of securetrain's) and returns their
// names. Links, bridges and nftables tables live inside those namespaces
// and go with them.
func Cleanup(prefix string) ([]string, error) {
	if !strings.HasPrefix(prefix, NamePrefix) {
		return nil, fmt.Errorf("cleanup prefix %q must start with %q: the fabric removes only its own namespaces", prefix, NamePrefix)
	}
	names, err := namespacesWithPrefix(prefix)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, deleteNamespace(name))
	}
	errs = append(errs, removeNetnsEtc(prefix)) // left by a namespace removed by hand
	return names, errors.Join(errs...)
}

func nodeKey(n fabric.Node) string { return strings.ToLower(n.Compute + "/nodes/" + n.Name) }

// network compiles the node's subscription and finds its subnet and VNet.
func (f *Fabric) network(ctx context.Context, n fabric.Node) (*netverify.Network, *resources.Subnet, *resources.VirtualNetwork, error) {
	compute, err := arm.ParseID(n.Compute, "")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("node %s: compute id: %w", n.Name, err)
	}
	if n.Subnet == "" || !n.PrivateIP.Is4() {
		return nil, nil, nil, fmt.Errorf("node %s of %s has no IPv4 address in a virtual network subnet: the netns fabric realises only computes in a subnet", n.Name, compute.Leaf())
	}
	subnetID, err := arm.ParseID(n.Subnet, compute.Subscription)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("node %s: subnet id: %w", n.Name, err)
	}
	nw, err := f.cfg.Network(ctx, compute.Subscription)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("node %s: network of subscription %s: %w", n.Name, compute.Subscription, err)
	}
	sn := nw.Snapshot().Subnet(subnetID)
	if sn == nil {
		return nil, nil, nil, fmt.Errorf("node %s: subnet %s is not in the network", n.Name, subnetID.Leaf())
	}
	vnet := nw.Snapshot().VNetOf(sn)
	if vnet == nil || len(sn.AddressPrefixes) == 0 || !sn.AddressPrefixes[0].Contains(n.PrivateIP) {
		return nil, nil, nil, fmt.Errorf("node %s: address %s is not in subnet %s", n.Name, n.PrivateIP, subnetID.Leaf())
	}
	return nw, sn, vnet, nil
}

// Boot creates the node's namespace in its subnet (or finds it created)
// and applies the network's current rules to its VNet.
func (f *Fabric) Boot(ctx context.Context, n fabric.Node) error {
	nw, sn, vnet, err := f.network(ctx, n)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.router(vnet)
	if err != nil {
		return err
	}
	br, err := r.bridge(sn)
	if err != nil {
		return err
	}
	if _, err := f.node(n, r, br); err != nil {
		return err
	}
	return f.update(nw, r)
}

// update brings a router (and its peers) up to date and removes the
// routers nothing needs any more. f.mu is held.
func (f *Fabric) update(nw *netverify.Network, r *router) error {
	return errors.Join(f.apply(nw, r), f.prune())
}

// Start runs a stopped node again: its link up, its agent listening.
func (f *Fabric) Start(ctx context.Context, n fabric.Node) error {
	f.mu.Lock()
	nd := f.nodes[nodeKey(n)]
	if nd == nil {
		f.mu.Unlock()
		return f.Boot(ctx, n) // lost with a restart of the server: boot it anew
	}
	defer f.mu.Unlock()
	return f.setRunning(nd, true)
}

// Stop halts the node: its link goes down and its agent stops answering;
// the namespace and its address stay.
func (f *Fabric) Stop(_ context.Context, n fabric.Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	nd := f.nodes[nodeKey(n)]
	if nd == nil {
		return nil // nothing runs
	}
	return f.setRunning(nd, false)
}

// Remove deletes the node's namespace; its VNet's router goes with its
// last node.
func (f *Fabric) Remove(ctx context.Context, n fabric.Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := nodeKey(n)
	nd := f.nodes[key]
	if nd == nil {
		return deleteNamespace(f.nodeNamespace(n)) // a previous run's, if any
	}
	nd.stopAgent()
	nd.ns.close()
	delete(f.nodes, key)
	f.generation++
	if err := deleteNamespace(nd.ns.name); err != nil {
		return err
	}
	r := nd.router
	for _, other := range f.nodes {
		if other.router == r {
			nw, err := f.cfg.Network(ctx, subscriptionOf(n))
			if err != nil {
				return fmt.Errorf("node %s removed; its VNet's rules: %w", n.Name, err)
			}
			return f.update(nw, r)
		}
	}
	return errors.Join(f.removeRouter(r), f.prune())
}

func subscriptionOf(n fabric.Node) string {
	id, _ := arm.ParseID(n.Compute, "")
	return id.Subscription
}

// Probe sends each flow for real and reports what happened. The VNet's
// rules are brought up to date first: the network may have changed since
// the node booted.
func (f *Fabric) Probe(ctx context.Context, n fabric.Node, flows []fabric.Flow) ([]fabric.Probe, error) {
	nw, _, _, err := f.network(ctx, n)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	nd := f.nodes[nodeKey(n)]
	if nd == nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("node %s is not booted on the netns fabric", n.Name)
	}
	err = f.update(nw, nd.router)
	proc := nd.proc
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if f.cfg.Agent != nil {
		if proc == nil {
			return nil, fmt.Errorf("node %s is stopped: its agent does not run", n.Name)
		}
		placed := make([]fabric.Flow, len(flows))
		for i, fl := range flows {
			placed[i] = fl.At(n)
		}
		return f.probeByAgent(ctx, nd, proc, placed)
	}
	out := make([]fabric.Probe, len(flows))
	var wg sync.WaitGroup
	for i, fl := range flows {
		wg.Go(func() {
			f.probes <- struct{}{}
			defer func() { <-f.probes }()
			out[i] = f.probe(ctx, nd, fl.At(n))
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

// nodeNamespace is the namespace name of a node.
func (f *Fabric) nodeNamespace(n fabric.Node) string { return f.prefix + "n-" + shortHash(nodeKey(n)) }

// dialTimeout is the probe's budget for one connection or answer.
func (f *Fabric) dialTimeout() time.Duration { return f.cfg.ProbeTimeout }

var _ fabric.Fabric = (*Fabric)(nil)

// listenIn opens a listener inside a namespace: the socket belongs to the
// namespace it was created in and is then served from any goroutine.
func listenIn(ns *namespace, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := inNamespace(ns.fd, func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// addrPort joins an address and a port.
func addrPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }
