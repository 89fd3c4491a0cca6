package netverify

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// oracle is a second evaluator of point flows, written from the documented
// semantics (docs/semantics.md; spec §5, §8) apart from walk.go and
// routes.go, so that a wrong rule in the walk is caught (issue 11). It
// shares with the walk only what compiling resolved — the addresses an NSG
// or firewall rule names, the subnets' address sets, which address is
// whose, the service tags a service endpoint routes — and decides by
// itself everything on the path: which NSGs apply and in which order,
// which rule of an NSG decides (lowest priority number among the matching
// rules), which route wins (built from the snapshot, longest prefix then
// rank), peerings, private endpoint routes, load balancer translation, the
// SKU of public IPs, the way out to the internet and the reply's route.
// Its trace names the deciding elements in the order the walk meets them.
type oracle struct {
	n          *Network
	dstCompute *computeCtx
	routes     map[*subnetCtx][]oracleRoute
	trace      []string
}

func newOracle(n *Network) *oracle {
	return &oracle{n: n, routes: map[*subnetCtx][]oracleRoute{}}
}

// oracleRoute is one candidate route of a subnet.
type oracleRoute struct {
	lo, hi  uint32
	bits    int
	rank    int // on an exact tie the higher wins, then the first declared
	nextHop string
	udr     *resources.Route
	hopIP   netip.Addr
	remote  *vnetCtx           // peering and endpoint routes: the VNet they lead to
	back    *resources.Peering // the remote VNet's peering back
	pe      *host
	service string
}

func (r *oracleRoute) String() string {
	id := "system"
	if r.udr != nil {
		id = r.udr.ID.String()
	}
	extra := r.service
	switch {
	case r.pe != nil:
		extra = ipset.Addr(r.pe.addr).String()
	case r.remote != nil:
		extra = r.remote.v.ID.String()
	}
	return fmt.Sprintf("%s %s %v %s", r.nextHop, id, r.hopIP, extra)
}

// traceOf projects the walk's steps onto the oracle's trace.
func traceOf(steps []step) []string {
	var out []string
	for _, s := range steps {
		switch s.kind {
		case stepNSG:
			out = append(out, nsgTrace(s.nsg, s.rule, s.dir))
		case stepRoute, stepReturnRoute, stepInsideReply:
			e := s.route
			r := oracleRoute{nextHop: e.nextHop, udr: e.route, hopIP: e.hopIP, pe: e.pe, service: e.service}
			if e.peer != nil {
				r.remote = e.peer.remote
			}
			out = append(out, map[bool]string{true: "reply ", false: "route "}[s.kind != stepRoute]+s.subnet.s.ID.String()+" "+r.String())
		case stepSNATNat, stepSNATInstance, stepSNATLoadBalancer, stepSNATCompute, stepSNATDefault, stepNoEgress,
			stepFirewallEgress, stepFirewallNoEgress, stepFirewallNoSNAT:
			out = append(out, fmt.Sprintf("snat %d", s.kind))
		case stepFirewall:
			out = append(out, fmt.Sprintf("firewall %s %p", s.fw.fw.ID, s.fwRule))
		}
	}
	return out
}

func nsgTrace(c *nsgCtx, r *nsgRule, d resources.Direction) string {
	return fmt.Sprintf("nsg %p %s %s", c, d, r.name)
}

func (o *oracle) note(format string, args ...any) {
	o.trace = append(o.trace, fmt.Sprintf(format, args...))
}

// eval answers one flow: from inside when its source is in a subnet.
func (o *oracle) eval(f pointFlow, dstCompute *computeCtx) Verdict {
	o.trace, o.dstCompute = o.trace[:0], dstCompute
	for _, vc := range o.n.vnets {
		for _, sc := range vc.subnets {
			if sc.set.Contains(f.src) {
				return o.fromInside(f, sc, vc.hosts[f.src], nil)
			}
		}
	}
	return o.fromOutside(f)
}

// firstRule is the NSG's rule of lowest priority number that matches;
// platform traffic sees only rules that name an AzurePlatform* tag.
func firstRule(c *nsgCtx, d resources.Direction, f pointFlow, platformOnly bool) *nsgRule {
	var best *nsgRule
	for _, r := range c.dir(d).rules {
		if (!platformOnly || r.platform) && r.matches(&f) && (best == nil || r.priority < best.priority) {
			best = r
		}
	}
	return best
}

// nsgsAllow applies the NSGs at a NIC: inbound the subnet's then the NIC's,
// outbound the NIC's then the subnet's; both must allow.
func (o *oracle) nsgsAllow(subnetNSG, nicNSG *nsgCtx, d resources.Direction, f pointFlow, platformOnly bool) bool {
	order := []*nsgCtx{subnetNSG, nicNSG}
	if d == resources.Outbound {
		order = []*nsgCtx{nicNSG, subnetNSG}
	}
	for _, c := range order {
		if c == nil {
			continue
		}
		r := firstRule(c, d, f, platformOnly)
		if r == nil {
			continue // platform traffic no rule names
		}
		o.note("%s", nsgTrace(c, r, d))
		if !r.allow {
			return false
		}
	}
	return true
}

func nicNSGOf(h *host, cc *computeCtx) *nsgCtx {
	if cc != nil {
		return cc.nicNSG
	}
	if h != nil {
		return h.nicNSG
	}
	return nil
}

func (o *oracle) fromInside(f pointFlow, sc *subnetCtx, h *host, cc *computeCtx) Verdict {
	if f.dst == mustU32("168.63.129.16") || f.dst == mustU32("169.254.169.254") {
		if !o.nsgsAllow(sc.nsg, nicNSGOf(h, cc), resources.Outbound, f, true) {
			return Denied
		}
		return Allowed
	}
	if !o.nsgsAllow(sc.nsg, nicNSGOf(h, cc), resources.Outbound, f, false) {
		return Denied
	}
	return o.route(f, sc, h, cc, 0)
}

func (o *oracle) route(f pointFlow, sc *subnetCtx, h *host, cc *computeCtx, appliances int) Verdict {
	if appliances > 4 {
		return NoRoute
	}
	r := o.pick(sc, f.dst)
	o.note("route %s %s", sc.s.ID, r)
	switch r.nextHop {
	case "VnetLocal":
		return o.reply(f, sc.vnet, appliances, o.deliver(f, sc.vnet))
	case "VNetPeering", "InterfaceEndpoint":
		if r.remote == sc.vnet {
			return o.reply(f, sc.vnet, appliances, o.deliver(f, sc.vnet))
		}
		if appliances > 0 && !r.back.AllowForwardedTraffic {
			return Denied
		}
		return o.reply(f, r.remote, appliances, o.deliver(f, r.remote))
	case "VirtualNetworkServiceEndpoint":
		if len(sc.seps) > 0 && strings.EqualFold(r.service, "Microsoft.Storage") && f.name != "" && !o.policyLists(sc, f.name) {
			return Denied
		}
		return Allowed
	case "Internet":
		if nonPublic.Contains(f.dst) {
			return NoRoute
		}
		return o.egress(sc, h, cc)
	case "VirtualAppliance":
		return o.appliance(f, sc, r.hopIP, appliances)
	}
	return NoRoute // None, VirtualNetworkGateway
}

// pick is longest-prefix match over the subnet's routes, then rank, then
// the first declared.
func (o *oracle) pick(sc *subnetCtx, u uint32) *oracleRoute {
	rs, ok := o.routes[sc]
	if !ok {
		rs = o.buildRoutes(sc)
		o.routes[sc] = rs
	}
	var best *oracleRoute
	for i := range rs {
		r := &rs[i]
		if u >= r.lo && u <= r.hi && (best == nil || r.bits > best.bits || (r.bits == best.bits && r.rank > best.rank)) {
			best = r
		}
	}
	return best
}

// buildRoutes lists a subnet's routes from the snapshot: its VNet's space
// (VnetLocal), 0.0.0.0/0 (Internet), the private ranges outside the
// VNet's space (None), connected peerings, service endpoints, the
// subnet's UDRs, and every private endpoint of the VNet and its connected
// peers (/32, InterfaceEndpoint) that no UDR overrides.
func (o *oracle) buildRoutes(sc *subnetCtx) []oracleRoute {
	const (
		system = iota
		tagAzureCloud
		tagAzureCloudRegion
		tagTop
		tagRegion
		userPrefix
		endpoint
	)
	var rs []oracleRoute
	add := func(p netip.Prefix, r oracleRoute) {
		lo, hi := prefixBounds(p)
		r.lo, r.hi, r.bits = lo, hi, p.Bits()
		rs = append(rs, r)
	}
	vc := sc.vnet
	for _, p := range vc.v.AddressSpace {
		add(p, oracleRoute{nextHop: "VnetLocal"})
	}
	add(netip.MustParsePrefix("0.0.0.0/0"), oracleRoute{nextHop: "Internet"})
	for _, c := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"} {
		p := netip.MustParsePrefix(c)
		if lo, hi := prefixBounds(p); !coveredBy(lo, hi, vc.v.AddressSpace) {
			add(p, oracleRoute{nextHop: "None"})
		}
	}
	peers := o.connectedPeers(vc)
	for _, pr := range peers {
		for _, p := range pr.remote.v.AddressSpace {
			add(p, oracleRoute{nextHop: "VNetPeering", remote: pr.remote, back: pr.back})
		}
	}
	for _, se := range sc.s.ServiceEndpoints {
		for _, t := range o.n.serviceEndpointTags(se, vc.v.Location) {
			for _, p := range t.Prefixes {
				if p.Addr().Is4() {
					add(p, oracleRoute{nextHop: "VirtualNetworkServiceEndpoint", service: se.Service})
				}
			}
		}
	}
	var udrs []oracleRoute
	if table := o.n.snap.RouteTable(sc.s.RouteTable.ID); table != nil {
		for _, r := range table.Routes {
			rank := userPrefix
			var ps []netip.Prefix
			if p, err := netip.ParsePrefix(r.AddressPrefix); err == nil {
				ps = []netip.Prefix{p.Masked()}
			} else if t, ok := o.n.tags.Lookup(r.AddressPrefix); ok {
				ps = t.Prefixes
				name := strings.ToLower(r.AddressPrefix)
				switch {
				case name == "azurecloud":
					rank = tagAzureCloud
				case strings.HasPrefix(name, "azurecloud."):
					rank = tagAzureCloudRegion
				case strings.Contains(name, "."):
					rank = tagRegion
				default:
					rank = tagTop
				}
			}
			for _, p := range ps {
				if p.Addr().Is4() {
					n := len(rs)
					add(p, oracleRoute{nextHop: r.NextHopType, udr: r, hopIP: r.NextHopIP, rank: rank})
					udrs = append(udrs, rs[n])
				}
			}
		}
	}
	for _, target := range append([]oraclePeer{{remote: vc}}, peers...) {
		for u, h := range target.remote.hosts {
			if h.kind != hostPrivateEndpoint || o.udrOverrides(h, udrs) {
				continue
			}
			add(netip.PrefixFrom(ipset.Addr(u), 32), oracleRoute{nextHop: "InterfaceEndpoint", remote: target.remote, back: target.back, pe: h, rank: endpoint})
		}
	}
	return rs
}

// udrOverrides: with route-table network policies on the endpoint's
// subnet, a UDR as long as the endpoint VNet's prefix or longer covering
// it replaces the endpoint's /32 ("Manage network policies for private
// endpoints").
func (o *oracle) udrOverrides(pe *host, udrs []oracleRoute) bool {
	if p := pe.subnet.s.PrivateEndpointNetworkPolicies; p != "Enabled" && p != "RouteTableEnabled" {
		return false
	}
	for _, space := range pe.subnet.vnet.v.AddressSpace {
		if lo, hi := prefixBounds(space); pe.addr >= lo && pe.addr <= hi {
			for _, r := range udrs {
				if pe.addr >= r.lo && pe.addr <= r.hi && r.bits >= space.Bits() {
					return true
				}
			}
		}
	}
	return false
}

type oraclePeer struct {
	remote *vnetCtx
	back   *resources.Peering
}

// connectedPeers are the VNets of the file that peer with vc in both
// directions, neither side disconnected.
func (o *oracle) connectedPeers(vc *vnetCtx) []oraclePeer {
	var out []oraclePeer
	for _, p := range vc.v.Peerings {
		if p.State == resources.PeeringDisconnected {
			continue
		}
		for _, remote := range o.n.vnets {
			if !remote.v.ID.Equal(p.RemoteVirtualNetwork.ID) {
				continue
			}
			for _, back := range remote.v.Peerings {
				if back.RemoteVirtualNetwork.ID.Equal(vc.v.ID) && back.State != resources.PeeringDisconnected {
					out = append(out, oraclePeer{remote: remote, back: back})
				}
			}
		}
	}
	return out
}

func prefixBounds(p netip.Prefix) (uint32, uint32) {
	lo, _ := ipset.U32(p.Masked().Addr())
	return lo, lo | uint32(math.MaxUint32>>p.Bits())
}

func coveredBy(lo, hi uint32, space []netip.Prefix) bool {
	for _, p := range space {
		if l, h := prefixBounds(p); l <= lo && hi <= h {
			return true
		}
	}
	return false
}

// policyLists: a storage account is reachable through service endpoint
// policies when a Microsoft.Storage definition names it, its resource
// group or its subscription.
func (o *oracle) policyLists(sc *subnetCtx, name string) bool {
	account := strings.ToLower(strings.SplitN(name, ".", 2)[0])
	id := ""
	for _, sa := range o.n.snap.StorageAccounts {
		if strings.EqualFold(sa.ID.Leaf(), account) {
			id = sa.ID.Key()
		}
	}
	for _, p := range sc.seps {
		for _, d := range p.Definitions {
			if !strings.EqualFold(d.Service, "Microsoft.Storage") {
				continue
			}
			for _, res := range d.ServiceResources {
				res = strings.ToLower(strings.TrimSuffix(res, "/"))
				if (id == "" && strings.HasSuffix(res, "/storageaccounts/"+account)) || (id != "" && (res == id || strings.HasPrefix(id, res+"/"))) {
					return true
				}
			}
		}
	}
	return false
}

func (o *oracle) deliver(f pointFlow, vc *vnetCtx) Verdict {
	var sc *subnetCtx
	for _, s := range vc.subnets {
		if s.set.Contains(f.dst) {
			sc = s
		}
	}
	if sc == nil || !sc.usable.Contains(f.dst) {
		return NoRoute
	}
	h := vc.hosts[f.dst]
	var cc *computeCtx
	if h == nil && o.dstCompute != nil && o.dstCompute.subnet == sc && o.dstCompute.nodes.Contains(f.dst) {
		cc = o.dstCompute
	}
	if h != nil && h.kind == hostPrivateEndpoint {
		if p := sc.s.PrivateEndpointNetworkPolicies; p != "Enabled" && p != "NetworkSecurityGroupEnabled" {
			return Allowed
		}
	}
	if !o.nsgsAllow(sc.nsg, nicNSGOf(h, cc), resources.Inbound, f, false) {
		return Denied
	}
	return Allowed
}

// reply: a flow delivered inside vc without an appliance comes back by
// the destination subnet's route to its source: the VNet's own (for a
// source in its space) or a peering's.
func (o *oracle) reply(f pointFlow, vc *vnetCtx, appliances int, v Verdict) Verdict {
	if v != Allowed || appliances > 0 {
		return v
	}
	if h := vc.hosts[f.dst]; h != nil && h.kind == hostPrivateEndpoint {
		return Allowed
	}
	var sc *subnetCtx
	for _, s := range vc.subnets {
		if s.set.Contains(f.dst) {
			sc = s
		}
	}
	r := o.pick(sc, f.src)
	switch {
	case r.nextHop == "VnetLocal" && vc.space.Contains(f.src), r.nextHop == "VNetPeering":
		return Allowed
	}
	o.note("reply %s %s", sc.s.ID, r)
	if r.nextHop == "VirtualAppliance" {
		return AsymmetricRoute
	}
	return NoRoute
}

// egress: NAT gateway, then the source's public IP, then a load balancer
// outbound rule, then the public IP Azure ML creates for a compute, then
// default outbound access.
func (o *oracle) egress(sc *subnetCtx, h *host, cc *computeCtx) Verdict {
	var kind stepKind
	switch {
	case sc.s.NATGateway.IsSet() && o.n.snap.NATGateway(sc.s.NATGateway.ID) != nil:
		kind = stepSNATNat
	case h != nil && h.publicIP != nil:
		kind = stepSNATInstance
	case h != nil && h.outboundLB != nil:
		kind = stepSNATLoadBalancer
	case cc != nil && cc.c.EnableNodePublicIP && (cc.c.ComputeType == resources.ComputeAml || cc.c.ComputeType == resources.ComputeInstance):
		kind = stepSNATCompute
	case sc.s.DefaultOutboundAccess == nil || *sc.s.DefaultOutboundAccess:
		kind = stepSNATDefault
	default:
		o.note("snat %d", stepNoEgress)
		return NoOutboundConnectivity
	}
	o.note("snat %d", kind)
	return Allowed
}

func (o *oracle) appliance(f pointFlow, sc *subnetCtx, ip netip.Addr, appliances int) Verdict {
	u, _ := ipset.U32(ip)
	h := sc.vnet.hosts[u]
	for _, pr := range o.connectedPeers(sc.vnet) {
		if h == nil {
			h = pr.remote.hosts[u]
		}
	}
	switch {
	case h != nil && h.kind == hostFirewall:
		fc := h.fw
		b := wholeBox()
		v := fc.evaluate(&f, &b, true)
		o.note("firewall %s %p", fc.fw.ID, v.rule)
		if !v.allow {
			return Denied
		}
		return o.afterFirewall(f, fc, fc.translates(v.kind, f.dst), appliances)
	case h != nil && h.kind == hostNIC && h.forwards:
		return o.route(f, h.subnet, h, nil, appliances+1)
	}
	return NoRoute
}

// afterFirewall: into the VNets by the firewall subnet's routes (from the
// firewall's address when it translates), or out by its public IP.
func (o *oracle) afterFirewall(f pointFlow, fc *firewallCtx, snat bool, appliances int) Verdict {
	r := o.pick(fc.subnet, f.dst)
	if r.nextHop != "Internet" {
		if snat {
			f.src = fc.snatAddr
		}
		return o.route(f, fc.subnet, nil, nil, appliances+1)
	}
	o.note("route %s %s", fc.subnet.s.ID, r)
	switch {
	case !snat:
		o.note("snat %d", stepFirewallNoSNAT)
		return NoOutboundConnectivity
	case fc.subnet.s.NATGateway.IsSet() && o.n.snap.NATGateway(fc.subnet.s.NATGateway.ID) != nil:
		o.note("snat %d", stepSNATNat)
		return Allowed
	case len(fc.fw.PublicIPs) == 0:
		o.note("snat %d", stepFirewallNoEgress)
		return NoOutboundConnectivity
	}
	o.note("snat %d", stepFirewallEgress)
	return Allowed
}

// fromOutside: a flow from outside the VNets arrives only at a public IP
// of the file, or at a public-IP compute through what Azure ML creates.
func (o *oracle) fromOutside(f pointFlow) Verdict {
	if pub := o.n.publicEndpoints[f.dst]; pub != nil {
		basic := (pub.pip != nil && pub.pip.SKU == "Basic") || (pub.lb != nil && pub.lb.SKU == "Basic")
		switch {
		case pub.nic != nil:
			f.dst = pub.nic.addr
			return o.arrive(f, pub.nic.subnet, pub.nic, nil, !basic)
		case pub.lb != nil:
			for _, rules := range [][]resources.LBRule{pub.lb.Rules, pub.lb.InboundNATRules} {
				for _, r := range rules {
					if !strings.EqualFold(r.Frontend, pub.frontend) || r.FrontendPort != int(f.dport) ||
						(!strings.EqualFold(r.Protocol, "All") && !strings.EqualFold(r.Protocol, f.proto.String())) {
						continue
					}
					if h := o.member(pub.lb, r.BackendPool); h != nil {
						f.dst = h.addr
						if r.BackendPort != 0 && (f.proto == TCP || f.proto == UDP) {
							f.dport = uint16(r.BackendPort)
						}
						return o.arrive(f, h.subnet, h, nil, !basic)
					}
				}
			}
		}
		return NoRoute
	}
	if cc := o.dstCompute; cc != nil && cc.nodes.Contains(f.dst) && cc.nicNSG != nil {
		return o.arrive(f, cc.subnet, nil, cc, false)
	}
	return NoRoute
}

func (o *oracle) member(lb *resources.LoadBalancer, pool string) *host {
	for _, nic := range o.n.snap.NetworkInterfaces {
		for _, ipc := range nic.IPConfigurations {
			if slices.ContainsFunc(ipc.LoadBalancerBackendPools, func(ref resources.Ref) bool {
				p, ok := ref.ID.Parent()
				return ok && p.Equal(lb.ID) && strings.EqualFold(ref.ID.Leaf(), pool)
			}) {
				if sc := o.n.subnets[ipc.Subnet.ID.Key()]; sc != nil {
					u, _ := ipset.U32(ipc.PrivateIP)
					return sc.vnet.hosts[u]
				}
			}
		}
	}
	return nil
}

// arrive: a Standard public IP admits nothing without an NSG; the NSGs
// decide; the reply must leave by the Internet route it came by.
func (o *oracle) arrive(f pointFlow, sc *subnetCtx, h *host, cc *computeCtx, standard bool) Verdict {
	nic := nicNSGOf(h, cc)
	if standard && sc.nsg == nil && nic == nil {
		return Denied
	}
	if !o.nsgsAllow(sc.nsg, nic, resources.Inbound, f, false) {
		return Denied
	}
	r := o.pick(sc, f.src)
	o.note("reply %s %s", sc.s.ID, r)
	if r.nextHop == "Internet" || r.nextHop == "VirtualNetworkServiceEndpoint" {
		return Allowed
	}
	return AsymmetricRoute
}
