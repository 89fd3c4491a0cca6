package netverify

import (
	"securetrain/internal/arm"
	"securetrain/internal/ipset"
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
	// Protocols holds each protocol the rule matches.
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
// public-IP computes, in a stable order.
func (n *Network) NSGs() []NSGView {
	var out []NSGView
	for _, k := range sortedKeys(n.nsgs) {
		out = append(out, n.nsgs[k].view(n.nsgVNets[k]))
	}
	for _, cc := range n.computeList {
		if cc.nicNSG != nil {
			out = append(out, cc.nicNSG.view(cc.subnet.vnet.v.ID))
		}
	}
	return out
}

func (c *nsgCtx) view(vnet arm.ID) NSGView {
	v := NSGView{NSG: c.id, VNet: vnet, Position: c.pos, CreatedBy: c.createdBy}
	for _, r := range c.in.rules {
		v.Inbound = append(v.Inbound, r.effective())
	}
	for _, r := range c.out.rules {
		v.Outbound = append(v.Outbound, r.effective())
	}
	return v
}

func (r *nsgRule) effective() EffectiveRule {
	e := EffectiveRule{Name: r.name, ID: r.decl.ID, Position: r.pos, Priority: r.priority, Direction: r.direction, Allow: r.allow,
		Default: r.isDefault, Platform: r.platform, Source: r.src, Destination: r.dst, SourcePorts: r.sports, DestinationPorts: r.dports,
		SourceText: r.srcText, DestinationText: r.dstText, PortText: r.portText}
	for p := Protocol(0); p < numProtocols; p++ {
		if r.protoMask&(1<<p) != 0 {
			e.Protocols = append(e.Protocols, p)
		}
	}
	return e
}

// CreatedByAzureML labels what Azure ML creates for a public-IP compute
// (its NSG, load balancer and public IP, spec §4.2).
func CreatedByAzureML(c *resources.Compute) string { return "Azure ML for " + c.ID.Name() }
