package template

import (
	"os"
	"path/filepath"
	"testing"

	"securetrain/internal/arm"
)

// The public Azure ML quickstart templates (testdata/quickstarts, sources
// in the README there) evaluate and plan unchanged.

func quickstart(t *testing.T, dir, file string, params map[string]any, paramsFile string) *Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "quickstarts", dir, file))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]any{}
	if paramsFile != "" {
		pd, err := os.ReadFile(filepath.Join("testdata", "quickstarts", dir, paramsFile))
		if err != nil {
			t.Fatal(err)
		}
		if all, err = ParseParameters(pd); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range params {
		all[k] = v
	}
	p, err := tp.Plan(testDeployment, all)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func find(t *testing.T, p *Plan, name string) *Resource {
	t.Helper()
	for _, r := range p.Resources {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no resource %s in %s", name, names(p.Resources))
	return nil
}

func body(t *testing.T, r *Resource) arm.Body {
	t.Helper()
	b, err := r.Body(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uniqueString(resourceGroup().id) for the test group: Azure's algorithm
// (TestUniqueStringMatchesAzure) on
// /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-probe.
const rgUnique = "2syyewnos7oly"

func TestQuickstartWorkspacePrerequisites(t *testing.T) {
	p := quickstart(t, "amlcompute", "prereq.azuredeploy.json", map[string]any{"workspaceName": "ws1"}, "")
	if got := waves(p); got != "sa"+rgUnique+",kv"+rgUnique+",ai"+rgUnique+" | ws1" {
		t.Fatalf("waves %s", got)
	}
	ws := find(t, p, "ws1")
	if names(ws.DependsOn) != "sa"+rgUnique+",kv"+rgUnique+",ai"+rgUnique {
		t.Errorf("workspace depends on %s", names(ws.DependsOn))
	}
	props := arm.Field(body(t, ws), "properties")
	if got := arm.Str(props, "storageAccount"); got != rgID+"/providers/Microsoft.Storage/storageAccounts/sa"+rgUnique {
		t.Errorf("storageAccount %s", got)
	}
	if got := arm.Str(arm.Field(body(t, p.Resources[1]), "properties"), "tenantId"); got != testDeployment.TenantID {
		t.Errorf("key vault tenantId %s, want subscription().tenantId", got)
	}
	outs, err := p.Outputs(nil)
	if err != nil || len(outs) != 1 || outs[0].Value != "ws1" {
		t.Errorf("outputs %+v %v", outs, err)
	}
}

func TestQuickstartComputeCluster(t *testing.T) {
	p := quickstart(t, "amlcompute", "azuredeploy.json", map[string]any{"workspaceName": "ws1", "clusterName": "cpu-cluster"}, "azuredeploy.parameters.json")
	if len(p.Resources) != 1 {
		t.Fatalf("resources %s", names(p.Resources))
	}
	c := p.Resources[0]
	if c.ID.String() != rgID+"/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/cpu-cluster" || c.APIVersion != "2021-01-01" {
		t.Errorf("compute %s @%s", c.ID, c.APIVersion)
	}
	inner := arm.Field(arm.Field(body(t, c), "properties"), "properties")
	if _, present := inner["subnet"]; present {
		t.Error("subnet (json('null') without a VNet) was not left out")
	}
	if arm.Int(arm.Field(inner, "scaleSettings"), "maxNodeCount") != 1 || arm.Str(inner, "vmSize") != "Standard_DS3_v2" {
		t.Errorf("properties %v", inner)
	}
	secure := map[string]bool{}
	for _, prm := range p.Parameters {
		secure[prm.Name] = prm.Secure
	}
	if !secure["adminUserName"] || !secure["adminUserPassword"] || secure["clusterName"] {
		t.Errorf("secure parameters %v", secure)
	}

	p = quickstart(t, "amlcompute", "azuredeploy.json", map[string]any{"workspaceName": "ws1", "clusterName": "c2",
		"vnetResourceGroupName": "rg-net", "vnetName": "vnet-aml", "subnetName": "snet-compute"}, "azuredeploy.parameters.json")
	inner = arm.Field(arm.Field(body(t, p.Resources[0]), "properties"), "properties")
	want := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-aml/subnets/snet-compute"
	if got := arm.Str(arm.Field(inner, "subnet"), "id"); got != want {
		t.Errorf("subnet id %s, want %s", got, want)
	}
}

func TestQuickstartComputeInstance(t *testing.T) {
	p := quickstart(t, "computeinstance", "azuredeploy.json", map[string]any{"workspaceName": "ws1", "computeName": "ci-alice"}, "azuredeploy.parameters.json")
	c := p.Resources[0]
	if c.ID.String() != rgID+"/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/ci-alice" {
		t.Errorf("id %s", c.ID)
	}
	inner := arm.Field(arm.Field(body(t, c), "properties"), "properties")
	script := arm.Field(arm.Field(arm.Field(inner, "setupScripts"), "scripts"), "creationScript")
	if arm.Str(script, "scriptData") != "bHM=" || arm.Str(script, "scriptArguments") != "" {
		t.Errorf("creation script %v, want base64('ls')", script)
	}
	user := arm.Field(arm.Field(inner, "personalComputeInstanceSettings"), "assignedUser")
	if arm.Str(user, "tenantId") != testDeployment.TenantID || arm.Str(user, "objectId") != "GEN-AZUREAD-OBJECTID" {
		t.Errorf("assigned user %v", user)
	}
	if got := len(arm.Items(arm.Field(inner, "schedules"), "computeStartStop")); got != 3 {
		t.Errorf("%d schedules, want 3", got)
	}
}

func TestQuickstartAdvancedWorkspaceWithoutPrivateEndpoint(t *testing.T) {
	p := quickstart(t, "advanced", "azuredeploy.json", map[string]any{"workspaceName": "ws1", "location": "eastus"}, "")
	const u = "obagey2xm6n62" // uniqueString(resourceGroup().id, 'ws1')
	if got := waves(p); got != "sa"+u+",kv"+u+",ai"+u+" | ws1 | DeployPrivateEndpoints" {
		t.Errorf("waves %s", got)
	}
	if got := names(p.Skipped); got != "vn"+u+",vn"+u+"/sn"+u+",UpdateSubnetPolicy,cr"+u {
		t.Errorf("skipped %s", got)
	}
	nested := find(t, p, "DeployPrivateEndpoints").Nested.Plan
	if len(nested.Resources) != 0 || len(nested.Skipped) != 6 {
		t.Errorf("nested deploys %s and skips %d, want nothing and 6", names(nested.Resources), len(nested.Skipped))
	}
	props := arm.Field(body(t, find(t, p, "ws1")), "properties")
	if _, present := props["containerRegistry"]; present {
		t.Error("containerRegistry (none) was not left out")
	}
	if arm.Str(props, "hbiWorkspace") != "false" || arm.Str(arm.Field(props, "encryption"), "status") != "Disabled" {
		t.Errorf("workspace properties %v", props)
	}
}

func TestQuickstartAdvancedWorkspaceWithPrivateEndpoint(t *testing.T) {
	p := quickstart(t, "advanced", "azuredeploy.json", map[string]any{"workspaceName": "ws1", "location": "eastus", "privateEndpointType": "AutoApproval"}, "")
	const u = "obagey2xm6n62"
	if got := waves(p); got != "vn"+u+",ai"+u+" | vn"+u+"/sn"+u+" | sa"+u+",kv"+u+" | ws1 | DeployPrivateEndpoints" {
		t.Errorf("waves %s", got)
	}
	subnet := arm.Field(body(t, find(t, p, "vn"+u+"/sn"+u)), "properties")
	if got := len(arm.Items(subnet, "serviceEndpoints")); got != 3 {
		t.Errorf("%d service endpoints, want 3 (public cloud)", got)
	}
	dep := find(t, p, "DeployPrivateEndpoints")
	if names(dep.DependsOn) != "vn"+u+"/sn"+u+",ws1" {
		t.Errorf("DeployPrivateEndpoints depends on %s", names(dep.DependsOn))
	}
	nested := dep.Nested.Plan
	const link = "if523ce6rgohk" // uniqueString(variables('vnet'))
	if got := waves(nested); got != "ws1-PrivateEndpoint | privatelink.api.azureml.ms,privatelink.notebooks.azure.net | privatelink.api.azureml.ms/"+link+",privatelink.notebooks.azure.net/"+link+",ws1-PrivateEndpoint/default" {
		t.Errorf("nested waves %s", got)
	}
	pe := arm.Field(body(t, find(t, nested, "ws1-PrivateEndpoint")), "properties")
	conn := arm.Items(pe, "privateLinkServiceConnections")
	if len(conn) != 1 || arm.Str(arm.Field(conn[0], "properties"), "privateLinkServiceId") != rgID+"/providers/Microsoft.MachineLearningServices/workspaces/ws1" {
		t.Errorf("private endpoint connections %v", conn)
	}
	if _, present := pe["manualPrivateLinkServiceConnections"]; present {
		t.Error("manualPrivateLinkServiceConnections (null) was not left out")
	}
	if got := arm.Str(arm.Field(pe, "subnet"), "id"); got != rgID+"/providers/Microsoft.Network/virtualNetworks/vn"+u+"/subnets/sn"+u {
		t.Errorf("private endpoint subnet %s", got)
	}
}
