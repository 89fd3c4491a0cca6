package netverify

import (
	"strings"
	"testing"
)

// hubSpoke: spoke VNet (10.2.0.0/16) with a compute subnet, hub VNet
// (10.3.0.0/16) with Azure Firewall (DNS proxy, policy) and a subnet for
// private endpoints, peered both ways. {{…}} placeholders as in baseEnv.
const hubSpoke = envHeader + `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: spoke
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.2.0.0/16]}
      dhcpOptions: {dnsServers: [{{DNS}}]}
      subnets:
        - name: compute
          properties:
            addressPrefix: 10.2.1.0/24
            routeTable: {id: /resourceGroups/rg/providers/Microsoft.Network/routeTables/rt}
            {{SUBNET}}
      virtualNetworkPeerings:
        - name: to-hub
          properties:
            remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}
            allowVirtualNetworkAccess: {{SPOKE_ACCESS}}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: hub
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.3.0.0/16]}
      subnets:
        - name: AzureFirewallSubnet
          properties: {addressPrefix: 10.3.0.0/26}
        - name: pe
          properties: {addressPrefix: 10.3.1.0/24}
      virtualNetworkPeerings:
{{HUB_PEERING}}
  - type: Microsoft.Network/routeTables
    resourceGroup: rg
    name: rt
    location: westus2
    properties:
      routes: [{{ROUTES}}]
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
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub/subnets/AzureFirewallSubnet}
            publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/fwip}
      firewallPolicy: {id: /resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/child}
  - type: Microsoft.Network/firewallPolicies
    resourceGroup: rg
    name: base
    location: westus2
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: base/platform
    properties:
      priority: 500
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: deny-telnet
          priority: 100
          action: {type: Deny}
          rules:
            - {ruleType: NetworkRule, name: telnet, ipProtocols: [TCP], sourceAddresses: ["*"], destinationAddresses: ["*"], destinationPorts: ["23"]}
  - type: Microsoft.Network/firewallPolicies
    resourceGroup: rg
    name: child
    location: westus2
    properties:
      basePolicy: {id: /resourceGroups/rg/providers/Microsoft.Network/firewallPolicies/base}
      dnsSettings: {enableProxy: true}
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: rg
    name: child/apps
    properties:
      priority: 100
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: web
          priority: 300
          action: {type: Allow}
          rules:
            - {ruleType: ApplicationRule, name: pypi, sourceAddresses: [10.2.0.0/16], protocols: [{protocolType: Https, port: 443}], targetFqdns: ["*.pythonhosted.org", pypi.org]}
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: net
          priority: 400
          action: {type: Allow}
          rules:
            - {ruleType: NetworkRule, name: anytcp, ipProtocols: [TCP], sourceAddresses: [10.2.0.0/16], destinationAddresses: ["*"], destinationPorts: ["23", "8080"]}
            - {ruleType: NetworkRule, name: aml-udp, ipProtocols: [UDP], sourceAddresses: [10.2.0.0/16], destinationAddresses: [AzureMachineLearning], destinationPorts: ["5831"]}
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: rg
    name: stdata
    location: westus2
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: rg
    name: stother
    location: westus2
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: rg
    name: pe-blob
    location: westus2
    properties:
      subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stdata, groupIds: [blob]}}]
      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.3.1.4}}]
  - type: Microsoft.Network/privateDnsZones
    resourceGroup: rg
    name: privatelink.blob.core.windows.net
    location: global
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: rg
    name: privatelink.blob.core.windows.net/hub
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}}
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: rg
    name: privatelink.blob.core.windows.net/stdata
    properties: {aRecords: [{ipv4Address: 10.3.1.4}]}
{{EXTRA}}
`

const hubPeering = `        - name: to-spoke
          properties:
            remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke}`

func hub(fill map[string]string) string {
	def := map[string]string{"DNS": "", "SUBNET": "", "SPOKE_ACCESS": "true", "HUB_PEERING": hubPeering, "ROUTES": "", "EXTRA": ""}
	for k, v := range fill {
		def[k] = v
	}
	s := hubSpoke
	for k, v := range def {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

const toFirewall = `{name: all, properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.3.0.4}},`

func TestPeeringRoutes(t *testing.T) { // spec §8.2: peering routes exist only when both sides peer
	n := compileYAML(t, hub(nil))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.3.1.10", Protocol: "TCP", Port: 443}), Allowed, "VNetPeering", "subnet hub/pe")
	// The private endpoint's own /32 route, through the peering.
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.3.1.4", Protocol: "TCP", Port: 443}), Allowed, "InterfaceEndpoint", "private endpoint pe-blob")
	n = compileYAML(t, hub(map[string]string{"HUB_PEERING": "        []"}))
	for _, to := range []string{"10.3.1.10", "10.3.1.4"} {
		expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: to, Protocol: "TCP", Port: 443}), NoRoute, "10.0.0.0/8 -> None")
	}
	// Blocking VNet access changes only the VirtualNetwork tag: with no NSG
	// on the path the traffic flows (issue 12 point 4; see
	// TestPeeringVNetAccessOnlyChangesTag).
	n = compileYAML(t, hub(map[string]string{"SPOKE_ACCESS": "false"}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.3.1.10", Protocol: "TCP", Port: 443}), Allowed, "allowVirtualNetworkAccess=false")
}

func TestFirewallPolicyOrder(t *testing.T) { // spec §5.1: base policy first; network rules before application rules
	n := compileYAML(t, hub(map[string]string{"ROUTES": toFirewall}))
	// The base policy's deny beats the child's allow for port 23.
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 23}), Denied, "deny-telnet", "policy base")
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 8080}), Allowed, "anytcp", "20.9.9.9")
	// Application rules need a name; the network rule collection (400) is
	// evaluated before the application one (300) regardless of priority.
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "files.pythonhosted.org", Protocol: "TCP", Port: 443}), Allowed, "application rule pypi")
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Denied, "denied by default")
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "AzureMachineLearning", Protocol: "UDP", Port: 5831}), Allowed, "aml-udp")
}

func TestDNSPrivateZoneLinkAndShadowing(t *testing.T) { // spec §7
	// The zone is linked to the hub only: from the spoke the storage name
	// resolves publicly (through the privatelink CNAME) to Storage.
	n := compileYAML(t, hub(nil))
	res := flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443})
	expect(t, res, Allowed, "stdata.privatelink.blob.core.windows.net", "Storage.WestUS2")
	// Linked to the spoke: the private endpoint's address.
	link := `
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: rg
    name: privatelink.blob.core.windows.net/spoke
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke}}`
	n = compileYAML(t, hub(map[string]string{"EXTRA": link}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443}), Allowed, "10.3.1.4", "private endpoint pe-blob")
	// A storage account without a private endpoint is not shadowed: its
	// public name has no privatelink CNAME.
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stother.blob.core.windows.net", Protocol: "TCP", Port: 443}), Allowed, "ServiceTag")
}

func TestDNSCustomServers(t *testing.T) { // spec §7: custom DNS must forward to 168.63.129.16
	// A custom DNS server that is not Azure DNS: private zones are not seen.
	n := compileYAML(t, hub(map[string]string{"DNS": "10.2.1.53"}))
	res := flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443})
	expect(t, res, Allowed, "DNS server 10.2.1.53", "private zones are not consulted", "Storage.WestUS2")
	// The DNS query itself must get through: a route to None for the
	// server's address breaks resolution.
	n = compileYAML(t, hub(map[string]string{"DNS": "10.3.0.4", "ROUTES": `{name: nodns, properties: {addressPrefix: 10.3.0.0/26, nextHopType: None}},`}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443}),
		DNSFailure, "DNS query to 10.3.0.4 (UDP 53) fails with NoRoute", "nodns")
	// The firewall's DNS proxy resolves with Azure DNS in the hub, where the
	// zone is linked.
	n = compileYAML(t, hub(map[string]string{"DNS": "10.3.0.4"}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443}),
		Allowed, "DNS proxy of Azure Firewall fw", "10.3.1.4")
}

func TestServiceEndpointPolicy(t *testing.T) { // spec §6
	sep := `
  - type: Microsoft.Network/serviceEndpointPolicies
    resourceGroup: rg
    name: sep
    location: westus2
    properties:
      serviceEndpointPolicyDefinitions:
        - name: d
          properties: {service: Microsoft.Storage, serviceResources: [/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stother]}`
	n := compileYAML(t, hub(map[string]string{"EXTRA": sep, "SUBNET": `serviceEndpoints: [{service: Microsoft.Storage}]
            serviceEndpointPolicies: [{id: /resourceGroups/rg/providers/Microsoft.Network/serviceEndpointPolicies/sep}]`}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stother.blob.core.windows.net", Protocol: "TCP", Port: 443}), Allowed, "service endpoint Microsoft.Storage")
	// stdata resolves publicly from the spoke (zone not linked) and is not
	// in the policy.
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443}), Denied, "service endpoint policies")
}

func TestLoadBalancerInboundAndReturnPath(t *testing.T) { // spec §5.2
	lb := `
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: lbip
    location: westus2
    sku: {name: Basic}
    properties: {ipAddress: 20.8.8.8}
  - type: Microsoft.Network/loadBalancers
    resourceGroup: rg
    name: lb
    location: westus2
    properties:
      frontendIPConfigurations: [{name: fe, properties: {publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/lbip}}}]
      backendAddressPools: [{name: pool}]
      loadBalancingRules:
        - name: https
          properties:
            protocol: Tcp
            frontendPort: 443
            backendPort: 443
            frontendIPConfiguration: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/frontendIPConfigurations/fe}
            backendAddressPool: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/backendAddressPools/pool}
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: rg
    name: web
    location: westus2
    properties:
      ipConfigurations:
        - name: ipc
          properties:
            privateIPAddress: 10.2.1.20
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke/subnets/compute}
            loadBalancerBackendAddressPools: [{id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/backendAddressPools/pool}]`
	n := compileYAML(t, hub(map[string]string{"EXTRA": lb}))
	// Without an outbound rule the backend leaves by default outbound access.
	expect(t, flow(t, n, textQuery{From: "10.2.1.20", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Allowed, "default outbound access")
	// With one, through the load balancer's public IP (spec §8.3 precedence).
	withOutbound := strings.Replace(lb, "      loadBalancingRules:", `      outboundRules:
        - name: out
          properties:
            protocol: All
            backendAddressPool: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/backendAddressPools/pool}
            frontendIPConfigurations: [{id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/frontendIPConfigurations/fe}]
      loadBalancingRules:`, 1)
	no := compileYAML(t, hub(map[string]string{"EXTRA": withOutbound}))
	expect(t, flow(t, no, textQuery{From: "10.2.1.20", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Allowed, "outbound rule of load balancer lb", "20.8.8.8")
	// A Basic SKU frontend and no NSG on the subnet: allowed, with a
	// warning, reply by 0.0.0.0/0 -> Internet (Standard SKU: see
	// TestStandardPublicIPClosedByDefault).
	expect(t, flow(t, n, textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 443}), Allowed, "load balancer lb", "network interface web", "Basic SKU")
	expect(t, flow(t, n, textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 80}), NoRoute, "no rule forwarding")
	n = compileYAML(t, hub(map[string]string{"EXTRA": lb, "ROUTES": toFirewall}))
	expect(t, flow(t, n, textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 443}), AsymmetricRoute, "VirtualAppliance 10.3.0.4")
}

func TestAnyProtocolSplitsByProtocol(t *testing.T) {
	n := compileYAML(t, hub(map[string]string{"ROUTES": toFirewall}))
	res := flow(t, n, textQuery{From: "10.2.1.10", To: "8.8.8.8", Protocol: "Any", Port: 8080})
	expect(t, res, PartiallyAllowed)
	got := map[string]Verdict{}
	for _, o := range res.Outcomes {
		got[o.Protocol] = o.Verdict
	}
	if got["TCP"] != Allowed || got["UDP"] != Denied || got["ICMP"] != Denied {
		t.Errorf("per protocol %v", got)
	}
}

func TestPeeringForwardedTraffic(t *testing.T) { // spec §8.2: peering; hub-and-spoke through the hub's firewall
	spoke2 := func(forwarded string) string {
		return `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: spoke2
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.4.0.0/16]}
      subnets: [{name: app, properties: {addressPrefix: 10.4.1.0/24}}]
      virtualNetworkPeerings:
        - name: to-hub
          properties:
            remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}
            allowForwardedTraffic: ` + forwarded
	}
	peerings := hubPeering + `
        - name: to-spoke2
          properties:
            remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke2}`
	routes := `{name: spoke2, properties: {addressPrefix: 10.4.0.0/16, nextHopType: VirtualAppliance, nextHopIpAddress: 10.3.0.4}},`
	n := compileYAML(t, hub(map[string]string{"EXTRA": spoke2("false"), "HUB_PEERING": peerings, "ROUTES": routes}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.4.1.10", Protocol: "TCP", Port: 8080}), Denied, "anytcp", "allowForwardedTraffic=false")
	n = compileYAML(t, hub(map[string]string{"EXTRA": spoke2("true"), "HUB_PEERING": peerings, "ROUTES": routes}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.4.1.10", Protocol: "TCP", Port: 8080}), Allowed, "anytcp", "VNetPeering")
	// Without the route, the spokes are not connected to each other at all.
	n = compileYAML(t, hub(map[string]string{"EXTRA": spoke2("true"), "HUB_PEERING": peerings}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.4.1.10", Protocol: "TCP", Port: 8080}), NoRoute, "10.0.0.0/8 -> None")
}

// resolverEnv adds an Azure DNS Private Resolver to the hub: an inbound
// endpoint at 10.3.2.4 and a ruleset (outbound endpoint in the hub) linked
// to the spoke with the given rules.
func resolverEnv(rules string) string {
	return `
  - type: Microsoft.Network/virtualNetworks/subnets
    resourceGroup: rg
    name: hub/dns-in
    properties: {addressPrefix: 10.3.2.0/28}
  - type: Microsoft.Network/virtualNetworks/subnets
    resourceGroup: rg
    name: hub/dns-out
    properties: {addressPrefix: 10.3.2.16/28}
  - type: Microsoft.Network/dnsResolvers
    resourceGroup: rg
    name: resolver
    location: westus2
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}}
  - type: Microsoft.Network/dnsResolvers/inboundEndpoints
    resourceGroup: rg
    name: resolver/in
    location: westus2
    properties:
      ipConfigurations: [{subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub/subnets/dns-in}, privateIpAllocationMethod: Dynamic}]
  - type: Microsoft.Network/dnsResolvers/outboundEndpoints
    resourceGroup: rg
    name: resolver/out
    location: westus2
    properties: {subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub/subnets/dns-out}}
  - type: Microsoft.Network/dnsForwardingRulesets
    resourceGroup: rg
    name: rules
    location: westus2
    properties:
      dnsResolverOutboundEndpoints: [{id: /resourceGroups/rg/providers/Microsoft.Network/dnsResolvers/resolver/outboundEndpoints/out}]
  - type: Microsoft.Network/dnsForwardingRulesets/virtualNetworkLinks
    resourceGroup: rg
    name: rules/spoke
    properties: {virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke}}
` + rules
}

func forwardingRuleYAML(name, domain, target string) string {
	return `
  - type: Microsoft.Network/dnsForwardingRulesets/forwardingRules
    resourceGroup: rg
    name: rules/` + name + `
    properties: {domainName: "` + domain + `", targetDnsServers: [{ipAddress: ` + target + `, port: 53}]}`
}

func TestDNSPrivateResolver(t *testing.T) { // spec §7: custom DNS must forward the privatelink zones to Azure DNS
	// The spoke's Azure DNS forwards blob names to the resolver's inbound
	// endpoint in the hub, whose Azure DNS sees the zone linked there.
	n := compileYAML(t, hub(map[string]string{"EXTRA": resolverEnv(forwardingRuleYAML("blob", "blob.core.windows.net.", "10.3.2.4"))}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443}),
		Allowed, "forwarding rule rules/blob", "inbound endpoint resolver/in", "10.3.1.4")
	// The spoke may also use the inbound endpoint as its DNS server.
	n = compileYAML(t, hub(map[string]string{"DNS": "10.3.2.4", "EXTRA": resolverEnv("")}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443}),
		Allowed, "Azure DNS of VNet hub", "10.3.1.4")
	// Forwarding the privatelink zone to a server that is not Azure DNS
	// (on-premises) loses the private answer: the public one comes back.
	n = compileYAML(t, hub(map[string]string{"EXTRA": resolverEnv(forwardingRuleYAML("pl", "privatelink.blob.core.windows.net.", "192.168.0.53"))}))
	res := flow(t, n, textQuery{From: "10.2.1.10", To: "stdata.blob.core.windows.net", Protocol: "TCP", Port: 443})
	expect(t, res, Allowed, "forwarding rule rules/pl", "private zones are not consulted", "Storage.WestUS2")
}
