package netverify

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// Next hop types of effective routes; system-only types are added to the
// UDR ones (spec §8.2).
const (
	hopVNetPeering     = "VNetPeering"
	hopServiceEndpoint = "VirtualNetworkServiceEndpoint"
	// hopInterfaceEndpoint is a private endpoint's /32 system route.
	hopInterfaceEndpoint = "InterfaceEndpoint"
)

// routeEntry is one effective route of a subnet. A route from a service
// tag is one entry for all its prefixes (they are one route and explain
// and group as one); r, bits and prefix are then its first IPv4 prefix.
type routeEntry struct {
	r       ipset.Range
	bits    int
	prefix  string // the prefix as Azure shows it
	tag     string // service tag the prefix came from, if any
	source  string // Default or User
	nextHop string
	hopIP   netip.Addr
	rank    int
	route   *resources.Route
	table   *resources.RouteTable
	peer    *peerCtx
	pe      *host  // the private endpoint of an InterfaceEndpoint route
	service string // service endpoint service name
}

// routePrefix is one IPv4 prefix of a route: what painting and lookups
// read, without pointers (a table of service-endpoint and tag routes
// holds thousands of them, which the collector then need not scan).
type routePrefix struct {
	r     ipset.Range
	bits  int32
	route int32 // index of its route in routeTable.routes
}

// text is a service tag's prefix as Azure shows it (catalog prefixes are
// stored masked); a route's first prefix is its routeEntry.prefix.
func (p routePrefix) text() string {
	return netip.PrefixFrom(ipset.Addr(p.r.Lo), int(p.bits)).String()
}

// display is the route's prefix as a user wrote it: the service tag, or
// the CIDR.
func (e *routeEntry) display() string {
	if e.tag != "" {
		return e.tag
	}
	return e.prefix
}

// Ranks break ties between routes with the same prefix (spec §8.2): UDR
// beats system; an explicit prefix beats a service tag; among tags a
// regional tag beats a top-level one, which beats AzureCloud.<region>,
// which beats AzureCloud.
const (
	rankSystem = iota
	rankTagAzureCloud
	rankTagAzureCloudRegional
	rankTagTopLevel
	rankTagRegional
	rankUserPrefix
	// A private endpoint's /32 beats a UDR for the same /32 unless the
	// endpoint's subnet lets UDRs override it (see privateEndpointRoutes).
	rankInterfaceEndpoint
)

func tagRank(name string) int {
	lower := strings.ToLower(name)
	switch {
	case lower == "azurecloud":
		return rankTagAzureCloud
	case strings.HasPrefix(lower, "azurecloud."):
		return rankTagAzureCloudRegional
	case strings.Contains(lower, "."):
		return rankTagRegional
	}
	return rankTagTopLevel
}

// routeTable is a subnet's effective routes, painted onto address intervals
// so a lookup is one binary search.
type routeTable struct {
	// The table is built for a subnet (sc) on first use (see built), then
	// painted on first lookup (see painted): a flow meets one or two of a
	// large environment's tables. Compile has reported the problems of its
	// routes (withUDRPrefixes).
	n         *Network
	sc        *subnetCtx
	buildOnce sync.Once
	routes    []*routeEntry
	prefixes  []routePrefix // in the order routes declare them
	paintOnce sync.Once
	starts    []uint32
	winner    []int32
}

// built builds the table's routes once and returns it; it is safe for
// concurrent use.
func (rt *routeTable) built() *routeTable {
	rt.buildOnce.Do(rt.build)
	return rt
}

// painted builds and paints the table once and returns it; it is safe for
// concurrent use.
func (rt *routeTable) painted() *routeTable {
	rt.paintOnce.Do(func() { rt.built().paint() })
	return rt
}

// serviceEndpointTags maps a service endpoint to the service tag whose
// prefixes its routes carry.
var serviceEndpointTags = map[string]string{
	"microsoft.storage":              "Storage",
	"microsoft.storage.global":       "Storage",
	"microsoft.sql":                  "Sql",
	"microsoft.azurecosmosdb":        "AzureCosmosDB",
	"microsoft.keyvault":             "AzureKeyVault",
	"microsoft.servicebus":           "ServiceBus",
	"microsoft.eventhub":             "EventHub",
	"microsoft.containerregistry":    "AzureContainerRegistry",
	"microsoft.web":                  "AppService",
	"microsoft.azureactivedirectory": "AzureActiveDirectory",
}

// pairedRegions: a storage service endpoint also covers the VNet region's
// pair (Azure's default endpoint locations).
var pairedRegions = map[string]string{
	"eastus": "westus", "westus": "eastus", "eastus2": "centralus", "centralus": "eastus2",
	"westus2": "westcentralus", "westcentralus": "westus2", "westus3": "eastus",
	"northcentralus": "southcentralus", "southcentralus": "northcentralus",
	"northeurope": "westeurope", "westeurope": "northeurope", "uksouth": "ukwest", "ukwest": "uksouth",
	"francecentral": "francesouth", "francesouth": "francecentral",
	"germanywestcentral": "germanynorth", "germanynorth": "germanywestcentral",
	"japaneast": "japanwest", "japanwest": "japaneast", "australiaeast": "australiasoutheast",
	"australiasoutheast": "australiaeast", "southeastasia": "eastasia", "eastasia": "southeastasia",
	"canadacentral": "canadaeast", "canadaeast": "canadacentral", "centralindia": "southindia",
	"southindia": "centralindia", "koreacentral": "koreasouth", "koreasouth": "koreacentral",
	"swedencentral": "swedensouth", "switzerlandnorth": "switzerlandwest", "norwayeast": "norwaywest",
	"uaenorth": "uaecentral", "southafricanorth": "southafricawest",
}

// PairedRegion returns a region's pair ("West US 2" or westus2 ->
// westcentralus), as Azure's default service endpoint locations and Azure
// ML's firewall routes use it.
func PairedRegion(region string) (string, bool) {
	p, ok := pairedRegions[normLocation(region)]
	return p, ok
}

// routeTableFor shares one effective route table between the subnets of a
// VNet that have the same route table and service endpoints.
func (n *Network) routeTableFor(sc *subnetCtx, cache map[string]*routeTable) *routeTable {
	key := sc.vnet.v.ID.Key() + "|" + sc.s.RouteTable.ID.Key()
	for _, se := range sc.s.ServiceEndpoints {
		key += "|" + strings.ToLower(se.Service) + ":" + strings.ToLower(strings.Join(se.Locations, ","))
	}
	if rt, ok := cache[key]; ok {
		return rt
	}
	rt := &routeTable{n: n, sc: sc}
	cache[key] = rt
	n.tables = append(n.tables, rt)
	return rt
}

// build lays out the subnet's effective routes: system routes, then user
// routes, then private endpoint /32s.
func (rt *routeTable) build() {
	n, sc := rt.n, rt.sc
	add := func(ps []netip.Prefix, e routeEntry) {
		var tagRoute int32 = -1
		for _, p := range ps {
			r, ok := ipset.PrefixRange(p)
			if !ok {
				continue // IPv6
			}
			route := tagRoute
			if route < 0 {
				c := e
				c.r, c.bits, c.prefix = r, p.Bits(), p.String()
				route = int32(len(rt.routes))
				rt.routes = append(rt.routes, &c)
				if e.tag != "" {
					tagRoute = route
				}
			}
			rt.prefixes = append(rt.prefixes, routePrefix{r: r, bits: int32(p.Bits()), route: route})
		}
	}
	vc := sc.vnet
	add(vc.v.AddressSpace, routeEntry{source: "Default", nextHop: resources.NextHopVnetLocal})
	add([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, routeEntry{source: "Default", nextHop: resources.NextHopInternet})
	for _, c := range systemNoneRoutes {
		p := netip.MustParsePrefix(c)
		// A reserved range inside the VNet's space is routed VnetLocal.
		if ipset.FromPrefixes([]netip.Prefix{p}).Subtract(vc.space).IsEmpty() {
			continue
		}
		add([]netip.Prefix{p}, routeEntry{source: "Default", nextHop: resources.NextHopNone})
	}
	for _, pc := range vc.peers {
		if pc.connected {
			add(pc.remote.v.AddressSpace, routeEntry{source: "Default", nextHop: hopVNetPeering, peer: pc})
		}
	}
	for _, se := range sc.s.ServiceEndpoints {
		for _, t := range n.serviceEndpointTags(se, vc.v.Location) {
			add(t.Prefixes, routeEntry{source: "Default", nextHop: hopServiceEndpoint, service: se.Service, tag: t.Name})
		}
	}
	if table := n.snap.RouteTable(sc.s.RouteTable.ID); table != nil {
		for _, r := range table.Routes {
			ps, ok := n.routePrefixes(r)
			if !ok {
				continue // reported by Compile
			}
			e := routeEntry{source: "User", nextHop: r.NextHopType, hopIP: r.NextHopIP, route: r, table: table, rank: rankUserPrefix}
			if _, err := netip.ParsePrefix(r.AddressPrefix); err != nil {
				e.tag, e.rank = r.AddressPrefix, tagRank(r.AddressPrefix)
			}
			add(ps, e)
		}
	}
	n.privateEndpointRoutes(sc, rt, add)
}

// privateEndpointRoutes adds a /32 system route (next hop InterfaceEndpoint)
// for every private endpoint in the subnet's VNet and in its connected
// peers. "If you enable network security policies for user-defined routes,
// you can use a custom address prefix length (subnet mask) equal to or
// larger than the virtual network address space prefix length to override
// the /32 default route propagated by the private endpoint" (Azure:
// "Manage network policies for private endpoints"): with route-table
// policies on the endpoint's subnet, a UDR of this table that covers the
// endpoint with a prefix at least as long as the endpoint VNet's address
// prefix removes the /32; any other UDR loses to it by longest prefix.
func (n *Network) privateEndpointRoutes(sc *subnetCtx, rt *routeTable, add func([]netip.Prefix, routeEntry)) {
	var users []routePrefix
	for _, p := range rt.prefixes {
		if rt.routes[p.route].source == "User" {
			users = append(users, p)
		}
	}
	local := &peerCtx{remote: sc.vnet} // stands for the VNet itself
	for _, pc := range append([]*peerCtx{local}, sc.vnet.peers...) {
		if pc != local && !pc.connected {
			continue
		}
		for _, u := range slices.Sorted(maps.Keys(pc.remote.hosts)) {
			h := pc.remote.hosts[u]
			if h.kind != hostPrivateEndpoint || udrOverridesEndpoint(h, users) {
				continue
			}
			e := routeEntry{source: "Default", nextHop: hopInterfaceEndpoint, pe: h, rank: rankInterfaceEndpoint}
			if pc != local {
				e.peer = pc
			}
			add([]netip.Prefix{netip.PrefixFrom(ipset.Addr(u), 32)}, e)
		}
	}
}

// udrOverridesEndpoint reports whether one of the UDRs invalidates the
// endpoint's /32 route: route-table policies are on in its subnet and the
// UDR covers it with a prefix no shorter than its VNet's address prefix.
func udrOverridesEndpoint(pe *host, users []routePrefix) bool {
	if !pe.subnet.s.EndpointRouteTables() {
		return false
	}
	spaceBits := 33
	for _, p := range pe.subnet.vnet.v.AddressSpace {
		if r, ok := ipset.PrefixRange(p); ok && r.Lo <= pe.addr && pe.addr <= r.Hi {
			spaceBits = p.Bits()
		}
	}
	return slices.ContainsFunc(users, func(p routePrefix) bool {
		return p.r.Lo <= pe.addr && pe.addr <= p.r.Hi && int(p.bits) >= spaceBits
	})
}

// serviceEndpointTags are the service tags whose prefixes a subnet's
// service endpoint routes.
func (n *Network) serviceEndpointTags(se resources.ServiceEndpoint, vnetLocation string) []*servicetags.Tag {
	base, ok := serviceEndpointTags[strings.ToLower(se.Service)]
	if !ok {
		return nil
	}
	locs := se.Locations
	if len(locs) == 0 {
		loc := strings.ToLower(vnetLocation)
		locs = []string{loc}
		if p, ok := pairedRegions[loc]; ok {
			locs = append(locs, p)
		}
	}
	var out []*servicetags.Tag
	for _, l := range locs {
		name := base + "." + l
		if l == "*" || strings.EqualFold(se.Service, "Microsoft.Storage.Global") {
			name = base
		}
		if t, ok := n.tags.Lookup(name); ok {
			out = append(out, t)
		}
	}
	return out
}

// paint resolves ties per exact prefix, then lays routes from the shortest
// prefix to the longest over the address intervals, so each interval ends
// with its longest-prefix winner.
func (rt *routeTable) paint() {
	winners := rt.byLength(rt.tieWinners())
	// The boundaries are sorted as the high halves of words (radix sort:
	// a table of service-tag routes has thousands).
	bounds := make([]uint64, 1, 2*len(winners)+1)
	for _, i := range winners {
		r := rt.prefixes[i].r
		bounds = append(bounds, uint64(r.Lo)<<32)
		if r.Hi != 0xFFFFFFFF {
			bounds = append(bounds, uint64(r.Hi+1)<<32)
		}
	}
	bounds, _ = sortByHigh(bounds, nil)
	starts := make([]uint32, 0, len(bounds))
	for _, b := range bounds {
		if v := uint32(b >> 32); len(starts) == 0 || v != starts[len(starts)-1] {
			starts = append(starts, v)
		}
	}
	rt.starts = slices.Clip(starts)
	rt.winner = make([]int32, len(rt.starts))
	for k := range rt.winner {
		rt.winner[k] = -1
	}
	for _, i := range winners {
		r := rt.prefixes[i].r
		for k := intervalOf(rt.starts, r.Lo); k < len(rt.starts) && rt.starts[k] <= r.Hi; k++ {
			rt.winner[k] = int32(i)
		}
	}
}

// byLength orders prefix indexes by prefix length, shortest first, keeping
// their order within a length (a counting sort: lengths are 0 to 32).
func (rt *routeTable) byLength(idx []int) []int {
	var first [34]int
	for _, i := range idx {
		first[rt.prefixes[i].bits+1]++
	}
	for b := 1; b < len(first); b++ {
		first[b] += first[b-1]
	}
	out := make([]int, len(idx))
	for _, i := range idx {
		b := rt.prefixes[i].bits
		out[first[b]] = i
		first[b]++
	}
	return out
}

// tieWinners returns, for each exact prefix, the index of the prefix that
// wins it (its route has the highest rank; the first declared among
// equals), in the order the prefixes first appear.
func (rt *routeTable) tieWinners() []int {
	key := func(p routePrefix) uint64 { return uint64(p.r.Lo)<<32 | uint64(p.bits) }
	best := make(map[uint64]int, len(rt.prefixes))
	var order []int
	for i, p := range rt.prefixes {
		k := key(p)
		j, seen := best[k]
		if !seen {
			best[k] = i
			order = append(order, i)
			continue
		}
		if rt.rank(i) > rt.rank(j) {
			best[k] = i
		}
	}
	winners := make([]int, 0, len(best))
	for _, i := range order {
		winners = append(winners, best[key(rt.prefixes[i])])
	}
	return winners
}

// rank is the tie-break rank of prefix i's route.
func (rt *routeTable) rank(i int) int { return rt.routes[rt.prefixes[i].route].rank }

// at returns the effective route of interval k (nil: no route).
func (rt *routeTable) at(k int) *routeEntry {
	if w := rt.winner[k]; w >= 0 {
		return rt.routes[rt.prefixes[w].route]
	}
	return nil
}

// lookupLinear is the reference: longest prefix, then highest rank, then
// first declared.
func (rt *routeTable) lookupLinear(u uint32) *routeEntry {
	rt.built()
	best := -1
	for i, p := range rt.prefixes {
		if u < p.r.Lo || u > p.r.Hi {
			continue
		}
		if best < 0 || p.bits > rt.prefixes[best].bits || (p.bits == rt.prefixes[best].bits && rt.rank(i) > rt.rank(best)) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return rt.routes[rt.prefixes[best].route]
}
