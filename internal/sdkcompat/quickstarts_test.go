package sdkcompat

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
	"securetrain/internal/store"
)

// quickstart reads a public Azure quickstart template of testdata,
// unchanged.
func quickstart(tb testing.TB, file string) string {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "quickstarts", file))
	must(tb, err, "quickstart "+file)
	return string(raw)
}

// quickstartParameters are the values of a quickstart's parameter file
// with the placeholders the repository's test harness fills in
// (GEN-…, GET-PREREQ-…) replaced by given; every other value is the
// file's.
func quickstartParameters(tb testing.TB, file string, given map[string]any) map[string]any {
	tb.Helper()
	var doc struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	must(tb, json.Unmarshal([]byte(quickstart(tb, file)), &doc), "parameter file "+file)
	out := map[string]any{}
	for name, p := range doc.Parameters {
		if text, ok := p.Value.(string); ok && (strings.HasPrefix(text, "GEN-") || strings.HasPrefix(text, "GET-PREREQ-")) {
			if _, ok := given[name]; !ok {
				tb.Fatalf("%s: parameter %s is the placeholder %s: give its value", file, name, text)
			}
			continue
		}
		out[name] = p.Value
	}
	for name, v := range given {
		out[name] = v
	}
	return out
}

// deploy runs a deployment through the unmodified SDK to its end.
func deploy(tb testing.TB, deployments *armresources.DeploymentsClient, rg, name, tmpl string, params map[string]any) (armresources.DeploymentsClientCreateOrUpdateResponse, error) {
	tb.Helper()
	p, err := deployments.BeginCreateOrUpdate(context.Background(), rg, name, deployment(tb, tmpl, params), nil)
	if err != nil {
		return armresources.DeploymentsClientCreateOrUpdateResponse{}, err
	}
	return p.PollUntilDone(context.Background(), pollOpts)
}

// checkStored is `securetrain check` on what the store holds: every
// resource of the subscription decoded as an environment and checked.
func checkStored(tb testing.TB, st store.Store) *requirements.Report {
	tb.Helper()
	var bodies [][]byte
	err := st.View(context.Background(), func(tx store.Reader) error {
		return store.Each(context.Background(), tx, store.Query{Scope: "/subscriptions/" + subID}, func(rec store.Record) error {
			if k := resources.KindOf(rec.Type); k != nil && !k.OwnRoute {
				bodies = append(bodies, rec.Body)
			}
			return nil
		})
	})
	must(tb, err, "read the store")
	snap, err := resources.DecodeARM(bodies, func(arm.ID) (bool, error) { return false, nil })
	must(tb, err, "decode the stored environment")
	n, err := netverify.Compile(snap, servicetags.Default())
	must(tb, err, "compile")
	rep, err := requirements.Check(n, requirements.Options{})
	must(tb, err, "check")
	return rep
}

// The public quickstarts of a VNet-secured workspace, a compute cluster
// and a compute instance deploy unchanged through the unmodified SDK,
// with the api-versions they were written for (network 2022-05-01,
// private DNS 2020-06-01, Key Vault 2022-07-01, Container Registry
// 2022-02-01-preview, Application Insights 2020-02-02, Azure ML
// 2022-10-01, 2021-01-01 and 2021-07-01): the workspace's prerequisites
// are recorded, its private endpoint's zone group puts the endpoint's
// address in the linked zones, so `check` resolves the workspace's names
// to it as Azure does; the computes in the template's subnet pass check.
func TestQuickstartsSecuredWorkspaceSDK(t *testing.T) {
	s := startServer(t)
	admin := s.clients(t, s.adminToken)
	deployments, _ := deploymentsClients(t, s)
	ctx := context.Background()
	createGroup(t, ctx, admin, rgML)

	const ws, vnet, subnet = "mlw-vnet", "vnet-ws", "snet-ws"
	res, err := deploy(t, deployments, rgML, "workspace", quickstart(t, "workspacevnet/azuredeploy.json"), map[string]any{
		"workspaceName": ws, "location": location, "privateEndpointType": "AutoApproval", "containerRegistryOption": "new",
		"vnetName": vnet, "subnetName": subnet,
	})
	must(t, err, "deploy the VNet-secured workspace quickstart")
	if str((*string)(res.Properties.ProvisioningState)) != "Succeeded" {
		t.Fatalf("workspace deployment: %+v", res.Properties)
	}
	// The record-only prerequisites are there, as sent.
	for _, typ := range []string{resources.TypeKeyVault, resources.TypeAppInsights, resources.TypeRegistry} {
		var found int
		err := s.st.View(ctx, func(tx store.Reader) error {
			return store.Each(ctx, tx, store.Query{Scope: rgID(rgML), Type: typ}, func(store.Record) error { found++; return nil })
		})
		if err != nil || found != 1 {
			t.Errorf("%s records: %d, %v", typ, found, err)
		}
	}

	tmpl := quickstart(t, "amlcompute/azuredeploy.json")
	_, err = deploy(t, deployments, rgML, "cluster", tmpl, quickstartParameters(t, "amlcompute/azuredeploy.parameters.json", map[string]any{
		"workspaceName": ws, "clusterName": "cpu-vnet", "adminUserPassword": "Sdk-secret-92!",
		"vnetResourceGroupName": rgML, "vnetName": vnet, "subnetName": subnet,
	}))
	must(t, err, "deploy the cluster quickstart into the workspace's subnet")

	// The parameter file's schedules (two cron schedules and a
	// recurrence) as given.
	_, err = deploy(t, deployments, rgML, "instance", quickstart(t, "computeinstance/azuredeploy.json"), quickstartParameters(t, "computeinstance/azuredeploy.parameters.json", map[string]any{
		"workspaceName": ws, "computeName": "ci-vnet", "objectId": "4a0c5b2e-8f5d-4c1e-9a57-0b1c2d3e4f50",
		"vnetResourceGroupName": rgML, "vnetName": vnet, "subnetName": subnet,
	}))
	must(t, err, "deploy the compute instance quickstart into the workspace's subnet")
	var schedules []map[string]any
	err = s.st.View(ctx, func(tx store.Reader) error {
		return store.Each(ctx, tx, store.Query{Scope: rgID(rgML), Type: resources.TypeCompute}, func(rec store.Record) error {
			if strings.HasSuffix(rec.ID, "/ci-vnet") {
				inner := arm.Field(arm.Field(mustObject(t, rec.Body), "properties"), "properties")
				schedules = arm.Items(arm.Field(inner, "schedules"), "computeStartStop")
			}
			return nil
		})
	})
	if err != nil || len(schedules) != 3 || schedules[2]["triggerType"] != "Recurrence" {
		t.Errorf("the instance's schedules, as the parameter file gives them: %v, %v", schedules, err)
	}

	// The private endpoint's address, as its zone group put it in the zone.
	var peAddr string
	err = s.st.View(ctx, func(tx store.Reader) error {
		return store.Each(ctx, tx, store.Query{Scope: rgID(rgML), Type: resources.TypeZoneA}, func(rec store.Record) error {
			if strings.Contains(rec.ID, "privatelink.api.azureml.ms/A/") {
				peAddr = arm.Str(arm.Items(arm.Field(mustObject(t, rec.Body), "properties"), "aRecords")[0], "ipv4Address")
			}
			return nil
		})
	})
	if err != nil || peAddr == "" {
		t.Fatalf("no A record in privatelink.api.azureml.ms: %v", err)
	}

	rep := checkStored(t, s.st)
	if len(rep.Computes) != 2 {
		t.Fatalf("checked %d computes", len(rep.Computes))
	}
	for _, cr := range rep.Computes {
		var text []string
		for _, f := range cr.Findings {
			text = append(text, string(f.Severity)+" "+f.Code+": "+f.Message)
		}
		resolved := false
		for _, fc := range cr.Flows {
			text = append(text, string(fc.Verdict)+" "+fc.Name)
			if strings.Contains(fc.To, ".workspace."+location+".api.azureml.ms") && fc.Result != nil {
				for _, step := range fc.Result.DNS {
					resolved = resolved || step.Type == "A" && step.Answer == peAddr && strings.Contains(step.Source, "privatelink.api.azureml.ms")
				}
			}
		}
		if cr.Status == requirements.WillFail || !resolved {
			t.Errorf("compute %s: %s, the workspace's name resolved to the endpoint %s: %v\n%s", cr.Name, cr.Status, peAddr, resolved, strings.Join(text, "\n"))
		}
	}
	if rep.Counts.Errors != 0 {
		t.Errorf("check finds %d errors", rep.Counts.Errors)
	}

	// A retired VM size (the NC-series, retired in 2023) is refused on
	// the compute, failing the deployment as in Azure.
	_, err = deploy(t, deployments, rgML, "retired", tmpl, map[string]any{
		"workspaceName": ws, "clusterName": "gpu-old", "adminUserName": "azureuser", "adminUserPassword": "Sdk-secret-92!", "vmSize": "Standard_NC6",
		"vnetResourceGroupName": rgML, "vnetName": vnet, "subnetName": subnet,
	})
	wantResponseError(t, err, http.StatusOK, "DeploymentFailed", "VmSizeNotSupported", "Standard_NC6")
}

func mustObject(tb testing.TB, raw []byte) map[string]any {
	tb.Helper()
	var out map[string]any
	must(tb, json.Unmarshal(raw, &out), "decode a record")
	return out
}

// The cluster quickstart's prerequisite template (a workspace with its
// storage account at 2019-06-01, key vault at 2019-09-01, Application
// Insights at 2018-05-01-preview, Azure ML at 2020-03-01) deploys
// unchanged through the SDK, its output naming the workspace, and the
// cluster quickstart deploys into that workspace.
func TestQuickstartClusterPrereqSDK(t *testing.T) {
	s := startServer(t)
	admin := s.clients(t, s.adminToken)
	deployments, _ := deploymentsClients(t, s)
	createGroup(t, context.Background(), admin, rgML)

	res, err := deploy(t, deployments, rgML, "prereq", quickstart(t, "amlcompute/prereq.azuredeploy.json"), map[string]any{"workspaceName": "mlw-prereq"})
	must(t, err, "deploy the prerequisite template")
	out, _ := res.Properties.Outputs.(map[string]any)["workspaceResource"].(map[string]any)
	if out["value"] != "mlw-prereq" {
		t.Errorf("outputs: %v", res.Properties.Outputs)
	}
	if len(res.Properties.OutputResources) != 4 {
		t.Errorf("output resources: %d, want the storage account, key vault, Application Insights and workspace", len(res.Properties.OutputResources))
	}
	// The key vault's tenantId is the template's subscription().tenantId:
	// the tenant of every subscription, a GUID (Azure refuses an empty one).
	var tenants []string
	err = s.st.View(context.Background(), func(tx store.Reader) error {
		return store.Each(context.Background(), tx, store.Query{Scope: rgID(rgML), Type: resources.TypeKeyVault}, func(rec store.Record) error {
			var kv struct {
				Properties struct {
					TenantID string `json:"tenantId"`
				} `json:"properties"`
			}
			if err := json.Unmarshal(rec.Body, &kv); err != nil {
				return err
			}
			tenants = append(tenants, kv.Properties.TenantID)
			return nil
		})
	})
	if err != nil || len(tenants) != 1 || tenants[0] != arm.TenantID {
		t.Errorf("key vault tenantId: %q, %v; want the tenant %s", tenants, err, arm.TenantID)
	}
	_, err = deploy(t, deployments, rgML, "cluster", quickstart(t, "amlcompute/azuredeploy.json"), map[string]any{
		"workspaceName": "mlw-prereq", "clusterName": "cpu-prereq", "adminUserName": "azureuser", "adminUserPassword": "Sdk-secret-93!",
	})
	must(t, err, "deploy the cluster quickstart into the prerequisite workspace")
	if rep := checkStored(t, s.st); len(rep.Computes) != 1 || rep.Computes[0].Status == requirements.WillFail {
		t.Errorf("check: %+v", rep.Computes)
	}
}

// The machine-learning-advanced quickstart (Azure ML 2020-09-01-preview,
// storage 2019-06-01, Container Registry 2019-12-01-preview, Application
// Insights 2020-02-02-preview, network 2020-06-01) with a private
// endpoint deploys unchanged — its hbiWorkspace is the string "false",
// which Azure reads as a boolean — and its zone group keeps the
// endpoint's records in the zones.
func TestQuickstartAdvancedSDK(t *testing.T) {
	s := startServer(t)
	admin := s.clients(t, s.adminToken)
	deployments, _ := deploymentsClients(t, s)
	ctx := context.Background()
	createGroup(t, ctx, admin, rgML)
	_, err := deploy(t, deployments, rgML, "advanced", quickstart(t, "advanced/azuredeploy.json"), map[string]any{
		"workspaceName": "mlw-adv", "location": location, "privateEndpointType": "AutoApproval", "containerRegistryOption": "new",
		"storageAccountBehindVNet": "true",
	})
	must(t, err, "deploy the machine-learning-advanced quickstart")
	var records int
	err = s.st.View(ctx, func(tx store.Reader) error {
		return store.Each(ctx, tx, store.Query{Scope: rgID(rgML), Type: resources.TypeZoneA}, func(store.Record) error { records++; return nil })
	})
	if err != nil || records != 3 {
		t.Errorf("the zone group's records: %d, %v; want the workspace's api, cert and notebooks names", records, err)
	}
}
