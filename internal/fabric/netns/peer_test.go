//go:build linux

package netns

import (
	"context"
	"strings"
	"testing"
)

// peeringBack is storage-net's peering to the instance's VNet.
const peeringBack = `      virtualNetworkPeerings:
        - {name: to-mynetwork, properties: {remoteVirtualNetwork: {id: /resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork}, allowVirtualNetworkAccess: true}}
`

// TestPeeringFromPackets: the default storage's private endpoints sit in
// a VNet peered both ways with the instance's: the fabric gives that VNet
// a router (it has no nodes), joins the two, and the node reaches the
// endpoints across the peering with its own address — as the verifier
// says. With the peering back removed the peering is not connected: the
// flows to the endpoints are dropped, as the verifier predicts, and the
// peer's router, needed by nothing, is removed.
func TestPeeringFromPackets(t *testing.T) {
	nw := compile(t, "instance-peered-storage.yaml")
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	crossed := 0
	for _, p := range probeAll(t, f, n, fl) {
		if p.Passed != p.Flow.Predicted || !p.Passed {
			t.Errorf("%s: predicted %v, packets: %s", p.Flow.Name, p.Flow.Predicted, p.Detail)
		}
		if strings.Contains(p.Flow.Name, "st1.") {
			crossed++
			if !strings.Contains(p.Detail, "via private endpoint st1-") || !strings.HasSuffix(p.Detail, "saw the node as 10.0.0.4") {
				t.Errorf("%s: want the endpoint in the peered VNet, seeing the node's own address: %s", p.Flow.Name, p.Detail)
			}
		}
	}
	if crossed != 3 {
		t.Errorf("%d flows to the storage endpoints, want 3", crossed)
	}
	// The cloud, two routers, the node, the workspace's endpoint and the
	// two storage endpoints.
	if got := countNamespaces(t, f.Prefix()); got != 7 {
		t.Errorf("%d namespaces, want 7", got)
	}

	nw = compileEdited(t, "instance-peered-storage.yaml", peeringBack, "")
	_, fl = flows(t, nw, "ws1/myinstance")
	bad := agree(t, probeAll(t, f, n, fl))
	for _, name := range []string{"outbound TCP 443 to st1.blob.core.windows.net", "outbound TCP 445 to st1.file.core.windows.net"} {
		if p, ok := bad[name]; !ok || !strings.Contains(p.Detail, "no answer within") {
			t.Errorf("%s: want it dropped without the peering: %v", name, p)
		}
	}
	if got := countNamespaces(t, f.Prefix()); got != 4 {
		t.Errorf("without the peering, %d namespaces, want 4 (the cloud, the router, the node, the workspace's endpoint)", got)
	}

	// Peered again, then the last node goes: both routers go with it.
	nw = compile(t, "instance-peered-storage.yaml")
	probeAll(t, f, n, fl[:1])
	if got := countNamespaces(t, f.Prefix()); got != 7 {
		t.Errorf("peered again, %d namespaces, want 7", got)
	}
	if err := f.Remove(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got := countNamespaces(t, f.Prefix()); got != 1 {
		t.Errorf("after the last node, %d namespaces, want the cloud alone", got)
	}
}
