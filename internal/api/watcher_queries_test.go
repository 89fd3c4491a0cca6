package api

import (
	"net/http"
	"testing"
)

// TestNextHopOverlappingVNets: VNets that are not peered may share address
// space. Next hop used to run a flow from the bare source address, which
// the verifier refused ("overlaps the address space of 2 VNets", naming
// the CLI's --from); the target places the address. spec §8.2
func TestNextHopOverlappingVNets(t *testing.T) {
	c := newClient(t)
	watcherEnvironment(t, c)
	dup := netProbe + "virtualNetworks/vnet-dup"
	body := `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"snet-dup",
		"properties":{"addressPrefix":"10.0.1.0/24","routeTable":{"id":"` + netProbe + `routeTables/rt-egress"}}}]}}`
	if st, out, _ := c.do("PUT", dup+netVersion, body, "Content-Type", "application/json"); st != http.StatusCreated {
		t.Fatalf("PUT %s: %d %v", dup, st, out)
	}
	for _, tc := range []struct{ target, hopType, table string }{
		{dup + "/subnets/snet-dup", "VirtualAppliance", netProbe + "routeTables/rt-egress"},
		{snetCompute, "Internet", "System Route"},
	} {
		st, out := c.watch("nextHop", map[string]any{"targetResourceId": tc.target, "sourceIPAddress": "10.0.1.5", "destinationIPAddress": "8.8.8.8"})
		if st != http.StatusOK || out["nextHopType"] != tc.hopType || out["routeTableId"] != tc.table {
			t.Errorf("%s: %d %v; want %s via %s", tc.target, st, out, tc.hopType, tc.table)
		}
	}
}
