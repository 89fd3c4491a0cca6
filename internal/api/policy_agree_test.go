package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
	"securetrain/internal/store"
)

// TestPolicyAdmissionAndCheckAgree feeds the same environment and policy
// assignment to the server (creating a public-IP cluster with one node)
// and to `check` (issue 11: one policy evaluator). The server refuses the
// compute, or fails its creation because of what Azure ML would create,
// exactly when check reports the policy; before, check knew neither the
// deny-property-value definition nor notScopes below a resource group.
func TestPolicyAdmissionAndCheckAgree(t *testing.T) {
	c := newClient(t)
	probeEnvironment(t, c)
	if st, out, _ := c.do("PUT", "/subscriptions/"+sub+"/resourceGroups/rg-other?api-version=2021-04-01", `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	body := strings.Replace(fixture(t, "amlcompute"), `"enableNodePublicIp":false`, `"enableNodePublicIp":true`, 1)
	body = strings.Replace(body, `"minNodeCount":0`, `"minNodeCount":1`, 1)
	const polVersion = "?api-version=2023-04-01"
	subScope := "/subscriptions/" + sub
	notAllowed := func(types ...string) string {
		list, _ := json.Marshal(types)
		return `"policyDefinitionId":"` + resources.NotAllowedResourceTypesPolicy + `","parameters":{"listOfResourceTypesNotAllowed":{"value":` + string(list) + `}`
	}
	denyProperty := func(typ, field, cond string) string {
		return `"policyDefinitionId":"` + resources.DenyPropertyPolicy + `","parameters":{"resourceType":{"value":"` + typ + `"},"field":{"value":"` + field + `"},` + cond
	}
	const computes = "Microsoft.MachineLearningServices/workspaces/computes"
	for i, tc := range []struct {
		name, scope, props string // props: the assignment's properties, before the closing braces
		notScopes          func(aml resources.AzureMLResources) []string
		denied             bool
	}{
		{"public IPs not allowed in the subscription", subScope, notAllowed("Microsoft.Network/publicIPAddresses"), nil, true},
		{"load balancers not allowed in the group, spelled in lower case", rgProbe, notAllowed("microsoft.network/loadbalancers"), nil, true},
		{"computes not allowed in the group", rgProbe, notAllowed(computes), nil, true},
		{"another group", "/subscriptions/" + sub + "/resourceGroups/rg-other", notAllowed("Microsoft.Network/publicIPAddresses"), nil, false},
		{"DoNotEnforce", subScope, `"enforcementMode":"DoNotEnforce",` + notAllowed("Microsoft.Network/publicIPAddresses"), nil, false},
		{"effect Audit", subScope, notAllowed("Microsoft.Network/publicIPAddresses") + `,"effect":{"value":"Audit"}`, nil, false},
		{"the group excluded", subScope, notAllowed("Microsoft.Network/publicIPAddresses"),
			func(resources.AzureMLResources) []string { return []string{rgProbe} }, false},
		{"the created public IP excluded", subScope, notAllowed("Microsoft.Network/publicIPAddresses"),
			func(a resources.AzureMLResources) []string { return []string{a.PublicIP.String()} }, false},
		{"the created NSG excluded, not the public IP", subScope, notAllowed("Microsoft.Network/networkSecurityGroups", "Microsoft.Network/publicIPAddresses"),
			func(a resources.AzureMLResources) []string { return []string{a.NSG.String()} }, true},
		{"the compute excluded", rgProbe, notAllowed(computes),
			func(a resources.AzureMLResources) []string { return []string{a.Compute.String()} }, false},
		{"no public IP on nodes", subScope, denyProperty(computes, "properties.properties.enableNodePublicIp", `"equals":{"value":true}`), nil, true},
		{"computes in a subnet (it is)", rgProbe, denyProperty(computes, "properties.properties.subnet.id", `"exists":{"value":false}`), nil, false},
		{"a number, as written", subScope, denyProperty(computes, "Properties.Properties.ScaleSettings.MaxNodeCount", `"equals":{"value":4}`), nil, true},
		{"low-priority VMs (it is dedicated)", subScope, denyProperty(computes, "properties.properties.vmPriority", `"equals":{"value":"LowPriority"}`), nil, false},
		{"static public IPs, which Azure ML creates", subScope, denyProperty("Microsoft.Network/publicIPAddresses", "properties.publicIPAllocationMethod", `"equals":{"value":"Static"}`), nil, true},
		{"created NSG rules", rgProbe, denyProperty("Microsoft.Network/networkSecurityGroups", "properties.securityRules", `"exists":{"value":false}`), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compute := fmt.Sprintf("%s/computes/pip%d", wsProbe, i)
			aml := createdFor(t, compute, body)
			props := tc.props + "}"
			if tc.notScopes != nil {
				ns, _ := json.Marshal(tc.notScopes(aml))
				props += `,"notScopes":` + string(ns)
			}
			assignment := tc.scope + "/providers/Microsoft.Authorization/policyAssignments/p" + fmt.Sprint(i)
			if st, out, _ := c.do("PUT", assignment+polVersion, `{"properties":{`+props+`}}`); st != http.StatusCreated {
				t.Fatalf("assign: %d %v", st, out)
			}
			defer func() {
				if st, out, _ := c.do("DELETE", assignment+polVersion, ""); st != http.StatusOK {
					t.Fatalf("delete assignment: %d %v", st, out)
				}
			}()
			checkDenied := c.checkReportsPolicy(compute, body)

			serverDenied := false
			st, out, hdr := c.do("PUT", compute+mlVersion, body, "Content-Type", "application/json")
			switch {
			case st == http.StatusForbidden && errCode(out) == "RequestDisallowedByPolicy":
				serverDenied = true
			case st == http.StatusCreated:
				status := c.wait(hdr.Get("Azure-AsyncOperation"))
				if status["status"] == "Failed" {
					if code := arm.Str(arm.EnsureField(status, "error"), "code"); code != "RequestDisallowedByPolicy" {
						t.Fatalf("creation failed for another reason: %v", status)
					}
					serverDenied = true
				}
				st, out, hdr := c.do("DELETE", compute+mlVersion+"&underlyingResourceAction=Delete", "")
				if st != http.StatusAccepted {
					t.Fatalf("delete compute: %d %v", st, out)
				}
				c.wait(hdr.Get("Azure-AsyncOperation"))
			default:
				t.Fatalf("PUT compute: %d %v", st, out)
			}
			if serverDenied != tc.denied || checkDenied != tc.denied {
				t.Errorf("server refuses: %v, check reports: %v, want %v", serverDenied, checkDenied, tc.denied)
			}
		})
	}
}

// createdFor is what Azure ML creates for the compute body at id.
func createdFor(t testing.TB, id, body string) resources.AzureMLResources {
	t.Helper()
	c, err := computeOf(withID(t, id, body))
	if err != nil {
		t.Fatal(err)
	}
	aml, ok := resources.AzureMLResourcesFor(c)
	if !ok {
		t.Fatalf("%s creates nothing", id)
	}
	return aml
}

func withID(t testing.TB, id, body string) object {
	t.Helper()
	o, err := arm.DecodeBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	o["id"], o["type"], o["name"] = id, typeCompute, id[strings.LastIndexByte(id, '/')+1:]
	return o
}

// checkReportsPolicy runs `check` on the subscription as `securetrain
// export` writes it, with the compute body at id added, and reports
// whether a policy refuses the compute.
func (c *client) checkReportsPolicy(id, body string) bool {
	c.t.Helper()
	compute, _ := json.Marshal(withID(c.t, id, body)) // decoded JSON always encodes
	bodies := [][]byte{compute}
	err := store.Each(context.Background(), c.st, store.Query{Scope: "/subscriptions/" + sub}, func(rec store.Record) error {
		if kindOf(rec.Type) != nil || strings.EqualFold(rec.Type, typeResourceGroup) {
			bodies = append(bodies, rec.Body)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	entries := make([]json.RawMessage, len(bodies))
	for i, b := range bodies {
		if entries[i], err = resources.FileEntry(b); err != nil {
			c.t.Fatal(err)
		}
	}
	doc, _ := json.Marshal(map[string]any{"subscription": sub, "resources": entries})
	snap, err := resources.DecodeFile("export.json", doc)
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		c.t.Fatal(err)
	}
	rep, err := requirements.Check(n, requirements.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, cr := range rep.Computes {
		for _, f := range cr.Findings {
			if f.Code == "policy-denies-network-resources" && strings.EqualFold(f.Resource, id) {
				return true
			}
		}
	}
	return false
}
