package netverify

import (
	"net/netip"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
)

// FirewallView is an Azure Firewall as the walk evaluates it, for a data
// plane that realises it: its rules in evaluation order (network rules,
// then application rules, then default deny), which destinations keep
// their source, and the address its internet-bound traffic leaves by.
type FirewallView struct {
	ID, Subnet, VNet arm.ID
	PrivateIP        netip.Addr
	// Egress is the address the internet sees: the firewall subnet's NAT
	// gateway's, else the firewall's first public IP; invalid when it has
	// no way out (or the address is not in the environment).
	Egress netip.Addr
	// SNATPrivate are the destinations network-rule traffic keeps its
	// source to; every other destination sees SNATAddress (application
	// rules always SNAT).
	SNATPrivate ipset.Set
	SNATAddress netip.Addr
	Network     []FirewallRuleView
	Application []FirewallRuleView
}

// FirewallRuleView is one network or application rule.
type FirewallRuleView struct {
	Name, Collection string
	Allow            bool
	Source           ipset.Set
	// Network rules: the destination addresses (FQDNs resolved by the
	// firewall), their protocols (every one when All) and ports.
	Destination ipset.Set
	Protocols   []Protocol
	All         bool
	Ports       ipset.Set
	// Application rules: the ports of their protocols and the target
	// FQDNs.
	AppPorts []uint16
	FQDNs    []string
}

// MatchesName reports whether the application rule's target FQDNs match
// name.
func (r FirewallRuleView) MatchesName(name string) bool {
	for _, p := range r.FQDNs {
		if fqdnMatches(p, name) {
			return true
		}
	}
	return false
}

// Firewalls are the network's Azure Firewalls.
func (n *Network) Firewalls() []FirewallView {
	var out []FirewallView
	for _, fc := range n.firewalls {
		v := FirewallView{ID: fc.fw.ID, Subnet: fc.subnet.s.ID, VNet: fc.subnet.vnet.v.ID, PrivateIP: fc.privateIP,
			SNATPrivate: fc.snatPrivate, SNATAddress: ipset.Addr(fc.snatAddr), Egress: n.firewallEgress(fc)}
		for _, col := range fc.network {
			for _, r := range col.rules {
				rv := FirewallRuleView{Name: r.r.Name, Collection: col.c.Name, Allow: col.allow, Source: r.src, Destination: r.dst,
					Ports: r.ports, All: r.protoMask == 1<<numProtocols-1}
				for p := Protocol(0); p < numProtocols; p++ {
					if r.protoMask&(1<<p) != 0 {
						rv.Protocols = append(rv.Protocols, p)
					}
				}
				v.Network = append(v.Network, rv)
			}
		}
		for _, col := range fc.application {
			for _, r := range col.rules {
				rv := FirewallRuleView{Name: r.r.Name, Collection: col.c.Name, Allow: col.allow, Source: r.src, FQDNs: r.r.TargetFqdns}
				for _, p := range r.r.AppProtocols {
					rv.AppPorts = append(rv.AppPorts, uint16(p.Port))
				}
				v.Application = append(v.Application, rv)
			}
		}
		out = append(out, v)
	}
	return out
}

// firewallEgress is the address the walk's firewall egress SNATs to
// (afterFirewall): the NAT gateway's first address, else the first public
// IP's.
func (n *Network) firewallEgress(fc *firewallCtx) netip.Addr {
	var first string
	switch {
	case fc.subnet.nat != nil:
		first, _, _ = strings.Cut(n.natAddresses(fc.subnet.nat), ",")
	case len(fc.fw.PublicIPs) > 0:
		first = n.firewallPublic(fc)
	}
	a, err := netip.ParseAddr(first)
	if err != nil || !a.Is4() {
		return netip.Addr{}
	}
	return a
}
