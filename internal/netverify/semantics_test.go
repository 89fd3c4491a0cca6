package netverify

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// baseEnv: VNet vnet1 (10.1.0.0/16, westus2) with subnets a and b, NSGs on
// both subnets, a VM NIC in each, and a route table on a. Tests append
// rules and routes through the {{…}} placeholders.
const baseEnv = envHeader + `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg-a
    location: westus2
    properties:
      securityRules: [{{NSG_A}}]
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg-b
    location: westus2
    properties:
      securityRules: [{{NSG_B}}]
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg-nic
    location: westus2
    properties:
      securityRules: [{{NSG_NIC}}]
  - type: Microsoft.Network/routeTables
    resourceGroup: rg
    name: rt-a
    location: westus2
    properties:
      routes: [{{ROUTES}}]
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet1
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.1.0.0/16]}
      subnets:
        - name: a
          properties:
            addressPrefix: 10.1.1.0/24
            networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-a}
            routeTable: {id: /resourceGroups/rg/providers/Microsoft.Network/routeTables/rt-a}
            {{SUBNET_A}}
        - name: b
          properties:
            addressPrefix: 10.1.2.0/24
            networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-b}
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: rg
    name: vm-a
    location: westus2
    properties:
      networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-nic}
      ipConfigurations:
        - name: ipc
          properties:
            privateIPAddress: 10.1.1.10
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/a}
            applicationSecurityGroups: [{id: /resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/web}]
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: rg
    name: vm-b
    location: westus2
    properties:
      ipConfigurations:
        - name: ipc
          properties:
            privateIPAddress: 10.1.2.10
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/b}
  - type: Microsoft.Network/applicationSecurityGroups
    resourceGroup: rg
    name: web
    location: westus2
{{EXTRA}}
`

// env fills baseEnv's placeholders; unnamed ones become empty.
func env(fill map[string]string) string {
	s := baseEnv
	for _, k := range []string{"NSG_A", "NSG_B", "NSG_NIC", "ROUTES", "SUBNET_A", "EXTRA"} {
		s = strings.ReplaceAll(s, "{{"+k+"}}", fill[k])
	}
	return s
}

func rule(name string, prio int, dir, access, proto, src, dst, ports string) string {
	return `{name: ` + name + `, properties: {priority: ` + strconv.Itoa(prio) + `, direction: ` + dir + `, access: ` + access +
		`, protocol: "` + proto + `", sourceAddressPrefix: "` + src + `", sourcePortRange: "*", destinationAddressPrefix: "` + dst +
		`", destinationPortRange: "` + ports + `"}},`
}

func TestNSGFirstMatchByPriority(t *testing.T) { // spec §8.1: lower priority number first, first match wins
	n := compileYAML(t, env(map[string]string{"NSG_B": rule("deny443", 200, "Inbound", "Deny", "Tcp", "*", "*", "443") +
		rule("allow443", 100, "Inbound", "Allow", "Tcp", "10.1.1.0/24", "*", "443")}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.10", Protocol: "TCP", Port: 443}), Allowed, "allow443")
	expect(t, flow(t, n, textQuery{From: "10.1.1.11", To: "10.1.2.10", Protocol: "UDP", Port: 443}), Allowed, "AllowVnetInBound")
	expect(t, flow(t, n, textQuery{From: "10.1.1.11", To: "10.1.2.10", Protocol: "TCP", Port: 443}), Allowed, "allow443")
}

func TestNSGDefaultRulesDenyInternetInbound(t *testing.T) { // spec §8.1 default rules
	n := compileYAML(t, env(nil))
	expect(t, flow(t, n, textQuery{From: "8.8.8.8", To: "10.1.2.10", Protocol: "TCP", Port: 22}), NoRoute, "not reachable from outside")
	expect(t, flow(t, n, textQuery{From: "10.1.2.10", To: "10.1.1.10", Protocol: "TCP", Port: 22}), Allowed, "AllowVnetInBound", "65000")
}

func TestNSGOrderOutboundNICThenSubnet(t *testing.T) { // spec §8.1: outbound NIC NSG, then subnet NSG
	n := compileYAML(t, env(map[string]string{
		"NSG_NIC": rule("nicdeny", 100, "Outbound", "Deny", "Tcp", "*", "*", "80"),
		"NSG_A":   rule("subnetdeny", 100, "Outbound", "Deny", "Tcp", "*", "*", "80")}))
	res := flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.10", Protocol: "TCP", Port: 80})
	expect(t, res, Denied, "nicdeny")
	if strings.Contains(explain(res), "subnetdeny") {
		t.Error("subnet NSG evaluated after the NIC NSG denied")
	}
	// Another address of subnet a has no NIC NSG: the subnet NSG decides.
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "10.1.2.10", Protocol: "TCP", Port: 80}), Denied, "subnetdeny")
}

func TestNSGOrderInboundSubnetThenNIC(t *testing.T) { // spec §8.1: inbound subnet NSG, then NIC NSG
	n := compileYAML(t, env(map[string]string{
		"NSG_A":   rule("subnetallow", 100, "Inbound", "Allow", "Tcp", "*", "*", "8080"),
		"NSG_NIC": rule("nicdeny", 100, "Inbound", "Deny", "Tcp", "*", "*", "8080")}))
	res := flow(t, n, textQuery{From: "10.1.2.10", To: "10.1.1.10", Protocol: "TCP", Port: 8080})
	expect(t, res, Denied, "subnetallow", "nicdeny")
	if h := res.Outcomes[0].Hops; h[len(h)-1].Rule != "nicdeny" {
		t.Errorf("last hop %+v, want the NIC NSG's rule", h[len(h)-1])
	}
}

func TestSubnetEndpointByName(t *testing.T) {
	n := compileYAML(t, env(map[string]string{"NSG_B": rule("denyfroma", 100, "Inbound", "Deny", "*", "10.1.1.0/25", "*", "*")}))
	res := flow(t, n, textQuery{From: "vnet1/a", To: "vnet1/b", Protocol: "TCP", Port: 22})
	expect(t, res, PartiallyAllowed, "denyfroma")
	if res.Source.Kind != "subnet" || res.Source.Count != 251 {
		t.Errorf("source %+v", res.Source)
	}
	if _, err := n.ParseEndpoint("vnet1/nope"); err == nil || !strings.Contains(err.Error(), `"vnet1/nope"`) {
		t.Errorf("unknown subnet: %v", err)
	}
}

func TestNSGIntraSubnetFiltered(t *testing.T) { // spec §8.1: intra-subnet traffic is filtered
	n := compileYAML(t, env(map[string]string{"NSG_A": rule("nolateral", 100, "Inbound", "Deny", "*", "VirtualNetwork", "*", "16384")}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "10.1.1.10", Protocol: "TCP", Port: 16384}), Denied, "nolateral")
}

func TestNSGPortListsRangesAndASG(t *testing.T) { // spec §8.1: ports N, N-M, lists; ASGs
	n := compileYAML(t, env(map[string]string{"NSG_A": `{name: web, properties: {priority: 100, direction: Inbound, access: Deny, protocol: Tcp,
      sourceAddressPrefixes: [10.1.2.0/25, 10.1.2.200], sourcePortRange: "*",
      destinationApplicationSecurityGroups: [{id: /resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/web}],
      destinationPortRanges: ["80", "8000-8100"]}},`}))
	for _, c := range []struct {
		from, to string
		port     uint16
		want     Verdict
	}{
		{"10.1.2.10", "10.1.1.10", 80, Denied},
		{"10.1.2.10", "10.1.1.10", 8050, Denied},
		{"10.1.2.10", "10.1.1.10", 8101, Allowed},
		{"10.1.2.200", "10.1.1.10", 8000, Denied},
		{"10.1.2.201", "10.1.1.10", 8000, Allowed},
		{"10.1.2.10", "10.1.1.11", 80, Allowed}, // not in the ASG
	} {
		res := flow(t, n, textQuery{From: c.from, To: c.to, Protocol: "TCP", Port: c.port})
		if res.Verdict != c.want {
			t.Errorf("%s -> %s:%d = %s, want %s\n%s", c.from, c.to, c.port, res.Verdict, c.want, explain(res))
		}
	}
}

func TestNSGPlatformAddressesBypass(t *testing.T) { // spec §8.1: 168.63.129.16 bypasses NSGs
	n := compileYAML(t, env(map[string]string{"NSG_A": rule("denyall", 100, "Outbound", "Deny", "*", "*", "*", "*")}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "168.63.129.16", Protocol: "UDP", Port: 53}), Allowed, "platform address")
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.10", Protocol: "UDP", Port: 53}), Denied, "denyall")
	// Rules that name the platform tags do apply.
	n = compileYAML(t, env(map[string]string{"NSG_A": rule("nodns", 100, "Outbound", "Deny", "Udp", "*", "AzurePlatformDNS", "53") +
		rule("denyall", 200, "Outbound", "Deny", "*", "*", "*", "*")}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "168.63.129.16", Protocol: "UDP", Port: 53}), Denied, "nodns")
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "168.63.129.16", Protocol: "TCP", Port: 80}), Allowed, "platform address")
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "169.254.169.254", Protocol: "TCP", Port: 80}), Allowed, "platform address")
}

func TestNSGSetQueryPartiallyAllowed(t *testing.T) { // sets, not points
	n := compileYAML(t, env(map[string]string{"NSG_A": rule("denyhalf", 100, "Outbound", "Deny", "Tcp", "*", "10.1.2.0/25", "443")}))
	res := flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.0/24", Protocol: "TCP", Port: 443})
	expect(t, res, PartiallyAllowed, "denyhalf")
	got := map[Verdict]string{}
	for _, o := range res.Outcomes {
		got[o.Verdict] = strings.Join(o.Destinations, ",")
	}
	// The broadcast address is one of Azure's reserved five (spec §8.3).
	if got[Denied] != "10.1.2.0/25" || got[Allowed] != "10.1.2.128-10.1.2.254" || got[NoRoute] != "10.1.2.255" {
		t.Errorf("outcomes %v, want denied 10.1.2.0/25, allowed 10.1.2.128-10.1.2.254, no route 10.1.2.255\n%s", got, explain(res))
	}
}

func TestFixNamesWhatTheRuleBlocks(t *testing.T) {
	n := compileYAML(t, env(map[string]string{"NSG_A": rule("DenyStorageEast", 100, "Outbound", "Deny", "Tcp", "*", "Storage.EastUS", "443")}))
	res := flow(t, n, textQuery{From: "vnet1/a", To: "Storage", Protocol: "TCP", Port: 443})
	expect(t, res, PartiallyAllowed)
	denied := 0
	for _, o := range res.Outcomes {
		if o.Verdict == Denied {
			denied++
			// The NIC at 10.1.1.10 has its own NSG, so its piece stands apart.
			if !strings.Contains(o.Fix, "-> Storage.EastUS port 443 with a priority number below 100") {
				t.Errorf("fix %q", o.Fix)
			}
		}
	}
	if denied == 0 {
		t.Errorf("no denied piece:\n%s", explain(res))
	}
}

func TestRoutesLongestPrefixAndUDRWinsTie(t *testing.T) { // spec §8.2
	n := compileYAML(t, env(map[string]string{"ROUTES": `
        {name: blackhole, properties: {addressPrefix: 10.1.2.0/25, nextHopType: None}},
        {name: samevnet, properties: {addressPrefix: 10.1.0.0/16, nextHopType: None}},`}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.10", Protocol: "TCP", Port: 80}), NoRoute, "10.1.2.0/25 -> None")
	// The UDR for exactly the VNet's prefix beats the system VnetLocal route.
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.200", Protocol: "TCP", Port: 80}), NoRoute, "samevnet")
}

func TestRoutesServiceTagTieBreaks(t *testing.T) { // spec §8.2: explicit prefix > regional tag > top-level tag
	n := compileYAML(t, env(map[string]string{"ROUTES": `
        {name: aml, properties: {addressPrefix: AzureMachineLearning, nextHopType: None}},
        {name: amlwestus2, properties: {addressPrefix: AzureMachineLearning.WestUS2, nextHopType: Internet}},`}))
	// 20.42.0.240/28 style: take a prefix of the regional tag from the catalog.
	tag, _ := n.tags.Lookup("AzureMachineLearning.WestUS2")
	var addr string
	for _, p := range tag.Prefixes {
		if p.Addr().Is4() {
			addr = p.Addr().String()
			break
		}
	}
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: addr, Protocol: "TCP", Port: 443}), Allowed, "amlwestus2")
	other, _ := n.tags.Lookup("AzureMachineLearning")
	var outside string
	for _, p := range other.Prefixes {
		if p.Addr().Is4() && !strings.HasPrefix(p.Addr().String(), strings.Split(addr, ".")[0]+".") {
			outside = p.Addr().String()
			break
		}
	}
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: outside, Protocol: "TCP", Port: 443}), NoRoute, "aml")
}

func TestServiceEndpointRoute(t *testing.T) { // spec §8.2: service endpoint routes on the enabled subnet only
	n := compileYAML(t, env(map[string]string{"SUBNET_A": `serviceEndpoints: [{service: Microsoft.Storage}]
            defaultOutboundAccess: false`}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "Storage.WestUS2", Protocol: "TCP", Port: 443}),
		Allowed, "VirtualNetworkServiceEndpoint", "private source address")
	// Storage in a region that is neither westus2 nor its pair takes the
	// internet route, and subnet a has no way out.
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "Storage.EastUS", Protocol: "TCP", Port: 443}), NoOutboundConnectivity)
}

func TestEgressPrecedence(t *testing.T) { // spec §8.3: NAT gateway, then instance public IP, then default outbound
	extra := `
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: natip
    location: westus2
    properties: {ipAddress: 20.0.0.1}
  - type: Microsoft.Network/natGateways
    resourceGroup: rg
    name: nat
    location: westus2
    properties: {publicIpAddresses: [{id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/natip}]}`
	n := compileYAML(t, env(map[string]string{"EXTRA": extra}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "8.8.8.8", Protocol: "UDP", Port: 53}), Allowed, "default outbound access")
	n = compileYAML(t, env(map[string]string{"EXTRA": extra, "SUBNET_A": "natGateway: {id: /resourceGroups/rg/providers/Microsoft.Network/natGateways/nat}"}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "8.8.8.8", Protocol: "UDP", Port: 53}), Allowed, "NAT gateway nat", "20.0.0.1")
	n = compileYAML(t, env(map[string]string{"SUBNET_A": "defaultOutboundAccess: false"}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "8.8.8.8", Protocol: "UDP", Port: 53}), NoOutboundConnectivity)
}

func TestApplianceNextHopMissing(t *testing.T) { // spec §8.2: VirtualAppliance needs something at the IP
	n := compileYAML(t, env(map[string]string{"ROUTES": `{name: nva, properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.1.2.99}},`}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 443}), NoRoute, "not the address of any firewall")
	n = compileYAML(t, env(map[string]string{"ROUTES": `{name: nva, properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.1.2.10}},`}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "8.8.8.8", Protocol: "TCP", Port: 443}), NoRoute, "enableIPForwarding is false")
}

func TestPrivateEndpointNetworkPolicies(t *testing.T) { // spec §4, §8: NSGs apply to PEs only when policies say so
	pe := `
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: rg
    name: pe1
    location: westus2
    properties:
      subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/a}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1, groupIds: [blob]}}]
      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.1.1.50}}]`
	deny := rule("denyin", 100, "Inbound", "Deny", "*", "*", "*", "*")
	n := compileYAML(t, env(map[string]string{"EXTRA": pe, "NSG_A": deny}))
	expect(t, flow(t, n, textQuery{From: "10.1.2.10", To: "10.1.1.50", Protocol: "TCP", Port: 443}), Allowed, "NSGs do not apply")
	n = compileYAML(t, env(map[string]string{"EXTRA": pe, "NSG_A": deny, "SUBNET_A": "privateEndpointNetworkPolicies: Enabled"}))
	expect(t, flow(t, n, textQuery{From: "10.1.2.10", To: "10.1.1.50", Protocol: "TCP", Port: 443}), Denied, "denyin")
}

func TestVirtualNetworkTagIncludesUDRPrefixes(t *testing.T) { // spec §8.1: VirtualNetwork includes prefixes used in UDRs
	n := compileYAML(t, env(map[string]string{
		"ROUTES": `{name: onprem, properties: {addressPrefix: 192.168.50.0/24, nextHopType: VnetLocal}},`,
		"NSG_A":  rule("vnetonly", 100, "Outbound", "Allow", "*", "*", "VirtualNetwork", "*") + rule("denyrest", 200, "Outbound", "Deny", "*", "*", "*", "*"),
	}))
	// 10.1.1.20 has no NIC NSG; the subnet NSG decides.
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "192.168.50.7", Protocol: "TCP", Port: 22}), NoRoute, "vnetonly")
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "192.168.51.7", Protocol: "TCP", Port: 22}), Denied, "denyrest")
}

func TestCompileErrorsSortedByLine(t *testing.T) {
	rules := ""
	for i := 0; i < 12; i++ {
		rules += "\n        " + rule("r"+strconv.Itoa(i), 100+i, "Inbound", "Allow", "*", "NoSuchTag"+strconv.Itoa(i), "*", "*")
	}
	snap, err := resources.DecodeFile("test.yaml", []byte(env(map[string]string{"NSG_B": rules})))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(snap, servicetags.Default())
	var ce *CompileError
	if !errors.As(err, &ce) || len(ce.Problems) != 12 {
		t.Fatalf("%v", err)
	}
	for i := 1; i < len(ce.Problems); i++ {
		if compareProblems(ce.Problems[i-1], ce.Problems[i]) > 0 || !strings.HasPrefix(ce.Problems[i], "test.yaml:") {
			t.Errorf("problems out of order: %q before %q", ce.Problems[i-1], ce.Problems[i])
		}
	}
	if !strings.Contains(ce.Problems[0], `unknown service tag "NoSuchTag0"`) {
		t.Errorf("first problem %q", ce.Problems[0])
	}
}
