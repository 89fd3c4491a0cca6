package netverify

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// Protocol is a concrete IP protocol of a flow.
type Protocol uint8

// Flow protocols. NSG rules match them by name; "*" matches all five.
const (
	TCP Protocol = iota
	UDP
	ICMP
	ESP
	AH
	numProtocols
)

var protocolNames = [...]string{"TCP", "UDP", "ICMP", "ESP", "AH", "Any"}

func (p Protocol) String() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p]
	}
	return fmt.Sprintf("Protocol(%d)", p)
}

// ParseProtocol parses TCP, UDP, ICMP, ESP, AH, or Any (also "*": TCP,
// UDP and ICMP), case-insensitively.
func ParseProtocol(s string) (Protocol, error) {
	if s == "*" {
		return AnyProtocol, nil
	}
	for i, name := range protocolNames {
		if strings.EqualFold(s, name) {
			return Protocol(i), nil
		}
	}
	return 0, fmt.Errorf("protocol %q is not one of TCP, UDP, ICMP, ESP, AH or Any", s)
}

// expand lists the concrete protocols a query's protocol stands for.
func (p Protocol) expand() []Protocol {
	if p == AnyProtocol {
		return []Protocol{TCP, UDP, ICMP}
	}
	return []Protocol{p}
}

// hasPorts reports whether the protocol carries ports; NSG port conditions
// apply to TCP and UDP, other protocols are evaluated at port 0.
func (p Protocol) hasPorts() bool { return p == TCP || p == UDP }

func nsgProtocolMask(p resources.Protocol) uint8 {
	switch p {
	case resources.ProtoTCP:
		return 1 << TCP
	case resources.ProtoUDP:
		return 1 << UDP
	case resources.ProtoICMP:
		return 1 << ICMP
	case resources.ProtoESP:
		return 1 << ESP
	case resources.ProtoAH:
		return 1 << AH
	}
	return 1<<numProtocols - 1
}

// nsgRule is a compiled security rule, user-written or default.
type nsgRule struct {
	nsg  *nsgCtx
	name string
	pos  string
	// decl is the rule as declared; its id is read from it (an arm.ID is
	// 96 bytes, and there is a compiled rule per NSG, VNet and route table).
	decl      *resources.SecurityRule
	priority  int
	direction resources.Direction
	allow     bool
	protoText string
	protoMask uint8
	src, dst  ipset.Set
	sports    ipset.Set
	dports    ipset.Set
	srcText   string
	dstText   string
	portText  string
	isDefault bool
	// platform: the rule names an AzurePlatform* tag, so it applies to
	// platform traffic that otherwise bypasses NSGs.
	platform bool
}

// matches is the obviously-correct check used by the reference evaluator:
// linear scans, no index.
func (r *nsgRule) matches(f *pointFlow) bool {
	return r.protoMask&(1<<f.proto) != 0 &&
		linearContains(r.src, f.src) && linearContains(r.dst, f.dst) &&
		linearContains(r.sports, uint32(f.sport)) && linearContains(r.dports, uint32(f.dport))
}

func linearContains(s ipset.Set, u uint32) bool {
	for _, r := range s.Ranges() {
		if r.Lo <= u && u <= r.Hi {
			return true
		}
	}
	return false
}

type nsgDir struct {
	rules []*nsgRule // by priority
	// The indexes below are built on first use (see build): one flow meets
	// one or two NSGs of a large environment, whose indexes are most of
	// its compile time.
	once         sync.Once
	src, dst     *dimIndex
	sport, dport *dimIndex
	proto        [numProtocols][]uint64
}

// nsgCtx is an NSG compiled for the subnets of one VNet that share a route
// table (the VirtualNetwork and Internet tags depend on them).
type nsgCtx struct {
	id    arm.ID
	label string
	pos   string
	// createdBy names who made a synthetic NSG ("Azure ML"), empty for NSGs
	// of the file.
	createdBy string
	// The rules are compiled on first use (see dir): a flow meets one or
	// two NSGs of a large environment, whose rules are most of its compile
	// time. Compile has checked them (checkRule), so compiling them later
	// finds no problem; declared are the rules as written (without the
	// defaults) and sc the subnet they are compiled for.
	n        *Network
	declared []*resources.SecurityRule
	sc       *subnetCtx
	once     sync.Once
	in, out  nsgDir
}

// dir is the compiled direction d; it is safe for concurrent use.
func (c *nsgCtx) dir(d resources.Direction) *nsgDir {
	c.once.Do(c.compileRules)
	if d == resources.Inbound {
		return &c.in
	}
	return &c.out
}

var allPorts = []resources.PortRange{{From: 0, To: 65535}}

// nsgFor compiles the NSG a reference of a subnet or of a NIC in it points
// at, once per VNet and route table (the VirtualNetwork tag is per NIC:
// its subnet's route table counts); nil when unset.
func (n *Network) nsgFor(ref resources.Ref, sc *subnetCtx) *nsgCtx {
	if !ref.IsSet() {
		return nil
	}
	vc := sc.vnet
	key := ref.ID.Key() + "|" + vc.v.ID.Key() + "|" + sc.s.RouteTable.ID.Key()
	if c, ok := n.nsgs[key]; ok {
		return c
	}
	nsg := n.snap.NetworkSecurityGroup(ref.ID)
	if nsg == nil {
		return nil
	}
	c := n.compileNSG(nsg.ID, "NSG "+nsg.ID.Name(), nsg.Pos, "", nsg.Rules, sc)
	n.nsgs[key], n.nsgVNets[key] = c, vc.v.ID
	return c
}

// compileNSG registers an NSG for a subnet and reports the problems of its
// rules; the rules themselves are compiled on first use, except an NSG's
// with rules naming an AzurePlatform* tag: those are matched by linear
// scan (matchPlatform), not through the index, so their sets must cut set
// queries, which are fixed when Compile returns.
func (n *Network) compileNSG(id arm.ID, label, pos, createdBy string, rules []*resources.SecurityRule, sc *subnetCtx) *nsgCtx {
	c := &nsgCtx{id: id, label: label, pos: pos, createdBy: createdBy, n: n, declared: rules, sc: sc}
	platform := false
	for _, r := range rules {
		if err := n.checkRule(r, sc); err != nil {
			n.problem(r.Pos, label+" rule "+r.ID.Leaf(), "%v", err)
			continue
		}
		platform = platform || namesPlatformTag(r.SourcePrefixes) || namesPlatformTag(r.DestinationPrefixes)
	}
	n.nsgList = append(n.nsgList, c)
	if platform {
		for _, d := range []resources.Direction{resources.Inbound, resources.Outbound} {
			for _, r := range c.dir(d).rules {
				if r.platform {
					n.addCut(r.src, r.dst)
				}
			}
		}
	}
	return c
}

// checkRule returns the problem compiling a rule's addresses meets, if
// any: an address token that is neither an address nor a known tag. It
// resolves the tokens as compileRule does (the catalog's tag sets are
// cached on the way, for compileRule to read).
func (n *Network) checkRule(r *resources.SecurityRule, sc *subnetCtx) error {
	for _, tok := range r.SourcePrefixes {
		if _, err := n.addressSet(tok, sc); err != nil {
			return fmt.Errorf("source: %w", err)
		}
	}
	for _, tok := range r.DestinationPrefixes {
		if _, err := n.addressSet(tok, sc); err != nil {
			return fmt.Errorf("destination: %w", err)
		}
	}
	return nil
}

// compileRules compiles the declared rules and the defaults (whose tokens
// are always valid), each direction in priority order. Compile has checked
// the declared rules (a network whose rules have problems is never
// returned).
func (c *nsgCtx) compileRules() {
	all := append(slices.Clip(c.declared), resources.DefaultSecurityRules(c.id, c.pos)...)
	// Equal small sets (an address, a port, all ports) are shared within
	// the NSG: 1,000 rules name a few hundred, and every copy is an
	// object the collector marks for the network's life.
	small := make(map[setKey]ipset.Set, len(all))
	compiled := make([]nsgRule, len(all)) // one object for the collector
	for i, r := range all {
		cr := &compiled[i]
		c.n.compileRule(cr, c, r, c.sc, i >= len(c.declared), small)
		d := &c.out
		if r.Direction == resources.Inbound {
			d = &c.in
		}
		d.rules = append(d.rules, cr)
	}
	sortRules(c.in.rules)
	sortRules(c.out.rules)
}

func sortRules(rs []*nsgRule) {
	// Insertion order is file order; a stable sort by priority keeps it
	// deterministic even for the duplicate priorities the decoder rejects.
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].priority < rs[j-1].priority; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// compileRule compiles a rule into cr; its address tokens are ones
// checkRule accepted.
func (n *Network) compileRule(cr *nsgRule, c *nsgCtx, r *resources.SecurityRule, sc *subnetCtx, isDefault bool, small map[setKey]ipset.Set) {
	*cr = nsgRule{nsg: c, name: r.ID.Leaf(), pos: r.Pos, decl: r, priority: r.Priority, direction: r.Direction,
		allow: r.Access == resources.Allow, protoText: string(r.Protocol), protoMask: nsgProtocolMask(r.Protocol),
		isDefault: isDefault}
	cr.src, cr.srcText = n.ruleAddresses(r.SourcePrefixes, r.SourceASGs, sc)
	cr.dst, cr.dstText = n.ruleAddresses(r.DestinationPrefixes, r.DestinationASGs, sc)
	cr.platform = namesPlatformTag(r.SourcePrefixes) || namesPlatformTag(r.DestinationPrefixes)
	sp, dp := r.SourcePorts, r.DestinationPorts
	if len(sp) == 0 {
		sp = allPorts
	}
	if len(dp) == 0 {
		dp = allPorts
	}
	cr.sports, cr.dports = portSet(sp), portSet(dp)
	cr.src, cr.dst = shared(small, cr.src), shared(small, cr.dst)
	cr.sports, cr.dports = shared(small, cr.sports), shared(small, cr.dports)
	cr.portText = portsText(dp)
}

// shared returns the set of one or two ranges equal to s that small
// holds, or s, which it then holds.
func shared(small map[setKey]ipset.Set, s ipset.Set) ipset.Set {
	k := keyOf(s)
	if k.first != nil {
		return s
	}
	if t, ok := small[k]; ok {
		return t
	}
	small[k] = s
	return s
}

// ruleAddresses is the set and text of a rule's address tokens and ASGs;
// the tokens are ones checkRule accepted.
func (n *Network) ruleAddresses(prefixes []string, asgs []resources.Ref, sc *subnetCtx) (ipset.Set, string) {
	if len(prefixes) == 1 && len(asgs) == 0 { // most rules: no list to join
		set, _ := n.addressSet(prefixes[0], sc)
		return set, prefixes[0]
	}
	var set ipset.Set
	var text []string
	for _, p := range prefixes {
		s, _ := n.addressSet(p, sc)
		set = set.Union(s)
		text = append(text, p)
	}
	for _, a := range asgs {
		set = set.Union(n.asgMembers(a.ID))
		text = append(text, "ASG "+a.ID.Name())
	}
	return set, strings.Join(text, ",")
}

// asgMembers is the set of addresses whose NIC or private endpoint joins an
// application security group.
func (n *Network) asgMembers(id arm.ID) ipset.Set {
	var addrs []netip.Addr
	member := func(refs []resources.Ref) bool {
		return slices.ContainsFunc(refs, func(r resources.Ref) bool { return r.ID.Equal(id) })
	}
	for _, nic := range n.snap.NetworkInterfaces {
		for _, ipc := range nic.IPConfigurations {
			if member(ipc.ApplicationSecurityGroups) {
				addrs = append(addrs, ipc.PrivateIP)
			}
		}
	}
	for _, pe := range n.snap.PrivateEndpoints {
		if member(pe.ApplicationSecurityGroups) {
			for _, ipc := range pe.IPConfigurations {
				addrs = append(addrs, ipc.PrivateIP)
			}
		}
	}
	return ipset.FromAddrs(addrs...)
}

func portSet(prs []resources.PortRange) ipset.Set {
	rs := make([]ipset.Range, len(prs))
	for i, p := range prs {
		rs[i] = ipset.Range{Lo: uint32(p.From), Hi: uint32(p.To)}
	}
	return ipset.Normalize(rs)
}

func portsText(prs []resources.PortRange) string {
	var parts []string
	for _, p := range prs {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

// build indexes the rules once; it is safe for concurrent use.
func (d *nsgDir) build() { d.once.Do(d.index) }

func (d *nsgDir) index() {
	src := make([]ipset.Set, len(d.rules))
	dst := make([]ipset.Set, len(d.rules))
	sp := make([]ipset.Set, len(d.rules))
	dp := make([]ipset.Set, len(d.rules))
	words := bitsetWords(len(d.rules))
	for p := range d.proto {
		d.proto[p] = make([]uint64, words)
	}
	for i, r := range d.rules {
		src[i], dst[i], sp[i], dp[i] = r.src, r.dst, r.sports, r.dports
		for p := Protocol(0); p < numProtocols; p++ {
			if r.protoMask&(1<<p) != 0 {
				d.proto[p][i/64] |= 1 << (i % 64)
			}
		}
	}
	d.src, d.dst = buildDimIndex(src), buildDimIndex(dst)
	d.sport, d.dport = buildDimIndex(sp), buildDimIndex(dp)
}

// match returns the first rule (by priority) matching the flow; the default
// DenyAll rules guarantee there is one. It narrows b to the addresses
// around the flow's that the same rules match.
func (d *nsgDir) match(f *pointFlow, b *box) *nsgRule {
	d.build()
	src, slo, shi := d.src.lookupRange(f.src)
	b.narrowSrc(slo, shi)
	others := [...][]uint64{d.proto[f.proto], src, d.sport.lookup(uint32(f.sport)), d.dport.lookup(uint32(f.dport))}
	i, dlo, dhi := d.dst.firstAlong(f.dst, b, others[:])
	b.narrowDst(dlo, dhi)
	if i < 0 {
		return nil
	}
	return d.rules[i]
}

// namesPlatformTag reports whether a rule's address tokens name an
// AzurePlatform* tag.
func namesPlatformTag(tokens []string) bool {
	for _, t := range tokens {
		if len(t) > 13 && strings.EqualFold(t[:13], "AzurePlatform") {
			if _, ok := platformTags[strings.ToLower(t)]; ok {
				return true
			}
		}
	}
	return false
}

// matchPlatform returns the first rule naming an AzurePlatform* tag that
// matches, or nil: only such rules see platform traffic.
func (d *nsgDir) matchPlatform(f *pointFlow) *nsgRule {
	for _, r := range d.rules {
		if r.platform && r.matches(f) {
			return r
		}
	}
	return nil
}

// matchLinear is the reference: scan rules in priority order.
func (d *nsgDir) matchLinear(f *pointFlow) *nsgRule {
	for _, r := range d.rules {
		if r.matches(f) {
			return r
		}
	}
	return nil
}
