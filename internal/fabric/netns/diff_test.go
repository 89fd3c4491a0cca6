//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/envgen"
	"securetrain/internal/fabric/netns/netnstest"
	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// The randomised differential test: random environments from the
// generator, realised on the fabric, and flow by flow the verifier's
// verdict against what the packets do. A flow passes from packets when it
// reaches its destination: a TCP connection is refused by the
// destination's kernel, or accepted and then answered or closed by the
// destination after the flow's first line (a firewall's proxy accepts
// first and resets what it denies); a UDP datagram is answered (every
// destination answers on the test's UDP ports).
//
// SECURETRAIN_DIFF_FLOWS sets how many flows at least (2,000 by default),
// SECURETRAIN_DIFF_SEED the first seed (1); a disagreement names its seed,
// which reproduces it.

// diffOptions are the generator's features the fabric realises: VNets
// with subnets, NSGs (random rules over addresses, service tags, TCP, UDP,
// ICMP and any protocol), route tables (next hops Internet, None,
// VnetLocal and VirtualAppliance over prefixes and service tags), service
// endpoints for Storage, subnets without default outbound access, NAT
// gateways, private endpoints with every network policy setting, VNet
// peerings (connected, one way, VNet access off), computes with and
// without public IPs, and a hub VNet with an Azure Firewall that every
// VNet peers with and routes 0.0.0.0/0 to, its rules in each of the
// generator's shapes in turn (by seed). The generator's plain NICs,
// public IPs and load balancers exist in the verifier's model but are no
// flow's end.
func diffOptions(seed uint64) envgen.Options {
	return envgen.Options{Seed: seed, VNets: 3, SubnetsPerVNet: 2, NSGs: 2, RulesPerNSG: 16, RoutesPerVNet: 3,
		Computes: 6, Hosts: true, Peerings: true, Region: "westus2",
		Firewall: true, FirewallRules: envgen.FirewallShape(seed % uint64(envgen.FirewallShapes))}
}

// diffPorts are the ports flows use: Azure's service ports, the ports the
// generator's rules name, and one port per 5,000 (its random ranges are
// at most 5,000 wide, so most of them hold one).
var diffPorts = []uint16{22, 80, 443, 445, 1433, 3389, 5831, 8787, 18881, 44224,
	5000, 10000, 15000, 20000, 25000, 30000, 35000, 40000, 45000, 50000, 55000, 60000}

// diffHosts are the package hosts flows send to by name: some of them
// the generator's application rules allow (pypi.org, *.pythonhosted.org),
// some not.
var diffHosts = []string{"pypi.org", "files.pythonhosted.org", "conda.anaconda.org", "repo.anaconda.com"}

// diffTimeout is how long a flow's packets get to reach their end: a
// dropped packet gives no answer, so every blocked flow waits this long.
const diffTimeout = time.Second

// diffPatientTimeout is the second chance of a flow the verifier allows
// that got no answer within diffTimeout.
const diffPatientTimeout = 5 * time.Second

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func TestDifferentialRandomEnvironments(t *testing.T) {
	netnstest.RequireRoot(t)
	want := envInt(t, "SECURETRAIN_DIFF_FLOWS", 2000)
	first := envInt(t, "SECURETRAIN_DIFF_SEED", 1)
	var total diffCount
	start := time.Now()
	for seed := uint64(first); total.flows < want; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			c := differential(t, seed)
			total.flows, total.passed = total.flows+c.flows, total.passed+c.passed
			total.firewall, total.firewallPassed = total.firewall+c.firewall, total.firewallPassed+c.firewallPassed
		})
	}
	verdict := "verifier and packets agree on each"
	if t.Failed() {
		verdict = "DISAGREEMENTS above"
	}
	t.Logf("%d flows (%d pass, %d blocked; %d through a firewall, %d of them pass) in %s: %s", total.flows, total.passed, total.flows-total.passed,
		total.firewall, total.firewallPassed, time.Since(start).Round(time.Millisecond), verdict)
	if total.flows < want {
		t.Errorf("only %d flows compared, want %d", total.flows, want)
	}
}

// diffFlow is one flow of the differential test.
type diffFlow struct {
	node    *node
	inbound bool // from the cloud (Source) to the node
	proto   netverify.Protocol
	dst     netip.Addr
	src     netip.Addr // inbound: the cloud's address it comes from
	port    uint16
	// to is the destination's compute when it is a node.
	to arm.ID
	// name is the host a TCP flow is sent to by name (dst is then the
	// address the verifier resolves it to), named in its first bytes.
	name string
}

func (d diffFlow) String() string {
	if d.inbound {
		return fmt.Sprintf("inbound %s %d from %s to node %s of %s (%s)", d.proto, d.port, d.src, d.node.n.Name, d.node.n.Compute, d.node.n.PrivateIP)
	}
	to := d.dst.String()
	if d.name != "" {
		to = fmt.Sprintf("%s (%s)", d.name, d.dst)
	}
	return fmt.Sprintf("outbound %s %d from node %s of %s (%s) to %s", d.proto, d.port, d.node.n.Name, d.node.n.Compute, d.node.n.PrivateIP, to)
}

// diffCount counts the flows compared: all of them and those whose path
// crosses an Azure Firewall, and how many of each passed.
type diffCount struct{ flows, passed, firewall, firewallPassed int }

// differential realises seed's environment, sends its flows and compares.
func differential(t *testing.T, seed uint64) diffCount {
	data := envgen.Generate(diffOptions(seed))
	snap, err := resources.DecodeFile(fmt.Sprintf("seed%d.json", seed), data)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	nw, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	f := newFabric(t, &nw)
	ctx := context.Background()
	var nodes []*node
	for i, c := range snap.Computes {
		sn := snap.Subnet(c.Subnet.ID)
		count := 1
		if c.ComputeType == resources.ComputeAml {
			count = 2
		}
		for k := range count {
			// .32 and up: clear of the generator's NICs (.10, .11) and
			// private endpoint (.20).
			addr := sn.AddressPrefixes[0].Masked().Addr().As4()
			addr[3] = byte(32 + 4*i + k)
			n := nodeOf(c, fmt.Sprintf("tvm-%04d", k), netip.AddrFrom4(addr).String())
			if err := f.Boot(ctx, n); err != nil {
				t.Fatalf("seed %d: boot %s of %s: %v", seed, n.Name, c.ID.Name(), err)
			}
			nodes = append(nodes, f.nodes[nodeKey(n)])
		}
	}
	// Boot applied each VNet as its nodes came; apply them all once more
	// now that every node is there (peers included).
	f.mu.Lock()
	for _, r := range f.routers {
		if err := f.update(nw, r); err != nil {
			f.mu.Unlock()
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	f.mu.Unlock()
	stop := answerUDP(t, f, nodes)
	defer stop()

	flows := diffFlows(f, nodes, rand.New(rand.NewPCG(seed, 7)))
	passed, crossed := make([]bool, len(flows)), make([]bool, len(flows))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 192) // most wait out a dropped packet
	for i, fl := range flows {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o, err := predict(nw, fl)
			if err != nil {
				t.Errorf("seed %d: %s: the verifier: %v", seed, fl, err)
				return
			}
			if fl.name != "" {
				fl.dst = o.Sample.Destination // where the name resolves
			}
			reached, detail := sendExpecting(f, fl, o.Verdict == netverify.Allowed)
			passed[i], crossed[i] = reached, throughFirewall(o)
			if reached != (o.Verdict == netverify.Allowed) {
				t.Errorf("seed %d (SECURETRAIN_DIFF_SEED=%d): %s: the verifier says %s (%s); the packets: %s",
					seed, seed, fl, o.Verdict, o.Reason, detail)
			}
		})
	}
	wg.Wait()
	c := diffCount{flows: len(flows)}
	for i, p := range passed {
		if p {
			c.passed++
		}
		if crossed[i] {
			c.firewall++
			if p {
				c.firewallPassed++
			}
		}
	}
	return c
}

// answerUDP makes every node, private endpoint and the cloud answer on
// the test's UDP ports (the cloud's UDP 5831 is its own: it answers there
// for Azure ML's addresses only, and flows send it nothing else).
func answerUDP(t *testing.T, f *Fabric, nodes []*node) func() {
	t.Helper()
	every := []servedTag{{name: "diff", set: allAddresses, udp: diffPorts}}
	var rps []*responder
	start := func(ns *namespace, ports []uint16) {
		rp, err := newResponder(ns, nil, ports)
		if err != nil {
			t.Fatal(err)
		}
		rp.setServed(every)
		rps = append(rps, rp)
	}
	start(f.cloud.ns, slices.DeleteFunc(slices.Clone(diffPorts), func(p uint16) bool { return p == 5831 }))
	for _, nd := range nodes {
		start(nd.ns, diffPorts)
	}
	for _, r := range f.routers {
		for _, ep := range r.endpoints {
			start(ep.ns, diffPorts)
		}
	}
	return func() {
		for _, rp := range rps {
			rp.stop()
		}
	}
}

// diffFlows draws each node's flows: outbound to the cloud's services and
// public sites, to the other nodes (same subnet, other subnets, peered
// VNets) and to the private endpoints, TCP and UDP; inbound TCP 44224
// from the cloud through the load balancer (or, for a node without public
// IP, to its private address).
func diffFlows(f *Fabric, nodes []*node, rnd *rand.Rand) []diffFlow {
	f.cloud.mu.Lock()
	served := slices.Clone(f.cloud.responder.served)
	f.cloud.mu.Unlock()
	var endpoints []netip.Addr
	for _, r := range f.routers {
		for _, ep := range r.endpoints {
			endpoints = append(endpoints, ep.addrs...)
		}
	}
	slices.SortFunc(endpoints, netip.Addr.Compare)
	cloudAddr := func(tag string) (netip.Addr, string) {
		from := served
		if i := slices.IndexFunc(served, func(s servedTag) bool { return s.name == tag }); i >= 0 {
			from = served[i : i+1]
		}
		s := from[rnd.IntN(len(from))]
		rgs := s.set.Ranges()
		g := rgs[rnd.IntN(len(rgs))]
		return ipset.Addr(g.Lo + uint32(rnd.Uint64N(uint64(g.Hi-g.Lo)+1))), s.name
	}
	var out []diffFlow
	for _, nd := range nodes {
		for range 25 {
			fl := diffFlow{node: nd, proto: netverify.TCP, port: diffPorts[rnd.IntN(len(diffPorts))]}
			if rnd.IntN(3) == 0 {
				fl.proto = netverify.UDP
			}
			switch x := rnd.IntN(10); {
			case x < 3 && len(nodes) > 1:
				other := nd
				for other == nd {
					other = nodes[rnd.IntN(len(nodes))]
				}
				fl.dst, fl.to = other.n.PrivateIP, mustID(other.n.Compute)
			case x < 5 && len(endpoints) > 0:
				fl.dst = endpoints[rnd.IntN(len(endpoints))]
			case x < 6:
				// A package host by name, over HTTPS or HTTP: a
				// firewall's application rules match the name.
				fl.proto, fl.name = netverify.TCP, diffHosts[rnd.IntN(len(diffHosts))]
				fl.port = []uint16{443, 443, 80}[rnd.IntN(3)]
			default:
				var name string
				fl.dst, name = cloudAddr("")
				if fl.proto == netverify.UDP && fl.port == 5831 && !strings.HasPrefix(name, "AzureMachineLearning") {
					fl.port = 5000 // the cloud's 5831 answers Azure ML's addresses only
				}
			}
			out = append(out, fl)
		}
		for range 3 {
			tag := ""
			if rnd.IntN(2) == 0 {
				tag = "AzureMachineLearning"
			}
			src, _ := cloudAddr(tag)
			out = append(out, diffFlow{node: nd, inbound: true, proto: netverify.TCP, src: src, dst: nd.n.PrivateIP, port: agentPort})
		}
	}
	return out
}

func mustID(s string) arm.ID {
	id, err := arm.ParseID(s, "")
	if err != nil {
		panic(err) // the test's own node ids
	}
	return id
}

// predict asks the verifier about the flow and returns the outcome that
// holds its packet.
func predict(nw *netverify.Network, fl diffFlow) (netverify.Outcome, error) {
	compute := netverify.ResourceEndpoint(mustID(fl.node.n.Compute))
	q := netverify.Query{From: compute, To: netverify.AddressEndpoint(fl.dst), Protocol: fl.proto, Port: fl.port, Direction: netverify.DirectionOutbound}
	src, dst := fl.node.n.PrivateIP, fl.dst
	switch {
	case fl.inbound:
		q.From, q.To, q.Direction = netverify.AddressEndpoint(fl.src), compute, netverify.DirectionInbound
		src = fl.src
	case !fl.to.IsZero():
		q.To = netverify.ResourceEndpoint(fl.to)
	case fl.name != "":
		q.To = netverify.NameEndpoint(fl.name)
	}
	res, err := nw.Flow(q)
	if err != nil {
		return netverify.Outcome{}, err
	}
	for _, o := range res.Outcomes {
		if o.Protocol == fl.proto.String() && inRanges(o.Sources, src) && (fl.name != "" || inRanges(o.Destinations, dst)) {
			return o, nil
		}
	}
	return netverify.Outcome{}, fmt.Errorf("no outcome holds %s -> %s (verdict %s)", src, dst, res.Verdict)
}

// inRanges reports whether a is in one of the ranges as an outcome lists
// them ("a", "a/n" or "a-b").
func inRanges(rgs []string, a netip.Addr) bool {
	for _, r := range rgs {
		if lo, hi, ok := strings.Cut(r, "-"); ok {
			l, _ := netip.ParseAddr(lo)
			h, _ := netip.ParseAddr(hi)
			if l.Compare(a) <= 0 && a.Compare(h) <= 0 {
				return true
			}
			continue
		}
		if p, err := netip.ParsePrefix(r); err == nil && p.Contains(a) {
			return true
		}
		if x, err := netip.ParseAddr(r); err == nil && x == a {
			return true
		}
	}
	return false
}

// send sends the flow's packets and reports whether they reached its
// destination.
// sendExpecting sends fl; a flow expected to pass that got no answer is
// sent again, patiently: on a loaded machine a first packet (or its
// answer) can wait out diffTimeout, while a flow the fabric blocks stays
// unanswered however long it is given.
func sendExpecting(f *Fabric, fl diffFlow, pass bool) (bool, string) {
	reached, detail := send(f, fl, diffTimeout)
	if !reached && pass {
		reached, detail = send(f, fl, diffPatientTimeout)
	}
	return reached, detail
}

func send(f *Fabric, fl diffFlow, timeout time.Duration) (bool, string) {
	deadline := time.Now().Add(timeout)
	if fl.inbound {
		target := netip.AddrPortFrom(fl.dst, fl.port)
		if pub := fl.node.n.PublicIP; pub.IsValid() {
			target = netip.AddrPortFrom(pub, frontendPort(fl.node.n.Name))
		}
		line, err := f.lineFromCloud(fl.src, target.String(), deadline)
		if err != nil {
			return false, fmt.Sprintf("TCP %s from %s: %v", target, fl.src, err)
		}
		if want := "securetrain-node " + fl.node.n.Compute + "/" + fl.node.n.Name; line != want {
			return false, fmt.Sprintf("TCP %s from %s reached %q, not the node", target, fl.src, line)
		}
		return true, "reached the node's agent through " + target.String()
	}
	proto := strings.ToLower(fl.proto.String())
	target := netip.AddrPortFrom(fl.dst, fl.port).String()
	var line string
	var err error
	switch {
	case fl.name != "":
		line, err = exchangeNamed(fl.node.ns, netip.AddrPortFrom(fl.dst, fl.port), fl.name, deadline)
	case proto == "tcp":
		line, err = connectAndSend(fl.node.ns, target, deadline)
	default:
		line, err = exchange(fl.node.ns, proto, target, deadline, false)
	}
	switch {
	case err == nil && proto == "udp":
		return true, "answered: " + line
	case err == nil:
		return true, fmt.Sprintf("TCP %s answered %q", target, line)
	case errors.Is(err, io.EOF):
		return true, fmt.Sprintf("TCP %s closed by the destination without an answer", target)
	case errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "i/o timeout"):
		return false, fmt.Sprintf("%s %s: no answer within %s", proto, target, diffTimeout)
	case strings.Contains(err.Error(), "connection reset"):
		// Only a firewall's proxy accepts a connection and then resets
		// it: the flow did not get through.
		return false, fmt.Sprintf("%s %s: reset after it was accepted (a firewall's proxy refused it)", proto, target)
	case strings.Contains(err.Error(), "connection refused"):
		// The destination's kernel refused: the packet got there.
		return true, fmt.Sprintf("%s %s refused by the destination", proto, target)
	}
	return false, fmt.Sprintf("%s %s: %v", proto, target, err)
}

// connectAndSend connects from namespace ns to target over TCP, sends a
// line naming nothing and reads the answer: every destination answers or
// closes (a port without listener refuses), while a firewall's proxy,
// which accepts first, resets a connection that names no host.
func connectAndSend(ns *namespace, target string, deadline time.Time) (string, error) {
	var line string
	err := inNamespace(ns.fd, func() error {
		d := net.Dialer{Deadline: deadline}
		conn, err := d.Dial("tcp4", target)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetWriteDeadline(deadline)
		if _, err := conn.Write([]byte("securetrain probe\n")); err != nil {
			return err
		}
		line, err = readLine(conn, deadline)
		return err
	})
	return line, err
}
