package requirements

import (
	"fmt"
	"slices"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// requiredNSGRule is a rule Azure ML looks for in the subnet's NSG when a
// compute is created (spec §10 #2). Azure's refusal lists each missing one
// in ARM's rule shape: "Outbound Storage 445", protocol TCP, source
// VirtualNetwork, destination "Storage OR Internet OR Storage.<region>",
// "priority: Higher than 4096".
type requiredNSGRule struct {
	port uint16
	// tag is the service tag whose global or regional form, or Internet,
	// the rule must allow.
	tag string
}

// requiredNSGRules are the rules of the create-time NSG check: outbound
// TCP 443 and 445 to Storage. Azure's message for a missing one names
// Storage 445; 443 is the same row of the requirements ("Storage.<region>,
// 443 and 445"). The other required flows (UDP 5831 and TCP 443 to
// AzureMachineLearning and BatchNodeManagement, inbound 44224) are not
// pre-checked by Azure: a compute blocked there fails when it is
// created (docs/provisioning.md).
var requiredNSGRules = []requiredNSGRule{{443, "Storage"}, {445, "Storage"}}

// nsgPrecheckFindings: Azure ML refuses a compute whose subnet's NSG
// denies a required rule before allowing it. The check is of the NSG's
// rules, as Azure's is: rules naming the subnet (VirtualNetwork, *, or
// addresses covering it) and the tag (its regional form, Internet, or *);
// rules naming other addresses are left to the flow checks.
func nsgPrecheckFindings(snap *resources.Snapshot, c *resources.Compute, region string) []Finding {
	if c.ComputeType != resources.ComputeAml && c.ComputeType != resources.ComputeInstance {
		return nil
	}
	sn := snap.Subnet(c.Subnet.ID)
	if sn == nil || !sn.NetworkSecurityGroup.IsSet() {
		return nil
	}
	nsg := snap.NetworkSecurityGroup(sn.NetworkSecurityGroup.ID)
	if nsg == nil {
		return nil
	}
	subnet := ipset.FromPrefixes(sn.AddressPrefixes)
	var missing []string
	for _, req := range requiredNSGRules {
		dsts := []string{req.tag, "Internet"}
		if region != "" {
			dsts = append(dsts, req.tag+"."+region)
		}
		if deny := firstDecidingRule(nsg, subnet, req.port, dsts); deny != nil {
			missing = append(missing, fmt.Sprintf("\"Outbound %s %d\": protocol TCP, source VirtualNetwork port *, destination %s port %d, priority higher than %d (%s denies it now)",
				req.tag, req.port, strings.Join(dsts, " OR "), req.port, deny.priority, deny.name))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []Finding{finding("nsg-missing-required-rules", c.Meta,
		"subnet %s of %s has a network security group (%s) that is missing the following rules; add them, or give the existing ones a higher priority (a lower number) to allow the traffic: %s",
		sn.ID.Name(), c.ID.Name(), nsg.ID.Name(), strings.Join(missing, "; "))}
}

// nsgRule is an outbound rule of an NSG, custom or default.
type nsgRule struct {
	name     string
	priority int
	allow    bool
	tcp      bool // TCP or any protocol
	src, dst []string
	ports    []resources.PortRange
}

// defaultOutboundRules are the rules Azure adds after an NSG's own, in
// priority order.
var defaultOutboundRules = func() []nsgRule {
	allPorts := []resources.PortRange{{From: 0, To: 65535}}
	return []nsgRule{
		{"AllowVnetOutBound", 65000, true, true, []string{"VirtualNetwork"}, []string{"VirtualNetwork"}, allPorts},
		{"AllowInternetOutBound", 65001, true, true, []string{"*"}, []string{"Internet"}, allPorts},
		{"DenyAllOutBound", 65500, false, true, []string{"*"}, []string{"*"}, allPorts},
	}
}()

// firstDecidingRule looks at the NSG's outbound rules in priority order
// (its own, then the defaults) for TCP port from the subnet to one of
// dsts: nil when an allow covering the whole subnet comes first, else the
// deny that applies to some of it first. Priorities are unique within a
// direction (the decoder refuses a repeated one), so the deciding rule of
// lowest priority is found in one pass over the rules as written: every
// compute of a subnet asks, and a sorted copy of 1,000 rules per compute
// was most of check's allocation here.
func firstDecidingRule(nsg *resources.NetworkSecurityGroup, subnet ipset.Set, port uint16, dsts []string) *nsgRule {
	var best *nsgRule
	var bestRule nsgRule
	for _, sr := range nsg.Rules {
		if sr.Direction != resources.Outbound || len(sr.SourceASGs) > 0 || len(sr.DestinationASGs) > 0 {
			continue // nodes are in no application security group
		}
		if best != nil && sr.Priority >= best.priority {
			continue
		}
		r := nsgRule{name: sr.ID.Leaf(), priority: sr.Priority, allow: sr.Access == resources.Allow,
			tcp: sr.Protocol == resources.ProtoTCP || sr.Protocol == resources.ProtoAny,
			src: sr.SourcePrefixes, dst: sr.DestinationPrefixes, ports: sr.DestinationPorts}
		if r.decides(subnet, port, dsts) {
			bestRule = r
			best = &bestRule
		}
	}
	for i := 0; best == nil && i < len(defaultOutboundRules); i++ {
		if r := defaultOutboundRules[i]; r.decides(subnet, port, dsts) {
			bestRule = r
			best = &bestRule
		}
	}
	if best == nil || best.allow {
		return nil
	}
	return best
}

// decides reports whether the rule decides TCP port from the subnet to
// one of dsts: an allow covering the whole subnet, or a deny applying to
// some of it.
func (r nsgRule) decides(subnet ipset.Set, port uint16, dsts []string) bool {
	if !r.tcp || !slices.ContainsFunc(r.ports, func(p resources.PortRange) bool { return p.From <= port && port <= p.To }) ||
		!slices.ContainsFunc(r.dst, func(d string) bool {
			return d == "*" || slices.ContainsFunc(dsts, func(t string) bool { return strings.EqualFold(d, t) })
		}) {
		return false
	}
	covered, overlaps := sourceCovers(r.src, subnet)
	return r.allow && covered || !r.allow && overlaps
}

// sourceCovers reports whether a rule's sources hold every address of the
// subnet, and whether they hold any.
func sourceCovers(src []string, subnet ipset.Set) (covered, overlaps bool) {
	var set ipset.Set
	for _, s := range src {
		if s == "*" || strings.EqualFold(s, "VirtualNetwork") {
			return true, true
		}
		// Another tag is not the nodes' addresses.
		if addrs, err := ipset.ParseAddrOrPrefix(s); err == nil {
			set = set.Union(addrs)
		}
	}
	return set.Covers(subnet), set.Overlaps(subnet)
}
