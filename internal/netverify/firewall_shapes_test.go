package netverify

import (
	"strings"
	"testing"
)

// appOnlyFirewall: VNet 10.0.0.0/16, subnet "work" routing 0.0.0.0/0 to an
// Azure Firewall at 10.0.1.4 whose policy {{POLICY}} is filled per test.
// {{EXTRA}} adds resources.
const appOnlyFirewall = envHeader + `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: work
          properties:
            addressPrefix: 10.0.0.0/24
            routeTable: {id: /resourceGroups/rg/providers/Microsoft.Network/routeTables/rt}
        - name: AzureFirewallSubnet
          properties: {addressPrefix: 10.0.1.0/26}
        - name: servers
          properties:
            addressPrefix: 10.0.2.0/24
            routeTable: {id: /resourceGroups/rg/providers/Microsoft.Network/routeTables/rt}
  - type: Microsoft.Network/routeTables
    resourceGroup: rg
    name: rt
    location: westus2
    properties:
      routes:
        - {name: all, properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.1.4}}
        - {name: servers, properties: {addressPrefix: 10.0.2.0/24, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.1.4}}
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: fwip
    location: westus2
    properties: {ipAddress: 20.9.9.9}
  - type: Microsoft.Network/azureFirewalls
    resourceGroup: rg
    name: fw
    location: westus2
    properties:
      ipConfigurations:
        - name: c
          properties:
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/AzureFirewallSubnet}
            publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/fwip}
      firewallPolicy: {id: /resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/pol}
  - type: Microsoft.Network/firewallPolicies
    resourceGroup: rg
    name: pol
    location: westus2
    properties:
      dnsSettings: {enableProxy: true}
{{POLICY}}
{{EXTRA}}
`

// appRulesGroup is a rule collection group with application rules only.
const appRulesGroup = `
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: pol/apps
    properties:
      priority: 200
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: web
          priority: 100
          action: {type: Allow}
          rules:
            - {ruleType: ApplicationRule, name: pypi, sourceAddresses: [10.0.0.0/16], protocols: [{protocolType: Https, port: 443}], targetFqdns: [pypi.org, "*.pythonhosted.org"]}`

func appOnly(fill map[string]string) string {
	s := appOnlyFirewall
	for _, k := range []string{"POLICY", "EXTRA"} {
		s = strings.ReplaceAll(s, "{{"+k+"}}", fill[k])
	}
	return s
}

// TestFirewallWithoutNetworkRules: issue 18 point 1. A firewall whose
// policy has application rules but no network rules crashed the indexed
// network-rule lookup of an address-only flow; it must deny by default.
func TestFirewallWithoutNetworkRules(t *testing.T) {
	emptyShapes := map[string]string{
		"application rules only":  appRulesGroup,
		"a policy without groups": "",
		"an empty group": `
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: pol/empty
    properties: {priority: 300}`,
		"an empty collection": `
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: pol/empty
    properties:
      priority: 300
      ruleCollections:
        - {ruleCollectionType: FirewallPolicyFilterRuleCollection, name: none, priority: 100, action: {type: Allow}, rules: []}`,
	}
	for name, policy := range emptyShapes {
		t.Run(name, func(t *testing.T) {
			n := compileYAML(t, appOnly(map[string]string{"POLICY": policy}))
			for _, p := range []string{"TCP", "UDP", "ICMP", "Any"} {
				expect(t, flow(t, n, Query{From: "10.0.0.10", To: "8.8.8.8", Protocol: p, Port: 443}), Denied, "no network or application rule matches, denied by default")
				expect(t, flow(t, n, Query{From: "vnet/work", To: "Storage.WestUS2", Protocol: p, Port: 443}), Denied, "denied by default")
			}
		})
	}
	// The application rule still allows its names.
	n := compileYAML(t, appOnly(map[string]string{"POLICY": appRulesGroup}))
	expect(t, flow(t, n, Query{From: "10.0.0.10", To: "pypi.org", Protocol: "TCP", Port: 443}), Allowed, "application rule pypi")
}

// TestClassicFirewallEmptyShapes: the classic form of the same shapes: no
// collections, an empty collection, application collections only.
func TestClassicFirewallEmptyShapes(t *testing.T) {
	classic := func(colls string) string {
		env := appOnly(nil)
		env = strings.Replace(env, "      firewallPolicy: {id: /resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/pol}\n", colls, 1)
		return env
	}
	for name, colls := range map[string]string{
		"no collections": "",
		"empty network collection": `      networkRuleCollections:
        - {name: none, properties: {priority: 100, action: {type: Allow}, rules: []}}
`,
		"application collection only": `      applicationRuleCollections:
        - name: web
          properties:
            priority: 100
            action: {type: Allow}
            rules: [{name: pypi, sourceAddresses: ["*"], protocols: [{protocolType: Https, port: 443}], targetFqdns: [pypi.org]}]
`,
	} {
		t.Run(name, func(t *testing.T) {
			n := compileYAML(t, classic(colls))
			expect(t, flow(t, n, Query{From: "10.0.0.10", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Denied, "denied by default")
			expect(t, flow(t, n, Query{From: "10.0.0.10", To: "10.0.2.10", Protocol: "ICMP"}), Denied, "denied by default")
		})
	}
}
