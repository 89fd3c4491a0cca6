package netverify

import (
	"net/netip"
	"testing"
)

// TestEffectiveRoutesListTheWalksTable: a subnet whose route table sends
// 0.0.0.0/0 to a firewall and two service tags to the internet lists the
// VNet's system route, the internet system route made Invalid by the UDR
// for the same prefix, and each tag route once with its prefixes; and
// every Active CIDR route decides its own first address unless a longer
// Active route covers it (NextHop agrees). (The studio's tests cover a
// private endpoint's /32.)
func TestEffectiveRoutesListTheWalksTable(t *testing.T) {
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	subnet := n.Snapshot().Computes[0].Subnet.ID
	routes, err := n.EffectiveRoutes(subnet)
	if err != nil {
		t.Fatal(err)
	}
	find := func(source, prefix, hop string) *EffectiveRoute {
		for i := range routes {
			if routes[i].Source == source && routes[i].Prefix == prefix && routes[i].NextHopType == hop {
				return &routes[i]
			}
		}
		t.Fatalf("no %s route %s -> %s in %+v", source, prefix, hop, routes)
		return nil
	}
	if r := find("Default", "10.0.0.0/16", "VnetLocal"); r.State != "Active" {
		t.Errorf("the VNet's route: %+v", r)
	}
	if r := find("Default", "0.0.0.0/0", "Internet"); r.State != "Invalid" {
		t.Errorf("the internet system route, overridden by ToFirewall: %+v", r)
	}
	if r := find("User", "0.0.0.0/0", "VirtualAppliance"); r.State != "Active" || r.NextHopIP != "10.0.1.4" || r.Route != "ToFirewall" || r.RouteTable == "" {
		t.Errorf("ToFirewall: %+v", r)
	}
	if r := find("User", "AzureMachineLearning", "Internet"); len(r.Prefixes) < 2 || r.Route != "AzureMLRoute" {
		t.Errorf("the service tag route is not one row with its prefixes: %+v", r)
	}
	source := n.Snapshot().Subnet(subnet).AddressPrefixes[0].Addr().Next().Next().Next().Next()
	for _, r := range routes {
		if r.State != "Active" || len(r.Prefixes) != 1 {
			continue
		}
		p := netip.MustParsePrefix(r.Prefixes[0])
		if IsPlatformAddress(p.Addr()) || covered(routes, p) {
			continue
		}
		hop, err := n.NextHop(subnet, source, p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if hop.Type != r.NextHopType {
			t.Errorf("%s: NextHop says %s, the effective route %+v", p.Addr(), hop.Type, r)
		}
	}
}

// covered reports whether a longer Active route covers p's first address.
func covered(routes []EffectiveRoute, p netip.Prefix) bool {
	for _, r := range routes {
		for _, s := range r.Prefixes {
			q := netip.MustParsePrefix(s)
			if r.State == "Active" && q.Bits() > p.Bits() && q.Contains(p.Addr()) {
				return true
			}
		}
	}
	return false
}
