package netverify

import (
	"strings"
	"testing"
)

// corpZone is a VNet whose linked private DNS zone contoso.corp (a name
// under no public suffix) holds db -> 10.0.1.5; {{DNS}} is its DNS servers.
const corpZone = envHeader + `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      dhcpOptions: {dnsServers: [{{DNS}}]}
      subnets:
        - name: default
          properties: {addressPrefix: 10.0.1.0/24}
  - type: Microsoft.Network/privateDnsZones
    resourceGroup: rg
    name: contoso.corp
    location: global
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: rg
    name: contoso.corp/vnet
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet}}
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: rg
    name: contoso.corp/db
    properties: {aRecords: [{ipv4Address: 10.0.1.5}]}
`

// Issue 16: a mistyped service tag must not be taken for a DNS name and
// answered "Allowed"; it is refused with the tag it resembles.
func TestTagLookAlikesAreRefusedWithASuggestion(t *testing.T) {
	n := compileExample(t, "cluster-public-ip.yaml")
	for text, suggestion := range map[string]string{
		"Storge.westus2":       "Storage.WestUS2",
		"Storage.westus9":      "Storage.WestUS",
		"storage.narnia":       "Storage.",
		"AzureMachineLearnin":  "AzureMachineLearning",
		"AzureMachineLearnig.": "AzureMachineLearning",
	} {
		_, err := n.ParseEndpoint(text)
		if err == nil || !strings.Contains(err.Error(), "did you mean "+suggestion) || !strings.Contains(err.Error(), text) {
			t.Errorf("ParseEndpoint(%q) = %v, want a refusal suggesting %s", text, err, suggestion)
		}
	}
}

// A dotted name under no public suffix that nothing in the environment
// answers is refused, naming the top-level domain.
func TestNameWithoutPublicSuffixIsRefused(t *testing.T) {
	n := compileExample(t, "cluster-public-ip.yaml")
	for _, text := range []string{"build.corp", "nas.home.lan"} {
		_, err := n.ParseEndpoint(text)
		tld := text[strings.LastIndex(text, ".")+1:]
		if err == nil || !strings.Contains(err.Error(), "."+tld+" is not a public top-level domain") || strings.Contains(err.Error(), "did you mean") {
			t.Errorf("ParseEndpoint(%q) = %v, want a refusal naming .%s", text, err, tld)
		}
	}
	for _, text := range []string{"pypi.org", "files.pythonhosted.org", "example.co.uk", "mystorage.blob.core.windows.net"} {
		if _, err := n.ParseEndpoint(text); err != nil {
			t.Errorf("ParseEndpoint(%q): %v, want a DNS name", text, err)
		}
	}
}

// Reserved names are taken, and fail to resolve with the reason instead
// of getting a stand-in public address.
func TestReservedNamesAreDNSFailures(t *testing.T) {
	n := compileExample(t, "cluster-public-ip.yaml")
	for _, name := range []string{"nosuch.example.invalid", "api.test", "www.example", "app.localhost"} {
		res := flow(t, n, textQuery{From: "ws1/cpucluster", To: name, Protocol: "TCP", Port: 443})
		tld := name[strings.LastIndex(name, ".")+1:]
		expect(t, res, DNSFailure, "."+tld+" is a reserved top-level name", "NXDOMAIN")
		if len(res.Outcomes) != 1 || strings.Contains(res.Outcomes[0].Fix, "missing record to the zone") {
			t.Errorf("%s: fix %q speaks of a private zone the name is not in", name, res.Outcomes[0].Fix)
		}
	}
	// From outside every VNet the public resolver refuses them the same way.
	res := flow(t, n, textQuery{From: "203.0.113.7", To: "nosuch.example.invalid", Protocol: "TCP", Port: 443})
	expect(t, res, DNSFailure, "reserved top-level name")
}

// A name under no public suffix is answered by a private zone linked to
// the source's VNet; through a custom DNS server the verifier cannot look
// inside, such names are taken (that server may hold them), except tag
// look-alikes.
func TestPrivateNamesAnsweredByTheEnvironment(t *testing.T) {
	n := compileYAML(t, strings.ReplaceAll(corpZone, "{{DNS}}", ""))
	res := flow(t, n, textQuery{From: "vnet/default", To: "db.contoso.corp", Protocol: "TCP", Port: 5432})
	expect(t, res, Allowed, "10.0.1.5", "contoso.corp")
	if _, err := n.ParseEndpoint("build.corp"); err == nil {
		t.Error("build.corp is outside the zone and has no public suffix, yet was accepted")
	}

	custom := compileYAML(t, strings.ReplaceAll(corpZone, "{{DNS}}", "10.0.1.53"))
	if _, err := custom.ParseEndpoint("build.corp"); err != nil {
		t.Errorf("with a custom DNS server, build.corp: %v", err)
	}
	if _, err := custom.ParseEndpoint("Storge.westus2"); err == nil || !strings.Contains(err.Error(), "did you mean Storage.WestUS2") {
		t.Errorf("with a custom DNS server, Storge.westus2: %v, want a suggestion", err)
	}
}
