package netverify

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"securetrain/internal/envgen"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// randomNetwork compiles a small random environment; seeds vary its shape.
// Even seeds have a firewall, its rules in each shape in turn (empty ones
// included: issue 18 found a crash there).
func randomNetwork(t testing.TB, seed uint64) *Network {
	t.Helper()
	o := envgen.Options{Seed: seed, VNets: 2 + int(seed%4), SubnetsPerVNet: 2 + int(seed%5), NSGs: 3 + int(seed%4),
		RulesPerNSG: 20 + int(seed%7)*15, RoutesPerVNet: 4 + int(seed%9), Computes: 4, Firewall: seed%2 == 0, Hosts: true,
		FirewallRules: envgen.FirewallShape(seed / 2 % uint64(envgen.FirewallShapes))}
	snap, err := resources.DecodeFile(fmt.Sprintf("random-%d.json", seed), envgen.Generate(o))
	if err != nil {
		t.Fatalf("seed %d: decode: %v", seed, err)
	}
	n, err := Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatalf("seed %d: compile: %v", seed, err)
	}
	return n
}

// flowSampler draws random flows that exercise every path: addresses in
// subnets, hosts, service tags, public and private space, platform IPs.
type flowSampler struct {
	n       *Network
	r       *rand.Rand
	subnets []*subnetCtx
	tagSets []ipset.Set
	public  []uint32
	hosts   []uint32
}

func newSampler(n *Network, seed uint64) *flowSampler {
	s := &flowSampler{n: n, r: rand.New(rand.NewPCG(seed, 7))}
	for _, k := range sortedKeys(n.subnets) {
		s.subnets = append(s.subnets, n.subnets[k])
	}
	for _, k := range sortedKeys(n.tagSets) {
		s.tagSets = append(s.tagSets, n.tagSets[k])
	}
	s.public = slices.Sorted(maps.Keys(n.publicEndpoints))
	for _, vc := range n.vnets {
		s.hosts = append(s.hosts, slices.Sorted(maps.Keys(vc.hosts))...)
	}
	return s
}

func (s *flowSampler) inSet(set ipset.Set) uint32 {
	rs := set.Ranges()
	r := rs[s.r.IntN(len(rs))]
	return r.Lo + uint32(s.r.Uint64N(uint64(r.Hi-r.Lo)+1))
}

func (s *flowSampler) address() uint32 {
	switch x := s.r.IntN(10); {
	case x < 3 && len(s.hosts) > 0 && s.r.IntN(3) == 0:
		return s.hosts[s.r.IntN(len(s.hosts))] // NICs, private endpoints, firewalls
	case x < 3:
		return s.inSet(s.subnets[s.r.IntN(len(s.subnets))].set)
	case x < 6 && len(s.tagSets) > 0:
		return s.inSet(s.tagSets[s.r.IntN(len(s.tagSets))])
	case x < 7 && len(s.public) > 0 && s.r.IntN(2) == 0:
		return s.public[s.r.IntN(len(s.public))] // public IPs of the file: inbound paths
	case x < 7:
		return [...]uint32{azurePlatformIP, imdsIP, externalStandIn("pypi.org"), externalStandIn("ntp.ubuntu.com")}[s.r.IntN(4)]
	case x < 8:
		return 10<<24 | s.r.Uint32()&0xFFFFFF
	}
	return s.r.Uint32()
}

func (s *flowSampler) flow() pointFlow {
	f := pointFlow{src: s.address(), dst: s.address(), proto: Protocol(s.r.IntN(int(numProtocols)))}
	if f.proto.hasPorts() {
		f.sport = uint16(s.r.IntN(65536))
		f.dport = [...]uint16{22, 80, 443, 445, 5831, 8787, 18881, 44224, 53, 3389, 50022, 8080}[s.r.IntN(12)]
		if s.r.IntN(3) == 0 {
			f.dport = uint16(s.r.IntN(65536))
		}
	}
	return f
}

// evaluate runs one point flow with either evaluator, from inside when the
// source is in a subnet, else from outside.
func evaluate(n *Network, f pointFlow, ref bool, dstCompute *computeCtx) (Verdict, []step) {
	w := &walker{n: n, ref: ref, dstCompute: dstCompute}
	var v Verdict
	if o := n.originOf(&endpoint{}, f.src); o.subnet != nil {
		v = w.fromInside(&f, o)
	} else {
		v = w.fromOutside(&f)
	}
	return v, w.steps
}

// TestFastMatchesReference compares the indexed evaluator with the
// reference lookups (linear rule scans, linear longest-prefix match) on
// random flows over random networks: the same verdict and the same
// deciding elements, hop by hop. Both run the walk's path logic, so each
// flow is also held against the oracle, which decides the path on its own
// (oracle_test.go): the same verdict and the same NSG rules, routes,
// firewall rules and ways out, in order.
func TestFastMatchesReference(t *testing.T) {
	const perNetwork, total = 5000, 100_000
	checked, verdicts := 0, map[Verdict]int{}
	for seed := uint64(1); checked < total; seed++ {
		n := randomNetwork(t, seed)
		s := newSampler(n, seed)
		o := newOracle(n)
		var computes []*computeCtx
		for _, k := range sortedKeys(n.computes) {
			computes = append(computes, n.computes[k])
		}
		for i := 0; i < perNetwork; i++ {
			f := s.flow()
			var dc *computeCtx
			if len(computes) > 0 && s.r.IntN(4) == 0 {
				if cc := computes[s.r.IntN(len(computes))]; cc.subnet != nil && !cc.nodes.IsEmpty() {
					dc, f.dst = cc, s.inSet(cc.nodes)
				}
			}
			fv, fs := evaluate(n, f, false, dc)
			rv, rs := evaluate(n, f, true, dc)
			if fv != rv || !slices.Equal(fs, rs) {
				t.Fatalf("seed %d flow %+v: fast %s %v, reference %s %v", seed, f, fv, describe(n, fs), rv, describe(n, rs))
			}
			if ov := o.eval(f, dc); ov != fv || !slices.Equal(o.trace, traceOf(fs)) {
				t.Fatalf("seed %d flow %+v: walk %s %q\noracle %s %q\nwalk hops %v", seed, f, fv, traceOf(fs), ov, o.trace, describe(n, fs))
			}
			verdicts[fv]++
			checked++
		}
	}
	t.Logf("%d flows agree; verdicts %v", checked, verdicts)
	// The random networks must reach every verdict a point flow can have,
	// or the comparison proves less than it claims.
	for _, v := range []Verdict{Allowed, Denied, NoRoute, NoOutboundConnectivity, AsymmetricRoute} {
		if verdicts[v] == 0 {
			t.Errorf("no random flow ended %s", v)
		}
	}
}

// coverage maps each (protocol, verdict, hops) of an answer to the
// destinations it covers.
func coverage(t *testing.T, res *Result) map[string]string {
	out := map[string]ipset.Set{}
	for _, o := range res.Outcomes {
		hops, err := json.Marshal(o.Hops)
		if err != nil {
			t.Fatal(err)
		}
		key := o.Protocol + " " + string(o.Verdict) + " " + string(hops)
		for _, d := range o.Destinations {
			set, err := ipset.ParseAddrOrPrefix(d)
			if err != nil {
				t.Fatal(err)
			}
			out[key] = out[key].Union(set)
		}
	}
	str := map[string]string{}
	for k, v := range out {
		str[k] = v.Format(1 << 20)
	}
	return str
}

func describe(n *Network, steps []step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, n.hop(s).Detail)
	}
	return out
}

// TestSetQueriesMatchPoints checks that every piece of a set answer is what
// the reference evaluator says for addresses inside that piece.
func TestSetQueriesMatchPoints(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		n := randomNetwork(t, seed)
		s := newSampler(n, seed)
		for i, tag := range []string{"Storage.WestUS2", "AzureMachineLearning", "10.0.0.0/14", "AzureCloud.westus2", "Internet", "0.0.0.0/0"} {
			sc := s.subnets[s.r.IntN(len(s.subnets))]
			from := ipset.Addr(s.inSet(sc.usable)).String()
			if (int(seed)+i)%2 == 0 {
				// A whole subnet as source: strips of sources, each joined
				// across the tag's ranges.
				from = sc.s.ID.String()
			}
			q := textQuery{From: from, To: tag, Protocol: []string{"TCP", "UDP", "Any"}[s.r.IntN(3)], Port: 443}.mustParse(t, n)
			res, err := n.Flow(q)
			if err != nil {
				t.Fatalf("seed %d %+v: %v", seed, q, err)
			}
			// The whole answer must equal the reference's, piece for piece:
			// the same destinations under the same verdict and hops.
			ref, err := n.flow(q, true)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := coverage(t, res), coverage(t, ref); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d %+v: fast and reference set answers differ:\nfast %v\nref  %v", seed, q, got, want)
			}
			for _, o := range res.Outcomes {
				for k := 0; k < 3; k++ {
					set, err := ipset.ParseAddrOrPrefix(o.Destinations[s.r.IntN(len(o.Destinations))])
					if err != nil {
						t.Fatal(err)
					}
					to := ipset.Addr(s.inSet(set)).String()
					// From one source of the outcome: a subnet's pieces may
					// take other paths (a NIC in it has its own NSG and IP).
					srcSet, err := ipset.ParseAddrOrPrefix(o.Sources[0])
					if err != nil {
						t.Fatal(err)
					}
					pq := textQuery{From: ipset.Addr(srcSet.Ranges()[0].Lo).String(), To: to, Protocol: o.Protocol, Port: 443}.mustParse(t, n)
					pr, err := n.flow(pq, true)
					if err != nil {
						t.Fatal(err)
					}
					if pr.Verdict != o.Verdict || !reflect.DeepEqual(pr.Outcomes[0].Hops, o.Hops) {
						t.Fatalf("seed %d: set query %+v piece %v says %s, reference at %s says %s\nset: %+v\npoint: %+v",
							seed, q, o.Destinations, o.Verdict, to, pr.Verdict, o.Hops, pr.Outcomes[0].Hops)
					}
				}
			}
		}
	}
}

// On random networks and on the examples: a verdict-only query gives the
// verdict the explained answer gives (requirements asks it where only the
// verdict decides what to report), and an answer built from what earlier
// queries resolved and rendered (shared endpoints and hops) is the answer
// of a network that shares nothing yet.
func TestVerdictOnlyAndSharedAnswersMatch(t *testing.T) {
	var nets []*Network
	for seed := uint64(1); seed <= 6; seed++ {
		nets = append(nets, randomNetwork(t, seed))
	}
	for _, name := range []string{"cluster-public-ip.yaml", "cluster-public-ip-firewall.yaml", "instance-no-public-ip.yaml",
		"broken/cluster-firewall-asymmetric.yaml", "broken/instance-dns-record-missing.yaml", "broken/instance-private-subnet-no-egress.yaml"} {
		nets = append(nets, compileExample(t, name))
	}
	verdicts := map[Verdict]int{}
	for i, n := range nets {
		var froms []Endpoint
		for _, k := range sortedKeys(n.subnets) {
			froms = append(froms, ResourceEndpoint(n.subnets[k].s.ID))
		}
		for _, cc := range n.computeList {
			if cc.subnet != nil {
				froms = append(froms, ResourceEndpoint(cc.c.ID))
			}
		}
		tos := []Endpoint{TagEndpoint("Storage.WestUS2"), TagEndpoint("AzureFrontDoor.FirstParty"), TagEndpoint("AzureMachineLearning"),
			TagEndpoint("Internet"), NameEndpoint("pypi.org"), NameEndpoint("x.blob.core.windows.net"), AddressEndpoint(netip.MustParseAddr("8.8.8.8"))}
		for _, from := range froms {
			for _, to := range tos {
				for _, proto := range []Protocol{TCP, UDP} {
					q := Query{From: from, To: to, Protocol: proto, Port: 443}
					full, err := n.Flow(q)
					n.endpoints.Clear()
					n.hops.Clear()
					fresh, ferr := n.Flow(q)
					if (err == nil) != (ferr == nil) || !reflect.DeepEqual(full, fresh) {
						t.Fatalf("net %d %s -> %s %s: the answer with shared endpoints and hops differs from a fresh one:\n%+v\n%+v", i, from, to, proto, full, fresh)
					}
					q.VerdictOnly = true
					v, verr := n.Flow(q)
					if (err == nil) != (verr == nil) {
						t.Fatalf("net %d %s -> %s: errors differ: %v / %v", i, from, to, err, verr)
					}
					if err != nil {
						continue
					}
					if v.Verdict != full.Verdict {
						t.Fatalf("net %d %s -> %s %s: verdict only %s, explained %s", i, from, to, proto, v.Verdict, full.Verdict)
					}
					if full.Verdict != DNSFailure && len(v.Outcomes) != 0 {
						t.Fatalf("net %d %s -> %s: a verdict-only answer has %d outcomes", i, from, to, len(v.Outcomes))
					}
					verdicts[full.Verdict]++
				}
			}
		}
	}
	// The comparison means something only if the answers vary.
	for _, want := range []Verdict{Allowed, Denied, PartiallyAllowed} {
		if verdicts[want] == 0 {
			t.Errorf("no query answered %s: %v", want, verdicts)
		}
	}
}
