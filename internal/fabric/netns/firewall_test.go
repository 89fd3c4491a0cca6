//go:build linux

package netns

import (
	"fmt"
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
