package main

import (
	"strings"
	"testing"
)

// deploy sends a template to the server's deployments API and shows each
// resource as it goes: the compute cluster quickstart deploys into the
// example's workspace and subnet.
func TestDeployQuickstartWithProgress(t *testing.T) {
	startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", example("cluster-public-ip.yaml")); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	code, out, errs := runCLI(t, "deploy", "--template", templateFile("amlcompute.json"), "--parameters", templateFile("cluster.parameters.json"),
		"--subscription", testSub, "--resource-group", "mlgroup")
	if code != 0 {
		t.Fatalf("deploy: %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"deployment amlcompute: Accepted", "Succeeded  Microsoft.MachineLearningServices/workspaces/computes ws1/cpu-tmpl",
		"deployment amlcompute: Succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errs, "Not-a-real-secret-1") {
		t.Errorf("the secure parameter is shown:\n%s%s", out, errs)
	}
	if code, out, errs := runCLI(t, "get", "/subscriptions/"+testSub+"/resourceGroups/mlgroup/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/cpu-tmpl"); code != 0 {
		t.Errorf("the deployed cluster: %d %s %s", code, out, errs)
	}
}

// A failing resource: exit 1 and the resource's own error; a template the
// server refuses: exit 2, nothing deployed.
func TestDeployFailuresExplained(t *testing.T) {
	startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", example("cluster-public-ip.yaml")); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	rule := `{"name":"%s","properties":{"priority":100,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"22"}}`
	conflict := writeFile(t, "conflict.json", `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/networkSecurityGroups","apiVersion":"2024-05-01","name":"twice","location":"westus2","properties":{"securityRules":[`+
		strings.Replace(rule, "%s", "a", 1)+`,`+strings.Replace(rule, "%s", "b", 1)+`]}}]}`)
	code, out, errs := runCLI(t, "deploy", "--template", conflict, "--subscription", testSub, "--resource-group", "mygroup")
	if code != 1 || !strings.Contains(out, "Failed     Microsoft.Network/networkSecurityGroups twice") || !strings.Contains(out, "SecurityRuleConflict") ||
		!strings.Contains(errs, "DeploymentFailed") {
		t.Errorf("failing deployment: %d\n%s%s", code, out, errs)
	}
	cycle := writeFile(t, "cycle.json", `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"a","location":"westus2","dependsOn":["b"]},
		{"type":"Microsoft.Network/routeTables","apiVersion":"2024-05-01","name":"b","location":"westus2","dependsOn":["a"]}]}`)
	code, out, errs = runCLI(t, "deploy", "--template", cycle, "--subscription", testSub, "--resource-group", "mygroup")
	if code != 2 || !strings.Contains(errs, "InvalidTemplate") || !strings.Contains(errs, "Circular dependency detected") || !strings.Contains(errs, "nothing was deployed") {
		t.Errorf("refused template: %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "deploy", "--template", cycle, "--resource-group", "mygroup", "--subscription", ""); code != 2 || !strings.Contains(errs, "--subscription") {
		t.Errorf("no subscription: %d %s", code, errs)
	}
	empty := writeFile(t, "empty.json", `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[]}`)
	code, out, errs = runCLI(t, "deploy", "--template", empty, "--subscription", testSub, "--resource-group", "mygroup", "--name", "quick", "--no-wait")
	if code != 0 || !strings.Contains(out, "deployment quick: Accepted") || !strings.Contains(out, "securetrain get /subscriptions/"+testSub+"/resourcegroups/mygroup/providers/Microsoft.Resources/deployments/quick") {
		t.Errorf("--no-wait: %d\n%s%s", code, out, errs)
	}
}
