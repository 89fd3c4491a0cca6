package netverify

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const wsAPIName = "6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms"

// TestLookupAtAzureDNS: what Azure DNS answers a VM of the VNet is what a
// flow to the name resolves to: the privatelink CNAME and the zone's
// record, a public name's address, NXDOMAIN with the reason.
func TestLookupAtAzureDNS(t *testing.T) {
	n := compileExample(t, "instance-no-public-ip.yaml")
	vnet := n.Snapshot().VirtualNetworks[0].ID
	l, err := n.LookupAt(vnet, AzureDNS, wsAPIName+".")
	if err != nil {
		t.Fatal(err)
	}
	private := strings.Replace(wsAPIName, ".api.", ".privatelink.api.", 1)
	if l.Failure != "" || l.Name != private || !slices.Equal(l.CNAMEs, [][2]string{{wsAPIName, private}}) ||
		!slices.Equal(l.Addresses, []netip.Addr{netip.MustParseAddr("10.0.0.5")}) {
		t.Errorf("%s: %+v", wsAPIName, l)
	}
	for _, name := range []string{"pypi.org", "mcr.microsoft.com"} {
		res := flow(t, n, textQuery{From: "ws1/myinstance", To: name, Protocol: "TCP", Port: 443})
		l, err := n.LookupAt(vnet, AzureDNS, name)
		if err != nil || len(l.Addresses) != 1 || l.Addresses[0] != res.Outcomes[0].Sample.Destination {
			t.Errorf("%s: %+v, %v; the flow goes to %s", name, l, err, res.Outcomes[0].Sample.Destination)
		}
	}
	if l, err := n.LookupAt(vnet, AzureDNS, "build.example"); err != nil || l.Failure == "" || len(l.Addresses) != 0 {
		t.Errorf("build.example: %+v, %v; want a failure", l, err)
	}
	if _, err := n.LookupAt(n.Snapshot().VirtualNetworks[0].Subnets[0].ID, AzureDNS, "pypi.org"); err == nil {
		t.Error("a subnet's id is no VNet: want an error")
	}
}

// TestDNSServerAnsweringNoDNS: a VNet whose DNS server is a private
// endpoint's address resolves nothing (nothing answers DNS there), and a
// flow to a name says so; an address no resource holds is a DNS server
// the verifier cannot look inside, which resolves public names.
func TestDNSServerAnsweringNoDNS(t *testing.T) {
	compileWithDNS := func(server string) *Network {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "instance-no-public-ip.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		const space = "      addressSpace: {addressPrefixes: [10.0.0.0/16]}\n"
		return compileYAML(t, strings.Replace(string(data), space, space+"      dhcpOptions: {dnsServers: ["+server+"]}\n", 1))
	}
	n := compileWithDNS("10.0.0.5")
	if n.AnswersDNS(netip.MustParseAddr("10.0.0.5")) {
		t.Error("the private endpoint's address answers DNS")
	}
	res := flow(t, n, textQuery{From: "ws1/myinstance", To: "pypi.org", Protocol: "TCP", Port: 443})
	expect(t, res, DNSFailure, "the DNS server 10.0.0.5 is private endpoint ws1-pe, which answers no DNS queries", "dhcpOptions.dnsServers")

	n = compileWithDNS("10.0.0.10")
	if !n.AnswersDNS(netip.MustParseAddr("10.0.0.10")) || !n.AnswersDNS(AzureDNS) {
		t.Error("an address no resource holds, or Azure DNS, answers no DNS")
	}
	expect(t, flow(t, n, textQuery{From: "ws1/myinstance", To: "pypi.org", Protocol: "TCP", Port: 443}), Allowed)
}
