package netverify

import (
	"net/netip"
	"sort"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// pointFlow is one 5-tuple (plus the destination name when the query gave
// one: firewall application rules and service endpoint policies need it).
type pointFlow struct {
	src, dst     uint32
	proto        Protocol
	sport, dport uint16
	name         string
}

type stepKind uint8

const (
	stepPlatform stepKind = iota
	stepNSG
	stepRoute
	stepDeliver
	stepNoSubnet
	stepReserved
	stepPeeringNoVnetAccess
	stepForwardingBlocked
	stepServiceEndpoint
	stepSEPDenied
	stepSNATNat
	stepSNATInstance
	stepSNATCompute
	stepSNATLoadBalancer
	stepSNATDefault
	stepNoEgress
	stepApplianceMissing
	stepApplianceNoForwarding
	stepNVA
	stepFirewall
	stepFirewallEgress
	stepFirewallNoEgress
	stepFirewallSNAT
	stepFirewallNoSNAT
	stepGateway
	stepRouteNone
	stepNoPublicIP
	stepComputeIngress
	stepPublicIngress
	stepNoBackend
	stepLBForward
	stepClosedByDefault
	stepBasicSKU
	stepDNATNotModelled
	stepReturnRoute
	stepPEPoliciesOff
	stepInsideReply
	stepInternetPrivate
	stepLoop
	stepStorage
)

// step is one hop of a point evaluation. Steps are plain comparable values
// so that outcomes of many address pieces group by == without allocating.
type step struct {
	kind    stepKind
	nsg     *nsgCtx
	rule    *nsgRule
	subnet  *subnetCtx
	route   *routeEntry
	host    *host
	fw      *firewallCtx
	fwRule  *fwRule
	compute *computeCtx
	pub     *publicEndpoint
	sep     *resources.ServiceEndpointPolicy
	lbRule  *resources.LBRule
	storage *storageAccount
	dir     resources.Direction
	// storageVerdict is what the storage account's rules decided.
	storageVerdict storageVerdict
	// addr is set only for platform addresses: a step must not vary with
	// the address inside a piece, or neighbouring pieces would not group.
	addr uint32
}

// origin is where a flow starts or ends inside a VNet.
type origin struct {
	subnet  *subnetCtx
	host    *host
	compute *computeCtx
}

func (o origin) nicNSG() *nsgCtx {
	switch {
	case o.compute != nil:
		return o.compute.nicNSG
	case o.host != nil:
		return o.host.nicNSG
	}
	return nil
}

// box is the rectangle of source × destination addresses around a point
// flow whose evaluation is the same as the point's: every lookup that
// depends on an address narrows it to the interval where its own answer
// holds.
type box struct {
	sLo, sHi, dLo, dHi uint32
	// want are the query's destination pieces from the flow's on. A
	// lookup may join the intervals after its own that give the same
	// answer or hold no wanted address, so that one evaluation answers a
	// whole run of a service tag's ranges. nil: no joining (the reference
	// evaluator).
	want []ipset.Range
	// translated: a load balancer or public IP rewrote the destination;
	// later lookups see the backend's address, not the query's, and the
	// query's destination piece is already one address (public IPs cut).
	translated bool
	// srcTranslated: a firewall rewrote the source; later lookups see its
	// address, and their answers hold for every source of the query.
	srcTranslated bool
}

// maxJoin bounds how many intervals a lookup looks ahead: later lookups
// usually narrow the answer further, and a lookup's cost must not grow
// with how far the query reaches.
const maxJoin = 128

// joinDst extends a destination answer that holds on interval k of starts
// through the intervals after it while same says they give the same answer
// or they hold no wanted address, up to the box's end. It returns the last
// value reached.
func (b *box) joinDst(starts []uint32, k int, same func(k int) bool) uint32 {
	hi := intervalEnd(starts, k)
	if b.translated || b.want == nil {
		return hi
	}
	m := 0
	for n := 0; n < maxJoin && hi < b.dHi && k+1 < len(starts); n++ {
		lo, end := starts[k+1], intervalEnd(starts, k+1)
		if b.want[m].Hi < lo {
			m = firstEndingAtOrAfter(b.want, m, lo)
		}
		if m == len(b.want) {
			return b.dHi // no wanted address is left
		}
		if b.want[m].Lo > end {
			// Jump over the intervals before the next wanted address.
			k = gallop(starts, k+1, b.want[m].Lo) - 1
			hi = intervalEnd(starts, k)
			continue
		}
		if !same(k + 1) {
			break
		}
		k, hi = k+1, end
	}
	return min(hi, b.dHi)
}

func (b *box) narrowSrc(lo, hi uint32) {
	if !b.srcTranslated {
		b.sLo, b.sHi = max(b.sLo, lo), min(b.sHi, hi)
	}
}

// gallop returns the interval of starts holding v, searching forward from
// interval k (starts[k] <= v): the next wanted address is usually near.
// It and firstEndingAtOrAfter are one search over two kinds of slices,
// kept apart on purpose: a generic version taking a closure measured
// slower on BenchmarkCheckLarge, where they are the hottest loop.
func gallop(starts []uint32, k int, v uint32) int {
	step := 1
	for k+step < len(starts) && starts[k+step] <= v {
		k += step
		step *= 2
	}
	// starts[k] <= v < starts[k+step] (or the end).
	return k + intervalOf(starts[k:min(k+step, len(starts))], v)
}

// firstEndingAtOrAfter returns the first index from m whose range ends at
// or after v (len(rs) if none), searching forward from m exponentially.
func firstEndingAtOrAfter(rs []ipset.Range, m int, v uint32) int {
	step := 1
	for m+step < len(rs) && rs[m+step].Hi < v {
		m += step
		step *= 2
	}
	// rs[m].Hi < v; the answer is in (m, m+step].
	hi := min(m+step, len(rs)-1) + 1
	return m + 1 + sort.Search(hi-m-1, func(i int) bool { return rs[m+1+i].Hi >= v })
}

func (b *box) narrowDst(lo, hi uint32) {
	if !b.translated {
		b.dLo, b.dHi = max(b.dLo, lo), min(b.dHi, hi)
	}
}

// walker evaluates point flows. ref selects the reference lookups (linear
// scans) instead of the indexes; the path logic is shared, the lookups are
// what the comparison guards.
type walker struct {
	n     *Network
	ref   bool
	steps []step
	// dstCompute is the compute the query targets: its nodes have no NIC
	// in the file, so delivery needs to know whose NSG applies.
	dstCompute *computeCtx
	// box is narrowed by the indexed lookups (fast evaluator only).
	box box
	// strip, arena and spare are Network.flow's buffers, kept for reuse.
	strip []pending
	arena []step
	spare []*group
	// memo remembers indexed NSG lookups of queries whose destination is
	// resolved once per network (memoNet; see nsgMatch).
	memo    map[nsgMemoKey]nsgMemoVal
	memoNet *Network
	useMemo bool
}

// nsgMemoKey is everything an indexed NSG lookup's answer depends on: the
// NSG direction, the rule bitsets the flow's source, ports and protocol
// select (a bitset is known by its place in its index's table), the
// flow's destination and what the join across the destination reads from
// the box (see box.joinDst). The wanted pieces are a shared endpoint's
// (Network.resolveEndpoint), known by their place.
type nsgMemoKey struct {
	d                 *nsgDir
	src, sport, dport *uint64
	want              *ipset.Range
	nwant             int
	dst, dHi          uint32
	proto             Protocol
	translated        bool
}

// nsgMemoVal is a memoised lookup: the deciding rule and the destination
// interval where it decides.
type nsgMemoVal struct {
	rule   *nsgRule
	lo, hi uint32
}

// maxMemo bounds a walker's memo; it is cleared when full.
const maxMemo = 1 << 14

func (w *walker) add(s step) { w.steps = append(w.steps, s) }

// nsgMatch finds the NSG rule deciding the flow. The computes of a subnet,
// and the subnets sharing an NSG, ask the same lookups: for a destination
// that is a tag's thousands of ranges each is a long join across the
// NSG's destination index (most of check's time in NSG lookups), so the
// answers are remembered for queries to shared endpoints.
func (w *walker) nsgMatch(c *nsgCtx, d resources.Direction, f *pointFlow) *nsgRule {
	dir := c.dir(d)
	if w.ref {
		return dir.matchLinear(f)
	}
	if !w.useMemo || len(w.box.want) == 0 {
		return dir.match(f, &w.box)
	}
	dir.build()
	src, slo, shi := dir.src.lookupRange(f.src)
	k := nsgMemoKey{d: dir, src: &src[0], sport: &dir.sport.lookup(uint32(f.sport))[0], dport: &dir.dport.lookup(uint32(f.dport))[0],
		want: &w.box.want[0], nwant: len(w.box.want), dst: f.dst, dHi: w.box.dHi, proto: f.proto, translated: w.box.translated}
	if v, ok := w.memo[k]; ok {
		w.box.narrowSrc(slo, shi)
		w.box.narrowDst(v.lo, v.hi)
		return v.rule
	}
	// The lookup narrows a copy whose destination starts at 0, so that
	// what it narrows the destination to is its own answer.
	b := w.box
	b.dLo = 0
	v := nsgMemoVal{rule: dir.match(f, &b), lo: b.dLo, hi: b.dHi}
	w.box.sLo, w.box.sHi = b.sLo, b.sHi
	w.box.narrowDst(v.lo, v.hi)
	if len(w.memo) >= maxMemo {
		clear(w.memo)
	}
	w.memo[k] = v
	return v.rule
}

// routeLookup finds the route for the flow's destination, or for its
// source when reply is set (the return path).
func (w *walker) routeLookup(sc *subnetCtx, f *pointFlow, reply bool) *routeEntry {
	u := f.dst
	if reply {
		u = f.src
	}
	if w.ref {
		return sc.routes.lookupLinear(u)
	}
	rt := sc.routes.painted()
	k := intervalOf(rt.starts, u)
	if reply {
		w.box.narrowSrc(rt.starts[k], intervalEnd(rt.starts, k))
	} else {
		win := rt.winner[k]
		w.box.narrowDst(rt.starts[k], w.box.joinDst(rt.starts, k, func(j int) bool { return rt.winner[j] == win }))
	}
	return rt.at(k)
}

// applyNSG records the NSG's decision and reports whether it allows.
func (w *walker) applyNSG(c *nsgCtx, d resources.Direction, f *pointFlow) bool {
	if c == nil {
		return true
	}
	r := w.nsgMatch(c, d, f)
	w.add(step{kind: stepNSG, nsg: c, rule: r, dir: d})
	return r != nil && r.allow
}

// applyNSGs applies the NSGs at o in direction d, in Azure's order (spec
// §8.1), and reports whether both allow.
func (w *walker) applyNSGs(o *origin, d resources.Direction, f *pointFlow) bool {
	order := nsgOrder(d, o.subnet.nsg, o.nicNSG())
	return w.applyNSG(order[0], d, f) && w.applyNSG(order[1], d, f)
}

func isPlatform(u uint32) bool { return u == azurePlatformIP || u == imdsIP }

// fromInside evaluates a flow that starts at src inside a subnet.
func (w *walker) fromInside(f *pointFlow, src origin) Verdict {
	if isPlatform(f.dst) {
		return w.platform(f, src)
	}
	if !w.applyNSGs(&src, resources.Outbound, f) {
		return Denied
	}
	return w.routeFrom(f, src.subnet, src, 0)
}

// platform: traffic to 168.63.129.16 and 169.254.169.254 bypasses NSGs,
// except rules that name the AzurePlatformDNS/IMDS/LKM tags (spec §8.1).
func (w *walker) platform(f *pointFlow, src origin) Verdict {
	for _, c := range nsgOrder(resources.Outbound, src.subnet.nsg, src.nicNSG()) {
		if c == nil {
			continue
		}
		if r := c.dir(resources.Outbound).matchPlatform(f); r != nil {
			w.add(step{kind: stepNSG, nsg: c, rule: r, dir: resources.Outbound})
			if !r.allow {
				return Denied
			}
		}
	}
	w.add(step{kind: stepPlatform, addr: f.dst})
	return Allowed
}

// maxApplianceHops bounds chains of appliances (and routing loops).
const maxApplianceHops = 4

func (w *walker) routeFrom(f *pointFlow, sc *subnetCtx, egress origin, depth int) Verdict {
	if depth > maxApplianceHops {
		w.add(step{kind: stepLoop, subnet: sc})
		return NoRoute
	}
	e := w.routeLookup(sc, f, false)
	w.add(step{kind: stepRoute, subnet: sc, route: e})
	switch e.nextHop {
	case resources.NextHopVnetLocal:
		return w.insideReply(f, sc.vnet, depth, w.deliver(f, sc.vnet))
	case hopVNetPeering, hopInterfaceEndpoint:
		if e.peer == nil {
			return w.insideReply(f, sc.vnet, depth, w.deliver(f, sc.vnet)) // a private endpoint of this VNet
		}
		if !e.peer.p.AllowVirtualNetworkAccess {
			// Only the VirtualNetwork tag changed: NSG rules decide (spec
			// §8.2; issue 12 point 4).
			w.add(step{kind: stepPeeringNoVnetAccess, route: e})
		}
		// Traffic an appliance forwards into a peered VNet needs that VNet's
		// peering back to allow forwarded traffic.
		if back := e.peer.back; depth > 0 && back != nil && !back.AllowForwardedTraffic {
			w.add(step{kind: stepForwardingBlocked, route: e})
			return Denied
		}
		return w.insideReply(f, e.peer.remote, depth, w.deliver(f, e.peer.remote))
	case hopServiceEndpoint:
		return w.serviceEndpoint(f, sc, e)
	case resources.NextHopInternet:
		if w.inSet(nonPublic, f.dst, false) {
			// The internet routes no private address (Azure: "Virtual
			// network traffic routing": the private ranges are not
			// routable there, hence the system routes to None).
			w.add(step{kind: stepInternetPrivate, route: e})
			return NoRoute
		}
		if v := w.egress(sc, egress); v != Allowed {
			return v
		}
		return w.storageGate(f, sc, false)
	case resources.NextHopVirtualAppliance:
		return w.appliance(f, sc, e, depth)
	case resources.NextHopVirtualNetworkGateway:
		w.add(step{kind: stepGateway, route: e})
		return NoRoute
	}
	w.add(step{kind: stepRouteNone, route: e})
	return NoRoute
}

// insideReply checks, for a flow delivered inside vc without an
// appliance on the way (depth 0), the reply's way back: Azure routes each
// packet by its own subnet's effective routes (Azure: "Virtual network
// traffic routing"), so the reply returns only by the VNet's own route
// (the source in vc's address space) or a peering's; a route to None,
// the internet or a gateway drops it, one to an appliance makes the
// flow asymmetric. A private endpoint's replies go straight back to the
// client: the platform routes them, not its subnet's routes (why Azure
// advises SNAT on a firewall inspecting traffic to a private endpoint;
// Azure: "Azure Firewall scenarios to inspect traffic destined to a
// private endpoint").
func (w *walker) insideReply(f *pointFlow, vc *vnetCtx, depth int, v Verdict) Verdict {
	if v != Allowed || depth > 0 {
		return v
	}
	if h := vc.hosts[f.dst]; h != nil && h.kind == hostPrivateEndpoint {
		return Allowed
	}
	sc := w.n.subnetAt(vc, f.dst)
	back := w.routeLookup(sc, f, true)
	switch back.nextHop {
	case resources.NextHopVnetLocal:
		if w.inSet(vc.space, f.src, true) {
			return Allowed
		}
	case hopVNetPeering:
		return Allowed
	}
	w.add(step{kind: stepInsideReply, subnet: sc, route: back})
	if back.nextHop == resources.NextHopVirtualAppliance {
		return AsymmetricRoute
	}
	return NoRoute
}

// inSet reports whether the flow's source (src) or destination is in s,
// narrowing the evaluated piece to the addresses that share the answer.
func (w *walker) inSet(s ipset.Set, u uint32, src bool) bool {
	in, lo, hi := s.Around(u)
	switch {
	case w.ref:
	case src:
		w.box.narrowSrc(lo, hi)
	default:
		w.box.narrowDst(lo, hi)
	}
	return in
}

// deliver finishes a flow at its destination inside vc: subnet NSG, then
// NIC NSG, inbound (spec §8.1).
func (w *walker) deliver(f *pointFlow, vc *vnetCtx) Verdict {
	sc := w.n.subnetAt(vc, f.dst)
	if sc == nil {
		w.add(step{kind: stepNoSubnet})
		return NoRoute
	}
	if !sc.usable.Contains(f.dst) {
		w.add(step{kind: stepReserved, subnet: sc})
		return NoRoute
	}
	dst := origin{subnet: sc, host: vc.hosts[f.dst]}
	if dst.host == nil && w.dstCompute != nil && w.dstCompute.subnet == sc && w.dstCompute.nodes.Contains(f.dst) {
		dst.compute = w.dstCompute
	}
	if dst.host != nil && dst.host.kind == hostPrivateEndpoint && !sc.s.EndpointNSGs() {
		w.add(step{kind: stepPEPoliciesOff, subnet: sc, host: dst.host})
		return Allowed
	}
	if !w.applyNSGs(&dst, resources.Inbound, f) {
		return Denied
	}
	w.add(step{kind: stepDeliver, subnet: sc, host: dst.host, compute: dst.compute})
	return Allowed
}

// egress is the way out to the internet; Azure picks NAT gateway, then an
// instance public IP, then a load balancer outbound rule, then default
// outbound access (spec §8.3).
func (w *walker) egress(sc *subnetCtx, from origin) Verdict {
	switch {
	case sc.nat != nil:
		w.add(step{kind: stepSNATNat, subnet: sc})
	case from.host != nil && from.host.publicIP != nil:
		w.add(step{kind: stepSNATInstance, host: from.host})
	case from.host != nil && from.host.outboundLB != nil:
		w.add(step{kind: stepSNATLoadBalancer, host: from.host})
	case from.compute != nil && from.compute.nicNSG != nil:
		w.add(step{kind: stepSNATCompute, compute: from.compute})
	case sc.defaultOutbound:
		w.add(step{kind: stepSNATDefault, subnet: sc})
	default:
		w.add(step{kind: stepNoEgress, subnet: sc})
		return NoOutboundConnectivity
	}
	return Allowed
}

func (w *walker) serviceEndpoint(f *pointFlow, sc *subnetCtx, e *routeEntry) Verdict {
	// Service endpoint policies filter storage accounts; an account is
	// known only by name, so an address-only flow passes with a note.
	if len(sc.seps) > 0 && strings.EqualFold(e.service, "Microsoft.Storage") && f.name != "" {
		acct := strings.SplitN(f.name, ".", 2)[0]
		if !sepAllows(sc.seps, acct, w.n.dns.storage[strings.ToLower(acct)]) {
			w.add(step{kind: stepSEPDenied, subnet: sc, route: e, sep: sc.seps[0]})
			return Denied
		}
	}
	w.add(step{kind: stepServiceEndpoint, subnet: sc, route: e})
	return w.storageGate(f, sc, true)
}

// sepAllows: with policies attached only the listed storage resources are
// reachable, the union over all policies (spec §6). serviceResources may
// name an account, its resource group or its subscription. st is the
// account when it is in the file.
func sepAllows(seps []*resources.ServiceEndpointPolicy, account string, st *storageAccount) bool {
	var acct *resources.StorageAccount
	if st != nil {
		acct = st.sa
	}
	for _, p := range seps {
		for _, d := range p.Definitions {
			if !strings.EqualFold(d.Service, "Microsoft.Storage") {
				continue
			}
			for _, res := range d.ServiceResources {
				if acct == nil {
					if strings.HasSuffix(strings.ToLower(res), "/storageaccounts/"+strings.ToLower(account)) {
						return true
					}
					continue
				}
				if k := strings.ToLower(strings.TrimSuffix(res, "/")); k == acct.ID.Key() || strings.HasPrefix(acct.ID.Key(), k+"/") {
					return true
				}
			}
		}
	}
	return false
}

func (w *walker) findHost(vc *vnetCtx, ip netip.Addr) *host {
	u, ok := ipset.U32(ip)
	if !ok {
		return nil
	}
	if h := vc.hosts[u]; h != nil {
		return h
	}
	for _, pc := range vc.peers {
		if pc.connected {
			if h := pc.remote.hosts[u]; h != nil {
				return h
			}
		}
	}
	return nil
}

func (w *walker) appliance(f *pointFlow, sc *subnetCtx, e *routeEntry, depth int) Verdict {
	h := w.findHost(sc.vnet, e.hopIP)
	switch {
	case h == nil:
		w.add(step{kind: stepApplianceMissing, route: e})
		return NoRoute
	case h.kind == hostFirewall:
		fc := h.fw
		v := fc.evaluate(f, &w.box, w.ref)
		w.add(step{kind: stepFirewall, fw: fc, fwRule: v.rule})
		if !v.allow {
			return Denied
		}
		return w.afterFirewall(f, fc, fc.translates(v.kind, f.dst), depth)
	case h.kind == hostNIC && h.forwards:
		w.add(step{kind: stepNVA, host: h})
		return w.routeFrom(f, h.subnet, origin{subnet: h.subnet, host: h}, depth+1)
	}
	w.add(step{kind: stepApplianceNoForwarding, host: h, route: e})
	return NoRoute
}

// afterFirewall forwards allowed traffic: into the VNet by the firewall
// subnet's routes, from a firewall address when it translates the source,
// or out through the firewall's own public IP.
func (w *walker) afterFirewall(f *pointFlow, fc *firewallCtx, snat bool, depth int) Verdict {
	e := w.routeLookup(fc.subnet, f, false)
	if e.nextHop != resources.NextHopInternet {
		if snat {
			w.add(step{kind: stepFirewallSNAT, fw: fc})
			g := *f
			g.src, w.box.srcTranslated = fc.snatAddr, true
			f = &g
		}
		return w.routeFrom(f, fc.subnet, origin{subnet: fc.subnet}, depth+1)
	}
	w.add(step{kind: stepRoute, subnet: fc.subnet, route: e})
	if !snat {
		// Network rules keep the source to the SNAT private ranges; with
		// 0.0.0.0/0 among them the firewall cannot reach the internet.
		w.add(step{kind: stepFirewallNoSNAT, fw: fc})
		return NoOutboundConnectivity
	}
	switch {
	case fc.subnet.nat != nil:
		w.add(step{kind: stepSNATNat, subnet: fc.subnet})
	case len(fc.fw.PublicIPs) == 0:
		w.add(step{kind: stepFirewallNoEgress, fw: fc})
		return NoOutboundConnectivity
	default:
		w.add(step{kind: stepFirewallEgress, fw: fc})
	}
	return w.storageGate(f, fc.subnet, false)
}

// fromOutside evaluates a flow from outside every VNet (the internet or an
// Azure service) to dst.
func (w *walker) fromOutside(f *pointFlow) Verdict {
	if pub := w.n.publicEndpoints[f.dst]; pub != nil {
		return w.publicIngress(f, pub)
	}
	if cc := w.dstCompute; cc != nil && cc.nodes.Contains(f.dst) {
		if cc.nicNSG == nil {
			w.add(step{kind: stepNoPublicIP, compute: cc})
			return NoRoute
		}
		// Azure ML's load balancer forwards to the node's private address.
		w.add(step{kind: stepComputeIngress, compute: cc})
		return w.deliverFromOutside(f, origin{subnet: cc.subnet, compute: cc}, nil)
	}
	w.add(step{kind: stepNoPublicIP})
	return NoRoute
}

func (w *walker) publicIngress(f *pointFlow, pub *publicEndpoint) Verdict {
	w.add(step{kind: stepPublicIngress, pub: pub})
	if pub.basic() {
		w.add(step{kind: stepBasicSKU, pub: pub})
	}
	w.box.translated = true
	switch {
	case pub.nic != nil:
		g := *f
		g.dst = pub.nic.addr
		return w.deliverFromOutside(&g, origin{subnet: pub.nic.subnet, host: pub.nic}, pub)
	case pub.lb != nil:
		// NSGs see the flow after the load balancer translated its
		// destination address and port to the backend's (spec §8.1).
		if h, r := w.n.lbBackend(pub, f); h != nil {
			w.add(step{kind: stepLBForward, pub: pub, lbRule: r, host: h})
			g := *f
			g.dst = h.addr
			if r.BackendPort != 0 && f.proto.hasPorts() {
				g.dport = uint16(r.BackendPort)
			}
			return w.deliverFromOutside(&g, origin{subnet: h.subnet, host: h}, pub)
		}
	case pub.fw != nil:
		// DNAT rules are not modelled: say so rather than blame a rule.
		w.add(step{kind: stepDNATNotModelled, fw: pub.fw})
		return NoRoute
	}
	w.add(step{kind: stepNoBackend, pub: pub})
	return NoRoute
}

// deliverFromOutside applies the inbound NSGs and checks the reply's path:
// a reply that leaves through an appliance instead of straight to the
// internet is asymmetric and dropped (spec §5.2, §8.2). pub is the public
// IP the flow arrived at (nil: the one Azure ML creates, with its NSG): a
// Standard one admits nothing that no NSG allows.
func (w *walker) deliverFromOutside(f *pointFlow, dst origin, pub *publicEndpoint) Verdict {
	if pub != nil && !pub.basic() && dst.subnet.nsg == nil && dst.nicNSG() == nil {
		w.add(step{kind: stepClosedByDefault, pub: pub, subnet: dst.subnet, host: dst.host})
		return Denied
	}
	if !w.applyNSGs(&dst, resources.Inbound, f) {
		return Denied
	}
	w.add(step{kind: stepDeliver, subnet: dst.subnet, host: dst.host, compute: dst.compute})
	back := w.routeLookup(dst.subnet, f, true)
	w.add(step{kind: stepReturnRoute, subnet: dst.subnet, route: back})
	switch back.nextHop {
	case resources.NextHopInternet, hopServiceEndpoint:
		return Allowed
	}
	return AsymmetricRoute
}

// lbBackend finds the load-balancing or inbound NAT rule of the frontend
// the flow arrived at that takes its protocol and port, and the backend it
// sends the flow to (the pool's first member in the file).
func (n *Network) lbBackend(pub *publicEndpoint, f *pointFlow) (*host, *resources.LBRule) {
	lb := pub.lb
	for _, rules := range [][]resources.LBRule{lb.Rules, lb.InboundNATRules} {
		for i := range rules {
			r := &rules[i]
			if !strings.EqualFold(r.Frontend, pub.frontend) || r.FrontendPort != int(f.dport) ||
				!(strings.EqualFold(r.Protocol, "All") || strings.EqualFold(r.Protocol, f.proto.String())) {
				continue
			}
			if h := n.poolMember(lb, r.BackendPool); h != nil {
				return h, r
			}
		}
	}
	return nil, nil
}

// poolMember is the first NIC address in the file that joins the load
// balancer's backend pool.
func (n *Network) poolMember(lb *resources.LoadBalancer, pool string) *host {
	for _, nic := range n.snap.NetworkInterfaces {
		for _, ipc := range nic.IPConfigurations {
			for _, ref := range ipc.LoadBalancerBackendPools {
				if p, ok := ref.ID.Parent(); ok && p.Equal(lb.ID) && strings.EqualFold(ref.ID.Leaf(), pool) {
					if sc := n.subnets[ipc.Subnet.ID.Key()]; sc != nil {
						if u, ok := ipset.U32(ipc.PrivateIP); ok {
							return sc.vnet.hosts[u]
						}
					}
				}
			}
		}
	}
	return nil
}
