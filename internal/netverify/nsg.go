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
	in, out   nsgDir
}

func (c *nsgCtx) dir(d resources.Direction) *nsgDir {
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

func (n *Network) compileNSG(id arm.ID, label, pos, createdBy string, rules []*resources.SecurityRule, sc *subnetCtx) *nsgCtx {
	c := &nsgCtx{id: id, label: label, pos: pos, createdBy: createdBy}
	all := append(append([]*resources.SecurityRule(nil), rules...), resources.DefaultSecurityRules(id, pos)...)
	for i, r := range all {
		cr, err := n.compileRule(c, r, sc, i >= len(rules))
		if err != nil {
			n.problem(r.Pos, label+" rule "+r.ID.Leaf(), "%v", err)
			continue
		}
		d := c.dir(r.Direction)
		d.rules = append(d.rules, cr)
	}
	for _, d := range []*nsgDir{&c.in, &c.out} {
		sortRules(d.rules)
		n.dirs = append(n.dirs, d)
	}
	return c
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

func (n *Network) compileRule(c *nsgCtx, r *resources.SecurityRule, sc *subnetCtx, isDefault bool) (*nsgRule, error) {
	cr := &nsgRule{nsg: c, name: r.ID.Leaf(), pos: r.Pos, decl: r, priority: r.Priority, direction: r.Direction,
		allow: r.Access == resources.Allow, protoText: string(r.Protocol), protoMask: nsgProtocolMask(r.Protocol),
		isDefault: isDefault}
	var err error
	if cr.src, cr.srcText, err = n.ruleAddresses(r.SourcePrefixes, r.SourceASGs, sc); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if cr.dst, cr.dstText, err = n.ruleAddresses(r.DestinationPrefixes, r.DestinationASGs, sc); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	cr.platform = namesPlatformTag(r.SourcePrefixes) || namesPlatformTag(r.DestinationPrefixes)
	if cr.platform {
		// Platform rules are matched by linear scan (matchPlatform), not
		// through the index, so their sets must cut set queries.
		n.addCut(cr.src, cr.dst)
	}
	sp, dp := r.SourcePorts, r.DestinationPorts
	if len(sp) == 0 {
		sp = allPorts
	}
	if len(dp) == 0 {
		dp = allPorts
	}
	cr.sports, cr.dports = portSet(sp), portSet(dp)
	cr.src, cr.dst = n.shared(cr.src), n.shared(cr.dst)
	cr.sports, cr.dports = n.shared(cr.sports), n.shared(cr.dports)
	cr.portText = portsText(dp)
	return cr, nil
}

// shared returns the set of one or two ranges equal to s that an earlier
// rule of the compile holds, or s: 100,000 rules name a few thousand
// distinct small sets (an address, a port, all ports), and every copy is
// an object the collector marks for the network's life.
func (n *Network) shared(s ipset.Set) ipset.Set {
	k := keyOf(s)
	if k.first != nil {
		return s
	}
	if t, ok := n.smallSets[k]; ok {
		return t
	}
	n.smallSets[k] = s
	return s
}

func (n *Network) ruleAddresses(prefixes []string, asgs []resources.Ref, sc *subnetCtx) (ipset.Set, string, error) {
	var set ipset.Set
	var text []string
	for _, p := range prefixes {
		s, err := n.addressSet(p, sc)
		if err != nil {
			return ipset.Set{}, "", err
		}
		set = set.Union(s)
		text = append(text, p)
	}
	for _, a := range asgs {
		set = set.Union(n.asgMembers(a.ID))
		text = append(text, "ASG "+a.ID.Name())
	}
	return set, strings.Join(text, ","), nil
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
	return ipset.FromRanges(rs)
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
