package netverify

import (
	"strings"
	"testing"
)

// storageEnv: subnet s (10.0.0.0/24) of vnet1 (westus2) with a NAT gateway
// whose public IP is 20.1.2.3, and storage account st1. {{SUBNET}} adds to
// the subnet, {{LOCATION}} is the account's region, {{ACCOUNT}} its
// properties, {{EXTRA}} more resources.
const storageEnv = envHeader + `
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: natip
    location: westus2
    properties: {ipAddress: 20.1.2.3}
  - type: Microsoft.Network/natGateways
    resourceGroup: rg
    name: nat
    location: westus2
    properties: {publicIpAddresses: [{id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/natip}]}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet1
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: s
          properties:
            addressPrefix: 10.0.0.0/24
            natGateway: {id: /resourceGroups/rg/providers/Microsoft.Network/natGateways/nat}
            {{SUBNET}}
        - name: pe
          properties: {addressPrefix: 10.0.1.0/24}
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: rg
    name: st1
    location: {{LOCATION}}
    properties: {{ACCOUNT}}
{{EXTRA}}`

const (
	storageEndpointSubnet = "serviceEndpoints: [{service: Microsoft.Storage}]"
	storageVNetRule       = "virtualNetworkRules: [{id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}]"
	// storagePrivateEndpoint: a blob endpoint in subnet pe at 10.0.1.4,
	// its zone linked to vnet1.
	storagePrivateEndpoint = `
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: rg
    name: st1-blob
    location: westus2
    properties:
      subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/pe}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1, groupIds: [blob]}}]
      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.0.1.4}}]
  - type: Microsoft.Network/privateDnsZones
    resourceGroup: rg
    name: privatelink.blob.core.windows.net
    location: global
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: rg
    name: privatelink.blob.core.windows.net/st1
    properties: {aRecords: [{ipv4Address: 10.0.1.4}]}
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: rg
    name: privatelink.blob.core.windows.net/vnet1
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1}}`
)

// TestStorageAccountNetworkRules: a storage account's own network rules
// decide whether a request to its public endpoint is served (issue 12
// point 8). Azure's article "Configure Azure Storage firewalls and virtual
// networks": "Turning on firewall rules for your storage account blocks
// incoming requests for data by default, unless the requests originate
// from a service operating within an Azure Virtual Network (VNet) or from
// allowed public IP addresses"; "IP network rules have no effect on
// requests originating from the same Azure region as the storage account.
// Use Virtual network rules to allow same-region requests"; with
// publicNetworkAccess Disabled "Traffic will be allowed only through a
// private endpoint"; "You don't need any firewall access rules to allow
// traffic for private endpoints of a storage account". Before, every one
// of these flows was Allowed.
func TestStorageAccountNetworkRules(t *testing.T) {
	cases := []struct {
		name, subnet, location, account, extra string
		want                                   Verdict
		rule                                   string // the storage hop's Rule, "" for none
		mentions                               []string
	}{
		{"open account", "", "westus2", "{}", "", Allowed, "", nil},
		{"deny by default, no rule", storageEndpointSubnet, "westus2", "{networkAcls: {defaultAction: Deny}}", "", Denied,
			"networkAcls.defaultAction", []string{"virtualNetworkRules does not list subnet vnet1/s", "add subnet vnet1/s to storage account"}},
		{"deny, the subnet in virtualNetworkRules", storageEndpointSubnet, "westus2", "{networkAcls: {defaultAction: Deny, " + storageVNetRule + "}}", "", Allowed,
			"networkAcls.virtualNetworkRules", []string{"virtualNetworkRules lists subnet vnet1/s"}},
		{"deny, a VNet rule but no service endpoint", "", "westus2", "{networkAcls: {defaultAction: Deny, " + storageVNetRule + "}}", "", Denied,
			"networkAcls.defaultAction", []string{"from its own region (westus2), where ipRules have no effect", "NAT gateway nat"}},
		{"deny, same region, the NAT address in ipRules", "", "westus2", "{networkAcls: {defaultAction: Deny, ipRules: [{value: 20.1.2.3}]}}", "", Denied,
			"networkAcls.defaultAction", []string{"IP network rules have no effect on requests originating from the same Azure region"}},
		{"deny, other region, the NAT address in ipRules", "", "eastus", "{networkAcls: {defaultAction: Deny, ipRules: [{value: 20.1.2.0/24}]}}", "", Allowed,
			"networkAcls.ipRules", []string{"ipRules cover"}},
		{"deny, other region, another address in ipRules", "", "eastus", "{networkAcls: {defaultAction: Deny, bypass: AzureServices, ipRules: [{value: 20.1.9.9}]}}", "", Denied,
			"networkAcls.ipRules", []string{"ipRules do not cover", "bypass AzureServices admits trusted Azure services, not the compute"}},
		{"public access disabled", storageEndpointSubnet, "westus2", "{publicNetworkAccess: Disabled, networkAcls: {defaultAction: Deny, " + storageVNetRule + "}}", "", Denied,
			"publicNetworkAccess", []string{"publicNetworkAccess is Disabled", "through a private endpoint"}},
		{"public access disabled, reached through its private endpoint", "", "westus2", "{publicNetworkAccess: Disabled}", storagePrivateEndpoint, Allowed,
			"", []string{"10.0.1.4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := strings.NewReplacer("{{SUBNET}}", c.subnet, "{{LOCATION}}", c.location, "{{ACCOUNT}}", c.account, "{{EXTRA}}", c.extra).Replace(storageEnv)
			n := compileYAML(t, env)
			res := flow(t, n, textQuery{From: "10.0.0.10", To: "st1.blob.core.windows.net", Protocol: "TCP", Port: 443})
			expect(t, res, c.want, c.mentions...)
			var rules []string
			for _, o := range res.Outcomes {
				for _, h := range o.Hops {
					if h.Kind == HopStorage {
						rules = append(rules, h.Rule)
					}
				}
			}
			if c.rule == "" && len(rules) > 0 || c.rule != "" && (len(rules) == 0 || rules[0] != c.rule) {
				t.Errorf("storage hops decided by %v, want %q\n%s", rules, c.rule, explain(res))
			}
			// The same flow given by address is not attributable to the
			// account: its rules do not apply (as service endpoint policies).
			if c.want == Denied {
				byAddr := flow(t, n, textQuery{From: "10.0.0.10", To: res.Outcomes[0].Sample.Destination.String(), Protocol: "TCP", Port: 443})
				expect(t, byAddr, Allowed)
			}
		})
	}
}

// storageFirewall routes subnet s through Azure Firewall fw (10.0.2.4,
// public IP 20.9.9.9), whose network rule allows TCP 443 anywhere.
const storageFirewall = `
  - type: Microsoft.Network/routeTables
    resourceGroup: rg
    name: rt
    location: westus2
    properties:
      routes: [{name: all, properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.2.4}}]
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
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/AzureFirewallSubnet}
            publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/fwip}
      networkRuleCollections:
        - name: out
          properties:
            priority: 100
            action: {type: Allow}
            rules: [{name: https, protocols: [TCP], sourceAddresses: ["*"], destinationAddresses: ["*"], destinationPorts: ["443"]}]`

// TestStorageRulesBehindFirewall: behind Azure Firewall the request leaves
// by the firewall's public IP, which an ipRules entry of an account in
// another region admits; the subnet's own NAT gateway is not on the path.
func TestStorageRulesBehindFirewall(t *testing.T) {
	for _, c := range []struct {
		ipRule string
		want   Verdict
		rule   string
	}{{"20.9.9.9", Allowed, "ipRules cover"}, {"20.1.2.3", Denied, "ipRules do not cover"}} {
		env := strings.NewReplacer("{{SUBNET}}", "routeTable: {id: /resourceGroups/rg/providers/Microsoft.Network/routeTables/rt}", "{{LOCATION}}", "eastus",
			"{{ACCOUNT}}", "{networkAcls: {defaultAction: Deny, ipRules: [{value: "+c.ipRule+"}]}}", "{{EXTRA}}", storageFirewall,
			"        - name: pe\n", "        - {name: AzureFirewallSubnet, properties: {addressPrefix: 10.0.2.0/26}}\n        - name: pe\n").Replace(storageEnv)
		n := compileYAML(t, env)
		res := flow(t, n, textQuery{From: "10.0.0.10", To: "st1.blob.core.windows.net", Protocol: "TCP", Port: 443})
		expect(t, res, c.want, "Azure Firewall fw", "20.9.9.9", c.rule)
	}
}
