//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// Routing in a router: traffic that enters from a subnet's bridge is
// routed by that subnet's own kernel table (a policy rule "iif BRIDGE"),
// which holds where its effective routes differ from the router's main
// table; the main table holds the subnets (connected routes), a
// blackhole for the rest of the VNet's address space, and the default
// route to the cloud. The kernel picks the longest prefix, as Azure does;
// ties are broken by the verifier's table, which the spans come from.
const (
	// routeTableBase numbers the subnets' tables (100, 101, …).
	routeTableBase = 100
	// routeProtocol marks the routes the fabric installs, so that a sync
	// never touches the kernel's own (connected, local).
	routeProtocol = netlink.RouteProtocol(0x5e)
)

// routeKind is what a kernel route does with a destination.
type routeKind int

const (
	toCloud   routeKind = iota // out through the uplink (next hop Internet)
	blackhole                  // dropped without a word (next hop None)
	toPeer                     // over the link to a peered VNet's router
	toLink                     // via gw on a link of the router's (a firewall's)
)

// hop is where a kernel route sends a destination.
type hop struct {
	kind routeKind
	peer string // the peered VNet's key, for toPeer
	// link and gw: where toLink sends it.
	link string
	gw   netip.Addr
}

// subnetRoutes are the routes a subnet's table needs, by destination.
// appliance says where a virtual appliance's address is reached.
func subnetRoutes(spans []netverify.RouteSpan, space ipset.Set, appliance func(netip.Addr) hop) map[netip.Prefix]hop {
	out := map[netip.Prefix]hop{}
	add := func(s ipset.Set, k routeKind) {
		for _, p := range s.Prefixes() {
			out[p] = hop{kind: k}
		}
	}
	hops := map[netip.Addr]hop{}
	for _, sp := range spans {
		lo, _ := ipset.U32(sp.First)
		hi, _ := ipset.U32(sp.Last)
		span := ipset.FromRanges([]ipset.Range{{Lo: lo, Hi: hi}})
		if !sp.VNet.IsZero() { // the peer's space, or one of its private endpoints
			for _, p := range span.Prefixes() {
				out[p] = hop{kind: toPeer, peer: sp.VNet.Key()}
			}
			continue
		}
		switch sp.NextHop {
		case resources.NextHopNone, resources.NextHopVirtualNetworkGateway:
			add(span, blackhole) // no gateway is realised: Azure drops too without one
		case resources.NextHopVirtualAppliance:
			h, ok := hops[sp.IP]
			if !ok {
				h = appliance(sp.IP)
				hops[sp.IP] = h
			}
			for _, p := range span.Prefixes() {
				out[p] = h
			}
		case resources.NextHopVnetLocal:
			// Inside the VNet the main table delivers; outside it
			// there is nothing to deliver to.
			add(span.Subtract(space), blackhole)
		case resources.NextHopInternet:
			// Outside the VNet the main table's default route goes to
			// the cloud already.
			add(span.Intersect(space), toCloud)
		}
		// Peering, service endpoints and private endpoints: the main
		// table's way.
	}
	return out
}

// syncRoutes brings the router's kernel routes to the network's
// effective routes of each subnet it has a bridge for. f.mu is held.
func (f *Fabric) syncRoutes(nw *netverify.Network, r *router) error {
	vnet := nw.Snapshot().VirtualNetwork(r.vnet)
	if vnet == nil {
		return fmt.Errorf("VNet %s is not in the network", r.vnet.Name())
	}
	space := ipv4Set(vnet.AddressSpace)
	main := map[netip.Prefix]hop{}
	for _, p := range space.Prefixes() {
		main[p] = hop{kind: blackhole}
	}
	errs := []error{r.syncTable(unix.RT_TABLE_MAIN, main)}
	spans := map[*bridge][]netverify.RouteSpan{}
	for _, b := range r.bridges {
		ss, err := nw.RouteSpans(b.subnet)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		spans[b] = ss
	}
	if err := f.syncPeers(nw, r, spans); err != nil {
		errs = append(errs, err)
	}
	for b, ss := range spans {
		errs = append(errs, r.syncTable(b.table, subnetRoutes(ss, space, func(a netip.Addr) hop { return f.applianceHop(r, a) })))
	}
	errs = append(errs, r.syncEndpointReplies(nw))
	return errors.Join(errs...)
}

// Private endpoints' replies go straight back to the client, whatever
// their subnet's routes say (the platform routes them, as the verifier
// has it): rules send what leaves an endpoint's address to a table of the
// peered VNets' spaces, then to the main table (the VNet's subnets, the
// cloud), before any subnet's table.
const (
	endpointRulePriority = 90 // and 91; the subnets' rules start at 100
	peersTable           = 99
)

// syncEndpointReplies brings the endpoints' rules and the peers' table
// up to date. f.mu is held.
func (r *router) syncEndpointReplies(nw *netverify.Network) error {
	peers := map[netip.Prefix]hop{}
	for key, p := range r.peers {
		if v := nw.Snapshot().VirtualNetwork(p.vnet); v != nil {
			for _, q := range ipv4Set(v.AddressSpace).Prefixes() {
				peers[q] = hop{kind: toPeer, peer: key}
			}
		}
	}
	errs := []error{r.syncTable(peersTable, peers)}
	type ruleKey struct {
		prio  int
		src   netip.Prefix
		table int
	}
	want := map[ruleKey]bool{}
	for _, ep := range r.endpoints {
		for _, a := range ep.addrs {
			src := netip.PrefixFrom(a, 32)
			want[ruleKey{endpointRulePriority, src, peersTable}] = true
			want[ruleKey{endpointRulePriority + 1, src, unix.RT_TABLE_MAIN}] = true
		}
	}
	have, err := r.ns.nl.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("routing rules of the router of %s: %w", r.vnet.Name(), err)
	}
	for _, h := range have {
		if h.Priority != endpointRulePriority && h.Priority != endpointRulePriority+1 {
			continue
		}
		src, ok := prefixOf(h.Src)
		k := ruleKey{h.Priority, src, h.Table}
		if ok && want[k] {
			delete(want, k)
			continue
		}
		if err := r.ns.nl.RuleDel(&h); err != nil {
			errs = append(errs, fmt.Errorf("routing rule from %s: %w", h.Src, err))
		}
	}
	for k := range want {
		rule := netlink.NewRule()
		rule.Priority, rule.Src, rule.Table = k.prio, ipNet(k.src), k.table
		if err := r.ns.nl.RuleAdd(rule); err != nil {
			errs = append(errs, fmt.Errorf("routing rule from private endpoint %s: %w", k.src.Addr(), err))
		}
	}
	return errors.Join(errs...)
}

// syncTable makes the fabric's routes in kernel table id exactly want.
func (r *router) syncTable(id int, want map[netip.Prefix]hop) error {
	var sig strings.Builder
	for _, p := range sortedPrefixes(want) {
		fmt.Fprintf(&sig, "%s=%v;", p, want[p])
	}
	if done, ok := r.tables[id]; ok && done == sig.String() {
		return nil
	}
	up, err := r.ns.nl.LinkByName(routerUplink)
	if err != nil {
		return fmt.Errorf("router of %s: %w", r.vnet.Name(), err)
	}
	route := func(p netip.Prefix, h hop) *netlink.Route {
		rt := &netlink.Route{Dst: ipNet(p), Table: id, Protocol: routeProtocol}
		k := h.kind
		if k == toPeer {
			k = blackhole // unless the peer's router is joined
			if peer := r.peers[h.peer]; peer != nil {
				if l, err := r.ns.nl.LinkByName(peerLinkName(peer)); err == nil {
					k = toPeer
					rt.Type, rt.LinkIndex, rt.Gw, rt.Flags = unix.RTN_UNICAST, l.Attrs().Index, peerAddr(peer, r).AsSlice(), int(netlink.FLAG_ONLINK)
				}
			}
		}
		switch k {
		case toCloud:
			rt.Type, rt.LinkIndex, rt.Gw, rt.Flags = unix.RTN_UNICAST, up.Attrs().Index, cloudSide.AsSlice(), int(netlink.FLAG_ONLINK)
		case toLink:
			rt.Type = unix.RTN_BLACKHOLE // unless the link is there
			if l, err := r.ns.nl.LinkByName(h.link); err == nil {
				rt.Type, rt.LinkIndex, rt.Gw, rt.Flags = unix.RTN_UNICAST, l.Attrs().Index, h.gw.AsSlice(), int(netlink.FLAG_ONLINK)
			}
		case blackhole:
			rt.Type = unix.RTN_BLACKHOLE
		}
		return rt
	}
	have, err := r.ns.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: id, Protocol: routeProtocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("routes of table %d in the router of %s: %w", id, r.vnet.Name(), err)
	}
	var errs []error
	for _, h := range have {
		p, ok := prefixOf(h.Dst)
		if k, wanted := want[p]; !ok || !wanted || route(p, k).Type != h.Type {
			if err := r.ns.nl.RouteDel(&h); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("route %s: %w", h.Dst, err))
			}
		}
	}
	for p, k := range want {
		if err := r.ns.nl.RouteReplace(route(p, k)); err != nil {
			errs = append(errs, fmt.Errorf("route %s in table %d: %w", p, id, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("routes of the router of %s: %w", r.vnet.Name(), err)
	}
	r.tables[id] = sig.String()
	return nil
}

// prefixOf reads a kernel route's destination (nil is the default route).
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.MustParsePrefix("0.0.0.0/0"), true
	}
	a, ok := netip.AddrFromSlice(n.IP)
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), ok
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefixes)
	return out
}

// comparePrefixes orders prefixes by address, then length.
func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
