package netverify

import (
	"net/netip"
	"slices"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// firewallCtx is an Azure Firewall with its effective rules: the classic
// collections, or its policy's (base policy first) when it has one.
type firewallCtx struct {
	fw                        *resources.AzureFirewall
	subnet                    *subnetCtx
	privateIP                 netip.Addr
	dnsProxy                  bool
	dnsServers                []netip.Addr
	policy                    *resources.FirewallPolicy
	nat, network, application []*fwCollection
	// snatPrivate are the destinations network-rule traffic keeps its
	// source to; snatAddr is the instance address securetrain gives
	// translated traffic (set once the subnet's hosts are known).
	snatPrivate ipset.Set
	snatAddr    uint32
	// netIndex finds the first matching network rule of an address-only
	// flow in a few lookups, as NSG indexes do; flows with a name (FQDN
	// rules may match it) scan the rules.
	netRules []*fwRule
	netIndex *nsgDir
}

type fwCollection struct {
	c *resources.FirewallRuleCollection
	// policy holds the collection (nil: a classic collection); a policy
	// other than the firewall's own is a parent, whose groups come first.
	policy *resources.FirewallPolicy
	allow  bool
	rules  []*fwRule
}

// origin says where a collection comes from, for explanations.
func (col *fwCollection) origin(fc *firewallCtx) string {
	switch {
	case col.policy == nil:
		return "classic rule collection"
	case col.inherited(fc):
		return "parent policy " + col.policy.ID.Name() + ", group " + col.c.Group
	}
	return "policy " + col.policy.ID.Name() + ", group " + col.c.Group
}

// inherited reports whether the collection comes from a parent policy of
// the firewall's policy.
func (col *fwCollection) inherited(fc *firewallCtx) bool {
	return col.policy != nil && col.policy != fc.policy
}

type fwRule struct {
	coll      *fwCollection
	r         *resources.FirewallRule
	src, dst  ipset.Set
	ports     ipset.Set
	protoMask uint8
}

func (n *Network) compileFirewalls() {
	for _, fw := range n.snap.AzureFirewalls {
		fc := &firewallCtx{fw: fw, subnet: n.subnets[fw.Subnet.ID.Key()], privateIP: fw.PrivateIP,
			dnsProxy: fw.DNSProxy, dnsServers: fw.DNSServers}
		if fc.subnet == nil {
			n.problem(fw.Pos, "firewall "+fw.ID.Name(), "subnet %s not found", fw.Subnet.ID)
			continue
		}
		snatRanges := fw.SNATPrivateRanges
		if p := n.snap.FirewallPolicy(fw.Policy.ID); p != nil {
			fc.policy, fc.dnsProxy, fc.dnsServers, snatRanges = p, p.DNSProxy, p.DNSServers, p.SNATPrivateRanges
			// Rule collection groups of a parent policy take precedence.
			chain := []*resources.FirewallPolicy{p}
			for b := n.snap.FirewallPolicy(p.BasePolicy.ID); b != nil && len(chain) < 8; b = n.snap.FirewallPolicy(b.BasePolicy.ID) {
				chain = append([]*resources.FirewallPolicy{b}, chain...)
			}
			for _, pol := range chain {
				sorted := slices.Clone(pol.RuleCollections)
				slices.SortStableFunc(sorted, func(a, b resources.FirewallRuleCollection) int {
					if a.GroupPriority != b.GroupPriority {
						return a.GroupPriority - b.GroupPriority
					}
					return a.Priority - b.Priority
				})
				for i := range sorted {
					n.addFirewallCollection(fc, &sorted[i], pol)
				}
			}
		} else {
			sorted := slices.Clone(fw.RuleCollections)
			slices.SortStableFunc(sorted, func(a, b resources.FirewallRuleCollection) int { return a.Priority - b.Priority })
			for i := range sorted {
				n.addFirewallCollection(fc, &sorted[i], nil)
			}
		}
		if len(snatRanges) == 0 {
			snatRanges = resources.IANAPrivateRanges
		}
		fc.snatPrivate = ipset.FromPrefixes(snatRanges)
		n.addCut(fc.snatPrivate) // whether the firewall translates depends on it
		n.firewalls = append(n.firewalls, fc)
	}
}

func (n *Network) addFirewallCollection(fc *firewallCtx, c *resources.FirewallRuleCollection, policy *resources.FirewallPolicy) {
	col := &fwCollection{c: c, policy: policy, allow: !strings.EqualFold(c.Action, "Deny")}
	what := "firewall " + fc.fw.ID.Name() + " collection " + c.Name
	for i := range c.Rules {
		r := &c.Rules[i]
		fr := &fwRule{coll: col, r: r, ports: ipset.All}
		var err error
		if fr.src, err = n.firewallAddresses(r.SourceAddresses, fc); err != nil {
			n.problem(c.Pos, what+" rule "+r.Name, "sourceAddresses: %v", err)
			continue
		}
		if fr.dst, err = n.firewallAddresses(r.DestinationAddresses, fc); err != nil {
			n.problem(c.Pos, what+" rule "+r.Name, "destinationAddresses: %v", err)
			continue
		}
		if len(r.DestinationFqdns) > 0 {
			if !fc.dnsProxy {
				n.problem(c.Pos, what+" rule "+r.Name, "destinationFqdns in network rules need the firewall's DNS proxy enabled (Azure refuses this rule)")
				continue
			}
			// Resolved later (compileDNS), through the firewall's own resolver.
		}
		if len(r.DestinationPorts) > 0 {
			fr.ports = portSet(r.DestinationPorts)
		}
		fr.protoMask = firewallProtocolMask(r.Protocols)
		col.rules = append(col.rules, fr)
	}
	switch c.Kind {
	case resources.FirewallNAT:
		fc.nat = append(fc.nat, col)
	case resources.FirewallApplication:
		fc.application = append(fc.application, col)
	default:
		fc.network = append(fc.network, col)
	}
}

func firewallProtocolMask(ps []string) uint8 {
	if len(ps) == 0 {
		return 1<<numProtocols - 1
	}
	var m uint8
	for _, p := range ps {
		if strings.EqualFold(p, "Any") {
			return 1<<numProtocols - 1
		}
		if pr, err := ParseProtocol(p); err == nil {
			m |= 1 << pr
		}
	}
	return m
}

func (n *Network) firewallAddresses(toks []string, fc *firewallCtx) (ipset.Set, error) {
	if len(toks) == 0 {
		return ipset.Set{}, nil
	}
	var set ipset.Set
	for _, t := range toks {
		s, err := n.addressSet(t, fc.subnet)
		if err != nil {
			return ipset.Set{}, err
		}
		set = set.Union(s)
	}
	return set, nil
}

// placeSNAT picks the address translated traffic leaves the firewall
// with. Azure SNATs "to one of the firewall private IP addresses in
// AzureFirewallSubnet" (*Azure Firewall SNAT private IP address ranges*):
// securetrain uses the firewall's private IP, the address users know it
// by (docs/semantics.md: admit the whole AzureFirewallSubnet prefix in
// NSGs, as Azure's instances may use any address of it).
func (n *Network) placeSNAT() {
	for _, fc := range n.firewalls {
		fc.snatAddr, _ = ipset.U32(fc.privateIP)
	}
}

// translates reports whether the firewall SNATs a flow a rule of kind
// allowed: "Application rules are always SNATed using a transparent proxy
// whatever the destination IP address"; network rules keep the source to
// the SNAT private ranges (Azure Firewall SNAT private IP address ranges).
func (fc *firewallCtx) translates(kind resources.FirewallRuleKind, dst uint32) bool {
	return kind == resources.FirewallApplication || !fc.snatPrivate.Contains(dst)
}

// fqdnMatches matches a name against an application rule's target FQDN:
// exact, "*" for everything, or "*.suffix" for names under suffix.
func fqdnMatches(pattern, name string) bool {
	pattern, name = strings.ToLower(strings.TrimSuffix(pattern, ".")), strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(name, pattern[1:])
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(name, pattern[1:])
	}
	return pattern == name
}

// firewallVerdict is what the firewall decided for a flow.
type firewallVerdict struct {
	allow bool
	rule  *fwRule // nil: default deny
	kind  resources.FirewallRuleKind
}

// evaluate applies network rules, then application rules (TCP with a known
// name only: application rules match on Host/SNI), then default deny.
// buildIndex indexes the network rules, flattened in evaluation order.
// ICMP, ESP and AH flows carry no ports: every rule matches them on ports.
func (fc *firewallCtx) buildIndex() {
	d := &nsgDir{}
	for _, col := range fc.network {
		for _, r := range col.rules {
			fc.netRules = append(fc.netRules, r)
			d.rules = append(d.rules, &nsgRule{protoMask: r.protoMask, src: r.src, dst: r.dst, sports: ipset.All, dports: r.ports})
		}
	}
	d.build()
	fc.netIndex = d
}

// networkMatch returns the first network rule matching an address-only
// flow (indexed), narrowing b.
func (fc *firewallCtx) networkMatch(f *pointFlow, b *box) *fwRule {
	d := fc.netIndex
	src, slo, shi := d.src.lookupRange(f.src)
	b.narrowSrc(slo, shi)
	ports := d.dport.lookup(uint32(f.dport))
	if !f.proto.hasPorts() {
		ports = d.proto[f.proto] // every rule of the protocol, whatever its ports
	}
	others := [...][]uint64{d.proto[f.proto], src, ports}
	i, dlo, dhi := d.dst.firstAlong(f.dst, b, others[:])
	b.narrowDst(dlo, dhi)
	if i >= 0 {
		return fc.netRules[i]
	}
	return nil
}

// networkMatchLinear is networkMatch by a linear scan (the reference).
func (fc *firewallCtx) networkMatchLinear(f *pointFlow) *fwRule {
	for _, r := range fc.netRules {
		if r.protoMask&(1<<f.proto) == 0 || !r.src.Contains(f.src) || !r.dst.Contains(f.dst) {
			continue
		}
		if !f.proto.hasPorts() || r.ports.Contains(uint32(f.dport)) {
			return r
		}
	}
	return nil
}

// evaluate applies network rules, then application rules (TCP with a known
// name only: they match on Host/SNI), then default deny. Network rules
// match addresses only: an FQDN in a network rule stands for the addresses
// the firewall resolved it to, whatever name the client used. Every address
// test narrows b to where its answer holds; ref selects the linear scan (the
// reference evaluator).
func (fc *firewallCtx) evaluate(f *pointFlow, b *box, ref bool) firewallVerdict {
	var r *fwRule
	if ref {
		r = fc.networkMatchLinear(f)
	} else {
		r = fc.networkMatch(f, b)
	}
	if r != nil {
		return firewallVerdict{allow: r.coll.allow, rule: r, kind: resources.FirewallNetwork}
	}
	if f.proto != TCP || f.name == "" {
		return firewallVerdict{} // application rules need a name
	}
	for _, col := range fc.application {
		for _, r := range col.rules {
			if !appPortMatches(r.r.AppProtocols, f.dport) {
				continue
			}
			in, lo, hi := r.src.Around(f.src)
			b.narrowSrc(lo, hi)
			if !in {
				continue
			}
			for _, p := range r.r.TargetFqdns {
				if fqdnMatches(p, f.name) {
					return firewallVerdict{allow: col.allow, rule: r, kind: resources.FirewallApplication}
				}
			}
		}
	}
	return firewallVerdict{}
}

func appPortMatches(ps []resources.FirewallAppProtocol, port uint16) bool {
	for _, p := range ps {
		if p.Port == int(port) {
			return true
		}
	}
	return false
}
