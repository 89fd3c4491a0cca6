package resources

// Decoders of Azure DNS Private Resolver resources: resolvers with their
// inbound and outbound endpoints, forwarding rulesets with their rules and
// virtual network links; and the checks that need a parent with all its
// children.

import (
	"net/netip"
	"slices"
)

// Azure's limits on the lists these resources hold.
const (
	maxInboundConfigs = 1
	maxTargetServers  = 6
)

func decodeDNSResolver(r *res) *DNSResolver {
	p := r.props
	p.ignore("dnsResolverState", "resourceGuid", "provisioningState")
	p.required("virtualNetwork")
	return &DNSResolver{Meta: r.meta(), VirtualNetwork: p.ref("virtualNetwork", TypeVirtualNetwork)}
}

func decodeInboundEndpoint(r *res) *DNSResolverInboundEndpoint {
	p := r.props
	p.ignore("resourceGuid", "provisioningState")
	ep := &DNSResolverInboundEndpoint{Meta: r.meta()}
	for i, c := range p.itemsUpTo("ipConfigurations", maxInboundConfigs) {
		c.required("subnet")
		subnet, addr := c.ref("subnet", TypeSubnet), c.ipv4("privateIpAddress", false)
		// A written address is used whatever the method: exports of
		// Dynamic endpoints carry the one Azure assigned.
		c.enum("privateIpAllocationMethod", false, "Static", "Dynamic")
		if i == 0 {
			ep.Subnet, ep.PrivateIP = subnet, addr
		}
	}
	return ep
}

func decodeOutboundEndpoint(r *res) *DNSResolverOutboundEndpoint {
	p := r.props
	p.ignore("resourceGuid", "provisioningState")
	p.required("subnet")
	return &DNSResolverOutboundEndpoint{Meta: r.meta(), Subnet: p.ref("subnet", TypeSubnet)}
}

func decodeForwardingRuleset(r *res) *DNSForwardingRuleset {
	p := r.props
	p.ignore("resourceGuid", "provisioningState")
	p.required("dnsResolverOutboundEndpoints")
	return &DNSForwardingRuleset{Meta: r.meta(), OutboundEndpoints: p.refs("dnsResolverOutboundEndpoints", TypeOutboundEndpoint)}
}

func decodeForwardingRule(r *res) *DNSForwardingRule {
	p := r.props
	p.ignore("metadata", "provisioningState")
	fr := &DNSForwardingRule{Meta: r.meta()}
	if v := p.stringField("domainName", true); !v.IsZero() {
		name, err := parseDomainName(v.Str())
		if err != nil {
			p.errf(v.Line(), "domainName %v", err)
		}
		fr.DomainName = name
	}
	for _, t := range p.itemsUpTo("targetDnsServers", maxTargetServers) {
		a := t.ipv4("ipAddress", true)
		port, ok := t.integer("port", 1, 65535, false)
		if !ok {
			port = 53
		}
		if a.IsValid() {
			fr.Targets = append(fr.Targets, netip.AddrPortFrom(a, uint16(port)))
		}
	}
	fr.Enabled = p.enum("forwardingRuleState", false, "Enabled", "Disabled") != "Disabled"
	return fr
}

func decodeRulesetLink(r *res) *DNSForwardingRulesetLink {
	p := r.props
	p.ignore("metadata", "provisioningState")
	p.required("virtualNetwork")
	return &DNSForwardingRulesetLink{Meta: r.meta(), VirtualNetwork: p.ref("virtualNetwork", TypeVirtualNetwork)}
}

// checkDNSResolvers checks each resolver with its endpoints attached: an
// endpoint's subnet is in the resolver's VNet, and a written inbound
// address is in its subnet.
func (d *decoder) checkDNSResolvers() {
	for _, rv := range d.snap.DNSResolvers {
		for _, ep := range rv.InboundEndpoints {
			r := d.info[ep]
			const field = "ipConfigurations[0]."
			sn := d.endpointSubnet(rv, r, ep.Subnet, field+"subnet", inboundConfigLine(r, "subnet"))
			if sn == nil || !ep.PrivateIP.IsValid() {
				continue
			}
			if !slices.ContainsFunc(sn.AddressPrefixes, func(p netip.Prefix) bool { return p.Contains(ep.PrivateIP) }) {
				r.errf(inboundConfigLine(r, "privateIpAddress"), "%sprivateIpAddress %s is outside subnet %s (%s)",
					field, ep.PrivateIP, sn.ID.Name(), joinPrefixes(sn.AddressPrefixes))
			}
		}
		for _, ep := range rv.OutboundEndpoints {
			r := d.info[ep]
			d.endpointSubnet(rv, r, ep.Subnet, "subnet", r.props.lineOf("subnet"))
		}
	}
}

// endpointSubnet returns the subnet of an endpoint of rv, reporting it when
// it is not in rv's VNet; nil when the subnet is not in the file (the
// linker reports that).
func (d *decoder) endpointSubnet(rv *DNSResolver, r *res, ref Ref, field string, line int) *Subnet {
	sn := d.snap.Subnet(ref.ID)
	if sn == nil {
		return nil
	}
	if vnet, _ := sn.ID.Parent(); rv.VirtualNetwork.IsSet() && !vnet.Equal(rv.VirtualNetwork.ID) {
		r.errf(line, "%s %s is not in the resolver's virtual network %s", field, sn.ID.Name(), rv.VirtualNetwork.ID.Name())
	}
	return sn
}

// inboundConfigLine is the line of key in an inbound endpoint's IP
// configuration as written, else of the configurations.
func inboundConfigLine(r *res, key string) int {
	if a := r.props.v.Get("ipConfigurations"); !a.IsZero() && a.Len() > 0 {
		if v := a.Item(0).Get(key); !v.IsZero() {
			return v.Line()
		}
	}
	return r.props.lineOf("ipConfigurations")
}

// checkForwardingRulesets checks each ruleset with its rules and links
// attached: a domain has one rule, a VNet one link.
func (d *decoder) checkForwardingRulesets() {
	for _, rs := range d.snap.DNSForwardingRulesets {
		domains := map[string]*DNSForwardingRule{}
		for _, fr := range rs.Rules {
			r := d.info[fr]
			if r.broken {
				continue // an invalid domainName reads as "", which is the root
			}
			if first := domains[fr.DomainName]; first != nil {
				r.errf(r.props.lineOf("domainName"), "domainName %q is already forwarded by rule %s (%s)",
					fr.DomainName+".", first.ID.Leaf(), first.Pos)
				continue
			}
			domains[fr.DomainName] = fr
		}
		vnets := map[string]*DNSForwardingRulesetLink{}
		for _, l := range rs.Links {
			if !l.VirtualNetwork.IsSet() {
				continue
			}
			k := l.VirtualNetwork.ID.Key()
			if first := vnets[k]; first != nil {
				r := d.info[l]
				r.errf(r.props.lineOf("virtualNetwork"), "virtual network %s is already linked to the ruleset by link %s (%s)",
					l.VirtualNetwork.ID.Name(), first.ID.Leaf(), first.Pos)
				continue
			}
			vnets[k] = l
		}
	}
}
