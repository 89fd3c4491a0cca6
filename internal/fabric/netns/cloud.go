//go:build linux

package netns

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/servicetags"
)

// agentPort is where Azure ML's management traffic reaches a node (TCP
// 44224 from AzureMachineLearning, through the compute's load balancer).
const agentPort = 44224

// service is what the emulated cloud answers for a service tag.
type service struct {
	tag      string // base name; regional ones are looked up as tag.<region>
	regional bool
	// paired: the regional tags of the regions' pairs too (Azure ML
	// manages a compute from its region's and its pair's ranges).
	paired   bool
	tcp, udp []uint16
}

// services are the Azure services a compute talks to (the required flows
// of `securetrain check`), each on its documented ports.
var services = []service{
	{tag: "AzureMachineLearning", tcp: []uint16{443, 8787, 18881}, udp: []uint16{5831}},
	// The regional ranges are inside the global tag; served by name, the
	// cloud owns them even where a catalog's global tag would not hold them.
	{tag: "AzureMachineLearning", regional: true, paired: true, tcp: []uint16{443, 8787, 18881}, udp: []uint16{5831}},
	{tag: "BatchNodeManagement", regional: true, tcp: []uint16{443}},
	{tag: "Storage", regional: true, tcp: []uint16{443, 445}},
	{tag: "AzureActiveDirectory", tcp: []uint16{80, 443}},
	{tag: "AzureResourceManager", tcp: []uint16{443}},
	{tag: "MicrosoftContainerRegistry", regional: true, tcp: []uint16{443}},
	{tag: "AzureFrontDoor.Frontend", tcp: []uint16{443}},
	{tag: "AzureFrontDoor.FirstParty", tcp: []uint16{443}},
	{tag: "AzureMonitor", tcp: []uint16{443}},
}

// publicSites stand for the hosts outside Azure's service tags (pypi.org,
// conda, …): the verifier gives each name a stand-in address in this
// range, and the cloud answers on it like a web site.
var publicSites = service{tag: "public site", tcp: []uint16{80, 443}}

// cloud is the namespace where Azure's services answer: it owns the
// served addresses (local routes) and answers on them.
type cloud struct {
	*responder
	// f.mu guards these.
	local  []netip.Prefix // the local routes it holds
	served string         // what serve was last asked for
}

func newCloud(name string) (*cloud, error) {
	ns, err := createNamespace(name)
	if err != nil {
		return nil, err
	}
	var tcp, udp []uint16
	for _, s := range append(slices.Clone(services), publicSites) {
		tcp, udp = append(tcp, s.tcp...), append(udp, s.udp...)
	}
	rp, err := newResponder(ns, tcp, udp)
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("emulated cloud: %w", err)
	}
	return &cloud{responder: rp}, nil
}

// serve sets what the cloud answers: the services of the regions the
// fabric's VNets are in, on their service tags' addresses, except the
// addresses routed back to the VNets (their egress and frontends: replies
// to them must go back to their VNet).
func (c *cloud) serve(tags *servicetags.Catalog, regions map[string]bool, routed []netip.Prefix) error {
	exclude := ipset.FromPrefixes(routed)
	asked := fmt.Sprintf("%p %v %s", tags, slices.Sorted(maps.Keys(regions)), fullText(exclude))
	if asked == c.served {
		return nil // nothing changed (a node added to a served region)
	}
	var served []servedTag
	all := ipset.Set{}
	add := func(name string, set ipset.Set, s service) {
		set = set.Subtract(exclude)
		served = append(served, servedTag{name: name, set: set, tcp: s.tcp, udp: s.udp})
		all = all.Union(set)
	}
	for _, s := range services {
		names := []string{s.tag}
		if s.regional {
			names = nil
			for r := range regions {
				names = append(names, s.tag+"."+r)
				if pair, ok := netverify.PairedRegion(r); ok && s.paired {
					names = append(names, s.tag+"."+pair)
				}
			}
			slices.Sort(names)
			names = slices.Compact(names)
		}
		for _, name := range names {
			if t, ok := tags.Lookup(name); ok {
				add(t.Name, ipv4Set(t.Prefixes), s)
			}
		}
	}
	add(publicSites.tag, netverify.ExternalStandIns(), publicSites)
	if err := c.own(all.Prefixes(), served); err != nil {
		return err
	}
	c.served = asked
	return nil
}

func ipv4Set(ps []netip.Prefix) ipset.Set {
	var v4 []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		}
	}
	return ipset.FromPrefixes(v4)
}

// own makes the cloud hold exactly the prefixes as local addresses (the
// kernel answers any address of a local route), and serves.
func (c *cloud) own(prefixes []netip.Prefix, served []servedTag) error {
	lo, err := c.ns.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("emulated cloud: %w", err)
	}
	route := func(p netip.Prefix) *netlink.Route {
		return &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: ipNet(p), Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: netlink.SCOPE_HOST}
	}
	held, want := setOf(c.local), setOf(prefixes)
	var errs []error
	for _, p := range c.local {
		if !want[p] {
			if err := c.ns.nl.RouteDel(route(p)); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("emulated cloud: drop %s: %w", p, err))
			}
		}
	}
	for _, p := range prefixes {
		if !held[p] {
			if err := c.ns.nl.RouteReplace(route(p)); err != nil {
				errs = append(errs, fmt.Errorf("emulated cloud: own %s: %w", p, err))
			}
		}
	}
	c.local = prefixes
	c.setServed(served)
	return errors.Join(errs...)
}

// routeBack makes the cloud send replies for the prefixes (public
// addresses, subnets reaching a service endpoint) to the router on link
// uplink, and drops its routes for prefixes no longer there.
func (c *cloud) routeBack(uplink string, old, prefixes []netip.Prefix) error {
	l, err := c.ns.nl.LinkByName(uplink)
	if err != nil {
		return fmt.Errorf("emulated cloud: link %s: %w", uplink, err)
	}
	route := func(p netip.Prefix) *netlink.Route {
		return &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p), Gw: routerSide.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
	}
	held, want := setOf(old), setOf(prefixes)
	var errs []error
	for _, a := range old {
		if !want[a] {
			if err := c.ns.nl.RouteDel(route(a)); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("emulated cloud: route to %s: %w", a, err))
			}
		}
	}
	for _, a := range prefixes {
		if held[a] {
			continue
		}
		if err := c.ns.nl.RouteReplace(route(a)); err != nil {
			errs = append(errs, fmt.Errorf("emulated cloud: route to %s via %s: %w", a, uplink, err))
		}
	}
	return errors.Join(errs...)
}

func setOf[T comparable](xs []T) map[T]bool {
	m := make(map[T]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// serveAgent is the node's agent: it tells who it is to whoever connects
// (Azure ML's management traffic reaching the node).
func serveAgent(ln net.Listener, who string) {
	answerEach(ln, func(net.Conn) string { return "securetrain-node " + who + "\n" })
}

// readLine reads one line within the deadline.
func readLine(conn net.Conn, deadline time.Time) (string, error) {
	conn.SetReadDeadline(deadline)
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}
