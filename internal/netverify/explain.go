package netverify

import (
	"cmp"
	"fmt"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// SNATDefaultOutbound is the SNAT of a hop that leaves through Azure's
// default outbound access.
const SNATDefaultOutbound = "default outbound access"

// HopKind says what a hop is.
type HopKind string

// Hop kinds.
const (
	// HopPlatform: the destination is an Azure platform address, reached
	// without NSGs (unless a rule names an AzurePlatform* tag).
	HopPlatform HopKind = "platform"
	// HopNSG: an NSG rule decided (Rule, Priority, Direction, Action).
	HopNSG HopKind = "nsg"
	// HopRoute: the route a subnet picked (Prefix, NextHopType, NextHopIP,
	// RouteSource; Resource is the route table of a user route).
	HopRoute HopKind = "route"
	// HopReturnRoute: the route a reply takes back to an outside source.
	HopReturnRoute           HopKind = "returnRoute"
	HopDelivery              HopKind = "delivery"
	HopPeering               HopKind = "peering"
	HopServiceEndpoint       HopKind = "serviceEndpoint"
	HopServiceEndpointPolicy HopKind = "serviceEndpointPolicy"
	// HopSNAT: the way out to the internet, and the address it leaves by.
	HopSNAT            HopKind = "snat"
	HopAppliance       HopKind = "appliance"
	HopGateway         HopKind = "gateway"
	HopIngress         HopKind = "ingress"
	HopLoadBalancer    HopKind = "loadBalancer"
	HopFirewall        HopKind = "firewall"
	HopPrivateEndpoint HopKind = "privateEndpoint"
	// HopStorage: a storage account's network rules decided a request to
	// its public endpoint (Rule names the setting, Action Allow or Deny).
	HopStorage HopKind = "storageAccount"
	// HopUnknown is a step the explanation does not know (a bug).
	HopUnknown HopKind = "unknown"
)

// Hop is one element on a flow's path and what it decided.
type Hop struct {
	Kind        HopKind `json:"kind"`
	Resource    string  `json:"resource,omitempty"`
	Position    string  `json:"position,omitempty"`
	Rule        string  `json:"rule,omitempty"`
	Priority    int     `json:"priority,omitempty"`
	Direction   string  `json:"direction,omitempty"`
	Action      string  `json:"action,omitempty"`
	Prefix      string  `json:"prefix,omitempty"`
	NextHopType string  `json:"nextHopType,omitempty"`
	NextHopIP   string  `json:"nextHopIp,omitempty"`
	RouteSource string  `json:"routeSource,omitempty"`
	SNAT        string  `json:"snat,omitempty"`
	CreatedBy   string  `json:"createdBy,omitempty"`
	Detail      string  `json:"detail"`
}

// render turns a group's steps into an explained outcome.
// hops caches rendered hops: the groups of one answer share most steps.
func (n *Network) render(g *group, src, dst *endpoint, q *Query) Outcome {
	o := Outcome{Verdict: g.verdict, Protocol: g.proto.String(),
		Sample: Packet{Protocol: g.proto, Source: ipset.Addr(g.src[0].Lo), Destination: ipset.Addr(g.dst[0].Lo)}}
	if g.proto.hasPorts() {
		o.Sample.SourcePort, o.Sample.DestinationPort = cmp.Or(q.SourcePort, DefaultSourcePort), q.Port
	}
	o.Sources, o.SourceRanges = rangeStrings(g.src, q.MaxRanges)
	o.Destinations, o.DestinationRanges = rangeStrings(g.dst, q.MaxRanges)
	if len(g.steps) > 0 {
		o.Hops = make([]Hop, len(g.steps))
		for i, s := range g.steps {
			o.Hops[i] = n.cachedHop(s)
		}
	}
	if len(o.Hops) > 0 {
		o.Reason = o.Hops[len(o.Hops)-1].Detail
	}
	if g.verdict != Allowed && len(g.steps) > 0 {
		o.Fix = n.fix(g.steps[len(g.steps)-1], g, src, dst, q)
	}
	return o
}

// rangeStrings lists the merged ranges (at most limit of them, 0: all)
// and counts them.
func rangeStrings(rs []ipset.Range, limit int) ([]string, int) {
	merged := rs
	if !sortedDisjoint(rs) {
		merged = ipset.FromRanges(rs).Ranges()
	}
	total := len(merged)
	if limit > 0 && total > limit {
		merged = merged[:limit]
	}
	out := make([]string, len(merged))
	for i, r := range merged {
		out[i] = r.String()
	}
	return out, total
}

// sortedDisjoint reports whether rs is already in set form: ascending,
// neither overlapping nor adjacent (groups usually collect their ranges so).
func sortedDisjoint(rs []ipset.Range) bool {
	for i := 1; i < len(rs); i++ {
		if rs[i-1].Hi == 0xFFFFFFFF || rs[i-1].Hi+1 >= rs[i].Lo {
			return false
		}
	}
	return true
}

// cachedHop is hop(s), rendered once per network: `check` meets the same
// few thousand steps in tens of thousands of answers.
func (n *Network) cachedHop(s step) Hop {
	if h, ok := n.hops.Load(s); ok {
		return h.(Hop)
	}
	h := n.hop(s)
	n.hops.Store(s, h)
	return h
}

func (n *Network) hop(s step) Hop {
	switch s.kind {
	case stepPlatform:
		return Hop{Kind: HopPlatform, Detail: fmt.Sprintf("%s is an Azure platform address (DNS/DHCP/health probes or metadata); NSG rules apply to it only when they name an AzurePlatform* tag",
			ipset.Addr(s.addr))}
	case stepNSG:
		r := s.rule
		h := Hop{Kind: HopNSG, Resource: s.nsg.id.String(), Position: r.pos, Rule: r.name, Priority: r.priority,
			Direction: string(s.dir), Action: map[bool]string{true: "Allow", false: "Deny"}[r.allow], CreatedBy: s.nsg.createdBy}
		kind := "rule"
		if r.isDefault {
			kind = "default rule"
		}
		verb := map[bool]string{true: "allows", false: "denies"}[r.allow]
		h.Detail = fmt.Sprintf("%s %s %s %s (%d, %s): %s from %s to %s port %s", strings.ToLower(string(s.dir)), s.nsg.label,
			kind, r.name, r.priority, verb, r.protoText, r.srcText, r.dstText, r.portText)
		if s.nsg.createdBy != "" {
			h.Detail += " [created by " + s.nsg.createdBy + "]"
		}
		return h
	case stepInsideReply:
		e := s.route
		h := Hop{Kind: HopReturnRoute, Prefix: e.display(), NextHopType: e.nextHop, RouteSource: e.source}
		what := "effective route"
		if e.route != nil {
			h.Resource, h.Position, h.Rule = e.table.ID.String(), e.route.Pos, e.route.ID.Leaf()
			what = "route " + e.table.ID.Leaf() + "/" + e.route.ID.Leaf()
		}
		h.Detail = fmt.Sprintf("reply from subnet %s to the source: %s %s -> %s: the reply does not come back (Azure routes every packet by its own subnet's routes; Azure: \"Virtual network traffic routing\")",
			s.subnet.s.ID.Name(), what, e.display(), e.nextHop)
		return h
	case stepInternetPrivate:
		return Hop{Kind: HopRoute, Prefix: s.route.display(), NextHopType: resources.NextHopInternet,
			Detail: fmt.Sprintf("route %s -> Internet: the destination is a private address, which the internet does not route: Azure drops the traffic (Azure: \"Virtual network traffic routing\")", s.route.display())}
	case stepRoute, stepReturnRoute:
		e := s.route
		h := Hop{Kind: HopRoute, Prefix: e.display(), NextHopType: e.nextHop, RouteSource: e.source}
		if e.hopIP.IsValid() {
			h.NextHopIP = e.hopIP.String()
		}
		what := "effective route"
		if e.pe != nil {
			what = "route of " + e.pe.label
		}
		if e.route != nil {
			h.Resource, h.Position, h.Rule = e.table.ID.String(), e.route.Pos, e.route.ID.Leaf()
			what = "route " + e.table.ID.Leaf() + "/" + e.route.ID.Leaf()
		}
		prefix := e.display()
		target := e.nextHop
		if h.NextHopIP != "" {
			target += " " + h.NextHopIP
		}
		if s.kind == stepReturnRoute {
			h.Kind = HopReturnRoute
			h.Detail = fmt.Sprintf("reply from subnet %s to the source: %s %s -> %s", s.subnet.s.ID.Name(), what, prefix, target)
			if e.nextHop != resources.NextHopInternet && e.nextHop != hopServiceEndpoint {
				h.Detail += ": the reply does not return the way the request came (through the public IP), so it is dropped (asymmetric routing)"
			}
			return h
		}
		h.Detail = fmt.Sprintf("subnet %s: %s %s -> %s (%s)", s.subnet.s.ID.Name(), what, prefix, target, e.source)
		return h
	case stepDeliver:
		what := "the destination address"
		switch {
		case s.compute != nil:
			what = "a node of compute " + s.compute.c.ID.Name()
		case s.host != nil:
			what = s.host.label
		}
		return Hop{Kind: HopDelivery, Detail: fmt.Sprintf("delivered to %s in subnet %s", what, s.subnet.s.ID.Name())}
	case stepNoSubnet:
		return Hop{Kind: HopDelivery, Detail: "the destination is in the VNet's address space but in no subnet: nothing receives it"}
	case stepReserved:
		return Hop{Kind: HopDelivery, Detail: fmt.Sprintf("the destination is one of the five addresses Azure reserves in subnet %s (network, gateway, DNS, broadcast): nothing receives it", s.subnet.s.ID.Name())}
	case stepPeeringNoVnetAccess:
		p := s.route.peer.p
		return Hop{Kind: HopPeering, Resource: p.ID.String(), Position: p.Pos,
			Detail: fmt.Sprintf("peering %s has allowVirtualNetworkAccess=false: VNet %s is not part of the VirtualNetwork tag on this side, so only NSG rules that allow it explicitly let traffic across (Azure: \"Create, change, or delete a virtual network peering\")",
				p.ID.Name(), s.route.peer.remote.v.ID.Name())}
	case stepForwardingBlocked:
		b := s.route.peer.back
		return Hop{Kind: HopPeering, Resource: b.ID.String(), Position: b.Pos,
			Detail: fmt.Sprintf("peering %s has allowForwardedTraffic=false: traffic forwarded by an appliance into VNet %s is dropped", b.ID.Name(), s.route.peer.remote.v.ID.Name())}
	case stepServiceEndpoint:
		return Hop{Kind: HopServiceEndpoint, Prefix: s.route.display(), NextHopType: hopServiceEndpoint,
			Detail: fmt.Sprintf("service endpoint %s on subnet %s: reaches the service over the Azure backbone with the private source address", s.route.service, s.subnet.s.ID.Name())}
	case stepSEPDenied:
		return Hop{Kind: HopServiceEndpointPolicy, Resource: s.sep.ID.String(), Position: s.sep.Pos, Action: "Deny",
			Detail: fmt.Sprintf("service endpoint policies on subnet %s allow only the storage accounts they list; this account is not listed", s.subnet.s.ID.Name())}
	case stepSNATNat:
		return Hop{Kind: HopSNAT, Resource: s.subnet.nat.ID.String(), Position: s.subnet.nat.Pos, SNAT: n.natAddresses(s.subnet.nat),
			Detail: fmt.Sprintf("leaves through NAT gateway %s (source translated to %s)", s.subnet.nat.ID.Name(), n.natAddresses(s.subnet.nat))}
	case stepSNATInstance:
		addr := "its public IP"
		if s.host.publicIP.Address.IsValid() {
			addr = s.host.publicIP.Address.String()
		}
		return Hop{Kind: HopSNAT, Resource: s.host.publicIP.ID.String(), SNAT: addr,
			Detail: fmt.Sprintf("leaves through the instance public IP %s of %s", addr, s.host.label)}
	case stepSNATLoadBalancer:
		lb := s.host.outboundLB
		return Hop{Kind: HopSNAT, Resource: lb.ID.String(), Position: lb.Pos, SNAT: s.host.outboundIPs,
			Detail: fmt.Sprintf("leaves through an outbound rule of load balancer %s (source translated to %s)", lb.ID.Name(), s.host.outboundIPs)}
	case stepSNATCompute:
		aml := s.compute.aml
		return Hop{Kind: HopSNAT, Resource: aml.PublicIP.String(), SNAT: aml.Address.String(), CreatedBy: CreatedByAzureML(s.compute.c),
			Detail: fmt.Sprintf("leaves through public IP %s (%s) and load balancer %s, which Azure ML creates for %s in the VNet's resource group",
				aml.PublicIP.Name(), aml.Address, aml.LoadBalancer.Name(), s.compute.c.ID.Name())}
	case stepSNATDefault:
		return Hop{Kind: HopSNAT, SNAT: SNATDefaultOutbound,
			Detail: fmt.Sprintf("leaves through Azure's default outbound access (implicit, changing IP; retired for new VNets — use a NAT gateway) from subnet %s", s.subnet.s.ID.Name())}
	case stepNoEgress:
		return Hop{Kind: HopSNAT, Resource: s.subnet.s.ID.String(), Position: s.subnet.s.Pos,
			Detail: fmt.Sprintf("subnet %s has no NAT gateway, the source has no public IP, and defaultOutboundAccess is false: there is no way out to the internet (Azure: \"Default outbound access in Azure\")", s.subnet.s.ID.Name())}
	case stepApplianceMissing:
		return Hop{Kind: HopAppliance, NextHopIP: s.route.hopIP.String(),
			Detail: fmt.Sprintf("next hop %s is not the address of any firewall or NIC in the environment: Azure drops the traffic", s.route.hopIP)}
	case stepApplianceNoForwarding:
		return Hop{Kind: HopAppliance, Resource: s.host.id.String(),
			Detail: fmt.Sprintf("next hop %s is %s, which is not a forwarding appliance (enableIPForwarding is false): Azure drops the traffic", s.route.hopIP, s.host.label)}
	case stepNVA:
		return Hop{Kind: HopAppliance, Resource: s.host.id.String(),
			Detail: fmt.Sprintf("forwarded by network virtual appliance %s (its own filtering is not modelled)", s.host.label)}
	case stepFirewall:
		return n.firewallHop(s)
	case stepStorage:
		return storageHop(s)
	case stepFirewallEgress:
		return Hop{Kind: HopSNAT, Resource: s.fw.fw.ID.String(), SNAT: n.firewallPublic(s.fw),
			Detail: fmt.Sprintf("Azure Firewall %s sends it out through its public IP %s", s.fw.fw.ID.Name(), n.firewallPublic(s.fw))}
	case stepFirewallNoEgress:
		return Hop{Kind: HopSNAT, Resource: s.fw.fw.ID.String(), Position: s.fw.fw.Pos,
			Detail: fmt.Sprintf("Azure Firewall %s has no public IP and its subnet no NAT gateway: it cannot reach the internet", s.fw.fw.ID.Name())}
	case stepFirewallSNAT:
		return Hop{Kind: HopSNAT, Resource: s.fw.fw.ID.String(), SNAT: ipset.Addr(s.fw.snatAddr).String(),
			Detail: fmt.Sprintf("Azure Firewall %s translates the source to one of its instance addresses in %s %s (securetrain uses %s): application rules always SNAT, network rules when the destination is outside the firewall's SNAT private ranges; NSGs on the way must admit %s",
				s.fw.fw.ID.Name(), s.fw.subnet.s.ID.Leaf(), s.fw.subnet.set.Format(2), ipset.Addr(s.fw.snatAddr), s.fw.subnet.set.Format(2))}
	case stepFirewallNoSNAT:
		return Hop{Kind: HopSNAT, Resource: s.fw.fw.ID.String(), Position: s.fw.fw.Pos,
			Detail: fmt.Sprintf("the destination is in Azure Firewall %s's SNAT private ranges (%s), so a network rule keeps the private source and the firewall cannot send it to the internet",
				s.fw.fw.ID.Name(), s.fw.snatPrivate.Format(4))}
	case stepGateway:
		return Hop{Kind: HopGateway, NextHopType: resources.NextHopVirtualNetworkGateway,
			Detail: "next hop VirtualNetworkGateway: the traffic leaves to the on-premises side, which securetrain does not model"}
	case stepRouteNone:
		return Hop{Kind: HopRoute, Prefix: s.route.display(), NextHopType: resources.NextHopNone,
			Detail: fmt.Sprintf("route %s -> None: Azure drops the traffic", s.route.display())}
	case stepNoPublicIP:
		if s.compute != nil {
			return Hop{Kind: HopIngress, Resource: s.compute.c.ID.String(), Position: s.compute.c.Pos,
				Detail: fmt.Sprintf("compute %s has enableNodePublicIp=false: no public IP or load balancer exists, inbound traffic from outside the VNet cannot reach it (Azure ML's own traffic arrives over a private link service)", s.compute.c.ID.Name())}
		}
		return Hop{Kind: HopIngress, Detail: "the destination is not reachable from outside the VNets: no public IP of the environment maps to it"}
	case stepComputeIngress:
		aml := s.compute.aml
		return Hop{Kind: HopLoadBalancer, Resource: aml.LoadBalancer.String(), CreatedBy: CreatedByAzureML(s.compute.c),
			Detail: fmt.Sprintf("arrives at public IP %s (%s) and load balancer %s, which Azure ML creates for %s and which forward it to the node",
				aml.PublicIP.Name(), aml.Address, aml.LoadBalancer.Name(), s.compute.c.ID.Name())}
	case stepPublicIngress:
		h := Hop{Kind: HopIngress, Detail: "arrives at public IP of " + s.pub.label}
		if s.pub.pip != nil {
			h.Resource, h.Position = s.pub.pip.ID.String(), s.pub.pip.Pos
			h.Detail = fmt.Sprintf("arrives at public IP %s (%s) of %s", s.pub.pip.Address, s.pub.pip.ID.Name(), s.pub.label)
		}
		return h
	case stepNoBackend:
		return Hop{Kind: HopLoadBalancer, Detail: fmt.Sprintf("%s has no rule forwarding this protocol and port to a backend in the environment", s.pub.label)}
	case stepDNATNotModelled:
		return Hop{Kind: HopFirewall, Resource: s.fw.fw.ID.String(), Position: s.fw.fw.Pos,
			Detail: fmt.Sprintf("Azure Firewall %s would translate this flow by its DNAT (NAT) rules, which securetrain does not model yet: it cannot say whether or where the firewall forwards it", s.fw.fw.ID.Name())}
	case stepLBForward:
		r := s.lbRule
		port := fmt.Sprintf("port %d", r.BackendPort)
		if r.BackendPort == 0 {
			port = "the same port"
		}
		return Hop{Kind: HopLoadBalancer, Resource: s.pub.lb.ID.String(), Position: s.pub.lb.Pos, Rule: r.Name,
			Detail: fmt.Sprintf("load balancer %s rule %s translates frontend port %d to %s on %s (%s, %s): NSGs see the backend's address and port",
				s.pub.lb.ID.Name(), r.Name, r.FrontendPort, ipset.Addr(s.host.addr), s.host.label, port, r.Protocol)}
	case stepClosedByDefault:
		return Hop{Kind: HopIngress, Resource: s.pub.pip.ID.String(), Position: s.pub.pip.Pos,
			Detail: fmt.Sprintf("public IP %s of %s is Standard SKU, closed to inbound traffic unless a network security group allows it, and no NSG applies to subnet %s or the network interface (Azure: \"Public IP addresses\")",
				s.pub.pip.ID.Name(), s.pub.label, s.subnet.s.ID.Name())}
	case stepBasicSKU:
		return Hop{Kind: HopIngress, Resource: s.pub.pip.ID.String(), Position: s.pub.pip.Pos,
			Detail: fmt.Sprintf("warning: public IP %s of %s is Basic SKU, open to inbound traffic where no NSG applies; Basic SKU public IPs are retired: upgrade to Standard, which is closed unless an NSG allows (Azure: \"Public IP addresses\")",
				s.pub.pip.ID.Name(), s.pub.label)}
	case stepPEPoliciesOff:
		return Hop{Kind: HopPrivateEndpoint, Resource: s.host.id.String(),
			Detail: fmt.Sprintf("delivered to %s; subnet %s has privateEndpointNetworkPolicies %q, so NSGs do not apply to private endpoints there", s.host.label, s.subnet.s.ID.Name(), orDefault(s.subnet.s.PrivateEndpointNetworkPolicies, "Disabled"))}
	case stepLoop:
		return Hop{Kind: HopRoute, Detail: fmt.Sprintf("more than %d appliance hops: routing loop", maxApplianceHops)}
	}
	return Hop{Kind: HopUnknown}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (n *Network) firewallHop(s step) Hop {
	fw := s.fw.fw
	h := Hop{Kind: HopFirewall, Resource: fw.ID.String(), Position: fw.Pos}
	if s.fwRule == nil {
		h.Action = "Deny"
		h.Detail = fmt.Sprintf("Azure Firewall %s: no network or application rule matches, denied by default", fw.ID.Name())
		return h
	}
	c := s.fwRule.coll
	h.Rule, h.Priority, h.Action, h.Position = c.c.Name+"/"+s.fwRule.r.Name, c.c.Priority, map[bool]string{true: "Allow", false: "Deny"}[c.allow], c.c.Pos
	h.Detail = fmt.Sprintf("Azure Firewall %s: %s rule %s in collection %s (priority %d, %s) %s it",
		fw.ID.Name(), strings.ToLower(string(c.c.Kind)), s.fwRule.r.Name, c.c.Name, c.c.Priority, c.origin(s.fw), map[bool]string{true: "allows", false: "denies"}[c.allow])
	return h
}

func (n *Network) natAddresses(g *resources.NATGateway) string {
	var out []string
	for _, r := range g.PublicIPAddresses {
		if p := n.snap.PublicIPAddress(r.ID); p != nil && p.Address.IsValid() {
			out = append(out, p.Address.String())
		} else {
			out = append(out, r.ID.Leaf())
		}
	}
	if len(out) == 0 {
		return "its public IP prefix"
	}
	return strings.Join(out, ",")
}

// firewallPublic names the firewall's first public IP: its address when
// known, else its name.
func (n *Network) firewallPublic(fc *firewallCtx) string {
	if len(fc.fw.PublicIPs) == 0 {
		return "(none)"
	}
	r := fc.fw.PublicIPs[0]
	if p := n.snap.PublicIPAddress(r.ID); p != nil && p.Address.IsValid() {
		return p.Address.String()
	}
	return r.ID.Leaf()
}

// fix suggests the change that would let the flow through.
func (n *Network) fix(s step, g *group, src, dst *endpoint, q *Query) string {
	port := fmt.Sprint(q.Port)
	for _, t := range g.steps {
		if t.kind == stepLBForward && t.lbRule.BackendPort != 0 {
			port = fmt.Sprint(t.lbRule.BackendPort) // NSGs see the backend's port
		}
	}
	if !g.proto.hasPorts() {
		port = "*"
	}
	srcText, dstText := endpointText(src, g.src), endpointText(dst, g.dst)
	switch s.kind {
	case stepNSG:
		r := s.rule
		if s.nsg.createdBy != "" {
			return fmt.Sprintf("the NSG is created by %s and must not be edited; allow the flow in the subnet NSG instead", s.nsg.createdBy)
		}
		// Where the blocked part is what the denying rule names (a tag, a
		// CIDR), name it that way rather than by its ranges.
		if r.srcText != "*" && r.src.Covers(ipset.FromRanges(g.src)) && !ipset.FromRanges(g.src).Equal(src.set) {
			srcText = r.srcText
		}
		if r.dstText != "*" && r.dst.Covers(ipset.FromRanges(g.dst)) && !ipset.FromRanges(g.dst).Equal(dst.set) {
			dstText = r.dstText
		}
		return fmt.Sprintf("in %s add an %s rule allowing %s %s -> %s port %s with a priority number below %d (it must be matched before %s)",
			s.nsg.label, strings.ToLower(string(s.dir)), g.proto, srcText, dstText, port, r.priority, r.name)
	case stepFirewall:
		if s.fwRule != nil {
			return firewallRuleFix(s.fw, s.fwRule)
		}
		if dst.name != "" && g.proto == TCP && (q.Port == 80 || q.Port == 443) {
			scheme := map[uint16]string{80: "Http", 443: "Https"}[q.Port]
			return fmt.Sprintf("add an application rule for %s (%s:%d) from %s, or a network rule %s %s port %s (Azure: \"Configure inbound and outbound network traffic\")",
				dst.name, scheme, q.Port, srcText, g.proto, dstText, port)
		}
		return fmt.Sprintf("add a network rule allowing %s %s -> %s port %s on Azure Firewall %s (ports other than 80/443 need network rules; Azure: \"Configure inbound and outbound network traffic\")",
			g.proto, srcText, dstText, port, s.fw.fw.ID.Name())
	case stepNoEgress:
		return fmt.Sprintf("attach a NAT gateway to subnet %s, or route 0.0.0.0/0 to a firewall (Azure: \"Default outbound access in Azure\")", s.subnet.s.ID.Name())
	case stepFirewallNoEgress:
		return "give the firewall a public IP, or attach a NAT gateway to AzureFirewallSubnet"
	case stepFirewallNoSNAT:
		return "remove the destination from the firewall's SNAT private ranges (Network.SNAT.PrivateRanges, or the policy's snat.privateRanges)"
	case stepReturnRoute:
		tag := srcText
		if src.tag == "" {
			tag = "AzureMachineLearning"
		}
		return fmt.Sprintf("add a route %s -> Internet to the route table of subnet %s (e.g. az network route-table route create --address-prefix %s --next-hop-type Internet), or use a compute without public IP (Azure: \"Configure inbound and outbound network traffic\", compute with a public IP)",
			tag, s.subnet.s.ID.Name(), tag)
	case stepRouteNone:
		return "remove the route to None, or add a more specific route for the destination"
	case stepInsideReply:
		return fmt.Sprintf("route the source's addresses back inside the VNet from subnet %s (remove or narrow the route %s -> %s)", s.subnet.s.ID.Name(), s.route.display(), s.route.nextHop)
	case stepInternetPrivate:
		return "remove the route to Internet for the private destination, or add a more specific route that keeps it inside the VNet"
	case stepApplianceMissing, stepApplianceNoForwarding:
		return "point the route at the private IP of the firewall or of a NIC with IP forwarding enabled"
	case stepStorage:
		return storageFix(s)
	case stepSEPDenied:
		return "add the storage account to a service endpoint policy definition on the subnet (Azure: \"Azure Machine Learning data exfiltration prevention\")"
	case stepClosedByDefault:
		return fmt.Sprintf("associate an NSG with subnet %s or the network interface, with an inbound rule allowing %s %s -> %s port %s (Azure: \"Public IP addresses\")",
			s.subnet.s.ID.Name(), g.proto, srcText, ipset.Addr(s.host.addr), port)
	case stepForwardingBlocked:
		return fmt.Sprintf("set allowForwardedTraffic to true on peering %s", s.route.peer.back.ID.Name())
	case stepNoPublicIP:
		return "reach it from inside the VNet (or a peered VNet), or give it a public IP"
	case stepDNATNotModelled:
		return "check the firewall's DNAT rule and the NSGs of the translated backend by hand; securetrain does not model DNAT yet"
	case stepNoSubnet, stepReserved:
		return "send traffic to a usable address inside a subnet"
	case stepGateway:
		return "route the destination inside Azure, or verify the on-premises path separately"
	}
	return ""
}

// firewallRuleFix says how to get past the firewall rule that denied a
// flow. Only a rule processed earlier can precede it: a parent policy's
// rules come before all of the child's, and network rules before
// application rules whatever their priorities (Azure's "Azure Firewall
// rule processing logic").
func firewallRuleFix(fc *firewallCtx, r *fwRule) string {
	col := r.coll
	kind := strings.ToLower(string(col.c.Kind))
	switch {
	case col.inherited(fc):
		return fmt.Sprintf("rule %s (collection %s) comes from parent policy %s, whose rules are processed before every rule of policy %s: change or remove it in %s; no rule of %s can precede it",
			r.r.Name, col.c.Name, col.policy.ID.Name(), fc.policy.ID.Name(), col.policy.ID.Name(), fc.policy.ID.Name())
	case col.policy != nil:
		return fmt.Sprintf("change or remove rule %s, or add an allowing %s rule in group %s in a collection with a priority number below %d, or in a group of policy %s with a priority number below %d",
			r.r.Name, kind, col.c.Group, col.c.Priority, col.policy.ID.Name(), col.c.GroupPriority)
	}
	return fmt.Sprintf("change or remove rule %s, or add an allowing %s rule in a %s rule collection with a priority number below %d",
		r.r.Name, kind, kind, col.c.Priority)
}

// endpointText names the part of an endpoint an outcome covers: the tag or
// name when the outcome covers it all, else the ranges.
func endpointText(ep *endpoint, rs []ipset.Range) string {
	part := ipset.FromRanges(rs)
	if part.Equal(ep.set) {
		switch {
		case ep.tag != "":
			return ep.tag
		case ep.name != "":
			return ep.name
		case ep.compute != nil:
			return "subnet " + ep.compute.subnet.s.ID.Name() + " (" + part.Format(3) + ")"
		case ep.info.Kind == EndpointSubnet:
			return "subnet " + ep.subnet.s.ID.Name() + " (" + part.Format(3) + ")"
		}
	}
	return part.Format(3)
}
