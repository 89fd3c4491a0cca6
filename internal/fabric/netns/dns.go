//go:build linux

package netns

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// dnsTTL is the time to live of every answer: short, as the fabric's
// network may change under it (Azure's private DNS zones default to 10 s).
const dnsTTL = 10

// dnsServer answers DNS queries (UDP and TCP 53) at one address of a
// namespace as the verifier says the DNS server at that address answers a
// VM of its VNet: Azure DNS (168.63.129.16) in every VNet's router, a DNS
// Private Resolver's inbound endpoint, or a VNet's custom DNS server.
type dnsServer struct {
	addr netip.Addr
	vnet arm.ID
	log  *slog.Logger
	// nw is the network it answers for, swapped on every change.
	nw       atomic.Pointer[netverify.Network]
	udp, tcp *dns.Server
}

// startDNS listens at addr:53 in ns (the address must be the namespace's
// own) and answers for VMs of vnet.
func startDNS(ns *namespace, addr netip.Addr, vnet arm.ID, log *slog.Logger) (*dnsServer, error) {
	d := &dnsServer{addr: addr, vnet: vnet, log: log}
	target := addrPort(addr, 53)
	var pc net.PacketConn
	var ln net.Listener
	err := inNamespace(ns.fd, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", target); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", target); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("DNS server at %s in %s: %w", target, ns.name, err)
	}
	d.udp = &dns.Server{PacketConn: pc, Handler: d}
	d.tcp = &dns.Server{Listener: ln, Handler: d}
	for _, s := range []*dns.Server{d.udp, d.tcp} {
		// Shutdown refuses a server that has not started: wait for it.
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		failed := make(chan error, 1)
		go func() { failed <- s.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			d.stop()
			return nil, fmt.Errorf("DNS server at %s in %s: %w", target, ns.name, err)
		}
	}
	return d, nil
}

// stop closes the server's sockets: a socket open in a namespace keeps
// the namespace alive after its name is removed.
func (d *dnsServer) stop() {
	for _, s := range []*dns.Server{d.udp, d.tcp} {
		if s == nil {
			continue
		}
		if err := s.Shutdown(); err != nil {
			// Not started: close its socket directly.
			if s.PacketConn != nil {
				s.PacketConn.Close()
			}
			if s.Listener != nil {
				s.Listener.Close()
			}
		}
	}
}

// ServeDNS answers one query.
func (d *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := d.answer(req)
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(size, int(opt.UDPSize()))
		}
		m.Truncate(size) // sets TC: the client asks again over TCP
	}
	if err := w.WriteMsg(m); err != nil {
		d.log.Debug("netns fabric: DNS answer not sent", "server", d.addr, "err", err)
	}
}

// answer is the reply to req: the CNAME chain, then the A records (for a
// query of type A), or NXDOMAIN with the reason as an extended DNS error
// (RFC 8914) where the resolver says the name does not resolve.
func (d *dnsServer) answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	q := req.Question[0]
	nw := d.nw.Load()
	if nw == nil {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	l, err := nw.LookupAt(d.vnet, d.addr, q.Name)
	if err != nil {
		d.log.Warn("netns fabric: DNS query not answered", "server", d.addr, "name", q.Name, "err", err)
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	header := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: dns.Fqdn(name), Rrtype: t, Class: dns.ClassINET, Ttl: dnsTTL}
	}
	for _, c := range l.CNAMEs {
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: header(c[0], dns.TypeCNAME), Target: dns.Fqdn(c[1])})
	}
	if l.Failure != "" {
		m.Rcode = dns.RcodeNameError
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
			reply := m.IsEdns0()
			reply.Option = append(reply.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: l.Failure})
		}
		return m
	}
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		for _, a := range l.Addresses {
			m.Answer = append(m.Answer, &dns.A{Hdr: header(l.Name, dns.TypeA), A: a.AsSlice()})
		}
	}
	return m
}

// vnetDNS is the DNS of a VNet's router: Azure DNS at 168.63.129.16 (a
// local address of the router, so that it takes no route and meets no
// NSG on its way: Azure's platform traffic to 168.63.129.16 bypasses
// both), the custom DNS servers in its subnets, and the DNS server its
// nodes ask.
type vnetDNS struct {
	azure *dnsServer
	// hosts are the DNS servers at custom DNS addresses in the VNet's
	// subnets, by address.
	hosts map[netip.Addr]*dnsHost
	// nameserver is the address the VNet's nodes send their queries to
	// (their resolv.conf).
	nameserver atomic.Pointer[netip.Addr]
}

// syncDNS starts the router's Azure DNS on first use, points it at the
// network as it is now and sets the nameserver its nodes ask: the VNet's
// first custom DNS server, else Azure DNS. f.mu is held.
func (f *Fabric) syncDNS(nw *netverify.Network, r *router) error {
	if r.dns.azure == nil {
		lo, err := r.ns.nl.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("loopback of the router of VNet %s: %w", r.vnet.Name(), err)
		}
		if err := r.ns.nl.AddrReplace(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(netverify.AzureDNS, 32))}); err != nil {
			return fmt.Errorf("address 168.63.129.16 (Azure DNS) on the router of VNet %s: %w", r.vnet.Name(), err)
		}
		d, err := startDNS(r.ns, netverify.AzureDNS, r.vnet, f.cfg.Log)
		if err != nil {
			return fmt.Errorf("the Azure DNS of VNet %s: %w", r.vnet.Name(), err)
		}
		r.dns.azure = d
	}
	r.dns.azure.nw.Store(nw)
	vnet := nw.Snapshot().VirtualNetwork(r.vnet)
	if vnet == nil {
		return fmt.Errorf("VNet %s is not in the network", r.vnet.Name())
	}
	server := netverify.QueriedDNSServer(vnet.DNSServers)
	r.dns.nameserver.Store(&server)
	var errs []error
	for _, nd := range f.nodes {
		if nd.router != r || nd.resolvConf == server {
			continue
		}
		if err := writeResolvConf(nd.ns.name, server); err != nil {
			errs = append(errs, err)
			continue
		}
		nd.resolvConf = server
	}
	return errors.Join(append(errs, f.syncDNSHosts(nw, r))...)
}

// netnsEtc holds each named namespace's own /etc files: `ip netns exec
// NAME` bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf, so
// a process run in a node resolves through the node's DNS server.
const netnsEtc = "/etc/netns"

// writeResolvConf points the processes of namespace name at server (when
// it does not already).
func writeResolvConf(name string, server netip.Addr) error {
	dir := filepath.Join(netnsEtc, name)
	path := filepath.Join(dir, "resolv.conf")
	text := "# securetrain netns fabric: the VNet's DNS server\nnameserver " + server.String() + "\n"
	if old, err := os.ReadFile(path); err == nil && string(old) == text {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resolv.conf of namespace %s: %w", name, err)
	}
	// Readable by the processes a node runs, as /etc/resolv.conf is; it
	// holds an address, nothing secret.
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("resolv.conf of namespace %s: %w", name, err)
	}
	return nil
}

// removeNetnsEtc removes the /etc files of the namespaces whose name
// starts with prefix (a fabric's: its namespaces are gone).
func removeNetnsEtc(prefix string) error {
	entries, err := os.ReadDir(netnsEtc)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", netnsEtc, err)
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			errs = append(errs, os.RemoveAll(filepath.Join(netnsEtc, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// dnsHost is a DNS server at a custom DNS address (a VNet's
// dhcpOptions.dnsServers): a namespace on its subnet's bridge holding the
// address, answering as the verifier says a server there answers — a DNS
// Private Resolver's inbound endpoint as Azure DNS of its VNet, a
// firewall's DNS proxy as the firewall, any other server public names
// only. Like a VM's, its subnet's NSG applies to it.
type dnsHost struct {
	ns     *namespace
	bridge *bridge
	server *dnsServer
}

// syncDNSHosts realises the DNS servers that VNets ask at addresses in
// the router's VNet: where the verifier has a DNS server answer and no
// node, private endpoint or firewall of the VNet holds the address (the
// firewall's DNS proxy is the firewall's to realise). f.mu is held.
func (f *Fabric) syncDNSHosts(nw *netverify.Network, r *router) error {
	snap := nw.Snapshot()
	vnet := snap.VirtualNetwork(r.vnet)
	firewalls := map[netip.Addr]bool{}
	for _, fw := range snap.AzureFirewalls {
		firewalls[fw.PrivateIP] = true
	}
	held := map[netip.Addr]bool{}
	for _, ep := range r.endpoints {
		for _, a := range ep.addrs {
			held[a] = true
		}
	}
	want := map[netip.Addr]*resources.Subnet{}
	for _, v := range snap.VirtualNetworks {
		a := netverify.QueriedDNSServer(v.DNSServers)
		if a == netverify.AzureDNS || firewalls[a] || held[a] || !nw.AnswersDNS(a) {
			continue
		}
		if _, holder := f.heldByNode(r, []netip.Addr{a}); holder != "" {
			continue // a node answers no DNS: the queries fail
		}
		for _, sn := range vnet.Subnets {
			if len(sn.AddressPrefixes) > 0 && sn.AddressPrefixes[0].Contains(a) {
				want[a] = sn
			}
		}
	}
	var errs []error
	for a, h := range r.dns.hosts {
		if sn, ok := want[a]; !ok || !sn.ID.Equal(h.bridge.subnet) {
			errs = append(errs, r.removeDNSHost(a))
		}
	}
	for a, sn := range want {
		if h := r.dns.hosts[a]; h != nil {
			h.server.nw.Store(nw)
			continue
		}
		b, err := r.bridge(sn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h, err := f.newDNSHost(r, b, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("DNS server %s: %w", a, err))
			continue
		}
		h.server.nw.Store(nw)
		if r.dns.hosts == nil {
			r.dns.hosts = map[netip.Addr]*dnsHost{}
		}
		r.dns.hosts[a] = h
	}
	return errors.Join(errs...)
}

// newDNSHost creates the namespace of a DNS server at address a on bridge
// b and starts the server.
func (f *Fabric) newDNSHost(r *router, b *bridge, a netip.Addr) (*dnsHost, error) {
	key := r.vnet.Key() + " dns " + a.String()
	ns, err := createNamespace(f.prefix + "d-" + shortHash(key))
	if err != nil {
		return nil, err
	}
	if err := plug(r, b, ns, "st-d-"+shortHash(key)[:9], []netip.Addr{a}); err != nil {
		ns.close()
		return nil, errors.Join(err, deleteNamespace(ns.name))
	}
	d, err := startDNS(ns, a, r.vnet, f.cfg.Log)
	if err != nil {
		ns.close()
		return nil, errors.Join(err, deleteNamespace(ns.name))
	}
	return &dnsHost{ns: ns, bridge: b, server: d}, nil
}

// removeDNSHost stops a DNS server and deletes its namespace.
func (r *router) removeDNSHost(a netip.Addr) error {
	h := r.dns.hosts[a]
	delete(r.dns.hosts, a)
	h.server.stop()
	h.ns.close()
	return deleteNamespace(h.ns.name)
}

// dnsBridges adds the bridges of the router's DNS servers to bridges,
// so that their subnets' NSGs apply to them.
func (r *router) dnsBridges(bridges []*bridge) []*bridge {
	for _, a := range slices.SortedFunc(maps.Keys(r.dns.hosts), netip.Addr.Compare) {
		if b := r.dns.hosts[a].bridge; !slices.Contains(bridges, b) {
			bridges = append(bridges, b)
		}
	}
	return bridges
}

// stopDNS stops the router's DNS servers and deletes their namespaces.
func (r *router) stopDNS() error {
	var errs []error
	for a := range r.dns.hosts {
		errs = append(errs, r.removeDNSHost(a))
	}
	if r.dns.azure != nil {
		r.dns.azure.stop()
		r.dns.azure = nil
	}
	return errors.Join(errs...)
}

// errNoNameserver: the node's VNet has not been brought up to date yet.
var errNoNameserver = errors.New("the node's VNet has no DNS settings yet")

// nameserver is the DNS server the node asks.
func (nd *node) nameserver() (netip.Addr, error) {
	if p := nd.router.dns.nameserver.Load(); p != nil {
		return *p, nil
	}
	return netip.Addr{}, errNoNameserver
}
