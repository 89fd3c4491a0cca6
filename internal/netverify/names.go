package netverify

import (
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/arm"

	"golang.org/x/net/publicsuffix"
)

// reservedTLDs are the top-level names RFC 6761 reserves: no DNS server
// answers them, so a flow to one never gets a stand-in address.
var reservedTLDs = map[string]bool{"invalid": true, "example": true, "test": true, "localhost": true}

// publicNameProblem says why public DNS has no answer for name (lower-case,
// no trailing dot), or "" when it may have one. privateServer says a DNS
// server the verifier cannot look inside is asked, which may answer names
// under no public suffix from its own zones.
func publicNameProblem(name string, privateServer bool) string {
	tld := name[strings.LastIndexByte(name, '.')+1:]
	if reservedTLDs[tld] {
		return fmt.Sprintf("%s: .%s is a reserved top-level name (RFC 6761, \"Special-Use Domain Names\"): no DNS server resolves it", name, tld)
	}
	if privateServer || hasPublicSuffix(name) {
		return ""
	}
	return fmt.Sprintf("%s: .%s is not a public top-level domain, and no private DNS zone or forwarding rule of the VNet answers it", name, tld)
}

// hasPublicSuffix tells whether name ends in a suffix of the Public Suffix
// List and has a label of its own before it. Names under no listed suffix
// get the list's default rule (their last label, not ICANN's), which
// public DNS does not answer.
func hasPublicSuffix(name string) bool {
	suffix, icann := publicsuffix.PublicSuffix(name)
	listed := icann || strings.Contains(suffix, ".")
	return listed && suffix != name
}

// acceptName decides whether text, not a compute, subnet or service tag,
// is a DNS name the environment can be asked about. Reserved names are
// taken (their resolution fails with the reason); a name under no public
// suffix must be one the environment may answer privately, and one that
// looks like a service tag is refused with the tag it most resembles.
func (n *Network) acceptName(text string) error {
	name := strings.ToLower(strings.TrimSuffix(text, "."))
	tld := name[strings.LastIndexByte(name, '.')+1:]
	if reservedTLDs[tld] || hasPublicSuffix(name) || n.answeredPrivately(name) {
		return nil
	}
	if suggestion := n.tagLookAlike(name); suggestion != "" {
		return fmt.Errorf("%q is not a service tag of catalog %s; did you mean %s?", text, n.tags.Version(), suggestion)
	}
	if n.hasCustomDNSServer() {
		return nil
	}
	return fmt.Errorf("%q is neither a service tag of catalog %s nor a DNS name anyone answers: .%s is not a public top-level domain, and no private DNS zone, forwarding rule or custom DNS server of the environment holds it",
		text, n.tags.Version(), tld)
}

// answeredPrivately tells whether a private DNS zone or a DNS forwarding
// rule of the environment holds name.
func (n *Network) answeredPrivately(name string) bool {
	for _, zc := range n.dns.zones {
		if name == zc.name || strings.HasSuffix(name, "."+zc.name) {
			return true
		}
	}
	for _, vc := range n.vnets {
		if r := longestRule(vc.forwarding, name); r != nil && r.rule.DomainName != "" {
			return true
		}
	}
	return false
}

// hasCustomDNSServer tells whether a VNet or NIC of the environment asks a
// DNS server other than Azure DNS, which may answer any name.
func (n *Network) hasCustomDNSServer() bool {
	for _, vc := range n.vnets {
		if isCustomDNS(vc.v.DNSServers) {
			return true
		}
	}
	for _, nic := range n.snap.NetworkInterfaces {
		if isCustomDNS(nic.DNSServers) {
			return true
		}
	}
	return false
}

// isCustomDNS tells whether a DNS server list asks anything but Azure DNS.
func isCustomDNS(servers []netip.Addr) bool {
	return QueriedDNSServer(servers) != AzureDNS
}

// maxTagTypos is how many edits away from a service tag a name still reads
// as a mistyped tag rather than a name of its own.
const maxTagTypos = 2

// tagLookAlike returns the catalog tag name (lower-case) reads as a typo
// of: the nearest regional variant of a known tag with an unknown region
// ("storage.westus9"), or else the nearest tag within maxTagTypos edits
// ("storge.westus2"); "" when none.
func (n *Network) tagLookAlike(name string) string {
	base, _, regional := strings.Cut(name, ".")
	best, bestDist, bestSameBase := "", maxTagTypos+1, false
	for _, tag := range n.tags.Names() {
		lower := strings.ToLower(tag)
		tagBase, _, tagRegional := strings.Cut(lower, ".")
		sameBase := regional && tagRegional && tagBase == base
		if bestSameBase && !sameBase {
			continue
		}
		if d := arm.EditDistance(name, lower, len(name)+len(lower)); sameBase && !bestSameBase || d < bestDist {
			best, bestDist, bestSameBase = tag, d, sameBase
		}
	}
	return best
}
