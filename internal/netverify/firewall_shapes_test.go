package netverify

import (
	"strings"
	"testing"

	"securetrain/internal/ipset"
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
				expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: "8.8.8.8", Protocol: p, Port: 443}), Denied, "no network or application rule matches, denied by default")
				expect(t, flow(t, n, textQuery{From: "vnet/work", To: "Storage.WestUS2", Protocol: p, Port: 443}), Denied, "denied by default")
			}
		})
	}
	// The application rule still allows its names.
	n := compileYAML(t, appOnly(map[string]string{"POLICY": appRulesGroup}))
	expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: "pypi.org", Protocol: "TCP", Port: 443}), Allowed, "application rule pypi")
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
			expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Denied, "denied by default")
			expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: "10.0.2.10", Protocol: "ICMP"}), Denied, "denied by default")
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
	res := flow(t, n, textQuery{From: "10.2.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 23})
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
	res = flow(t, n, textQuery{From: "10.2.1.10", To: "8.8.8.8", Protocol: "UDP", Port: 53})
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
	res := flow(t, compileYAML(t, env), textQuery{From: "10.0.0.10", To: "8.8.8.8", Protocol: "TCP", Port: 443})
	expect(t, res, Denied, "network rule web in collection blocks (priority 300, classic rule collection) denies it")
	if want := "change or remove rule web, or add an allowing network rule in a network rule collection with a priority number below 300"; res.Outcomes[0].Fix != want {
		t.Errorf("fix %q, want %q", res.Outcomes[0].Fix, want)
	}
}

// snatEnv is appOnly with an NSG on subnet servers that admits TCP 443
// and 8443 only from {{ADMIT}}, a private zone naming web.corp.internal
// 10.0.2.10, and the policy's rules and snat settings in {{POLICY}}.
func snatEnv(admit, policy string) string {
	env := appOnly(map[string]string{"POLICY": policy, "EXTRA": `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: servers-nsg
    location: westus2
    properties:
      securityRules:
        - {name: admit, properties: {priority: 100, direction: Inbound, access: Allow, protocol: Tcp, sourceAddressPrefix: ` + admit + `, sourcePortRange: "*", destinationAddressPrefix: "*", destinationPortRanges: ["443", "8443"]}}
        - {name: others, properties: {priority: 200, direction: Inbound, access: Deny, protocol: "*", sourceAddressPrefix: "*", sourcePortRange: "*", destinationAddressPrefix: "*", destinationPortRange: "*"}}
  - type: Microsoft.Network/privateDnsZones
    resourceGroup: rg
    name: corp.internal
    location: global
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: rg
    name: corp.internal/vnet
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet}}
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: rg
    name: corp.internal/web
    properties: {aRecords: [{ipv4Address: 10.0.2.10}]}`})
	return strings.Replace(env, "            addressPrefix: 10.0.2.0/24\n",
		"            addressPrefix: 10.0.2.0/24\n            networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/servers-nsg}\n", 1)
}

// snatRules allows web.corp.internal by an application rule (HTTPS 443)
// and subnet servers by a network rule (TCP 8443).
const snatRules = `
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: pol/rules
    properties:
      priority: 200
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: web
          priority: 100
          action: {type: Allow}
          rules:
            - {ruleType: ApplicationRule, name: intranet, sourceAddresses: [10.0.0.0/24], protocols: [{protocolType: Https, port: 443}], targetFqdns: [web.corp.internal]}
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: net
          priority: 200
          action: {type: Allow}
          rules:
            - {ruleType: NetworkRule, name: servers, ipProtocols: [TCP], sourceAddresses: [10.0.0.0/24], destinationAddresses: [10.0.2.0/24, 8.8.8.8], destinationPorts: ["8443"]}`

// TestFirewallApplicationRulesAlwaysSNAT: issue 18 point 3. Azure's
// article "Azure Firewall SNAT private IP address ranges": "Application
// rules are always SNATed using a transparent proxy whatever the
// destination IP address." and "By default, Azure Firewall doesn't SNAT
// with Network rules when the destination IP address is in a private IP
// address range per IANA RFC 1918 or shared address space per IANA RFC
// 6598." Translated traffic comes from "one of the firewall private IP
// addresses in AzureFirewallSubnet".
func TestFirewallApplicationRulesAlwaysSNAT(t *testing.T) {
	const fwSubnet, clients = "10.0.1.0/26", "10.0.0.0/24"
	web := textQuery{From: "10.0.0.10", To: "web.corp.internal", Protocol: "TCP", Port: 443}
	net := textQuery{From: "10.0.0.10", To: "10.0.2.10", Protocol: "TCP", Port: 8443}
	// An NSG admitting the firewall's subnet admits application-rule
	// traffic, which arrives from a firewall address...
	n := compileYAML(t, snatEnv(fwSubnet, snatRules))
	expect(t, flow(t, n, web), Allowed, "application rule intranet", "translates the source to one of its instance addresses in AzureFirewallSubnet 10.0.1.0/26", "servers-nsg rule admit")
	// ... and not network-rule traffic to a private address, which keeps
	// the client's.
	expect(t, flow(t, n, net), Denied, "network rule servers", "servers-nsg rule others")
	// An NSG admitting the clients: the reverse.
	n = compileYAML(t, snatEnv(clients, snatRules))
	expect(t, flow(t, n, web), Denied, "application rule intranet", "translates the source", "servers-nsg rule others")
	expect(t, flow(t, n, net), Allowed, "network rule servers", "servers-nsg rule admit")
	if strings.Contains(explain(flow(t, n, net)), "translates the source") {
		t.Errorf("network-rule traffic to a private address was translated:\n%s", explain(flow(t, n, net)))
	}
	// An NSG admitting only the firewall's private IP admits what the
	// firewall translated (securetrain's stand-in for its instances), and
	// not what it forwarded untranslated.
	n = compileYAML(t, snatEnv("10.0.1.4", snatRules))
	expect(t, flow(t, n, web), Allowed, "servers-nsg rule admit")
	expect(t, flow(t, n, net), Denied, "servers-nsg rule others")
}

// TestFirewallSNATPrivateRanges: "To configure the firewall to always SNAT
// traffic processed by network rules regardless of the destination
// address, use 255.255.255.255/32 as your private IP address range." and
// "use 0.0.0.0/0 ... With this configuration, Azure Firewall can never
// route traffic directly to the Internet." (Azure Firewall SNAT private IP
// address ranges). Classic firewalls set them in additionalProperties.
func TestFirewallSNATPrivateRanges(t *testing.T) {
	withSNAT := func(ranges string) string {
		return strings.Replace(snatEnv("10.0.1.0/26", snatRules), "      dnsSettings: {enableProxy: true}\n",
			"      dnsSettings: {enableProxy: true}\n      snat: {privateRanges: ["+ranges+"]}\n", 1)
	}
	net := textQuery{From: "10.0.0.10", To: "10.0.2.10", Protocol: "TCP", Port: 8443}
	out := textQuery{From: "10.0.0.10", To: "8.8.8.8", Protocol: "TCP", Port: 8443}
	n := compileYAML(t, withSNAT("255.255.255.255/32"))
	expect(t, flow(t, n, net), Allowed, "network rule servers", "translates the source", "servers-nsg rule admit")
	expect(t, flow(t, n, out), Allowed, "sends it out through its public IP 20.9.9.9")
	n = compileYAML(t, withSNAT("0.0.0.0/0"))
	res := flow(t, n, out)
	expect(t, res, NoOutboundConnectivity, "in Azure Firewall fw's SNAT private ranges (0.0.0.0/0)")
	if !strings.Contains(res.Outcomes[0].Fix, "snat.privateRanges") {
		t.Errorf("fix %q does not name the setting", res.Outcomes[0].Fix)
	}
	// IANAPrivateRanges plus a range: 10.0.2.0/24 stays untranslated.
	n = compileYAML(t, withSNAT("IANAPrivateRanges, 20.0.0.0/8"))
	expect(t, flow(t, n, net), Denied, "servers-nsg rule others")
	// A classic firewall says it in additionalProperties.
	classic := strings.Replace(snatEnv("10.0.1.0/26", ""), "      firewallPolicy: {id: /resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/pol}\n",
		`      additionalProperties: {Network.SNAT.PrivateRanges: "255.255.255.255/32"}
      networkRuleCollections:
        - {name: net, properties: {priority: 100, action: {type: Allow}, rules: [{name: servers, protocols: [TCP], sourceAddresses: ["*"], destinationAddresses: [10.0.2.0/24], destinationPorts: ["8443"]}]}}
`, 1)
	expect(t, flow(t, compileYAML(t, classic), net), Allowed, "network rule servers", "translates the source", "servers-nsg rule admit")
}

// TestFirewallNetworkRuleFQDNsMatchTheirAddresses: issue 18 point 4.
// "Azure Firewall DNS Proxy details": "If and when the client resolves the
// same FQDN to IP2 because of a difference in DNS response, its connection
// attempt won't match the rules on the firewall and is denied." A network
// rule for ntp.ubuntu.com must not allow time.google.com, which needs
// distinct stand-in addresses for distinct external names.
func TestFirewallNetworkRuleFQDNsMatchTheirAddresses(t *testing.T) {
	ntp := `
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: pol/ntp
    properties:
      priority: 200
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: time
          priority: 100
          action: {type: Allow}
          rules:
            - {ruleType: NetworkRule, name: ntp, ipProtocols: [UDP], sourceAddresses: ["*"], destinationFqdns: [ntp.ubuntu.com], destinationPorts: ["123"]}`
	n := compileYAML(t, appOnly(map[string]string{"POLICY": ntp}))
	res := flow(t, n, textQuery{From: "10.0.0.10", To: "ntp.ubuntu.com", Protocol: "UDP", Port: 123})
	expect(t, res, Allowed, "network rule ntp", "stand-in for this name's public address")
	expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: "time.google.com", Protocol: "UDP", Port: 123}), Denied, "denied by default")
	// The stand-ins are distinct, stable and outside every service tag.
	a, b := externalStandIn("ntp.ubuntu.com"), externalStandIn("time.google.com")
	if a == b || a != externalStandIn("NTP.Ubuntu.com.") || !externalStandIns.Contains(a) || !externalStandIns.Contains(b) {
		t.Errorf("stand-ins %s and %s: want distinct addresses in %s, the same for any spelling", ipset.Addr(a), ipset.Addr(b), externalStandIns.Format(1))
	}
	// A client that reached the name's address without the name (an
	// address-only flow) is matched by the address the firewall resolved.
	expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: ipset.Addr(a).String(), Protocol: "UDP", Port: 123}), Allowed, "network rule ntp")
	expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: ipset.Addr(b).String(), Protocol: "UDP", Port: 123}), Denied, "denied by default")
}

// TestNICDNSServersTakePrecedence: issue 18 point 6. "Name resolution for
// resources in Azure virtual networks": "DNS servers specified for a network
// interface … get precedence over DNS servers specified for the virtual
// network". The VNet uses Azure DNS (the zone corp.internal is linked); a
// NIC at 10.0.0.20 names its own server, 10.0.2.53, which its query must
// reach (through the firewall, which has no rule for it).
func TestNICDNSServersTakePrecedence(t *testing.T) {
	nic := `
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: rg
    name: vm-nic
    location: westus2
    properties:
      dnsSettings: {dnsServers: [10.0.2.53], appliedDnsServers: [10.0.2.53], internalDomainNameSuffix: x.internal.cloudapp.net}
      ipConfigurations:
        - {name: c, properties: {privateIPAddress: 10.0.0.20, subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/work}}}`
	n := compileYAML(t, snatEnv("10.0.1.0/26", snatRules)+nic)
	// Another address of the subnet uses the VNet's Azure DNS.
	expect(t, flow(t, n, textQuery{From: "10.0.0.10", To: "web.corp.internal", Protocol: "TCP", Port: 443}), Allowed, "dns: web.corp.internal A 10.0.2.10 private DNS zone")
	res := flow(t, n, textQuery{From: "10.0.0.20", To: "web.corp.internal", Protocol: "TCP", Port: 443})
	expect(t, res, DNSFailure, "the DNS query to 10.0.2.53 (UDP 53) fails with Denied")
	res = flow(t, n, textQuery{From: "/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm-nic", To: "web.corp.internal", Protocol: "TCP", Port: 443})
	expect(t, res, DNSFailure, "the DNS query to 10.0.2.53")
}

// TestFirewallDNATSaysItIsNotModelled: issue 18 point 5. NAT rules "are
// applied before network rules" and add "an implicit corresponding network
// rule to allow the translated traffic" (Configure Azure Firewall rules).
// securetrain does not model DNAT yet: a flow to the firewall's public IP
// must say so, not blame a missing forwarding rule.
func TestFirewallDNATSaysItIsNotModelled(t *testing.T) {
	n := compileYAML(t, appOnly(map[string]string{"POLICY": appRulesGroup}))
	res := flow(t, n, textQuery{From: "8.8.8.8", To: "20.9.9.9", Protocol: "TCP", Port: 443})
	expect(t, res, NoRoute, "arrives at public IP 20.9.9.9", "DNAT (NAT) rules, which securetrain does not model yet")
	if text := explain(res); strings.Contains(text, "no rule forwarding") || !strings.Contains(res.Outcomes[0].Fix, "does not model DNAT") {
		t.Errorf("a DNAT'd flow is explained as a missing forwarding rule, or its fix hides the gap:\n%s", text)
	}
}
