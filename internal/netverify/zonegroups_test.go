package netverify

import (
	"net/netip"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// zoneGroupEndpoint is storagePrivateEndpoint with the A record left to a
// private DNS zone group on the endpoint, as the templates write it.
var zoneGroupEndpoint = strings.Replace(storagePrivateEndpoint, `
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: rg
    name: privatelink.blob.core.windows.net/st1
    properties: {aRecords: [{ipv4Address: 10.0.1.4}]}`, `
  - type: Microsoft.Network/privateEndpoints/privateDnsZoneGroups
    resourceGroup: rg
    name: st1-blob/default
    properties:
      privateDnsZoneConfigs:
        - name: blob
          properties: {privateDnsZoneId: /resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net}`, 1)

// TestZoneGroupResolves: the A record a zone group keeps answers for the
// account's name in the linked zone, as Azure's does; without the zone
// group the linked zone shadows the name and has no record.
func TestZoneGroupResolves(t *testing.T) {
	if zoneGroupEndpoint == storagePrivateEndpoint {
		t.Fatal("the fixture no longer holds the A record this test replaces")
	}
	env := func(extra string) string {
		return strings.NewReplacer("{{SUBNET}}", "", "{{LOCATION}}", "westus2", "{{ACCOUNT}}", "{publicNetworkAccess: Disabled}", "{{EXTRA}}", extra).Replace(storageEnv)
	}
	q := textQuery{From: "10.0.0.10", To: "st1.blob.core.windows.net", Protocol: "TCP", Port: 443}
	res := flow(t, compileYAML(t, env(zoneGroupEndpoint)), q)
	expect(t, res, Allowed, "10.0.1.4")

	noGroup := zoneGroupEndpoint[:strings.Index(zoneGroupEndpoint, "\n  - type: Microsoft.Network/privateEndpoints/privateDnsZoneGroups")] +
		zoneGroupEndpoint[strings.Index(zoneGroupEndpoint, "\n  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks"):]
	res = flow(t, compileYAML(t, env(noGroup)), q)
	if res.Verdict == Allowed {
		t.Errorf("without the zone group the name resolved:\n%s", explain(res))
	}
}

// TestZoneGroupRecords: each privatelink name goes to the zone that holds
// it, relative to it, with every address; names no zone holds are left.
func TestZoneGroupRecords(t *testing.T) {
	zone := func(name string) arm.ID {
		id, _ := arm.NewID("s", "rg", "Microsoft.Network/privateDnsZones", name)
		return id
	}
	names := map[string]string{
		"g.workspace.eastus.api.azureml.ms":         "g.workspace.eastus.privatelink.api.azureml.ms",
		"ml-ws-eastus-g.eastus.notebooks.azure.net": "ml-ws-eastus-g.eastus.privatelink.notebooks.azure.net",
		"g.workspace.eastus.cert.api.azureml.ms":    "g.workspace.eastus.cert.privatelink.api.azureml.ms",
		"st1.blob.core.windows.net":                 "st1.privatelink.blob.core.windows.net",
	}
	addrs := []netip.Addr{netip.MustParseAddr("10.0.1.4")}
	got := ZoneGroupRecords(names, addrs, []arm.ID{zone("privatelink.api.azureml.ms"), zone("privatelink.notebooks.azure.net")})
	var text []string
	for _, r := range got {
		text = append(text, r.ID().String()+" "+r.FQDN()+" "+r.Addrs[0].String())
	}
	want := []string{
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms/A/g.workspace.eastus g.workspace.eastus.privatelink.api.azureml.ms 10.0.1.4",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms/A/g.workspace.eastus.cert g.workspace.eastus.cert.privatelink.api.azureml.ms 10.0.1.4",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.notebooks.azure.net/A/ml-ws-eastus-g.eastus ml-ws-eastus-g.eastus.privatelink.notebooks.azure.net 10.0.1.4",
	}
	if strings.Join(text, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(text, "\n"), strings.Join(want, "\n"))
	}
	if got := ZoneGroupRecords(names, nil, []arm.ID{zone("privatelink.api.azureml.ms")}); got != nil {
		t.Errorf("an endpoint without an address keeps records: %v", got)
	}
}

// TestZoneGroupEndpointAllocated: a private endpoint with a zone group
// and no address yet (as a template deploys it) gets the one Azure
// allocates, the first free of its subnet, and the group's record
// resolves to it.
func TestZoneGroupEndpointAllocated(t *testing.T) {
	noAddress := strings.Replace(zoneGroupEndpoint, "\n      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.0.1.4}}]", "", 1)
	if noAddress == zoneGroupEndpoint {
		t.Fatal("the fixture no longer holds the static address this test removes")
	}
	env := strings.NewReplacer("{{SUBNET}}", "", "{{LOCATION}}", "westus2", "{{ACCOUNT}}", "{publicNetworkAccess: Disabled}", "{{EXTRA}}", noAddress).Replace(storageEnv)
	res := flow(t, compileYAML(t, env), textQuery{From: "10.0.0.10", To: "st1.blob.core.windows.net", Protocol: "TCP", Port: 443})
	expect(t, res, Allowed, "10.0.1.4")
}
