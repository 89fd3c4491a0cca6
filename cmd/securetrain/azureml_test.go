package main

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestServerAndVerifierNameWhatAzureMLCreates: the NSG, load balancer and
// public IP the server creates for a public-IP cluster are the ones `flow`
// and `check` explain for the same environment (issue 11: one definition).
func TestServerAndVerifierNameWhatAzureMLCreates(t *testing.T) {
	data, err := os.ReadFile(example("cluster-public-ip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// One node, so that the server creates what Azure ML creates.
	env := writeFile(t, "cluster-one-node.yaml", strings.Replace(string(data), "minNodeCount: 0", "minNodeCount: 1", 1))
	startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", env); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	var created []string
	snap := decodeFile(t, exportTo(t))
	for _, r := range snap.NetworkSecurityGroups {
		if r.Tags["createdBy"] == "AzureML" {
			created = append(created, r.ID.Key())
		}
	}
	for _, r := range snap.PublicIPAddresses {
		if r.Tags["createdBy"] == "AzureML" {
			created = append(created, r.ID.Key())
		}
	}
	for _, r := range snap.LoadBalancers {
		if r.Tags["createdBy"] == "AzureML" {
			created = append(created, r.ID.Key())
		}
	}
	slices.Sort(created)
	if len(created) != 3 {
		t.Fatalf("the server created %v, want an NSG, a public IP and a load balancer", created)
	}

	explained := map[string]bool{}
	collect := func(args ...string) {
		t.Helper()
		code, out, errs := runCLI(t, args...)
		if code == exitBadInput {
			t.Fatalf("%v: %s%s", args, out, errs)
		}
		var doc any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		for _, r := range hopResources(doc) {
			if strings.Contains(r, "/providers/microsoft.network/") && strings.Contains(r, "/aml-") {
				explained[r] = true
			}
		}
	}
	collect("flow", env, "--from", "AzureMachineLearning", "--to", "ws1/cpucluster", "--protocol", "TCP", "--port", "44224", "--format", "json")
	collect("flow", env, "--from", "ws1/cpucluster", "--to", "Storage.westus2", "--protocol", "TCP", "--port", "443", "--format", "json")
	fromFlow := slices.Sorted(maps.Keys(explained))
	if !slices.Equal(fromFlow, created) {
		t.Errorf("flow explains\n  %s\nthe server created\n  %s", strings.Join(fromFlow, "\n  "), strings.Join(created, "\n  "))
	}
	clear(explained)
	collect("check", env, "--format", "json")
	if fromCheck := slices.Sorted(maps.Keys(explained)); !slices.Equal(fromCheck, created) {
		t.Errorf("check explains\n  %s\nthe server created\n  %s", strings.Join(fromCheck, "\n  "), strings.Join(created, "\n  "))
	}
}

// hopResources collects the lower-cased "resource" of every object in a
// JSON document (the hops of flow and check answers).
func hopResources(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["resource"].(string); ok {
			out = append(out, strings.ToLower(r))
		}
		for _, c := range x {
			out = append(out, hopResources(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, hopResources(c)...)
		}
	}
	return out
}
