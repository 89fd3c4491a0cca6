package main

import (
	"path/filepath"
	"strings"
	"testing"
)

const exampleSub = "00000000-0000-0000-0000-000000000001"

func templateFile(name string) string { return filepath.Join("testdata", "templates", name) }

// The compute cluster quickstart, evaluated offline into the example's
// workspace and subnet, passes check; its findings point at the template.
func TestCheckTemplateQuickstart(t *testing.T) {
	code, rep := checkJSON(t, "--template", templateFile("amlcompute.json"), "--parameters", templateFile("cluster.parameters.json"),
		"--subscription", exampleSub, "--resource-group", "mlgroup", "--env", example("cluster-public-ip.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %+v", code, rep)
	}
	var found bool
	for _, c := range rep.Computes {
		if c.Name == "ws1/cpu-tmpl" {
			found = true
			if c.Status != "ok" || c.Position != templateFile("amlcompute.json")+":85" || !strings.EqualFold(c.ID,
				"/subscriptions/"+exampleSub+"/resourceGroups/mlgroup/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/cpu-tmpl") {
				t.Errorf("deployed cluster: %+v", c)
			}
		}
	}
	if !found || len(rep.Computes) != 2 {
		t.Errorf("computes: %+v", rep.Computes)
	}
}

// A template that replaces the subnet's NSG with one denying all inbound
// traffic: check reports what it would break, at the template's lines.
func TestCheckTemplateBreaksTheCluster(t *testing.T) {
	code, rep := checkJSON(t, "--template", templateFile("strict-subnet.json"), "--subscription", exampleSub, "--resource-group", "mygroup",
		"--env", example("cluster-public-ip.yaml"))
	if code != 1 || len(rep.Computes) != 1 || rep.Computes[0].Status == "ok" {
		t.Fatalf("exit %d: %+v", code, rep)
	}
	var blocked bool
	for _, f := range rep.Computes[0].Findings {
		blocked = blocked || f.Code == "required-inbound-blocked"
	}
	if !blocked {
		t.Errorf("findings: %+v", rep.Computes[0].Findings)
	}
}

// Bad input: named, exit 2, nothing checked.
func TestCheckTemplateBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--template", templateFile("amlcompute.json"), "--subscription", exampleSub, "--resource-group", "mlgroup", "--env", example("cluster-public-ip.yaml")},
			"the value for the template parameter 'workspaceName' is not provided"},
		{[]string{"--template", templateFile("amlcompute.json"), "--parameters", templateFile("cluster.parameters.json"), "--subscription", exampleSub, "--resource-group", "elsewhere"},
			"give --location"},
		{[]string{"--template", templateFile("amlcompute.json"), "--resource-group", "mlgroup"}, "--subscription and --resource-group"},
		{[]string{"--parameters", templateFile("cluster.parameters.json"), example("cluster-public-ip.yaml")}, "go with --template"},
		{[]string{"--template", templateFile("amlcompute.json"), example("cluster-public-ip.yaml")}, "give no other environment file"},
		// The cluster's subnet is not in the environment: named at the template's line.
		{[]string{"--template", templateFile("amlcompute.json"), "--parameters", templateFile("cluster.parameters.json"), "--subscription", exampleSub,
			"--resource-group", "mlgroup", "--location", "westus2"}, templateFile("amlcompute.json") + ":85: compute ws1/cpu-tmpl"},
	} {
		code, out, errs := runCLI(t, append([]string{"check"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.says) || out != "" {
			t.Errorf("%v: exit %d\n%s%s", tc.args, code, out, errs)
		}
	}
}
