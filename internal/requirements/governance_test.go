package requirements

import (
	"strings"
	"testing"
)

func lock(level string) string {
	return `
  - type: Microsoft.Authorization/locks
    resourceGroup: netgroup
    name: keep
    properties: {level: ` + level + `}`
}

func notAllowed(scope, types string, extra string) string {
	rg := "\n    resourceGroup: " + scope
	if scope == "" {
		rg = ""
	}
	return `
  - type: Microsoft.Authorization/policyAssignments` + rg + `
    name: deny-types
    properties:
      displayName: Not allowed resource types
      policyDefinitionId: /providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749
      parameters: {listOfResourceTypesNotAllowed: {value: [` + types + `]}}` + extra
}

func TestLockOnVNetResourceGroup(t *testing.T) { // spec §4.1, §10 #9
	cases := []struct {
		name, extra, computes string
		sev                   Severity // "" = not raised
		mention               string
	}{
		{"CanNotDelete, public-IP cluster", lock("CanNotDelete"), compute("cluster1", "AmlCompute", true, ""), Error, "cannot scale to 0 nodes"},
		{"CanNotDelete, public-IP instance", lock("CanNotDelete"), compute("ci1", "ComputeInstance", true, ""), Warning, "deleting ws1/ci1 will fail"},
		{"ReadOnly, public-IP cluster", lock("ReadOnly"), compute("cluster1", "AmlCompute", true, ""), Error, "ReadOnly lock keep"},
		{"no public IP: nothing is created there", lock("ReadOnly"), compute("cluster1", "AmlCompute", false, "") + "", "", ""},
		{"no lock", "", compute("cluster1", "AmlCompute", true, ""), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extra := c.extra
			if strings.Contains(c.computes, "enableNodePublicIp: false") {
				extra += workspacePE
			}
			rep := checkData(t, "env.yaml", build(map[string]string{"EXTRA": extra, "COMPUTES": c.computes}))
			f := hasCode(rep, "lock-on-vnet-resource-group", c.sev)
			if c.sev == "" {
				if hasCode(rep, "lock-on-vnet-resource-group", Error) != nil || hasCode(rep, "lock-on-vnet-resource-group", Warning) != nil {
					t.Fatalf("raised: %v", codes(rep))
				}
				return
			}
			if f == nil || !strings.Contains(f.Message, c.mention) {
				t.Fatalf("want %s mentioning %q in %v", c.sev, c.mention, codes(rep))
			}
		})
	}
}

func TestPolicyDeniesNetworkResources(t *testing.T) { // spec §4.1, §10 #9: RequestDisallowedByPolicy
	pip := compute("cluster1", "AmlCompute", true, "")
	cases := []struct {
		name, extra, computes string
		raised                bool
		mention               string
	}{
		{"group policy forbids public IPs", notAllowed("netgroup", "Microsoft.Network/publicIPAddresses", ""), pip, true, "Microsoft.Network/publicIPAddresses"},
		{"subscription policy forbids load balancers", notAllowed("", "microsoft.network/loadbalancers", ""), pip, true, "Microsoft.Network/loadBalancers"},
		{"policy forbids computes in the workspace group", notAllowed("mlgroup", "Microsoft.MachineLearningServices/workspaces/computes", ""), pip, true, "cannot be created"},
		{"policy on another group", notAllowed("othergroup", "Microsoft.Network/publicIPAddresses", ""), pip, false, ""},
		{"not enforced", notAllowed("netgroup", "Microsoft.Network/publicIPAddresses", "\n      enforcementMode: DoNotEnforce"), pip, false, ""},
		{"group excluded", notAllowed("", "Microsoft.Network/publicIPAddresses", "\n      notScopes: [/resourceGroups/netgroup]"), pip, false, ""},
		{"no public IP", notAllowed("netgroup", "Microsoft.Network/publicIPAddresses", "") + workspacePE, compute("cluster1", "AmlCompute", false, ""), false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := checkData(t, "env.yaml", build(map[string]string{"EXTRA": c.extra, "COMPUTES": c.computes}))
			f := hasCode(rep, "policy-denies-network-resources", Error)
			if (f != nil) != c.raised {
				t.Fatalf("raised %v, want %v: %v", f != nil, c.raised, codes(rep))
			}
			if f != nil && (!strings.Contains(f.Message, c.mention) || !strings.Contains(f.Message, "RequestDisallowedByPolicy")) {
				t.Errorf("message %q lacks %q", f.Message, c.mention)
			}
		})
	}
}

func TestPolicyEffectAudit(t *testing.T) { // an Audit effect refuses nothing
	audit := notAllowed("netgroup", "Microsoft.Network/publicIPAddresses", "")
	audit = strings.Replace(audit, "value: [Microsoft.Network/publicIPAddresses]}}", "value: [Microsoft.Network/publicIPAddresses]}, effect: {value: Audit}}", 1)
	rep := checkData(t, "env.yaml", build(map[string]string{"EXTRA": audit}))
	if hasCode(rep, "policy-denies-network-resources", Error) != nil {
		t.Errorf("audit-only policy reported: %v", codes(rep))
	}
	deny := strings.Replace(audit, "effect: {value: Audit}", "effect: {value: Deny}", 1)
	if rep := checkData(t, "env.yaml", build(map[string]string{"EXTRA": deny})); hasCode(rep, "policy-denies-network-resources", Error) == nil {
		t.Errorf("deny policy not reported: %v", codes(rep))
	}
}
