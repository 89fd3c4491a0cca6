package netverify

import (
	"net/netip"
	"testing"

	"securetrain/internal/ipset"
)

// TestRouteSpansAgreeWithNextHop: the spans cover every IPv4 address in
// order, and at each span's ends (and the address after it) NextHop
// answers the span's next hop — on a subnet whose route table mixes a
// default route to the firewall, service-tag routes to the internet and
// private endpoints.
func TestRouteSpansAgreeWithNextHop(t *testing.T) {
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	var subnet = n.Snapshot().Computes[0].Subnet.ID
	spans, err := n.RouteSpans(subnet)
	if err != nil {
		t.Fatal(err)
	}
	source := n.Snapshot().Subnet(subnet).AddressPrefixes[0].Addr().Next().Next().Next().Next() // .4, the first usable
	kinds := map[string]int{}
	next := netip.MustParseAddr("0.0.0.0")
	for i, s := range spans {
		if s.First != next || s.Last.Less(s.First) {
			t.Fatalf("span %d %+v does not follow the previous one (want it to start at %s)", i, s, next)
		}
		if i > 0 && spans[i-1].NextHop == s.NextHop && spans[i-1].IP == s.IP {
			t.Errorf("spans %d and %d go the same way and are not joined", i-1, i)
		}
		kinds[s.NextHop]++
		for _, a := range []netip.Addr{s.First, s.Last} {
			if IsPlatformAddress(a) {
				continue
			}
			hop, err := n.NextHop(subnet, source, a)
			if err != nil {
				t.Fatal(err)
			}
			if hop.Type != s.NextHop || hop.IP != s.IP {
				t.Errorf("%s: NextHop says %s %s, the span %s %s", a, hop.Type, hop.IP, s.NextHop, s.IP)
			}
		}
		next = s.Last.Next()
	}
	if last := spans[len(spans)-1].Last; last != ipset.Addr(0xFFFFFFFF) {
		t.Errorf("the spans end at %s", last)
	}
	for _, k := range []string{"VirtualAppliance", "Internet", "VnetLocal", "None"} {
		if kinds[k] == 0 {
			t.Errorf("no span goes %s: %v", k, kinds)
		}
	}
}
