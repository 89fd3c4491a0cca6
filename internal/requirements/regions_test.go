package requirements

import (
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// Issue 18 point 7: the region rules Azure enforces at create time are
// errors in `check`, each raised by the environment that breaks the rule
// and not by the closest one that keeps it.

// TestVNetInOtherRegion: Azure's article "Create an Azure Batch pool in a
// virtual network": "The VNet must be in the same subscription and region
// as the Batch account you use to create your pool." A compute's nodes are
// created in the compute's region (spec §4.4: "Set cluster location to
// that region").
func TestVNetInOtherRegion(t *testing.T) {
	inRegion := func(name, typ, region string) string {
		return strings.Replace(compute(name, typ, true, ""), "location: westus2", "location: "+region, 1)
	}
	rep := checkData(t, "env.yaml", build(map[string]string{"COMPUTES": inRegion("cluster1", "AmlCompute", "eastus")}))
	f := hasCode(rep, "vnet-other-region", Error)
	if f == nil || !strings.Contains(f.Message, "ws1/cluster1 is in region eastus") || !strings.Contains(f.Message, "vnet1 in region westus2") ||
		f.Fix == "" || !strings.HasPrefix(f.Position, "env.yaml:") {
		t.Fatalf("cluster in eastus with a westus2 VNet: %v %+v", codes(rep), f)
	}
	if rep.Computes[0].Status != WillFail {
		t.Errorf("status %s", rep.Computes[0].Status)
	}
	// A cluster in another region than its workspace, with a VNet of its
	// own region, is fine (the VNet follows the cluster, not the workspace).
	other := strings.Replace(string(build(map[string]string{"COMPUTES": inRegion("cluster1", "AmlCompute", "eastus")})),
		"name: vnet1\n    location: westus2", "name: vnet1\n    location: East US", 1)
	if rep := checkData(t, "env.yaml", []byte(other)); hasCode(rep, "vnet-other-region", Error) != nil {
		t.Errorf("reported for a VNet of the cluster's region written \"East US\": %v", codes(rep))
	}
	// Without a location of its own, a compute is in its workspace's region.
	noLocation := strings.Replace(compute("cluster1", "AmlCompute", true, ""), "    location: westus2\n", "", 1)
	if rep := checkData(t, "env.yaml", build(map[string]string{"COMPUTES": noLocation})); hasCode(rep, "vnet-other-region", Error) != nil {
		t.Errorf("reported for a cluster in its workspace's region: %v", codes(rep))
	}
	// A compute instance is held to it too.
	rep = checkData(t, "env.yaml", build(map[string]string{"COMPUTES": inRegion("ci1", "ComputeInstance", "eastus")}))
	if hasCode(rep, "vnet-other-region", Error) == nil {
		t.Errorf("instance in eastus with a westus2 VNet not reported: %v", codes(rep))
	}
}

// rulesetEnv is a DNS resolver in VNet hub (westus2) whose forwarding
// ruleset, in region rulesetRegion, is linked to vnet1 (westus2).
func rulesetEnv(rulesetRegion string) []byte {
	return build(map[string]string{"EXTRA": `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: netgroup
    name: hub
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.1.0.0/16]}
      subnets: [{name: dns-out, properties: {addressPrefix: 10.1.0.0/28}}]
  - type: Microsoft.Network/dnsResolvers
    resourceGroup: netgroup
    name: resolver
    location: westus2
    properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/hub}}
  - type: Microsoft.Network/dnsResolvers/outboundEndpoints
    resourceGroup: netgroup
    name: resolver/out
    location: westus2
    properties: {subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/hub/subnets/dns-out}}
  - type: Microsoft.Network/dnsForwardingRulesets
    resourceGroup: netgroup
    name: rules
    location: ` + rulesetRegion + `
    properties:
      dnsResolverOutboundEndpoints: [{id: /resourceGroups/netgroup/providers/Microsoft.Network/dnsResolvers/resolver/outboundEndpoints/out}]
  - type: Microsoft.Network/dnsForwardingRulesets/virtualNetworkLinks
    resourceGroup: netgroup
    name: rules/vnet1
    properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}}`})
}

// TestRulesetLinkInOtherRegion: Azure's article "Azure DNS Private
// Resolver endpoints and rulesets": "A ruleset can't be linked to a
// virtual network in another region."
func TestRulesetLinkInOtherRegion(t *testing.T) {
	rep := checkData(t, "env.yaml", rulesetEnv("eastus"))
	f := hasCode(rep, "dns-ruleset-link-other-region", Error)
	if f == nil || !strings.HasSuffix(f.Resource, "/dnsForwardingRulesets/rules/virtualNetworkLinks/vnet1") ||
		!strings.Contains(f.Message, "ruleset rules in region eastus to VNet vnet1 in region westus2") || f.Fix == "" || f.Position == "" {
		t.Fatalf("not reported: %v %+v", codes(rep), f)
	}
	if !rep.HasErrors() {
		t.Error("the report has no errors")
	}
	if rep := checkData(t, "env.yaml", rulesetEnv("westus2")); hasCode(rep, "dns-ruleset-link-other-region", Error) != nil {
		t.Errorf("reported for a ruleset of the VNet's region: %v", codes(rep))
	}
}

// sepEnv attaches service endpoint policy sep (in sepRegion, with one
// definition of service) to subnet s of vnet1 (westus2), whose service
// endpoints are endpoints.
func sepEnv(sepRegion, service, endpoints string) []byte {
	return build(map[string]string{"EXTRA": `
  - type: Microsoft.Network/serviceEndpointPolicies
    resourceGroup: netgroup
    name: sep
    location: ` + sepRegion + `
    properties:
      serviceEndpointPolicyDefinitions:
        - name: d
          properties: {service: ` + service + `, serviceResources: [/subscriptions/00000000-0000-0000-0000-000000000001]}`,
		"SUBNET": `serviceEndpoints: [` + endpoints + `]
            serviceEndpointPolicies: [{id: /resourceGroups/netgroup/providers/Microsoft.Network/serviceEndpointPolicies/sep}]`})
}

// TestServiceEndpointPolicyRules: Azure's article "Virtual network service
// endpoint policies for Azure Storage", Limitations: "Virtual networks
// must be in the same region as the service endpoint policy." and "You can
// only apply service endpoint policy on a subnet if service endpoints are
// configured for the Azure services listed in the policy."
func TestServiceEndpointPolicyRules(t *testing.T) {
	for _, c := range []struct {
		name, region, service, endpoints string
		code                             string // "" when the environment keeps both rules
		mention                          string
	}{
		{"no service endpoint", "westus2", "Microsoft.Storage", "", "service-endpoint-policy-without-endpoint", "lists Microsoft.Storage, but has no Microsoft.Storage service endpoint"},
		{"another service's endpoint", "westus2", "Microsoft.Storage", "{service: Microsoft.Sql}", "service-endpoint-policy-without-endpoint", "no Microsoft.Storage service endpoint"},
		{"an alias needs the storage endpoint", "westus2", "Global", "", "service-endpoint-policy-without-endpoint", "no Microsoft.Storage service endpoint"},
		{"policy in another region", "eastus", "Microsoft.Storage", "{service: Microsoft.Storage}", "service-endpoint-policy-other-region", "policy sep in region eastus, but its VNet is in region westus2"},
		{"storage endpoint", "westus2", "Microsoft.Storage", "{service: Microsoft.Storage}", "", ""},
		{"global storage endpoint", "westus2", "Microsoft.Storage", "{service: Microsoft.Storage.Global}", "", ""},
		{"alias with the storage endpoint", "West US 2", "Global", "{service: Microsoft.Storage}", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := checkData(t, "env.yaml", sepEnv(c.region, c.service, c.endpoints))
			var got []Finding
			for _, f := range rep.Findings {
				if strings.HasPrefix(f.Code, "service-endpoint-policy-") {
					got = append(got, f)
				}
			}
			if c.code == "" {
				if len(got) != 0 {
					t.Fatalf("reported: %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Code != c.code || got[0].Severity != Error || !strings.Contains(got[0].Message, c.mention) ||
				!strings.HasSuffix(got[0].Resource, "/virtualNetworks/vnet1/subnets/s") {
				t.Fatalf("findings %+v, want one %s mentioning %q", got, c.code, c.mention)
			}
		})
	}
}

// TestRegionAdmissionScope: the control plane refuses a write for the
// region rules it breaks on what it holds (a VNet's subnets, a ruleset's
// links) or on what points at it (the subnets using a policy), not for
// another resource's.
func TestRegionAdmissionScope(t *testing.T) {
	const sub = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/netgroup/providers/Microsoft.Network/"
	for _, c := range []struct {
		data    []byte
		written string
		code    string // "" when the write is not refused
	}{
		{sepEnv("westus2", "Microsoft.Storage", ""), "virtualNetworks/vnet1", "service-endpoint-policy-without-endpoint"},
		{sepEnv("westus2", "Microsoft.Storage", ""), "serviceEndpointPolicies/sep", "service-endpoint-policy-without-endpoint"},
		{sepEnv("eastus", "Microsoft.Storage", "{service: Microsoft.Storage}"), "virtualNetworks/vnet1", "service-endpoint-policy-other-region"},
		{sepEnv("westus2", "Microsoft.Storage", ""), "virtualNetworks/hub", ""},
		{rulesetEnv("eastus"), "dnsForwardingRulesets/rules", "dns-ruleset-link-other-region"},
		{rulesetEnv("eastus"), "dnsForwardingRulesets/rules/virtualNetworkLinks/vnet1", "dns-ruleset-link-other-region"},
		{rulesetEnv("eastus"), "dnsResolvers/resolver", ""},
		{rulesetEnv("westus2"), "dnsForwardingRulesets/rules", ""},
	} {
		snap, err := resources.DecodeFile("env.yaml", c.data)
		if err != nil {
			t.Fatal(err)
		}
		written, err := arm.ParseID(sub+c.written, "")
		if err != nil {
			t.Fatal(err)
		}
		fs := RegionAdmission(snap, written)
		switch {
		case c.code == "" && len(fs) != 0:
			t.Errorf("write of %s refused: %+v", c.written, fs)
		case c.code != "" && (len(fs) != 1 || fs[0].Code != c.code):
			t.Errorf("write of %s: %+v, want one %s", c.written, fs, c.code)
		}
	}
}
