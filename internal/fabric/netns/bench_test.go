//go:build linux

package netns

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"securetrain/internal/netverify"
)

// nsgWith1000Rules is the seed instance's network with 1,000 more
// outbound rules on its subnet's NSG (each a distinct address and port,
// so none merges with another), their ports starting at base.
func nsgWith1000Rules(b *testing.B, base int) *netverify.Network {
	b.Helper()
	var rules strings.Builder
	rules.WriteString("      securityRules:\n")
	for i := range 1000 {
		fmt.Fprintf(&rules, `        - name: Deny%d
          properties: {priority: %d, direction: Outbound, access: Deny, protocol: Tcp, sourceAddressPrefix: "*", sourcePortRange: "*",
                       destinationAddressPrefix: 203.0.%d.%d, destinationPortRange: "%d"}
`, i, 1000+i, i/250, i%250+1, base+i)
	}
	nw := compileEdited(b, "instance-no-public-ip.yaml", "      securityRules:\n", rules.String())
	if got := len(nw.Snapshot().NetworkSecurityGroups[0].Rules); got != 1003 {
		b.Fatalf("the NSG has %d rules, want 1003", got)
	}
	return nw
}

// BenchmarkNSGChange1000Rules: a change to a 1,000-rule NSG on a node's
// subnet, from the new network to the router's table replaced (one
// nftables transaction).
func BenchmarkNSGChange1000Rules(b *testing.B) {
	versions := []*netverify.Network{nsgWith1000Rules(b, 2000), nsgWith1000Rules(b, 4000)}
	nw := versions[0]
	f := newFabric(b, &nw)
	snap := nw.Snapshot()
	c := snap.Computes[0]
	n := nodeOf(c, "tvm-0000", "10.0.0.4")
	ctx := context.Background()
	if err := f.Boot(ctx, n); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		nw = versions[i%2]
		if _, err := f.Probe(ctx, n, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// The last version is the one in the kernel: its ports, and 1,000
	// rules more than the defaults.
	last := 2000
	if i%2 == 1 {
		last = 4000
	}
	r := f.nodes[nodeKey(n)].router
	if !strings.Contains(r.applied, fmt.Sprintf("th dport %d drop # 1000 Deny0", last)) {
		b.Errorf("the last change is not the table applied:\n%.2000s", r.applied)
	}
	list, err := Status(r.ns.name)
	if err != nil || len(list) != 1 || list[0].Rules < 1000 {
		b.Errorf("the router's table: %+v %v", list, err)
	}
}
