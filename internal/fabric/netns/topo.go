//go:build linux

package netns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/resources"
)

// Transit addresses of the link between a VNet's router and the cloud:
// 169.254.0.0/16 is link-local, and Azure refuses it in a VNet's address
// space, so it can never collide with a node's address.
var (
	cloudSide  = netip.MustParseAddr("169.254.0.1")
	routerSide = netip.MustParseAddr("169.254.0.2")
)

// routerUplink is the router's end of its link to the cloud.
const routerUplink = "st-uplink"

// router is a VNet: a namespace with a bridge per subnet that has nodes
// (the gateway at the subnet's first address) and a link to the cloud.
type router struct {
	ns      *namespace
	vnet    arm.ID
	index   int    // creation order: names its link in the cloud
	uplink  string // the link's name in the cloud namespace
	bridges map[string]*bridge
	// endpoints are the private endpoints of the VNet, by id key.
	endpoints map[string]*endpoint
	region    string // the VNet's location: the cloud serves its regional tags
	applied   string // text of the rules applied last
	// current is what the router was last brought up to date with.
	current appliedState
	tables  map[int]string     // kernel routing tables by id: the routes synced last
	peers   map[string]*router // the routers of peered VNets it is linked to, by VNet key
	wants   map[string]bool    // the peered VNets its own subnets' routes lead to, by VNet key
	routes  []netip.Prefix     // what the cloud routes to it (public addresses, service endpoint subnets)
	dns     vnetDNS
}

type bridge struct {
	name    string
	subnet  arm.ID
	gateway netip.Prefix
	table   int // the kernel routing table of traffic entering from it
}

// node is a node's namespace: eth0 with its address, a default route via
// its subnet's gateway, and the agent answering inside it.
type node struct {
	n      fabric.Node
	ns     *namespace
	router *router
	bridge *bridge
	veth   string       // the router's end of the node's link
	agent  net.Listener // the agent's port in the server, without agent processes
	// proc is the node's agent process (Config.Agent), while it runs.
	proc *agentProc
	// resolvConf is the server its resolv.conf names, once written: every
	// update of the VNet (each boot, each probe) then costs no file I/O.
	resolvConf netip.Addr
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(strings.ToLower(s)))
	return hex.EncodeToString(h[:5])
}

// router returns the VNet's router, creating it with its link to the
// cloud.
func (f *Fabric) router(vnet *resources.VirtualNetwork) (*router, error) {
	key := vnet.ID.Key()
	if r := f.routers[key]; r != nil {
		return r, nil
	}
	index := 0
	for _, r := range f.routers {
		index = max(index, r.index+1)
	}
	ns, err := createNamespace(f.prefix + "r-" + shortHash(key))
	if err != nil {
		return nil, err
	}
	r := &router{ns: ns, vnet: vnet.ID, region: strings.ToLower(vnet.Location), index: index, uplink: fmt.Sprintf("st-up%d", index),
		bridges: map[string]*bridge{}, endpoints: map[string]*endpoint{}, tables: map[int]string{},
		peers: map[string]*router{}}
	if err := f.wireRouter(r); err != nil {
		ns.close()
		return nil, errors.Join(fmt.Errorf("router of VNet %s: %w", vnet.ID.Name(), err), deleteNamespace(ns.name))
	}
	f.routers[key] = r
	f.generation++
	return r, nil
}

// wireRouter sets the router's sysctls and links it to the cloud.
func (f *Fabric) wireRouter(r *router) error {
	if err := r.ns.sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	// Traffic inside a subnet is routed back out of its bridge (Azure
	// routes it by the subnet's routes too): no redirect may tell a node
	// to go around the router.
	for _, key := range []string{"net.ipv4.conf.all.send_redirects", "net.ipv4.conf.default.send_redirects"} {
		if err := r.ns.sysctl(key, "0"); err != nil {
			return err
		}
	}
	cl := f.cloud.ns.nl
	if old, err := cl.LinkByName(r.uplink); err == nil {
		if err := cl.LinkDel(old); err != nil && !errors.Is(err, unix.ENODEV) { // a stale link of an earlier router (ENODEV: the kernel removed it meanwhile)
			return fmt.Errorf("remove stale link %s: %w", r.uplink, err)
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: r.uplink}, PeerName: routerUplink, PeerNamespace: netlink.NsFd(int(r.ns.fd))}
	if err := cl.LinkAdd(veth); err != nil {
		return fmt.Errorf("link %s to the cloud: %w", r.uplink, err)
	}
	if err := upWithAddress(cl, r.uplink, netip.PrefixFrom(cloudSide, 32)); err != nil {
		return err
	}
	if err := upWithAddress(r.ns.nl, routerUplink, netip.PrefixFrom(routerSide, 32)); err != nil {
		return err
	}
	up, err := r.ns.nl.LinkByName(routerUplink)
	if err != nil {
		return err
	}
	def := &netlink.Route{LinkIndex: up.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: cloudSide.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
	if err := r.ns.nl.RouteReplace(def); err != nil {
		return fmt.Errorf("default route of the router: %w", err)
	}
	return nil
}

// upWithAddress gives the link an address and brings it up.
func upWithAddress(h *netlink.Handle, name string, p netip.Prefix) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := h.AddrReplace(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// bridge returns the subnet's bridge, creating it with the gateway at the
// subnet's first address (Azure reserves the network address, the
// gateway, two DNS addresses and the broadcast address; the allocator
// never hands them to nodes).
func (r *router) bridge(sn *resources.Subnet) (*bridge, error) {
	key := sn.ID.Key()
	if b := r.bridges[key]; b != nil {
		return b, nil
	}
	p := sn.AddressPrefixes[0]
	b := &bridge{name: "st-br-" + shortHash(key)[:8], subnet: sn.ID, gateway: netip.PrefixFrom(p.Masked().Addr().Next(), p.Bits()),
		table: routeTableBase + len(r.bridges)}
	// A fixed address: a bridge otherwise takes its lowest port's, and
	// the nodes' neighbour entries for the gateway would go stale.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.name, HardwareAddr: bridgeMAC(key)}}
	if err := r.ns.nl.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("bridge of subnet %s: %w", sn.ID.Leaf(), err)
	}
	if err := upWithAddress(r.ns.nl, b.name, b.gateway); err != nil {
		return nil, err
	}
	// NSGs filter traffic inside a subnet too: bridged packets must pass
	// the router's forward hook (br_netfilter), which is per namespace.
	if err := r.ns.sysctl("net.bridge.bridge-nf-call-iptables", "1"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the kernel has no bridge netfilter (br_netfilter): NSGs could not filter traffic inside subnet %s; load the module (modprobe br_netfilter): %w", sn.ID.Leaf(), err)
		}
		return nil, err
	}
	// Traffic from the subnet is routed by the subnet's own table.
	rule := netlink.NewRule()
	rule.IifName, rule.Table, rule.Priority = b.name, b.table, b.table
	if err := r.ns.nl.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("routing rule of subnet %s: %w", sn.ID.Leaf(), err)
	}
	r.bridges[key] = b
	return b, nil
}

// bridgeMAC is a subnet bridge's hardware address: locally administered,
// from the subnet's key.
func bridgeMAC(key string) net.HardwareAddr {
	h := sha256.Sum256([]byte("bridge " + strings.ToLower(key)))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// node returns the node's namespace, creating it: a veth from the subnet's
// bridge, eth0 with the node's address, the default route via the
// gateway, the agent listening.
func (f *Fabric) node(n fabric.Node, r *router, b *bridge) (*node, error) {
	key := nodeKey(n)
	if nd := f.nodes[key]; nd != nil {
		if nd.bridge != b || nd.n.PrivateIP != n.PrivateIP {
			return nil, fmt.Errorf("node %s already runs in another subnet or with another address (%s)", n.Name, nd.n.PrivateIP)
		}
		return nd, f.setRunning(nd, true)
	}
	ns, err := createNamespace(f.nodeNamespace(n))
	if err != nil {
		return nil, err
	}
	nd := &node{n: n, ns: ns, router: r, bridge: b, veth: "st-v-" + shortHash(key)[:9]}
	if err := f.wire(nd); err != nil {
		ns.close()
		return nil, errors.Join(fmt.Errorf("node %s: %w", n.Name, err), deleteNamespace(ns.name))
	}
	f.nodes[key] = nd
	f.generation++
	return nd, nil
}

func (f *Fabric) wire(nd *node) error {
	if err := plug(nd.router, nd.bridge, nd.ns, nd.veth, []netip.Addr{nd.n.PrivateIP}); err != nil {
		return err
	}
	return f.setRunning(nd, true)
}

// plug links namespace ns into bridge b of router r through a veth pair
// (veth the router's end, eth0 the namespace's, up on both sides), gives
// eth0 the addresses as /32s and a default route via the gateway: with no
// subnet on the link, even traffic to the same subnet goes through the
// router, where the subnet's routes and NSGs apply to it as in Azure.
func plug(r *router, b *bridge, ns *namespace, veth string, addrs []netip.Addr) error {
	rnl := r.ns.nl
	if old, err := rnl.LinkByName(veth); err == nil {
		if err := rnl.LinkDel(old); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("remove stale link %s: %w", veth, err)
		}
	}
	br, err := rnl.LinkByName(b.name)
	if err != nil {
		return err
	}
	link := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: veth, MasterIndex: br.Attrs().Index}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns.fd))}
	if err := rnl.LinkAdd(link); err != nil {
		return fmt.Errorf("link into bridge %s: %w", b.name, err)
	}
	eth0, err := ns.nl.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, a := range addrs {
		p := netip.PrefixFrom(a, 32)
		if err := ns.nl.AddrReplace(eth0, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
			return fmt.Errorf("address %s on eth0: %w", p, err)
		}
	}
	if err := ns.nl.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("bring eth0 up: %w", err)
	}
	def := &netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: b.gateway.Addr().AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
	if err := ns.nl.RouteReplace(def); err != nil {
		return fmt.Errorf("default route via %s: %w", b.gateway.Addr(), err)
	}
	// Both neighbours known from the start: the node's first packets do
	// not wait for ARP, and no lost ARP request delays them a second.
	gw := &netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: b.gateway.Addr().AsSlice(), HardwareAddr: br.Attrs().HardwareAddr}
	if err := ns.nl.NeighSet(gw); err != nil {
		return fmt.Errorf("neighbour %s: %w", b.gateway.Addr(), err)
	}
	for _, a := range addrs {
		n := &netlink.Neigh{LinkIndex: br.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: a.AsSlice(), HardwareAddr: eth0.Attrs().HardwareAddr}
		if err := rnl.NeighSet(n); err != nil {
			return fmt.Errorf("neighbour %s on bridge %s: %w", a, b.name, err)
		}
	}
	if err := rnl.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %s up: %w", veth, err)
	}
	return nil
}

// setRunning brings the node's link and agent up or down.
func (f *Fabric) setRunning(nd *node, running bool) error {
	l, err := nd.router.ns.nl.LinkByName(nd.veth)
	if err != nil {
		return fmt.Errorf("node %s: link %s: %w", nd.n.Name, nd.veth, err)
	}
	if !running {
		nd.stopAgent()
		if err := nd.router.ns.nl.LinkSetDown(l); err != nil {
			return fmt.Errorf("node %s: stop: %w", nd.n.Name, err)
		}
		return nil
	}
	if err := nd.router.ns.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("node %s: start: %w", nd.n.Name, err)
	}
	if f.cfg.Agent != nil {
		if nd.proc == nil {
			nd.proc = f.startAgent(nd)
		}
		return nil
	}
	if nd.agent == nil {
		ln, err := listenIn(nd.ns, "tcp4", fmt.Sprintf(":%d", agentPort))
		if err != nil {
			return fmt.Errorf("node %s: agent on port %d: %w", nd.n.Name, agentPort, err)
		}
		nd.agent = ln
		go serveAgent(ln, nd.n.Compute+"/"+nd.n.Name)
	}
	return nil
}

func (nd *node) stopAgent() {
	if nd.agent != nil {
		nd.agent.Close()
		nd.agent = nil
	}
	if nd.proc != nil {
		nd.proc.stop()
		nd.proc = nil
	}
}

// removeRouter deletes a VNet's router (with its links: the cloud's end
// of its uplink goes with the veth pair).
func (f *Fabric) removeRouter(r *router) error {
	var errs []error
	for key := range r.endpoints {
		errs = append(errs, r.removeEndpoint(key))
	}
	errs = append(errs, f.removeFirewalls(r))
	for _, p := range r.peers {
		// The link goes with the namespace; so do the routes over it.
		delete(p.peers, r.vnet.Key())
		clear(p.tables)
	}
	errs = append(errs, r.stopDNS())
	r.ns.close()
	delete(f.routers, r.vnet.Key())
	f.generation++
	return errors.Join(append(errs, deleteNamespace(r.ns.name))...)
}
