//go:build linux

package netns

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// defaultOutbound stands for the address Azure's default outbound access
// presents (an Azure-owned address the customer does not control): one
// per VNet, from TEST-NET-1.
func defaultOutbound(r *router) netip.Addr {
	return netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + r.index%250)})
}

// frontendPort is the load balancer's frontend port that reaches node
// name's TCP 44224 (an inbound NAT pool, as Azure Batch sets up for its
// nodes): 40000 + the node's number.
func frontendPort(name string) uint16 {
	var i int
	fmt.Sscanf(strings.TrimPrefix(name, "tvm-"), "%d", &i)
	return uint16(40000 + i%20000)
}

// way is how a compute's traffic leaves for the internet, as the
// verifier decides it (NAT gateway, the compute's public IP or load
// balancer, default outbound access): ok false when it has none; addr
// the address it leaves by when the verifier names one, else invalid —
// public then says it is each node's own public IP, else it is default
// outbound access.
type way struct {
	addr       netip.Addr
	ok, public bool
}

func egress(nw *netverify.Network, compute arm.ID) (addr netip.Addr, ok, public bool, err error) {
	res, err := nw.Flow(netverify.Query{From: netverify.ResourceEndpoint(compute), To: netverify.PrefixEndpoint(netip.MustParsePrefix("0.0.0.0/0")),
		Protocol: netverify.AnyProtocol, Port: 443, Direction: netverify.DirectionOutbound})
	if err != nil {
		return netip.Addr{}, false, false, err
	}
	for _, o := range res.Outcomes {
		if throughFirewall(o) {
			continue // the firewall leaves by its own address, not the router's
		}
		for _, h := range o.Hops {
			if h.Kind != netverify.HopSNAT {
				continue
			}
			switch first, _, _ := strings.Cut(h.SNAT, ","); {
			case h.SNAT == "":
				return netip.Addr{}, false, false, nil // no way out (a private subnet)
			case h.SNAT == netverify.SNATDefaultOutbound:
				return netip.Addr{}, true, false, nil
			default:
				if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
					return a, true, false, nil
				}
				return netip.Addr{}, true, true, nil
			}
		}
	}
	return netip.Addr{}, false, false, nil
}

// apply brings the router's nftables table and the cloud's routes to
// what the network says for the nodes it holds. The table is replaced in
// one transaction (atomic: a packet sees the old rules or the new;
// established connections keep flowing, their conntrack state is not in
// the table). f.mu is held.
func (f *Fabric) apply(nw *netverify.Network, r *router) error {
	if f.applying[r] {
		return nil // a peer being applied applies this one back
	}
	// Nothing to do when neither the network (the server's compiled
	// network is the same value until something in it changes) nor the
	// fabric (f.generation) changed since the last success began: each node's
	// probe updates its VNet, and rebuilding the rules of 100 nodes 100
	// times, one probe after another under f.mu, took seconds.
	now := appliedState{nw: nw, generation: f.generation}
	if r.current == now {
		return nil
	}
	f.applying[r] = true
	defer delete(f.applying, r)
	// Sorted by the map's keys (nodeKey): computing the keys in the
	// comparisons made this sort a visible part of every update.
	var keys []string
	for key, nd := range f.nodes {
		if nd.router == r {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	nodes := make([]*node, len(keys))
	for i, key := range keys {
		nodes[i] = f.nodes[key]
	}
	if err := f.syncEndpoints(nw, r); err != nil {
		return err
	}
	if err := f.syncDNS(nw, r); err != nil {
		return err
	}
	if err := f.syncFirewalls(nw, r); err != nil {
		return err
	}
	if err := f.syncRoutes(nw, r); err != nil {
		return err
	}
	rs, back, err := f.build(nw, r, nodes)
	if err != nil {
		return err
	}
	if err := f.serveCloud(nw, r, f.cloudRoutes(r, back)); err != nil {
		return err
	}
	text := rs.text.String()
	if text == r.applied {
		r.current = now
		return nil
	}
	start := time.Now()
	if err := program(r.ns, rs); err != nil {
		return fmt.Errorf("rules of VNet %s: %w", r.vnet.Name(), err)
	}
	r.applied, r.current = text, now
	f.generation++
	f.cfg.Log.Debug("netns fabric: rules applied", "vnet", r.vnet.Name(), "rules", rs.count(), "ms", float64(time.Since(start).Microseconds())/1000)
	return nil
}

// appliedState is what a router's update depended on.
type appliedState struct {
	nw         *netverify.Network
	generation uint64
}

// serveCloud points the cloud's routes for the router's addresses (back)
// at it and serves the services of every region the fabric's VNets are
// in.
func (f *Fabric) serveCloud(nw *netverify.Network, r *router, back []netip.Prefix) error {
	if err := f.cloud.routeBack(r.uplink, r.routes, back); err != nil {
		return err
	}
	r.routes = back
	var all []netip.Prefix
	regions := map[string]bool{}
	for _, other := range f.routers {
		all = append(all, other.routes...)
		regions[other.region] = true
	}
	return f.cloud.serve(nw.ServiceTags(), regions, all)
}

func (rs *ruleset) count() int {
	n := 0
	for _, c := range rs.chains {
		n += len(c.rules)
	}
	return n
}

// build computes the router's table and what the cloud routes back to
// the router: the public addresses its nodes use (egress and load
// balancer frontends) and the subnets that reach services by a service
// endpoint, with their private addresses.
func (f *Fabric) build(nw *netverify.Network, r *router, nodes []*node) (*ruleset, []netip.Prefix, error) {
	rs := newRuleset()
	fwd := rs.chain("forward", &nftables.Chain{Name: "forward", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter, Policy: ptr(nftables.ChainPolicyAccept)})
	pre := rs.chain("prerouting", &nftables.Chain{Name: "prerouting", Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityNATDest})
	post := rs.chain("postrouting", &nftables.Chain{Name: "postrouting", Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource})

	rs.rule().ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED, "established,related").accept(fwd, "replies of allowed flows")
	rs.rule().ctState(expr.CtStateBitINVALID, "invalid").drop(fwd, "")
	// From outside, only what a public IP's NAT let in reaches the VNet.
	rs.rule().iif(routerUplink).notDNATed().drop(fwd, "the internet reaches private addresses only through a public IP")

	type nicNSG struct {
		chainIn, chainOut string
		addrs             []netip.Addr
		bridge            string
	}
	nsgChains := map[string]bool{}
	ensureChains := func(v *netverify.NSGView) (string, string) {
		base := "nsg-" + shortHash(v.NSG.Key() + "@" + v.VNet.Key())[:8]
		in, out := base+"-"+direction(resources.Inbound), base+"-"+direction(resources.Outbound)
		if !nsgChains[base] {
			nsgChains[base] = true
			rs.nsgChain(in, v.Inbound)
			rs.nsgChain(out, v.Outbound)
		}
		return in, out
	}
	var bridges []*bridge
	nics := map[string]*nicNSG{}
	var nicOrder []string
	var noEgress, public []netip.Addr
	var back []netip.Prefix
	ways := map[string]way{}
	leaving, outs := map[netip.Addr][]netip.Addr{}, []netip.Addr(nil) // nodes by the address they leave by
	for _, nd := range nodes {
		if !slices.Contains(bridges, nd.bridge) {
			bridges = append(bridges, nd.bridge)
		}
		compute, err := arm.ParseID(nd.n.Compute, "")
		if err != nil {
			return nil, nil, err
		}
		key := compute.Key() + "@" + nd.bridge.name
		if nics[key] == nil {
			iface, err := nw.Interface(compute)
			if err != nil {
				return nil, nil, fmt.Errorf("NSGs of %s: %w", compute.Leaf(), err)
			}
			nics[key] = &nicNSG{bridge: nd.bridge.name}
			if iface.NICNSG != nil {
				nics[key].chainIn, nics[key].chainOut = ensureChains(iface.NICNSG)
			}
			nicOrder = append(nicOrder, key)
		}
		nics[key].addrs = append(nics[key].addrs, nd.n.PrivateIP)

		// The way out is the compute's (one query for all its nodes),
		// except where it falls back to a node's own public IP.
		way, seen := ways[compute.Key()]
		if !seen {
			if way.addr, way.ok, way.public, err = egress(nw, compute); err != nil {
				return nil, nil, fmt.Errorf("egress of node %s: %w", nd.n.Name, err)
			}
			ways[compute.Key()] = way
		}
		out, ok := way.addr, way.ok
		switch {
		case !ok:
		case way.public && nd.n.PublicIP.IsValid():
			out = nd.n.PublicIP // the public IP Azure ML created
		case !out.IsValid():
			out = defaultOutbound(r)
		}
		if ok {
			if leaving[out] == nil {
				outs = append(outs, out)
			}
			leaving[out] = append(leaving[out], nd.n.PrivateIP)
			public = append(public, out)
		} else {
			noEgress = append(noEgress, nd.n.PrivateIP)
		}
		if nd.n.PublicIP.IsValid() {
			rs.rule().iif(routerUplink).addr(offDaddr, ipset.FromAddrs(nd.n.PublicIP), "").proto(netverify.TCP).
				ports(offDport, ipset.Single(uint32(frontendPort(nd.n.Name))), "").
				nat(pre, expr.NATTypeDestNAT, nd.n.PrivateIP, agentPort, "load balancer inbound NAT to "+nd.n.Name)
			public = append(public, nd.n.PublicIP)
		}
	}
	// Private endpoints: their subnets' NSGs apply to them only where the
	// subnet's private endpoint network policies say so.
	endpointsOpen := map[string][]netip.Addr{}
	for _, key := range slices.Sorted(maps.Keys(r.endpoints)) {
		ep := r.endpoints[key]
		if !slices.Contains(bridges, ep.bridge) {
			bridges = append(bridges, ep.bridge)
		}
		if sn := nw.Snapshot().Subnet(ep.bridge.subnet); sn != nil && !sn.EndpointNSGs() {
			endpointsOpen[ep.bridge.name] = append(endpointsOpen[ep.bridge.name], ep.addrs...)
		}
	}
	bridges = r.dnsBridges(bridges)
	// Outbound: the NIC's NSG, then the subnet's; inbound: the subnet's,
	// then the NIC's (Azure's order).
	subnetNSG := map[string][2]string{}
	for _, b := range bridges {
		iface, err := nw.Interface(b.subnet)
		if err != nil {
			return nil, nil, fmt.Errorf("NSG of subnet %s: %w", b.subnet.Leaf(), err)
		}
		if iface.SubnetNSG != nil {
			in, out := ensureChains(iface.SubnetNSG)
			subnetNSG[b.name] = [2]string{in, out}
		}
	}
	for _, b := range bridges {
		for _, k := range nicOrder {
			if n := nics[k]; n.bridge == b.name && n.chainOut != "" {
				rs.rule().iif(b.name).addr(offSaddr, ipset.FromAddrs(n.addrs...), "nodes").jump(fwd, n.chainOut)
			}
		}
		if c, ok := subnetNSG[b.name]; ok {
			rs.rule().iif(b.name).jump(fwd, c[1])
		}
	}
	for _, b := range bridges {
		if addrs := endpointsOpen[b.name]; len(addrs) > 0 {
			rs.rule().oif(b.name).addr(offDaddr, ipset.FromAddrs(addrs...), "endpoints").accept(fwd, "private endpoints: network policies off, NSGs do not apply")
		}
		if c, ok := subnetNSG[b.name]; ok {
			rs.rule().oif(b.name).jump(fwd, c[0])
		}
		for _, k := range nicOrder {
			if n := nics[k]; n.bridge == b.name && n.chainIn != "" {
				rs.rule().oif(b.name).addr(offDaddr, ipset.FromAddrs(n.addrs...), "nodes").jump(fwd, n.chainIn)
			}
		}
	}
	// Service endpoints: the subnet's traffic to the service's prefixes
	// reaches it from the node's private address — not SNATed, and
	// allowed out of a subnet without a way to the internet.
	for _, b := range bridges {
		se, err := serviceEndpointSet(nw, b)
		if err != nil {
			return nil, nil, err
		}
		if se.IsEmpty() {
			continue
		}
		rs.rule().iif(b.name).oif(routerUplink).addr(offDaddr, se, "service_endpoints").accept(post, "service endpoint: no SNAT")
		rs.rule().iif(b.name).oif(routerUplink).addr(offDaddr, se, "service_endpoints").accept(fwd, "service endpoint: out without SNAT")
		back = append(back, b.gateway.Masked())
	}
	// One SNAT rule per way out, with the nodes that leave by it.
	for _, out := range outs {
		rs.rule().oif(routerUplink).addr(offSaddr, ipset.FromAddrs(leaving[out]...), "leaving_"+out.String()).nat(post, expr.NATTypeSourceNAT, out, 0, "egress by "+out.String())
	}
	if len(noEgress) > 0 {
		rs.rule().oif(routerUplink).addr(offSaddr, ipset.FromAddrs(noEgress...), "no_egress").drop(fwd, "no way out to the internet")
	}
	for _, a := range public {
		back = append(back, netip.PrefixFrom(a, 32))
	}
	slices.SortFunc(back, comparePrefixes)
	return rs, slices.Compact(back), nil
}

// serviceEndpointSet is where the subnet's effective routes send traffic
// to a service endpoint.
func serviceEndpointSet(nw *netverify.Network, b *bridge) (ipset.Set, error) {
	spans, err := nw.RouteSpans(b.subnet)
	if err != nil {
		return ipset.Set{}, err
	}
	var rgs []ipset.Range
	for _, sp := range spans {
		if sp.NextHop == netverify.NextHopServiceEndpoint {
			lo, _ := ipset.U32(sp.First)
			hi, _ := ipset.U32(sp.Last)
			rgs = append(rgs, ipset.Range{Lo: lo, Hi: hi})
		}
	}
	return ipset.FromRanges(rgs), nil
}

func ptr[T any](v T) *T { return &v }

// program replaces the router's table in one netlink transaction.
func program(ns *namespace, rs *ruleset) error {
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.fd)), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return err
	}
	conn.AddTable(rs.table) // so that the delete finds it on the first run
	conn.DelTable(rs.table)
	conn.AddTable(rs.table)
	for _, s := range rs.sets {
		// A set's elements go in chunks: one message's element list is
		// a netlink attribute, whose length has 16 bits — a longer list
		// (a service tag's thousands of ranges) would be cut short.
		first := s.elems[:min(len(s.elems), setChunk)]
		if err := conn.AddSet(s.set, first); err != nil {
			return fmt.Errorf("set %s: %w", s.set.Name, err)
		}
		for rest := s.elems[len(first):]; len(rest) > 0; rest = rest[min(len(rest), setChunk):] {
			if err := conn.SetAddElements(s.set, rest[:min(len(rest), setChunk)]); err != nil {
				return fmt.Errorf("set %s: %w", s.set.Name, err)
			}
		}
	}
	for _, c := range rs.chains {
		conn.AddChain(c.c)
	}
	for _, c := range rs.chains {
		for _, r := range c.rules {
			conn.AddRule(r)
		}
	}
	return conn.Flush()
}

// setChunk is how many elements one message adds to a set: well under
// 64 KiB of attributes (an IPv4 interval element takes about 20 bytes).
const setChunk = 1024

// bigBuffers enlarges the netlink socket's buffers for this socket only:
// google/nftables sends a batch in one message and asks an ACK for each
// part, which overflows the default buffers from about 100 rules on
// (dataplane pitfall; needs CAP_NET_ADMIN, which the fabric has).
func bigBuffers(c *mnl.Conn) error {
	sc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = sc.Control(func(fd uintptr) {
		const size = 64 << 20
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
