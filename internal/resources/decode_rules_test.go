package resources

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Test files are built from list entries. A "#!" comment marks a line a
// problem points at: the n-th marker's line replaces "Ln" in the expected
// messages.

const fileHead = "subscription: s1\nresources:\n"

func file(entries ...string) string { return fileHead + strings.Join(entries, "") }

// envEntry is a list entry with extra envelope lines and properties lines;
// continuation lines of a multi-line property are indented by the caller
// relative to the property.
func envEntry(typ, name string, env []string, props ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - type: %s\n    resourceGroup: rg\n    name: %s\n", typ, name)
	for _, e := range env {
		b.WriteString("    " + e + "\n")
	}
	if len(props) > 0 {
		b.WriteString("    properties:\n")
		for _, p := range props {
			b.WriteString("      " + strings.ReplaceAll(p, "\n", "\n      ") + "\n")
		}
	}
	return b.String()
}

func entry(typ, name string, props ...string) string { return envEntry(typ, name, nil, props...) }

// edit applies edits to property lines: "key: value" replaces key's line or
// is appended, "-key" removes it.
func edit(base []string, edits ...string) []string {
	out := append([]string(nil), base...)
	for _, e := range edits {
		key, _, _ := strings.Cut(strings.TrimPrefix(e, "-"), ":")
		i := -1
		for j, l := range out {
			if k, _, _ := strings.Cut(l, ":"); k == key {
				i = j
			}
		}
		switch {
		case strings.HasPrefix(e, "-"):
			out = append(out[:i], out[i+1:]...)
		case i >= 0:
			out[i] = e
		default:
			out = append(out, e)
		}
	}
	return out
}

var (
	vnetEntry = entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}")
	// vnetWithSubnet has subnet vn/s, 10.0.1.0/24.
	vnetWithSubnet = entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}",
		"subnets: [{name: s, properties: {addressPrefix: 10.0.1.0/24}}]")
	subnetRef = "{id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vn/subnets/s}"
	nsgEntry  = entry(TypeNSG, "nsg")
	ruleBase  = []string{"priority: 100", "direction: Inbound", "access: Allow", "protocol: Tcp",
		`sourceAddressPrefix: "*"`, `destinationAddressPrefix: "*"`, `destinationPortRange: "443"`}
	routeBase = []string{"addressPrefix: 0.0.0.0/0", "nextHopType: Internet"}
	lbBase    = []string{"frontendIPConfigurations: [{name: fe, properties: {privateIPAddress: 10.0.1.4}}]",
		"backendAddressPools: [{name: be}]"}
	lbRuleProps = "{protocol: Tcp, frontendPort: 443, backendPort: 443, " +
		"frontendIPConfiguration: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/frontendIPConfigurations/fe}}"
	fwBase = []string{"ipConfigurations: [{name: c, properties: {subnet: " +
		"{id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vn/subnets/AzureFirewallSubnet}}}]"}
	fwVNet = entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}",
		"subnets: [{name: AzureFirewallSubnet, properties: {addressPrefix: 10.0.0.0/26}}]")
	netRule    = "{name: n, protocols: [TCP], sourceAddresses: ['*'], destinationAddresses: ['*'], destinationPorts: ['443']}"
	policyBase = []string{"priority: 100"}
	filterColl = "ruleCollectionType: FirewallPolicyFilterRuleCollection\nname: c\npriority: 100\naction: {type: Allow}"
	amlBase    = []string{"computeType: AmlCompute", "properties:\n  scaleSettings: {maxNodeCount: 2}"}
	// dnsVNets are VNet v, with subnets vn/in (10.0.4.0/28) and vn/out
	// (10.0.5.0/28) for the endpoints of resolver dr, and VNet w with subnet wn/s.
	dnsVNets = entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}",
		"subnets: [{name: in, properties: {addressPrefix: 10.0.4.0/28}}, {name: out, properties: {addressPrefix: 10.0.5.0/28}}]") +
		entry(TypeVirtualNetwork, "wn", "addressSpace: {addressPrefixes: [10.9.0.0/16]}", "subnets: [{name: s, properties: {addressPrefix: 10.9.0.0/28}}]")
	inRef         = "{id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vn/subnets/in}"
	outRef        = "{id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vn/subnets/out}"
	otherRef      = "{id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/wn/subnets/s}"
	resolverEntry = entry(TypeDNSResolver, "dr", "virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vn}")
	outboundEntry = entry(TypeOutboundEndpoint, "dr/out", "subnet: "+outRef)
	rulesetEntry  = entry(TypeRuleset, "rs",
		"dnsResolverOutboundEndpoints: [{id: /resourceGroups/rg/providers/Microsoft.Network/dnsResolvers/dr/outboundEndpoints/out}]")
	fwdRuleBase = []string{"domainName: contoso.com.", "targetDnsServers: [{ipAddress: 10.9.0.4}]"}
	// assignmentBase assigns the built-in "Not allowed resource types".
	assignmentBase = []string{"policyDefinitionId: " + NotAllowedResourceTypesPolicy,
		"parameters: {listOfResourceTypesNotAllowed: {value: [Microsoft.Network/publicIPAddresses]}}"}
)

func subnet(edits ...string) string {
	return file(vnetEntry, entry(TypeSubnet, "vn/s", edit([]string{"addressPrefix: 10.0.1.0/24"}, edits...)...))
}
func rule(edits ...string) string {
	return file(nsgEntry, entry(TypeSecurityRule, "nsg/r", edit(ruleBase, edits...)...))
}
func route(edits ...string) string {
	return file(entry(TypeRouteTable, "t"), entry(TypeRoute, "t/r", edit(routeBase, edits...)...))
}
func lb(edits ...string) string {
	return file(entry(TypeLoadBalancer, "lb", edit(lbBase, edits...)...))
}
func firewall(edits ...string) string {
	return file(fwVNet, entry(TypeFirewall, "fw", edit(fwBase, edits...)...))
}
func ruleGroupFile(colls string) string {
	return file(entry(TypeFirewallPolicy, "p"), entry(TypeRuleGroup, "p/g", edit(policyBase, "ruleCollections:\n  - "+
		strings.ReplaceAll(colls, "\n", "\n    "))...))
}
func compute(props ...string) string { return file(entry(TypeCompute, "ws/cc", props...)) }

// resolverFile holds dnsVNets, resolver dr and entries.
func resolverFile(entries ...string) string {
	return file(append([]string{dnsVNets, resolverEntry}, entries...)...)
}

// rulesetFile is resolverFile with outbound endpoint dr/out and ruleset rs.
func rulesetFile(entries ...string) string {
	return resolverFile(append([]string{outboundEntry, rulesetEntry}, entries...)...)
}
func fwdRule(edits ...string) string {
	return rulesetFile(entry(TypeForwardingRule, "rs/r", edit(fwdRuleBase, edits...)...))
}
func lock(edits ...string) string {
	return file(entry(TypeLock, "l", edit([]string{"level: ReadOnly"}, edits...)...))
}
func assignment(edits ...string) string {
	return file(entry(TypePolicyAssignment, "a", edit(assignmentBase, edits...)...))
}

var marker = regexp.MustCompile(`#!`)

// expect fills "Ln" in wants with the line of the n-th "#!" of src.
func expect(t *testing.T, src string, wants []string) []string {
	t.Helper()
	var pairs []string
	n := 0
	for i, line := range strings.Split(src, "\n") {
		for range marker.FindAllStringIndex(line, -1) {
			n++
			pairs = append(pairs, "L"+strconv.Itoa(n), strconv.Itoa(i+1))
		}
	}
	// Longest placeholders first, so that L1 does not eat into L10.
	for i, j := 0, len(pairs)-2; i < j; i, j = i+2, j-2 {
		pairs[i], pairs[i+1], pairs[j], pairs[j+1] = pairs[j], pairs[j+1], pairs[i], pairs[i+1]
	}
	rep := strings.NewReplacer(pairs...)
	out := make([]string, len(wants))
	for i, w := range wants {
		out[i] = rep.Replace(w)
	}
	return out
}

func TestValidationRules(t *testing.T) {
	const (
		sub1  = "/subscriptions/s1/resourceGroups/rg/providers/"
		netw  = "/resourceGroups/rg/providers/Microsoft.Network/"
		ruleR = "t.yaml:L1: security rule nsg/r: "
	)
	cases := []struct {
		name string
		src  string
		want []string
	}{
		// The file and the envelope.
		{"unknown top-level key", "subscription: s1\nsubscriptions: s2 #!\nresources: []\n",
			[]string{`t.yaml:L1: unknown field "subscriptions"; did you mean "subscription"?`}},
		{"resources missing", "subscription: s1 #!\n", []string{"t.yaml:L1: resources is required"}},
		{"resources not a list", "subscription: s1\nresources: {} #!\n", []string{"t.yaml:L1: resources must be an array, got object"}},
		{"entry not an object", file("  - just-a-string #!\n"), []string{"t.yaml:L1: resources[0] must be an object, got string"}},
		{"file not an object", "- a #!\n", []string{"t.yaml:L1: an environment file is an object with subscription and resources, got array"}},
		{"bad subscription", "subscription: a/b #!\nresources: []\n", []string{`t.yaml:L1: subscription "a/b" must be a non-empty name without "/"`}},
		{"syntax error", "resources: [\n  {a: 1},\n  b: 2 #!\n", []string{"t.yaml:L1:3: did not find expected ',' or ']'"}},
		{"empty file", "", []string{"t.yaml: document is empty"}},
		{"type missing", file("  - resourceGroup: rg #!\n    name: x\n"), []string{"t.yaml:L1: resources[0]: type is required"}},
		{"near-miss type", file("  - type: Microsoft.Network/virtualNetwork #!\n    name: x\n"),
			[]string{`t.yaml:L1: resources[0]: unknown resource type "Microsoft.Network/virtualNetwork"; did you mean "Microsoft.Network/virtualNetworks"?`}},
		{"unknown type of a known provider", file("  - type: Microsoft.Network/applicationGateways #!\n    name: x\n"),
			[]string{`t.yaml:L1: resources[0]: unknown resource type "Microsoft.Network/applicationGateways"; supported in Microsoft.Network: ` +
				"virtualNetworks, virtualNetworks/subnets, virtualNetworks/virtualNetworkPeerings, networkSecurityGroups, " +
				"networkSecurityGroups/securityRules, applicationSecurityGroups, routeTables, routeTables/routes, natGateways, " +
				"publicIPAddresses, loadBalancers, networkInterfaces, privateEndpoints, privateEndpoints/privateDnsZoneGroups, privateDnsZones, privateDnsZones/virtualNetworkLinks, " +
				"privateDnsZones/A, privateDnsZones/CNAME, azureFirewalls, firewallPolicies, firewallPolicies/ruleCollectionGroups, serviceEndpointPolicies, " +
				"dnsResolvers, dnsResolvers/inboundEndpoints, dnsResolvers/outboundEndpoints, dnsForwardingRulesets, " +
				"dnsForwardingRulesets/forwardingRules, dnsForwardingRulesets/virtualNetworkLinks"}},
		{"unknown envelope field", file(envEntry(TypeNSG, "nsg", []string{"propertes: {} #!"})),
			[]string{`t.yaml:L1: network security group nsg: unknown field "propertes"; did you mean "properties"?`}},
		{"resourceGroup missing", file("  - type: Microsoft.Network/networkSecurityGroups #!\n    name: nsg\n"),
			[]string{"t.yaml:L1: network security group nsg: resourceGroup is required"}},
		{"name missing", file("  - type: Microsoft.Network/networkSecurityGroups #!\n    resourceGroup: rg\n"),
			[]string{"t.yaml:L1: network security group resources[0]: name is required"}},
		{"bad resource group name", file("  - type: Microsoft.Network/networkSecurityGroups\n    resourceGroup: a/b #!\n    name: nsg\n"),
			[]string{`t.yaml:L1: network security group nsg: resourceGroup "a/b" must be a non-empty name without "/"`}},
		{"resource group's resourceGroup differs", file("  - type: Microsoft.Resources/resourceGroups\n    resourceGroup: other #!\n    name: rg\n"),
			[]string{`t.yaml:L1: resource group rg: resourceGroup "other" differs from the resource group's name "rg"`}},
		{"id mismatch", file(envEntry(TypeNSG, "nsg", []string{"id: " + netw + "networkSecurityGroups/other #!"})),
			[]string{"t.yaml:L1: network security group nsg: id " + netw + "networkSecurityGroups/other does not match the id computed " +
				"from type, resourceGroup and name: " + sub1 + "Microsoft.Network/networkSecurityGroups/nsg"}},
		{"bad id", file(envEntry(TypeNSG, "nsg", []string{"id: nsg #!"})),
			[]string{`t.yaml:L1: network security group nsg: id: resource id "nsg" must start with /subscriptions/ or /resourceGroups/`}},
		{"child without parent/child name", file("  - type: Microsoft.Network/virtualNetworks/subnets\n    resourceGroup: rg\n    name: s #!\n    properties: {addressPrefix: 10.0.1.0/24}\n"),
			[]string{`t.yaml:L1: subnet s: name "s" must have 2 segment(s) for type Microsoft.Network/virtualNetworks/subnets (parent/child naming)`}},
		{"declared twice", file(nsgEntry, "  - type: Microsoft.Network/networkSecurityGroups #!\n    resourceGroup: rg\n    name: NSG\n"),
			[]string{"t.yaml:L1: network security group NSG: declared twice (first at t.yaml:3)"}},
		{"child nested and standalone", file(vnetWithSubnet, "  - type: Microsoft.Network/virtualNetworks/subnets #!\n    resourceGroup: rg\n    name: vn/s\n"+
			"    properties: {addressPrefix: 10.0.2.0/24}\n"),
			[]string{"t.yaml:L1: subnet vn/s: declared twice (first at t.yaml:8)"}},
		{"nested child name with a slash", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}",
			"subnets: [{name: a/b, properties: {addressPrefix: 10.0.1.0/24}}] #!")),
			[]string{`t.yaml:L1: virtual network vn: subnets[0].name "a/b" must be a non-empty name without "/"`}},
		{"standalone child without parent", file("  - type: Microsoft.Network/virtualNetworks/subnets #!\n    resourceGroup: rg\n    name: v9/s\n" +
			"    properties: {addressPrefix: 10.0.2.0/24}\n"),
			[]string{"t.yaml:L1: subnet v9/s: virtual network v9 is not in the file; a child needs its parent"}},
		{"properties not an object", file(envEntry(TypeNSG, "nsg", []string{"properties: [] #!"})),
			[]string{"t.yaml:L1: network security group nsg: properties must be an object, got array"}},
		{"tags not strings", file(envEntry(TypeNSG, "nsg", []string{"tags: {a: [1]} #!"})),
			[]string{"t.yaml:L1: network security group nsg: tags.a must be a string, got array"}},

		// Virtual networks and subnets (§8.3).
		{"address space missing", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {} #!")),
			[]string{"t.yaml:L1: virtual network vn: addressSpace.addressPrefixes is required"}},
		{"address space empty", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: []} #!")),
			[]string{"t.yaml:L1: virtual network vn: addressSpace.addressPrefixes must not be empty"}},
		{"address space IPv6", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [fd00::/48]} #!")),
			[]string{`t.yaml:L1: virtual network vn: addressSpace.addressPrefixes "fd00::/48" is IPv6; only IPv4 is supported`}},
		{"address spaces overlap", file(entry(TypeVirtualNetwork, "vn", "addressSpace:\n  addressPrefixes:\n    - 10.0.0.0/16\n    - 10.0.128.0/17 #!")),
			[]string{"t.yaml:L1: virtual network vn: addressSpace.addressPrefixes 10.0.128.0/17 overlaps 10.0.0.0/16"}},
		{"dns server", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}", "dhcpOptions: {dnsServers: [10.0.0.256]} #!")),
			[]string{`t.yaml:L1: virtual network vn: dhcpOptions.dnsServers "10.0.0.256" is not a valid IPv4 address`}},
		{"subnet CIDR", subnet("addressPrefix: 10.0.0.0/33 #!"),
			[]string{`t.yaml:L1: subnet vn/s: addressPrefix "10.0.0.0/33" is not a valid CIDR`}},
		{"subnet host bits", subnet("addressPrefix: 10.0.1.1/24 #!"),
			[]string{`t.yaml:L1: subnet vn/s: addressPrefix "10.0.1.1/24" has host bits set (did you mean 10.0.1.0/24?)`}},
		{"subnet too small", subnet("addressPrefix: 10.0.1.0/30 #!"),
			[]string{`t.yaml:L1: subnet vn/s: addressPrefix "10.0.1.0/30" is smaller than /29, the smallest subnet Azure allows`}},
		{"subnet too large", subnet("addressPrefix: 0.0.0.0/1 #!"),
			[]string{`t.yaml:L1: subnet vn/s: addressPrefix "0.0.0.0/1" is larger than /2, the largest subnet Azure allows`}},
		{"subnet IPv6", subnet("addressPrefix: fd00::/64 #!"),
			[]string{`t.yaml:L1: subnet vn/s: addressPrefix "fd00::/64" is IPv6; only IPv4 is supported`}},
		{"subnet wrong kind", subnet("addressPrefix: 5 #!"),
			[]string{"t.yaml:L1: subnet vn/s: addressPrefix must be a string, got number"}},
		{"subnet outside the VNet", subnet("-addressPrefix", "addressPrefixes: [10.0.1.0/24, 10.1.0.0/24] #!"),
			[]string{"t.yaml:L1: subnet vn/s: address prefix 10.1.0.0/24 is outside the address space of virtual network vn (10.0.0.0/16)"}},
		{"subnet below the VNet", subnet("addressPrefix: 9.255.255.0/24 #!"),
			[]string{"t.yaml:L1: subnet vn/s: address prefix 9.255.255.0/24 is outside the address space of virtual network vn (10.0.0.0/16)"}},
		{"subnets overlap", file(vnetEntry, entry(TypeSubnet, "vn/a", "addressPrefix: 10.0.1.0/24"),
			entry(TypeSubnet, "vn/b", "addressPrefix: 10.0.1.128/25 #!")),
			[]string{"t.yaml:L1: subnet vn/b: address prefix 10.0.1.128/25 overlaps subnet vn/a (10.0.1.0/24 at t.yaml:8)"}},
		{"one subnet's prefixes overlap", subnet("-addressPrefix", "addressPrefixes: [10.0.1.0/24, 10.0.1.0/25] #!"),
			[]string{"t.yaml:L1: subnet vn/s: address prefixes 10.0.1.0/24 and 10.0.1.0/25 overlap"}},
		{"subnet prefix missing", subnet("-addressPrefix", "defaultOutboundAccess: true #!"),
			[]string{"t.yaml:L1: subnet vn/s: addressPrefix or addressPrefixes is required"}},
		{"subnet prefix twice", subnet("addressPrefix: 10.0.1.0/24 #!", "addressPrefixes: [10.0.1.0/24]"),
			[]string{"t.yaml:L1: subnet vn/s: addressPrefix and addressPrefixes are mutually exclusive; use one"}},
		{"private endpoint policies", subnet("privateEndpointNetworkPolicies: On #!"),
			[]string{`t.yaml:L1: subnet vn/s: privateEndpointNetworkPolicies must be one of Disabled, Enabled, NetworkSecurityGroupEnabled, RouteTableEnabled; got "On"`}},
		{"default outbound access", subnet("defaultOutboundAccess: \"no\" #!"),
			[]string{"t.yaml:L1: subnet vn/s: defaultOutboundAccess must be a boolean, got string"}},
		{"field name case", subnet("NetworkSecurityGroup: {id: x} #!"),
			[]string{`t.yaml:L1: subnet vn/s: unknown field "NetworkSecurityGroup"; did you mean "networkSecurityGroup"?`}},
		{"reference of the wrong type", subnet("networkSecurityGroup: {id: " + netw + "routeTables/t} #!"),
			[]string{"t.yaml:L1: subnet vn/s: networkSecurityGroup " + netw + "routeTables/t is a Microsoft.Network/routeTables, not a Microsoft.Network/networkSecurityGroups"}},
		{"reference not found", subnet("networkSecurityGroup: {id: " + netw + "networkSecurityGroups/nope} #!"),
			[]string{"t.yaml:L1: subnet vn/s: networkSecurityGroup " + sub1 + "Microsoft.Network/networkSecurityGroups/nope not found in the file"}},
		{"reference not an id", subnet("natGateway: {id: nat1} #!"),
			[]string{`t.yaml:L1: subnet vn/s: natGateway: resource id "nat1" must start with /subscriptions/ or /resourceGroups/`}},
		{"reference without id", subnet("routeTable: {name: t} #!#!"),
			[]string{"t.yaml:L1: subnet vn/s: routeTable.id is required", `t.yaml:L2: subnet vn/s: unknown field "routeTable.name"`}},
		{"reference list not found", subnet("serviceEndpointPolicies: [{id: " + netw + "serviceEndpointPolicies/sep}] #!"),
			[]string{"t.yaml:L1: subnet vn/s: serviceEndpointPolicies[0] " + sub1 + "Microsoft.Network/serviceEndpointPolicies/sep not found in the file"}},
		{"delegation service", subnet("delegations: [{name: d, properties: {}}] #!"),
			[]string{"t.yaml:L1: subnet vn/s: delegations[0].properties.serviceName is required"}},
		{"service endpoint locations", subnet("serviceEndpoints: [{service: Microsoft.Storage, locations: westus}] #!"),
			[]string{"t.yaml:L1: subnet vn/s: serviceEndpoints[0].locations must be an array, got string"}},

		// Peerings.
		{"peering remote missing", file(vnetEntry, entry(TypePeering, "vn/p", "allowForwardedTraffic: true #!")),
			[]string{"t.yaml:L1: peering vn/p: remoteVirtualNetwork is required"}},
		{"peering remote not found", file(vnetEntry, entry(TypePeering, "vn/p", "remoteVirtualNetwork: {id: "+netw+"virtualNetworks/hub} #!")),
			[]string{"t.yaml:L1: peering vn/p: remoteVirtualNetwork " + sub1 + "Microsoft.Network/virtualNetworks/hub not found in the file"}},
		{"peering with itself", file(vnetEntry, entry(TypePeering, "vn/p", "remoteVirtualNetwork: {id: /resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VN} #!")),
			[]string{"t.yaml:L1: peering vn/p: remoteVirtualNetwork is the peering's own virtual network vn: a virtual network cannot peer with itself"}},
		{"subnet peering", file(vnetEntry, entry(TypeVirtualNetwork, "hub", "addressSpace: {addressPrefixes: [10.1.0.0/16]}"),
			entry(TypePeering, "vn/p", "remoteVirtualNetwork: {id: "+netw+"virtualNetworks/hub}", "peerCompleteVnets: false #!")),
			[]string{"t.yaml:L1: peering vn/p: peerCompleteVnets false (subnet peering) is not supported: peerings connect whole VNets"}},

		// NSG rules (§8.1).
		{"priority range", rule("priority: 50 #!"), []string{ruleR + "priority must be between 100 and 4096, got 50"}},
		{"priority kind", rule(`priority: "100" #!`), []string{ruleR + "priority must be an integer, got string"}},
		{"priority fraction", rule("priority: 100.5 #!"), []string{ruleR + "priority must be an integer, got 100.5"}},
		{"priority missing", rule("-priority", "direction: Inbound #!"), []string{ruleR + "priority is required"}},
		{"priority reused", file(nsgEntry, entry(TypeSecurityRule, "nsg/a", ruleBase...), entry(TypeSecurityRule, "nsg/b", edit(ruleBase, "priority: 100 #!")...)),
			[]string{"t.yaml:L1: security rule nsg/b: priority 100 is already used by inbound rule a (t.yaml:6)"}},
		{"direction", rule("direction: In #!"), []string{ruleR + `direction must be one of Inbound, Outbound; got "In"`}},
		{"access missing", rule("-access", "priority: 100 #!"), []string{ruleR + "access is required"}},
		{"protocol", rule("protocol: Http #!"), []string{ruleR + `protocol must be one of Tcp, Udp, Icmp, Esp, Ah, *, Any; got "Http"`}},
		{"rule name end", file(nsgEntry, entry(TypeSecurityRule, "nsg/bad-", ruleBase...)),
			[]string{`t.yaml:8: security rule nsg/bad-: name "bad-" is not a valid ` + TypeSecurityRule + " name: " + networkName.text}},
		{"rule name length", file(nsgEntry, entry(TypeSecurityRule, "nsg/"+strings.Repeat("a", 81), ruleBase...)),
			[]string{`t.yaml:8: security rule nsg/` + strings.Repeat("a", 81) + `: name "` + strings.Repeat("a", 81) + `" is not a valid ` + TypeSecurityRule + " name: " + networkName.text}},
		{"prefix singular and plural", rule(`sourceAddressPrefix: "10.0.0.0/8" #!`, "sourceAddressPrefixes: [10.1.0.0/16]"),
			[]string{ruleR + "sourceAddressPrefix and sourceAddressPrefixes are mutually exclusive; use one"}},
		{"service tag in a list", rule("-sourceAddressPrefix", "sourceAddressPrefixes:\n  - 10.0.0.0/8\n  - Internet #!"),
			[]string{ruleR + `sourceAddressPrefixes lists "Internet"; a list may hold only IP addresses and CIDRs (use one rule per service tag)`}},
		{"star in a list", rule("-destinationAddressPrefix", "destinationAddressPrefixes: ['*', 10.0.0.1] #!"),
			[]string{ruleR + `destinationAddressPrefixes lists "*"; a list may hold only IP addresses and CIDRs (use one rule per service tag)`}},
		{"bad prefix", rule("sourceAddressPrefix: 10.0.0.300 #!"),
			[]string{ruleR + `sourceAddressPrefix "10.0.0.300" is not "*", an IPv4 address, a CIDR or a service tag name`}},
		{"prefix host bits", rule("destinationAddressPrefix: 10.0.0.1/8 #!"),
			[]string{ruleR + `destinationAddressPrefix "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)`}},
		{"IPv6 prefix", rule(`destinationAddressPrefix: "::1" #!`),
			[]string{ruleR + `destinationAddressPrefix "::1" is IPv6; only IPv4 is supported`}},
		{"source missing", rule("-sourceAddressPrefix", "priority: 100 #!"),
			[]string{ruleR + "sourceAddressPrefix, sourceAddressPrefixes or sourceApplicationSecurityGroups is required"}},
		{"prefix and ASG", file(nsgEntry, entry(TypeASG, "asg"), entry(TypeSecurityRule, "nsg/r", edit(ruleBase,
			"destinationApplicationSecurityGroups: [{id: "+netw+"applicationSecurityGroups/asg}] #!")...)),
			[]string{"t.yaml:L1: security rule nsg/r: destinationApplicationSecurityGroups cannot be combined with destinationAddressPrefix"}},
		{"ASG not found", rule("-sourceAddressPrefix", "sourceApplicationSecurityGroups: [{id: "+netw+"applicationSecurityGroups/asg}] #!"),
			[]string{ruleR + "sourceApplicationSecurityGroups[0] " + sub1 + "Microsoft.Network/applicationSecurityGroups/asg not found in the file"}},
		{"destination port missing", rule("-destinationPortRange", "priority: 100 #!"),
			[]string{ruleR + "destinationPortRange or destinationPortRanges is required"}},
		{"port range", rule(`destinationPortRange: "70000" #!`),
			[]string{ruleR + `destinationPortRange "70000" is not a port or port range: 70000 is out of range 0-65535`}},
		{"port order", rule(`destinationPortRange: "90-80" #!`),
			[]string{ruleR + `destinationPortRange "90-80" is a port range whose start is after its end`}},
		{"port name", rule(`sourcePortRange: http #!`),
			[]string{ruleR + `sourcePortRange "http" is not a port or port range: "http" is not a number`}},
		{"comma in a port list", rule("-destinationPortRange", `destinationPortRanges: ["80,443"] #!`),
			[]string{ruleR + `destinationPortRanges "80,443" is not a port or port range: "80,443" is not a number`}},
		{"ports singular and plural", rule(`sourcePortRange: "*" #!`, "sourcePortRanges: [80]"),
			[]string{ruleR + "sourcePortRange and sourcePortRanges are mutually exclusive; use one"}},

		// Routes (§8.2).
		{"next hop type", route("nextHopType: Firewall #!"),
			[]string{`t.yaml:L1: route t/r: nextHopType must be one of VirtualNetworkGateway, VnetLocal, Internet, VirtualAppliance, None; got "Firewall"`}},
		{"appliance without address", route("nextHopType: VirtualAppliance #!"),
			[]string{"t.yaml:L1: route t/r: nextHopIpAddress is required when nextHopType is VirtualAppliance"}},
		{"address without appliance", route("nextHopIpAddress: 10.0.0.4 #!"),
			[]string{"t.yaml:L1: route t/r: nextHopIpAddress is only allowed when nextHopType is VirtualAppliance"}},
		{"appliance IPv6", route("nextHopType: VirtualAppliance", `nextHopIpAddress: "fd00::4" #!`),
			[]string{`t.yaml:L1: route t/r: nextHopIpAddress "fd00::4" is IPv6; only IPv4 is supported`}},
		{"route prefix", route("addressPrefix: 10.0.0.0/40 #!"), []string{`t.yaml:L1: route t/r: addressPrefix "10.0.0.0/40" is not a valid CIDR`}},
		{"route address", route("addressPrefix: 10.0.0.1 #!"),
			[]string{`t.yaml:L1: route t/r: addressPrefix "10.0.0.1" is neither a CIDR nor a service tag name`}},
		{"route prefix missing", route("-addressPrefix", "nextHopType: None #!"), []string{"t.yaml:L1: route t/r: addressPrefix is required"}},

		// NAT gateways, public IPs, load balancers, NICs, private endpoints.
		{"NAT field case", file(entry(TypeNATGateway, "nat", "publicIPAddresses: [] #!")),
			[]string{`t.yaml:L1: NAT gateway nat: unknown field "publicIPAddresses"; did you mean "publicIpAddresses"?`}},
		{"NAT public IP not found", file(entry(TypeNATGateway, "nat", "publicIpAddresses: [{id: "+netw+"publicIPAddresses/pip}] #!")),
			[]string{"t.yaml:L1: NAT gateway nat: publicIpAddresses[0] " + sub1 + "Microsoft.Network/publicIPAddresses/pip not found in the file"}},
		{"public IP address", file(entry(TypePublicIP, "pip", "ipAddress: 1.2.3 #!")),
			[]string{`t.yaml:L1: public IP address pip: ipAddress "1.2.3" is not a valid IPv4 address`}},
		{"public IPv6", file(entry(TypePublicIP, "pip", "publicIPAddressVersion: IPv6 #!")),
			[]string{"t.yaml:L1: public IP address pip: publicIPAddressVersion IPv6 is not supported: only IPv4 is modeled"}},
		{"public IP SKU", file(envEntry(TypePublicIP, "pip", []string{"sku: {name: Premium} #!"})),
			[]string{`t.yaml:L1: public IP address pip: sku.name must be one of Basic, Standard, StandardV2; got "Premium"`}},
		{"LB frontend of another LB", lb("loadBalancingRules: [{name: r, properties: {protocol: Tcp, frontendPort: 80, " +
			"frontendIPConfiguration: {id: " + netw + "loadBalancers/other/frontendIPConfigurations/fe}}}] #!"),
			[]string{"t.yaml:L1: load balancer lb: loadBalancingRules[0].properties.frontendIPConfiguration " + netw +
				"loadBalancers/other/frontendIPConfigurations/fe is not one of this load balancer's frontendIPConfigurations"}},
		{"LB pool name", lb("loadBalancingRules: [{name: r, properties: {protocol: Tcp, frontendPort: 80, " +
			"frontendIPConfiguration: {id: " + netw + "loadBalancers/lb/frontendIPConfigurations/fe}, " +
			"backendAddressPool: {id: " + netw + "loadBalancers/lb/backendAddressPools/nope}}}] #!"),
			[]string{`t.yaml:L1: load balancer lb: loadBalancingRules[0].properties.backendAddressPool: the load balancer has no backendAddressPools named "nope"`}},
		{"LB rule protocol", lb("loadBalancingRules: [{name: r, properties: {protocol: Http, frontendPort: 80, " +
			"frontendIPConfiguration: {id: " + netw + "loadBalancers/lb/frontendIPConfigurations/fe}}}] #!"),
			[]string{`t.yaml:L1: load balancer lb: loadBalancingRules[0].properties.protocol must be one of Tcp, Udp, All; got "Http"`}},
		{"LB frontend port missing", lb("loadBalancingRules: [{name: r, properties: {protocol: Tcp, " +
			"frontendIPConfiguration: {id: " + netw + "loadBalancers/lb/frontendIPConfigurations/fe}}}] #!"),
			[]string{"t.yaml:L1: load balancer lb: loadBalancingRules[0].properties.frontendPort is required"}},
		{"LB rule frontend missing", lb("loadBalancingRules: [{name: r, properties: {protocol: Tcp, frontendPort: 80}}] #!"),
			[]string{"t.yaml:L1: load balancer lb: loadBalancingRules[0].properties.frontendIPConfiguration is required"}},
		{"LB rules kept", lb("inboundNatRules: [{name: n, properties: "+lbRuleProps+"}]", "loadBalancingRules: [{name: r, properties: "+
			lbRuleProps+"}]", "outboundRules: [{name: o, properties: {protocol: All}}] #!#!"),
			[]string{"t.yaml:L1: load balancer lb: outboundRules[0].properties.backendAddressPool is required",
				"t.yaml:L2: load balancer lb: outboundRules[0].properties.frontendIPConfigurations is required"}},
		{"NIC subnet missing", file(entry(TypeNIC, "nic", "ipConfigurations: [{name: c, properties: {}}] #!")),
			[]string{"t.yaml:L1: network interface nic: ipConfigurations[0].properties.subnet is required"}},
		{"NIC configurations missing", file(entry(TypeNIC, "nic", "enableIPForwarding: true #!")),
			[]string{"t.yaml:L1: network interface nic: ipConfigurations is required"}},
		{"NIC DNS servers", file(vnetWithSubnet, entry(TypeNIC, "nic", "ipConfigurations: [{name: c, properties: {subnet: "+subnetRef+"}}]",
			"dnsSettings: {dnsServers: [10.0.1.53, dns1], internalDnsNameLabel: vm1, nameServers: [x]} #!")),
			[]string{`t.yaml:L1: network interface nic: dnsSettings.dnsServers "dns1" is not a valid IPv4 address`,
				`t.yaml:L1: network interface nic: unknown field "dnsSettings.nameServers"`}},
		{"NIC pool not found", file(vnetWithSubnet, entry(TypeNIC, "nic", "ipConfigurations: [{name: c, properties: {subnet: "+subnetRef+
			", loadBalancerBackendAddressPools: [{id: "+netw+"loadBalancers/lb/backendAddressPools/be}]}}] #!")),
			[]string{"t.yaml:L1: network interface nic: ipConfigurations[0].properties.loadBalancerBackendAddressPools[0] " + sub1 +
				"Microsoft.Network/loadBalancers/lb/backendAddressPools/be not found in the file"}},
		{"private endpoint subnet missing", file(entry(TypePrivateEndpoint, "pe", "customNetworkInterfaceName: nic #!")),
			[]string{"t.yaml:L1: private endpoint pe: subnet is required"}},
		{"private endpoint target missing", file(vnetWithSubnet, entry(TypePrivateEndpoint, "pe", "subnet: "+subnetRef,
			"privateLinkServiceConnections: [{name: c, properties: {groupIds: [blob]}}] #!")),
			[]string{"t.yaml:L1: private endpoint pe: privateLinkServiceConnections[0].properties.privateLinkServiceId is required"}},
		{"private endpoint static IP", file(vnetWithSubnet, entry(TypePrivateEndpoint, "pe", "subnet: "+subnetRef,
			"ipConfigurations: [{name: c, properties: {groupId: blob, memberName: blob}}] #!")),
			[]string{"t.yaml:L1: private endpoint pe: ipConfigurations[0].properties.privateIPAddress is required"}},

		// Private DNS.
		{"zone name", file(entry(TypePrivateDNSZone, "nodots")), []string{`t.yaml:5: private DNS zone nodots: name "nodots" is not a valid ` + TypePrivateDNSZone + " name: " + nameRules[strings.ToLower(TypePrivateDNSZone)].text}},
		{"A and CNAME at one name", file(entry(TypePrivateDNSZone, "z.net"), entry(TypeZoneA, "z.net/www", "aRecords: [{ipv4Address: 10.0.0.4}]"),
			"  - type: Microsoft.Network/privateDnsZones/CNAME #!\n    resourceGroup: rg\n    name: z.net/WWW\n    properties: {cnameRecord: {cname: a.z.net}}\n"),
			[]string{`t.yaml:L1: CNAME record set z.net/WWW: CNAME record set "www" conflicts with the A record set at t.yaml:6: a CNAME cannot share its name`}},
		{"A record address", file(entry(TypePrivateDNSZone, "z.net"), entry(TypeZoneA, "z.net/www", "aRecords: [{ipv4Address: 10.0.0.256}] #!")),
			[]string{`t.yaml:L1: A record set z.net/www: aRecords[0].ipv4Address "10.0.0.256" is not a valid IPv4 address`}},
		{"record name", file(entry(TypePrivateDNSZone, "z.net"), entry(TypeZoneA, "z.net/a..b")),
			[]string{`t.yaml:8: A record set z.net/a..b: name "a..b" is not a valid ` + TypeZoneA + " name: " + recordName.text}},
		{"CNAME target missing", file(entry(TypePrivateDNSZone, "z.net"), entry(TypeZoneCNAME, "z.net/www", "cnameRecord: {} #!")),
			[]string{"t.yaml:L1: CNAME record set z.net/www: cnameRecord.cname is required"}},
		{"link network missing", file(entry(TypePrivateDNSZone, "z.net"), entry(TypeZoneLink, "z.net/l", "registrationEnabled: true #!")),
			[]string{"t.yaml:L1: virtual network link z.net/l: virtualNetwork is required"}},
		{"record set without zone", file("  - type: Microsoft.Network/privateDnsZones/A #!\n    resourceGroup: rg\n    name: z.net/www\n"),
			[]string{"t.yaml:L1: A record set z.net/www: private DNS zone z.net is not in the file; a child needs its parent"}},

		// Azure Firewall.
		{"firewall subnet name", file(vnetWithSubnet, entry(TypeFirewall, "fw", "ipConfigurations:\n  - name: c\n    properties: {subnet: "+subnetRef+"} #!")),
			[]string{"t.yaml:L1: firewall fw: subnet vn/s: a firewall must be in a subnet named AzureFirewallSubnet"}},
		{"firewall configurations missing", file(entry(TypeFirewall, "fw", "threatIntelMode: Alert #!")),
			[]string{"t.yaml:L1: firewall fw: ipConfigurations is required"}},
		{"firewall subnet missing", file(entry(TypeFirewall, "fw", "ipConfigurations: [{name: c, properties: {}}] #!")),
			[]string{"t.yaml:L1: firewall fw: ipConfigurations[0].properties.subnet is required"}},
		{"firewall policy not found", firewall("firewallPolicy: {id: " + netw + "firewallPolicies/p} #!"),
			[]string{"t.yaml:L1: firewall fw: firewallPolicy " + sub1 + "Microsoft.Network/firewallPolicies/p not found in the file"}},
		{"collection priority", firewall("networkRuleCollections: [{name: c, properties: {priority: 50, action: {type: Allow}, rules: [" + netRule + "]}}] #!"),
			[]string{"t.yaml:L1: firewall fw: networkRuleCollections[0].properties.priority must be between 100 and 65000, got 50"}},
		{"collection action", firewall("networkRuleCollections: [{name: c, properties: {priority: 100, action: {type: Dnat}, rules: [" + netRule + "]}}] #!"),
			[]string{`t.yaml:L1: firewall fw: networkRuleCollections[0].properties.action.type must be one of Allow, Deny; got "Dnat"`}},
		{"network rule protocol", firewall("networkRuleCollections: [{name: c, properties: {priority: 100, action: {type: Allow}, rules: [" +
			strings.Replace(netRule, "[TCP]", "[HTTP]", 1) + "]}}] #!"),
			[]string{`t.yaml:L1: firewall fw: networkRuleCollections[0].properties.rules[0].protocols must hold TCP, UDP, ICMP, Any; got "HTTP"`}},
		{"network rule ports missing", firewall("networkRuleCollections: [{name: c, properties: {priority: 100, action: {type: Allow}, rules: [" +
			strings.Replace(netRule, ", destinationPorts: ['443']", "", 1) + "]}}] #!"),
			[]string{"t.yaml:L1: firewall fw: networkRuleCollections[0].properties.rules[0].destinationPorts is required"}},
		{"IP groups", firewall("networkRuleCollections: [{name: c, properties: {priority: 100, action: {type: Allow}, rules: [" +
			strings.Replace(netRule, "sourceAddresses: ['*']", "sourceIpGroups: [/x]", 1) + "]}}] #!"),
			[]string{"t.yaml:L1: firewall fw: networkRuleCollections[0].properties.rules[0].sourceIpGroups is not supported: IP groups are not modeled; list the addresses"}},
		{"application rule targets", firewall("applicationRuleCollections: [{name: c, properties: {priority: 100, action: {type: Allow}, rules: " +
			"[{name: a, sourceAddresses: [Internet], protocols: [{protocolType: Https, port: 443}]}]}}] #!#!"),
			[]string{`t.yaml:L1: firewall fw: applicationRuleCollections[0].properties.rules[0].sourceAddresses "Internet" is a service tag name; only addresses, CIDRs and ranges are allowed here`,
				"t.yaml:L2: firewall fw: applicationRuleCollections[0].properties.rules[0].targetFqdns is required"}},
		// Issue 18 point 4: "FQDN filtering in network rules doesn't support wildcards by design"
		// (Use FQDN filtering in network rules).
		{"wildcard FQDN in a network rule", ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: NetworkRule, name: n, ipProtocols: [UDP], sourceAddresses: ['*'], " +
			"destinationFqdns: [ntp.ubuntu.com, '*.ubuntu.com'], destinationPorts: ['123']} #!"),
			[]string{`t.yaml:L1: rule collection group p/g: ruleCollections[0].rules[0].destinationFqdns "*.ubuntu.com": network rules match the addresses a name resolves to and take no wildcards; list the names, or use an application rule for HTTP/S`}},
		// Issue 18 point 2: a tag "contains all the FQDNs listed in outbound network and FQDN rules for
		// AKS clusters" (Control egress traffic using Azure Firewall in AKS); ignoring it would deny them.
		{"FQDN tags", firewall("applicationRuleCollections: [{name: c, properties: {priority: 100, action: {type: Allow}, rules: " +
			"[{name: a, sourceAddresses: ['*'], protocols: [{protocolType: Https, port: 443}], fqdnTags: [AzureKubernetesService]}]}}] #!"),
			[]string{`t.yaml:L1: firewall fw: applicationRuleCollections[0].properties.rules[0].fqdnTags is not supported: FQDN tags are not modeled; ` +
				`list the FQDNs the tag stands for in targetFqdns (for AzureKubernetesService, Azure's article "Control egress traffic using Azure Firewall in AKS" lists them)`}},
		{"FQDN tags in a policy", ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: ApplicationRule, name: a, sourceAddresses: ['*'], " +
			"protocols: [{protocolType: Https, port: 443}], targetFqdns: [x.com], fqdnTags: [WindowsUpdate]} #!"),
			[]string{`t.yaml:L1: rule collection group p/g: ruleCollections[0].rules[0].fqdnTags is not supported: FQDN tags are not modeled; ` +
				`list the FQDNs the tag stands for in targetFqdns (for AzureKubernetesService, Azure's article "Control egress traffic using Azure Firewall in AKS" lists them)`}},
		{"NAT rule translation", firewall("natRuleCollections: [{name: c, properties: {priority: 100, action: {type: Dnat}, rules: " +
			"[{name: a, protocols: [TCP], sourceAddresses: ['*'], destinationAddresses: [1.2.3.4], destinationPorts: ['22'], translatedPort: 22}]}}] #!"),
			[]string{"t.yaml:L1: firewall fw: natRuleCollections[0].properties.rules[0].translatedAddress is required"}},
		{"DNS proxy flag", firewall("additionalProperties: {Network.DNS.EnableProxy: \"yes\"} #!"),
			[]string{`t.yaml:L1: firewall fw: additionalProperties.Network.DNS.EnableProxy must be "true" or "false", got "yes"`}},
		{"DNS servers", firewall("additionalProperties: {Network.DNS.Servers: \"10.0.0.4,dns\"} #!"),
			[]string{`t.yaml:L1: firewall fw: additionalProperties.Network.DNS.Servers "dns" is not a valid IPv4 address`}},
		// Azure Firewall SNAT private IP address ranges: an address, a CIDR or IANAPrivateRanges.
		{"SNAT private ranges", firewall("additionalProperties: {Network.SNAT.PrivateRanges: \"IANAPrivateRanges,10.0.0.1/8\"} #!"),
			[]string{`t.yaml:L1: firewall fw: additionalProperties.Network.SNAT.PrivateRanges "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?) (want an address, a CIDR or IANAPrivateRanges)`}},
		{"policy SNAT private ranges", file(entry(TypeFirewallPolicy, "p", "snat: {privateRanges: [IANAPrivateRanges, 20.0.0.0/8, private] #!\n  , autoLearnPrivateRanges: Sometimes} #!")),
			[]string{`t.yaml:L1: firewall policy p: snat.privateRanges "private" is not a valid IPv4 address (want an address, a CIDR or IANAPrivateRanges)`,
				`t.yaml:L2: firewall policy p: snat.autoLearnPrivateRanges must be one of Enabled, Disabled; got "Sometimes"`}},

		// Firewall policies.
		{"base policy not found", file(entry(TypeFirewallPolicy, "p", "basePolicy: {id: "+netw+"firewallPolicies/base} #!")),
			[]string{"t.yaml:L1: firewall policy p: basePolicy " + sub1 + "Microsoft.Network/firewallPolicies/base not found in the file"}},
		{"inline groups", file(entry(TypeFirewallPolicy, "p", "ruleCollectionGroups: [{name: g, properties: {priority: 100}}] #!")),
			[]string{"t.yaml:L1: firewall policy p: ruleCollectionGroups only lists the ids Azure reports; declare each group as a " +
				"Microsoft.Network/firewallPolicies/ruleCollectionGroups resource named policy/group"}},
		{"group priority", file(entry(TypeFirewallPolicy, "p"), entry(TypeRuleGroup, "p/g", "priority: 70000 #!")),
			[]string{"t.yaml:L1: rule collection group p/g: priority must be between 100 and 65000, got 70000"}},
		{"group without policy", file("  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups #!\n    resourceGroup: rg\n    name: p/g\n    properties: {priority: 100}\n"),
			[]string{"t.yaml:L1: rule collection group p/g: firewall policy p is not in the file; a child needs its parent"}},
		{"collection type", ruleGroupFile("ruleCollectionType: Filter #!\nname: c\npriority: 100\nrules: [{anything: 1}]"),
			[]string{`t.yaml:L1: rule collection group p/g: ruleCollections[0].ruleCollectionType must be one of FirewallPolicyFilterRuleCollection, FirewallPolicyNatRuleCollection; got "Filter"`}},
		{"mixed rule kinds", ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: NetworkRule, name: n, ipProtocols: [TCP], sourceAddresses: ['*'], destinationAddresses: ['*'], destinationPorts: ['1']}" +
			"\n  - {ruleType: ApplicationRule, name: a, sourceAddresses: ['*'], protocols: [{protocolType: Http, port: 80}], targetFqdns: [x.com]} #!"),
			[]string{"t.yaml:L1: rule collection group p/g: rule collection c mixes network and application rules; Azure allows one kind per collection"}},
		{"NAT rule in a filter collection", ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: NatRule, name: n} #!"),
			[]string{"t.yaml:L1: rule collection group p/g: a FirewallPolicyFilterRuleCollection cannot hold a NatRule"}},
		{"policy protocols key", ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: NetworkRule, name: n, protocols: [TCP], sourceAddresses: ['*'], destinationAddresses: ['*'], destinationPorts: ['1']} #!#!"),
			[]string{"t.yaml:L1: rule collection group p/g: ruleCollections[0].rules[0].ipProtocols is required",
				`t.yaml:L2: rule collection group p/g: unknown field "ruleCollections[0].rules[0].protocols"; did you mean "ipProtocols"?`}},
		{"web categories", ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: ApplicationRule, name: a, sourceAddresses: ['*'], protocols: [{protocolType: Http, port: 80}], targetFqdns: [x.com], webCategories: [Gambling]} #!"),
			[]string{"t.yaml:L1: rule collection group p/g: ruleCollections[0].rules[0].webCategories is not supported: web categories are not modeled; list the FQDNs"}},

		// DNS Private Resolver.
		{"resolver network missing", file(entry(TypeDNSResolver, "dr", "dnsResolverState: Connected #!")),
			[]string{"t.yaml:L1: DNS resolver dr: virtualNetwork is required"}},
		{"resolver network not found", file(entry(TypeDNSResolver, "dr", "virtualNetwork: {id: "+netw+"virtualNetworks/vn} #!")),
			[]string{"t.yaml:L1: DNS resolver dr: virtualNetwork " + sub1 + "Microsoft.Network/virtualNetworks/vn not found in the file"}},
		{"resolver network type", file(entry(TypeDNSResolver, "dr", "virtualNetwork: "+subnetRef+" #!")),
			[]string{"t.yaml:L1: DNS resolver dr: virtualNetwork " + netw + "virtualNetworks/vn/subnets/s is a Microsoft.Network/virtualNetworks/subnets, not a Microsoft.Network/virtualNetworks"}},
		{"inbound configurations missing", resolverFile(entry(TypeInboundEndpoint, "dr/in", "provisioningState: Succeeded #!")),
			[]string{"t.yaml:L1: inbound endpoint dr/in: ipConfigurations is required"}},
		{"two inbound configurations", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: "+inRef+"}, {subnet: "+inRef+"}] #!")),
			[]string{"t.yaml:L1: inbound endpoint dr/in: ipConfigurations holds 2 entries; Azure allows at most 1"}},
		{"inbound subnet missing", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{privateIpAllocationMethod: Dynamic}] #!")),
			[]string{"t.yaml:L1: inbound endpoint dr/in: ipConfigurations[0].subnet is required"}},
		{"inbound subnet not found", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: {id: "+netw+"virtualNetworks/vn/subnets/nope}}] #!")),
			[]string{"t.yaml:L1: inbound endpoint dr/in: ipConfigurations[0].subnet " + sub1 + "Microsoft.Network/virtualNetworks/vn/subnets/nope not found in the file"}},
		{"inbound subnet in another VNet", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: "+otherRef+"}] #!")),
			[]string{"t.yaml:L1: inbound endpoint dr/in: ipConfigurations[0].subnet wn/s is not in the resolver's virtual network vn"}},
		{"inbound address outside the subnet", resolverFile(entry(TypeInboundEndpoint, "dr/in",
			"ipConfigurations:\n  - subnet: "+inRef+"\n    privateIpAllocationMethod: Static\n    privateIpAddress: 10.0.5.4 #!")),
			[]string{"t.yaml:L1: inbound endpoint dr/in: ipConfigurations[0].privateIpAddress 10.0.5.4 is outside subnet vn/in (10.0.4.0/28)"}},
		{"inbound address", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: "+inRef+", privateIpAddress: 10.0.4}] #!")),
			[]string{`t.yaml:L1: inbound endpoint dr/in: ipConfigurations[0].privateIpAddress "10.0.4" is not a valid IPv4 address`}},
		{"inbound address field case", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: "+inRef+", privateIPAddress: 10.0.4.5}] #!")),
			[]string{`t.yaml:L1: inbound endpoint dr/in: unknown field "ipConfigurations[0].privateIPAddress"; did you mean "privateIpAddress"?`}},
		{"inbound allocation method", resolverFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: "+inRef+", privateIpAllocationMethod: Fixed}] #!")),
			[]string{`t.yaml:L1: inbound endpoint dr/in: ipConfigurations[0].privateIpAllocationMethod must be one of Static, Dynamic; got "Fixed"`}},
		{"outbound subnet missing", resolverFile(entry(TypeOutboundEndpoint, "dr/out", "resourceGuid: x #!")),
			[]string{"t.yaml:L1: outbound endpoint dr/out: subnet is required"}},
		{"outbound subnet in another VNet", resolverFile(entry(TypeOutboundEndpoint, "dr/out", "subnet: "+otherRef+" #!")),
			[]string{"t.yaml:L1: outbound endpoint dr/out: subnet wn/s is not in the resolver's virtual network vn"}},
		{"endpoint without resolver", file(dnsVNets, "  - type: Microsoft.Network/dnsResolvers/outboundEndpoints #!\n    resourceGroup: rg\n    name: dr/out\n"+
			"    properties: {subnet: "+outRef+"}\n"),
			[]string{"t.yaml:L1: outbound endpoint dr/out: DNS resolver dr is not in the file; a child needs its parent"}},
		{"endpoint nested", file(entry(TypeDNSResolver, "dr", "virtualNetwork: {id: "+netw+"virtualNetworks/vn} #!", "outboundEndpoints: [] #!")),
			[]string{"t.yaml:L1: DNS resolver dr: virtualNetwork " + sub1 + "Microsoft.Network/virtualNetworks/vn not found in the file",
				`t.yaml:L2: DNS resolver dr: unknown field "outboundEndpoints"`}},
		{"ruleset endpoints missing", file(entry(TypeRuleset, "rs", "provisioningState: Succeeded #!")),
			[]string{"t.yaml:L1: forwarding ruleset rs: dnsResolverOutboundEndpoints is required"}},
		{"ruleset endpoint not found", resolverFile(outboundEntry, entry(TypeRuleset, "rs",
			"dnsResolverOutboundEndpoints: [{id: "+netw+"dnsResolvers/dr/outboundEndpoints/nope}] #!")),
			[]string{"t.yaml:L1: forwarding ruleset rs: dnsResolverOutboundEndpoints[0] " + sub1 + "Microsoft.Network/dnsResolvers/dr/outboundEndpoints/nope not found in the file"}},
		{"ruleset endpoint type", resolverFile(entry(TypeRuleset, "rs", "dnsResolverOutboundEndpoints: [{id: "+netw+"dnsResolvers/dr/inboundEndpoints/in}] #!")),
			[]string{"t.yaml:L1: forwarding ruleset rs: dnsResolverOutboundEndpoints[0] " + netw + "dnsResolvers/dr/inboundEndpoints/in is a " +
				"Microsoft.Network/dnsResolvers/inboundEndpoints, not a Microsoft.Network/dnsResolvers/outboundEndpoints"}},
		{"domain name missing", fwdRule("-domainName", "targetDnsServers: [{ipAddress: 10.9.0.4}] #!"),
			[]string{"t.yaml:L1: forwarding rule rs/r: domainName is required"}},
		{"domain name empty label", fwdRule("domainName: contoso..com #!"),
			[]string{`t.yaml:L1: forwarding rule rs/r: domainName "contoso..com" is not a valid domain name: label ""`}},
		{"domain name wildcard", fwdRule(`domainName: "*.contoso.com." #!`),
			[]string{`t.yaml:L1: forwarding rule rs/r: domainName "*.contoso.com." is not a valid domain name: label "*"`}},
		{"domain name label length", fwdRule("domainName: " + strings.Repeat("a", 64) + ".com #!"),
			[]string{`t.yaml:L1: forwarding rule rs/r: domainName "` + strings.Repeat("a", 64) + `.com" is not a valid domain name: label "` + strings.Repeat("a", 64) + `"`}},
		{"domain name length", fwdRule("domainName: " + strings.Repeat("a.", 127) + "ab. #!"),
			[]string{`t.yaml:L1: forwarding rule rs/r: domainName "` + strings.Repeat("a.", 127) + `ab." is not a valid domain name: longer than 253 characters`}},
		{"no targets", fwdRule("domainName: contoso.com. #!", "targetDnsServers: []"), []string{"t.yaml:L1: forwarding rule rs/r: targetDnsServers is required"}},
		{"targets missing", fwdRule("-targetDnsServers", "domainName: contoso.com. #!"),
			[]string{"t.yaml:L1: forwarding rule rs/r: targetDnsServers is required"}},
		{"too many targets", fwdRule("targetDnsServers: [" + strings.Repeat("{ipAddress: 10.9.0.4}, ", 6) + "{ipAddress: 10.9.0.5}] #!"),
			[]string{"t.yaml:L1: forwarding rule rs/r: targetDnsServers holds 7 entries; Azure allows at most 6"}},
		{"target port", fwdRule("targetDnsServers: [{ipAddress: 10.9.0.4, port: 0}] #!"),
			[]string{"t.yaml:L1: forwarding rule rs/r: targetDnsServers[0].port must be between 1 and 65535, got 0"}},
		{"target port kind", fwdRule(`targetDnsServers: [{ipAddress: 10.9.0.4, port: "53"}] #!`),
			[]string{"t.yaml:L1: forwarding rule rs/r: targetDnsServers[0].port must be an integer, got string"}},
		{"target address missing", fwdRule("targetDnsServers: [{port: 53}] #!"),
			[]string{"t.yaml:L1: forwarding rule rs/r: targetDnsServers[0].ipAddress is required"}},
		{"target IPv6", fwdRule(`targetDnsServers: [{ipAddress: "fd00::53"}] #!`),
			[]string{`t.yaml:L1: forwarding rule rs/r: targetDnsServers[0].ipAddress "fd00::53" is IPv6; only IPv4 is supported`}},
		{"rule state", fwdRule("forwardingRuleState: Off #!"),
			[]string{`t.yaml:L1: forwarding rule rs/r: forwardingRuleState must be one of Enabled, Disabled; got "Off"`}},
		{"domain name twice", rulesetFile(entry(TypeForwardingRule, "rs/a", fwdRuleBase...), entry(TypeForwardingRule, "rs/b", edit(fwdRuleBase, "domainName: Contoso.COM #!")...)),
			[]string{`t.yaml:L1: forwarding rule rs/b: domainName "contoso.com." is already forwarded by rule a (t.yaml:30)`}},
		{"root twice", rulesetFile(entry(TypeForwardingRule, "rs/a", edit(fwdRuleBase, "domainName: .")...), entry(TypeForwardingRule, "rs/b", edit(fwdRuleBase, "domainName: . #!")...)),
			[]string{`t.yaml:L1: forwarding rule rs/b: domainName "." is already forwarded by rule a (t.yaml:30)`}},
		{"rule without ruleset", resolverFile(outboundEntry, "  - type: Microsoft.Network/dnsForwardingRulesets/forwardingRules #!\n    resourceGroup: rg\n    name: rs/r\n"+
			"    properties: {domainName: ., targetDnsServers: [{ipAddress: 10.9.0.4}]}\n"),
			[]string{"t.yaml:L1: forwarding rule rs/r: forwarding ruleset rs is not in the file; a child needs its parent"}},
		{"link network missing", rulesetFile(entry(TypeRulesetLink, "rs/l", "metadata: {owner: net} #!")),
			[]string{"t.yaml:L1: ruleset link rs/l: virtualNetwork is required"}},
		{"link network not found", rulesetFile(entry(TypeRulesetLink, "rs/l", "virtualNetwork: {id: "+netw+"virtualNetworks/x} #!")),
			[]string{"t.yaml:L1: ruleset link rs/l: virtualNetwork " + sub1 + "Microsoft.Network/virtualNetworks/x not found in the file"}},
		{"VNet linked twice", rulesetFile(entry(TypeRulesetLink, "rs/a", "virtualNetwork: {id: "+netw+"virtualNetworks/wn}"),
			entry(TypeRulesetLink, "rs/b", "virtualNetwork: {id: "+netw+"virtualNetworks/WN} #!")),
			[]string{"t.yaml:L1: ruleset link rs/b: virtual network WN is already linked to the ruleset by link a (t.yaml:30)"}},

		// Service endpoint policies and storage.
		{"endpoint policy service", file(entry(TypeSEP, "sep", "serviceEndpointPolicyDefinitions: [{name: d, properties: {serviceResources: []}}] #!")),
			[]string{"t.yaml:L1: service endpoint policy sep: serviceEndpointPolicyDefinitions[0].properties.service is required"}},
		{"storage IP rule", file(entry(TypeStorageAccount, "sta", "networkAcls: {defaultAction: Deny, ipRules: [{value: 1.2.3.4/33}]} #!")),
			[]string{`t.yaml:L1: storage account sta: networkAcls.ipRules[0].value "1.2.3.4/33" is not a valid CIDR`}},
		{"storage default action", file(entry(TypeStorageAccount, "sta", "networkAcls: {defaultAction: Block} #!")),
			[]string{`t.yaml:L1: storage account sta: networkAcls.defaultAction must be one of Allow, Deny; got "Block"`}},
		{"storage default action missing", file(entry(TypeStorageAccount, "sta", "networkAcls: {bypass: None} #!")),
			[]string{"t.yaml:L1: storage account sta: networkAcls.defaultAction is required"}},
		{"storage bypass", file(entry(TypeStorageAccount, "sta", "networkAcls: {defaultAction: Deny, bypass: \"AzureServices, Everyone\"} #!")),
			[]string{`t.yaml:L1: storage account sta: networkAcls.bypass "AzureServices, Everyone" must be a comma list of None, Logging, Metrics, AzureServices`}},
		{"storage subnet not found", file(entry(TypeStorageAccount, "sta", "networkAcls: {defaultAction: Deny, virtualNetworkRules: [{id: "+netw+"virtualNetworks/vn/subnets/s}]} #!")),
			[]string{"t.yaml:L1: storage account sta: networkAcls.virtualNetworkRules[0].id " + sub1 + "Microsoft.Network/virtualNetworks/vn/subnets/s not found in the file"}},

		// Workspaces and computes (§9, §4.7).
		{"workspace name", file(entry(TypeWorkspace, "ab")),
			[]string{`t.yaml:5: workspace ab: name "ab" is not a valid ` + TypeWorkspace + " name: 3–33 letters, digits, '_' and '-', starting with a letter or digit"}},
		{"workspace dependency type", file(entry(TypeWorkspace, "mlw", "storageAccount: /resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv #!")),
			[]string{"t.yaml:L1: workspace mlw: storageAccount /resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv is a Microsoft.KeyVault/vaults, not a Microsoft.Storage/storageAccounts"}},
		{"workspace dependency kind", file(entry(TypeWorkspace, "mlw", "keyVault: {id: /resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv} #!")),
			[]string{"t.yaml:L1: workspace mlw: keyVault must be a string, got object"}},
		{"workspace isolation", file(entry(TypeWorkspace, "mlw", "managedNetwork: {isolationMode: Isolated} #!")),
			[]string{`t.yaml:L1: workspace mlw: managedNetwork.isolationMode must be one of Disabled, AllowInternetOutbound, AllowOnlyApprovedOutbound; got "Isolated"`}},
		{"workspace identity", file(envEntry(TypeWorkspace, "mlw", []string{"identity: {type: Managed} #!"})),
			[]string{`t.yaml:L1: workspace mlw: identity.type must be one of None, SystemAssigned, UserAssigned, SystemAssigned,UserAssigned; got "Managed"`}},
		{"compute type unsupported", compute("computeType: aks #!"),
			[]string{"t.yaml:L1: compute ws/cc: computeType AKS is not supported; supported: AmlCompute, ComputeInstance, VirtualMachine, HDInsight, Databricks"}},
		{"compute type missing", compute("description: d #!"), []string{"t.yaml:L1: compute ws/cc: computeType is required"}},
		{"max nodes missing", compute("computeType: AmlCompute", "properties: {vmSize: x} #!"),
			[]string{"t.yaml:L1: compute ws/cc: properties.scaleSettings.maxNodeCount is required"}},
		{"negative nodes", compute(edit(amlBase, "properties:\n  scaleSettings: {maxNodeCount: 2, minNodeCount: -1} #!")...),
			[]string{"t.yaml:L1: compute ws/cc: properties.scaleSettings.minNodeCount must be between 0 and 2147483647, got -1"}},
		{"min above max", compute(edit(amlBase, "properties:\n  scaleSettings: {maxNodeCount: 2, minNodeCount: 3} #!")...),
			[]string{"t.yaml:L1: compute ws/cc: properties.scaleSettings.minNodeCount 3 is greater than maxNodeCount 2"}},
		{"public IP flag", compute(edit(amlBase, "properties:\n  scaleSettings: {maxNodeCount: 2}\n  enableNodePublicIp: \"false\" #!")...),
			[]string{"t.yaml:L1: compute ws/cc: properties.enableNodePublicIp must be a boolean, got string"}},
		{"cluster field on an instance", compute("computeType: ComputeInstance", "properties:\n  scaleSettings: {maxNodeCount: 2} #!"),
			[]string{`t.yaml:L1: compute ws/cc: unknown field "properties.scaleSettings"`}},
		{"compute subnet not found", compute(edit(amlBase, "properties:\n  scaleSettings: {maxNodeCount: 2}\n  subnet: "+subnetRef+" #!")...),
			[]string{"t.yaml:L1: compute ws/cc: properties.subnet " + sub1 + "Microsoft.Network/virtualNetworks/vn/subnets/s not found in the file"}},
		{"attached compute without resource", compute("computeType: VirtualMachine #!"),
			[]string{"t.yaml:L1: compute ws/cc: resourceId is required"}},
		{"attached compute resource type", compute("computeType: HDInsight", "resourceId: /resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm #!"),
			[]string{"t.yaml:L1: compute ws/cc: resourceId /resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm is a Microsoft.Compute/virtualMachines, not a Microsoft.HDInsight/clusters"}},

		// Locks and policy assignments.
		{"lock level", lock("level: Delete #!"),
			[]string{`t.yaml:L1: lock l: level must be one of CanNotDelete, ReadOnly; got "Delete"`}},
		{"lock level missing", lock("-level", "notes: n #!"), []string{"t.yaml:L1: lock l: level is required"}},
		{"lock without resourceGroup", file("  - type: Microsoft.Authorization/locks #!\n    name: l\n    properties: {level: ReadOnly}\n"),
			[]string{"t.yaml:L1: lock l: resourceGroup is required"}},
		{"lock owners kept out of the model", lock("level: ReadOnly", "owner: x #!"),
			[]string{`t.yaml:L1: lock l: unknown field "owner"; did you mean "owners"?`}},
		{"policy definition missing", file(entry(TypePolicyAssignment, "a", "displayName: d #!")),
			[]string{"t.yaml:L1: policy assignment a: policyDefinitionId is required"}},
		{"enforcement mode", assignment("enforcementMode: Enforce #!"),
			[]string{`t.yaml:L1: policy assignment a: enforcementMode must be one of Default, DoNotEnforce; got "Enforce"`}},
		{"not-allowed types missing", assignment("-parameters", "policyDefinitionId: "+NotAllowedResourceTypesPolicy+" #!"),
			[]string{"t.yaml:L1: policy assignment a: parameters.listOfResourceTypesNotAllowed.value is required"}},
		{"not-allowed types empty", assignment("parameters: {listOfResourceTypesNotAllowed: {value: []}} #!"),
			[]string{"t.yaml:L1: policy assignment a: parameters.listOfResourceTypesNotAllowed.value must not be empty"}},
		{"not-allowed type shape", assignment("parameters:\n  listOfResourceTypesNotAllowed:\n    value: [Microsoft.Network/publicIPAddresses, publicIPAddresses] #!"),
			[]string{`t.yaml:L1: policy assignment a: parameters.listOfResourceTypesNotAllowed.value "publicIPAddresses" is not a resource type ` +
				"({namespace}/{type}[/{child}…], e.g. Microsoft.Network/publicIPAddresses)"}},
		{"built-in parameter typo", assignment("parameters: {listOfResourceTypesNotAllowed: {values: [Microsoft.Network/publicIPAddresses]}} #!"),
			[]string{"t.yaml:L1: policy assignment a: parameters.listOfResourceTypesNotAllowed.value is required",
				`t.yaml:L1: policy assignment a: unknown field "parameters.listOfResourceTypesNotAllowed.values"; did you mean "value"?`}},
		{"deny property without a condition", assignment("policyDefinitionId: "+DenyPropertyPolicy,
			"parameters: {resourceType: {value: Microsoft.Network/publicIPAddresses}, field: {value: properties.ipAddress}} #!"),
			[]string{"t.yaml:L1: policy assignment a: parameters needs equals (deny this value) or exists false (deny when absent)"}},
		{"deny property exists true", assignment("policyDefinitionId: "+DenyPropertyPolicy,
			"parameters: {resourceType: {value: Microsoft.Network/publicIPAddresses}, field: {value: properties.ipAddress}, exists: {value: true}} #!"),
			[]string{"t.yaml:L1: policy assignment a: parameters.exists.value true denies nothing; use false (deny when properties.ipAddress is absent) or equals"}},
		{"deny property field missing", assignment("policyDefinitionId: "+DenyPropertyPolicy,
			"parameters: {resourceType: {value: Microsoft.Network/publicIPAddresses}, equals: {value: 1}} #!"),
			[]string{"t.yaml:L1: policy assignment a: parameters.field.value is required"}},
		{"deny property type shape", assignment("policyDefinitionId: "+DenyPropertyPolicy,
			"parameters: {resourceType: {value: publicIPAddresses}, field: {value: location}, equals: {value: eastus}} #!"),
			[]string{`t.yaml:L1: policy assignment a: parameters.resourceType.value "publicIPAddresses" is not a resource type ` +
				"({namespace}/{type}[/{child}…], e.g. Microsoft.Network/publicIPAddresses)"}},
		{"not scope id", assignment("notScopes: [/resourceGroups/rg2, rg3] #!"),
			[]string{`t.yaml:L1: policy assignment a: notScopes: resource id "rg3" must start with /subscriptions/ or /resourceGroups/`}},
		// An entry in ARM's own shape (an id, no resourceGroup) is placed by its id.
		{"id-placed entry of another type", file("  - type: Microsoft.Authorization/policyAssignments\n    name: a\n" +
			"    id: " + sub1 + "Microsoft.Network/routeTables/a #!\n    properties: {policyDefinitionId: /providers/x}\n"),
			[]string{"t.yaml:L1: policy assignment resources[0]: id " + sub1 + "Microsoft.Network/routeTables/a is a Microsoft.Network/routeTables, not a Microsoft.Authorization/policyAssignments"}},
		{"id-placed entry whose name differs", file("  - type: Microsoft.Network/routeTables\n    name: b #!\n" +
			"    id: " + sub1 + "Microsoft.Network/routeTables/a\n"),
			[]string{"t.yaml:L1: route table a: name \"b\" does not match id " + sub1 + "Microsoft.Network/routeTables/a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eq(t, "problems", problems(t, "t.yaml", c.src), expect(t, c.src, c.want))
		})
	}
}

// Values that look odd but are valid must not be reported.
func TestValidValues(t *testing.T) {
	for _, c := range []struct{ name, src string }{
		{"one service tag in a list", rule("-sourceAddressPrefix", "sourceAddressPrefixes: [Storage.WestUS2]")},
		{"same priority, other direction", file(nsgEntry, entry(TypeSecurityRule, "nsg/a", ruleBase...), entry(TypeSecurityRule, "nsg/b", edit(ruleBase, "direction: Outbound")...))},
		{"empty singular beside the plural (Azure export)", rule(`sourceAddressPrefix: ""`, "sourceAddressPrefixes: [10.0.0.0/8, 10.1.0.1]",
			`destinationPortRange: ""`, "destinationPortRanges: ['80', 443, '1000-2000']")},
		{"Any protocol and ports", rule("protocol: Any", `destinationPortRange: "*"`)},
		{"null fields", rule("description: null", "sourcePortRange: null")},
		{"read-only fields of an export", file(entry(TypeVirtualNetwork, "vn", "provisioningState: Succeeded", "resourceGuid: x",
			"addressSpace: {addressPrefixes: [10.0.0.0/16]}", "enableDdosProtection: false",
			"subnets: [{name: s, id: x, etag: y, type: z, properties: {addressPrefix: 10.0.1.0/24, provisioningState: Succeeded, ipConfigurations: [{id: q}], purpose: x}}]"))},
		{"route to a service tag", route("addressPrefix: BatchNodeManagement.westus2")},
		{"canonical record apex and wildcard", file(entry(TypePrivateDNSZone, "z.net"), entry(TypeZoneA, "z.net/@"), entry(TypeZoneA, "z.net/*.apps"))},
		{"attached compute", compute("computeType: virtualmachine", "resourceId: /subscriptions/s2/resourceGroups/vms/providers/Microsoft.Compute/virtualMachines/vm",
			"properties: {virtualMachineSize: Standard_D4s_v3, sshPort: 22, address: 10.0.0.5}")},
		{"root and undotted domain names", rulesetFile(entry(TypeForwardingRule, "rs/all", edit(fwdRuleBase, "domainName: .", "forwardingRuleState: disabled")...),
			entry(TypeForwardingRule, "rs/c", edit(fwdRuleBase, "domainName: corp.Contoso_1.com", "targetDnsServers: [{ipAddress: 10.9.0.4, port: 5353}]", "metadata: {a: b}")...))},
		{"six targets", fwdRule("targetDnsServers: [" + strings.Repeat("{ipAddress: 10.9.0.4}, ", 5) + "{ipAddress: 10.9.0.5, port: 65535}]")},
		{"inbound endpoint export", resolverFile(entry(TypeInboundEndpoint, "dr/in", "provisioningState: Succeeded", "resourceGuid: x",
			"ipConfigurations: [{subnet: "+inRef+", privateIpAddress: 10.0.4.15, privateIpAllocationMethod: dynamic}]"))},
		{"one domain and VNet in two rulesets", rulesetFile(entry(TypeForwardingRule, "rs/r", fwdRuleBase...),
			entry(TypeRulesetLink, "rs/l", "virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/wn}"),
			strings.ReplaceAll(rulesetEntry, "name: rs", "name: rs2"), entry(TypeForwardingRule, "rs2/r", fwdRuleBase...),
			entry(TypeRulesetLink, "rs2/l", "virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/wn}"))},
		{"lock export", file(envEntry(TypeLock, "l", []string{"location: westus2", "id: /resourceGroups/rg/providers/Microsoft.Authorization/locks/l"},
			"level: readOnly", "owners: [{applicationId: x}]"))},
		{"subscription assignment with its id and any parameters", file("  - type: Microsoft.Authorization/policyAssignments\n    name: a\n" +
			"    id: /subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/a\n    location: westus2\n    identity: {type: SystemAssigned}\n" +
			"    properties: {policyDefinitionId: /providers/x, notScopes: [], parameters: {anything: [1, {a: b}]}, description: d, metadata: {}, nonComplianceMessages: []}\n")},
		{"built-in id in another case, nested types", assignment("policyDefinitionId: "+strings.ToUpper(NotAllowedResourceTypesPolicy),
			"parameters: {listOfResourceTypesNotAllowed: {value: [Microsoft.Network/virtualNetworks/subnets, Contoso.Widgets/widgets]}}",
			"notScopes: [/subscriptions/s2/resourceGroups/rg, /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/p]")},
		{"SNAT private ranges", firewall(`additionalProperties: {Network.SNAT.PrivateRanges: "IANAPrivateRanges, 20.1.0.0/16,20.2.0.1", Network.SNAT.AutoLearnPrivateRanges: Enabled}`)},
		{"policy SNAT private ranges", file(entry(TypeFirewallPolicy, "p", "snat: {privateRanges: [255.255.255.255/32], autoLearnPrivateRanges: Disabled}"))},
		{"firewall range and tag", firewall("networkRuleCollections: [{name: c, properties: {priority: 100, action: {type: Deny}, rules: " +
			"[{name: n, protocols: [Any], sourceAddresses: ['10.0.0.1-10.0.0.9'], destinationAddresses: [Storage], destinationPorts: ['*', '1-2']}]}}]")},
	} {
		t.Run(c.name, func(t *testing.T) { eq(t, "problems", problems(t, "t.yaml", c.src), []string(nil)) })
	}
}

// TestUnmodelledSettingsRefused: issue 18 point 10, no field is silently
// ignored. A setting that would change a verdict but that securetrain
// cannot model is refused, naming the field and why; its harmless values
// (and the fields docs/environment.md lists as without effect) decode.
func TestUnmodelledSettingsRefused(t *testing.T) {
	const (
		tiWhy   = "threat intelligence in Deny mode blocks what Microsoft's feed lists, which securetrain does not have; write Alert or Off to have flows judged by the rules alone"
		idpsWhy = "IDPS in Deny mode blocks what its signatures match, which securetrain does not have; write Alert or Off to have flows judged by the rules alone"
		gwWhy   = "gateway load balancer chaining is not modeled: the appliances behind it decide what passes"
	)
	policy := func(props ...string) string { return file(entry(TypeFirewallPolicy, "p", props...)) }
	nic := func(props string, ipProps string) string {
		return file(vnetWithSubnet, entry(TypeNIC, "nic", "ipConfigurations: [{name: c, properties: {subnet: "+subnetRef+ipProps+"}}]"+props))
	}
	peering := func(props string) string {
		return file(vnetEntry, entry(TypeVirtualNetwork, "hub", "addressSpace: {addressPrefixes: [10.1.0.0/16]}"),
			entry(TypePeering, "vn/p", "remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}", props))
	}
	for _, c := range []struct {
		name string
		src  string
		want []string
	}{
		// Azure Firewall and firewall policies.
		{"firewall threat intelligence Deny", firewall("threatIntelMode: Deny #!"),
			[]string{"t.yaml:L1: firewall fw: threatIntelMode Deny is not supported: " + tiWhy}},
		{"policy threat intelligence Deny", policy("threatIntelMode: deny #!"),
			[]string{"t.yaml:L1: firewall policy p: threatIntelMode Deny is not supported: " + tiWhy}},
		{"IDPS Deny", policy("intrusionDetection: {mode: Deny} #!"),
			[]string{"t.yaml:L1: firewall policy p: intrusionDetection.mode Deny is not supported: " + idpsWhy}},
		{"IDPS signature override Deny", policy("intrusionDetection:\n  mode: Alert\n  configuration:\n    signatureOverrides: [{id: '2024897', mode: Deny}] #!"),
			[]string{"t.yaml:L1: firewall policy p: intrusionDetection.configuration.signatureOverrides[0].mode Deny is not supported: " + idpsWhy}},
		{"explicit proxy", policy("explicitProxy: {enableExplicitProxy: true, httpPort: 8080} #!"),
			[]string{"t.yaml:L1: firewall policy p: explicitProxy.enableExplicitProxy true is not supported: the explicit proxy is not modeled: " +
				"securetrain judges flows routed through the firewall, not flows addressed to it as a proxy"}},
		{"SQL redirect", policy("sql: {allowSqlRedirect: true} #!"),
			[]string{"t.yaml:L1: firewall policy p: sql.allowSqlRedirect true is not supported: SQL redirect is not modeled: " +
				"it lets SQL clients reach database nodes on ports 11000-11999 after the gateway's 1433"}},
		{"Virtual WAN hub firewall", firewall("virtualHub: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualHubs/h} #!"),
			[]string{"t.yaml:L1: firewall fw: virtualHub is not supported: firewalls in a Virtual WAN hub are not modeled; place the firewall in a VNet's AzureFirewallSubnet"}},

		// Virtual networks and peerings.
		{"VNet encryption dropping unencrypted traffic", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}",
			"encryption: {enabled: true, enforcement: DropUnencrypted} #!")),
			[]string{"t.yaml:L1: virtual network vn: encryption.enforcement DropUnencrypted is not supported: which VMs can encrypt depends on their sizes, which the file does not hold"}},
		{"private endpoint VNet policies", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}", "privateEndpointVNetPolicies: Basic #!")),
			[]string{"t.yaml:L1: virtual network vn: privateEndpointVNetPolicies Basic is not supported: private endpoint VNet policies are not modeled; " +
				"NSGs apply to private endpoints by their subnet's privateEndpointNetworkPolicies"}},
		{"IPv6-only peering", peering("enableOnlyIPv6Peering: true #!"),
			[]string{"t.yaml:L1: peering vn/p: enableOnlyIPv6Peering true is not supported: only IPv4 is modeled, and an IPv6-only peering carries none of it"}},

		// Load balancers and NICs.
		{"floating IP", lb("loadBalancingRules: [{name: r, properties: " + strings.Replace(lbRuleProps, "{protocol", "{enableFloatingIP: true, protocol", 1) + "}] #!"),
			[]string{"t.yaml:L1: load balancer lb: loadBalancingRules[0].properties.enableFloatingIP true is not supported: " +
				"floating IP (direct server return) is not modeled: the backend would see the frontend's address as destination"}},
		{"NAT rule port range", lb("inboundNatRules: [{name: r, properties: {protocol: Tcp, frontendPortRangeStart: 500, frontendPortRangeEnd: 510, backendPort: 22, " +
			"frontendIPConfiguration: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/frontendIPConfigurations/fe}}}] #!#!"),
			[]string{"t.yaml:L1: load balancer lb: inboundNatRules[0].properties.frontendPortRangeStart is not supported: frontend port ranges are not modeled; give one frontendPort per rule",
				"t.yaml:L2: load balancer lb: inboundNatRules[0].properties.frontendPortRangeEnd is not supported: frontend port ranges are not modeled; give one frontendPort per rule"}},
		{"gateway load balancer on a frontend", lb("frontendIPConfigurations: [{name: fe, properties: {privateIPAddress: 10.0.1.4, " +
			"gatewayLoadBalancer: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/gw/frontendIPConfigurations/f}}}] #!"),
			[]string{"t.yaml:L1: load balancer lb: frontendIPConfigurations[0].properties.gatewayLoadBalancer is not supported: " + gwWhy}},
		{"gateway load balancer on a NIC", nic(" #!", ", gatewayLoadBalancer: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/gw/frontendIPConfigurations/f}"),
			[]string{"t.yaml:L1: network interface nic: ipConfigurations[0].properties.gatewayLoadBalancer is not supported: " + gwWhy}},
		{"NIC-targeted inbound NAT rule", nic(" #!", ", loadBalancerInboundNatRules: [{id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/inboundNatRules/ssh}]"),
			[]string{"t.yaml:L1: network interface nic: ipConfigurations[0].properties.loadBalancerInboundNatRules is not supported: " +
				"inbound NAT rules that name a NIC are not modeled; give the rule a backendAddressPool and list the pool in loadBalancerBackendAddressPools"}},
		{"stateless NIC", nic("\ndisableTcpStateTracking: true #!", ""),
			[]string{"t.yaml:L1: network interface nic: disableTcpStateTracking true is not supported: NSGs are modeled as stateful: without state tracking a reply needs its own rule"}},

		// Attached computes.
		{"attached VM SSH port", compute("computeType: VirtualMachine", "resourceId: /resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
			"properties: {sshPort: 2222} #!"),
			[]string{"t.yaml:L1: compute ws/cc: properties.sshPort 2222 is not supported: Azure ML's SSH to an attached VM is checked on port 22"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			eq(t, "problems", problems(t, "t.yaml", c.src), expect(t, c.src, c.want))
		})
	}
	// The same settings with the values that change no verdict decode.
	for _, c := range []struct{ name, src string }{
		{"threat intelligence Alert and Off", file(fwVNet, entry(TypeFirewall, "fw", edit(fwBase, "threatIntelMode: Alert")...), entry(TypeFirewallPolicy, "p", `threatIntelMode: "Off"`))},
		{"IDPS Alert with bypass and ranges", policy("intrusionDetection:\n  mode: Alert\n  profile: Standard\n  configuration:\n" +
			"    signatureOverrides: [{id: '2024897', mode: Alert}]\n    bypassTrafficSettings: [{name: b}]\n    privateRanges: [10.0.0.0/8]")},
		{"policy settings without effect", policy("explicitProxy: {enableExplicitProxy: false, httpPort: 8080}", "sql: {allowSqlRedirect: false}",
			"transportSecurity: {certificateAuthority: {name: ca, keyVaultSecretId: x}}", "insights: {isEnabled: true, retentionDays: 30}")},
		{"VNet encryption allowing unencrypted traffic", file(entry(TypeVirtualNetwork, "vn", "addressSpace: {addressPrefixes: [10.0.0.0/16]}",
			"encryption: {enabled: true, enforcement: AllowUnencrypted}", "privateEndpointVNetPolicies: Disabled"))},
		{"dual-stack peering", peering("enableOnlyIPv6Peering: false")},
		{"NIC with state tracking", nic("\ndisableTcpStateTracking: false", "")},
		{"attached VM on port 22", compute("computeType: VirtualMachine", "resourceId: /resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
			"properties: {sshPort: 22}")},
	} {
		t.Run("accepted/"+c.name, func(t *testing.T) { eq(t, "problems", problems(t, "t.yaml", c.src), []string(nil)) })
	}
}
