package netverify

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// TestQueryErrorsNameTheValue: issue 11 — the verifier's errors named the
// CLI's flags (--from, --direction) whoever the caller was. They name the
// endpoint and say which side it is; EndpointError and ErrDirection let a
// caller (the CLI) put its own names on them.
func TestQueryErrorsNameTheValue(t *testing.T) {
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	compute := ResourceEndpoint(n.Snapshot().Computes[0].ID)
	missing, err := arm.ParseID("/subscriptions/"+n.Snapshot().Subscription+"/resourceGroups/mygroup/providers/Microsoft.Network/networkInterfaces/nope", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		q        Query
		says     string
		side     string // "source", "destination" or "" (not an endpoint's)
		dirError bool
	}{
		{"DNS name as source", Query{From: NameEndpoint("pypi.org"), To: compute}, "source pypi.org is a DNS name", "source", false},
		{"no source", Query{To: compute}, "no endpoint given", "source", false},
		{"unknown tag", Query{From: compute, To: TagEndpoint("NoSuchTag")}, "destination NoSuchTag is not a service tag", "destination", false},
		{"missing resource", Query{From: ResourceEndpoint(missing), To: TagEndpoint("Storage")}, "/networkInterfaces/nope is not in the network", "source", false},
		{"IPv6", Query{From: compute, To: AddressEndpoint(netip.MustParseAddr("2001:db8::1"))}, "destination 2001:db8::1 is not IPv4", "destination", false},
		{"backwards range", Query{From: RangeEndpoint(netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.4")), To: TagEndpoint("Storage")},
			"ends before it starts", "source", false},
		{"direction", Query{From: compute, To: TagEndpoint("Storage"), Port: 443, Direction: DirectionInbound}, "is inside the environment's VNets, so the flow is outbound", "", true},
		{"unknown direction", Query{From: compute, To: TagEndpoint("Storage"), Port: 443, Direction: "sideways"}, `"sideways" must be outbound or inbound`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Flow(tc.q)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.says) || strings.Contains(msg, "--") {
				t.Errorf("error %q: want it to say %q and name no flag", msg, tc.says)
			}
			var ee *EndpointError
			switch {
			case tc.side == "" && errors.As(err, &ee):
				t.Errorf("%v is an endpoint's error", err)
			case tc.side != "" && (!errors.As(err, &ee) || ee.Destination != (tc.side == "destination")):
				t.Errorf("%v: want an EndpointError on the %s", err, tc.side)
			}
			if errors.Is(err, ErrDirection) != tc.dirError {
				t.Errorf("%v: errors.Is(ErrDirection) = %v", err, !tc.dirError)
			}
		})
	}
	// Text is read by ParseEndpoint, whose errors name the text.
	for _, text := range []string{"ws1/nope", "not a tag", "10.0.0.0/33", ""} {
		if _, err := n.ParseEndpoint(text); err == nil || strings.Contains(err.Error(), "--") {
			t.Errorf("ParseEndpoint(%q): %v", text, err)
		}
	}
}

// TestTypedEndpointsMatchText: an endpoint built from its type answers as
// the text that names it does.
func TestTypedEndpointsMatchText(t *testing.T) {
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	c := n.Snapshot().Computes[0]
	for _, tc := range []struct {
		text  textQuery
		typed Query
	}{
		{textQuery{From: "ws1/gpucluster", To: "Storage.WestUS2", Protocol: "TCP", Port: 443},
			Query{From: ResourceEndpoint(c.ID), To: TagEndpoint("Storage.WestUS2"), Protocol: TCP, Port: 443}},
		{textQuery{From: "AzureMachineLearning", To: "ws1/gpucluster", Protocol: "TCP", Port: 44224},
			Query{From: TagEndpoint("AzureMachineLearning"), To: ResourceEndpoint(c.ID), Protocol: TCP, Port: 44224}},
		{textQuery{From: "10.0.0.4-10.0.0.9", To: "pypi.org", Protocol: "Any", Port: 443},
			Query{From: RangeEndpoint(netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.9")), To: NameEndpoint("pypi.org"), Protocol: AnyProtocol, Port: 443}},
		{textQuery{From: "10.0.0.0/26", To: "8.8.8.8", Protocol: "UDP", Port: 53},
			Query{From: PrefixEndpoint(netip.MustParsePrefix("10.0.0.0/26")), To: AddressEndpoint(netip.MustParseAddr("8.8.8.8")), Protocol: UDP, Port: 53}},
	} {
		want := flow(t, n, tc.text)
		got, err := n.Flow(tc.typed)
		if err != nil {
			t.Fatalf("%+v: %v", tc.typed, err)
		}
		if !reflect.DeepEqual(got.Outcomes, want.Outcomes) || got.Source.Kind != want.Source.Kind || got.Destination.Kind != want.Destination.Kind {
			t.Errorf("%+v: typed and text queries differ:\n%s\nvs\n%s", tc.text, explain(got), explain(want))
		}
	}
}

// eachSubnetSample calls fn 300 times on each of six random networks, with
// a subnet that has usable addresses.
func eachSubnetSample(t *testing.T, fn func(seed uint64, n *Network, s *flowSampler, sc *subnetCtx)) {
	for seed := uint64(1); seed <= 6; seed++ {
		n := randomNetwork(t, seed)
		s := newSampler(n, seed)
		for range 300 {
			if sc := s.subnets[s.r.IntN(len(s.subnets))]; !sc.usable.IsEmpty() {
				fn(seed, n, s, sc)
			}
		}
	}
}

// nsgHops are the NSG hops of an outcome in direction d that sit at one
// interface: outbound, those before the first route (the source's);
// inbound, those right before the final delivery (the destination's).
func nsgHops(o Outcome, d resources.Direction) []Hop {
	var out []Hop
	if d == resources.Outbound {
		for _, h := range o.Hops {
			if h.Kind == HopRoute {
				break
			}
			if h.Kind == HopNSG {
				out = append(out, h)
			}
		}
		return out
	}
	hops := o.Hops
	if len(hops) == 0 || hops[len(hops)-1].Kind != HopDelivery && o.Verdict != Denied {
		return nil
	}
	end := len(hops)
	if hops[end-1].Kind == HopDelivery {
		end--
	}
	start := end
	for start > 0 && hops[start-1].Kind == HopNSG && hops[start-1].Direction == string(resources.Inbound) {
		start--
	}
	return hops[start:end]
}

// TestNSGVerdictAgreesWithFlow holds the per-interface NSG verdict
// (Network Watcher's IP flow verify) against the walk on random networks:
// outbound from a subnet address, its NSG hops before the route; inbound
// from inside, the NSG hops that end the delivery. spec §8.1
func TestNSGVerdictAgreesWithFlow(t *testing.T) {
	compared := 0
	eachSubnetSample(t, func(seed uint64, n *Network, s *flowSampler, sc *subnetCtx) {
		local := s.inSet(sc.usable)
		f := s.flow()
		p := Packet{Protocol: f.proto, Source: ipset.Addr(local), Destination: ipset.Addr(f.dst), SourcePort: f.sport, DestinationPort: f.dport}
		for _, d := range []resources.Direction{resources.Outbound, resources.Inbound} {
			q := Query{From: AddressEndpoint(p.Source), To: AddressEndpoint(p.Destination), Protocol: p.Protocol,
				Port: p.DestinationPort, SourcePort: p.SourcePort}
			if d == resources.Inbound {
				if !n.subnetSpace.Contains(f.dst) || f.dst == local {
					continue // inbound from inside: the walk reaches the local NSGs only so
				}
				p.Source, p.Destination = ipset.Addr(f.dst), ipset.Addr(local)
				q.From, q.To = q.To, q.From
			}
			if p.SourcePort == 0 {
				q.SourcePort, p.SourcePort = DefaultSourcePort, DefaultSourcePort
			}
			res, err := n.Flow(q)
			if err != nil {
				continue // e.g. a source in no subnet
			}
			o := res.Outcomes[0]
			hops := nsgHops(o, d)
			if len(hops) == 0 || slices.ContainsFunc(o.Hops, func(h Hop) bool { return h.Kind == HopSNAT }) {
				continue // the walk did not reach the interface's NSGs, or with a translated packet
			}
			dec, err := n.NSGVerdict(sc.s.ID, d, p)
			if err != nil {
				t.Fatalf("seed %d %s %+v: %v", seed, d, p, err)
			}
			last := hops[len(hops)-1]
			decided := slices.DeleteFunc(slices.Clone(dec.Hops), func(h Hop) bool { return h.Kind != HopNSG })
			if dec.Allowed != (last.Action == "Allow") || dec.Rule == nil || dec.Rule.Name != last.Rule || !reflect.DeepEqual(decided, hops) {
				t.Fatalf("seed %d %s %+v: NSGVerdict %v by %+v; the walk's NSG hops %+v", seed, d, p, dec.Allowed, dec.Rule, hops)
			}
			compared++
		}
	})
	if compared < 500 {
		t.Fatalf("only %d packets reached an interface's NSGs", compared)
	}
}

// TestNextHopIsTheWalksRoute: Network Watcher's next hop is the route hop
// the walk takes first from the source's subnet, NSGs aside. spec §8.2
func TestNextHopIsTheWalksRoute(t *testing.T) {
	compared := 0
	eachSubnetSample(t, func(seed uint64, n *Network, s *flowSampler, sc *subnetCtx) {
		src, dst := ipset.Addr(s.inSet(sc.usable)), ipset.Addr(s.address())
		got, err := n.NextHop(sc.s.ID, src, dst)
		if IsPlatformAddress(dst) {
			if err == nil {
				t.Fatalf("next hop to platform address %s: %+v", dst, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("seed %d %s -> %s: %v", seed, src, dst, err)
		}
		res, err := n.Flow(Query{From: AddressEndpoint(src), To: AddressEndpoint(dst), Protocol: ICMP})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Outcomes[0].Hops {
			if h.Kind != HopRoute {
				continue
			}
			if !reflect.DeepEqual(got.Hop, h) || got.Type != h.NextHopType || (got.RouteTable.IsZero() != (h.Resource == "")) {
				t.Fatalf("seed %d %s -> %s: NextHop %+v; the walk's route %+v", seed, src, dst, got, h)
			}
			compared++
			break
		}
	})
	if compared < 500 {
		t.Fatalf("only %d flows reached a route", compared)
	}
}

// TestOutcomeSample: each outcome carries one packet of it, which a
// fabric can send to test the prediction.
func TestOutcomeSample(t *testing.T) {
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	point := flow(t, n, textQuery{From: "10.0.0.4", To: "8.8.8.8", Protocol: "UDP", Port: 53, SourcePort: 40000})
	want := Packet{Protocol: UDP, Source: netip.MustParseAddr("10.0.0.4"), Destination: netip.MustParseAddr("8.8.8.8"), SourcePort: 40000, DestinationPort: 53}
	if got := point.Outcomes[0].Sample; got != want {
		t.Errorf("point sample %+v, want %+v", got, want)
	}
	set := flow(t, n, textQuery{From: "ws1/gpucluster", To: "Storage.WestUS2", Protocol: "Any", Port: 445})
	for _, o := range set.Outcomes {
		s := o.Sample
		src, _ := ipset.ParseAddrOrPrefix(o.Sources[0])
		dst, _ := ipset.ParseAddrOrPrefix(o.Destinations[0])
		su, _ := ipset.U32(s.Source)
		du, _ := ipset.U32(s.Destination)
		ports := s.Protocol == ICMP && s.DestinationPort == 0 || s.Protocol != ICMP && s.DestinationPort == 445 && s.SourcePort == DefaultSourcePort
		if s.Protocol.String() != o.Protocol || !src.Contains(su) || !dst.Contains(du) || !ports {
			t.Errorf("outcome %s %s %v -> %v: sample %+v", o.Verdict, o.Protocol, o.Sources[0], o.Destinations[0], s)
		}
	}
}
