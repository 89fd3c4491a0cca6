package netverify

import (
	"net/netip"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// Issue 12 points 1–5: what Azure's articles say, each quoted from the
// article named in the test.

// lbEnv is the hub-and-spoke environment with a load balancer whose
// frontend fe (20.8.8.8, public IP lbip of SKU {{SKU}}) has a
// load-balancing rule TCP 80 -> 8080 and an inbound NAT rule TCP 50022 -> 22
// to the NIC web (10.2.1.20 in spoke/compute), and a second frontend fe2
// (20.8.8.9) without rules. nsg-web holds {{RULES}}; the compute subnet
// gets {{SUBNET}}.
func lbEnv(sku, subnet, rules string) string {
	lb := `
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: lbip
    location: westus2
    ` + sku + `
    properties: {ipAddress: 20.8.8.8}
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: lbip2
    location: westus2
    ` + sku + `
    properties: {ipAddress: 20.8.8.9}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg-web
    location: westus2
    properties:
      securityRules: [` + rules + `]
  - type: Microsoft.Network/loadBalancers
    resourceGroup: rg
    name: lb
    location: westus2
    ` + sku + `
    properties:
      frontendIPConfigurations:
        - {name: fe, properties: {publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/lbip}}}
        - {name: fe2, properties: {publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/lbip2}}}
      backendAddressPools: [{name: pool}]
      loadBalancingRules:
        - name: web
          properties:
            protocol: Tcp
            frontendPort: 80
            backendPort: 8080
            frontendIPConfiguration: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/frontendIPConfigurations/fe}
            backendAddressPool: {id: /resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/backendAddressPools/pool}
      inboundNatRules:
        - name: ssh
          properties:
            protocol: Tcp
            frontendPort: 50022
            backendPort: 22
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
	return hub(map[string]string{"EXTRA": lb, "SUBNET": subnet})
}

const webNSG = "networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-web}"

// Azure: "Azure network security groups overview": "For inbound traffic,
// network security groups process traffic after Azure translates public IP
// addresses to private IP addresses", and for load-balanced pools "the
// destination port and address range are for the destination computer, not
// the load balancer". Same for inbound NAT rules.
func TestLoadBalancerTranslatesPortBeforeNSG(t *testing.T) {
	standard := "sku: {name: Standard}"
	backendOnly := compileYAML(t, lbEnv(standard, webNSG,
		rule("web8080", 100, "Inbound", "Allow", "Tcp", "*", "*", "8080")+rule("ssh22", 110, "Inbound", "Allow", "Tcp", "*", "*", "22")))
	expect(t, flow(t, backendOnly, textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 80}), Allowed,
		"rule web translates frontend port 80 to 10.2.1.20", "port 8080", "web8080")
	expect(t, flow(t, backendOnly, textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 50022}), Allowed,
		"rule ssh translates frontend port 50022", "port 22", "ssh22")
	// A rule for the frontend's port does not admit the translated flow.
	frontendOnly := compileYAML(t, lbEnv(standard, webNSG,
		rule("web80", 100, "Inbound", "Allow", "Tcp", "*", "*", "80")+rule("ssh50022", 110, "Inbound", "Allow", "Tcp", "*", "*", "50022")))
	for _, port := range []uint16{80, 50022} {
		res := flow(t, frontendOnly, textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: port})
		expect(t, res, Denied, "DenyAllInBound")
		// The fix names the backend's port, the one the NSG sees.
		if want := map[uint16]string{80: "port 8080", 50022: "port 22"}[port]; !strings.Contains(res.Outcomes[0].Fix, want) {
			t.Errorf("port %d: fix %q lacks %q", port, res.Outcomes[0].Fix, want)
		}
	}
	// Rules belong to their frontend: fe2 has none.
	expect(t, flow(t, backendOnly, textQuery{From: "8.8.4.4", To: "20.8.8.9", Protocol: "TCP", Port: 80}), NoRoute, "no rule forwarding")
}

// Azure: "Public IP addresses": Standard SKU public IPs are "Secure by
// default model and be closed to inbound traffic when used as a frontend.
// Allow traffic with network security group (NSG) is required". Basic SKU
// ones are open, and retired.
func TestStandardPublicIPClosedByDefault(t *testing.T) {
	nicEnv := func(sku, subnet string) string {
		return hub(map[string]string{"SUBNET": subnet, "EXTRA": `
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: vmip
    location: westus2
    ` + sku + `
    properties: {ipAddress: 20.7.7.7}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg-web
    location: westus2
    properties:
      securityRules: [` + rule("https", 100, "Inbound", "Allow", "Tcp", "Internet", "*", "443") + `]
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: rg
    name: vm
    location: westus2
    properties:
      ipConfigurations:
        - name: ipc
          properties:
            privateIPAddress: 10.2.1.30
            subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke/subnets/compute}
            publicIPAddress: {id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/vmip}`})
	}
	in := textQuery{From: "8.8.4.4", To: "20.7.7.7", Protocol: "TCP", Port: 443}
	// No NSG anywhere on the path: Standard (and an unset SKU, since Basic
	// can no longer be created) receives nothing.
	for _, sku := range []string{"sku: {name: Standard}", ""} {
		res := flow(t, compileYAML(t, nicEnv(sku, "")), in)
		expect(t, res, Denied, "Standard SKU, closed to inbound traffic", "no NSG applies to subnet spoke/compute")
		if !strings.Contains(res.Outcomes[0].Fix, "associate an NSG") {
			t.Errorf("fix %q", res.Outcomes[0].Fix)
		}
	}
	// An NSG that allows it opens it; one that does not keeps it closed.
	expect(t, flow(t, compileYAML(t, nicEnv("sku: {name: Standard}", webNSG)), in), Allowed, "https")
	expect(t, flow(t, compileYAML(t, nicEnv("sku: {name: Standard}", webNSG)), textQuery{From: "8.8.4.4", To: "20.7.7.7", Protocol: "TCP", Port: 22}),
		Denied, "DenyAllInBound")
	// Basic: open without an NSG, with a warning that it is retired.
	expect(t, flow(t, compileYAML(t, nicEnv("sku: {name: Basic}", "")), in), Allowed, "Basic SKU", "retired")
	// A Standard load balancer's frontend likewise.
	expect(t, flow(t, compileYAML(t, lbEnv("sku: {name: Standard}", "", "")), textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 80}),
		Denied, "Standard SKU")
	expect(t, flow(t, compileYAML(t, lbEnv("sku: {name: Basic}", "", "")), textQuery{From: "8.8.4.4", To: "20.8.8.8", Protocol: "TCP", Port: 80}),
		Allowed, "Basic SKU")
}

// Azure: "Manage network policies for private endpoints": "If you enable
// network security policies for user-defined routes, you can use a custom
// address prefix length (subnet mask) equal to or larger than the virtual
// network address space prefix length to override the /32 default route
// propagated by the private endpoint. … Otherwise, the /32 default route
// sends traffic directly to the private endpoint in accordance with the
// longest prefix match algorithm."
func TestPrivateEndpointRoutes(t *testing.T) {
	pe := `
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: rg
    name: pe-a
    location: westus2
    properties:
      subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/a}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa, groupIds: [blob]}}]
      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.1.1.50}}]`
	blackhole := `{name: blackhole, properties: {addressPrefix: 10.1.1.0/24, nextHopType: None}},`
	// A /24 UDR to None in the endpoint's /24: the /32 still wins.
	n := compileYAML(t, env(map[string]string{"EXTRA": pe, "ROUTES": blackhole}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "10.1.1.50", Protocol: "TCP", Port: 443}), Allowed,
		"route of private endpoint pe-a 10.1.1.50/32 -> InterfaceEndpoint (Default)")
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "10.1.1.60", Protocol: "TCP", Port: 443}), NoRoute, "blackhole")
	// With route-table policies on the endpoint's subnet, a UDR at least as
	// long as the VNet's /16 overrides the /32.
	for _, policy := range []string{"RouteTableEnabled", "Enabled"} {
		n = compileYAML(t, env(map[string]string{"EXTRA": pe, "ROUTES": blackhole, "SUBNET_A": "privateEndpointNetworkPolicies: " + policy}))
		expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "10.1.1.50", Protocol: "TCP", Port: 443}), NoRoute, "blackhole")
	}
	n = compileYAML(t, env(map[string]string{"EXTRA": pe, "ROUTES": blackhole, "SUBNET_A": "privateEndpointNetworkPolicies: NetworkSecurityGroupEnabled"}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "10.1.1.50", Protocol: "TCP", Port: 443}), Allowed, "InterfaceEndpoint")

	// Hub and spoke: the spoke sends 10.0.0.0/8 to the hub's firewall, but
	// the endpoint's /32 (propagated to the peered spoke) goes directly; a
	// /8 is shorter than the hub's /16 and cannot override it, even with
	// route-table policies.
	withPolicies := func(fill map[string]string) string {
		return strings.Replace(hub(fill), "properties: {addressPrefix: 10.3.1.0/24}",
			"properties: {addressPrefix: 10.3.1.0/24, privateEndpointNetworkPolicies: RouteTableEnabled}", 1)
	}
	wide := `{name: tofw, properties: {addressPrefix: 10.0.0.0/8, nextHopType: VirtualAppliance, nextHopIpAddress: 10.3.0.4}},`
	narrow := `{name: tofw, properties: {addressPrefix: 10.3.1.0/24, nextHopType: VirtualAppliance, nextHopIpAddress: 10.3.0.4}},`
	spokeCompute, err := arm.ParseID("/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/spoke/subnets/compute", "00000000-0000-0000-0000-000000000001")
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{hub(map[string]string{"ROUTES": wide}), withPolicies(map[string]string{"ROUTES": wide}), hub(map[string]string{"ROUTES": narrow})} {
		n = compileYAML(t, env)
		expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.3.1.4", Protocol: "TCP", Port: 443}), Allowed, "InterfaceEndpoint", "private endpoint pe-blob")
		hop, err := n.NextHop(spokeCompute, netip.MustParseAddr("10.2.1.10"), netip.MustParseAddr("10.3.1.4"))
		if err != nil || hop.Type != "InterfaceEndpoint" || !hop.RouteTable.IsZero() {
			t.Errorf("next hop %+v, %v; want the endpoint's system route", hop, err)
		}
	}
	// A /24 in the hub's space, with policies on the endpoint's subnet,
	// sends it through the firewall (which has no rule for it).
	n = compileYAML(t, withPolicies(map[string]string{"ROUTES": narrow}))
	expect(t, flow(t, n, textQuery{From: "10.2.1.10", To: "10.3.1.4", Protocol: "TCP", Port: 443}), Denied, "tofw", "Azure Firewall fw")
}

// Azure: "Create, change, or delete a virtual network peering": with
// allowVirtualNetworkAccess false, "it only changes the definition of the
// VirtualNetwork service tag. It doesn't fully prevent traffic flow across
// the peer connection … traffic may still flow if explicitly allowed
// through a network security group rule".
func TestPeeringVNetAccessOnlyChangesTag(t *testing.T) {
	nsg := func(rules string) map[string]string {
		return map[string]string{"SPOKE_ACCESS": "false", "SUBNET": webNSG, "EXTRA": `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg-web
    location: westus2
    properties:
      securityRules: [` + rules + `]`}
	}
	to := textQuery{From: "10.2.1.10", To: "10.3.1.10", Protocol: "TCP", Port: 443}
	// The default AllowVnetOutBound no longer covers the hub: DenyAllOutBound.
	expect(t, flow(t, compileYAML(t, hub(nsg(""))), to), Denied, "DenyAllOutBound")
	// Nor does a rule naming VirtualNetwork.
	expect(t, flow(t, compileYAML(t, hub(nsg(rule("vnet", 100, "Outbound", "Allow", "*", "*", "VirtualNetwork", "*")))), to), Denied, "DenyAllOutBound")
	// A rule naming the hub's space explicitly lets it through.
	expect(t, flow(t, compileYAML(t, hub(nsg(rule("hub", 100, "Outbound", "Allow", "*", "*", "10.3.0.0/16", "*")))), to), Allowed,
		"rule hub", "allowVirtualNetworkAccess=false", "VNetPeering")
}

// Azure: "Virtual network service tags": VirtualNetwork is "the virtual
// network address space …, all connected on-premises address spaces,
// peered virtual networks, … and address prefixes used on user-defined
// routes" — as seen by one NIC: the routes of the route table of its own
// subnet, not of every subnet of the VNet (Azure computes effective
// security rules per network interface).
func TestVirtualNetworkTagPerSubnet(t *testing.T) {
	vnetOnly := rule("vnetonly", 100, "Outbound", "Allow", "*", "*", "VirtualNetwork", "*") + rule("denyrest", 200, "Outbound", "Deny", "*", "*", "*", "*")
	n := compileYAML(t, env(map[string]string{
		"ROUTES": `{name: all, properties: {addressPrefix: 0.0.0.0/0, nextHopType: Internet}},`,
		"NSG_A":  vnetOnly, "NSG_B": vnetOnly,
	}))
	// Subnet a's route table routes 0.0.0.0/0: VirtualNetwork covers
	// everything for a's NICs…
	expect(t, flow(t, n, textQuery{From: "10.1.1.20", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Allowed, "vnetonly")
	// …and not for b's, which has no route table.
	expect(t, flow(t, n, textQuery{From: "10.1.2.20", To: "8.8.8.8", Protocol: "TCP", Port: 443}), Denied, "denyrest")
	// The same NSG resolves VirtualNetwork per subnet in its views.
	views := 0
	for _, v := range n.NSGs() {
		if v.NSG.Name() == "nsg-b" {
			views++
			if got := v.Outbound[0].Destination.Format(4); got != "10.1.0.0/16, 168.63.129.16" {
				t.Errorf("nsg-b VirtualNetwork = %s", got)
			}
		}
	}
	if views != 1 {
		t.Errorf("nsg-b has %d views, want 1", views)
	}
}
