//go:build linux

package netns

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
)

// TestServiceEndpointKeepsThePrivateSource: a private subnet (no default
// outbound access, no NAT gateway) with a service endpoint for Storage
// reaches Storage.WestUS2 with the node's own private address — as the
// verifier says, not SNATed — while every other service stays out of
// reach, dropped; without the endpoint Storage is out of reach too.
func TestServiceEndpointKeepsThePrivateSource(t *testing.T) {
	withSE := compileEdited(t, "instance-private-subnet-no-egress.yaml", "            defaultOutboundAccess: false\n",
		"            defaultOutboundAccess: false\n            serviceEndpoints: [{service: Microsoft.Storage}]\n")
	nw := withSE
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	storage := 0
	for _, p := range probeAll(t, f, n, fl) {
		if p.Passed != p.Flow.Predicted {
			t.Errorf("%s: predicted %v, packets: %s", p.Flow.Name, p.Flow.Predicted, p.Detail)
		}
		if p.Flow.Remote == "Storage.WestUS2" {
			storage++
			if !p.Passed || !strings.HasSuffix(p.Detail, "saw the node as 10.0.0.4") {
				t.Errorf("%s: want Storage to see the node's private address: %s", p.Flow.Name, p.Detail)
			}
		}
	}
	if storage == 0 {
		t.Fatal("no flow to Storage.WestUS2")
	}

	nw = compile(t, "instance-private-subnet-no-egress.yaml")
	_, fl = flows(t, nw, "ws1/myinstance")
	for _, p := range probeAll(t, f, n, fl) {
		if p.Flow.Remote == "Storage.WestUS2" && (p.Passed || p.Flow.Predicted) {
			t.Errorf("without the service endpoint, %s: predicted %v, packets: %s", p.Flow.Name, p.Flow.Predicted, p.Detail)
		}
	}
}

// TestUserRoutesApplyInsideASubnet: Azure routes traffic between two
// machines of one subnet by the subnet's routes too: a route to None for
// the subnet's own prefix drops it, from packets as the verifier says;
// without the route it passes.
func TestUserRoutesApplyInsideASubnet(t *testing.T) {
	none := []string{udrs[0], strings.Replace(udrs[1], "addressPrefix: 0.0.0.0/0, nextHopType: None", "addressPrefix: 10.0.0.0/24, nextHopType: None", 1), udrs[2], udrs[3]}
	for _, routed := range []bool{false, true} {
		t.Run(fmt.Sprintf("route to None %v", routed), func(t *testing.T) {
			nw := compile(t, "instance-no-public-ip.yaml")
			if routed {
				nw = compileEdited(t, "instance-no-public-ip.yaml", none...)
			}
			f := newFabric(t, &nw)
			c, _ := flows(t, nw, "ws1/myinstance")
			a, b := nodeOf(c, "tvm-0000", "10.0.0.10"), nodeOf(c, "tvm-0001", "10.0.0.11")
			for _, n := range []fabric.Node{a, b} {
				if err := f.Boot(context.Background(), n); err != nil {
					t.Fatal(err)
				}
			}
			fl := diffFlow{node: f.nodes[nodeKey(a)], proto: netverify.TCP, dst: b.PrivateIP, port: agentPort, to: mustID(b.Compute)}
			o, err := predict(nw, fl)
			if err != nil {
				t.Fatal(err)
			}
			reached, detail := sendExpecting(f, fl, o.Verdict == netverify.Allowed)
			if reached == routed || (o.Verdict == netverify.Allowed) == routed {
				t.Errorf("route to None %v: the verifier says %s (%s), the packets: %s", routed, o.Verdict, o.Reason, detail)
			}
		})
	}
}
