package netverify

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// Verdict is the answer to a flow query.
type Verdict string

// Verdicts. PartiallyAllowed is for sets: some pieces allowed, some not.
const (
	Allowed                Verdict = "Allowed"
	Denied                 Verdict = "Denied"
	PartiallyAllowed       Verdict = "PartiallyAllowed"
	NoRoute                Verdict = "NoRoute"
	NoOutboundConnectivity Verdict = "NoOutboundConnectivity"
	AsymmetricRoute        Verdict = "AsymmetricRoute"
	DNSFailure             Verdict = "DnsFailure"
)

// DefaultSourcePort stands for "an ephemeral port" when a query gives none.
const DefaultSourcePort = 50000

// maxEvaluations bounds the pieces a set query may split into.
const maxEvaluations = 200_000

// Result is the explained answer to a Query.
type Result struct {
	Verdict     Verdict      `json:"verdict"`
	Query       QueryEcho    `json:"query"`
	Source      EndpointInfo `json:"source"`
	Destination EndpointInfo `json:"destination"`
	DNS         []DNSStep    `json:"dns,omitempty"`
	Outcomes    []Outcome    `json:"outcomes"`
	ServiceTags string       `json:"serviceTags"`
	Notes       []string     `json:"notes,omitempty"`
}

// QueryEcho is the normalised query.
type QueryEcho struct {
	From       string    `json:"from"`
	To         string    `json:"to"`
	Protocol   string    `json:"protocol"`
	Port       uint16    `json:"port"`
	SourcePort uint16    `json:"sourcePort"`
	Direction  Direction `json:"direction"`
}

// EndpointKind says what a query endpoint resolved to.
type EndpointKind string

// Endpoint kinds.
const (
	EndpointCompute         EndpointKind = "compute"
	EndpointSubnet          EndpointKind = "subnet"
	EndpointNIC             EndpointKind = "networkInterface"
	EndpointPrivateEndpoint EndpointKind = "privateEndpoint"
	EndpointAddress         EndpointKind = "address"
	EndpointServiceTag      EndpointKind = "serviceTag"
	EndpointDNSName         EndpointKind = "dnsName"
)

// EndpointInfo says what a query endpoint resolved to.
type EndpointInfo struct {
	Text     string       `json:"text"`
	Kind     EndpointKind `json:"kind"`
	Resource string       `json:"resource,omitempty"`
	// Addresses lists the first 16 ranges; RangeCount says how many there are.
	Addresses  []string `json:"addresses"`
	RangeCount int      `json:"rangeCount"`
	Count      uint64   `json:"addressCount"`
}

// Outcome is one way the query's flows go: the pieces of source and
// destination that share a verdict and the same deciding hops.
type Outcome struct {
	Verdict      Verdict  `json:"verdict"`
	Protocol     string   `json:"protocol"`
	Sources      []string `json:"sources"`
	Destinations []string `json:"destinations"`
	// SourceRanges and DestinationRanges count the ranges, listed or not.
	SourceRanges      int    `json:"sourceRanges"`
	DestinationRanges int    `json:"destinationRanges"`
	Hops              []Hop  `json:"hops"`
	Reason            string `json:"reason"`
	Fix               string `json:"fix,omitempty"`
	// Sample is one packet of the outcome (its first source and
	// destination): one a probe can send to test it.
	Sample Packet `json:"-"`
}

// endpoint is a resolved query endpoint.
type endpoint struct {
	info    EndpointInfo
	set     ipset.Set
	compute *computeCtx
	subnet  *subnetCtx // fixed origin (compute, subnet, NIC): all its addresses are in this subnet
	name    string     // DNS name of a To endpoint
	dns     *dnsAnswer
	tag     string
	// segs is set split at the network's cuts, for endpoints resolved
	// once per network (nil: split it per query).
	segs []ipset.Range
}

// endpointKey names an endpoint that resolves the same for every query
// (a resource or a service tag) in Network.endpoints.
type endpointKey struct {
	form        endpointForm
	name, label string // a resource's id key, or the tag as written
}

// EndpointError is a query endpoint the network cannot use.
type EndpointError struct {
	// Destination: the error is the query's To, else its From.
	Destination bool
	Endpoint    Endpoint
	Err         error
}

func (e *EndpointError) Error() string {
	side := "source"
	if e.Destination {
		side = "destination"
	}
	return side + " " + e.Endpoint.String() + " " + e.Err.Error()
}

func (e *EndpointError) Unwrap() error { return e.Err }

// ErrDirection is a query's direction that does not fit its endpoints.
var ErrDirection = errors.New("the direction does not fit")

// Flow answers a query.
func (n *Network) Flow(q Query) (*Result, error) {
	return n.flow(q, false)
}

// flowReference answers with the reference lookups (tests only).
func (n *Network) flow(q Query, ref bool) (*Result, error) {
	if q.Protocol > AnyProtocol {
		return nil, fmt.Errorf("protocol %s is not one of TCP, UDP, ICMP, ESP, AH or Any", q.Protocol)
	}
	protos := q.Protocol.expand()
	sport := cmp.Or(q.SourcePort, DefaultSourcePort)
	src, err := n.resolveEndpoint(q.From, nil)
	if err != nil {
		return nil, &EndpointError{Endpoint: q.From, Err: err}
	}
	dst, err := n.resolveEndpoint(q.To, src)
	if err != nil {
		return nil, &EndpointError{Destination: true, Endpoint: q.To, Err: err}
	}
	inside, err := n.sourceInside(src)
	if err != nil {
		return nil, &EndpointError{Endpoint: q.From, Err: err}
	}
	dir := DirectionOutbound
	if !inside {
		dir = DirectionInbound
	}
	switch q.Direction {
	case "", dir:
	case DirectionInbound, DirectionOutbound:
		return nil, fmt.Errorf("%w: %s is %s the environment's VNets, so the flow is %s, not %s",
			ErrDirection, q.From, map[bool]string{true: "inside", false: "outside"}[inside], dir, q.Direction)
	default:
		return nil, fmt.Errorf("%w: %q must be outbound or inbound", ErrDirection, q.Direction)
	}
	res := &Result{
		Query: QueryEcho{From: q.From.String(), To: q.To.String(), Protocol: q.Protocol.String(), Port: q.Port,
			SourcePort: sport, Direction: dir},
		Source: src.info, Destination: dst.info, ServiceTags: n.tags.Version(),
	}
	if dst.dns != nil {
		res.DNS = dst.dns.steps
		if dst.dns.failure != "" {
			res.Verdict = DNSFailure
			res.Outcomes = []Outcome{{Verdict: DNSFailure, Protocol: res.Query.Protocol, Reason: dst.dns.failure,
				Sources: src.info.Addresses, Destinations: []string{dst.name}, SourceRanges: src.info.RangeCount, DestinationRanges: 1,
				Fix: cmp.Or(dst.dns.fix, "add the missing record to the zone, or remove the zone's link if the name should resolve publicly (Azure: \"How to use your workspace with a custom DNS server\")")}}
			return res, nil
		}
	}
	cuts := n.cuts
	if ref {
		cuts = n.fullCuts()
	}
	srcSegs, dstSegs := src.segs, dst.segs
	if ref || srcSegs == nil {
		srcSegs = segments(cuts, src.set)
	}
	if ref || dstSegs == nil {
		dstSegs = segments(cuts, dst.set)
	}
	w := walkers.Get().(*walker)
	defer walkers.Put(w)
	w.n, w.ref, w.dstCompute, w.steps, w.box = n, ref, dst.compute, w.steps[:0], box{}
	// NSG lookups are memoised for destinations resolved once per network:
	// their pieces are the same slice in every query.
	if w.useMemo = !ref && dst.segs != nil; w.useMemo && (w.memo == nil || w.memoNet != n) {
		w.memo, w.memoNet = make(map[nsgMemoKey]nsgMemoVal), n
	}
	if dst.dns != nil && dst.dns.server != 0 && inside {
		// The DNS query must reach the custom server (UDP 53).
		f := pointFlow{src: srcSegs[0].Lo, dst: dst.dns.server, proto: UDP, sport: DefaultSourcePort, dport: 53}
		if v := w.fromInside(&f, n.originOf(src, f.src)); v != Allowed {
			g := &group{verdict: DNSFailure, proto: UDP, steps: w.steps, src: []ipset.Range{srcSegs[0]}, dst: []ipset.Range{{Lo: f.dst, Hi: f.dst}}}
			o := n.render(g, src, &endpoint{set: ipset.Single(f.dst)}, &Query{Port: 53})
			o.Reason = fmt.Sprintf("the DNS query to %s (UDP 53) fails with %s: %s", ipset.Addr(f.dst), v, o.Reason)
			res.Verdict, res.Outcomes = DNSFailure, []Outcome{o}
			return res, nil
		}
	}
	var groups []*group
	// strip and arena are reused (across queries too): a strip's
	// evaluations keep their steps in one arena until the strip's extent is
	// known. Groups are rendered into strings: their buffers are reused too.
	strip, arena := w.strip, w.arena
	defer func() { w.strip, w.arena = strip[:0], arena[:0]; w.recycle(groups) }()
	evaluations := 0
	for _, p := range protos {
		for _, S := range srcSegs {
			// A strip of sources [s, stripEnd] is evaluated against every
			// destination piece; each evaluation's box says how far its
			// answer holds, the strip ends where the shortest one does.
			for s := S.Lo; ; {
				stripEnd := S.Hi
				strip, arena = strip[:0], arena[:0]
				// An answer may hold past the end of the destination piece,
				// across the gap to the next pieces of the set (a tag's
				// ranges): up to the next cut, where an unindexed test may
				// change it. The reference evaluates every piece alone.
				for j, d := 0, dstSegs[0].Lo; j < len(dstSegs); {
					limit := dstSegs[j].Hi
					if !ref {
						limit = min(intervalEnd(cuts, intervalOf(cuts, d)), dstSegs[len(dstSegs)-1].Hi)
					}
					if evaluations++; evaluations > maxEvaluations {
						return nil, fmt.Errorf("query too broad: more than %d pieces to evaluate; narrow the source or the destination", maxEvaluations)
					}
					f := pointFlow{src: s, dst: d, proto: p, name: dst.name}
					if p.hasPorts() {
						f.sport, f.dport = sport, q.Port
					}
					w.steps = w.steps[:0]
					w.box = box{sLo: s, sHi: S.Hi, dLo: d, dHi: limit}
					if !ref {
						w.box.want = dstSegs[j:]
					}
					var v Verdict
					if inside {
						v = w.fromInside(&f, n.originOf(src, s))
					} else {
						v = w.fromOutside(&f)
					}
					stripEnd = min(stripEnd, w.box.sHi)
					// Neighbouring pieces mostly take the same path: share
					// the previous piece's steps rather than copy them.
					from, to := len(arena), len(arena)+len(w.steps)
					if k := len(strip) - 1; k >= 0 && slices.Equal(arena[strip[k].from:strip[k].to], w.steps) {
						from, to = strip[k].from, strip[k].to
					} else {
						arena = append(arena, w.steps...)
					}
					// The answer covers [d, w.box.dHi]: the rest of piece j and
					// any later pieces that end inside it.
					for end := w.box.dHi; j < len(dstSegs); {
						D := dstSegs[j]
						strip = append(strip, pending{v: v, from: from, to: to, dst: ipset.Range{Lo: d, Hi: min(end, D.Hi)}})
						if end < D.Hi {
							d = end + 1
							break
						}
						if j++; j < len(dstSegs) {
							d = dstSegs[j].Lo
							if d > end {
								break
							}
						}
					}
				}
				var g *group
				for k, e := range strip {
					// A piece of the same evaluation as the previous one
					// joins the same group without a search.
					if k == 0 || e.from != strip[k-1].from || e.v != strip[k-1].v {
						groups, g = w.findGroup(groups, e.v, p, arena[e.from:e.to])
					}
					g.src, g.dst = appendRange(g.src, ipset.Range{Lo: s, Hi: stripEnd}), appendRange(g.dst, e.dst)
				}
				if stripEnd >= S.Hi {
					break
				}
				s = stripEnd + 1
			}
		}
	}
	if q.VerdictOnly {
		// The verdict depends only on the groups' verdicts.
		outs := make([]Outcome, len(groups))
		for i, g := range groups {
			outs[i].Verdict = g.verdict
		}
		res.Verdict = overall(outs)
		return res, nil
	}
	for _, g := range groups {
		res.Outcomes = append(res.Outcomes, n.render(g, src, dst, &q))
	}
	res.Verdict = overall(res.Outcomes)
	return res, nil
}

// walkers keeps walkers and their buffers for reuse: a check asks tens of
// thousands of queries, and most of a query's allocations are its buffers.
var walkers = sync.Pool{New: func() any { return &walker{} }}

// pending is one evaluation of a strip, grouped once the strip's extent
// is known.
type pending struct {
	v        Verdict
	from, to int // steps: arena[from:to]
	dst      ipset.Range
}

// group collects the pieces of a query that went the same way.
type group struct {
	verdict  Verdict
	proto    Protocol
	steps    []step
	src, dst []ipset.Range
}

// findGroup returns the group of pieces with this verdict, protocol and
// path, adding it when new.
func (w *walker) findGroup(groups []*group, v Verdict, p Protocol, steps []step) ([]*group, *group) {
	// Most neighbours behave alike: look at the latest group first.
	for i := len(groups) - 1; i >= 0; i-- {
		if g := groups[i]; g.verdict == v && g.proto == p && slices.Equal(g.steps, steps) {
			return groups, g
		}
	}
	var g *group
	if k := len(w.spare); k > 0 {
		g, w.spare = w.spare[k-1], w.spare[:k-1]
		*g = group{verdict: v, proto: p, steps: append(g.steps[:0], steps...), src: g.src[:0], dst: g.dst[:0]}
	} else {
		g = &group{verdict: v, proto: p, steps: slices.Clone(steps)}
	}
	return append(groups, g), g
}

// maxSpare bounds the groups a walker keeps for reuse, and maxSpareRanges
// the ranges a kept group may hold: a rare broad query must not leave
// large buffers behind.
const (
	maxSpare       = 32
	maxSpareRanges = 1024
)

// recycle keeps a query's groups for the walker's next queries, once the
// answer no longer refers to them (render copies what it shows).
func (w *walker) recycle(groups []*group) {
	for _, g := range groups {
		if len(w.spare) < maxSpare && cap(g.src) <= maxSpareRanges && cap(g.dst) <= maxSpareRanges {
			w.spare = append(w.spare, g)
		}
	}
}

func appendRange(rs []ipset.Range, r ipset.Range) []ipset.Range {
	if len(rs) > 0 {
		last := &rs[len(rs)-1]
		if *last == r {
			return rs
		}
		if last.Hi != 0xFFFFFFFF && last.Hi+1 == r.Lo {
			last.Hi = r.Hi
			return rs
		}
	}
	return append(rs, r)
}

func overall(outs []Outcome) Verdict {
	if len(outs) == 0 {
		return NoRoute
	}
	allowed, same := 0, true
	for _, o := range outs {
		if o.Verdict == Allowed {
			allowed++
		}
		if o.Verdict != outs[0].Verdict {
			same = false
		}
	}
	switch {
	case same:
		return outs[0].Verdict
	case allowed > 0:
		return PartiallyAllowed
	}
	return Denied
}

// segments splits a set at cuts.
func segments(cuts []uint32, s ipset.Set) []ipset.Range {
	var out []ipset.Range
	for _, r := range s.Ranges() {
		lo := r.Lo
		k := intervalOf(cuts, lo) + 1
		for ; k < len(cuts) && cuts[k] <= r.Hi; k++ {
			out = append(out, ipset.Range{Lo: lo, Hi: cuts[k] - 1})
			lo = cuts[k]
		}
		out = append(out, ipset.Range{Lo: lo, Hi: r.Hi})
	}
	return out
}

// sourceInside reports whether a source lies in the environment's subnets
// (outbound evaluation) or wholly outside its VNets (inbound). A source
// that straddles, or is in a VNet but in no subnet, is refused.
func (n *Network) sourceInside(src *endpoint) (bool, error) {
	if src.subnet != nil {
		return true, nil
	}
	vnetsHit := 0
	for _, vc := range n.vnets {
		if vc.space.Overlaps(src.set) {
			vnetsHit++
		}
	}
	switch {
	case !src.set.Overlaps(n.vnetSpace):
		return false, nil
	case vnetsHit > 1:
		return false, fmt.Errorf("overlaps the address space of %d VNets; name a compute, subnet or NIC instead", vnetsHit)
	case !src.set.Subtract(n.subnetSpace).IsEmpty():
		return false, fmt.Errorf("is partly outside every subnet (addresses %s); a source must be in subnets or wholly outside the VNets",
			src.set.Subtract(n.subnetSpace).Format(4))
	}
	return true, nil
}

// originOf places a source address: its subnet, and the NIC, private
// endpoint or compute that owns it.
func (n *Network) originOf(src *endpoint, u uint32) origin {
	if src.compute != nil {
		return origin{subnet: src.compute.subnet, compute: src.compute}
	}
	for _, vc := range n.vnets {
		if !vc.space.Contains(u) {
			continue
		}
		if sc := n.subnetAt(vc, u); sc != nil {
			return origin{subnet: sc, host: vc.hosts[u]}
		}
	}
	return origin{}
}

// resolveEndpoint finds the addresses an endpoint stands for; from is the
// already resolved source (DNS names resolve from its VNet) or nil for the
// source. Resources and service tags resolve the same for every query:
// they are resolved once per network and shared, read-only (`check` asks
// about the same few thousand tens of thousands of times).
func (n *Network) resolveEndpoint(e Endpoint, from *endpoint) (*endpoint, error) {
	if e.form != formResource && e.form != formTag {
		return n.resolveEndpointNow(e, from)
	}
	key := endpointKey{form: e.form, name: e.name, label: e.label}
	if e.form == formResource {
		key.name = e.id.Key()
	}
	if ep, ok := n.endpoints.Load(key); ok {
		return ep.(*endpoint), nil
	}
	ep, err := n.resolveEndpointNow(e, from)
	if err != nil {
		return nil, err
	}
	ep.segs = segments(n.cuts, ep.set)
	n.endpoints.Store(key, ep)
	return ep, nil
}

// resolveEndpointNow is resolveEndpoint without the shared endpoints.
func (n *Network) resolveEndpointNow(e Endpoint, from *endpoint) (*endpoint, error) {
	ep := &endpoint{info: EndpointInfo{Text: e.String()}}
	switch e.form {
	case formNone:
		return nil, errors.New("no endpoint given")
	case formResource:
		if err := n.resolveResourceEndpoint(e.id, ep); err != nil {
			return nil, err
		}
	case formPrefix, formRange:
		s, err := e.addresses()
		if err != nil {
			return nil, err
		}
		ep.set, ep.info.Kind = s, EndpointAddress
	case formTag:
		if s, ok := n.computedTag(e.name); ok {
			ep.set, ep.info.Kind, ep.tag = s, EndpointServiceTag, e.name
		} else if t, ok := n.tags.Lookup(e.name); ok {
			ep.set, ep.info.Kind, ep.tag = n.catalogTagSetRO(t), EndpointServiceTag, t.Name
			ep.info.Text = t.Name
		} else {
			return nil, fmt.Errorf("is not a service tag of catalog %s", n.tags.Version())
		}
	case formDNSName:
		if from == nil {
			return nil, errors.New("is a DNS name, which can only be a destination")
		}
		if !isDNSName(e.name) {
			return nil, errors.New("is not a valid DNS name")
		}
		ep.name, ep.info.Kind = strings.ToLower(strings.TrimSuffix(e.name, ".")), EndpointDNSName
		var ans dnsAnswer
		if vc := n.endpointVNet(from); vc != nil {
			ans = n.resolve(vc, n.nicDNSServers(vc, from), ep.name)
		} else {
			ans = n.resolvePublicChain(ep.name, nil, false)
		}
		ep.dns, ep.set = &ans, ans.set
	}
	if ep.set.IsEmpty() && ep.dns == nil {
		return nil, errors.New("holds no IPv4 address")
	}
	ep.info.Count, ep.info.RangeCount = ep.set.Size(), len(ep.set.Ranges())
	for _, r := range ep.set.Ranges()[:min(16, ep.info.RangeCount)] {
		ep.info.Addresses = append(ep.info.Addresses, r.String())
	}
	return ep, nil
}

func (n *Network) computedTag(text string) (ipset.Set, bool) {
	switch strings.ToLower(text) {
	case "internet":
		return nonPublic.Complement(), true
	case "azureloadbalancer":
		return ipset.Single(azurePlatformIP), true
	}
	return ipset.Set{}, false
}

// nicDNSServers are the DNS servers of the NIC a source endpoint is: a
// NIC, or an address one NIC owns (none for computes, subnets and ranges:
// their nodes' NICs are not in the file or not one).
func (n *Network) nicDNSServers(vc *vnetCtx, ep *endpoint) []netip.Addr {
	if ep.subnet != nil || ep.set.Size() != 1 {
		return nil
	}
	if h := vc.hosts[ep.set.Ranges()[0].Lo]; h != nil {
		return h.dnsServers
	}
	return nil
}

func (n *Network) endpointVNet(ep *endpoint) *vnetCtx {
	if ep.subnet != nil {
		return ep.subnet.vnet
	}
	for _, r := range ep.set.Ranges() {
		for _, vc := range n.vnets {
			if vc.space.Contains(r.Lo) {
				return vc
			}
		}
	}
	return nil
}

func isDNSName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c == '*' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
				return false
			}
		}
	}
	return true
}

func (n *Network) computeEndpoint(cc *computeCtx, ep *endpoint) error {
	if cc.subnet == nil {
		return errors.New("is a compute in no subnet of the network (it has no subnet, or its subnet is missing): nothing to verify")
	}
	ep.compute, ep.subnet, ep.set = cc, cc.subnet, cc.nodes
	ep.info.Kind, ep.info.Resource = EndpointCompute, cc.c.ID.String()
	return nil
}

func (n *Network) resolveResourceEndpoint(id arm.ID, ep *endpoint) error {
	ep.info.Resource = id.String()
	switch v := n.snap.Lookup(id).(type) {
	case *resources.Compute:
		if err := n.computeEndpoint(n.computes[v.ID.Key()], ep); err != nil {
			return err
		}
	case *resources.Subnet:
		sc := n.subnets[v.ID.Key()]
		ep.subnet, ep.set, ep.info.Kind = sc, sc.usable, EndpointSubnet
	case *resources.NetworkInterface:
		var addrs []netip.Addr
		for _, ipc := range v.IPConfigurations {
			addrs = append(addrs, ipc.PrivateIP)
		}
		ep.set, ep.info.Kind = ipset.FromAddrs(addrs...), EndpointNIC
	case *resources.PrivateEndpoint:
		var addrs []netip.Addr
		for _, ipc := range v.IPConfigurations {
			addrs = append(addrs, ipc.PrivateIP)
		}
		ep.set, ep.info.Kind = ipset.FromAddrs(addrs...), EndpointPrivateEndpoint
	case nil:
		return errors.New("is not in the network")
	default:
		return fmt.Errorf("is a %s; a flow endpoint must be a compute, subnet, network interface or private endpoint", id.Type())
	}
	return nil
}
