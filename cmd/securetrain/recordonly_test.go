package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// recordOnlyEnv holds the record-only kinds a secured workspace uses and
// a private endpoint to its storage with a DNS zone group.
const recordOnlyEnv = `subscription: ` + testSub + `
resources:
  - {type: Microsoft.Resources/resourceGroups, name: rg-rec, location: eastus}
  - type: Microsoft.KeyVault/vaults
    resourceGroup: rg-rec
    name: kv-rec-1
    location: eastus
    properties: {tenantId: "", sku: {name: standard, family: A}, accessPolicies: []}
  - {type: Microsoft.Insights/components, resourceGroup: rg-rec, name: ai-rec, location: eastus, kind: web, properties: {Application_Type: web}}
  - {type: Microsoft.ContainerRegistry/registries, resourceGroup: rg-rec, name: crrec1, location: eastus, sku: {name: Standard}, properties: {adminUserEnabled: true}}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg-rec
    name: vnet-rec
    location: eastus
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets: [{name: pe, properties: {addressPrefix: 10.0.1.0/24}}]
  - {type: Microsoft.Storage/storageAccounts, resourceGroup: rg-rec, name: strec1, location: eastus, properties: {publicNetworkAccess: Disabled}}
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: rg-rec
    name: pe-blob
    location: eastus
    properties:
      subnet: {id: /subscriptions/` + testSub + `/resourceGroups/rg-rec/providers/Microsoft.Network/virtualNetworks/vnet-rec/subnets/pe}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /subscriptions/` + testSub + `/resourceGroups/rg-rec/providers/Microsoft.Storage/storageAccounts/strec1, groupIds: [blob]}}]
  - {type: Microsoft.Network/privateDnsZones, resourceGroup: rg-rec, name: privatelink.blob.core.windows.net, location: global}
  - type: Microsoft.Network/privateEndpoints/privateDnsZoneGroups
    resourceGroup: rg-rec
    name: pe-blob/default
    properties:
      privateDnsZoneConfigs:
        - {name: blob, properties: {privateDnsZoneId: /subscriptions/` + testSub + `/resourceGroups/rg-rec/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net}}
`

// TestRecordOnlyKindsRoundTrip: key vaults, Application Insights
// components and container registries are applied, stored as sent and
// exported; a private endpoint's zone group comes back with the A record
// it keeps in its zone.
func TestRecordOnlyKindsRoundTrip(t *testing.T) {
	startServer(t)
	file := filepath.Join(t.TempDir(), "rec.yaml")
	if err := os.WriteFile(file, []byte(recordOnlyEnv), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "apply", "-f", file); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	exported := exportTo(t)
	raw, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/vaults/kv-rec-1", `"accessPolicies"`, "/components/ai-rec", `"Application_Type"`, "/registries/crrec1", `"adminUserEnabled"`,
		"/privateDnsZoneGroups/default", "privateDnsZones/privatelink.blob.core.windows.net/A/strec1"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the export lacks %s", want)
		}
	}
	snap := decodeFile(t, exported)
	if len(snap.Records) != 3 {
		t.Errorf("exported %d record-only resources, want 3", len(snap.Records))
	}
	ids := fileIDs(t, exported)
	if !slices.ContainsFunc(ids, func(id string) bool {
		return strings.HasSuffix(id, "/privatednszones/privatelink.blob.core.windows.net/a/strec1")
	}) {
		t.Errorf("exported ids lack the zone group's record: %v", ids)
	}
}
