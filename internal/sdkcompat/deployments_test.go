package sdkcompat

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// networkTemplate is the network a compute template deploys into: an NSG,
// a VNet whose subnet uses it (a dependency by name), and outputs that
// read what was deployed (reference()).
const networkTemplate = `{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {"vnetName": {"type": "string"}, "location": {"type": "string", "defaultValue": "[resourceGroup().location]"}},
  "variables": {"nsgName": "[concat(parameters('vnetName'), '-nsg')]"},
  "resources": [
    {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2020-06-01", "name": "[variables('nsgName')]", "location": "[parameters('location')]",
     "properties": {"securityRules": [{"name": "AllowAzureML", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
       "sourceAddressPrefix": "AzureMachineLearning", "sourcePortRange": "*", "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": "44224"}}]}},
    {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2020-06-01", "name": "[parameters('vnetName')]", "location": "[parameters('location')]",
     "dependsOn": ["[variables('nsgName')]"],
     "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
       "subnets": [{"name": "compute", "properties": {"addressPrefix": "10.0.1.0/24",
         "networkSecurityGroup": {"id": "[resourceId('Microsoft.Network/networkSecurityGroups', variables('nsgName'))]"}}}]}}
  ],
  "outputs": {
    "subnetId": {"type": "string", "value": "[resourceId('Microsoft.Network/virtualNetworks/subnets', parameters('vnetName'), 'compute')]"},
    "nsgRules": {"type": "int", "value": "[length(reference(variables('nsgName')).securityRules)]"}
  }
}`

func deploymentsClients(tb testing.TB, s *server) (*armresources.DeploymentsClient, *armresources.DeploymentOperationsClient) {
	tb.Helper()
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.url, Audience: audience},
		}},
		Transport: s.transport,
	}}
	cred := credential{token: s.adminToken}
	deployments, err := armresources.NewDeploymentsClient(subID, cred, opts)
	must(tb, err, "deployments client")
	operations, err := armresources.NewDeploymentOperationsClient(subID, cred, opts)
	must(tb, err, "deployment operations client")
	return deployments, operations
}

func deployment(tb testing.TB, tmpl string, params map[string]any) armresources.Deployment {
	tb.Helper()
	var t map[string]any
	must(tb, json.Unmarshal([]byte(tmpl), &t), "template")
	ps := map[string]any{}
	for k, v := range params {
		ps[k] = map[string]any{"value": v}
	}
	return armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: t, Parameters: ps,
	}}
}

// The unmodified SDK deploys a network template and then the Azure ML
// compute cluster quickstart into it, reads the deployments and their
// operations, sees validation refuse a cycle, and deletes a deployment.
func TestTemplateDeploymentsSDK(t *testing.T) {
	s := startServer(t)
	admin := s.clients(t, s.adminToken)
	deployments, operations := deploymentsClients(t, s)
	ctx := context.Background()
	createGroup(t, ctx, admin, rgNet)
	createGroup(t, ctx, admin, rgML)

	p, err := deployments.BeginCreateOrUpdate(ctx, rgNet, "network", deployment(t, networkTemplate, map[string]any{"vnetName": vnetName}), nil)
	net := done(t, ctx, p, err, "deploy the network")
	if str((*string)(net.Properties.ProvisioningState)) != "Succeeded" {
		t.Fatalf("network deployment: %+v", net.Properties)
	}
	outputs, _ := net.Properties.Outputs.(map[string]any)
	subnet, _ := outputs["subnetId"].(map[string]any)
	rules, _ := outputs["nsgRules"].(map[string]any)
	if subnet["value"] != vnetID+"/subnets/compute" || rules["value"] != float64(1) {
		t.Errorf("outputs: %v", outputs)
	}

	workspaces := admin.ml.NewWorkspacesClient()
	pw, err := workspaces.BeginCreateOrUpdate(ctx, rgML, wsName, armmachinelearning.Workspace{
		Location:   to.Ptr(location),
		Identity:   &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeSystemAssigned)},
		Properties: &armmachinelearning.WorkspaceProperties{FriendlyName: to.Ptr("templates")},
	}, nil)
	done(t, ctx, pw, err, "workspace")

	tmpl, err := os.ReadFile(filepath.Join("..", "template", "testdata", "quickstarts", "amlcompute", "azuredeploy.json"))
	must(t, err, "quickstart")
	params := map[string]any{"workspaceName": wsName, "clusterName": "cpu-tmpl", "adminUserName": "azureuser", "adminUserPassword": "Sdk-secret-91!",
		"vnetResourceGroupName": rgNet, "vnetName": vnetName, "subnetName": "compute"}
	p, err = deployments.BeginCreateOrUpdate(ctx, rgML, "cluster", deployment(t, string(tmpl), params), nil)
	cl := done(t, ctx, p, err, "deploy the cluster quickstart")
	if len(cl.Properties.OutputResources) != 1 {
		t.Errorf("output resources: %+v", cl.Properties.OutputResources)
	}
	compute, err := admin.ml.NewComputeClient().Get(ctx, rgML, wsName, "cpu-tmpl", nil)
	must(t, err, "the deployed cluster")
	if str((*string)(compute.Properties.GetCompute().ProvisioningState)) != "Succeeded" {
		t.Errorf("cluster state: %v", str((*string)(compute.Properties.GetCompute().ProvisioningState)))
	}
	got, err := deployments.Get(ctx, rgML, "cluster", nil)
	must(t, err, "get")
	if pw, _ := got.Properties.Parameters.(map[string]any)["adminUserPassword"].(map[string]any); pw["type"] != "SecureString" || pw["value"] != nil {
		t.Errorf("secure parameter shown: %v", pw)
	}
	pager := deployments.NewListByResourceGroupPager(rgML, nil)
	var listed int
	for pager.More() {
		page, err := pager.NextPage(ctx)
		must(t, err, "list")
		listed += len(page.Value)
	}
	if listed != 1 {
		t.Errorf("listed %d deployments", listed)
	}
	ops := operations.NewListPager(rgML, "cluster", nil)
	var opCount int
	for ops.More() {
		page, err := ops.NextPage(ctx)
		must(t, err, "operations")
		for _, op := range page.Value {
			opCount++
			if str((*string)(op.Properties.ProvisioningState)) != "Succeeded" || !sameID(op.Properties.TargetResource.ID, rgID(rgML)+"/providers/Microsoft.MachineLearningServices/workspaces/"+wsName+"/computes/cpu-tmpl") {
				t.Errorf("operation: %+v", op.Properties)
			}
		}
	}
	if opCount != 1 {
		t.Errorf("%d operations", opCount)
	}

	// A cycle: Validate refuses it with Azure's code, as does a PUT.
	cycle := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"a","location":"eastus","dependsOn":["b"]},
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"b","location":"eastus","dependsOn":["a"]}]}`
	vp, err := deployments.BeginValidate(ctx, rgML, "cycle", deployment(t, cycle, nil), nil)
	if err == nil {
		_, err = vp.PollUntilDone(ctx, pollOpts)
	}
	wantResponseError(t, err, http.StatusBadRequest, "InvalidTemplate", "Circular dependency detected")
	_, err = deployments.BeginCreateOrUpdate(ctx, rgML, "cycle", deployment(t, cycle, nil), nil)
	wantResponseError(t, err, http.StatusBadRequest, "InvalidTemplate", "Circular dependency detected")

	// A resource the service refuses: the poller reports DeploymentFailed.
	bad := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/virtualNetworks","apiVersion":"2024-05-01","name":"vnet-bad","location":"eastus",
		 "properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},"subnets":[{"name":"s","properties":{"addressPrefix":"10.2.0.0/24"}}]}}]}`
	p, err = deployments.BeginCreateOrUpdate(ctx, rgML, "bad", deployment(t, bad, nil), nil)
	must(t, err, "begin the failing deployment")
	_, err = p.PollUntilDone(ctx, pollOpts)
	wantResponseError(t, err, http.StatusOK, "DeploymentFailed", "NetcfgSubnetRangeOutsideVnet")

	// Deleting a deployment keeps what it deployed.
	dp, err := deployments.BeginDelete(ctx, rgML, "cluster", nil)
	done(t, ctx, dp, err, "delete")
	_, err = deployments.Get(ctx, rgML, "cluster", nil)
	wantResponseError(t, err, http.StatusNotFound, "DeploymentNotFound")
	_, err = admin.ml.NewComputeClient().Get(ctx, rgML, wsName, "cpu-tmpl", nil)
	must(t, err, "the cluster after its deployment's delete")
}
