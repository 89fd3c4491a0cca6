package requirements

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/parallel"
	"securetrain/internal/resources"
)

// environmentFindings are the security findings a careful reviewer adds
// beyond Azure's own checks (spec §6, §8.1, §8.3): NSG rules open to the
// internet, shadowed or duplicated; compute subnets open to data
// exfiltration or relying on default outbound access; overlapping VNets.
func environmentFindings(n *netverify.Network) []Finding {
	out := nsgFindings(n.NSGs())
	out = append(out, computeSubnetFindings(n)...)
	out = append(out, overlapFindings(n.Snapshot())...)
	out = append(out, regionFindings(n.Snapshot())...)
	slices.SortFunc(out, compareFindings)
	return out
}

// compareFindings orders by position (file, then line number, so that
// env.yaml:9 comes before env.yaml:10), then code, then resource.
func compareFindings(a, b Finding) int {
	if c := arm.ComparePositions(a.Position, b.Position); c != 0 {
		return c
	}
	if c := strings.Compare(a.Code, b.Code); c != 0 {
		return c
	}
	return strings.Compare(a.Resource, b.Resource)
}

// ---- NSG rules (spec §8.1) ----

// box is the set of flows an NSG rule matches, as netverify matches them:
// protocol × source × destination × source port × destination port, each
// dimension a set (protocols as the set of their netverify.Protocol
// numbers, so that every dimension uses the same set algebra). hull keeps
// each dimension's smallest and largest value: comparing hulls first
// rejects most pairs of rules without touching their sets, which keeps the
// pairwise analysis of 1,000-rule NSGs fast.
type box struct {
	sets [5]ipset.Set
	hull [5]ipset.Range
	// sig marks, per dimension, which of 64 equal bins of the dimension's
	// value space the set touches: two boxes whose signatures share no bin
	// on some dimension cannot overlap, which rules out most pairs of rules
	// with a few AND instructions.
	sig [5]uint64
}

// binShift maps a dimension's values to 64 bins: protocols are small
// numbers (one bin each), ports 16-bit, addresses 32-bit.
var binShift = [5]uint{dimProtocol: 0, dimSource: 26, dimDestination: 26, dimSourcePort: 10, dimDestinationPort: 10}

// The dimensions of a box.
const (
	dimProtocol = iota
	dimSource
	dimDestination
	dimSourcePort
	dimDestinationPort
)

// anyProtocol is what an NSG rule with protocol "*" (Any) matches.
var anyProtocol = []netverify.Protocol{netverify.TCP, netverify.UDP, netverify.ICMP, netverify.ESP, netverify.AH}

func boxOf(r netverify.EffectiveRule) box {
	var ps []ipset.Range
	for _, p := range r.Protocols {
		ps = append(ps, ipset.Range{Lo: uint32(p), Hi: uint32(p)})
	}
	return newBox([5]ipset.Set{ipset.FromRanges(ps), r.Source, r.Destination, r.SourcePorts, r.DestinationPorts})
}

func newBox(sets [5]ipset.Set) box {
	b := box{sets: sets}
	for d := range sets {
		b.setDim(d, sets[d])
	}
	return b
}

func (b *box) setDim(d int, s ipset.Set) {
	b.sets[d], b.hull[d], b.sig[d] = s, hullOf(s), 0
	for _, r := range s.Ranges() {
		lo, hi := min(r.Lo>>binShift[d], 63), min(r.Hi>>binShift[d], 63)
		b.sig[d] |= (^uint64(0) >> (63 - (hi - lo))) << lo
	}
}

// hullOf is the smallest range holding s; an empty set gets Lo > Hi, which
// overlaps and contains nothing.
func hullOf(s ipset.Set) ipset.Range {
	rs := s.Ranges()
	if len(rs) == 0 {
		return ipset.Range{Lo: 1, Hi: 0}
	}
	return ipset.Range{Lo: rs[0].Lo, Hi: rs[len(rs)-1].Hi}
}

// narrow returns b with dimension d replaced by s.
func (b box) narrow(d int, s ipset.Set) box {
	b.setDim(d, s)
	return b
}

// within reports whether every flow of b is in o on dimension d.
func (b *box) within(o *box, d int) bool {
	return o.hull[d].Lo <= b.hull[d].Lo && b.hull[d].Hi <= o.hull[d].Hi && o.sets[d].Covers(b.sets[d])
}

func (b *box) equal(o *box) bool {
	if b.hull != o.hull {
		return false
	}
	for d := range b.sets {
		if !b.sets[d].Equal(o.sets[d]) {
			return false
		}
	}
	return true
}

// coveredBy returns earlier rules that together match every flow of b
// before a rule with b's flows (platform: one that names a platform tag) is
// reached, or nil when it cannot show that. It is sound, not complete:
//
//   - one earlier rule whose box contains b on all five dimensions
//     (protocols, source, destination, source ports, destination ports)
//     covers it; or
//   - for one dimension d, the earlier rules that contain b on the four
//     other dimensions cover it when the union of their sets on d contains
//     b's set on d: each flow of b lies, on d, in one of them, and that one
//     matches it on every other dimension too.
//
// It misses coverage that needs a split on two dimensions at once (rule A
// covers b's sources for ports 1–100, rule B the other sources for ports
// 101–200, …): exact coverage of a 5-D box by a union of boxes is costly,
// and missing a shadowed rule only loses a warning, while reporting one
// that does match would mislead.
//
// An earlier rule that names no platform tag never sees platform traffic,
// so for a platform rule only earlier platform rules count.
func (c *coverage) coveredBy(earlier []netverify.EffectiveRule, earlierBoxes []box, b *box, platform bool) []netverify.EffectiveRule {
	// The candidates are the earlier rules that overlap b; for each, the
	// dimensions on which it contains b.
	c.cands, c.within = c.cands[:0], c.within[:0]
	for i := range earlierBoxes {
		if !sigsMeet(&c.sigs[i], &b.sig) || (platform && !earlier[i].Platform) || !c.overlaps(&earlierBoxes[i], b) {
			continue
		}
		var m uint8
		for d := range b.sets {
			if b.within(&earlierBoxes[i], d) {
				m |= 1 << d
			}
		}
		if m == allDims {
			return earlier[i : i+1]
		}
		c.cands, c.within = append(c.cands, i), append(c.within, m)
	}
	for d := range b.sets {
		c.parts = c.parts[:0]
		n, size := 0, uint64(0)
		for k, i := range c.cands {
			if c.within[k]|1<<d == allDims {
				c.parts = append(c.parts, earlierBoxes[i].sets[d].Ranges()...)
				n, size = n+1, size+earlierBoxes[i].sets[d].Size()
			}
		}
		// Sets smaller together than b's cannot cover it: skip the sort.
		if n == 0 || size < b.sets[d].Size() || !ipset.Normalize(c.parts).Covers(b.sets[d]) {
			continue
		}
		by := make([]netverify.EffectiveRule, 0, n)
		for k, i := range c.cands {
			if c.within[k]|1<<d == allDims {
				by = append(by, earlier[i])
			}
		}
		return by
	}
	return nil
}

// allDims is the mask of every dimension of a box.
const allDims = 1<<len(box{}.sets) - 1

// overlapOrder tests the small dimensions first: most pairs of rules
// differ in protocol or ports, which is cheaper to see than addresses.
var overlapOrder = [...]int{dimProtocol, dimDestinationPort, dimSourcePort, dimDestination, dimSource}

// coverage holds what coveredBy reuses across the rules of one NSG
// direction: its scratch buffers and a memo of overlap tests between large
// sets. Rules naming the same service tag share its ranges, so in a big
// NSG the same few pairs of tags are compared again and again, each time
// with hundreds of searches.
type coverage struct {
	memo   map[setPair]bool
	cands  []int
	within []uint8
	parts  []ipset.Range
	// sigs are the boxes' signatures side by side: the pairwise scan
	// rules most pairs out on them without loading the boxes.
	sigs [][5]uint64
	// sameHull lists, by hull, the boxes that have it in rule order: only
	// those can be equal (duplicates).
	sameHull map[[5]ipset.Range][]int
}

// newCoverage prepares the coverage tests among the boxes of one NSG
// direction's rules.
func newCoverage(boxes []box) *coverage {
	c := &coverage{memo: map[setPair]bool{}, sigs: make([][5]uint64, len(boxes)), sameHull: make(map[[5]ipset.Range][]int, len(boxes))}
	for i := range boxes {
		c.sigs[i] = boxes[i].sig
		c.sameHull[boxes[i].hull] = append(c.sameHull[boxes[i].hull], i)
	}
	return c
}

// sigsMeet reports whether two signatures share a bin on every dimension,
// which two overlapping boxes do.
func sigsMeet(a, b *[5]uint64) bool {
	return a[0]&b[0] != 0 && a[1]&b[1] != 0 && a[2]&b[2] != 0 && a[3]&b[3] != 0 && a[4]&b[4] != 0
}

type setPair struct {
	a, b   *ipset.Range
	na, nb int
}

// memoMin is the size from which a pair of sets is worth remembering.
const memoMin = 16

// overlaps reports whether two boxes whose signatures meet overlap.
func (c *coverage) overlaps(a, b *box) bool {
	for d := range a.hull {
		if a.hull[d].Lo > b.hull[d].Hi || b.hull[d].Lo > a.hull[d].Hi {
			return false
		}
	}
	for _, d := range overlapOrder {
		if !c.setsOverlap(a.sets[d], b.sets[d]) {
			return false
		}
	}
	return true
}

func (c *coverage) setsOverlap(x, y ipset.Set) bool {
	xr, yr := x.Ranges(), y.Ranges()
	if len(xr) < memoMin || len(yr) < memoMin {
		return x.Overlaps(y)
	}
	k := setPair{&xr[0], &yr[0], len(xr), len(yr)}
	v, ok := c.memo[k]
	if !ok {
		v = x.Overlaps(y)
		c.memo[k] = v
	}
	return v
}

// ruleAnalysis is what the NSG checks learn about one user rule, over every
// VNet view of its NSG (the VirtualNetwork and Internet tags, and so the
// rule's sets, depend on the VNet).
type ruleAnalysis struct {
	nsg   string
	rule  netverify.EffectiveRule // as in the first view
	views int
	// duplicate and shadow count the views where the rule is a duplicate
	// of an earlier rule, or covered by earlier rules; dupOf and shadowers
	// are those of the first such view.
	duplicate, shadow int
	dupOf             netverify.EffectiveRule
	shadowers         []netverify.EffectiveRule
	// openRisky are SSH and RDP ports the rule decides for TCP in at least
	// one view (an earlier rule does not already decide them).
	openRisky []int
}

// riskyPorts are the ports whose exposure to the internet is an error.
var riskyPorts = []int{22, 3389}

// internetSources are the source tokens that mean "anyone".
var internetSources = []string{"*", "internet", "0.0.0.0/0", "any"}

// nsgFindings reports rules open to the internet, shadowed rules and
// duplicates. NSGs Azure ML creates for public-IP computes are skipped:
// their rules are Azure's, not the user's to fix.
func nsgFindings(views []netverify.NSGView) []Finding {
	// Each view and direction is analysed on its own, in parallel; the
	// results are then merged in view order, as one pass would have.
	type unit struct {
		nsg, nsgKey string
		rules       []netverify.EffectiveRule
	}
	var units []unit
	for _, v := range views {
		if v.CreatedBy == "" {
			key := v.NSG.Key()
			units = append(units, unit{v.NSG.Name(), key, v.Inbound}, unit{v.NSG.Name(), key, v.Outbound})
		}
	}
	// One arena of analyses per unit (100,000 rules on a large file); a
	// default rule's entry stays unused (nsg == "").
	local := make([][]ruleAnalysis, len(units))
	parallel.For(len(units), func(u int) {
		rules := units[u].rules
		boxes := make([]box, len(rules))
		for i, r := range rules {
			boxes[i] = boxOf(r)
		}
		local[u] = make([]ruleAnalysis, len(rules))
		cov := newCoverage(boxes)
		for i, r := range rules {
			if !r.Default {
				local[u][i] = ruleAnalysis{nsg: units[u].nsg, rule: r}
				local[u][i].analyze(rules[:i], boxes[:i], r, &boxes[i], cov)
			}
		}
	})
	// A rule is its NSG and its name (unique in the NSG, case-insensitive).
	type ruleKey struct{ nsg, rule string }
	byRule := map[ruleKey]*ruleAnalysis{}
	var order []ruleKey
	for u := range units {
		for i := range local[u] {
			if units[u].rules[i].Default {
				continue
			}
			l := &local[u][i]
			key := ruleKey{units[u].nsgKey, strings.ToLower(l.rule.Name)}
			if a := byRule[key]; a != nil {
				a.merge(l)
				continue
			}
			byRule[key] = l
			order = append(order, key)
		}
	}
	var out []Finding
	for _, key := range order {
		out = append(out, byRule[key].findings()...)
	}
	return out
}

// merge adds a later view's analysis of the same rule.
func (a *ruleAnalysis) merge(l *ruleAnalysis) {
	a.views += l.views
	if l.duplicate > 0 && a.duplicate == 0 {
		a.dupOf = l.dupOf
	}
	a.duplicate += l.duplicate
	if l.shadow > 0 && a.shadow == 0 {
		a.shadowers = l.shadowers
	}
	a.shadow += l.shadow
	for _, p := range l.openRisky {
		if !slices.Contains(a.openRisky, p) {
			a.openRisky = append(a.openRisky, p)
		}
	}
	slices.Sort(a.openRisky)
}

// analyze adds one view of the rule r, whose earlier rules are earlier.
// earlierBoxes are the boxes of earlier, b the box of r.
func (a *ruleAnalysis) analyze(earlier []netverify.EffectiveRule, earlierBoxes []box, r netverify.EffectiveRule, b *box, cov *coverage) {
	a.views++
	platform := r.Platform
	for _, i := range cov.sameHull[b.hull] {
		if i >= len(earlier) {
			break // the rule itself and later ones
		}
		e := &earlier[i]
		if earlierBoxes[i].equal(b) && !e.Default && e.Allow == r.Allow && e.Platform == platform {
			if a.duplicate == 0 {
				a.dupOf = *e
			}
			a.duplicate++
			break
		}
	}
	if by := cov.coveredBy(earlier, earlierBoxes, b, platform); by != nil {
		if a.shadow == 0 {
			a.shadowers = by
		}
		a.shadow++
	}
	if r.Direction != resources.Inbound || !r.Allow || !internetSource(r) || !slices.Contains(r.Protocols, netverify.TCP) {
		return
	}
	// A risky port counts only where this rule decides it: the rule's box
	// narrowed to TCP and that port is not covered by earlier rules.
	for _, p := range riskyPorts {
		if slices.Contains(a.openRisky, p) || !r.DestinationPorts.Contains(uint32(p)) {
			continue
		}
		nb := b.narrow(dimProtocol, ipset.Single(uint32(netverify.TCP))).narrow(dimDestinationPort, ipset.Single(uint32(p)))
		if cov.coveredBy(earlier, earlierBoxes, &nb, platform) == nil {
			a.openRisky = append(a.openRisky, p)
		}
	}
	slices.Sort(a.openRisky) // views may add them in any order
}

func internetSource(r netverify.EffectiveRule) bool {
	for _, tok := range strings.Split(r.SourceText, ",") {
		if slices.Contains(internetSources, strings.ToLower(strings.TrimSpace(tok))) {
			return true
		}
	}
	return false
}

func (a *ruleAnalysis) findings() []Finding {
	r := a.rule
	meta := resources.Meta{ID: r.ID, Pos: r.Position}
	label := fmt.Sprintf("NSG %s rule %s (%d)", a.nsg, r.Name, r.Priority)
	dir := strings.ToLower(string(r.Direction))
	var out []Finding
	// A rule that never matches decides nothing: it is reported as
	// duplicate or shadowed, never as an open port.
	never := a.shadow == a.views
	switch {
	case a.duplicate == a.views:
		f := finding("nsg-rule-duplicate", meta, "%s matches the same %s flows with the same access as rule %s (%d)",
			label, dir, a.dupOf.Name, a.dupOf.Priority)
		f.Fix = fmt.Sprintf("Remove rule %s from NSG %s: rule %s already does the same.", r.Name, a.nsg, a.dupOf.Name)
		out = append(out, f)
	case never:
		f := finding("nsg-rule-shadowed", meta, "%s can never match: every %s flow it matches is matched first by %s",
			label, dir, ruleNames(a.shadowers))
		first := slices.MinFunc(a.shadowers, func(x, y netverify.EffectiveRule) int { return x.Priority - y.Priority })
		f.Fix = fmt.Sprintf("Remove rule %s from NSG %s, or give it a priority number below %d (rule %s) if it should decide.",
			r.Name, a.nsg, first.Priority, first.Name)
		out = append(out, f)
	}
	if never || r.Direction != resources.Inbound || !r.Allow || !internetSource(r) {
		return out
	}
	f := finding("port-open-to-internet", meta, "%s allows %s from %s", label, exposure(r, a.openRisky), r.SourceText)
	f.Fix = fmt.Sprintf("Restrict the source of rule %s in NSG %s to the addresses that need access, or remove it and use Azure Bastion or a private path.", r.Name, a.nsg)
	if len(a.openRisky) > 0 {
		f.Severity = Error
	} else {
		f.Severity = Warning
	}
	return append(out, f)
}

// exposure says what an internet-facing rule lets in: the SSH/RDP ports it
// decides when there are some, else its protocols and ports.
func exposure(r netverify.EffectiveRule, risky []int) string {
	if len(risky) > 0 {
		ports := make([]string, len(risky))
		for i, p := range risky {
			ports[i] = strconv.Itoa(p)
		}
		what := "TCP port " + ports[0]
		if len(ports) > 1 {
			what = "TCP ports " + strings.Join(ports, " and ")
		}
		if r.PortText != strings.Join(ports, ",") {
			what += " (rule ports " + r.PortText + ")"
		}
		return what
	}
	var protos []string
	for _, p := range r.Protocols {
		protos = append(protos, p.String())
	}
	what := strings.Join(protos, "/")
	if slices.Equal(r.Protocols, anyProtocol) {
		what = "any protocol"
	}
	switch {
	case !slices.Contains(r.Protocols, netverify.TCP) && !slices.Contains(r.Protocols, netverify.UDP):
		return what // ICMP, ESP, AH carry no ports
	case r.PortText == "*":
		return what + " on all ports"
	case strings.ContainsAny(r.PortText, ",-"):
		return what + " ports " + r.PortText
	}
	return what + " port " + r.PortText
}

func ruleNames(rs []netverify.EffectiveRule) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = fmt.Sprintf("rule %s (%d)", r.Name, r.Priority)
	}
	return strings.Join(names, ", ")
}

// ---- compute subnets (spec §6, §8.3) ----

// exfiltrationTags are the risky outbound tags of spec §6, with what they
// expose and how to close each.
var exfiltrationTags = []struct{ tag, risk, fix string }{
	{"Storage", "data can be copied to any storage account",
		"Attach a service endpoint policy to subnet %s listing the workspace's storage accounts (and /services/Azure/MachineLearning), enable the Microsoft.Storage service endpoint on it, and allow outbound TCP 443 to Storage.<region> only."},
	{"AzureFrontDoor.Frontend", "data can be sent to any site behind Azure Front Door",
		"Stop allowing AzureFrontDoor.Frontend from subnet %s: route it through a firewall with application rules for ml.azure.com and automlresources-prod-d0eaehh7g8andvav.b02.azurefd.net only."},
}

// publicProbe is a public address standing for "the internet".
var publicProbe = netip.MustParseAddr("8.8.8.8")

// computeSubnetFindings checks each subnet holding an instance or cluster
// for data exfiltration (§6) and default outbound access (§8.3).
func computeSubnetFindings(n *netverify.Network) []Finding {
	snap := n.Snapshot()
	var subnets []*resources.Subnet
	computes := map[string][]*resources.Compute{}
	for _, c := range snap.Computes {
		if c.ComputeType != resources.ComputeAml && c.ComputeType != resources.ComputeInstance {
			continue
		}
		sn := snap.Subnet(c.Subnet.ID)
		if sn == nil {
			continue
		}
		key := sn.ID.Key()
		if computes[key] == nil {
			subnets = append(subnets, sn)
		}
		computes[key] = append(computes[key], c)
	}
	// Subnets are independent: they are checked on every core and their
	// findings joined in subnet order, as one pass would list them.
	found := make([][]Finding, len(subnets))
	parallel.For(len(subnets), func(i int) {
		sn := subnets[i]
		found[i] = exfiltrationFindings(n, sn)
		if f, ok := defaultOutboundFinding(n, sn, computes[sn.ID.Key()]); ok {
			found[i] = append(found[i], f)
		}
	})
	var out []Finding
	for _, fs := range found {
		out = append(out, fs...)
	}
	return out
}

// exfiltrationFindings: without a service endpoint policy, a subnet that
// reaches Storage or Front Door on 443 can copy data to any account.
func exfiltrationFindings(n *netverify.Network, sn *resources.Subnet) []Finding {
	if len(sn.ServiceEndpointPolicies) > 0 {
		return nil
	}
	var out []Finding
	for _, t := range exfiltrationTags {
		res, err := n.Flow(netverify.Query{From: netverify.ResourceEndpoint(sn.ID), To: netverify.TagEndpoint(t.tag), Protocol: netverify.TCP, Port: 443, VerdictOnly: true})
		if err != nil {
			// The tag is missing from the service-tag catalog: nothing to
			// say about it (the required-flow checks report the tag).
			continue
		}
		part := ""
		switch res.Verdict {
		case netverify.Allowed:
		case netverify.PartiallyAllowed:
			part = "part of "
		default:
			continue
		}
		f := finding("storage-exfiltration-risk", sn.Meta,
			"subnet %s allows outbound TCP 443 to %s%s with no service endpoint policy: %s",
			sn.ID.Name(), part, t.tag, t.risk)
		f.Fix = fmt.Sprintf(t.fix, sn.ID.Name())
		out = append(out, f)
	}
	return out
}

// defaultOutboundFinding: a compute subnet whose computes reach the
// internet through default outbound access. Flows are asked from each
// compute, not from the subnet, because a public-IP compute leaves through
// the public IP Azure ML creates for it, not through default outbound
// access.
func defaultOutboundFinding(n *netverify.Network, sn *resources.Subnet, computes []*resources.Compute) (Finding, bool) {
	for _, c := range computes {
		res, err := n.Flow(netverify.Query{From: netverify.ResourceEndpoint(c.ID), To: netverify.AddressEndpoint(publicProbe), Protocol: netverify.TCP, Port: 443})
		if err != nil {
			continue
		}
		for _, o := range res.Outcomes {
			if o.Verdict != netverify.Allowed || !slices.ContainsFunc(o.Hops, func(h netverify.Hop) bool {
				return h.Kind == netverify.HopSNAT && h.SNAT == netverify.SNATDefaultOutbound
			}) {
				continue
			}
			f := finding("default-outbound-access", sn.Meta,
				"subnet %s reaches the internet through default outbound access (compute %s): retired for new VNets, with changing addresses",
				sn.ID.Name(), c.ID.Name())
			f.Fix = fmt.Sprintf("Attach a NAT gateway to subnet %s (and set defaultOutboundAccess: false), or route 0.0.0.0/0 to a firewall.", sn.ID.Name())
			return f, true
		}
	}
	return Finding{}, false
}

// ---- address spaces (spec §8.3) ----

// overlapFindings reports each pair of VNets of the file whose address
// spaces overlap: an error when they are peered (in either direction),
// info otherwise. The finding is on the later VNet of the pair.
func overlapFindings(snap *resources.Snapshot) []Finding {
	vnets := snap.VirtualNetworks
	spaces := make([]ipset.Set, len(vnets))
	for i, v := range vnets {
		spaces[i] = ipset.FromPrefixes(v.AddressSpace)
	}
	var out []Finding
	for j, b := range vnets {
		for i, a := range vnets[:j] {
			common := spaces[i].Intersect(spaces[j])
			if common.IsEmpty() {
				continue
			}
			f := finding("address-space-overlap", b.Meta, "VNets %s and %s overlap in %s: they cannot be peered",
				a.ID.Name(), b.ID.Name(), common)
			if peered(a, b) || peered(b, a) {
				f.Message = fmt.Sprintf("VNets %s and %s are peered and overlap in %s: traffic between them cannot be routed",
					a.ID.Name(), b.ID.Name(), common)
			} else {
				f.Severity = Info
			}
			f.Fix = fmt.Sprintf("Re-address VNet %s or %s so that their address spaces are disjoint.", b.ID.Name(), a.ID.Name())
			out = append(out, f)
		}
	}
	return out
}

// peered reports whether a has a peering to b that is not Disconnected.
func peered(a, b *resources.VirtualNetwork) bool {
	return slices.ContainsFunc(a.Peerings, func(p *resources.Peering) bool { return p.Carries() && p.RemoteVirtualNetwork.ID.Equal(b.ID) })
}
