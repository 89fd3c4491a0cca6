package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"securetrain/internal/store"
)

const deployVersion = "?api-version=2021-04-01"

func deploymentPathOf(rg, name string) string {
	return rg + "/providers/Microsoft.Resources/deployments/" + name
}

// deployBody is a deployment request for the template and parameter
// values.
func deployBody(t testing.TB, tmpl string, params map[string]any) string {
	t.Helper()
	ps := map[string]any{}
	for k, v := range params {
		ps[k] = map[string]any{"value": v}
	}
	raw, err := json.Marshal(map[string]any{"properties": map[string]any{"mode": "Incremental", "template": json.RawMessage(tmpl), "parameters": ps}})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// awaitDeployment waits until the deployment is no longer Accepted or
// Running, letting the provisioning engine work, and returns it.
func (c *client) awaitDeployment(path string) map[string]any {
	c.t.Helper()
	var d map[string]any
	c.eventually("deployment "+path+" ends", func() bool {
		st, out, _ := c.do("GET", path+deployVersion, "")
		if st != http.StatusOK {
			c.t.Fatalf("GET %s: %d %v", path, st, out)
		}
		d = out
		if deploymentActive(deployState(out)) {
			c.settle()
			return false
		}
		return true
	})
	return d
}

// eventually polls until done holds (deployments run in goroutines of the
// server's own).
func (c *client) eventually(what string, done func() bool) {
	c.t.Helper()
	poll(c.t, what, 5*time.Millisecond, func() (bool, any) { return done(), nil })
}

// written reports whether the resource at path exists.
func (c *client) written(path string) func() bool {
	return func() bool {
		st, _, _ := c.do("GET", path, "")
		return st == http.StatusOK
	}
}

func deployState(d map[string]any) string {
	props, _ := d["properties"].(map[string]any)
	s, _ := props["provisioningState"].(string)
	return s
}

func quickstart(t testing.TB, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "quickstarts", name, "azuredeploy.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

const clusterPassword = "Qz-9!unlikely-secret-7f3a"

// The Azure ML compute cluster quickstart, unchanged, into the workspace
// and VNet provisionEnv creates: the cluster is created and provisioned,
// the deployment records it, and its secure parameters are nowhere.
func TestDeployQuickstartCluster(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	path := deploymentPathOf(rgML, "cluster")
	body := deployBody(t, quickstart(t, "amlcompute"), map[string]any{
		"workspaceName": "ws1", "clusterName": "cpu1", "adminUserName": "azureuser", "adminUserPassword": clusterPassword,
		"vnetResourceGroupName": "rg-net", "vnetName": "vnet", "subnetName": "compute", "vmSize": "Standard_DS3_v2",
	})
	st, out, hdr := c.do("PUT", path+deployVersion, body)
	if st != http.StatusCreated || deployState(out) != deployAccepted || hdr.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("create: %d %v %v", st, out, hdr)
	}
	done := c.awaitDeployment(path)
	if deployState(done) != deploySucceeded {
		t.Fatalf("deployment: %v", done)
	}
	props := done["properties"].(map[string]any)
	params := props["parameters"].(map[string]any)
	if pw := params["adminUserPassword"].(map[string]any); pw["type"] != "SecureString" || pw["value"] != nil {
		t.Errorf("secure parameter shown: %v", pw)
	}
	if params["clusterName"].(map[string]any)["value"] != "cpu1" {
		t.Errorf("parameters: %v", params)
	}
	cluster := wsML + "/computes/cpu1"
	if res := props["outputResources"].([]any); len(res) != 1 || !strings.EqualFold(res[0].(map[string]any)["id"].(string), cluster) {
		t.Errorf("outputResources: %v", res)
	}
	if st, out, _ := c.do("GET", cluster+mlVersion, ""); st != http.StatusOK || out["properties"].(map[string]any)["provisioningState"] != "Succeeded" {
		t.Errorf("cluster: %d %v", st, out)
	}
	st, ops, _ := c.do("GET", rgML+"/deployments/cluster/operations"+deployVersion, "")
	list, _ := ops["value"].([]any)
	if st != http.StatusOK || len(list) != 1 {
		t.Fatalf("operations: %d %v", st, ops)
	}
	op := list[0].(map[string]any)
	opProps := op["properties"].(map[string]any)
	if opProps["provisioningState"] != deploySucceeded || !strings.EqualFold(opProps["targetResource"].(map[string]any)["id"].(string), cluster) {
		t.Errorf("operation: %v", op)
	}
	if st, one, _ := c.do("GET", rgML+"/deployments/cluster/operations/"+op["operationId"].(string)+deployVersion, ""); st != http.StatusOK || one["id"] != op["id"] {
		t.Errorf("one operation: %d %v", st, one)
	}
	// The deployment's records never hold the secure value, nor does the
	// cluster it went into (a password is written, never read back).
	assertNoSecret(t, c, deploymentPathOf(rgML, "cluster"), clusterPassword)
	if rec, err := c.st.Get(context.Background(), cluster); err != nil || strings.Contains(string(rec.Body), clusterPassword) ||
		!strings.Contains(string(rec.Body), `"adminUserName":"azureuser"`) {
		t.Errorf("cluster record: %v %s", err, rec.Body)
	}
	// Listed in the resource group.
	if st, l, _ := c.do("GET", rgML+"/providers/Microsoft.Resources/deployments/"+deployVersion, ""); st != http.StatusOK || len(l["value"].([]any)) != 1 {
		t.Errorf("list: %d %v", st, l)
	}
	// Incremental mode sends each resource whole: the VNet redeployed
	// without its subnets would delete the cluster's, refused as in Azure.
	vnetOnly := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/virtualNetworks","apiVersion":"2020-06-01","name":"vnet","location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}]}`
	if st, out, _ := c.do("PUT", deploymentPathOf(rgNet, "vnet")+deployVersion, deployBody(t, vnetOnly, nil)); st != http.StatusCreated {
		t.Fatalf("vnet deployment: %d %v", st, out)
	}
	redeploy := c.awaitDeployment(deploymentPathOf(rgNet, "vnet"))
	e, _ := redeploy["properties"].(map[string]any)["error"].(map[string]any)
	if details, _ := e["details"].([]any); deployState(redeploy) != deployFailed || len(details) != 1 || details[0].(map[string]any)["code"] != "InUseSubnetCannotBeDeleted" {
		t.Errorf("VNet redeployed without its subnets: %v", redeploy)
	}
	// Deleting the deployment leaves what it deployed.
	if st, _, _ := c.do("DELETE", path+deployVersion, ""); st != http.StatusNoContent {
		t.Errorf("delete: %d", st)
	}
	if st, _, _ := c.do("GET", path+deployVersion, ""); st != http.StatusNotFound {
		t.Errorf("deleted deployment still there: %d", st)
	}
	if st, _, _ := c.do("GET", cluster+mlVersion, ""); st != http.StatusOK {
		t.Errorf("cluster after the deployment's delete: %d", st)
	}
}

// assertNoSecret fails if any record under the deployment holds secret.
func assertNoSecret(t *testing.T, c *client, deployment, secret string) {
	t.Helper()
	ctx := context.Background()
	rec, err := c.st.Get(ctx, deployment)
	if err != nil {
		t.Fatal(err)
	}
	recs := []store.Record{rec}
	if err := store.Each(ctx, c.st, store.Query{Scope: deployment}, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("record %s holds the secure value: %s", r.ID, r.Body)
		}
	}
}

// Azure's preflight errors: nothing is stored or deployed.
func TestDeploymentValidateErrors(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	nsg := func(name, dependsOn string) string {
		return `{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2024-05-01","name":"` + name + `","location":"eastus","dependsOn":[` + dependsOn + `]}`
	}
	tmpl := func(params, resources string) string {
		return `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","parameters":{` + params + `},"resources":[` + resources + `]}`
	}
	secret := "Zx-secret-value-41"
	for _, tc := range []struct {
		name, tmpl string
		params     map[string]any
		code, says string
	}{
		{"cycle", tmpl("", nsg("a", `"b"`)+","+nsg("b", `"a"`)), nil, "InvalidTemplate", "Circular dependency detected"},
		{"bad function", tmpl("", `{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2024-05-01","name":"[utcNow()]","location":"eastus"}`), nil,
			"InvalidTemplate", "'utcNow'"},
		{"missing parameter", tmpl(`"nsgName":{"type":"string"}`, nsg("[parameters('nsgName')]", "")), nil, "InvalidTemplate", "nsgName"},
		{"secure value not allowed", tmpl(`"p":{"type":"securestring","allowedValues":["a","b"]}`, nsg("n", "")), map[string]any{"p": secret}, "InvalidTemplate", "'p'"},
		{"unserved type", tmpl("", `{"type":"Microsoft.Web/sites","apiVersion":"2022-09-01","name":"site","location":"eastus"}`), nil,
			"NoRegisteredProviderFound", "Microsoft.Web/sites"},
		// Published for the provider, not for the type: a private DNS zone
		// has versions of its own.
		{"version of another type", tmpl("", `{"type":"Microsoft.Network/privateDnsZones","apiVersion":"2022-05-01","name":"privatelink.blob.core.windows.net","location":"global"}`), nil,
			"NoRegisteredProviderFound", "The supported api-versions are '2018-09-01, 2020-01-01, 2020-06-01, 2024-06-01'"},
		{"unpublished api-version", tmpl("", strings.Replace(nsg("n", ""), "2024-05-01", "2099-01-01", 1)), nil, "NoRegisteredProviderFound", "'2099-01-01'"},
		{"complete mode", "", nil, "CompleteModeNotSupported", "Incremental"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"properties":{"mode":"Complete","template":` + tmpl("", nsg("n", "")) + `}}`
			if tc.tmpl != "" {
				body = deployBody(t, tc.tmpl, tc.params)
			}
			for _, req := range []struct{ method, suffix string }{{"POST", "/validate"}, {"PUT", ""}} {
				st, out, _ := c.do(req.method, deploymentPathOf(rgML, "bad")+req.suffix+deployVersion, body)
				e, _ := out["error"].(map[string]any)
				msg, _ := e["message"].(string)
				if st != http.StatusBadRequest || errCode(out) != tc.code || !strings.Contains(msg, tc.says) {
					t.Errorf("%s%s: %d %v", req.method, req.suffix, st, out)
				}
				if strings.Contains(msg, secret) {
					t.Errorf("the secure value is in the message: %s", msg)
				}
			}
			if st, _, _ := c.do("GET", deploymentPathOf(rgML, "bad")+deployVersion, ""); st != http.StatusNotFound {
				t.Errorf("a refused deployment was stored: %d", st)
			}
		})
	}
	// A valid template validates, listing what it would deploy, and
	// deploys nothing.
	st, out, _ := c.do("POST", deploymentPathOf(rgML, "ok")+"/validate"+deployVersion, deployBody(t, tmpl("", nsg("a", "")+","+nsg("b", `"a"`)), nil))
	if st != http.StatusOK || len(out["properties"].(map[string]any)["validatedResources"].([]any)) != 2 {
		t.Fatalf("validate: %d %v", st, out)
	}
	if st, _, _ := c.do("GET", rgML+"/providers/Microsoft.Network/networkSecurityGroups/a"+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("validate deployed: %d", st)
	}
}

// A resource the service refuses fails the deployment with its error;
// what depends on it is not deployed; what does not is.
func TestDeploymentFailedNamesTheResource(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	rule := func(name string, prio int) string {
		return `{"name":"` + name + `","properties":{"priority":` + strconv.Itoa(prio) + `,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"22"}}`
	}
	tmpl := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2024-05-01","name":"bad","location":"eastus","properties":{"securityRules":[` + rule("r1", 100) + `,` + rule("r2", 100) + `]}},
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"after-bad","location":"eastus","dependsOn":["bad"]},
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"independent","location":"eastus"}]}`
	path := deploymentPathOf(rgML, "fails")
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(t, tmpl, nil)); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	done := c.awaitDeployment(path)
	e, _ := done["properties"].(map[string]any)["error"].(map[string]any)
	details, _ := e["details"].([]any)
	if deployState(done) != deployFailed || e["code"] != "DeploymentFailed" || len(details) != 1 {
		t.Fatalf("deployment: %v", done)
	}
	d := details[0].(map[string]any)
	if d["code"] != "SecurityRuleConflict" || !strings.HasSuffix(d["target"].(string), "/networkSecurityGroups/bad") {
		t.Errorf("detail: %v", d)
	}
	if st, _, _ := c.do("GET", rgML+"/providers/Microsoft.Network/routeTables/after-bad"+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("a resource depending on the failed one was deployed: %d", st)
	}
	if st, _, _ := c.do("GET", rgML+"/providers/Microsoft.Network/routeTables/independent"+netVersion, ""); st != http.StatusOK {
		t.Errorf("an independent resource was not deployed: %d", st)
	}
	// The async operation reports the failure as the SDK reads it.
	st, status, _ := c.do("GET", path+"/operationStatuses/"+done["properties"].(map[string]any)["correlationId"].(string)+deployVersion, "")
	if st != http.StatusOK || status["status"] != deployFailed || errCode(status) != "DeploymentFailed" {
		t.Errorf("operation status: %d %v", st, status)
	}
	// Finished: no cancel.
	if st, out, _ := c.do("POST", path+"/cancel"+deployVersion, ""); st != http.StatusConflict || errCode(out) != "DeploymentCannotBeCanceled" {
		t.Errorf("cancel a finished deployment: %d %v", st, out)
	}
}

// Each resource is written as the caller: the right to deploy is not the
// right to write what the template holds, nor to join another team's
// subnet.
func TestDeploymentRunsAsTheCaller(t *testing.T) {
	admin := newClient(t)
	provisionEnv(t, admin, "")
	body := deployBody(t, quickstart(t, "amlcompute"), map[string]any{
		"workspaceName": "ws1", "clusterName": "cpu2", "adminUserName": "azureuser", "adminUserPassword": clusterPassword,
		"vnetResourceGroupName": "rg-net", "vnetName": "vnet", "subnetName": "compute",
	})
	reader := admin.as("reader", "Reader", rgML)
	if st, out, _ := reader.do("PUT", deploymentPathOf(rgML, "r")+deployVersion, body); st != http.StatusForbidden || errCode(out) != "AuthorizationFailed" {
		t.Errorf("reader: %d %v", st, out)
	}
	// A contributor of rg-ml may deploy there, but the cluster joins a
	// subnet of rg-net, where it has no role: the write fails as a direct
	// PUT would, and nothing is created.
	ml := admin.as("ml-team", "Contributor", rgML)
	path := deploymentPathOf(rgML, "join")
	if st, out, _ := ml.do("PUT", path+deployVersion, body); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	done := ml.awaitDeployment(path)
	e, _ := done["properties"].(map[string]any)["error"].(map[string]any)
	details, _ := e["details"].([]any)
	if deployState(done) != deployFailed || len(details) != 1 || details[0].(map[string]any)["code"] != "LinkedAuthorizationFailed" {
		t.Fatalf("deployment: %v", done)
	}
	if st, _, _ := admin.do("GET", wsML+"/computes/cpu2"+mlVersion, ""); st != http.StatusNotFound {
		t.Errorf("the cluster was created: %d", st)
	}
	// reference() reads only what the caller may read: ml-team cannot
	// read rg-net's VNet through a template's outputs.
	peek := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[],
		"outputs":{"net":{"type":"object","value":"[reference(resourceId('rg-net','Microsoft.Network/virtualNetworks','vnet'))]"}}}`
	path = deploymentPathOf(rgML, "peek")
	if st, out, _ := ml.do("PUT", path+deployVersion, deployBody(t, peek, nil)); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	done = ml.awaitDeployment(path)
	e, _ = done["properties"].(map[string]any)["error"].(map[string]any)
	if deployState(done) != deployFailed || e["code"] != "AuthorizationFailed" || done["properties"].(map[string]any)["outputs"] != nil {
		t.Errorf("reference() to what the caller cannot read: %v", done)
	}
	// A data scientist may deploy the compute template (computes, joining
	// subnets, deployments), but not a template that changes the network:
	// refused before anything is stored.
	ds := admin.as("scientist", "Data Scientist", "/subscriptions/"+sub)
	path = deploymentPathOf(rgML, "ds")
	if st, out, _ := ds.do("PUT", path+deployVersion, body); st != http.StatusCreated {
		t.Fatalf("data scientist: %d %v", st, out)
	}
	if done := ds.awaitDeployment(path); deployState(done) != deploySucceeded {
		t.Errorf("data scientist's deployment: %v", done)
	}
	nsg := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2024-05-01","name":"open","location":"eastus"}]}`
	if st, out, _ := ds.do("PUT", deploymentPathOf(rgNet, "nsg")+deployVersion, deployBody(t, nsg, nil)); st != http.StatusForbidden || errCode(out) != "AuthorizationFailed" ||
		!strings.Contains(out["error"].(map[string]any)["message"].(string), "Microsoft.Network/networkSecurityGroups/write") {
		t.Errorf("data scientist's network template: %d %v", st, out)
	}
	if st, _, _ := admin.do("GET", deploymentPathOf(rgNet, "nsg")+deployVersion, ""); st != http.StatusNotFound {
		t.Errorf("a refused deployment was stored: %d", st)
	}
}

// emptyTemplate deploys nothing.
const emptyTemplate = `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[]}`

// redeployEmpty runs the existing deployment path again with
// emptyTemplate and waits for it to succeed.
func (c *client) redeployEmpty(path string) {
	c.t.Helper()
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(c.t, emptyTemplate, nil)); st != http.StatusOK {
		c.t.Fatalf("redeploy: %d %v", st, out)
	}
	if done := c.awaitDeployment(path); deployState(done) != deploySucceeded {
		c.t.Fatalf("redeploy: %v", done)
	}
}

// runningDeployment is the record of deployment name in rgML as its run
// keeps it while it works.
func runningDeployment(name string) deploymentRecord {
	return deploymentRecord{ID: deploymentPathOf(rgML, name), Name: name, Type: typeDeployment, Properties: deploymentProperties{
		ProvisioningState: deployRunning, Mode: "Incremental", CorrelationID: "c1", Timestamp: time.Now().UTC(), Duration: "PT0S"}}
}

// storeRunningDeployment writes runningDeployment(name) and ops to st in
// one transaction, as a run that has begun (here or on another replica)
// leaves them, and returns the deployment's path.
func storeRunningDeployment(t testing.TB, st store.Store, name string, ops ...deploymentOperation) string {
	t.Helper()
	ctx := context.Background()
	rec := runningDeployment(name)
	if err := st.Update(ctx, func(tx store.Tx) error {
		if _, err := putJSON(ctx, tx, rec.ID, typeDeployment, rec, store.Condition{}); err != nil {
			return err
		}
		for _, op := range ops {
			if _, err := putJSON(ctx, tx, op.ID, typeDeploymentOperation, op, store.Condition{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

// A deployment a stopped server left running ends Failed with the reason
// when the server starts again; a running name refuses a second run.
func TestInterruptedDeploymentEndsFailed(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	path := deploymentPathOf(rgML, "interrupted")
	ctx := context.Background()
	storeRunningDeployment(t, c.st, "interrupted", deploymentOperation{ID: path + "/operations/OP1", OperationID: "OP1", Properties: deploymentOperationProperties{
		ProvisioningOperation: "Create", ProvisioningState: deployRunning, TargetResource: targetReference{ID: wsML + "/computes/x"}}})
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(t, emptyTemplate, nil)); st != http.StatusConflict || errCode(out) != "DeploymentActive" {
		t.Errorf("second run of a running name: %d %v", st, out)
	}
	if st, out, _ := c.do("DELETE", path+deployVersion, ""); st != http.StatusConflict || errCode(out) != "DeploymentActive" {
		t.Errorf("delete of a running deployment: %d %v", st, out)
	}
	// The server starts again on the same store.
	if err := c.srv.recoverDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	st, out, _ := c.do("GET", path+deployVersion, "")
	e, _ := out["properties"].(map[string]any)["error"].(map[string]any)
	if st != http.StatusOK || deployState(out) != deployFailed || !strings.Contains(e["message"].(string), "interrupted") {
		t.Errorf("after restart: %d %v", st, out)
	}
	_, got, _ := c.do("GET", rgML+"/deployments/interrupted/operations/OP1"+deployVersion, "")
	if got["properties"].(map[string]any)["provisioningState"] != deployFailed {
		t.Errorf("operation after restart: %v", got)
	}
	c.redeployEmpty(path) // now it can run again
}

// Cancel stops a running deployment: the compute being provisioned stays
// as far as it got, what depends on it is not deployed, and the
// deployment ends Canceled.
func TestCancelDeployment(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	c.srv.Engine().Stop() // the cluster's provisioning waits
	var cluster map[string]any
	if err := json.Unmarshal([]byte(clusterBody("compute", 0, 2, "PT120S")), &cluster); err != nil {
		t.Fatal(err)
	}
	clusterProperties, _ := json.Marshal(cluster["properties"])
	tmpl := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.MachineLearningServices/workspaces/computes","apiVersion":"2024-04-01","name":"ws1/cpu3","location":"eastus",
		 "properties":` + string(clusterProperties) + `},
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"after-cluster","location":"eastus","dependsOn":["ws1/cpu3"]}]}`
	path := deploymentPathOf(rgML, "slow")
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(t, tmpl, nil)); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	// Wait until the cluster is written and its provisioning waits.
	ops := rgML + "/deployments/slow/operations" + deployVersion
	c.eventually("the cluster is written", c.written(wsML+"/computes/cpu3"+mlVersion))
	// A second run of the name is refused while this one runs.
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(t, tmpl, nil)); st != http.StatusConflict || errCode(out) != "DeploymentActive" {
		t.Errorf("second run of a running deployment: %d %v", st, out)
	}
	// The group cannot go while the deployment runs in it.
	if st, out, _ := c.do("DELETE", rgML+rgVersion, ""); st != http.StatusConflict || errCode(out) != "DeploymentActive" {
		t.Errorf("delete the group of a running deployment: %d %v", st, out)
	}
	if st, _, _ := c.do("POST", path+"/cancel"+deployVersion, ""); st != http.StatusNoContent {
		t.Fatalf("cancel: %d", st)
	}
	var done map[string]any
	c.eventually("the canceled deployment ends", func() bool { // no settle: the engine is stopped
		_, done, _ = c.do("GET", path+deployVersion, "")
		return !deploymentActive(deployState(done))
	})
	if deployState(done) != deployCanceled {
		t.Errorf("canceled deployment: %v", done)
	}
	if st, _, _ := c.do("GET", rgML+"/providers/Microsoft.Network/routeTables/after-cluster"+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("a resource after the canceled one was deployed: %d", st)
	}
	_, list, _ := c.do("GET", ops, "")
	if v, _ := list["value"].([]any); len(v) != 1 || v[0].(map[string]any)["properties"].(map[string]any)["provisioningState"] != deployCanceled {
		t.Errorf("operations: %v", list)
	}
}

// An inline nested deployment into another resource group: its resources
// go there, it gets a deployment record of its own, and the parent reads
// its outputs with reference().
func TestNestedDeploymentOutputs(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	tmpl := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
	"resources":[
		{"type":"Microsoft.Resources/deployments","apiVersion":"2020-06-01","name":"network","resourceGroup":"rg-net",
		 "properties":{"mode":"Incremental","expressionEvaluationOptions":{"scope":"inner"},
		  "template":{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
		   "resources":[{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"rt-nested","location":"eastus"}],
		   "outputs":{"rtId":{"type":"string","value":"[resourceId('Microsoft.Network/routeTables','rt-nested')]"}}}}},
		{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2024-05-01","name":"nsg-after","location":"eastus",
		 "tags":{"routeTable":"[reference('network').outputs.rtId.value]"}}],
	"outputs":{"fromNested":{"type":"string","value":"[reference('network').outputs.rtId.value]"}}}`
	path := deploymentPathOf(rgML, "parent")
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(t, tmpl, nil)); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	done := c.awaitDeployment(path)
	rt := rgNet + "/providers/Microsoft.Network/routeTables/rt-nested"
	outs, _ := done["properties"].(map[string]any)["outputs"].(map[string]any)
	if deployState(done) != deploySucceeded || outs["fromNested"].(map[string]any)["value"] != rt {
		t.Fatalf("deployment: %v", done)
	}
	if st, nested, _ := c.do("GET", deploymentPathOf(rgNet, "network")+deployVersion, ""); st != http.StatusOK || deployState(nested) != deploySucceeded {
		t.Errorf("nested deployment record: %d %v", st, nested)
	}
	if st, _, _ := c.do("GET", rt+netVersion, ""); st != http.StatusOK {
		t.Errorf("nested resource: %d", st)
	}
	if _, nsg, _ := c.do("GET", rgML+"/providers/Microsoft.Network/networkSecurityGroups/nsg-after"+netVersion, ""); nsg["tags"].(map[string]any)["routeTable"] != rt {
		t.Errorf("reference() to the nested outputs: %v", nsg)
	}
	// The group's deployment records go with it.
	if st, out, _ := c.do("DELETE", rgNet+rgVersion, ""); st != http.StatusOK {
		t.Fatalf("delete rg-net: %d %v", st, out)
	}
	if st, out, _ := c.do("GET", deploymentPathOf(rgNet, "network")+deployVersion, ""); st != http.StatusNotFound || errCode(out) != "DeploymentNotFound" {
		t.Errorf("nested deployment record after its group's delete: %d %v", st, out)
	}
}

// The compute instance quickstart, unchanged, with its parameter file's
// schedules: the instance is created in the subnet.
func TestDeployQuickstartComputeInstance(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	raw, err := os.ReadFile(filepath.Join("..", "template", "testdata", "quickstarts", "computeinstance", "azuredeploy.parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Parameters map[string]struct{ Value any }
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	path := deploymentPathOf(rgML, "instance")
	body := deployBody(t, quickstart(t, "computeinstance"), map[string]any{
		"workspaceName": "ws1", "computeName": "ci-tmpl", "objectId": "4a0c5b2e-8f5d-4c1e-9a57-0b1c2d3e4f50",
		"vnetResourceGroupName": "rg-net", "vnetName": "vnet", "subnetName": "compute", "schedules": file.Parameters["schedules"].Value,
	})
	if st, out, _ := c.do("PUT", path+deployVersion, body); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	if done := c.awaitDeployment(path); deployState(done) != deploySucceeded {
		t.Fatalf("deployment: %v", done)
	}
	_, inner := c.compute("ci-tmpl")
	if inner["subnet"].(map[string]any)["id"] != vnetNet+"/subnets/compute" || inner["vmSize"] != "Standard_DS3_v2" {
		t.Errorf("instance: %v", inner)
	}
}

// A server that stops while a deployment runs records it Failed, with
// why; the record survives, and a server started again on the store
// answers it.
func TestStoppedServerEndsDeploymentFailed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tok := adminToken(t, st, dir)
	var logs lockedBuffer // everything both servers log
	serve := func() (*client, func()) {
		s := New(st, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		stop := startBackground(s)
		srv := httptest.NewServer(s)
		return &client{t: t, base: srv.URL, token: tok, st: st, srv: s}, func() { stop(); srv.Close() }
	}
	c, stop := serve()
	provisionEnv(t, c, "")
	c.srv.Engine().Stop() // the cluster's provisioning waits
	path := deploymentPathOf(rgML, "stopped")
	body := deployBody(t, quickstart(t, "amlcompute"), map[string]any{
		"workspaceName": "ws1", "clusterName": "cpu4", "adminUserName": "azureuser", "adminUserPassword": clusterPassword,
		"vnetResourceGroupName": "rg-net", "vnetName": "vnet", "subnetName": "compute",
	})
	if st, out, _ := c.do("PUT", path+deployVersion, body); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	c.eventually("the cluster is written", c.written(wsML+"/computes/cpu4"+mlVersion))
	stop()
	again, stopAgain := serve()
	defer stopAgain()
	st2, out, _ := again.do("GET", path+deployVersion, "")
	e, _ := out["properties"].(map[string]any)["error"].(map[string]any)
	if st2 != http.StatusOK || deployState(out) != deployFailed || !strings.Contains(e["message"].(string), "the server stopped while the deployment ran") {
		t.Errorf("after the stop: %d %v", st2, out)
	}
	if text := logs.String(); !strings.Contains(text, "deployments/stopped") || strings.Contains(text, clusterPassword) {
		t.Errorf("the log does not show the deployment, or shows its secure value:\n%s", text)
	}
}

// lockedBuffer is a log destination that servers' goroutines share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Locks and policy apply to a deployment's resources as to direct writes;
// a ReadOnly lock refuses the deployment itself, a CanNotDelete lock its
// deletion.
func TestDeploymentGovernance(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	const polVersion = "?api-version=2023-04-01"
	noPIP := `{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
		"parameters":{"listOfResourceTypesNotAllowed":{"value":["Microsoft.Network/publicIPAddresses"]}}}}`
	if st, out, _ := c.do("PUT", "/subscriptions/"+sub+"/providers/Microsoft.Authorization/policyAssignments/no-public-ips"+polVersion, noPIP); st != http.StatusCreated {
		t.Fatalf("assign: %d %v", st, out)
	}
	pip := `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/publicIPAddresses","apiVersion":"2024-05-01","name":"pip1","location":"eastus","sku":{"name":"Standard"},
		 "properties":{"publicIPAllocationMethod":"Static"}}]}`
	path := deploymentPathOf(rgML, "pip")
	if st, out, _ := c.do("PUT", path+deployVersion, deployBody(t, pip, nil)); st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, out)
	}
	done := c.awaitDeployment(path)
	e, _ := done["properties"].(map[string]any)["error"].(map[string]any)
	if details, _ := e["details"].([]any); deployState(done) != deployFailed || len(details) != 1 || details[0].(map[string]any)["code"] != "RequestDisallowedByPolicy" {
		t.Errorf("policy: %v", done)
	}
	lock := func(name, level string) {
		if st, out, _ := c.do("PUT", rgML+"/providers/Microsoft.Authorization/locks/"+name+"?api-version=2016-09-01", `{"properties":{"level":"`+level+`"}}`); st != http.StatusCreated {
			t.Fatalf("lock: %d %v", st, out)
		}
	}
	lock("keep", "CanNotDelete")
	if st, out, _ := c.do("DELETE", path+deployVersion, ""); st != http.StatusConflict || errCode(out) != "ScopeLocked" {
		t.Errorf("delete under CanNotDelete: %d %v", st, out)
	}
	lock("frozen", "ReadOnly")
	if st, out, _ := c.do("PUT", deploymentPathOf(rgML, "frozen")+deployVersion, deployBody(t, pip, nil)); st != http.StatusConflict || errCode(out) != "ScopeLocked" {
		t.Errorf("deploy under ReadOnly: %d %v", st, out)
	}
}

// A cancel recorded before a run's first save (by another replica, which
// cannot reach the run) stands: the run's save of Running leaves the
// deployment Canceled, while its later saves of other states are kept.
func TestRunDoesNotUncancelADeployment(t *testing.T) {
	c := newClient(t)
	id := "/subscriptions/" + sub + "/resourcegroups/rg1/providers/Microsoft.Resources/deployments/d1"
	ctx := context.Background()
	state := func() string {
		d, err := readDeployment(ctx, c.st, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Properties.ProvisioningState
	}
	rec := deploymentRecord{ID: id, Name: "d1", Type: typeDeployment, Properties: deploymentProperties{ProvisioningState: deployCanceled, Mode: "Incremental"}}
	run := &deploymentRun{s: c.srv}
	run.save(rec) // as the replica that took the cancel
	rec.Properties.ProvisioningState = deployRunning
	run.save(rec)
	if got := state(); got != deployCanceled {
		t.Fatalf("after the run saved Running over a cancel: %s, want %s", got, deployCanceled)
	}
	rec.Properties.ProvisioningState = deployFailed
	run.save(rec)
	if got := state(); got != deployFailed {
		t.Fatalf("the run's end: %s, want %s", got, deployFailed)
	}
}
