package netverify

import (
	"slices"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/parallel"
	"securetrain/internal/resources"
)

// EffectiveRule is an NSG rule as it applies in one VNet: its address
// tokens resolved (VirtualNetwork and Internet depend on the VNet).
type EffectiveRule struct {
	Name      string
	ID        arm.ID
	Position  string
	Priority  int
	Direction resources.Direction
	Allow     bool
	Default   bool
	// Platform: the rule names an AzurePlatform* tag, so it alone among
	// rules sees traffic to the platform addresses (spec §8.1).
	Platform bool
	// Protocols holds each protocol the rule matches; rules share it, so
	// it must not be modified.
	Protocols        []Protocol
	Source           ipset.Set
	Destination      ipset.Set
	SourcePorts      ipset.Set
	DestinationPorts ipset.Set
	// SourceText, DestinationText and PortText are the rule as written.
	SourceText, DestinationText, PortText string
}

// NSGView is an NSG compiled for one VNet, with its rules in evaluation
// order per direction (user rules, then the six defaults).
type NSGView struct {
	NSG      arm.ID
	VNet     arm.ID
	Position string
	// CreatedBy is set for NSGs Azure ML creates: CreatedByAzureML of the
	// compute.
	CreatedBy string
	Inbound   []EffectiveRule
	Outbound  []EffectiveRule
}

// NSGs returns every NSG of the network as attached to subnets and NICs
// (one view per VNet it is used in), and the NSGs Azure ML creates for
// public-IP computes, in a stable order. The NSGs' rules are compiled (if
// no query has yet) and viewed on every core.
func (n *Network) NSGs() []NSGView {
	type entry struct {
		c    *nsgCtx
		vnet arm.ID
	}
	var entries []entry
	for _, k := range sortedKeys(n.nsgs) {
		entries = append(entries, entry{n.nsgs[k], n.nsgVNets[k]})
	}
	for _, cc := range n.computeList {
		if cc.nicNSG != nil {
			entries = append(entries, entry{cc.nicNSG, cc.subnet.vnet.v.ID})
		}
	}
	out := make([]NSGView, len(entries))
	parallel.For(len(entries), func(i int) { out[i] = entries[i].c.view(entries[i].vnet) })
	return out
}

// prepare builds, on every core, what queries otherwise build on first
// use: every NSG's rules and indexes and every route table (the reference
// evaluator needs all their boundaries). Not for check: its queries meet
// nearly all of them anyway, spread over both cores, and building them
// all at once cost it CPU (docs/performance.md). Safe for concurrent use,
// with queries too.
func (n *Network) prepare() {
	// NSG directions first: they are the largest pieces.
	dirs := 2 * len(n.nsgList)
	parallel.For(dirs+len(n.tables), func(i int) {
		switch {
		case i < dirs && i%2 == 0:
			n.nsgList[i/2].dir(resources.Inbound).build()
		case i < dirs:
			n.nsgList[i/2].dir(resources.Outbound).build()
		default:
			n.tables[i-dirs].painted()
		}
	})
}

func (c *nsgCtx) view(vnet arm.ID) NSGView {
	v := NSGView{NSG: c.id, VNet: vnet, Position: c.pos, CreatedBy: c.createdBy}
	v.Inbound = effectiveRules(c.dir(resources.Inbound).rules)
	v.Outbound = effectiveRules(c.dir(resources.Outbound).rules)
	return v
}

func effectiveRules(rs []*nsgRule) []EffectiveRule {
	out := make([]EffectiveRule, len(rs))
	for i, r := range rs {
		out[i] = r.effective()
	}
	return out
}

// maskProtocols lists the protocols of each protocol mask; rules with the
// same mask share the list (100,000 rules on a large file).
var maskProtocols = func() (lists [1 << numProtocols][]Protocol) {
	for m := range lists {
		for p := Protocol(0); p < numProtocols; p++ {
			if m&(1<<p) != 0 {
				lists[m] = append(lists[m], p)
			}
		}
		lists[m] = slices.Clip(lists[m])
	}
	return lists
}()

func (r *nsgRule) effective() EffectiveRule {
	return EffectiveRule{Name: r.name, ID: r.decl.ID, Position: r.pos, Priority: r.priority, Direction: r.direction, Allow: r.allow,
		Default: r.isDefault, Platform: r.platform, Protocols: maskProtocols[r.protoMask], Source: r.src, Destination: r.dst,
		SourcePorts: r.sports, DestinationPorts: r.dports, SourceText: r.srcText, DestinationText: r.dstText, PortText: r.portText}
}

// CreatedByAzureML labels what Azure ML creates for a public-IP compute
// (its NSG, load balancer and public IP, spec §4.2).
func CreatedByAzureML(c *resources.Compute) string { return "Azure ML for " + c.ID.Name() }
