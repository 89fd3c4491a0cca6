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

// TestFirewallFixHintsTellTheTruth: issue 18 point 9. Azure's article
// "Azure Firewall rule processing logic" (Inherited rules): "Network rule
// collections inherited from a parent policy are always prioritized above
// network rule collections that are defined as part of your new policy."
// A child policy cannot precede a parent's deny, so the fix must not offer
// a lower priority number; and verdicts are spelled "denies".
func TestFirewallFixHintsTellTheTruth(t *testing.T) {
	n := compileYAML(t, hub(map[string]string{"ROUTES": toFirewall}))
	res := flow(t, n, Query{From: "10.2.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 23})
	expect(t, res, Denied, "network rule telnet in collection deny-telnet (priority 100, parent policy base, group platform) denies it")
	fix := res.Outcomes[0].Fix
	for _, want := range []string{"parent policy base", "change or remove it in base", "no rule of child can precede it"} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix %q lacks %q", fix, want)
		}
	}
	if strings.Contains(fix, "priority number") || strings.Contains(explain(res), "denys") {
		t.Errorf("the answer offers a priority the child cannot have, or misspells the verdict:\n%s", explain(res))
	}
	// A deny in the firewall's own policy: a collection before it in the
	// same group, or a group before the group, can allow the flow.
	deny := `
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: child/blocks
    properties:
      priority: 150
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: no-dns
          priority: 200
          action: {type: Deny}
          rules:
            - {ruleType: NetworkRule, name: dns, ipProtocols: [UDP], sourceAddresses: ["*"], destinationAddresses: ["*"], destinationPorts: ["53"]}`
	n = compileYAML(t, hub(map[string]string{"ROUTES": toFirewall, "EXTRA": deny}))
	res = flow(t, n, Query{From: "10.2.1.10", To: "8.8.8.8", Protocol: "UDP", Port: 53})
	expect(t, res, Denied, "network rule dns in collection no-dns (priority 200, policy child, group blocks) denies it")
	if want := "change or remove rule dns, or add an allowing network rule in group blocks in a collection with a priority number below 200, or in a group of policy child with a priority number below 150"; res.Outcomes[0].Fix != want {
		t.Errorf("fix %q, want %q", res.Outcomes[0].Fix, want)
	}
}

// TestClassicFirewallFixNamesTheRuleKind: a classic deny can be preceded by
// a collection of the same kind with a lower priority number.
func TestClassicFirewallFixNamesTheRuleKind(t *testing.T) {
	colls := `      networkRuleCollections:
        - name: blocks
          properties:
            priority: 300
            action: {type: Deny}
            rules: [{name: web, protocols: [TCP], sourceAddresses: ["*"], destinationAddresses: ["*"], destinationPorts: ["443"]}]
`
	env := strings.Replace(appOnly(nil), "      firewallPolicy: {id: /resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/pol}\n", colls, 1)
	res := flow(t, compileYAML(t, env), Query{From: "10.0.0.10", To: "8.8.8.8", Protocol: "TCP", Port: 443})
	expect(t, res, Denied, "network rule web in collection blocks (priority 300, classic rule collection) denies it")
	if want := "change or remove rule web, or add an allowing network rule in a network rule collection with a priority number below 300"; res.Outcomes[0].Fix != want {
		t.Errorf("fix %q, want %q", res.Outcomes[0].Fix, want)
	}
}
