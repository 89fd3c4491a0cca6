package resources

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// The exact request bodies the Azure SDK for Go sends (copied from
// shared/fixtures/arm-requests) decode as environment entries. Each body is
// wrapped in an envelope built from its request path; stub resources stand
// in for what the bodies reference, so any problem is a shape problem.
func TestSDKRequestBodies(t *testing.T) {
	const dir = "testdata/arm-requests"
	raw, err := os.ReadFile(filepath.Join(dir, "_index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index []struct{ File, Path string }
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	stubs := []struct{ name, json string }{
		{"vnet-aml", `{"type": "Microsoft.Network/virtualNetworks", "resourceGroup": "rg-probe", "name": "vnet-aml", "properties": {
			"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
			"subnets": [{"name": "snet-compute", "properties": {"addressPrefix": "10.0.1.0/24"}}]}}`},
		{"nsg-aml", `{"type": "Microsoft.Network/networkSecurityGroups", "resourceGroup": "rg-probe", "name": "nsg-aml"}`},
		{"rt-egress", `{"type": "Microsoft.Network/routeTables", "resourceGroup": "rg-probe", "name": "rt-egress"}`},
		{"nat-egress", `{"type": "Microsoft.Network/natGateways", "resourceGroup": "rg-probe", "name": "nat-egress"}`},
		{"sep-storage", `{"type": "Microsoft.Network/serviceEndpointPolicies", "resourceGroup": "rg-probe", "name": "sep-storage"}`},
		{"pip-nat", `{"type": "Microsoft.Network/publicIPAddresses", "resourceGroup": "rg-probe", "name": "pip-nat"}`},
	}
	if len(index) < 14 {
		t.Fatalf("index lists %d bodies", len(index))
	}
	for _, f := range index {
		t.Run(f.File, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			id, err := arm.ParseID(strings.Replace(f.Path, "{subscriptionId}", testSub, 1), "")
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			env["type"], _ = json.Marshal(id.Type())
			env["name"], _ = json.Marshal(id.Name())
			if id.Type() != arm.TypeResourceGroup {
				env["resourceGroup"], _ = json.Marshal(id.ResourceGroup)
			}
			wrapped, _ := json.Marshal(env)
			resources := []json.RawMessage{wrapped}
			for _, s := range stubs {
				if s.name != id.Name() {
					resources = append(resources, json.RawMessage(s.json))
				}
			}
			doc, _ := json.Marshal(map[string]any{"subscription": testSub, "resources": resources})
			snap, err := DecodeFile(f.File, doc)
			if err != nil {
				t.Fatalf("%v\nin %s", err, doc)
			}
			if snap.Lookup(id) == nil {
				t.Errorf("%s is not in the snapshot", id)
			}
		})
	}
}

// An export in the shape Azure returns on GET (read-only fields, default
// rules, back-references) decodes; only resourceGroup was added by hand.
func TestAzureExportShape(t *testing.T) {
	s := mustLoad(t, "testdata/export.json")
	eq(t, "rules (default rules are the verifier's)", len(s.NetworkSecurityGroups[0].Rules), 1)
	eq(t, "protocol spelling", s.NetworkSecurityGroups[0].Rules[0].Protocol, ProtoTCP)
	eq(t, "subnet", s.VirtualNetworks[0].Subnets[0].NetworkSecurityGroup.ID, s.NetworkSecurityGroups[0].ID)
	eq(t, "compute", [2]any{s.Computes[0].MaxNodeCount, s.Computes[0].EnableNodePublicIP}, [2]any{4, false})
	eq(t, "workspace", s.Workspaces[0].WorkspaceID, "55555555-5555-5555-5555-555555555555")
}
