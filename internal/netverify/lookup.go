package netverify

import (
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
)

// AzureDNS is Azure's recursive resolver, 168.63.129.16: every VNet's
// default DNS server.
var AzureDNS = ipset.Addr(azurePlatformIP)

// QueriedDNSServer is the DNS server a VM asks, given its DNS server list
// (its NIC's, else its VNet's): the first, or Azure DNS when the list is
// empty. Only the first is consulted: Azure VMs use it while it answers.
func QueriedDNSServer(servers []netip.Addr) netip.Addr {
	if len(servers) == 0 {
		return AzureDNS
	}
	return servers[0]
}

// AnswersDNS says whether a DNS server answers at address server, as the
// verifier has it: Azure DNS, a DNS Private Resolver's inbound endpoint, a
// firewall's DNS proxy, a NIC or an address no resource of the file holds
// (a DNS server securetrain cannot look inside) do; a private endpoint, a
// load balancer's frontend or a firewall without DNS proxy do not.
func (n *Network) AnswersDNS(server netip.Addr) bool {
	u, ok := ipset.U32(server)
	return ok && n.answersNoDNS(u) == nil
}

// Lookup is what a DNS server answers for a name.
type Lookup struct {
	// Steps explain the resolution (CNAMEs, private zones, forwarders).
	Steps []DNSStep
	// Name is the name the A records belong to: the end of the CNAME chain.
	Name string
	// CNAMEs are the chain's links in order, each from a name to the next.
	CNAMEs [][2]string
	// Addresses are the A records: a private zone's, the name's stand-in
	// address, or the first of the service tag the name belongs to (a
	// public name has one address, which the verifier does not know: any
	// of the tag's; the first stands for them).
	Addresses []netip.Addr
	// Failure says why the name has no address ("": it has); the answer
	// is then NXDOMAIN.
	Failure string
}

// maxLookupAddresses bounds the A records of one answer.
const maxLookupAddresses = 16

// LookupAt answers name as the DNS server at address server answers a VM
// of VNet vnet — Azure DNS when server is 168.63.129.16, a DNS Private
// Resolver's inbound endpoint, a firewall's DNS proxy, or else a DNS
// server that resolves public names only — by the verifier's own rules
// (the same as a flow to the name follows).
func (n *Network) LookupAt(vnet arm.ID, server netip.Addr, name string) (Lookup, error) {
	vc := n.vnetByKey[vnet.Key()]
	if vc == nil {
		return Lookup{}, fmt.Errorf("VNet %s is not in the network", vnet.Name())
	}
	ans := n.resolveVia(vc, name, []netip.Addr{server}, 0)
	l := Lookup{Steps: ans.steps, Name: strings.ToLower(strings.TrimSuffix(name, ".")), Failure: ans.failure}
	for _, s := range ans.steps {
		if s.Type == "CNAME" {
			target := strings.ToLower(strings.TrimSuffix(s.Answer, "."))
			l.CNAMEs = append(l.CNAMEs, [2]string{s.Name, target})
			l.Name = target
		}
	}
	if l.Failure != "" {
		return l, nil
	}
	for _, r := range ans.set.Ranges() {
		for u := r.Lo; len(l.Addresses) < maxLookupAddresses; u++ {
			l.Addresses = append(l.Addresses, ipset.Addr(u))
			if u == r.Hi || ans.tag != "" {
				break
			}
		}
		if ans.tag != "" || len(l.Addresses) == maxLookupAddresses {
			break
		}
	}
	return l, nil
}
