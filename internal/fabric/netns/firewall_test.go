//go:build linux

package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
)

// flowTo is the flow compute's node sends to a name or an address on TCP
// port, with the verifier's verdict, as the engine hands it to a fabric.
func flowTo(t *testing.T, nw *netverify.Network, c *resources.Compute, to netverify.Endpoint, port uint16) fabric.Flow {
	t.Helper()
	q := netverify.Query{From: netverify.ResourceEndpoint(c.ID), To: to, Protocol: netverify.TCP, Port: port}
	res, err := nw.Flow(q)
	if err != nil {
		t.Fatal(err)
	}
	return provision.FabricFlow(requirements.FlowCheck{Name: fmt.Sprintf("outbound TCP %d to %s", port, to), Direction: netverify.DirectionOutbound,
		To: to.String(), Protocol: "TCP", Port: int(port), Verdict: res.Verdict, Result: res})
}

const firewallExample = "cluster-firewall-asymmetric.yaml"

// TestFirewallFromPackets: a cluster whose route sends everything to Azure
// Firewall. Its network rules let Azure ML's services through, seen from
// the firewall's public IP; its application rule lets pypi.org and
// *.pythonhosted.org through over HTTPS by the name the client sends (TLS
// SNI), and the proxy refuses other names, HTTP to an HTTPS-only rule and
// a client that names nothing — each as the verifier predicts. The
// firewall is a namespace of the fabric's, gone with the last node.
func TestFirewallFromPackets(t *testing.T) {
	nw := compile(t, firewallExample)
	f, n, fl := bootOne(t, &nw, "ws1/gpucluster", "10.0.0.4")
	c, _ := flows(t, nw, "ws1/gpucluster")
	for _, p := range probeAll(t, f, n, fl) {
		if !p.Flow.Inbound && !strings.Contains(p.Detail, "saw the node as 20.51.20.30") {
			t.Errorf("%s: want the service to see the firewall's public IP: %s", p.Flow.Name, p.Detail)
		}
	}
	name := netverify.NameEndpoint
	pypi := flowTo(t, nw, c, name("pypi.org"), 443)
	named := []fabric.Flow{
		pypi,
		flowTo(t, nw, c, name("files.pythonhosted.org"), 443),
		flowTo(t, nw, c, name("cloud.r-project.org"), 443),
		flowTo(t, nw, c, name("pypi.org"), 80),
		// By address, the client names nothing: application rules
		// cannot match.
		flowTo(t, nw, c, netverify.AddressEndpoint(pypi.Destination), 443),
	}
	want := []struct {
		pass   bool
		detail string
	}{
		{true, "answered by the emulated public site, which saw the node as 20.51.20.30"},
		{true, "answered by the emulated public site, which saw the node as 20.51.20.30"},
		{false, "a firewall's proxy refused it"},
		{false, "no answer within"}, // port 80: no rule names it, dropped
		{false, "no answer within"}, // the proxy waits for a name that never comes
	}
	for i, p := range probeAll(t, f, n, named) {
		if p.Passed != want[i].pass || !strings.Contains(p.Detail, want[i].detail) {
			t.Errorf("%s: passed=%v %s; want passed=%v, %q", p.Flow.Name, p.Passed, p.Detail, want[i].pass, want[i].detail)
		}
		if p.Passed != p.Flow.Predicted {
			t.Errorf("%s: the verifier predicts passed=%v, the packets say %v: %s", p.Flow.Name, p.Flow.Predicted, p.Passed, p.Detail)
		}
	}
	if got := countNamespaces(t, f.Prefix()); got != 4 {
		t.Errorf("%d namespaces, want 4 (the cloud, the router, the node, the firewall)", got)
	}
}

// denyAAD is a network rule collection denying Azure Active Directory on
// 443, at a priority before the one allowing it.
const denyAAD = `      networkRuleCollections:
        - name: no-aad
          properties:
            priority: 100
            action: {type: Deny}
            rules:
              - {name: aad, protocols: [TCP], sourceAddresses: ["*"], destinationAddresses: [AzureActiveDirectory], destinationPorts: ["443"]}
`

// TestFirewallChangesFromPackets: the firewall follows the network
// without re-booting the node. A Deny collection of higher priority fails
// exactly its flow; without a public IP nothing reaches the internet; a
// route to an address where no firewall is drops everything; and the
// firewall's namespace goes when the firewall leaves the network — each as
// the verifier predicts.
func TestFirewallChangesFromPackets(t *testing.T) {
	nw := compileEdited(t, firewallExample, "            priority: 100\n            action: {type: Allow}", "            priority: 150\n            action: {type: Allow}",
		"      networkRuleCollections:\n", denyAAD)
	f, n, fl := bootOne(t, &nw, "ws1/gpucluster", "10.0.0.4")
	bad := agree(t, probeAll(t, f, n, fl))
	const aad = "outbound TCP 443 to AzureActiveDirectory"
	if p, ok := bad[aad]; !ok || !strings.Contains(p.Detail, "no answer within") || !strings.Contains(p.Flow.Blocker, "aad") || len(bad) != 3 {
		t.Errorf("Deny collection: want %s (and the two inbound flows) to fail, dropped: %v", aad, bad)
	}

	nw = compileEdited(t, firewallExample, "            publicIPAddress: {id: /resourceGroups/mygroup/providers/Microsoft.Network/publicIPAddresses/fw-pip}\n", "")
	_, fl = flows(t, nw, "ws1/gpucluster")
	for _, p := range probeAll(t, f, n, fl) {
		if p.Passed || p.Passed != p.Flow.Predicted {
			t.Errorf("no public IP: %s passed=%v (predicted %v): %s", p.Flow.Name, p.Passed, p.Flow.Predicted, p.Detail)
		}
	}

	nw = compileEdited(t, firewallExample, "nextHopIpAddress: 10.0.1.4", "nextHopIpAddress: 10.0.1.9")
	_, fl = flows(t, nw, "ws1/gpucluster")
	for _, p := range probeAll(t, f, n, fl) {
		if p.Passed || p.Passed != p.Flow.Predicted || !strings.Contains(p.Detail, "no answer within") {
			t.Errorf("no firewall at the next hop: %s passed=%v (predicted %v): %s", p.Flow.Name, p.Passed, p.Flow.Predicted, p.Detail)
		}
	}

	before := countNamespaces(t, f.Prefix())
	data, err := os.ReadFile(filepath.Join("testdata", firewallExample))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start, end := strings.Index(text, "  - type: Microsoft.Network/azureFirewalls"), strings.Index(text, "  - type: Microsoft.MachineLearningServices")
	nw = compileEdited(t, firewallExample, text[start:end], "")
	probeAll(t, f, n, fl[:1])
	if after := countNamespaces(t, f.Prefix()); after != before-1 {
		t.Errorf("the firewall left the network: %d namespaces, want %d", after, before-1)
	}
}
