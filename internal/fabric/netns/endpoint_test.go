//go:build linux

package netns

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// compileEdited compiles a testdata file after replacing, in its text,
// each old with its new (pairs); a missing old fails the test.
func compileEdited(t testing.TB, file string, oldNew ...string) *netverify.Network {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(text, oldNew[i]) {
			t.Fatalf("%s has no %q to replace", file, oldNew[i])
		}
		text = strings.Replace(text, oldNew[i], oldNew[i+1], 1)
	}
	snap, err := resources.DecodeFile(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	nw, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatal(err)
	}
	return nw
}

// bootOne starts a fabric whose network is *nw and boots node tvm-0000 of
// compute at address private (with a public IP when the compute has
// one); it returns the compute's flows on the network as it is now.
func bootOne(t *testing.T, nw **netverify.Network, compute, private string) (*Fabric, fabric.Node, []fabric.Flow) {
	t.Helper()
	f := newFabric(t, nw)
	c, fl := flows(t, *nw, compute)
	n := nodeOf(c, "tvm-0000", private)
	if err := f.Boot(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return f, n, fl
}

// agree fails the test for every probe whose packets disagree with the
// verifier's prediction, and returns the flows that failed.
func agree(t *testing.T, probes []fabric.Probe) map[string]fabric.Probe {
	t.Helper()
	failedFlows := map[string]fabric.Probe{}
	for _, p := range probes {
		if p.Passed != p.Flow.Predicted {
			t.Errorf("%s: the verifier predicts passed=%v, the packets say %v: %s", p.Flow.Name, p.Flow.Predicted, p.Passed, p.Detail)
		}
		if !p.Passed {
			failedFlows[p.Flow.Name] = p
		}
	}
	return failedFlows
}

func probeAll(t *testing.T, f *Fabric, n fabric.Node, fl []fabric.Flow) []fabric.Probe {
	t.Helper()
	probes, err := f.Probe(context.Background(), n, fl)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != len(fl) {
		t.Fatalf("%d probes for %d flows", len(probes), len(fl))
	}
	return probes
}

func countNamespaces(t *testing.T, prefix string) int {
	t.Helper()
	names, err := namespacesWithPrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

const (
	// fileEndpoint is the default storage's file endpoint in the testdata.
	fileEndpoint = `  - type: Microsoft.Network/privateEndpoints
    resourceGroup: mygroup
    name: st1-file
    location: westus2
    properties:
      subnet: {id: /resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, groupIds: [file]}}]
      ipConfigurations: [{name: ip, properties: {groupId: file, memberName: file, privateIPAddress: 10.0.0.8}}]
`
	fileFlow = "outbound TCP 445 to st1.file.core.windows.net"
	// denyFileSMB denies SMB to the file endpoint at the subnet's NSG,
	// inbound.
	denyFileSMB = `      securityRules:
        - name: DenySmbToFileEndpoint
          properties: {priority: 100, direction: Inbound, access: Deny, protocol: Tcp,
                       sourceAddressPrefix: "*", sourcePortRange: "*",
                       destinationAddressPrefix: 10.0.0.8, destinationPortRange: "445"}
`
)

// TestPrivateEndpointsAnswerFromPackets: the workspace's and the default
// storage's private endpoints answer at their addresses in the subnet,
// each for its service on its ports, and see the node's own address (no
// SNAT inside the VNet).
func TestPrivateEndpointsAnswerFromPackets(t *testing.T) {
	nw := compile(t, "instance-private-storage.yaml")
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	if bad := agree(t, probeAll(t, f, n, fl)); len(bad) > 0 {
		t.Fatalf("%d flows failed: %v", len(bad), bad)
	}
	want := map[string]string{
		"outbound TCP 443 to st1.blob.core.windows.net": "TCP 10.0.0.7:443 answered by the emulated st1 (blob) via private endpoint st1-blob, which saw the node as 10.0.0.4",
		"outbound TCP 443 to st1.file.core.windows.net": "TCP 10.0.0.8:443 answered by the emulated st1 (file) via private endpoint st1-file, which saw the node as 10.0.0.4",
		fileFlow: "TCP 10.0.0.8:445 answered by the emulated st1 (file) via private endpoint st1-file, which saw the node as 10.0.0.4",
		"outbound TCP 18881 to 6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms": "TCP 10.0.0.5:18881 answered by the emulated ws1 (amlworkspace) via private endpoint ws1-pe, which saw the node as 10.0.0.4",
	}
	for _, p := range probeAll(t, f, n, fl) {
		if w, ok := want[p.Flow.Name]; ok {
			if p.Detail != w {
				t.Errorf("%s:\n got %s\nwant %s", p.Flow.Name, p.Detail, w)
			}
			delete(want, p.Flow.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("flows not probed: %v", want)
	}
	// A port outside the endpoint's service is not answered: blob does
	// not serve SMB.
	smbToBlob := fabric.Flow{Name: "SMB to the blob endpoint", Protocol: "TCP", Destination: netip.MustParseAddr("10.0.0.7"), DestinationPort: 445}
	if p := probeAll(t, f, n, []fabric.Flow{smbToBlob})[0]; p.Passed || !strings.Contains(p.Detail, "no service on that address and port") {
		t.Errorf("SMB to the blob endpoint: %+v", p)
	}
	// The cloud, the router, the node and three endpoints.
	if got := countNamespaces(t, f.Prefix()); got != 6 {
		t.Errorf("%d namespaces, want 6", got)
	}
}

// TestPrivateEndpointNSGsFollowNetworkPolicies: an NSG rule on the
// subnet denying SMB to the file endpoint does not apply while the
// subnet's private endpoint network policies are Disabled (Azure's
// default) — the packets pass, as the verifier says — and applies once
// they are Enabled: that flow alone fails from packets, dropped, as the
// verifier predicts. Changing the network re-applies without re-booting;
// an endpoint removed from the network leaves the fabric.
func TestPrivateEndpointNSGsFollowNetworkPolicies(t *testing.T) {
	const rules = "      securityRules:\n"
	nw := compileEdited(t, "instance-private-storage.yaml", rules, denyFileSMB)
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	if bad := agree(t, probeAll(t, f, n, fl)); len(bad) > 0 {
		t.Fatalf("policies Disabled: %d flows failed: %v", len(bad), bad)
	}

	nw = compileEdited(t, "instance-private-storage.yaml", rules, denyFileSMB,
		"privateEndpointNetworkPolicies: Disabled", "privateEndpointNetworkPolicies: Enabled")
	_, fl = flows(t, nw, "ws1/myinstance")
	bad := agree(t, probeAll(t, f, n, fl))
	if p, ok := bad[fileFlow]; len(bad) != 1 || !ok || !strings.Contains(p.Detail, "no answer within") || !strings.Contains(p.Flow.Blocker, "DenySmbToFileEndpoint") {
		t.Errorf("policies Enabled: want %s alone to fail, dropped, blocked by DenySmbToFileEndpoint: %v", fileFlow, bad)
	}

	before := countNamespaces(t, f.Prefix())
	nw = compileEdited(t, "instance-private-storage.yaml", fileEndpoint, "")
	probeAll(t, f, n, fl[:1])
	if after := countNamespaces(t, f.Prefix()); after != before-1 {
		t.Errorf("the file endpoint left the VNet: %d namespaces, want %d", after, before-1)
	}
}

// TestBrokenExamplesFromPackets: each broken example whose cause the
// fabric realises fails from packets for the flows the verifier blocks —
// and only those — with the flow named.
func TestBrokenExamplesFromPackets(t *testing.T) {
	cases := []struct {
		file, compute, flow, detail string
	}{
		{"instance-udp-5831-blocked.yaml", "ws1/myinstance", "outbound UDP 5831 to AzureMachineLearning", "no answer within"},
		{"instance-private-subnet-no-egress.yaml", "ws1/myinstance", "outbound TCP 443 to Storage.WestUS2", "no answer within"},
		{"cluster-nsg-blocks-44224.yaml", "ws1/cpucluster", "inbound TCP 44224 from AzureMachineLearning.WestUS2", "no answer within"},
		// Everything goes through Azure Firewall, the replies to 44224
		// too: the firewall never saw the connection begin and drops them.
		{"cluster-firewall-asymmetric.yaml", "ws1/gpucluster", "inbound TCP 44224 from AzureMachineLearning.WestUS2", "no answer within"},
		// The zone lacks the record: the VNet's Azure DNS answers the
		// node's query NXDOMAIN, naming why as the verifier does.
		{"instance-dns-record-missing.yaml", "ws1/myinstance", "outbound TCP 443 to 6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms", "answered NXDOMAIN (6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.privatelink.api.azureml.ms: private DNS zone privatelink.api.azureml.ms is linked to VNet mynetwork"},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.file, ".yaml"), func(t *testing.T) {
			nw := compile(t, tc.file)
			f, n, fl := bootOne(t, &nw, tc.compute, "10.0.0.4")
			bad := agree(t, probeAll(t, f, n, fl))
			p, ok := bad[tc.flow]
			if !ok || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("want %s to fail (%s); failed: %v", tc.flow, tc.detail, bad)
			}
		})
	}
}

// TestPrivateEndpointOnANodesAddress: an endpoint whose address a node
// already holds is not realised (two machines would split the address's
// traffic); the node keeps answering on it.
func TestPrivateEndpointOnANodesAddress(t *testing.T) {
	nw := compile(t, "instance-no-public-ip.yaml")
	f, _, _ := bootOne(t, &nw, "ws1/myinstance", "10.0.0.5") // ws1-pe's address
	if got := countNamespaces(t, f.Prefix()); got != 3 {
		t.Errorf("%d namespaces, want 3 (the cloud, the router, the node; not the endpoint)", got)
	}
}
