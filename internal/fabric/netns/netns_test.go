//go:build linux

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"securetrain/internal/fabric"
	"securetrain/internal/fabric/netns/netnstest"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
)

func compile(t testing.TB, file string) *netverify.Network {
	t.Helper()
	return compileEdited(t, file)
}

// flows are the compute's required flows as the engine hands them to a
// fabric.
func flows(t testing.TB, nw *netverify.Network, compute string) (*resources.Compute, []fabric.Flow) {
	t.Helper()
	for _, c := range nw.Snapshot().Computes {
		if c.ID.Name() == compute {
			checks, _, err := requirements.Readiness(nw, c, requirements.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out []fabric.Flow
			for _, fc := range checks {
				out = append(out, provision.FabricFlow(fc))
			}
			return c, out
		}
	}
	t.Fatalf("no compute %s", compute)
	return nil, nil
}

// newFabric starts a fabric under a fresh instance name whose network is
// *nw (tests swap it to change the network), closed and checked for
// leaks at the end.
func newFabric(t testing.TB, nw **netverify.Network) *Fabric {
	t.Helper()
	return newFabricWith(t, nw, nil)
}

// newFabricWith is newFabric with node agents as agent says (nil: none).
func newFabricWith(t testing.TB, nw **netverify.Network, agent *Agent) *Fabric {
	t.Helper()
	netnstest.RequireRoot(t)
	instance := fmt.Sprintf("u%d", time.Now().UnixNano()%1_000_000_000)
	netnstest.NoLeaks(t, NamePrefix+instance+"-")
	// A probe waits past TCP's first SYN retransmission (1 s): a first
	// SYN lost while a just-booted node's links come up is not a block.
	f, err := New(Config{Instance: instance, ProbeTimeout: 1500 * time.Millisecond, Agent: agent,
		Network: func(context.Context, string) (*netverify.Network, error) { return *nw, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// nodeOf is node name of compute c at address private, with the public
// IP the engine gives it: the address of the public IP Azure ML creates
// for a public-IP compute.
func nodeOf(c *resources.Compute, name, private string) fabric.Node {
	n := fabric.Node{Compute: c.ID.String(), Name: name, Subnet: c.Subnet.ID.String(), PrivateIP: netip.MustParseAddr(private)}
	if aml, ok := resources.AzureMLResourcesFor(c); ok {
		n.PublicIP = aml.Address
	}
	return n
}

func failed(probes []fabric.Probe) []string {
	var out []string
	for _, p := range probes {
		if !p.Passed {
			out = append(out, p.Flow.Name+": "+p.Detail)
		}
	}
	return out
}

// TestProbeSeedClusterPublicIP: every required flow of the seed's
// public-IP cluster passes as packets; the services see the node's public
// IP (the load balancer's outbound SNAT) and 44224 reaches the node
// through the load balancer's frontend.
func TestProbeSeedClusterPublicIP(t *testing.T) {
	nw := compile(t, "cluster-public-ip.yaml")
	f := newFabric(t, &nw)
	c, fl := flows(t, nw, "ws1/cpucluster")
	ctx := context.Background()
	var nodes []fabric.Node
	for i, addr := range []string{"10.0.0.4", "10.0.0.5"} {
		n := nodeOf(c, fmt.Sprintf("tvm-%04d", i), addr)
		if err := f.Boot(ctx, n); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	inbound := map[string]bool{}
	for _, n := range nodes {
		probes, err := f.Probe(ctx, n, fl)
		if err != nil {
			t.Fatal(err)
		}
		if bad := failed(probes); len(bad) > 0 || len(probes) != len(fl) {
			t.Fatalf("node %s: %d flows failed:\n%s", n.Name, len(bad), strings.Join(bad, "\n"))
		}
		for _, p := range probes {
			switch {
			case p.Flow.Inbound && !strings.Contains(p.Detail, "through the load balancer"):
				t.Errorf("%s: %s", p.Flow.Name, p.Detail)
			case p.Flow.Inbound:
				// Azure ML manages the node from its region's ranges and
				// its pair's, each sent from an address of that tag.
				tag, ok := nw.ServiceTags().Lookup(p.Flow.Remote)
				if !ok || !slices.ContainsFunc(tag.Prefixes, func(q netip.Prefix) bool { return q.Contains(p.Flow.Source) }) {
					t.Errorf("%s: source %s is not in %s", p.Flow.Name, p.Flow.Source, p.Flow.Remote)
				}
				inbound[p.Flow.Remote] = true
			case !p.Flow.Inbound && !strings.Contains(p.Detail, "saw the node as "+n.PublicIP.String()):
				t.Errorf("%s: want the service to see the public IP: %s", p.Flow.Name, p.Detail)
			}
		}
	}
	if !inbound["AzureMachineLearning.WestUS2"] || !inbound["AzureMachineLearning.WestCentralUS"] || len(inbound) != 2 {
		t.Errorf("inbound 44224 probed from %v, want the region's and its pair's AzureMachineLearning tags", inbound)
	}
	// Idempotent: booting again finds the node.
	if err := f.Boot(ctx, nodes[0]); err != nil {
		t.Fatal(err)
	}
	// Removing the nodes removes the VNet's router.
	for _, n := range nodes {
		if err := f.Remove(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if names, _ := namespacesWithPrefix(f.Prefix()); len(names) != 1 {
		t.Errorf("after removing every node, want the cloud alone: %v", names)
	}
}

// TestProbeNSGChangeFromPackets: the no-public-IP instance leaves through
// its NAT gateway; an NSG rule denying UDP 5831 — even one the verifier
// is told nothing about (the flow still says predicted) — fails exactly
// that flow from packets, and removing it lets it through again, without
// re-booting the node.
func TestProbeNSGChangeFromPackets(t *testing.T) {
	good := compile(t, "instance-no-public-ip.yaml")
	nw := good
	f := newFabric(t, &nw)
	c, fl := flows(t, good, "ws1/myinstance")
	n := nodeOf(c, "tvm-0000", "10.0.0.4")
	ctx := context.Background()
	if err := f.Boot(ctx, n); err != nil {
		t.Fatal(err)
	}
	probes, err := f.Probe(ctx, n, fl)
	if err != nil {
		t.Fatal(err)
	}
	if bad := failed(probes); len(bad) > 0 {
		t.Fatalf("%d flows failed:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	endpointFlows := 0
	for _, p := range probes {
		// The workspace's private endpoint answers inside the subnet and
		// sees the node's own address; the rest leave by the NAT gateway.
		if netip.MustParsePrefix("10.0.0.0/24").Contains(p.Flow.Destination) {
			endpointFlows++
			if !strings.Contains(p.Detail, "answered by the emulated ws1 (amlworkspace) via private endpoint ws1-pe, which saw the node as 10.0.0.4") {
				t.Errorf("%s: want the workspace's private endpoint: %s", p.Flow.Name, p.Detail)
			}
		} else if !strings.Contains(p.Detail, "saw the node as 20.51.10.7") {
			t.Errorf("%s: want the NAT gateway's address: %s", p.Flow.Name, p.Detail)
		}
	}
	if endpointFlows != 2 {
		t.Errorf("want 2 flows to the private endpoint (TCP 443, 18881), got %d", endpointFlows)
	}

	nw = denyUDP5831(t)
	probes, err = f.Probe(ctx, n, fl)
	if err != nil {
		t.Fatal(err)
	}
	bad := failed(probes)
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "outbound UDP 5831 to AzureMachineLearning: ") || !strings.Contains(bad[0], "no answer within") {
		t.Errorf("with UDP 5831 denied, want that flow alone to fail, dropped:\n%s", strings.Join(bad, "\n"))
	}

	nw = good
	probes, err = f.Probe(ctx, n, fl)
	if err != nil {
		t.Fatal(err)
	}
	if bad := failed(probes); len(bad) > 0 {
		t.Errorf("after the fix, %d flows failed:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

func denyUDP5831(t testing.TB) *netverify.Network {
	t.Helper()
	// The rule allowing UDP 5831 to AzureMachineLearning, denied at a
	// higher priority.
	return compileEdited(t, "instance-no-public-ip.yaml", "priority: 100, direction: Outbound, access: Allow, protocol: Udp", "priority: 101, direction: Outbound, access: Allow, protocol: Udp",
		"      securityRules:\n", `      securityRules:
        - name: DenyAzureMachineLearningUdp
          properties: {priority: 100, direction: Outbound, access: Deny, protocol: Udp,
                       sourceAddressPrefix: VirtualNetwork, sourcePortRange: "*",
                       destinationAddressPrefix: AzureMachineLearning, destinationPortRange: "5831"}
`)
}
