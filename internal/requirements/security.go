package requirements

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	parts := nsgFindings(n.NSGs())
	parts = append(parts, computeSubnetFindings(n), overlapFindings(n.Snapshot()), regionFindings(n.Snapshot()))
	out := slices.Concat(parts...)
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
	// sig marks, per dimension, which of 64 bins of the dimension's values
	// (see binning) the set touches: two boxes whose signatures share no
	// bin on some dimension cannot overlap, which rules out most pairs of
	// rules with a few AND instructions.
	sig [5]uint64
}

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

// binning maps each dimension's values to the 64 bins of a signature. The
// bins are drawn per NSG direction where its rules' ranges start and end,
// each holding about as many of those bounds: rules crowd in small parts
// of the space (private addresses, well-known ports), which bins of equal
// width (a /6 of addresses, 1,024 ports) could not tell apart.
type binning struct {
	// starts[d][k] is where bin k of dimension d starts; starts[d][0] is 0.
	starts [5][]uint32
	bounds []uint32
	// sigs are the signatures of large sets (rules naming the same tag
	// share its set), by dimension and set.
	sigs map[binKey]uint64
	// protos are the protocol sets of boxes by the protocols' bit mask: a
	// few combinations serve every rule.
	protos [1 << 8]ipset.Set
}

type binKey struct {
	d     int
	first *ipset.Range
	n     int
}

// reset draws the bins for the rules of one NSG direction.
func (bn *binning) reset(rules []netverify.EffectiveRule) {
	if bn.sigs == nil {
		bn.sigs = map[binKey]uint64{}
	}
	clear(bn.sigs)
	for d := range bn.starts {
		bn.bounds = bn.bounds[:0]
		for i := range rules {
			rs := bn.set(&rules[i], d).Ranges()
			if len(rs) >= memoMin {
				continue // a tag's ranges would outweigh every other rule
			}
			for _, r := range rs {
				bn.bounds = append(bn.bounds, r.Lo)
				if r.Hi != 0xFFFFFFFF {
					bn.bounds = append(bn.bounds, r.Hi+1)
				}
			}
		}
		slices.Sort(bn.bounds)
		bounds := slices.Compact(bn.bounds)
		st := append(bn.starts[d][:0], 0)
		for k := 1; k < 64 && len(bounds) > 0; k++ {
			// Every bound a bin when there are few.
			v := bounds[min(k-1, len(bounds)-1)]
			if len(bounds) > 63 {
				v = bounds[k*len(bounds)/64]
			}
			if v > st[len(st)-1] {
				st = append(st, v)
			}
		}
		bn.starts[d] = st
	}
}

// set is the rule's set on dimension d.
func (bn *binning) set(r *netverify.EffectiveRule, d int) ipset.Set {
	switch d {
	case dimProtocol:
		var mask uint8
		for _, p := range r.Protocols {
			mask |= 1 << p
		}
		if bn.protos[mask].IsEmpty() {
			var rs []ipset.Range
			for _, p := range r.Protocols {
				rs = append(rs, ipset.Range{Lo: uint32(p), Hi: uint32(p)})
			}
			bn.protos[mask] = ipset.FromRanges(rs)
		}
		return bn.protos[mask]
	case dimSource:
		return r.Source
	case dimDestination:
		return r.Destination
	case dimSourcePort:
		return r.SourcePorts
	}
	return r.DestinationPorts
}

// sig is the signature of s on dimension d.
func (bn *binning) sig(d int, s ipset.Set) uint64 {
	rs := s.Ranges()
	var key binKey
	if len(rs) >= memoMin {
		key = binKey{d, &rs[0], len(rs)}
		if v, ok := bn.sigs[key]; ok {
			return v
		}
	}
	st := bn.starts[d]
	var sig uint64
	k := 0 // ranges ascend: so do their bins
	for _, r := range rs {
		for k+1 < len(st) && st[k+1] <= r.Lo {
			k++
		}
		lo := k
		for k+1 < len(st) && st[k+1] <= r.Hi {
			k++
		}
		sig |= (^uint64(0) >> (63 - (k - lo))) << lo
	}
	if key.first != nil {
		bn.sigs[key] = sig
	}
	return sig
}

func (bn *binning) boxOf(r *netverify.EffectiveRule) box {
	var b box
	for d := range b.sets {
		b.setDim(bn, d, bn.set(r, d))
	}
	return b
}

func (b *box) setDim(bn *binning, d int, s ipset.Set) {
	b.sets[d], b.hull[d], b.sig[d] = s, hullOf(s), bn.sig(d, s)
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
func (b box) narrow(bn *binning, d int, s ipset.Set) box {
	b.setDim(bn, d, s)
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
	bins binning
	// firstOfHull and sameHull chain, by hull, the boxes that have it in
	// rule order (sameHull[i]: the next box with box i's hull, -1 at the
	// end): only those can be equal (duplicates).
	firstOfHull map[[5]ipset.Range]int32
	sameHull    []int32
}

// reset prepares the coverage tests among the boxes of one NSG
// direction's rules, reusing c's buffers.
func (c *coverage) reset(boxes []box) {
	if c.memo == nil {
		c.memo, c.firstOfHull = map[setPair]bool{}, map[[5]ipset.Range]int32{}
	}
	clear(c.memo)
	clear(c.firstOfHull)
	c.sigs, c.sameHull = c.sigs[:0], c.sameHull[:0]
	for i := range boxes {
		c.sigs = append(c.sigs, boxes[i].sig)
		c.sameHull = append(c.sameHull, -1)
	}
	// Chained from the last box back, so that chains run in rule order.
	for i := len(boxes) - 1; i >= 0; i-- {
		if j, ok := c.firstOfHull[boxes[i].hull]; ok {
			c.sameHull[i] = j
		}
		c.firstOfHull[boxes[i].hull] = int32(i)
	}
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
	nsg  string
	rule *netverify.EffectiveRule // as in the first view
	// unit is the analysis unit (view and direction) that first holds the
	// rule: findings are listed in the order rules are first met.
	unit  int
	views int
	// duplicate and shadow count the views where the rule is a duplicate
	// of an earlier rule, or covered by earlier rules; dupOf and shadowers
	// are those of the first such view.
	duplicate, shadow int
	dupOf             *netverify.EffectiveRule
	shadowers         []netverify.EffectiveRule
	// openRisky are SSH and RDP ports the rule decides for TCP in at least
	// one view (an earlier rule does not already decide them).
	openRisky []int
}

// riskyPorts are the ports whose exposure to the internet is an error.
var riskyPorts = []int{22, 3389}

// internetSources are the source tokens that mean "anyone".
var internetSources = []string{"*", "internet", "0.0.0.0/0", "any"}

// nsgUnit is one view and direction of an NSG: its rules are analysed
// together.
type nsgUnit struct {
	nsg   string
	rules []netverify.EffectiveRule
}

// nsgFindings reports rules open to the internet, shadowed rules and
// duplicates. NSGs Azure ML creates for public-IP computes are skipped:
// their rules are Azure's, not the user's to fix.
func nsgFindings(views []netverify.NSGView) [][]Finding {
	// Every NSG, with all its views and directions, is analysed, merged
	// and reported on its own, on every core: only findings outlive it
	// (an NSG's analyses hold its rules' sets, 100 NSGs × 1,000 rules
	// held at once were about 120 MiB), and nothing is left to merge on
	// one core. The findings are then listed in the order one pass over
	// the units would first meet their rules.
	var units []nsgUnit
	var nsgs [][]int // each NSG's units, by first appearance
	nsgOf := map[string]int{}
	for _, v := range views {
		if v.CreatedBy != "" {
			continue
		}
		key := v.NSG.Key()
		g, ok := nsgOf[key]
		if !ok {
			g = len(nsgs)
			nsgOf[key] = g
			nsgs = append(nsgs, nil)
		}
		nsgs[g] = append(nsgs[g], len(units), len(units)+1)
		units = append(units, nsgUnit{v.NSG.Name(), v.Inbound}, nsgUnit{v.NSG.Name(), v.Outbound})
	}
	// found[u] are the findings of the rules first met in unit u, in rule
	// order.
	found := make([][]Finding, len(units))
	var scratch sync.Pool
	parallel.For(len(nsgs), func(g int) {
		sc, _ := scratch.Get().(*nsgScratch)
		if sc == nil {
			sc = &nsgScratch{byRule: map[string]*ruleAnalysis{}}
		}
		sc.analyze(units, nsgs[g])
		for k, a := range sc.order {
			sc.found = append(sc.found, a.findings()...)
			// Copied once its unit is done: exactly sized.
			if k+1 == len(sc.order) || sc.order[k+1].unit != a.unit {
				found[a.unit] = append(found[a.unit], sc.found...)
				sc.found = sc.found[:0]
			}
		}
		scratch.Put(sc)
	})
	return found
}

// nsgScratch is what analysing one NSG takes besides its findings; it is
// reused for the next NSG (100 NSGs × 1,000 rules on a large file).
type nsgScratch struct {
	boxes []box
	cov   coverage
	// arena holds the analyses of every unit of the NSG; byRule and order
	// point into it.
	arena  []ruleAnalysis
	byRule map[string]*ruleAnalysis
	order  []*ruleAnalysis
	found  []Finding
}

// analyze analyses the rules of one NSG's units (their indexes in units)
// and leaves in sc.order its rules' analyses, merged over the units, in
// the order the units first hold them.
func (sc *nsgScratch) analyze(units []nsgUnit, of []int) {
	// A rule is its name (unique in the NSG, case-insensitive).
	clear(sc.byRule)
	sc.order = sc.order[:0]
	total := 0
	for _, u := range of {
		total += len(units[u].rules)
	}
	// Sized before any analysis is pointed at: it must not move.
	sc.arena = slices.Grow(sc.arena[:0], total)[:total]
	arena := sc.arena
	for _, u := range of {
		rules := units[u].rules
		sc.cov.bins.reset(rules)
		sc.boxes = sc.boxes[:0]
		for i := range rules {
			sc.boxes = append(sc.boxes, sc.cov.bins.boxOf(&rules[i]))
		}
		boxes := sc.boxes
		sc.cov.reset(boxes)
		local := arena[:len(rules)]
		arena = arena[len(rules):]
		for i := range rules {
			r := &rules[i]
			if r.Default {
				continue
			}
			l := &local[i]
			*l = ruleAnalysis{nsg: units[u].nsg, rule: r, unit: u}
			l.analyze(rules[:i], boxes[:i], r, &boxes[i], &sc.cov)
			key := strings.ToLower(r.Name)
			if a := sc.byRule[key]; a != nil {
				a.merge(l)
				continue
			}
			sc.byRule[key] = l
			sc.order = append(sc.order, l)
		}
	}
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
func (a *ruleAnalysis) analyze(earlier []netverify.EffectiveRule, earlierBoxes []box, r *netverify.EffectiveRule, b *box, cov *coverage) {
	a.views++
	platform := r.Platform
	// The chain of b's hull holds the rule itself (len(earlier)), after
	// every earlier rule of the chain.
	for i := int(cov.firstOfHull[b.hull]); i >= 0 && i < len(earlier); i = int(cov.sameHull[i]) {
		e := &earlier[i]
		if earlierBoxes[i].equal(b) && !e.Default && e.Allow == r.Allow && e.Platform == platform {
			if a.duplicate == 0 {
				a.dupOf = e
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
		nb := b.narrow(&cov.bins, dimProtocol, ipset.Single(uint32(netverify.TCP))).narrow(&cov.bins, dimDestinationPort, ipset.Single(uint32(p)))
		if cov.coveredBy(earlier, earlierBoxes, &nb, platform) == nil {
			a.openRisky = append(a.openRisky, p)
		}
	}
	slices.Sort(a.openRisky) // views may add them in any order
}

func internetSource(r *netverify.EffectiveRule) bool {
	for tok := range strings.SplitSeq(r.SourceText, ",") {
		if slices.Contains(internetSources, strings.ToLower(strings.TrimSpace(tok))) {
			return true
		}
	}
	return false
}

func (a *ruleAnalysis) findings() []Finding {
	r := a.rule
	// A rule that never matches decides nothing: it is reported as
	// duplicate or shadowed, never as an open port.
	never := a.shadow == a.views
	open := !never && r.Direction == resources.Inbound && r.Allow && internetSource(r)
	if a.duplicate != a.views && !never && !open {
		return nil // most rules: nothing to format
	}
	meta := resources.Meta{ID: r.ID, Pos: r.Position}
	label := fmt.Sprintf("NSG %s rule %s (%d)", a.nsg, r.Name, r.Priority)
	dir := strings.ToLower(string(r.Direction))
	var out []Finding
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
	if !open {
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
func exposure(r *netverify.EffectiveRule, risky []int) string {
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
