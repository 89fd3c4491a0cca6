package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"securetrain/internal/arm"
)

func planTemplate(body string, params map[string]any) (*Plan, error) {
	tp, err := Parse([]byte(`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", ` + body + `}`))
	if err != nil {
		return nil, err
	}
	return tp.Plan(testDeployment, params)
}

func names(rs []*Resource) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func waves(p *Plan) string {
	var out []string
	for _, w := range p.Waves {
		out = append(out, names(w))
	}
	return strings.Join(out, " | ")
}

func mustPlan(t *testing.T, body string, params map[string]any) *Plan {
	t.Helper()
	p, err := planTemplate(body, params)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantInvalid(t *testing.T, err error, code, want string) {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) || te.Code != code || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %s containing %q", err, code, want)
	}
}

func TestConditionFalseResourceIsSkippedAndDependenciesOnItDropped(t *testing.T) {
	p := mustPlan(t, `"resources": [
	  {"condition": false, "type": "Microsoft.Network/virtualNetworks", "apiVersion": "2020-06-01", "name": "vnet", "location": "eastus"},
	  {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2020-06-01", "name": "nsg", "location": "eastus"},
	  {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "rt", "location": "eastus",
	   "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks', 'vnet')]", "nsg"]}
	]`, nil)
	if names(p.Resources) != "nsg,rt" || names(p.Skipped) != "vnet" {
		t.Fatalf("resources %s skipped %s, want nsg,rt and vnet", names(p.Resources), names(p.Skipped))
	}
	if got := waves(p); got != "nsg | rt" {
		t.Errorf("waves %s, want nsg | rt (the dependency on vnet dropped)", got)
	}
}

func TestDependsOnByIDNameTypeAndNameAndCopyLoop(t *testing.T) {
	p := mustPlan(t, `"resources": [
	  {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2020-06-01", "name": "nsg1", "location": "eastus"},
	  {"copy": {"name": "nics", "count": 3}, "type": "Microsoft.Network/networkInterfaces", "apiVersion": "2020-06-01",
	   "name": "[concat('nic', copyIndex())]", "location": "eastus"},
	  {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "rt", "location": "eastus",
	   "dependsOn": ["nics", "Microsoft.Network/networkSecurityGroups/nsg1"]},
	  {"type": "Microsoft.Network/natGateways", "apiVersion": "2020-06-01", "name": "nat", "location": "eastus",
	   "dependsOn": ["[resourceId('Microsoft.Network/routeTables', 'rt')]"]}
	]`, nil)
	if got := waves(p); got != "nsg1,nic0,nic1,nic2 | rt | nat" {
		t.Errorf("waves %s", got)
	}
	rt := p.Resources[4]
	if names(rt.DependsOn) != "nsg1,nic0,nic1,nic2" {
		t.Errorf("rt depends on %s", names(rt.DependsOn))
	}
}

func TestCircularDependencyDetected(t *testing.T) {
	_, err := planTemplate(`"resources": [
	  {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2020-06-01", "name": "a", "dependsOn": ["c"]},
	  {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "b", "dependsOn": ["a"]},
	  {"type": "Microsoft.Network/natGateways", "apiVersion": "2020-06-01", "name": "c", "dependsOn": ["b"]}
	]`, nil)
	wantInvalid(t, err, CodeInvalidTemplate, "Circular dependency detected on resources: '"+rgID+"/providers/Microsoft.Network/networkSecurityGroups/a' -> '"+rgID+"/providers/Microsoft.Network/natGateways/c' -> '"+rgID+"/providers/Microsoft.Network/routeTables/b' -> '"+rgID+"/providers/Microsoft.Network/networkSecurityGroups/a'")
}

func TestDependsOnUnknownResourceIsRefused(t *testing.T) {
	_, err := planTemplate(`"resources": [
	  {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "b", "dependsOn": ["nope"]}]`, nil)
	wantInvalid(t, err, CodeInvalidTemplate, "dependsOn of resource 'b': the resource 'nope' is not defined in the template")
}

type fakeRefs struct {
	values map[string]any
	asked  []string
}

func (f *fakeRefs) Reference(id arm.ID, apiVersion string, full bool) (any, error) {
	f.asked = append(f.asked, fmt.Sprintf("%s@%s full=%v", id, apiVersion, full))
	v, ok := f.values[id.Key()]
	if !ok {
		return nil, fmt.Errorf("%s is not deployed", id)
	}
	return v, nil
}

func TestReferenceCreatesImplicitDependencyAndIsResolvedDuringDeployment(t *testing.T) {
	p := mustPlan(t, `"resources": [
	  {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2020-06-01", "name": "ip", "location": "eastus"},
	  {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "rt", "location": "eastus",
	   "properties": {"routes": [{"name": "r", "properties": {"addressPrefix": "[concat(reference(resourceId('Microsoft.Network/publicIPAddresses', 'ip'), '2020-06-01').ipAddress, '/32')]", "nextHopType": "Internet"}}]}}
	],
	"outputs": {"ip": {"type": "string", "value": "[reference('ip').ipAddress]"}}`, nil)
	rt := p.Resources[1]
	if names(rt.DependsOn) != "ip" || !rt.Deferred || p.Resources[0].Deferred {
		t.Fatalf("rt depends on %q deferred %v; ip deferred %v", names(rt.DependsOn), rt.Deferred, p.Resources[0].Deferred)
	}
	if _, err := rt.Body(nil); !IsDeferred(err) {
		t.Errorf("Body(nil) = %v, want the deferred error", err)
	}
	ipID := rgID + "/providers/Microsoft.Network/publicIPAddresses/ip"
	refs := &fakeRefs{values: map[string]any{arm.FoldKey(ipID): map[string]any{"ipAddress": "20.1.2.3"}}}
	body, err := rt.Body(refs)
	if err != nil {
		t.Fatal(err)
	}
	route := arm.Items(arm.Field(body, "properties"), "routes")[0]
	if got := arm.Str(arm.Field(route, "properties"), "addressPrefix"); got != "20.1.2.3/32" {
		t.Errorf("addressPrefix %q, want 20.1.2.3/32", got)
	}
	if len(refs.asked) != 1 || refs.asked[0] != ipID+"@2020-06-01 full=false" {
		t.Errorf("resolver asked %v", refs.asked)
	}
	outs, err := p.Outputs(refs)
	if err != nil || len(outs) != 1 || outs[0].Value != "20.1.2.3" {
		t.Errorf("outputs %+v, %v", outs, err)
	}
}

func TestSerialCopyDeploysBatchAfterBatch(t *testing.T) {
	p := mustPlan(t, `"resources": [
	  {"copy": {"name": "rts", "count": 5, "mode": "serial", "batchSize": 2}, "type": "Microsoft.Network/routeTables",
	   "apiVersion": "2020-06-01", "name": "[format('rt{0}', copyIndex(1))]", "location": "eastus"}]`, nil)
	if got := waves(p); got != "rt1,rt2 | rt3,rt4 | rt5" {
		t.Errorf("waves %s", got)
	}
}

func TestPropertyCopyAndNullPropertiesLeftOut(t *testing.T) {
	p := mustPlan(t, `"parameters": {"prefixes": {"type": "array", "defaultValue": ["10.0.0.0/24", "10.0.1.0/24"]}},
	"resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2020-06-01", "name": "vnet", "location": "eastus",
	  "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "dhcpOptions": "[json('null')]",
	    "copy": [{"name": "subnets", "count": "[length(parameters('prefixes'))]",
	      "input": {"name": "[concat('sn', copyIndex('subnets'))]", "properties": {"addressPrefix": "[parameters('prefixes')[copyIndex('subnets')]]"}}}]}}]`, nil)
	body, err := p.Resources[0].Body(nil)
	if err != nil {
		t.Fatal(err)
	}
	props := arm.Field(body, "properties")
	if _, present := props["dhcpOptions"]; present {
		t.Error("dhcpOptions (null) was not left out")
	}
	subnets := arm.Items(props, "subnets")
	if len(subnets) != 2 || arm.Str(subnets[1], "name") != "sn1" || arm.Str(arm.Field(subnets[1], "properties"), "addressPrefix") != "10.0.1.0/24" {
		t.Errorf("subnets %v", subnets)
	}
}

func TestNestedDeploymentInnerScopeInAnotherGroup(t *testing.T) {
	tp, err := Parse([]byte(`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
	"parameters": {"vnetName": {"type": "string", "defaultValue": "hub"}},
	"resources": [
	  {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2020-06-01", "name": "nsg", "location": "eastus"},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2020-06-01", "name": "network", "resourceGroup": "rg-net",
	   "dependsOn": ["nsg"],
	   "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
	     "parameters": {"name": {"value": "[parameters('vnetName')]"}},
	     "template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
	       "parameters": {"name": {"type": "string"}},
	       "variables": {"where": "[resourceGroup().location]"},
	       "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2020-06-01", "name": "[parameters('name')]",
	         "location": "[variables('where')]", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}}],
	       "outputs": {"vnetId": {"type": "string", "value": "[resourceId('Microsoft.Network/virtualNetworks', parameters('name'))]"},
	                   "group": {"type": "string", "value": "[resourceGroup().name]"}}}}},
	  {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "rt", "location": "eastus",
	   "tags": {"vnet": "[reference('network').outputs.vnetId.value]"}}
	],
	"outputs": {"vnet": {"type": "string", "value": "[reference('network').outputs.vnetId.value]"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := testDeployment
	d.GroupLocation = func(sub, group string) (string, bool) { return "westeurope", group == "rg-net" }
	p, err := tp.Plan(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := waves(p); got != "nsg | network | rt" {
		t.Errorf("waves %s, want nsg | network | rt (rt waits for the deployment it references)", got)
	}
	nd := p.Resources[1].Nested
	if nd == nil || nd.Plan == nil || nd.Scope != "inner" || nd.ResourceGroup != "rg-net" {
		t.Fatalf("nested %+v", nd)
	}
	if p.Resources[1].ID.String() != "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/Microsoft.Resources/deployments/network" {
		t.Errorf("deployment id %s", p.Resources[1].ID)
	}
	vnet := nd.Plan.Resources[0]
	wantID := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub"
	if vnet.ID.String() != wantID {
		t.Errorf("vnet id %s, want %s", vnet.ID, wantID)
	}
	body, err := vnet.Body(nil)
	if err != nil || body["location"] != "westeurope" {
		t.Errorf("vnet body %v %v, want the location of rg-net", body, err)
	}
	inner, err := nd.Plan.Outputs(nil)
	if err != nil || len(inner) != 2 || inner[0].Value != wantID || inner[1].Value != "rg-net" {
		t.Errorf("nested outputs %+v %v", inner, err)
	}
	depID := p.Resources[1].ID.Key()
	refs := &fakeRefs{values: map[string]any{depID: map[string]any{"outputs": map[string]any{"vnetId": map[string]any{"type": "String", "value": wantID}}}}}
	outs, err := p.Outputs(refs)
	if err != nil || len(outs) != 1 || outs[0].Value != wantID {
		t.Errorf("outputs %+v %v", outs, err)
	}
}

func TestNestedParametersFromReferenceArePlannedDuringDeployment(t *testing.T) {
	p := mustPlan(t, `"resources": [
	  {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2020-06-01", "name": "ip", "location": "eastus"},
	  {"type": "Microsoft.Resources/deployments", "apiVersion": "2020-06-01", "name": "inner",
	   "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
	     "parameters": {"addr": {"value": "[reference('ip').ipAddress]"}},
	     "template": {"parameters": {"addr": {"type": "string"}}, "resources": [
	       {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "[concat('rt-', replace(parameters('addr'), '.', '-'))]"}]}}}]`, nil)
	dep := p.Resources[1]
	if names(dep.DependsOn) != "ip" || dep.Nested.Plan != nil || !dep.Deferred {
		t.Fatalf("deployment depends on %q, plan %v, deferred %v", names(dep.DependsOn), dep.Nested.Plan, dep.Deferred)
	}
	refs := &fakeRefs{values: map[string]any{arm.FoldKey(rgID + "/providers/Microsoft.Network/publicIPAddresses/ip"): map[string]any{"ipAddress": "20.1.2.3"}}}
	sub, err := dep.Nested.Resolve(refs)
	if err != nil || names(sub.Resources) != "rt-20-1-2-3" {
		t.Errorf("resolved nested plan %v %v", sub, err)
	}
}

func TestRefusedFeaturesAndModes(t *testing.T) {
	tp, err := Parse([]byte(`{"resources": []}`))
	if err != nil {
		t.Fatal(err)
	}
	d := testDeployment
	d.Mode = "Complete"
	_, err = tp.Plan(d, nil)
	wantInvalid(t, err, CodeCompleteModeNotSupported, "Incremental mode only")

	_, err = planTemplate(`"resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2020-06-01", "name": "n",
	  "properties": {"mode": "Complete", "template": {"resources": []}}}]`, nil)
	wantInvalid(t, err, CodeCompleteModeNotSupported, "nested deployment 'n' uses Complete mode")

	_, err = planTemplate(`"resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2020-06-01", "name": "n",
	  "properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.com/t.json"}}}]`, nil)
	wantInvalid(t, err, CodeLinkedTemplateNotSupported, "linked templates are not supported; put the template inline")

	for _, c := range []struct{ body, want string }{
		{`"functions": [], "resources": []`, "user-defined functions (the template member 'functions') are not supported"},
		{`"languageVersion": "2.0", "resources": {}`, "languageVersion 2.0 templates"},
		{`"resource": []`, "could not find member 'resource' on object of type 'Template'"},
		{`"resources": [{"type": "Microsoft.Network/routeTables", "name": "rt"}]`, "the resource is missing the required property 'apiVersion'"},
		{`"resources": [{"type": "Microsoft.Authorization/locks", "apiVersion": "2016-09-01", "name": "l", "scope": "x"}]`, "extension resources (scope) are not supported"},
		{`"resources": [{"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "rt", "resourceGroup": "other"}]`, "resourceGroup is only allowed on nested deployments"},
		{`"resources": [{"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "rt"}, {"type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "RT"}]`, "is defined more than once in the template"},
		{`"resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2020-06-01", "name": "n", "properties": {"mode": "Incremental", "template": {"variables": {"a": 1}, "resources": []}}}]`, "can't declare its own variables; set properties.expressionEvaluationOptions.scope to inner"},
	} {
		_, err := planTemplate(c.body, nil)
		wantInvalid(t, err, CodeInvalidTemplate, c.want)
	}
	tp, err = Parse([]byte(`{"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "resources": []}`))
	wantInvalid(t, err, CodeInvalidTemplate, "only resource-group deployments")
	if tp != nil {
		t.Error("a subscription template was parsed")
	}
}

func TestAzureLimits(t *testing.T) {
	var params, outputs []string
	for i := range MaxParameters + 1 {
		params = append(params, fmt.Sprintf(`"p%d": {"type": "int", "defaultValue": 1}`, i))
	}
	for i := range MaxOutputs + 1 {
		outputs = append(outputs, fmt.Sprintf(`"o%d": {"type": "int", "value": 1}`, i))
	}
	for _, c := range []struct{ body, want string }{
		{`"parameters": {` + strings.Join(params, ",") + `}, "resources": []`, "declares 257 parameters; the limit is 256"},
		{`"resources": [], "outputs": {` + strings.Join(outputs, ",") + `}`, "declares 65 outputs; the limit is 64"},
		{`"resources": [
		  {"copy": {"name": "a", "count": 500}, "type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "[concat('a', copyIndex())]"},
		  {"copy": {"name": "b", "count": 301}, "type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "[concat('b', copyIndex())]"}]`,
			"declares 801 resources (copies included); the limit is 800"},
		{`"resources": [{"copy": {"name": "a", "count": 801}, "type": "Microsoft.Network/routeTables", "apiVersion": "2020-06-01", "name": "[concat('a', copyIndex())]"}]`,
			"copy count is 801; it must be from 0 to 800"},
	} {
		_, err := planTemplate(c.body, nil)
		wantInvalid(t, err, CodeInvalidTemplate, c.want)
	}
	big := `{"resources": [], "metadata": {"pad": "` + strings.Repeat("x", MaxTemplateBytes) + `"}}`
	_, err := Parse([]byte(big))
	wantInvalid(t, err, CodeInvalidTemplate, "the limit is 4194304 bytes (4 MB)")
}

func TestOutputsConditionCopyAndSecure(t *testing.T) {
	p := mustPlan(t, `"parameters": {"pw": {"type": "securestring", "defaultValue": "s"}}, "resources": [],
	"outputs": {
	  "skipped": {"condition": "[equals(1, 2)]", "type": "string", "value": "x"},
	  "list": {"type": "array", "copy": {"count": 2, "input": "[concat('i', copyIndex())]"}},
	  "secret": {"type": "securestring", "value": "[parameters('pw')]"},
	  "wrong": {"type": "int", "value": "[parameters('pw')]", "condition": false}
	}`, nil)
	outs, err := p.Outputs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || jsonText(t, outs[0].Value) != `["i0","i1"]` || outs[1].Name != "secret" || !outs[1].Secure {
		t.Errorf("outputs %+v", outs)
	}
	_, err = planTemplate(`"resources": [], "outputs": {"o": {"type": "int", "value": "text"}}`, nil)
	wantInvalid(t, err, CodeInvalidTemplate, "output 'o' is declared int but its value is String")
}

// The bodies of a wave are deployed at the same time: evaluating them
// concurrently must give what evaluating them one by one gives (run with
// -race).
func TestBodiesEvaluateConcurrently(t *testing.T) {
	p := quickstart(t, "advanced", "azuredeploy.json", map[string]any{"workspaceName": "ws1", "location": "eastus", "privateEndpointType": "AutoApproval",
		"storageAccountBehindVNet": "true"}, "")
	want := map[*Resource]string{}
	for _, r := range p.Resources {
		if r.Nested == nil {
			want[r] = jsonText(t, body(t, r))
		}
	}
	errs := make(chan error, 8*len(want))
	var wg sync.WaitGroup
	for range 8 {
		for r, w := range want {
			wg.Go(func() {
				b, err := r.Body(nil)
				if err != nil {
					errs <- err
					return
				}
				if got, _ := json.Marshal(b); string(got) != w {
					errs <- fmt.Errorf("%s: %s, want %s", r.Name, got, w)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
