package resources

// Decoding of environment files: a list of ARM resources, each in its ARM
// envelope ({type, name, resourceGroup, location, tags, properties}), into a
// linked Snapshot. Every problem in a file is collected and reported at once
// as a *FileError, positioned at the file and line of the offending value.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
)

// maxResources bounds the work one file can cause; nested children count.
const maxResources = 200_000

// maxProblems caps the problems listed for one file; the rest are counted.
const maxProblems = 1000

// Problem is one thing wrong in an environment file.
type Problem struct {
	File string
	Line int // 0 when the problem concerns no particular line
	// Column is the 1-based column of a syntax error's offending token; 0
	// for every other problem.
	Column int
	// Resource names the resource ("subnet mynetwork/default"); empty for
	// problems with the file itself.
	Resource string
	Message  string
	// Code is the ARM error code Azure gives this problem, when it has a
	// specific one (the Code* constants).
	Code string
	// ID is the resource the problem is on, when its id is known.
	ID arm.ID
}

// String formats the problem as "file:line[:column]: resource: message", leaving out
// the parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Column > 0 {
		loc += ":" + strconv.Itoa(p.Column)
	}
	if loc != "" {
		b.WriteString(loc + ": ")
	}
	if p.Resource != "" {
		b.WriteString(p.Resource + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// FileError lists every problem found in a file, sorted by line.
type FileError struct{ Problems []Problem }

func (e *FileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadFile reads and decodes an environment file; problems are reported
// against path as given.
func LoadFile(path string) (*Snapshot, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := newDecoder(path)
	d.owned = true // data is this function's alone
	return d.decode(data)
}

// ReadFile reads an environment file, refusing one over the size limit.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load environment: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	if size > arm.MaxDocumentBytes {
		return nil, tooLarge(path)
	}
	if size >= parallelReadMin {
		if data, ok := readHalves(f, size); ok {
			return data, nil
		}
	}
	// The buffer is sized from the file's size (growing it while reading
	// copied a large file many times); reading one byte past the limit
	// refuses an oversized file without reading all of it. readHalves
	// reads at offsets, so this reads from the start (and works on pipes).
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, arm.MaxDocumentBytes+1)); err != nil {
		return nil, fmt.Errorf("load environment %s: %w", path, err)
	}
	data := buf.Bytes()
	if len(data) > arm.MaxDocumentBytes {
		return nil, tooLarge(path)
	}
	return data, nil
}

func tooLarge(path string) error {
	return fmt.Errorf("load environment %s: the file is larger than the limit of %d bytes", path, arm.MaxDocumentBytes)
}

// parallelReadMin is the size from which a file is read on two cores.
const parallelReadMin = 4 << 20

// readHalves reads a regular file of the given size as two halves at once:
// most of reading a large file is the first touch of each page of the new
// buffer (about 8 µs each on a VM), which one core did alone before
// decoding could start (0.13 s for 36 MB). It reports false if the file
// did not hold exactly size bytes, for the caller to read it again.
func readHalves(f *os.File, size int64) ([]byte, bool) {
	data := make([]byte, size)
	half := size / 2
	var first error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, first = f.ReadAt(data[:half], 0)
	}()
	_, second := f.ReadAt(data[half:], half)
	<-done
	var probe [1]byte
	if n, _ := f.ReadAt(probe[:], size); first != nil || second != nil || n != 0 {
		return nil, false // changed while read, or unreadable: read it again
	}
	return data, true
}

// DecodeFile parses an environment file (YAML or JSON, same structure) and
// returns the linked snapshot, or a *FileError listing every problem.
func DecodeFile(file string, data []byte) (*Snapshot, error) {
	return newDecoder(file).decode(data)
}

// DecodeFileResolving is DecodeFile for a file applied to a server: a
// reference to a resource the file does not hold is asked of exists (the
// server), as DecodeARM does; an error from it fails the decode with that
// error.
func DecodeFileResolving(file string, data []byte, exists func(arm.ID) (bool, error)) (*Snapshot, error) {
	d := newDecoder(file)
	d.exists = exists
	return d.decode(data)
}

func newDecoder(file string) *decoder {
	d := &decoder{
		file:    file,
		snap:    &Snapshot{byKey: map[string]any{}},
		seen:    map[string]*res{},
		info:    map[any]*res{},
		lbPools: map[string]bool{},
	}
	d.fileRes = &res{d: d}
	return d
}

func (d *decoder) decode(data []byte) (*Snapshot, error) {
	file := d.file
	parse := arm.Parse
	if d.owned {
		parse = arm.ParseOwned
	}
	doc, err := parse(data)
	if err != nil {
		d.add(parseProblem(file, err))
	} else {
		// A file's resources decode on every core when it is large and
		// nothing is asked of a server (see decodeParallel). Problems are
		// then reported by decoding it again in one pass, whose messages
		// and order are the reference.
		d.parallel = d.exists == nil
		d.decodeDoc(doc.Root())
		if d.split && len(d.problems) > 0 {
			d = newDecoder(file)
			d.decodeDoc(doc.Root())
		}
	}
	if d.existsErr != nil {
		return nil, d.existsErr
	}
	if len(d.problems) > 0 {
		return nil, d.fileError()
	}
	return d.snap, nil
}

// parseProblem positions a parse error, whose message starts with "line N: "
// when the parser knows the line.
func parseProblem(file string, err error) Problem {
	var se *arm.SyntaxError
	if errors.As(err, &se) {
		return Problem{File: file, Line: se.Line, Column: se.Column, Message: se.Message}
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, found := strings.Cut(rest, ": ")
		if n, convErr := strconv.Atoi(num); found && convErr == nil {
			return Problem{File: file, Line: n, Message: tail}
		}
	}
	return Problem{File: file, Message: msg}
}

// decoder holds the state of one DecodeFile call.
type decoder struct {
	file     string
	snap     *Snapshot
	fileRes  *res // owner of problems with the file itself
	problems []Problem
	dropped  int
	// seen holds every declared resource by id key, for duplicates and
	// parents; record sets and rule collection groups included.
	seen map[string]*res
	// info maps each decoded value back to its declaration, except for
	// kinds whose values the checks find through seen (kind.notInInfo).
	info map[any]*res
	// pending are standalone children, attached once every parent is known.
	pending []*res
	refs    []pendingRef
	// lbPools holds the id keys of load balancer backend pools, which NICs
	// reference but which are parts, not resources.
	lbPools map[string]bool
	// exists answers for references that resolve outside the document
	// (the control plane's other resources); nil for files.
	exists func(arm.ID) (bool, error)
	// existsErr is the first error exists returned: the answer is
	// unknown, so the decode fails with it rather than call the
	// reference missing.
	existsErr error
	// owned says decode's data is the decoder's alone (see
	// arm.ParseOwnedDocument).
	owned bool
	// parallel allows decodeDoc to decode a large file's resources on
	// every core; split says it did.
	parallel, split bool
	// deferred makes register record registrations in regs instead of
	// performing them, and objects skip what only messages need (see
	// obj.record): set on the decoders of a parallel decode's chunks.
	deferred bool
	regs     []registration
	// spareKnown holds the known-key slices of finished objects for reuse
	// (see newObj): a large file reads hundreds of thousands of objects.
	spareKnown [][]string
	// resources and objs are where res and obj values come from, strs
	// and ports the short lists of NSG rules (a hundred thousand rules
	// have four each).
	resources slab[res]
	objs      slab[obj]
	strs      slab[string]
	ports     slab[PortRange]
	// open holds the objects read for resources not yet finished, in the
	// order they were read (see res.finish): one list for the decoder
	// instead of one that grows for each resource.
	open []*obj
}

// slab hands out zeroed values from blocks, one allocation per block: a
// large file decodes hundreds of thousands of resources and field
// readers. Blocks grow from slabFirst to slabMax values, so that a small
// document (an API request body) does not pay for a large one's.
type slab[T any] struct {
	free []T
	size int
}

const (
	slabFirst = 8
	slabMax   = 512
)

func (s *slab[T]) alloc() *T { return &s.take(1)[:1][0] }

// take is an empty slice with room for n zeroed values: an append beyond
// them moves the slice out of the slab.
func (s *slab[T]) take(n int) []T {
	if n > slabMax {
		return make([]T, 0, n)
	}
	if len(s.free) < n {
		s.size = min(max(2*s.size, slabFirst), slabMax)
		s.free = make([]T, max(s.size, n))
	}
	p := s.free[:0:n]
	s.free = s.free[n:]
	return p
}

// pos is "file:line", in one allocation: every resource has one.
func (d *decoder) pos(line int) string {
	var n [20]byte
	return d.file + ":" + string(strconv.AppendInt(n[:0], int64(line), 10))
}

func (d *decoder) full() bool { return len(d.problems) >= maxProblems }

func (d *decoder) add(p Problem) {
	if d.full() {
		d.dropped++
		return
	}
	d.problems = append(d.problems, p)
}

func (d *decoder) fileError() *FileError {
	ps := slices.Clone(d.problems)
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	if d.dropped > 0 {
		ps = append(ps, Problem{File: d.file, Message: fmt.Sprintf("%d more problems not listed", d.dropped)})
	}
	return &FileError{Problems: ps}
}

// res is one resource being decoded: a list entry or a nested child.
type res struct {
	d        *decoder
	kind     *kind
	label    string // "subnet mynetwork/default"; see labelText
	name     string // as declared; parent/child for children
	nameLine int
	line     int    // the type line, or the nested item
	sub      string // the subscription of ids that start at /resourceGroups/
	id       arm.ID
	// location, tags and pos are the parts of meta that are not the id.
	location string
	tags     map[string]string
	pos      string
	env      *obj // the envelope; nil for nested children, whose kinds' decoders read only properties
	props    *obj // properties
	// firstObj is where r's objects start on the decoder's open list.
	firstObj int
	broken   bool // a problem was reported against this resource
	out      any  // the decoded value
}

func (r *res) errf(line int, format string, args ...any) { r.errc("", line, format, args...) }

// errc reports a problem that has a specific ARM error code.
func (r *res) errc(code string, line int, format string, args ...any) {
	r.broken = true
	r.d.add(Problem{File: r.d.file, Line: line, Resource: r.labelText(), Message: fmt.Sprintf(format, args...), Code: code, ID: r.id})
}

// meta is what every decoded resource carries.
func (r *res) meta() Meta { return Meta{ID: r.id, Location: r.location, Tags: r.tags, Pos: r.pos} }

// labelText is label, or for a named nested child (whose label is built
// only for a message) its kind and name; "" for the file itself.
func (r *res) labelText() string {
	if r.label == "" && r.name != "" {
		return r.kind.Label + " " + r.name
	}
	return r.label
}

// finish reports the unknown keys of every object read for r, and takes
// them off the open list. Resources finish in the reverse of the order
// they start (a nested child within its parent), so r's objects are the
// last on the list.
func (r *res) finish() {
	open := r.d.open[r.firstObj:]
	for _, o := range open {
		o.done()
	}
	clear(open)
	r.d.open = r.d.open[:r.firstObj]
}

// leaf is the last segment of the declared name.
func (r *res) leaf() string { return r.name[strings.LastIndex(r.name, "/")+1:] }

// idRef parses and type-checks a resource id written at v; unless external,
// the linker will require it to resolve when its type is modeled.
func (r *res) idRef(field string, v arm.Node, typ string, external bool) Ref {
	id, err := arm.ParseID(v.Str(), r.sub)
	if err != nil {
		r.errf(v.Line(), "%s: %v", field, err)
		return Ref{}
	}
	if typ != "" && !strings.EqualFold(id.Type(), typ) {
		r.errf(v.Line(), "%s %s is a %s, not a %s", field, v.Str(), id.Type(), typ)
		return Ref{}
	}
	if !external {
		r.d.refs = append(r.d.refs, pendingRef{r: r, field: field, line: v.Line(), id: id, typ: typ})
	}
	return Ref{ID: id, Pos: r.d.pos(v.Line())}
}

// kind is a registered Kind with its decoder.
type kind struct {
	*Kind
	// index says the decoded value is a model type, found by Snapshot.Lookup.
	index bool
	child bool // a parent/child type that must be attached to its parent
	// notInInfo keeps the kind's values out of decoder.info: a file may
	// declare a hundred thousand NSG rules, and a rule's declaration is
	// looked up (through seen) only for a message.
	notInInfo bool
	// children are the decoders of Kind.Children, in that order.
	children []*kind
	decode   func(r *res) any
	// store puts a decoded value in place: a snapshot slice, or its parent.
	store func(d *decoder, parent, x any)
}

func topKind[T any](typ string, dec func(*res) *T, slice func(*Snapshot) *[]*T) *kind {
	return &kind{Kind: KindOf(typ), index: true,
		decode: func(r *res) any { return dec(r) },
		store: func(d *decoder, _, x any) {
			s := slice(d.snap)
			*s = append(*s, x.(*T))
		}}
}

func childKind[P, C any](typ string, index bool, dec func(*res) *C, attach func(d *decoder, p *P, c *C)) *kind {
	return &kind{Kind: KindOf(typ), index: index, child: true,
		decode: func(r *res) any { return dec(r) },
		store: func(d *decoder, parent, x any) {
			if p, ok := parent.(*P); ok {
				attach(d, p, x.(*C))
			}
		}}
}

// Types that are parts of kinds or referenced only, canonical spelling.
const (
	typeIPPrefix = "Microsoft.Network/publicIPPrefixes"
	typeLBPool   = TypeLoadBalancer + "/backendAddressPools"
)

// kindIndex holds the decoder of every registered kind, by lower-cased
// type (TestEveryKindDecodes checks that none is missing); allKinds holds
// them in the order of the kind registry.
var (
	kindIndex = map[string]*kind{}
	allKinds  []*kind
)

// The table is built in init because decoders of parents look up their
// children's kinds, which a package-level initializer would make a cycle.
func init() {
	securityRules := childKind(TypeSecurityRule, true, decodeSecurityRule, func(_ *decoder, g *NetworkSecurityGroup, sr *SecurityRule) { g.Rules = append(g.Rules, sr) })
	securityRules.notInInfo = true
	decoders := []*kind{
		topKind(TypeResourceGroup, decodeResourceGroup, func(s *Snapshot) *[]*ResourceGroup { return &s.ResourceGroups }),
		topKind(TypeVirtualNetwork, decodeVirtualNetwork, func(s *Snapshot) *[]*VirtualNetwork { return &s.VirtualNetworks }),
		childKind(TypeSubnet, true, decodeSubnet, attachSubnet),
		childKind(TypePeering, true, decodePeering, func(_ *decoder, v *VirtualNetwork, p *Peering) { v.Peerings = append(v.Peerings, p) }),
		topKind(TypeNSG, decodeSecurityGroup, func(s *Snapshot) *[]*NetworkSecurityGroup { return &s.NetworkSecurityGroups }),
		securityRules,
		topKind(TypeASG, decodeASG, func(s *Snapshot) *[]*ApplicationSecurityGroup { return &s.ApplicationSecurityGroups }),
		topKind(TypeRouteTable, decodeRouteTable, func(s *Snapshot) *[]*RouteTable { return &s.RouteTables }),
		childKind(TypeRoute, true, decodeRoute, func(_ *decoder, t *RouteTable, rt *Route) { t.Routes = append(t.Routes, rt) }),
		topKind(TypeNATGateway, decodeNATGateway, func(s *Snapshot) *[]*NATGateway { return &s.NATGateways }),
		topKind(TypePublicIP, decodePublicIP, func(s *Snapshot) *[]*PublicIPAddress { return &s.PublicIPAddresses }),
		topKind(TypeLoadBalancer, decodeLoadBalancer, func(s *Snapshot) *[]*LoadBalancer { return &s.LoadBalancers }),
		topKind(TypeNIC, decodeNIC, func(s *Snapshot) *[]*NetworkInterface { return &s.NetworkInterfaces }),
		topKind(TypePrivateEndpoint, decodePrivateEndpoint, func(s *Snapshot) *[]*PrivateEndpoint { return &s.PrivateEndpoints }),
		childKind(TypeZoneGroup, true, decodeZoneGroup, func(_ *decoder, pe *PrivateEndpoint, g *PrivateDNSZoneGroup) {
			pe.ZoneGroups = append(pe.ZoneGroups, g)
		}),
		topKind(TypePrivateDNSZone, decodeZone, func(s *Snapshot) *[]*PrivateDNSZone { return &s.PrivateDNSZones }),
		childKind(TypeZoneLink, true, decodeZoneLink, func(_ *decoder, z *PrivateDNSZone, l *VirtualNetworkLink) { z.Links = append(z.Links, l) }),
		childKind(TypeZoneA, false, decodeARecords, attachRecordSet),
		childKind(TypeZoneCNAME, false, decodeCNAMERecord, attachRecordSet),
		topKind(TypeFirewall, decodeFirewall, func(s *Snapshot) *[]*AzureFirewall { return &s.AzureFirewalls }),
		topKind(TypeFirewallPolicy, decodeFirewallPolicy, func(s *Snapshot) *[]*FirewallPolicy { return &s.FirewallPolicies }),
		childKind(TypeRuleGroup, false, decodeRuleGroup, attachRuleGroup),
		topKind(TypeSEP, decodeServiceEndpointPolicy, func(s *Snapshot) *[]*ServiceEndpointPolicy { return &s.ServiceEndpointPolicies }),
		topKind(TypeDNSResolver, decodeDNSResolver, func(s *Snapshot) *[]*DNSResolver { return &s.DNSResolvers }),
		childKind(TypeInboundEndpoint, true, decodeInboundEndpoint, func(_ *decoder, v *DNSResolver, e *DNSResolverInboundEndpoint) {
			v.InboundEndpoints = append(v.InboundEndpoints, e)
		}),
		childKind(TypeOutboundEndpoint, true, decodeOutboundEndpoint, func(_ *decoder, v *DNSResolver, e *DNSResolverOutboundEndpoint) {
			v.OutboundEndpoints = append(v.OutboundEndpoints, e)
		}),
		topKind(TypeRuleset, decodeForwardingRuleset, func(s *Snapshot) *[]*DNSForwardingRuleset { return &s.DNSForwardingRulesets }),
		childKind(TypeForwardingRule, true, decodeForwardingRule, func(_ *decoder, rs *DNSForwardingRuleset, fr *DNSForwardingRule) { rs.Rules = append(rs.Rules, fr) }),
		childKind(TypeRulesetLink, true, decodeRulesetLink, func(_ *decoder, rs *DNSForwardingRuleset, l *DNSForwardingRulesetLink) {
			rs.Links = append(rs.Links, l)
		}),
		topKind(TypeStorageAccount, decodeStorageAccount, func(s *Snapshot) *[]*StorageAccount { return &s.StorageAccounts }),
		topKind(TypeWorkspace, decodeWorkspace, func(s *Snapshot) *[]*Workspace { return &s.Workspaces }),
		// Computes are not attached to their workspace, which may live
		// outside the file.
		topKind(TypeCompute, decodeCompute, func(s *Snapshot) *[]*Compute { return &s.Computes }),
		topKind(TypeJob, decodeJob, func(s *Snapshot) *[]*Job { return &s.Jobs }),
		topKind(TypeCodes, decodeAsset, mlAssets),
		topKind(TypeCodeVersion, decodeAsset, mlAssets),
		topKind(TypeEnvironments, decodeAsset, mlAssets),
		topKind(TypeEnvironmentVer, decodeAsset, mlAssets),
		topKind(TypeVirtualMachine, decodeVirtualMachine, func(s *Snapshot) *[]*VirtualMachine { return &s.VirtualMachines }),
		topKind(TypeKeyVault, decodeRecord, records),
		topKind(TypeAppInsights, decodeRecord, records),
		topKind(TypeRegistry, decodeRecord, records),
		topKind(TypeLock, decodeLock, func(s *Snapshot) *[]*ManagementLock { return &s.Locks }),
		topKind(TypePolicyAssignment, decodePolicyAssignment, func(s *Snapshot) *[]*PolicyAssignment { return &s.PolicyAssignments }),
	}
	for _, k := range decoders {
		if k.Kind == nil {
			// A decoder for a type the registry lacks is a programming
			// error every test run meets at once.
			panic("resources: a decoder's type is not in the kind registry")
		}
		kindIndex[strings.ToLower(k.Type)] = k
	}
	for _, k := range decoders {
		for _, c := range k.Children {
			k.children = append(k.children, kindIndex[strings.ToLower(c.Type)])
		}
	}
	for _, k := range Kinds() {
		allKinds = append(allKinds, kindIndex[strings.ToLower(k.Type)])
	}
}

// unknownType explains an unsupported type briefly: a near miss, the types
// of the same provider, or the providers.
func unknownType(t string) string {
	var types, providers, same []string
	provider, _, _ := strings.Cut(t, "/")
	for _, k := range Kinds() {
		types = append(types, k.Type)
		p, rest, _ := strings.Cut(k.Type, "/")
		if !slices.Contains(providers, p) {
			providers = append(providers, p)
		}
		if strings.EqualFold(p, provider) {
			same = append(same, rest)
		}
	}
	switch s := suggest(t, types); {
	case s != "":
		return fmt.Sprintf("unknown resource type %q; did you mean %q?", t, s)
	case len(same) > 0:
		return fmt.Sprintf("unknown resource type %q; supported in %s: %s", t, provider, strings.Join(same, ", "))
	}
	return fmt.Sprintf("unknown resource type %q; supported providers: %s", t, strings.Join(providers, ", "))
}

// checkSegment checks a name that becomes one segment of resource ids.
func checkSegment(field, s string) error {
	if s == "" || strings.Contains(s, "/") {
		return fmt.Errorf("%s %q must be a non-empty name without \"/\"", field, s)
	}
	return nil
}

func (d *decoder) decodeDoc(doc arm.Node) {
	f := d.fileRes
	if doc.Kind() != arm.Object {
		f.errf(doc.Line(), "an environment file is an object with subscription and resources, got %s", doc.Kind())
		return
	}
	top := f.newObj(doc, "", doc.Line(), false)
	if sv := top.get("subscription", arm.String); !sv.IsZero() {
		if err := checkSegment("subscription", sv.Str()); err != nil {
			f.errf(sv.Line(), "%v", err)
		} else {
			d.snap.Subscription = sv.Str()
		}
	}
	list := top.need("resources", arm.Array)
	f.finish()
	if list.IsZero() {
		return
	}
	n, notInInfo := countResources(list)
	if n > maxResources {
		f.errf(list.Line(), "the file declares %d resources (nested children included); the limit is %d", n, maxResources)
		return
	}
	// Sized once: growing maps of 100,000 resources costs more than filling them.
	d.seen, d.snap.byKey = make(map[string]*res, n), make(map[string]any, n)
	d.info = make(map[any]*res, n-notInInfo)
	items := make([]arm.Node, list.Len())
	for i, it := range list.Items() {
		items[i] = it
	}
	if d.parallel && n >= parallelMin {
		d.split = true
		d.decodeParallel(items)
		if len(d.problems) > 0 {
			return // decode starts again in one pass
		}
	} else {
		d.decodeResources(0, items)
	}
	d.attachStandalone()
	d.checkVirtualNetworks()
	d.checkSecurityGroups()
	d.checkDNSResolvers()
	d.checkForwardingRulesets()
	d.link()
}

// decodeResources decodes list entries, the first of which is resources[first].
func (d *decoder) decodeResources(first int, items []arm.Node) {
	for i, v := range items {
		if v.Kind() != arm.Object {
			d.fileRes.errf(v.Line(), "resources[%d] must be an object, got %s", first+i, v.Kind())
			continue
		}
		d.decodeResource(first+i, v)
	}
}

// countResources counts list entries and the children nested in them, and
// of those the nested children of kinds kept out of decoder.info.
func countResources(list arm.Node) (n, notInInfo int) {
	for _, it := range list.Items() {
		all, out := nestedCount(it)
		n += 1 + all
		notInInfo += out
	}
	return n, notInInfo
}

// nestedCount counts the children nested in a list entry, and of those
// the children of kinds kept out of decoder.info.
func nestedCount(it arm.Node) (n, notInInfo int) {
	props := it.Get("properties")
	if props.Kind() != arm.Object {
		return 0, 0
	}
	for _, k := range allKinds {
		for _, c := range k.children {
			if a := props.Get(c.Inline); !a.IsZero() {
				n += a.Len()
				if c.notInInfo {
					notInInfo += a.Len()
				}
			}
		}
	}
	return n, notInInfo
}

func (d *decoder) decodeResource(i int, v arm.Node) {
	r := d.resources.alloc()
	r.d, r.label, r.line, r.sub, r.firstObj = d, fmt.Sprintf("resources[%d]", i), v.Line(), d.snap.Subscription, len(d.open)
	defer r.finish()
	env := r.newObj(v, "", v.Line(), false)
	r.env = env
	// Envelope fields that only some types read; the rest ignore them.
	// systemData and managedBy are read-only and appear in Azure's exports.
	env.ignore("etag", "zones", "identity", "kind", "sku", "systemData", "managedBy")
	tv := env.need("type", arm.String)
	if tv.IsZero() {
		env.ignoreRest()
		return
	}
	k := kindIndex[strings.ToLower(tv.Str())]
	if k == nil {
		if !d.full() { // the message costs a search over all types
			r.errf(tv.Line(), "%s", unknownType(tv.Str()))
		} else {
			d.dropped++
		}
		env.ignoreRest()
		return
	}
	r.kind, r.line = k, tv.Line()
	r.label = k.Label + " " + r.label
	if r.placeByID() {
		r.location, r.tags, r.pos = env.str("location"), env.tags("tags"), d.pos(r.line)
		r.props = env.childFor(r, "properties")
		r.run(nil)
		return
	}
	nv := env.need("name", arm.String)
	if !nv.IsZero() {
		r.name, r.nameLine = nv.Str(), nv.Line()
		r.label = k.Label + " " + nv.Str()
	}
	if sv := env.get("subscription", arm.String); !sv.IsZero() {
		if err := checkSegment("subscription", sv.Str()); err != nil {
			r.errf(sv.Line(), "%v", err)
		} else {
			r.sub = sv.Str()
		}
	}
	rg, rgOK := r.resourceGroup(nv)
	if r.sub == "" {
		r.errf(r.line, "no subscription: set subscription at the top of the file or on the resource")
	}
	if !nv.IsZero() && rgOK && r.sub != "" {
		id, err := arm.NewID(r.sub, rg, k.Type, nv.Str())
		if err != nil {
			r.errf(nv.Line(), "%v", err)
		} else {
			r.id = id
		}
	}
	if iv := env.get("id", arm.String); !iv.IsZero() && !r.id.IsZero() {
		given, err := arm.ParseID(iv.Str(), r.sub)
		switch {
		case err != nil:
			r.errf(iv.Line(), "id: %v", err)
		case !given.Equal(r.id):
			r.errf(iv.Line(), "id %s does not match the id computed from type, resourceGroup and name: %s", iv.Str(), r.id)
		}
	}
	r.location, r.tags, r.pos = env.str("location"), env.tags("tags"), d.pos(r.line)
	r.props = env.childFor(r, "properties")
	r.run(nil)
}

// placeByID handles an entry in ARM's own shape, as Azure returns it: an
// id and no subscription or resourceGroup. The id then places the
// resource, and name, when written, is its leaf (or its parent/child
// name). It reports whether the entry was of that shape.
func (r *res) placeByID() bool {
	env := r.env
	iv := env.v.Get("id")
	if iv.IsZero() || iv.Kind() != arm.String || !env.v.Get("resourceGroup").IsZero() || !env.v.Get("subscription").IsZero() {
		return false
	}
	env.lookup("id")
	id, err := arm.ParseID(iv.Str(), r.sub)
	switch {
	case err != nil:
		r.errf(iv.Line(), "id: %v", err)
	case !strings.EqualFold(id.Type(), r.kind.Type):
		r.errf(iv.Line(), "id %s is a %s, not a %s", iv.Str(), id.Type(), r.kind.Type)
	default:
		r.id, r.sub = id, id.Subscription
		r.name, r.nameLine = id.Name(), iv.Line()
		r.label = r.kind.Label + " " + id.Name()
	}
	if nv := env.get("name", arm.String); !nv.IsZero() && !r.id.IsZero() && !strings.EqualFold(nv.Str(), r.id.Leaf()) && !strings.EqualFold(nv.Str(), r.id.Name()) {
		r.errf(nv.Line(), "name %q does not match id %s", nv.Str(), r.id)
	}
	return true
}

// resourceGroup reads the envelope's resourceGroup; a resource group's own
// envelope may omit it (its name is the group), and so may a policy
// assignment's (it is then assigned at the subscription).
func (r *res) resourceGroup(nv arm.Node) (string, bool) {
	if r.kind.Type == arm.TypeResourceGroup {
		if !nv.IsZero() {
			if err := checkSegment("name", nv.Str()); err != nil {
				r.errf(nv.Line(), "%v", err)
				return "", false
			}
		}
		if gv := r.env.get("resourceGroup", arm.String); !gv.IsZero() && !nv.IsZero() && !strings.EqualFold(gv.Str(), nv.Str()) {
			r.errf(gv.Line(), "resourceGroup %q differs from the resource group's name %q", gv.Str(), nv.Str())
		}
		return "", true
	}
	// A kind that may live at the subscription (a policy assignment)
	// without resourceGroup is there; its id has no resource group
	// segment.
	if r.kind.AtSubscription && r.env.lookup("resourceGroup").IsZero() {
		return "", true
	}
	gv := r.env.need("resourceGroup", arm.String)
	if gv.IsZero() {
		return "", false
	}
	if err := checkSegment("resourceGroup", gv.Str()); err != nil {
		r.errf(gv.Line(), "%v", err)
		return "", false
	}
	return gv.Str(), true
}

// run decodes r, registers it, then decodes the children nested in it.
func (r *res) run(parent any) {
	if !r.id.IsZero() {
		// ne is declared only when there is an error: errors.As makes it
		// an allocation, and a large file has 100,000 valid names.
		if err := r.kind.name.check(r.kind.Type, r.id.Leaf()); err != nil {
			var ne *NameError
			if errors.As(err, &ne) {
				r.errc(ne.Code, r.nameLine, "%v", ne)
			}
		}
	}
	out := r.kind.decode(r)
	if !r.d.register(r, out, parent) {
		// Children of a resource that is not in the snapshot are checked
		// but not registered.
		r.id = arm.ID{}
	}
	for _, c := range r.kind.children {
		r.nestedChildren(c, out)
	}
}

// nestedChildren decodes the children written inline in r's properties.
func (r *res) nestedChildren(k *kind, parent any) {
	var childID func(name string) arm.ID
	if !r.id.IsZero() {
		childID = r.id.Children(k.Leaf())
	}
	for _, it := range r.props.items(k.Inline) {
		// id and type are Azure's read-only echo of what the nesting says.
		it.ignore("id", "type", "etag")
		c := r.d.resources.alloc()
		c.d, c.kind, c.sub, c.line, c.firstObj = r.d, k, r.sub, int(it.line), len(r.d.open)
		if nv := it.need("name", arm.String); nv.IsZero() {
			c.label = fmt.Sprintf("%s %s/%s", k.Label, r.name, strings.TrimSuffix(it.path(), "."))
		} else {
			c.name, c.nameLine = r.name+"/"+nv.Str(), nv.Line()
			switch {
			case nv.Str() == "" || strings.Contains(nv.Str(), "/"):
				it.errf(nv.Line(), "%sname %q must be a non-empty name without \"/\"", it.path(), nv.Str())
			case childID != nil:
				c.id = childID(nv.Str())
			}
		}
		c.pos = r.d.pos(c.line)
		c.props = it.childFor(c, "properties")
		c.run(parent)
		c.finish()
	}
}

// register records a decoded resource under its id and stores it: into its
// parent when nested, later for standalone children, else into the
// snapshot. It reports whether the resource was registered.
func (d *decoder) register(r *res, out, parent any) bool {
	r.out = out
	if r.id.IsZero() {
		return false
	}
	key := r.id.Key()
	if d.deferred {
		// A duplicate, the only other refusal, is found when the
		// registration is replayed; it is a problem, and problems send
		// the file back to a decode in one pass.
		d.regs = append(d.regs, registration{r: r, key: key, parent: parent})
		return true
	}
	return d.place(r, key, parent)
}

// place is register's second half, which needs file order: r's id is
// set and its key is key.
func (d *decoder) place(r *res, key string, parent any) bool {
	out := r.out
	if first := d.seen[key]; first != nil {
		r.errf(r.line, "declared twice (first at %s)", d.pos(first.line))
		return false
	}
	d.seen[key] = r
	if !r.kind.notInInfo {
		d.info[out] = r
	}
	if r.kind.index {
		d.snap.byKey[key] = out
	}
	switch {
	case parent != nil:
		r.kind.store(d, parent, out)
	case r.kind.child:
		d.pending = append(d.pending, r)
	default:
		r.kind.store(d, nil, out)
	}
	return true
}

// attachStandalone attaches children declared as list entries to their
// parents, which must be in the file.
func (d *decoder) attachStandalone() {
	for _, c := range d.pending {
		pid, _ := c.id.Parent()
		p := d.seen[pid.Key()]
		if p == nil {
			label := pid.Type()
			if k := kindIndex[strings.ToLower(label)]; k != nil {
				label = k.Label
			}
			c.errf(c.line, "%s %s is not in the file; a child needs its parent", label, pid.Name())
			continue
		}
		c.kind.store(d, p.out, c.out)
	}
}
