// Package netverify compiles a snapshot of Azure-style network resources into
// indexed tables and answers flow queries with explained verdicts: which NSG
// rule, route, NAT, firewall rule or DNS record decided each flow, as Azure
// would (spec azure-requirements.md §8). It is pure: no I/O, no clock, no
// globals; a compiled Network is read-only and safe for concurrent queries.
package netverify

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// Addresses Azure reserves for its platform (spec §8.1): DNS, DHCP and
// health probes at 168.63.129.16, instance metadata at 169.254.169.254.
// Traffic to them bypasses NSGs.
var (
	azurePlatformIP = mustU32("168.63.129.16")
	imdsIP          = mustU32("169.254.169.254")
)

// platformTags are the tags that make NSG rules apply to platform
// traffic, which otherwise bypasses NSGs (spec §8.1). LKM is Windows
// license activation (azkms.core.windows.net and its successors).
var platformTags = map[string]ipset.Set{
	"azureplatformdns":  mustSet("168.63.129.16/32"),
	"azureplatformimds": mustSet("169.254.169.254/32"),
	"azureplatformlkm":  mustSet("23.102.135.246/32", "20.118.99.224/32", "40.83.235.53/32"),
}

// nonPublic are the ranges that are never "Internet": private, shared,
// loopback, link-local, multicast and reserved space.
var nonPublic = mustSet("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4")

// systemNoneRoutes are the system routes to None (spec §8.2).
var systemNoneRoutes = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"}

// externalStandIns hold the addresses securetrain gives public names it
// cannot map to a service tag (pypi.org): 198.18.0.0/15, reserved for
// benchmarking (RFC 2544), part of Internet and of no service tag.
var externalStandIns = mustSet("198.18.0.0/15")

// externalStandIn is a name's stand-in address: its own, so that a rule
// for one name does not admit another ("traffic to an address the FQDN
// didn't resolve to is denied"), and the same in every run — the first
// bytes of the name's SHA-256 pick it in externalStandIns.
func externalStandIn(name string) uint32 {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSuffix(name, "."))))
	r := externalStandIns.Ranges()[0]
	return r.Lo + binary.BigEndian.Uint32(h[:4])%(r.Hi-r.Lo+1)
}

func mustU32(s string) uint32 {
	u, _ := ipset.U32(netip.MustParseAddr(s))
	return u
}

func mustSet(cidrs ...string) ipset.Set {
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	return ipset.FromPrefixes(ps)
}

// Network is a compiled snapshot. Build it with Compile.
type Network struct {
	snap *resources.Snapshot
	tags *servicetags.Catalog

	vnets     []*vnetCtx
	vnetByKey map[string]*vnetCtx
	subnets   map[string]*subnetCtx
	nsgs      map[string]*nsgCtx // key: nsg key + "|" + vnet key
	nsgVNets  map[string]arm.ID  // same key: the VNet
	computes  map[string]*computeCtx
	// computeList is computes in file order; computeByName and
	// computeByLeaf find them by "ws/compute" and by compute name.
	computeList   []*computeCtx
	computeByName map[string]*computeCtx
	computeByLeaf map[string][]*computeCtx
	// subnetSpace and vnetSpace are the union of all subnets and all VNets.
	subnetSpace, vnetSpace ipset.Set
	firewalls              []*firewallCtx
	// publicEndpoints maps public addresses owned by resources in the file.
	publicEndpoints map[uint32]*publicEndpoint
	dns             *dnsCtx

	// tagSets are the catalog's tags that the file names, as sets, filled
	// by Compile; read-only once compiled is set (Compile returned).
	tagSets  map[string]ipset.Set
	compiled bool
	// nsgList is every compiled NSG (those of nsgs and Azure ML's), in the
	// order Compile met them.
	nsgList []*nsgCtx
	// cuts are the boundaries of the address sets the walk consults by
	// membership (subnets, hosts, public IPs, platform addresses); a set
	// query is split at them. NSG, route and firewall lookups report their
	// own intervals instead (see box), so their boundaries cut a query only
	// where the query's path meets them.
	cuts []uint32
	// tables are every route table (nsgList every NSG); fullCuts adds
	// their boundaries, and the firewall rules', to cuts for the reference
	// evaluator, which narrows nothing.
	tables        []*routeTable
	fullCutsOnce  sync.Once
	fullCutsValue []uint32
	// hops are the rendered hops by step (step → Hop), shared by every
	// answer: a hop's text depends only on its step.
	hops sync.Map
	// endpoints are the resolved resource and service-tag endpoints
	// (endpointKey → *endpoint), shared by every query.
	endpoints sync.Map

	problems []string
}

type vnetCtx struct {
	v     *resources.VirtualNetwork
	space ipset.Set
	// vnetTag is the VirtualNetwork service tag as every subnet of this
	// VNet sees it; a subnet adds the prefixes of its own route table.
	vnetTag  ipset.Set
	internet ipset.Set // Internet service tag as seen from this VNet
	peers    []*peerCtx
	subnets  []*subnetCtx
	hosts    map[uint32]*host
	zones    []*zoneCtx // private DNS zones linked to this VNet
	// forwarding are the DNS forwarding rules of rulesets linked to this VNet.
	forwarding []*forwardingRule
}

type peerCtx struct {
	p      *resources.Peering
	remote *vnetCtx
	// connected is true when the remote VNet peers back (Azure's "Connected");
	// back is that peering.
	connected bool
	back      *resources.Peering
}

type subnetCtx struct {
	s    *resources.Subnet
	vnet *vnetCtx
	set  ipset.Set
	// vnetTag is the VirtualNetwork service tag for the NICs of this
	// subnet: the VNet's, plus the prefixes of the subnet's own UDRs.
	vnetTag         ipset.Set
	usable          ipset.Set
	nsg             *nsgCtx
	routes          *routeTable
	nat             *resources.NATGateway
	seps            []*resources.ServiceEndpointPolicy
	defaultOutbound bool
}

type hostKind int

const (
	hostNIC hostKind = iota
	hostPrivateEndpoint
	hostFirewall
	hostLBFrontend
	hostDNSResolver
)

// host is an address in a subnet that a resource of the file owns.
type host struct {
	kind     hostKind
	addr     uint32
	id       arm.ID
	label    string
	subnet   *subnetCtx
	nicNSG   *nsgCtx
	publicIP *resources.PublicIPAddress
	forwards bool // NIC with IP forwarding: a network virtual appliance
	pe       *resources.PrivateEndpoint
	fw       *firewallCtx
	// outboundLB is the load balancer whose outbound rule gives this NIC
	// SNAT (its backend pool is in the rule), and outboundIPs its
	// frontends' public addresses.
	outboundLB  *resources.LoadBalancer
	outboundIPs string
	// dnsServers are a NIC's own DNS servers, which take precedence over
	// its VNet's.
	dnsServers []netip.Addr
}

type computeCtx struct {
	c      *resources.Compute
	subnet *subnetCtx
	nodes  ipset.Set
	nicNSG *nsgCtx // the NSG Azure ML creates on node NICs of public-IP computes
	// aml is what Azure ML creates for a public-IP compute (zero without).
	aml resources.AzureMLResources
}

// publicEndpoint is a public address that leads into the network.
type publicEndpoint struct {
	pip   *resources.PublicIPAddress
	label string
	lb    *resources.LoadBalancer
	// frontend is the load balancer's frontend configuration that holds
	// the address: only its rules apply.
	frontend string
	nic      *host
	fw       *firewallCtx
}

// basic reports whether the address is a Basic SKU one (the public IP's,
// or its load balancer's SKU says Basic): open to inbound traffic where no
// NSG applies. Standard, and an unset SKU (Basic can no longer be
// created: resources.SKUName), is closed unless an NSG allows.
func (p *publicEndpoint) basic() bool {
	return (p.pip != nil && resources.SKUName(p.pip.SKU) == "Basic") || (p.lb != nil && resources.SKUName(p.lb.SKU) == "Basic")
}

// Snapshot is the snapshot the network was compiled from.
func (n *Network) Snapshot() *resources.Snapshot { return n.snap }

// ServiceTags is the catalog the network was compiled with.
func (n *Network) ServiceTags() *servicetags.Catalog { return n.tags }

// CompileError lists every problem that stops a snapshot from compiling.
type CompileError struct{ Problems []string }

func (e *CompileError) Error() string { return strings.Join(e.Problems, "\n") }

// Compile builds the query structures for a snapshot with a service-tag catalog.
func Compile(snap *resources.Snapshot, tags *servicetags.Catalog) (*Network, error) {
	if snap == nil || tags == nil {
		return nil, errors.New("netverify: Compile needs a snapshot and a service-tag catalog")
	}
	n := &Network{
		snap: snap, tags: tags,
		vnetByKey:       map[string]*vnetCtx{},
		subnets:         map[string]*subnetCtx{},
		nsgs:            map[string]*nsgCtx{},
		nsgVNets:        map[string]arm.ID{},
		computes:        map[string]*computeCtx{},
		computeByName:   map[string]*computeCtx{},
		computeByLeaf:   map[string][]*computeCtx{},
		publicEndpoints: map[uint32]*publicEndpoint{},
		tagSets:         map[string]ipset.Set{},
	}
	n.addCut(ipset.Single(azurePlatformIP), ipset.Single(imdsIP), nonPublic, externalStandIns)
	n.compileVNets()
	n.compileFirewalls()
	n.compileHosts()
	n.placeSNAT()
	n.compileSubnets()
	n.compileComputes()
	n.compileDNS()
	if len(n.problems) > 0 {
		slices.SortFunc(n.problems, compareProblems)
		return nil, &CompileError{Problems: slices.Compact(n.problems)}
	}
	n.finishCuts()
	for _, fc := range n.firewalls {
		fc.buildIndex() // after compileDNS: FQDN rules' addresses are resolved there
	}
	n.compiled = true
	return n, nil
}

// fullCuts are cuts plus every NSG and route boundary: pieces at which
// the reference evaluator, which narrows nothing, can evaluate one address.
func (n *Network) fullCuts() []uint32 {
	n.fullCutsOnce.Do(func() {
		all := slices.Clone(n.cuts)
		n.prepare()
		for _, c := range n.nsgList {
			for _, d := range []*nsgDir{c.dir(resources.Inbound), c.dir(resources.Outbound)} {
				all = append(all, d.src.starts...)
				all = append(all, d.dst.starts...)
			}
		}
		for _, rt := range n.tables {
			all = append(all, rt.painted().starts...)
		}
		for _, fc := range n.firewalls {
			for _, cols := range [][]*fwCollection{fc.network, fc.application} {
				for _, col := range cols {
					for _, r := range col.rules {
						for _, set := range []ipset.Set{r.src, r.dst} {
							for _, rg := range set.Ranges() {
								all = append(all, rg.Lo)
								if rg.Hi != 0xFFFFFFFF {
									all = append(all, rg.Hi+1)
								}
							}
						}
					}
				}
			}
		}
		slices.Sort(all)
		n.fullCutsValue = slices.Compact(all)
	})
	return n.fullCutsValue
}

func (n *Network) problem(pos, what, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if what != "" {
		msg = what + ": " + msg
	}
	if pos != "" {
		msg = pos + ": " + msg
	}
	n.problems = append(n.problems, msg)
}

// compareProblems orders "file:line: …" messages by file, then line number.
func compareProblems(a, b string) int {
	pa, _, _ := strings.Cut(a, ": ")
	pb, _, _ := strings.Cut(b, ": ")
	if c := arm.ComparePositions(pa, pb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func (n *Network) addCut(sets ...ipset.Set) {
	for _, s := range sets {
		for _, r := range s.Ranges() {
			n.addCutRange(r)
		}
	}
}

func (n *Network) addCutRange(r ipset.Range) {
	n.cuts = append(n.cuts, r.Lo)
	if r.Hi != 0xFFFFFFFF {
		n.cuts = append(n.cuts, r.Hi+1)
	}
}

func (n *Network) finishCuts() {
	n.cuts = append(n.cuts, 0)
	slices.Sort(n.cuts)
	n.cuts = slices.Clip(slices.Compact(n.cuts))
}

func (n *Network) compileVNets() {
	for _, v := range n.snap.VirtualNetworks {
		vc := &vnetCtx{v: v, space: ipset.FromPrefixes(v.AddressSpace), hosts: map[uint32]*host{}}
		n.vnets = append(n.vnets, vc)
		n.vnetByKey[v.ID.Key()] = vc
		n.addCut(vc.space)
		n.vnetSpace = n.vnetSpace.Union(vc.space)
		for _, s := range v.Subnets {
			set := ipset.FromPrefixes(s.AddressPrefixes)
			sc := &subnetCtx{s: s, vnet: vc, set: set, usable: usableSet(s.AddressPrefixes),
				defaultOutbound: s.DefaultOutboundAccess == nil || *s.DefaultOutboundAccess}
			vc.subnets = append(vc.subnets, sc)
			n.subnets[s.ID.Key()] = sc
			n.addCut(set, sc.usable)
			n.subnetSpace = n.subnetSpace.Union(set)
		}
	}
	for _, vc := range n.vnets {
		for _, p := range vc.v.Peerings {
			remote := n.vnetByKey[p.RemoteVirtualNetwork.ID.Key()]
			if remote == nil || !p.Carries() {
				// A peering to a VNet outside the file is Initiated at best,
				// and a Disconnected one stays so: no traffic.
				vc.peers = append(vc.peers, &peerCtx{p: p})
				continue
			}
			pc := &peerCtx{p: p, remote: remote}
			for _, rp := range remote.v.Peerings {
				if rp.RemoteVirtualNetwork.ID.Equal(vc.v.ID) && rp.Carries() {
					pc.connected, pc.back = true, rp
				}
			}
			vc.peers = append(vc.peers, pc)
		}
	}
	for _, vc := range n.vnets {
		// VirtualNetwork = own space + connected peers whose VNet access
		// is allowed + 168.63.129.16 (spec §8.1) …
		tag := vc.space.Union(ipset.Single(azurePlatformIP))
		known := vc.space
		for _, pc := range vc.peers {
			if pc.connected && pc.p.AllowVirtualNetworkAccess {
				tag = tag.Union(pc.remote.space)
				known = known.Union(pc.remote.space)
			}
		}
		vc.vnetTag = tag
		vc.internet = nonPublic.Complement().Subtract(known)
		// … + the prefixes of the UDRs in the route table of the NIC's own
		// subnet, not of every subnet of the VNet (issue 12 point 5). The
		// subnets with the same route table share the set.
		byTable := map[string]ipset.Set{}
		for _, sc := range vc.subnets {
			key := sc.s.RouteTable.ID.Key()
			s, ok := byTable[key]
			if !ok {
				s = n.withUDRPrefixes(tag, n.snap.RouteTable(sc.s.RouteTable.ID))
				byTable[key] = s
			}
			sc.vnetTag = s
		}
	}
}

// withUDRPrefixes is tag plus the prefixes of the route table's UDRs (nil:
// no table), as one set; it reports the UDRs whose prefix is neither a
// CIDR nor a service tag.
func (n *Network) withUDRPrefixes(tag ipset.Set, rt *resources.RouteTable) ipset.Set {
	if rt == nil {
		return tag
	}
	rs := slices.Clone(tag.Ranges())
	for _, r := range rt.Routes {
		ps, ok := n.routePrefixes(r)
		if !ok {
			// Every subnet's table comes here, so this is where the routes
			// are checked: the effective route tables are built on first use.
			n.problem(r.Pos, "route "+r.ID.Name(), "addressPrefix %q is neither a CIDR nor a service tag of catalog %s", r.AddressPrefix, n.tags.Version())
			continue
		}
		for _, p := range ps {
			if pr, ok := ipset.PrefixRange(p); ok {
				rs = append(rs, pr)
			}
		}
	}
	return ipset.Normalize(rs)
}

// routePrefixes resolves a UDR's addressPrefix (a CIDR or a service tag)
// into the prefixes Azure programs: a tag's own prefixes, unmerged, so
// exact-prefix ties between routes are broken as Azure breaks them.
func (n *Network) routePrefixes(r *resources.Route) ([]netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(r.AddressPrefix); err == nil {
		return []netip.Prefix{p.Masked()}, true
	}
	if t, ok := n.tags.Lookup(r.AddressPrefix); ok {
		return t.Prefixes, true
	}
	return nil, false
}

// catalogTagSet is a tag's set, one per tag (rules naming a tag share its
// set, which the NSG indexes group by); cached while Compile runs.
func (n *Network) catalogTagSet(t *servicetags.Tag) ipset.Set {
	if n.compiled {
		return n.catalogTagSetRO(t)
	}
	key := strings.ToLower(t.Name)
	if s, ok := n.tagSets[key]; ok {
		return s
	}
	s := ipset.FromPrefixes(t.Prefixes)
	n.tagSets[key] = s
	return s
}

// addressSet resolves an NSG or firewall address token as seen from a
// subnet: "*", an IP, a CIDR, a range, a computed tag or a catalog service
// tag.
func (n *Network) addressSet(tok string, sc *subnetCtx) (ipset.Set, error) {
	// Addresses first: 100,000 rules are mostly addresses and tags, and
	// no name below starts with a digit or holds '/' or ':'.
	if c := tok[0]; (c >= '0' && c <= '9') || strings.ContainsAny(tok, "/:") {
		if tok == "0.0.0.0/0" {
			return ipset.All, nil
		}
		return ipset.ParseAddrOrPrefix(tok)
	}
	switch {
	case tok == "*" || strings.EqualFold(tok, "any"):
		return ipset.All, nil
	case strings.EqualFold(tok, "VirtualNetwork"):
		return sc.vnetTag, nil
	case strings.EqualFold(tok, "Internet"):
		return sc.vnet.internet, nil
	case strings.EqualFold(tok, "AzureLoadBalancer"):
		return ipset.Single(azurePlatformIP), nil
	case namesPlatformTag([]string{tok}):
		return platformTags[strings.ToLower(tok)], nil
	}
	t, ok := n.tags.Lookup(tok)
	if !ok {
		return ipset.Set{}, fmt.Errorf("unknown service tag %q (catalog %s)", tok, n.tags.Version())
	}
	return n.catalogTagSet(t), nil
}

func (n *Network) compileSubnets() {
	tables := map[string]*routeTable{}
	for _, vc := range n.vnets {
		for _, s := range vc.v.Subnets {
			sc := n.subnets[s.ID.Key()]
			sc.nsg = n.nsgFor(s.NetworkSecurityGroup, sc)
			sc.nat = n.snap.NATGateway(s.NATGateway.ID)
			for _, ref := range s.ServiceEndpointPolicies {
				if p := n.snap.ServiceEndpointPolicy(ref.ID); p != nil {
					sc.seps = append(sc.seps, p)
				}
			}
			sc.routes = n.routeTableFor(sc, tables)
		}
	}
}

// compileHosts registers every address a resource owns.
func (n *Network) compileHosts() {
	for _, fw := range n.firewalls {
		n.addHost(fw.subnet, fw.privateIP, &host{kind: hostFirewall, id: fw.fw.ID, label: "Azure Firewall " + fw.fw.ID.Name(), fw: fw}, fw.fw.Pos)
		for _, ref := range fw.fw.PublicIPs {
			n.addPublic(ref, &publicEndpoint{label: "Azure Firewall " + fw.fw.ID.Name(), fw: fw})
		}
	}
	for _, nic := range n.snap.NetworkInterfaces {
		if n.snap.EndpointNIC(nic) {
			continue // its endpoint below holds its addresses
		}
		for _, ipc := range nic.IPConfigurations {
			sc := n.subnets[ipc.Subnet.ID.Key()]
			if sc == nil || !ipc.PrivateIP.IsValid() {
				continue
			}
			h := &host{kind: hostNIC, id: nic.ID, label: "network interface " + nic.ID.Name(), forwards: nic.EnableIPForwarding,
				nicNSG: n.nsgFor(nic.NetworkSecurityGroup, sc), dnsServers: nic.DNSServers}
			if ipc.PublicIP.IsSet() {
				h.publicIP = n.snap.PublicIPAddress(ipc.PublicIP.ID)
				n.addPublic(ipc.PublicIP, &publicEndpoint{label: h.label, nic: h})
			}
			h.outboundLB, h.outboundIPs = n.outboundRuleFor(ipc.LoadBalancerBackendPools)
			n.addHost(sc, ipc.PrivateIP, h, nic.Pos)
		}
	}
	for _, pe := range n.snap.PrivateEndpoints {
		sc := n.subnets[pe.Subnet.ID.Key()]
		if sc == nil {
			continue
		}
		for _, ipc := range pe.IPConfigurations {
			n.addHost(sc, ipc.PrivateIP, &host{kind: hostPrivateEndpoint, id: pe.ID, label: "private endpoint " + pe.ID.Name(), pe: pe}, pe.Pos)
		}
	}
	for _, lb := range n.snap.LoadBalancers {
		for _, fe := range lb.Frontends {
			if fe.PublicIP.IsSet() {
				n.addPublic(fe.PublicIP, &publicEndpoint{label: "load balancer " + lb.ID.Name() + " frontend " + fe.Name, lb: lb, frontend: fe.Name})
			}
			if sc := n.subnets[fe.Subnet.ID.Key()]; sc != nil && fe.PrivateIP.IsValid() {
				n.addHost(sc, fe.PrivateIP, &host{kind: hostLBFrontend, id: lb.ID, label: "load balancer " + lb.ID.Name() + " frontend " + fe.Name}, lb.Pos)
			}
		}
	}
}

// outboundRuleFor finds a load balancer outbound rule whose backend pool
// holds one of the pools, and names the public IPs of its frontends.
func (n *Network) outboundRuleFor(pools []resources.Ref) (*resources.LoadBalancer, string) {
	for _, pool := range pools {
		lbID, ok := pool.ID.Parent()
		if !ok {
			continue
		}
		lb, _ := n.snap.Lookup(lbID).(*resources.LoadBalancer)
		if lb == nil {
			continue
		}
		for _, o := range lb.OutboundRules {
			if !strings.EqualFold(o.BackendPool, pool.ID.Leaf()) {
				continue
			}
			var ips []string
			for _, fe := range lb.Frontends {
				if slices.ContainsFunc(o.Frontends, func(name string) bool { return strings.EqualFold(name, fe.Name) }) {
					if pip := n.snap.PublicIPAddress(fe.PublicIP.ID); pip != nil && pip.Address.IsValid() {
						ips = append(ips, pip.Address.String())
					} else if fe.PublicIP.IsSet() {
						ips = append(ips, fe.PublicIP.ID.Leaf())
					}
				}
			}
			return lb, strings.Join(ips, ",")
		}
	}
	return nil, ""
}

func (n *Network) addHost(sc *subnetCtx, ip netip.Addr, h *host, pos string) {
	u, ok := ipset.U32(ip)
	if !ok || sc == nil {
		return
	}
	if !sc.set.Contains(u) {
		n.problem(pos, h.label, "address %s is outside its subnet %s", ip, sc.s.ID.Name())
		return
	}
	if prev := sc.vnet.hosts[u]; prev != nil {
		n.problem(pos, h.label, "address %s is already used by %s", ip, prev.label)
		return
	}
	h.subnet, h.addr = sc, u
	sc.vnet.hosts[u] = h
	n.addCut(ipset.Single(u))
}

func (n *Network) addPublic(ref resources.Ref, pe *publicEndpoint) {
	pip := n.snap.PublicIPAddress(ref.ID)
	if pip == nil || !pip.Address.IsValid() {
		return
	}
	u, ok := ipset.U32(pip.Address)
	if !ok {
		return
	}
	pe.pip = pip
	n.publicEndpoints[u] = pe
	n.addCut(ipset.Single(u))
}

// usableSet is a subnet's addresses minus the five Azure reserves in each
// prefix: network, gateway, two DNS, broadcast (spec §8.3).
func usableSet(ps []netip.Prefix) ipset.Set {
	var rs []ipset.Range
	for _, p := range ps {
		r, ok := ipset.PrefixRange(p)
		if !ok || r.Hi-r.Lo < 5 {
			continue
		}
		rs = append(rs, ipset.Range{Lo: r.Lo + 4, Hi: r.Hi - 1})
	}
	return ipset.FromRanges(rs)
}

func (n *Network) compileComputes() {
	for _, c := range n.snap.Computes {
		cc := &computeCtx{c: c}
		n.computes[c.ID.Key()] = cc
		n.computeList = append(n.computeList, cc)
		n.computeByName[strings.ToLower(c.ID.Name())] = cc
		leaf := strings.ToLower(c.ID.Leaf())
		n.computeByLeaf[leaf] = append(n.computeByLeaf[leaf], cc)
		if sc := n.subnets[c.Subnet.ID.Key()]; sc != nil {
			cc.subnet = sc
			cc.nodes = freeAddresses(sc)
			if aml, ok := resources.AzureMLResourcesFor(c); ok {
				cc.aml = aml
				cc.nicNSG = n.compileNSG(aml.NSG, "NSG "+aml.NSG.Name(), c.Pos, CreatedByAzureML(c), aml.Rules, sc)
			}
		}
	}
}

// freeAddresses are a subnet's usable addresses that no resource of the
// file holds.
func freeAddresses(sc *subnetCtx) ipset.Set {
	taken := make([]ipset.Range, 0, len(sc.vnet.hosts))
	for u := range sc.vnet.hosts {
		taken = append(taken, ipset.Range{Lo: u, Hi: u})
	}
	return sc.usable.Subtract(ipset.FromRanges(taken))
}

// vnetOfAddr returns the VNet context of a subnet id key, for peers.
func (n *Network) subnetAt(vc *vnetCtx, u uint32) *subnetCtx {
	for _, sc := range vc.subnets {
		if sc.set.Contains(u) {
			return sc
		}
	}
	return nil
}

// sortedKeys returns map keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// catalogTagSetRO is catalogTagSet for query time: the compiled network is
// read-only then, so an uncached tag is computed without being stored.
func (n *Network) catalogTagSetRO(t *servicetags.Tag) ipset.Set {
	if s, ok := n.tagSets[strings.ToLower(t.Name)]; ok {
		return s
	}
	return ipset.FromPrefixes(t.Prefixes)
}

// ExternalStandIns is the range the stand-in addresses of names outside
// Azure's service tags come from (pypi.org and the like): a fabric answers
// for those names there.
func ExternalStandIns() ipset.Set { return externalStandIns }
