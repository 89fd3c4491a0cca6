package netverify

import (
	"errors"
	"fmt"
	"math"
	"net/netip"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// Queries for Network Watcher's diagnostics (spec §8.1, §8.2): what the
// NSGs at one interface decide for one packet, which route a subnet picks
// for a destination, and which NSG rules apply where. They evaluate with
// the walk's own lookups and NSG order, so they agree with Flow.

// Interface is a place NSGs apply to: a network interface, the node NICs
// of an Azure ML compute (the compute stands for them: they are Azure
// ML's), or a subnet's addresses.
type Interface struct {
	// ID is the network interface, compute or subnet.
	ID arm.ID
	// Subnet is the subnet of its (first) IP configuration.
	Subnet arm.ID
	// Addresses are its private addresses: a NIC's, a compute's node
	// addresses, a subnet's usable ones.
	Addresses ipset.Set
	// SubnetNSG and NICNSG are the NSGs that apply, nil where there is
	// none. A public-IP compute's NICNSG is the NSG Azure ML creates on its
	// node NICs (spec §4.2).
	SubnetNSG, NICNSG *NSGView
	// subnetNSG and nicNSG are the compiled NSGs the views show.
	subnetNSG, nicNSG *nsgCtx
}

// EffectiveRules lists the rules of the interface's NSGs in the order
// Azure evaluates them in direction d: inbound the subnet NSG's then the
// NIC NSG's, outbound the NIC NSG's then the subnet NSG's (spec §8.1).
func (i Interface) EffectiveRules(d resources.Direction) []EffectiveRule {
	var out []EffectiveRule
	for _, c := range nsgOrder(d, i.subnetNSG, i.nicNSG) {
		switch c {
		case nil:
		case i.subnetNSG:
			out = append(out, i.SubnetNSG.rules(d)...)
		default:
			out = append(out, i.NICNSG.rules(d)...)
		}
	}
	return out
}

func (v *NSGView) rules(d resources.Direction) []EffectiveRule {
	if d == resources.Inbound {
		return v.Inbound
	}
	return v.Outbound
}

// nsgOrder is Azure's order of the two NSGs at an interface in direction
// d (spec §8.1); the walk and the diagnostics both follow it. (Not
// generic: the walk calls it for every piece of a query, and a generic
// version measured slower.)
func nsgOrder(d resources.Direction, subnetNSG, nicNSG *nsgCtx) [2]*nsgCtx {
	if d == resources.Inbound {
		return [2]*nsgCtx{subnetNSG, nicNSG}
	}
	return [2]*nsgCtx{nicNSG, subnetNSG}
}

// Interface returns the interface a network interface, compute or subnet
// of the network stands for.
func (n *Network) Interface(id arm.ID) (Interface, error) {
	switch v := n.snap.Lookup(id).(type) {
	case *resources.NetworkInterface:
		i := Interface{ID: v.ID}
		var addrs []netip.Addr
		for _, ipc := range v.IPConfigurations {
			sc := n.subnets[ipc.Subnet.ID.Key()]
			u, ok := ipset.U32(ipc.PrivateIP)
			if sc == nil || !ok {
				continue
			}
			addrs = append(addrs, ipc.PrivateIP)
			if i.Subnet.IsZero() {
				i.Subnet, i.subnetNSG = sc.s.ID, sc.nsg
				if h := sc.vnet.hosts[u]; h != nil && h.id.Equal(v.ID) {
					i.nicNSG = h.nicNSG
				}
				i.SubnetNSG, i.NICNSG = i.subnetNSG.viewIn(sc.vnet), i.nicNSG.viewIn(sc.vnet)
			}
		}
		if i.Subnet.IsZero() {
			return Interface{}, fmt.Errorf("network interface %s has no IP configuration in a subnet of the network", id)
		}
		i.Addresses = ipset.FromAddrs(addrs...)
		return i, nil
	case *resources.Compute:
		cc := n.computes[v.ID.Key()]
		if cc.subnet == nil {
			return Interface{}, fmt.Errorf("compute %s is not in a virtual network subnet: it has no network to verify", id)
		}
		return Interface{ID: v.ID, Subnet: cc.subnet.s.ID, Addresses: cc.nodes,
			SubnetNSG: cc.subnet.nsg.viewIn(cc.subnet.vnet), NICNSG: cc.nicNSG.viewIn(cc.subnet.vnet), subnetNSG: cc.subnet.nsg, nicNSG: cc.nicNSG}, nil
	case *resources.Subnet:
		sc := n.subnets[v.ID.Key()]
		return Interface{ID: v.ID, Subnet: v.ID, Addresses: sc.usable, SubnetNSG: sc.nsg.viewIn(sc.vnet), subnetNSG: sc.nsg}, nil
	case nil:
		return Interface{}, fmt.Errorf("%s is not in the network", id)
	}
	return Interface{}, fmt.Errorf("%s is a %s; an interface is a network interface, an Azure ML compute or a subnet", id, id.Type())
}

// viewIn is the NSG's view in a VNet, nil for no NSG.
func (c *nsgCtx) viewIn(vc *vnetCtx) *NSGView {
	if c == nil {
		return nil
	}
	v := c.view(vc.v.ID)
	return &v
}

// ErrNotAnAddress is returned when a diagnostic's address is not one of
// its interface's.
var ErrNotAnAddress = errors.New("not an address of the interface")

// originAt places address u of an interface: its subnet, and the NIC or
// compute whose NSG applies there.
func (n *Network) originAt(id arm.ID, u uint32) (origin, error) {
	switch v := n.snap.Lookup(id).(type) {
	case *resources.NetworkInterface:
		for _, vc := range n.vnets {
			if h := vc.hosts[u]; h != nil && h.kind == hostNIC && h.id.Equal(v.ID) {
				return origin{subnet: h.subnet, host: h}, nil
			}
		}
	case *resources.Compute:
		if cc := n.computes[v.ID.Key()]; cc.subnet != nil && cc.nodes.Contains(u) {
			return origin{subnet: cc.subnet, compute: cc}, nil
		}
	case *resources.Subnet:
		// A subnet's address that a NIC holds is filtered by that NIC's
		// NSG too.
		if sc := n.subnets[v.ID.Key()]; sc.usable.Contains(u) {
			return origin{subnet: sc, host: sc.vnet.hosts[u]}, nil
		}
	default:
		_, err := n.Interface(id)
		return origin{}, err
	}
	return origin{}, fmt.Errorf("%s: %w %s", ipset.Addr(u), ErrNotAnAddress, id)
}

// NSGDecision is what the NSGs at an interface decide for one packet.
type NSGDecision struct {
	Allowed bool
	// Rule decided: the denying rule, else the last allowing one; nil when
	// no rule applies (no NSG, or platform traffic that no rule names).
	Rule *EffectiveRule
	// Hops are the NSG evaluations, as Flow explains them.
	Hops []Hop
}

// NSGVerdict evaluates the NSGs at interface id for packet p in direction
// d, as Flow's walk does where it passes them — without routes: the
// interface's address is the packet's source (outbound) or destination
// (inbound). Traffic to Azure's platform addresses bypasses NSGs except
// rules naming an AzurePlatform* tag (spec §8.1).
func (n *Network) NSGVerdict(id arm.ID, d resources.Direction, p Packet) (NSGDecision, error) {
	f, err := p.pointFlow()
	if err != nil {
		return NSGDecision{}, err
	}
	local := f.src
	if d == resources.Inbound {
		local = f.dst
	}
	o, err := n.originAt(id, local)
	if err != nil {
		return NSGDecision{}, err
	}
	w := &walker{n: n, box: wholeBox()}
	var dec NSGDecision
	if d == resources.Outbound && isPlatform(f.dst) {
		dec.Allowed = w.platform(&f, o) == Allowed
	} else {
		dec.Allowed = w.applyNSGs(&o, d, &f)
	}
	for _, s := range w.steps {
		if s.kind == stepNSG && s.rule != nil {
			r := s.rule.effective()
			dec.Rule = &r
		}
		dec.Hops = append(dec.Hops, n.hop(s))
	}
	return dec, nil
}

// wholeBox is a box that narrows nothing away: a point query's.
func wholeBox() box { return box{sHi: math.MaxUint32, dHi: math.MaxUint32} }

// IsPlatformAddress reports whether a is one of Azure's platform addresses
// (168.63.129.16, 169.254.169.254), which the host answers directly:
// they are not routed and bypass NSGs (spec §8.1).
func IsPlatformAddress(a netip.Addr) bool {
	u, ok := ipset.U32(a)
	return ok && isPlatform(u)
}

// NextHop is the route a subnet picks for a destination.
type NextHop struct {
	// Type is the route's next hop type: Azure's (resources.NextHop*),
	// VNetPeering or VirtualNetworkServiceEndpoint.
	Type string
	// IP is a virtual appliance's address; invalid for other types.
	IP netip.Addr
	// RouteTable is the route table of the user route that decided; zero
	// for a system route.
	RouteTable arm.ID
	// Hop explains it, as Flow's route hop does.
	Hop Hop
}

// NextHop answers which route the subnet of source, an address of
// interface id, picks for destination (spec §8.2). The interface places
// the address: VNets that are not peered may overlap. NSGs do not take
// part: it is the walk's route lookup alone.
func (n *Network) NextHop(id arm.ID, source, destination netip.Addr) (NextHop, error) {
	src, ok1 := ipset.U32(source)
	dst, ok2 := ipset.U32(destination)
	switch {
	case !ok1 || !ok2:
		return NextHop{}, fmt.Errorf("%s -> %s is not IPv4; the verifier is IPv4-only", source, destination)
	case isPlatform(dst):
		return NextHop{}, fmt.Errorf("%s is an Azure platform address: the host answers it directly, it is not routed", destination)
	}
	o, err := n.originAt(id, src)
	if err != nil {
		return NextHop{}, err
	}
	sc := o.subnet
	w := &walker{n: n, box: wholeBox()}
	e := w.routeLookup(sc, &pointFlow{src: src, dst: dst}, false)
	out := NextHop{Type: e.nextHop, IP: e.hopIP, Hop: n.hop(step{kind: stepRoute, subnet: sc, route: e})}
	if e.route != nil && e.source == "User" {
		out.RouteTable = e.table.ID
	}
	return out, nil
}

// RouteSpan is a run of destinations that a subnet's effective routes
// send the same way.
type RouteSpan struct {
	First, Last netip.Addr
	// NextHop is the winning route's next hop type, as NextHop reports it
	// (None where no route covers the destinations).
	NextHop string
	// IP is a virtual appliance's address; invalid for other types.
	IP netip.Addr
	// VNet is the peered VNet of a VNetPeering route.
	VNet arm.ID
}

// NextHopServiceEndpoint is a RouteSpan's next hop for a service
// endpoint's prefixes: the traffic reaches the service from the subnet's
// private address, without SNAT.
const NextHopServiceEndpoint = hopServiceEndpoint

// RouteSpans lists, in address order and covering every IPv4
// destination, where the subnet's effective routes send traffic: the
// walk's own table (longest prefix, ties broken as Azure does), so that a
// data plane routing by it agrees with Flow.
func (n *Network) RouteSpans(subnet arm.ID) ([]RouteSpan, error) {
	sc := n.subnets[subnet.Key()]
	if sc == nil || sc.routes == nil {
		return nil, fmt.Errorf("subnet %s is not in the network", subnet)
	}
	rt := sc.routes.painted()
	var out []RouteSpan
	for k, lo := range rt.starts {
		hi := uint32(math.MaxUint32)
		if k+1 < len(rt.starts) {
			hi = rt.starts[k+1] - 1
		}
		span := RouteSpan{First: ipset.Addr(lo), Last: ipset.Addr(hi), NextHop: resources.NextHopNone}
		if e := rt.at(k); e != nil {
			span.NextHop, span.IP = e.nextHop, e.hopIP
			if e.peer != nil && e.peer.remote != nil {
				span.VNet = e.peer.remote.v.ID
			}
		}
		if m := len(out); m > 0 && out[m-1].NextHop == span.NextHop && out[m-1].IP == span.IP && out[m-1].VNet.Equal(span.VNet) {
			out[m-1].Last = span.Last
			continue
		}
		out = append(out, span)
	}
	return out, nil
}
