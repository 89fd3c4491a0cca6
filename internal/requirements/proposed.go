package requirements

import (
	"fmt"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// CheckCompute evaluates one compute of the network's snapshot with
// every rule Check applies to it (prerequisites, admission, required
// flows, DNS). The studio's pre-flight panel runs it on a network compiled
// with a compute not created yet (resources.Snapshot.WithCompute).
func CheckCompute(n *netverify.Network, c *resources.Compute, opts Options) (ComputeReport, error) {
	snap := n.Snapshot()
	if snap.Lookup(c.ID) != c {
		return ComputeReport{}, fmt.Errorf("compute %s is not the network's", c.ID.Name())
	}
	return checkCompute(n, c, opts, subnetUsage(snap), tagLookup(n))
}

// FreeAddresses is how many addresses of a subnet no compute, NIC,
// private endpoint, firewall or load balancer frontend takes or will
// take (a cluster counts at maxNodeCount), by the rule of the
// subnet-too-small finding: Azure keeps 5 addresses of every IPv4 prefix.
// It reports false for a subnet the snapshot does not hold.
func FreeAddresses(snap *resources.Snapshot, subnet arm.ID) (int, bool) {
	sn := snap.Subnet(subnet)
	if sn == nil {
		return 0, false
	}
	u := subnetUsage(snap)[sn.ID.Key()]
	return max(UsableAddresses(sn)-u.inUse-u.demand, 0), true
}

// UsableAddresses counts a subnet's IPv4 addresses, less the 5 of each
// prefix Azure keeps.
func UsableAddresses(sn *resources.Subnet) int {
	usable := 0
	for _, p := range sn.AddressPrefixes {
		if p.Addr().Is4() {
			usable += 1<<(32-p.Bits()) - 5
		}
	}
	return usable
}
