package api

import (
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// TestRegionRulesRefusedOnWrite: the region rules Azure enforces when it
// links network resources refuse the write that breaks them, with the
// finding's code, and store nothing (issue 18 point 7). Azure's articles:
// "Virtual network service endpoint policies for Azure Storage" —
// "Virtual networks must be in the same region as the service endpoint
// policy." and "You can only apply service endpoint policy on a subnet if
// service endpoints are configured for the Azure services listed in the
// policy."; "Azure DNS Private Resolver endpoints and rulesets" — "A
// ruleset can't be linked to a virtual network in another region."
func TestRegionRulesRefusedOnWrite(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "") // VNet vnet in eastus
	put := func(path, body string, want int) {
		t.Helper()
		if st, out, _ := c.do("PUT", path+versionOf(t, path), body); st != want {
			t.Fatalf("PUT %s: %d %v", path, st, out)
		}
	}
	refused := func(what, path, body, code, mention string) {
		t.Helper()
		st, got, msg := c.errorCode("PUT", path+versionOf(t, path), body)
		if st != http.StatusBadRequest || got != code || !strings.Contains(msg, mention) {
			t.Errorf("%s: %d %s %q, want 400 %s mentioning %q", what, st, got, msg, code, mention)
		}
	}
	policy := func(region, services string) string {
		var defs []string
		for i, s := range strings.Split(services, ",") {
			defs = append(defs, `{"name":"d`+string(rune('0'+i))+`","properties":{"service":"`+s+`","serviceResources":["/subscriptions/`+sub+`"]}}`)
		}
		return `{"location":"` + region + `","properties":{"serviceEndpointPolicyDefinitions":[` + strings.Join(defs, ",") + `]}}`
	}
	subnet := func(endpoints, sep string) string {
		return `{"properties":{"addressPrefix":"10.0.2.0/26","defaultOutboundAccess":true,"serviceEndpoints":[` + endpoints +
			`],"serviceEndpointPolicies":[{"id":"` + netNet + `serviceEndpointPolicies/` + sep + `"}]}}`
	}
	small := vnetNet + "/subnets/small"
	put(netNet+"serviceEndpointPolicies/sep-west", policy("westus", "Microsoft.Storage"), http.StatusCreated)
	put(netNet+"serviceEndpointPolicies/sep-east", policy("eastus", "Microsoft.Storage"), http.StatusCreated)

	refused("policy of another region", small, subnet(`{"service":"Microsoft.Storage"}`, "sep-west"),
		"service-endpoint-policy-other-region", "uses service endpoint policy sep-west in region westus, but its VNet is in region eastus")
	refused("policy without the service endpoint", small, subnet("", "sep-east"),
		"service-endpoint-policy-without-endpoint", "has no Microsoft.Storage service endpoint")
	if _, out, _ := c.do("GET", small+netVersion, ""); len(arm.Items(arm.EnsureField(out, "properties"), "serviceEndpointPolicies")) != 0 {
		t.Fatalf("a refused subnet was stored: %v", out)
	}
	put(small, subnet(`{"service":"Microsoft.Storage"}`, "sep-east"), http.StatusOK)
	// The policy, now in use, may not list a service the subnet has no
	// endpoint for.
	refused("policy update for a service the subnet lacks", netNet+"serviceEndpointPolicies/sep-east", policy("eastus", "Microsoft.Storage,Microsoft.Sql"),
		"service-endpoint-policy-without-endpoint", "lists Microsoft.Sql, but has no Microsoft.Sql service endpoint")

	// A forwarding ruleset in eastus, its resolver in vnet.
	resolver := netNet + "dnsResolvers/resolver"
	put(resolver, `{"location":"eastus","properties":{"virtualNetwork":{"id":"`+vnetNet+`"}}}`, http.StatusCreated)
	put(resolver+"/outboundEndpoints/out", `{"location":"eastus","properties":{"subnet":{"id":"`+vnetNet+`/subnets/tiny"}}}`, http.StatusCreated)
	rules := netNet + "dnsForwardingRulesets/rules"
	put(rules, `{"location":"eastus","properties":{"dnsResolverOutboundEndpoints":[{"id":"`+resolver+`/outboundEndpoints/out"}]}}`, http.StatusCreated)
	vnetFar := netNet + "virtualNetworks/vnet-far"
	put(vnetFar, `{"location":"westus","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]}}}`, http.StatusCreated)
	link := func(vnet string) string { return `{"properties":{"virtualNetwork":{"id":"` + vnet + `"}}}` }
	refused("ruleset link to a VNet of another region", rules+"/virtualNetworkLinks/far", link(vnetFar),
		"dns-ruleset-link-other-region", "ruleset rules in region eastus to VNet vnet-far in region westus")
	if st, _, _ := c.do("GET", rules+"/virtualNetworkLinks/far"+versionOf(t, rules+"/virtualNetworkLinks/far"), ""); st != http.StatusNotFound {
		t.Errorf("the refused link exists: %d", st)
	}
	put(rules+"/virtualNetworkLinks/near", link(vnetNet), http.StatusCreated)
}
