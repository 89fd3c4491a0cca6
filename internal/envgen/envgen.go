// Package envgen generates large or random environment files, for the
// benchmarks in docs/performance.md and for the randomised comparison of the
// fast verifier with the reference one. Output is an ordinary environment
// file (JSON), so `securetrain flow` and `check` accept it as it is.
package envgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Options shape a generated environment.
type Options struct {
	Seed           uint64
	VNets          int
	SubnetsPerVNet int
	// NSGs are shared round-robin by the subnets; RulesPerNSG are split
	// between inbound and outbound.
	NSGs          int
	RulesPerNSG   int
	RoutesPerVNet int
	// Computes are spread round-robin over the subnets.
	Computes int
	// Firewall adds a hub VNet with an Azure Firewall that VNets peer with
	// and route 0.0.0.0/0 (and random prefixes) to.
	Firewall bool
	// FirewallRules shapes the firewall's rules (classic collections of
	// both kinds by default); the other shapes are the sparse or empty
	// ones real firewalls have, so that random tests meet them.
	FirewallRules FirewallShape
	// Hosts adds, per VNet, what flows meet besides subnets: a NIC with a
	// public IP of a random SKU, a load balancer (TCP 80 -> 8080, NAT TCP
	// 50022 -> 22) in front of a second NIC, a private endpoint, and at
	// random a NAT gateway, a subnet without NSG, private endpoint network
	// policies, and hub peerings that block VNet access or forwarded
	// traffic — so that random tests meet every rule of the walk.
	Hosts bool
	// Peerings peers each VNet with the next one: both ways, one way only
	// (not connected) or with VNet access off, at random.
	Peerings bool
	Region   string
}

// FirewallShape is how a generated firewall holds its rules.
type FirewallShape int

// Firewall rule shapes. FirewallShapes counts them.
const (
	// FirewallClassic: a network and an application rule collection.
	FirewallClassic FirewallShape = iota
	// FirewallClassicAppOnly: application rules, no network rules.
	FirewallClassicAppOnly
	// FirewallClassicNoRules: no rule collection at all.
	FirewallClassicNoRules
	// FirewallClassicEmptyCollections: collections of each kind without rules.
	FirewallClassicEmptyCollections
	// FirewallPolicyGroups: a policy with DNS proxy, SNAT of every
	// destination and a base policy; the base holds network rules (one by
	// FQDN, one allowing traffic between the spokes, which route 10.0.0.0/8
	// to the firewall), the child an application-only group, an empty group
	// and a group with an empty collection.
	FirewallPolicyGroups
	// FirewallPolicyAppOnly: a policy whose only group holds application rules.
	FirewallPolicyAppOnly
	// FirewallPolicyNoGroups: a policy without rule collection groups.
	FirewallPolicyNoGroups
	FirewallShapes
)

// Large is the benchmark environment of docs/performance.md: 100 VNets × 10
// subnets, 100 NSGs × 1,000 rules.
func Large() Options {
	return Options{Seed: 1, VNets: 100, SubnetsPerVNet: 10, NSGs: 100, RulesPerNSG: 1000, RoutesPerVNet: 20,
		Computes: 1000, Firewall: true, Region: "westus2"}
}

// Tags a generated rule or route may name: common ones, regional ones, and
// the computed ones.
var ruleTags = []string{
	"AzureMachineLearning", "BatchNodeManagement.WestUS2", "Storage.WestUS2", "Storage", "AzureActiveDirectory",
	"AzureResourceManager", "AzureFrontDoor.FrontEnd", "MicrosoftContainerRegistry", "AzureMonitor",
	"AzureCloud.westus2", "Sql.WestUS2", "AzureKeyVault", "VirtualNetwork", "Internet", "AzureLoadBalancer",
}

var routeTags = []string{"AzureMachineLearning", "BatchNodeManagement.WestUS2", "Storage.WestUS2", "AzureCloud.westus2", "AzureMonitor"}

const subscription = "00000000-0000-0000-0000-000000000001"

type gen struct {
	o   Options
	r   *rand.Rand
	out []map[string]any
	// pendingPeering is the peering back a VNet gets when it is built
	// (nil: none), for Options.Peerings.
	pendingPeering map[int]map[string]any
}

// Generate returns an environment file.
func Generate(o Options) []byte {
	if o.Region == "" {
		o.Region = "westus2"
	}
	g := &gen{o: o, r: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), pendingPeering: map[int]map[string]any{}}
	g.build()
	data, err := json.MarshalIndent(map[string]any{"subscription": subscription, "resources": g.out}, "", " ")
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return data
}

func (g *gen) add(typ, rg, name string, props map[string]any) {
	g.out = append(g.out, map[string]any{"type": typ, "resourceGroup": rg, "name": name, "location": g.o.Region, "properties": props})
}

func ref(rg, typ, name string) map[string]any {
	return map[string]any{"id": fmt.Sprintf("/resourceGroups/%s/providers/%s/%s", rg, typ, name)}
}

func (g *gen) build() {
	o := g.o
	hubIP := "10.255.0.4"
	if o.Firewall {
		g.add("Microsoft.Network/publicIPAddresses", "hub", "fw-pip", map[string]any{"ipAddress": "20.1.2.3", "publicIPAllocationMethod": "Static"})
		g.add("Microsoft.Network/virtualNetworks", "hub", "hub", map[string]any{
			"addressSpace":           map[string]any{"addressPrefixes": []string{"10.255.0.0/16"}},
			"subnets":                []any{map[string]any{"name": "AzureFirewallSubnet", "properties": map[string]any{"addressPrefix": "10.255.0.0/24"}}},
			"virtualNetworkPeerings": g.hubPeerings(),
		})
		fw := map[string]any{
			"ipConfigurations": []any{map[string]any{"name": "ipc", "properties": map[string]any{
				"subnet":          ref("hub", "Microsoft.Network/virtualNetworks", "hub/subnets/AzureFirewallSubnet"),
				"publicIPAddress": ref("hub", "Microsoft.Network/publicIPAddresses", "fw-pip")}}},
		}
		g.firewallRules(fw)
		g.add("Microsoft.Network/azureFirewalls", "hub", "fw", fw)
	}
	for i := 0; i < o.NSGs; i++ {
		g.add("Microsoft.Network/networkSecurityGroups", "net", fmt.Sprintf("nsg%d", i), map[string]any{"securityRules": g.rules()})
	}
	subnetIDs := []string{}
	for v := 0; v < o.VNets; v++ {
		vnet := fmt.Sprintf("vnet%d", v)
		var subnets []any
		for s := 0; s < o.SubnetsPerVNet; s++ {
			props := map[string]any{"addressPrefix": fmt.Sprintf("10.%d.%d.0/24", v, s)}
			if o.NSGs > 0 {
				// The subnets of a VNet share its NSG.
				props["networkSecurityGroup"] = ref("net", "Microsoft.Network/networkSecurityGroups", fmt.Sprintf("nsg%d", v%o.NSGs))
			}
			if o.RoutesPerVNet > 0 {
				props["routeTable"] = ref("net", "Microsoft.Network/routeTables", "rt-"+vnet)
			}
			if g.r.IntN(3) == 0 {
				props["serviceEndpoints"] = []any{map[string]any{"service": "Microsoft.Storage"}}
			}
			if g.r.IntN(4) == 0 {
				props["defaultOutboundAccess"] = false
			}
			if o.Hosts {
				g.hostSubnet(props)
			}
			subnets = append(subnets, map[string]any{"name": fmt.Sprintf("s%d", s), "properties": props})
			subnetIDs = append(subnetIDs, fmt.Sprintf("/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/%s/subnets/s%d", vnet, s))
		}
		props := map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{fmt.Sprintf("10.%d.0.0/16", v)}}, "subnets": subnets}
		var peerings []any
		if o.Firewall {
			peering := map[string]any{"remoteVirtualNetwork": ref("hub", "Microsoft.Network/virtualNetworks", "hub")}
			if o.Hosts {
				peering["allowVirtualNetworkAccess"] = g.r.IntN(3) != 0
			}
			peerings = append(peerings, map[string]any{"name": "to-hub", "properties": peering})
		}
		if o.Peerings {
			peerings = append(peerings, g.vnetPeerings(v)...)
		}
		if peerings != nil {
			props["virtualNetworkPeerings"] = peerings
		}
		g.add("Microsoft.Network/virtualNetworks", "net", vnet, props)
		if o.Hosts {
			g.hosts(v)
		}
		if o.RoutesPerVNet > 0 {
			g.add("Microsoft.Network/routeTables", "net", "rt-"+vnet, map[string]any{"routes": g.routes(hubIP)})
		}
	}
	if o.Computes > 0 {
		g.add("Microsoft.MachineLearningServices/workspaces", "ml", "mlws", map[string]any{})
	}
	for c := 0; c < o.Computes && len(subnetIDs) > 0; c++ {
		props := map[string]any{"vmSize": "STANDARD_D2_V2", "enableNodePublicIp": g.r.IntN(2) == 0,
			"subnet": map[string]any{"id": subnetIDs[c%len(subnetIDs)]}}
		typ := "ComputeInstance"
		if c%2 == 0 {
			typ = "AmlCompute"
			props["scaleSettings"] = map[string]any{"minNodeCount": 0, "maxNodeCount": 4}
		}
		g.add("Microsoft.MachineLearningServices/workspaces/computes", "ml", fmt.Sprintf("mlws/c%d", c),
			map[string]any{"computeType": typ, "properties": props})
	}
}

func (g *gen) hubPeerings() []any {
	var out []any
	for v := 0; v < g.o.VNets; v++ {
		props := map[string]any{"remoteVirtualNetwork": ref("net", "Microsoft.Network/virtualNetworks", fmt.Sprintf("vnet%d", v))}
		if g.o.Hosts {
			props["allowForwardedTraffic"] = g.r.IntN(3) != 0
		}
		out = append(out, map[string]any{"name": fmt.Sprintf("to-vnet%d", v), "properties": props})
	}
	return out
}

// vnetPeerings are VNet v's peerings with its neighbours v-1 and v+1 for
// Options.Peerings. Each pair is drawn once, when its lower VNet is built:
// connected (both ways), one way only, or both ways with VNet access off
// on one side; the higher VNet's side is drawn then and kept for it.
func (g *gen) vnetPeerings(v int) []any {
	peering := func(remote int, access bool) map[string]any {
		return map[string]any{"name": fmt.Sprintf("to-vnet%d", remote), "properties": map[string]any{
			"remoteVirtualNetwork":      ref("net", "Microsoft.Network/virtualNetworks", fmt.Sprintf("vnet%d", remote)),
			"allowVirtualNetworkAccess": access}}
	}
	var out []any
	if back, ok := g.pendingPeering[v]; ok {
		delete(g.pendingPeering, v)
		if back != nil {
			out = append(out, back)
		}
	}
	if v+1 < g.o.VNets {
		switch g.r.IntN(4) {
		case 0: // one way: not connected
			out = append(out, peering(v+1, true))
			g.pendingPeering[v+1] = nil
		case 1: // VNet access off on the far side
			out = append(out, peering(v+1, true))
			g.pendingPeering[v+1] = peering(v, false)
		default:
			out = append(out, peering(v+1, true))
			g.pendingPeering[v+1] = peering(v, true)
		}
	}
	return out
}

// hostSubnet varies a subnet for Options.Hosts.
func (g *gen) hostSubnet(props map[string]any) {
	if g.r.IntN(4) == 0 {
		delete(props, "networkSecurityGroup")
	}
	if g.r.IntN(3) == 0 {
		props["natGateway"] = ref("net", "Microsoft.Network/natGateways", "nat")
		if len(g.out) == 0 || g.out[0]["name"] != "nat" {
			g.out = append([]map[string]any{{"type": "Microsoft.Network/natGateways", "resourceGroup": "net", "name": "nat",
				"location": g.o.Region, "properties": map[string]any{}}}, g.out...)
		}
	}
	props["privateEndpointNetworkPolicies"] = []string{"Disabled", "Enabled", "RouteTableEnabled", "NetworkSecurityGroupEnabled"}[g.r.IntN(4)]
}

// hosts adds Options.Hosts' resources to VNet v: NICs at .10 (public IP)
// and .11 (load balancer backend) of subnet s0, a private endpoint at .20
// of the last subnet.
func (g *gen) hosts(v int) {
	vnet := fmt.Sprintf("vnet%d", v)
	subnet := func(s int) map[string]any {
		return ref("net", "Microsoft.Network/virtualNetworks", fmt.Sprintf("%s/subnets/s%d", vnet, s))
	}
	sku := func() map[string]any {
		return map[string]any{"name": []string{"Standard", "Basic", "Standard"}[g.r.IntN(3)]}
	}
	pip := func(name string, host int) {
		g.out = append(g.out, map[string]any{"type": "Microsoft.Network/publicIPAddresses", "resourceGroup": "net", "name": name,
			"location": g.o.Region, "sku": sku(), "properties": map[string]any{"ipAddress": fmt.Sprintf("20.200.%d.%d", v, host)}})
	}
	pip(vnet+"-vm-pip", 1)
	pip(vnet+"-lb-pip", 2)
	vm := map[string]any{"ipConfigurations": []any{map[string]any{"name": "ipc", "properties": map[string]any{
		"privateIPAddress": fmt.Sprintf("10.%d.0.10", v), "subnet": subnet(0),
		"publicIPAddress": ref("net", "Microsoft.Network/publicIPAddresses", vnet+"-vm-pip")}}}}
	if g.o.NSGs > 0 && g.r.IntN(2) == 0 {
		vm["networkSecurityGroup"] = ref("net", "Microsoft.Network/networkSecurityGroups", fmt.Sprintf("nsg%d", g.r.IntN(g.o.NSGs)))
	}
	g.add("Microsoft.Network/networkInterfaces", "net", vnet+"-vm", vm)
	lb := "/resourceGroups/net/providers/Microsoft.Network/loadBalancers/" + vnet + "-lb"
	part := func(kind, name string) map[string]any { return map[string]any{"id": lb + "/" + kind + "/" + name} }
	lbRule := func(name string, front, back int) map[string]any {
		return map[string]any{"name": name, "properties": map[string]any{"protocol": "Tcp", "frontendPort": front, "backendPort": back,
			"frontendIPConfiguration": part("frontendIPConfigurations", "fe"), "backendAddressPool": part("backendAddressPools", "pool")}}
	}
	g.out = append(g.out, map[string]any{"type": "Microsoft.Network/loadBalancers", "resourceGroup": "net", "name": vnet + "-lb",
		"location": g.o.Region, "sku": sku(), "properties": map[string]any{
			"frontendIPConfigurations": []any{map[string]any{"name": "fe", "properties": map[string]any{
				"publicIPAddress": ref("net", "Microsoft.Network/publicIPAddresses", vnet+"-lb-pip")}}},
			"backendAddressPools": []any{map[string]any{"name": "pool"}},
			"loadBalancingRules":  []any{lbRule("web", 80, 8080)},
			"inboundNatRules":     []any{lbRule("ssh", 50022, 22)},
		}})
	g.add("Microsoft.Network/networkInterfaces", "net", vnet+"-web", map[string]any{"ipConfigurations": []any{map[string]any{"name": "ipc",
		"properties": map[string]any{"privateIPAddress": fmt.Sprintf("10.%d.0.11", v), "subnet": subnet(0),
			"loadBalancerBackendAddressPools": []any{part("backendAddressPools", "pool")}}}}})
	last := g.o.SubnetsPerVNet - 1
	g.add("Microsoft.Network/privateEndpoints", "net", vnet+"-pe", map[string]any{"subnet": subnet(last),
		"privateLinkServiceConnections": []any{map[string]any{"name": "c", "properties": map[string]any{
			"privateLinkServiceId": "/resourceGroups/net/providers/Microsoft.Storage/storageAccounts/st" + vnet, "groupIds": []string{"blob"}}}},
		"ipConfigurations": []any{map[string]any{"name": "ip", "properties": map[string]any{"groupId": "blob", "memberName": "blob",
			"privateIPAddress": fmt.Sprintf("10.%d.%d.20", v, last)}}}})
}

// address returns a random rule address: a private or public CIDR, a host,
// a service tag or "*".
func (g *gen) address() string {
	switch x := g.r.IntN(20); {
	case x < 9:
		bits := 16 + g.r.IntN(17)
		return prefix(10<<24|uint32(g.r.IntN(g.o.VNets+1))<<16|g.r.Uint32()&0xFFFF, bits)
	case x < 12:
		return prefix(g.r.Uint32()&0x7FFFFFFF|0x14000000, 8+g.r.IntN(25))
	case x < 18:
		return ruleTags[g.r.IntN(len(ruleTags))]
	}
	return "*"
}

func prefix(u uint32, bits int) string {
	u &^= (1<<(32-bits) - 1)
	if bits == 32 {
		return fmt.Sprintf("%d.%d.%d.%d", u>>24, u>>16&255, u>>8&255, u&255)
	}
	return fmt.Sprintf("%d.%d.%d.%d/%d", u>>24, u>>16&255, u>>8&255, u&255, bits)
}

func (g *gen) ports() string {
	switch x := g.r.IntN(10); {
	case x < 3:
		return "*"
	case x < 7:
		return fmt.Sprint([]int{22, 80, 443, 445, 5831, 8787, 18881, 44224, 3389, 1433}[g.r.IntN(10)])
	case x < 9:
		lo := g.r.IntN(60000)
		return fmt.Sprintf("%d-%d", lo, lo+g.r.IntN(5000))
	}
	return fmt.Sprintf("%d,%d", g.r.IntN(1024), 1024+g.r.IntN(1024))
}

func (g *gen) rules() []any {
	var out []any
	protos := []string{"Tcp", "Udp", "*", "Icmp", "Tcp", "*"}
	for i := 0; i < g.o.RulesPerNSG; i++ {
		dir := "Inbound"
		if i%2 == 1 {
			dir = "Outbound"
		}
		out = append(out, map[string]any{"name": fmt.Sprintf("r%d", i), "properties": map[string]any{
			"priority": 100 + i/2*3 + g.r.IntN(3), "direction": dir,
			"access":                   []string{"Allow", "Deny"}[g.r.IntN(2)],
			"protocol":                 protos[g.r.IntN(len(protos))],
			"sourceAddressPrefix":      g.address(),
			"sourcePortRange":          "*",
			"destinationAddressPrefix": g.address(),
			"destinationPortRange":     g.ports(),
		}})
	}
	return out
}

func (g *gen) routes(hubIP string) []any {
	var out []any
	seen := map[string]bool{}
	for i := 0; i < g.o.RoutesPerVNet; i++ {
		var p string
		switch g.r.IntN(4) {
		case 0:
			p = routeTags[g.r.IntN(len(routeTags))]
		case 1:
			p = prefix(g.r.Uint32()&0x7FFFFFFF|0x14000000, 8+g.r.IntN(17))
		default:
			p = prefix(10<<24|uint32(g.r.IntN(g.o.VNets+1))<<16|g.r.Uint32()&0xFFFF, 16+g.r.IntN(9))
		}
		if i == 0 && g.o.Firewall {
			p = "0.0.0.0/0"
		}
		eastWest := i == 1 && g.o.Firewall && g.o.FirewallRules == FirewallPolicyGroups
		if eastWest {
			// Traffic between the spokes goes through the firewall too.
			p = "10.0.0.0/8"
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		props := map[string]any{"addressPrefix": p}
		switch x := g.r.IntN(6); {
		case i == 0 && g.o.Firewall, eastWest, x < 2 && g.o.Firewall:
			props["nextHopType"], props["nextHopIpAddress"] = "VirtualAppliance", hubIP
		case x < 4:
			props["nextHopType"] = "Internet"
		case x < 5:
			props["nextHopType"] = "None"
		default:
			props["nextHopType"] = "VnetLocal"
		}
		out = append(out, map[string]any{"name": fmt.Sprintf("route%d", i), "properties": props})
	}
	return out
}

// firewallRules gives the firewall its rules in the chosen shape: classic
// collections in its properties, or a policy (resources of their own).
func (g *gen) firewallRules(fw map[string]any) {
	classic := func(kind string, priority int, rules []any) map[string]any {
		action := map[string]any{"type": "Allow"}
		return map[string]any{"name": kind, "properties": map[string]any{"priority": priority, "action": action, "rules": rules}}
	}
	switch g.o.FirewallRules {
	case FirewallClassic:
		fw["networkRuleCollections"] = []any{classic("net", 100, g.firewallNetworkRules(""))}
		fw["applicationRuleCollections"] = []any{classic("app", 200, firewallAppRules(""))}
	case FirewallClassicAppOnly:
		fw["applicationRuleCollections"] = []any{classic("app", 200, firewallAppRules(""))}
	case FirewallClassicNoRules:
	case FirewallClassicEmptyCollections:
		fw["networkRuleCollections"] = []any{classic("net", 100, []any{})}
		fw["applicationRuleCollections"] = []any{classic("app", 200, []any{})}
	default:
		fw["firewallPolicy"] = ref("hub", "Microsoft.Network/firewallPolicies", "child")
		g.firewallPolicies()
	}
}

func (g *gen) firewallPolicies() {
	child := map[string]any{}
	filter := func(name string, priority int, action string, rules []any) map[string]any {
		return map[string]any{"ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": name, "priority": priority,
			"action": map[string]any{"type": action}, "rules": rules}
	}
	group := func(name string, priority int, colls ...any) {
		props := map[string]any{"priority": priority}
		if colls != nil {
			props["ruleCollections"] = colls
		}
		g.out = append(g.out, map[string]any{"type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups", "resourceGroup": "hub",
			"name": name, "properties": props})
	}
	switch g.o.FirewallRules {
	case FirewallPolicyGroups:
		child["basePolicy"] = ref("hub", "Microsoft.Network/firewallPolicies", "base")
		child["dnsSettings"] = map[string]any{"enableProxy": true}
		// Always SNAT: network-rule traffic into the VNets arrives from
		// the firewall's subnet.
		child["snat"] = map[string]any{"privateRanges": []string{"255.255.255.255/32"}}
		g.add("Microsoft.Network/firewallPolicies", "hub", "base", map[string]any{})
		fqdn := map[string]any{"ruleType": "NetworkRule", "name": "ntp", "ipProtocols": []string{"UDP"}, "sourceAddresses": []string{"*"},
			"destinationFqdns": []string{"ntp.ubuntu.com"}, "destinationPorts": []string{"123"}}
		eastWest := map[string]any{"ruleType": "NetworkRule", "name": "east-west", "ipProtocols": []string{"Any"}, "sourceAddresses": []string{"10.0.0.0/8"},
			"destinationAddresses": []string{"10.0.0.0/8"}, "destinationPorts": []string{"*"}}
		group("base/platform", 100, filter("deny", 100, "Deny", g.firewallNetworkRules("NetworkRule")[:5]),
			filter("net", 200, "Allow", append(g.firewallNetworkRules("NetworkRule"), fqdn, eastWest)))
		group("child/apps", 100, filter("web", 100, "Allow", firewallAppRules("ApplicationRule")))
		group("child/empty", 200)
		group("child/hollow", 300, filter("none", 100, "Allow", []any{}))
	case FirewallPolicyAppOnly:
		group("child/apps", 100, filter("web", 100, "Allow", firewallAppRules("ApplicationRule")))
	}
	g.add("Microsoft.Network/firewallPolicies", "hub", "child", child)
}

// firewallNetworkRules are random network rules; ruleType is set for
// policy rules, which also name their protocols ipProtocols.
func (g *gen) firewallNetworkRules(ruleType string) []any {
	var rules []any
	for i := 0; i < 20; i++ {
		// Drawn in the order of earlier versions, so Large() is unchanged.
		protocols := []string{[]string{"TCP", "UDP", "Any"}[g.r.IntN(3)]}
		r := map[string]any{"name": fmt.Sprintf("n%d", i), "sourceAddresses": []string{"10.0.0.0/8"}, "destinationAddresses": []string{g.address()},
			"destinationPorts": strings.Split(g.ports(), ",")}
		if ruleType != "" {
			r["ruleType"], r["ipProtocols"] = ruleType, protocols
		} else {
			r["protocols"] = protocols
		}
		rules = append(rules, r)
	}
	return rules
}

func firewallAppRules(ruleType string) []any {
	r := map[string]any{"name": "pypi", "sourceAddresses": []string{"*"},
		"protocols": []any{map[string]any{"protocolType": "Https", "port": 443}}, "targetFqdns": []string{"pypi.org", "*.pythonhosted.org"}}
	if ruleType != "" {
		r["ruleType"] = ruleType
	}
	return []any{r}
}
