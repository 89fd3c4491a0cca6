//go:build linux

package netns

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// Azure Firewall: a namespace `PREFIX-f-…` on its AzureFirewallSubnet's
// bridge in its VNet's router, with the firewall's private IP. A subnet
// whose route sends traffic to the firewall's address (next hop
// VirtualAppliance) reaches it over a link of its own from its router
// (also from a peered spoke); the firewall filters by its network rules
// in nftables (first match in the verifier's order, default deny), hands
// TCP that no network rule matches on an application rule's port to a
// transparent proxy that reads the HTTP Host or TLS SNI, and sends what
// it allows back into its own VNet's router, which routes it by the
// firewall subnet's routes. Internet-bound traffic leaves SNATed to the
// firewall's egress address (its subnet's NAT gateway's, else its public
// IP); the router sends the replies to that address back to it. A flow's
// replies leave the firewall by the link the flow came in by (connection
// marks), so that the router that sent it sees them.

// firewall is a realised Azure Firewall.
type firewall struct {
	ns     *namespace
	router *router // its VNet's
	bridge *bridge // its AzureFirewallSubnet
	index  int     // creation order: names its links
	addr   netip.Addr
	// links are the routers linked to it directly (their end's name).
	links   map[*router]string
	proxy   net.Listener
	applied string // text of the rules applied last

	mu   sync.Mutex
	view netverify.FirewallView
	// refused are the connections the proxy refused last, oldest first
	// (at most maxRefusals): a failed job names what its node was refused.
	refused []fabric.Refusal
}

// maxRefusals bounds the refusals a firewall remembers.
const maxRefusals = 256

// noteRefusal remembers a connection the proxy refused.
func (fw *firewall) noteRefusal(src netip.Addr, dst netip.AddrPort, name string) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if len(fw.refused) == maxRefusals {
		fw.refused = slices.Delete(fw.refused, 0, 1)
	}
	fw.refused = append(fw.refused, fabric.Refusal{Source: src, Destination: dst, Name: name, At: time.Now()})
}

// proxyPort is where the firewall's transparent proxy listens; traffic for
// application rules is redirected to it.
const proxyPort = 15001

// firewallTable holds, in a router, the routes of its firewalls' egress
// addresses (replies from the internet go back to the firewall that
// translated them), looked up before the subnets' tables.
const (
	firewallTable        = 98
	firewallRulePriority = 95
)

// syncFirewalls realises the Azure Firewalls of the router's VNet:
// creates the missing ones, re-creates the moved ones, removes the ones
// gone, and brings their rules up to date. f.mu is held.
func (f *Fabric) syncFirewalls(nw *netverify.Network, r *router) error {
	want := map[string]netverify.FirewallView{}
	for _, v := range nw.Firewalls() {
		if v.VNet.Equal(r.vnet) && v.PrivateIP.Is4() {
			want[v.ID.Key()] = v
		}
	}
	var errs []error
	for key, fw := range f.firewalls {
		if fw.router != r {
			continue
		}
		if v, ok := want[key]; !ok || v.PrivateIP != fw.addr || !v.Subnet.Equal(fw.bridge.subnet) {
			errs = append(errs, f.removeFirewall(key))
		}
	}
	routes := map[netip.Prefix]hop{}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		v := want[key]
		fw := f.firewalls[key]
		if fw == nil {
			var err error
			if fw, err = f.newFirewall(nw, r, key, v); err != nil {
				errs = append(errs, fmt.Errorf("firewall %s: %w", v.ID.Name(), err))
				continue
			}
		}
		was := fw.applied
		if err := fw.apply(nw, v); err != nil {
			errs = append(errs, fmt.Errorf("firewall %s: %w", v.ID.Name(), err))
		}
		if fw.applied != was {
			f.generation++ // routers elsewhere route to its egress address
		}
		if v.Egress.IsValid() {
			routes[netip.PrefixFrom(v.Egress, 32)] = hop{kind: toLink, link: fw.bridge.name, gw: fw.addr}
		}
	}
	if len(routes) > 0 || r.tables[firewallTable] != "" {
		errs = append(errs, r.syncTable(firewallTable, routes))
		rule := netlink.NewRule()
		rule.Table, rule.Priority = firewallTable, firewallRulePriority
		if err := r.ns.nl.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("routing rule of the firewalls of VNet %s: %w", r.vnet.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// cloudRoutes are what the cloud routes back to router r: back (what its
// nodes use) with its firewalls' egress addresses, without other routers'
// — nodes that leave through a firewall elsewhere use its address, whose
// replies go to the firewall's router.
func (f *Fabric) cloudRoutes(r *router, back []netip.Prefix) []netip.Prefix {
	own, foreign := map[netip.Prefix]bool{}, map[netip.Prefix]bool{}
	for _, fw := range f.firewalls {
		fw.mu.Lock()
		if e := fw.view.Egress; e.IsValid() {
			if fw.router == r {
				own[netip.PrefixFrom(e, 32)] = true
			} else {
				foreign[netip.PrefixFrom(e, 32)] = true
			}
		}
		fw.mu.Unlock()
	}
	out := slices.DeleteFunc(slices.Clone(back), func(p netip.Prefix) bool { return foreign[p] && !own[p] })
	for p := range own {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefixes)
	return slices.Compact(out)
}

// throughFirewall reports whether an outcome's path crosses an Azure
// Firewall.
func throughFirewall(o netverify.Outcome) bool {
	return slices.ContainsFunc(o.Hops, func(h netverify.Hop) bool { return h.Kind == netverify.HopFirewall })
}

// newFirewall creates the firewall's namespace on its subnet's bridge and
// starts its proxy.
func (f *Fabric) newFirewall(nw *netverify.Network, r *router, key string, v netverify.FirewallView) (*firewall, error) {
	sn := nw.Snapshot().Subnet(v.Subnet)
	if sn == nil || len(sn.AddressPrefixes) == 0 || !sn.AddressPrefixes[0].Contains(v.PrivateIP) {
		return nil, fmt.Errorf("private IP %s is not in its subnet %s", v.PrivateIP, v.Subnet.Leaf())
	}
	b, err := r.bridge(sn)
	if err != nil {
		return nil, err
	}
	index := 0
	for _, other := range f.firewalls {
		index = max(index, other.index+1)
	}
	ns, err := createNamespace(f.prefix + "f-" + shortHash(key))
	if err != nil {
		return nil, err
	}
	fw := &firewall{ns: ns, router: r, bridge: b, index: index, addr: v.PrivateIP, links: map[*router]string{}}
	fail := func(err error) (*firewall, error) {
		if fw.proxy != nil {
			fw.proxy.Close()
		}
		ns.close()
		return nil, errors.Join(err, deleteNamespace(ns.name))
	}
	if err := plug(r, b, ns, "st-f-"+shortHash(key)[:9], []netip.Addr{v.PrivateIP}); err != nil {
		return fail(err)
	}
	// It forwards; packets arrive on the routers' links and leave by
	// eth0, so reverse-path filtering would drop them.
	for key, value := range map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0",
		"net.ipv4.conf.default.rp_filter": "0", "net.ipv4.conf.all.send_redirects": "0", "net.ipv4.conf.default.send_redirects": "0",
		"net.ipv4.tcp_fwmark_accept": "1", "net.ipv4.fwmark_reflect": "1"} {
		if err := ns.sysctl(key, value); err != nil {
			return fail(err)
		}
	}
	if fw.proxy, err = listenIn(ns, "tcp4", fmt.Sprintf(":%d", proxyPort)); err != nil {
		return fail(fmt.Errorf("application rule proxy: %w", err))
	}
	go fw.serveProxy()
	f.firewalls[key] = fw
	return fw, nil
}

// removeFirewall deletes a firewall's namespace (its links go with it,
// and so do the routers' routes over them).
func (f *Fabric) removeFirewall(key string) error {
	fw := f.firewalls[key]
	delete(f.firewalls, key)
	fw.proxy.Close()
	for r := range fw.links {
		clear(r.tables)
	}
	clear(fw.router.tables)
	fw.ns.close()
	return deleteNamespace(fw.ns.name)
}

// removeFirewalls deletes the firewalls of router r (which goes).
func (f *Fabric) removeFirewalls(r *router) error {
	var errs []error
	for key, fw := range f.firewalls {
		switch {
		case fw.router == r:
			errs = append(errs, f.removeFirewall(key))
		default:
			delete(fw.links, r) // the link goes with r's namespace
		}
	}
	return errors.Join(errs...)
}

// applianceHop is where router r sends traffic whose next hop is a
// virtual appliance at address a: over its link to the firewall there,
// when one is realised in r's VNet or a VNet r is peered with (where the
// verifier finds it); else nowhere — Azure drops traffic to a next hop
// that is no appliance. A NIC with IP forwarding is not realised: its
// traffic is dropped too. f.mu is held.
func (f *Fabric) applianceHop(r *router, a netip.Addr) hop {
	for _, fw := range f.firewalls {
		if fw.addr != a || (fw.router != r && r.peers[fw.router.vnet.Key()] != fw.router) {
			continue
		}
		name, err := fw.link(r)
		if err != nil {
			f.cfg.Log.Warn("netns fabric: no link to the firewall", "vnet", r.vnet.Name(), "firewall", a, "err", err)
			return hop{kind: blackhole}
		}
		return hop{kind: toLink, link: name, gw: a}
	}
	return hop{kind: blackhole}
}

// link joins router r to the firewall by a veth pair of its own (or finds
// it joined) and returns the router's end: `st-fwN` in the router, `st-rM`
// in the firewall, the firewall's address on its end, which the
// router's routes point at (a permanent neighbour).
func (fw *firewall) link(r *router) (string, error) {
	name, peer := fmt.Sprintf("st-fw%d", fw.index), fmt.Sprintf("st-r%d", r.index)
	if _, ok := fw.links[r]; ok {
		if _, err := r.ns.nl.LinkByName(name); err == nil {
			return name, nil
		}
	}
	for _, h := range []*netlink.Handle{r.ns.nl, fw.ns.nl} {
		for _, n := range []string{name, peer} {
			if old, err := h.LinkByName(n); err == nil {
				if err := h.LinkDel(old); err != nil && !errors.Is(err, unix.ENODEV) { // an earlier router's or firewall's (gone meanwhile with its namespace: fine)
					return "", fmt.Errorf("remove stale link %s: %w", n, err)
				}
			}
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer, PeerNamespace: netlink.NsFd(int(fw.ns.fd))}
	if err := r.ns.nl.LinkAdd(veth); err != nil {
		return "", fmt.Errorf("link from VNet %s to the firewall: %w", r.vnet.Name(), err)
	}
	far, err := fw.ns.nl.LinkByName(peer)
	if err != nil {
		return "", err
	}
	// The firewall's address on it too: a redirect to the proxy goes to
	// the address of the link the packet came in by.
	if err := upWithAddress(fw.ns.nl, peer, netip.PrefixFrom(fw.addr, 32)); err != nil {
		return "", err
	}
	near, err := r.ns.nl.LinkByName(name)
	if err != nil {
		return "", err
	}
	n := &netlink.Neigh{LinkIndex: near.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: fw.addr.AsSlice(), HardwareAddr: far.Attrs().HardwareAddr}
	if err := r.ns.nl.NeighSet(n); err != nil {
		return "", fmt.Errorf("neighbour %s on %s: %w", fw.addr, name, err)
	}
	if err := r.ns.nl.LinkSetUp(near); err != nil {
		return "", fmt.Errorf("bring %s up: %w", name, err)
	}
	if err := fw.routeBack(r, far, near.Attrs().HardwareAddr); err != nil {
		return "", err
	}
	fw.links[r] = name
	clear(r.tables) // routes over an earlier link went with it
	return name, nil
}

// routeBack routes the replies of flows that came in by link far (marked
// with its index) back over it to router r: a table of its own with a
// default route via a stand-in gateway whose neighbour entry is the
// router's end (mac).
func (fw *firewall) routeBack(r *router, far netlink.Link, mac net.HardwareAddr) error {
	idx := far.Attrs().Index
	gw := netip.AddrFrom4([4]byte{169, 254, 254, byte(1 + r.index%250)})
	n := &netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: gw.AsSlice(), HardwareAddr: mac}
	if err := fw.ns.nl.NeighSet(n); err != nil {
		return fmt.Errorf("neighbour %s on the firewall's link to VNet %s: %w", gw, r.vnet.Name(), err)
	}
	table := replyTableBase + idx
	def := &netlink.Route{LinkIndex: idx, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice(), Flags: int(netlink.FLAG_ONLINK), Table: table}
	if err := fw.ns.nl.RouteReplace(def); err != nil {
		return fmt.Errorf("route back to VNet %s: %w", r.vnet.Name(), err)
	}
	rule := netlink.NewRule()
	rule.Mark, rule.Table, rule.Priority = uint32(idx), table, replyTableBase
	if err := fw.ns.nl.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("routing rule back to VNet %s: %w", r.vnet.Name(), err)
	}
	return nil
}

// replyTableBase numbers the firewall's tables of the way back over a
// link (by the link's index) and is the priority of their rules.
const replyTableBase = 1000

// path is what the firewall subnet's routes do with the destinations an
// allowed flow may go to.
type path struct {
	internet ipset.Set // out to the internet
	// unforwarded are destinations in a peered VNet whose peering back
	// does not allow forwarded traffic.
	unforwarded ipset.Set
}

func firewallPath(nw *netverify.Network, v netverify.FirewallView) (path, error) {
	spans, err := nw.RouteSpans(v.Subnet)
	if err != nil {
		return path{}, err
	}
	var internet, unforwarded []ipset.Range
	for _, sp := range spans {
		lo, _ := ipset.U32(sp.First)
		hi, _ := ipset.U32(sp.Last)
		switch {
		case sp.NextHop == resources.NextHopInternet:
			internet = append(internet, ipset.Range{Lo: lo, Hi: hi})
		case !sp.VNet.IsZero() && !allowsForwarded(nw, sp.VNet, v.VNet):
			unforwarded = append(unforwarded, ipset.Range{Lo: lo, Hi: hi})
		}
	}
	return path{internet: ipset.FromRanges(internet), unforwarded: ipset.FromRanges(unforwarded)}, nil
}

// allowsForwarded reports whether VNet to's peering with from lets in
// traffic an appliance of from forwards (Azure's "Allow forwarded
// traffic").
func allowsForwarded(nw *netverify.Network, to, from arm.ID) bool {
	v := nw.Snapshot().VirtualNetwork(to)
	if v == nil {
		return false
	}
	for _, p := range v.Peerings {
		if p.RemoteVirtualNetwork.ID.Equal(from) {
			return p.AllowForwardedTraffic
		}
	}
	return false
}

// apply brings the firewall's rules to the view: one nftables transaction,
// as for a router.
func (fw *firewall) apply(nw *netverify.Network, v netverify.FirewallView) error {
	p, err := firewallPath(nw, v)
	if err != nil {
		return err
	}
	fw.mu.Lock()
	fw.view = v
	fw.mu.Unlock()
	rs := firewallRules(v, p)
	text := rs.text.String()
	if text == fw.applied {
		return nil
	}
	if err := program(fw.ns, rs); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	fw.applied = text
	return nil
}

// firewallRules is the firewall's table: network rules first (a deny
// drops, an allow passes to the path's checks), TCP that no network rule
// matches on an application rule's port to the proxy, default deny;
// SNAT to the egress address towards the internet, to the firewall's
// address outside the SNAT private ranges.
func firewallRules(v netverify.FirewallView, p path) *ruleset {
	rs := newRuleset()
	pre := rs.chain("prerouting", &nftables.Chain{Name: "prerouting", Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityNATDest})
	fwd := rs.chain("forward", &nftables.Chain{Name: "forward", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter, Policy: ptr(nftables.ChainPolicyDrop)})
	in := rs.chain("input", &nftables.Chain{Name: "input", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput,
		Priority: nftables.ChainPriorityFilter, Policy: ptr(nftables.ChainPolicyDrop)})
	post := rs.chain("postrouting", &nftables.Chain{Name: "postrouting", Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource})
	out := rs.chain("output", &nftables.Chain{Name: "output", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput,
		Priority: nftables.ChainPriorityFilter, Policy: ptr(nftables.ChainPolicyAccept)})
	allowed := rs.chain("allowed", nil)
	// Replies leave by the link their flow came in by: a router that
	// sent a flow to the firewall directly sees its replies, and another
	// router, which never saw the flow begin, does not drop them.
	mark := rs.chain("mark", &nftables.Chain{Name: "mark", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityMangle})
	// The proxy's connections carry the mark too (after the redirect:
	// local delivery comes first whatever the mark); the kernel gives it
	// to the accepted socket and its handshake replies (fwmark_accept,
	// fwmark_reflect).
	proxied := rs.chain("proxied", &nftables.Chain{Name: "proxied", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest + 10)})
	rs.rule().ctState(expr.CtStateBitNEW, "new").add("ct mark set meta iif", &expr.Meta{Key: expr.MetaKeyIIF, Register: 1},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}).cont(mark, "the link a flow came in by")
	rs.rule().add("ct direction reply", &expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}}).
		setMarkFromCt().cont(mark, "replies are routed back by it")
	rs.rule().dnated().setMarkFromCt().cont(proxied, "so are the proxy's")

	rs.rule().iif("lo").accept(in, "")
	rs.rule().ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED, "established,related").accept(in, "")
	rs.rule().dnated().accept(in, "redirected to the application rule proxy")

	rs.rule().ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED, "established,related").accept(fwd, "replies of allowed flows")
	rs.rule().ctState(expr.CtStateBitINVALID, "invalid").drop(fwd, "not a flow the firewall saw begin (asymmetric routing)")
	for _, r := range v.Network {
		comment := r.Collection + " " + r.Name
		for _, m := range firewallMatches(rs, r) {
			m.accept(pre, "network rule "+comment+": no proxy")
		}
		for _, m := range firewallMatches(rs, r) {
			if r.Allow {
				m.jump(fwd, "allowed")
			} else {
				m.drop(fwd, "network rule "+comment)
			}
		}
	}
	// Application rules: TCP on their ports goes to the proxy, which
	// decides by the name the client sends.
	var appPorts []uint16
	for _, r := range v.Application {
		appPorts = append(appPorts, r.AppPorts...)
	}
	if len(appPorts) > 0 {
		set := ipset.Set{}
		for _, port := range uniquePorts(appPorts) {
			set = set.Union(ipset.Single(uint32(port)))
		}
		rs.rule().proto(netverify.TCP).ports(offDport, set, "app_ports").redirect(pre, proxyPort, "application rules")
	}
	// What a network rule allowed: the firewall subnet's routes decide
	// where it goes.
	if !v.Egress.IsValid() {
		rs.rule().addr(offDaddr, p.internet, "internet").drop(allowed, "no public IP and no NAT gateway: no way to the internet")
		rs.rule().ctState(expr.CtStateBitNEW, "new").addr(offDaddr, p.internet, "internet").drop(out, "the proxy has no way to the internet either")
	}
	rs.rule().addr(offDaddr, p.internet.Intersect(v.SNATPrivate), "internet_unsnatted").drop(allowed, "in the SNAT private ranges: not translated, cannot reach the internet")
	if !p.unforwarded.IsEmpty() {
		rs.rule().addr(offDaddr, p.unforwarded, "unforwarded").drop(allowed, "the peering back does not allow forwarded traffic")
		rs.rule().ctState(expr.CtStateBitNEW, "new").addr(offDaddr, p.unforwarded, "unforwarded").drop(out, "the peering back does not allow forwarded traffic")
	}
	rs.rule().accept(allowed, "")
	if v.Egress.IsValid() {
		rs.rule().oif("eth0").addr(offDaddr, p.internet, "internet").nat(post, expr.NATTypeSourceNAT, v.Egress, 0, "to the internet")
	}
	all := allAddresses
	rs.rule().oif("eth0").addr(offDaddr, all.Subtract(v.SNATPrivate), "snat").nat(post, expr.NATTypeSourceNAT, v.SNATAddress, 0, "outside the SNAT private ranges")
	return rs
}

// firewallMatches are the nftables matches of one network rule: one per
// protocol (one for all of them), ports for TCP and UDP only.
func firewallMatches(rs *ruleset, r netverify.FirewallRuleView) []*rule {
	base := func() *rule {
		return rs.rule().addr(offSaddr, r.Source, "src").addr(offDaddr, r.Destination, "dst")
	}
	if r.Source.IsEmpty() || r.Destination.IsEmpty() {
		return nil // matches nothing
	}
	if r.All && r.Ports.Equal(allPorts) {
		return []*rule{base()}
	}
	var out []*rule
	for _, p := range r.Protocols {
		if p == netverify.TCP || p == netverify.UDP {
			out = append(out, base().proto(p).ports(offDport, r.Ports, "ports"))
		} else {
			out = append(out, base().proto(p))
		}
	}
	return out
}

// dnated matches connections a destination NAT created (the proxy's).
func (r *rule) dnated() *rule {
	const ipsDstNAT = 1 << 5 // IPS_DST_NAT
	return r.add("ct status dnat", &expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

// setMarkFromCt sets the packet's mark to its connection's.
func (r *rule) setMarkFromCt() *rule {
	return r.add("meta mark set ct mark", &expr.Ct{Key: expr.CtKeyMARK, Register: 1}, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true})
}

// cont ends a rule that only sets something: the chain goes on.
func (r *rule) cont(ch *chain, comment string) {
	r.to(ch, &expr.Verdict{Kind: expr.VerdictContinue}, "continue", comment)
}

// redirect sends the packet to a local port.
func (r *rule) redirect(ch *chain, port uint16, comment string) {
	r.exprs = append(r.exprs, &expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})
	const protoSpecified = 2 // NF_NAT_RANGE_PROTO_SPECIFIED
	r.to(ch, &expr.Redir{RegisterProtoMin: 1, RegisterProtoMax: 1, Flags: protoSpecified}, fmt.Sprintf("redirect to :%d", port), comment)
}

// appVerdict is what the application rules decide for a TCP connection
// from src to port with name (the HTTP Host or TLS SNI): the first rule
// whose port, source and FQDNs match; none (or no name) is the default
// deny.
func (fw *firewall) appVerdict(src netip.Addr, port uint16, name string) bool {
	fw.mu.Lock()
	v := fw.view
	fw.mu.Unlock()
	u, ok := ipset.U32(src)
	if name == "" || !ok {
		return false
	}
	for _, r := range v.Application {
		if slices.Contains(r.AppPorts, port) && r.Source.Contains(u) && r.MatchesName(name) {
			return r.Allow
		}
	}
	return false
}
