package resources

// Decoders of Microsoft.Network resources (firewalls are in
// decode_firewall.go) and the checks that need a parent with all its
// children: subnet placement in a VNet, rule priorities in an NSG.

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"securetrain/internal/arm"
)

// gatewayLBUnsupported: a gateway load balancer inserts appliances into
// the path, which the model cannot see.
const gatewayLBUnsupported = "gateway load balancer chaining is not modeled: the appliances behind it decide what passes"

func decodeResourceGroup(r *res) *ResourceGroup {
	r.props.ignore("provisioningState")
	return &ResourceGroup{Meta: r.meta()}
}

func decodeVirtualNetwork(r *res) *VirtualNetwork {
	p := r.props
	// subnets and virtualNetworkPeerings are read as nested children.
	p.ignore("enableDdosProtection", "ddosProtectionPlan", "enableVmProtection", "flowTimeoutInMinutes",
		"bgpCommunities", "ipAllocations", "defaultPublicNatGateway", "flowLogs", "resourceGuid", "provisioningState")
	enc := p.child("encryption")
	enc.boolean("enabled", false)
	if enc.enum("enforcement", false, "AllowUnencrypted", "DropUnencrypted") == "DropUnencrypted" {
		enc.refuse("enforcement", "DropUnencrypted", "which VMs can encrypt depends on their sizes, which the file does not hold")
	}
	if p.enum("privateEndpointVNetPolicies", false, "Disabled", "Basic") == "Basic" {
		p.refuse("privateEndpointVNetPolicies", "Basic", "private endpoint VNet policies are not modeled; "+
			"NSGs apply to private endpoints by their subnet's privateEndpointNetworkPolicies")
	}
	vn := &VirtualNetwork{Meta: r.meta()}
	as := p.child("addressSpace")
	as.ignore("ipamPoolPrefixAllocations")
	space, lines := as.cidrs("addressPrefixes", true)
	for _, o := range overlaps(space) {
		as.errf(lines[o[1]], "addressSpace.addressPrefixes %s overlaps %s", space[o[1]], space[o[0]])
	}
	vn.AddressSpace = space
	vn.DNSServers = p.child("dhcpOptions").ipv4s("dnsServers")
	return vn
}

func decodeSubnet(r *res) *Subnet {
	p := r.props
	p.ignore("ipConfigurations", "ipConfigurationProfiles", "privateEndpoints", "purpose", "resourceNavigationLinks",
		"serviceAssociationLinks", "applicationGatewayIPConfigurations", "sharingScope", "ipAllocations",
		"ipamPoolPrefixAllocations", "provisioningState")
	sn := &Subnet{Meta: r.meta()}
	var one [1]arm.Node
	vals, key, _ := p.either("addressPrefix", "addressPrefixes", false, &one)
	if len(vals) == 0 && !p.anyPresent("addressPrefix", "addressPrefixes") {
		p.missing("addressPrefix or addressPrefixes")
	}
	for _, v := range vals {
		pr, err := parseIPv4Prefix(v.Str())
		switch {
		case err != nil:
			p.errf(v.Line(), "%s %v", p.name(key), err)
		case pr.Bits() > 29:
			p.errf(v.Line(), "%s %q is smaller than /29, the smallest subnet Azure allows", p.name(key), v.Str())
		case pr.Bits() < 2:
			p.errf(v.Line(), "%s %q is larger than /2, the largest subnet Azure allows", p.name(key), v.Str())
		default:
			sn.AddressPrefixes = append(sn.AddressPrefixes, pr)
		}
	}
	for _, it := range p.items("delegations") {
		it.ignore("id", "type", "etag")
		dp := it.child("properties")
		dp.ignore("actions", "provisioningState")
		sn.Delegations = append(sn.Delegations, Delegation{Name: it.needStr("name"), ServiceName: dp.needStr("serviceName")})
	}
	sn.NetworkSecurityGroup = p.ref("networkSecurityGroup", TypeNSG)
	sn.RouteTable = p.ref("routeTable", TypeRouteTable)
	sn.NATGateway = p.ref("natGateway", TypeNATGateway)
	for _, it := range p.items("serviceEndpoints") {
		it.ignore("networkIdentifier", "provisioningState")
		sn.ServiceEndpoints = append(sn.ServiceEndpoints, ServiceEndpoint{Service: it.needStr("service"), Locations: it.strings("locations")})
	}
	sn.ServiceEndpointPolicies = p.refs("serviceEndpointPolicies", TypeSEP)
	sn.PrivateEndpointNetworkPolicies = p.enum("privateEndpointNetworkPolicies", false,
		"Disabled", "Enabled", "NetworkSecurityGroupEnabled", "RouteTableEnabled")
	if sn.PrivateEndpointNetworkPolicies == "" {
		sn.PrivateEndpointNetworkPolicies = "Disabled"
	}
	p.enum("privateLinkServiceNetworkPolicies", false, "Disabled", "Enabled")
	sn.DefaultOutboundAccess = p.optBool("defaultOutboundAccess")
	return sn
}

// attachSubnet adds a subnet to its VNet; a subnet has no location of its
// own in ARM and takes the VNet's.
func attachSubnet(_ *decoder, v *VirtualNetwork, sn *Subnet) {
	if sn.Location == "" {
		sn.Location = v.Location
	}
	v.Subnets = append(v.Subnets, sn)
}

func decodePeering(r *res) *Peering {
	p := r.props
	// Subnet names only matter with peerCompleteVnets false, rejected below.
	p.ignore("peeringSyncLevel", "remoteAddressSpace", "remoteVirtualNetworkAddressSpace",
		"remoteBgpCommunities", "remoteVirtualNetworkEncryption", "doNotVerifyRemoteGateways",
		"localAddressSpace", "localVirtualNetworkAddressSpace", "localSubnetNames", "remoteSubnetNames",
		"resourceGuid", "provisioningState")
	if p.boolean("enableOnlyIPv6Peering", false) {
		p.refuse("enableOnlyIPv6Peering", "true", "only IPv4 is modeled, and an IPv6-only peering carries none of it")
	}
	pe := &Peering{Meta: r.meta(),
		AllowVirtualNetworkAccess: p.boolean("allowVirtualNetworkAccess", true),
		AllowForwardedTraffic:     p.boolean("allowForwardedTraffic", false),
		AllowGatewayTransit:       p.boolean("allowGatewayTransit", false),
		UseRemoteGateways:         p.boolean("useRemoteGateways", false),
	}
	pe.State = PeeringState(p.enum("peeringState", false, string(PeeringInitiated), string(PeeringConnected), string(PeeringDisconnected)))
	p.required("remoteVirtualNetwork")
	if pe.State == PeeringDisconnected {
		// Azure leaves a peering Disconnected when its remote VNet is
		// deleted: the id it keeps names nothing.
		pe.RemoteVirtualNetwork = p.externalRef("remoteVirtualNetwork", TypeVirtualNetwork)
	} else {
		pe.RemoteVirtualNetwork = p.ref("remoteVirtualNetwork", TypeVirtualNetwork)
	}
	if vnet, ok := r.id.Parent(); ok && pe.RemoteVirtualNetwork.ID.Equal(vnet) {
		p.errf(p.lineOf("remoteVirtualNetwork"), "remoteVirtualNetwork is the peering's own virtual network %s: a virtual network cannot peer with itself", vnet.Name())
	}
	if b := p.optBool("peerCompleteVnets"); b != nil && !*b {
		p.errf(p.lineOf("peerCompleteVnets"), "peerCompleteVnets false (subnet peering) is not supported: peerings connect whole VNets")
	}
	return pe
}

func decodeSecurityGroup(r *res) *NetworkSecurityGroup {
	// securityRules are read as nested children; the default rules are the verifier's.
	r.props.ignore("defaultSecurityRules", "subnets", "networkInterfaces", "flowLogs", "flushConnection",
		"resourceGuid", "provisioningState")
	return &NetworkSecurityGroup{Meta: r.meta()}
}

// maxRulePriority is the largest priority an NSG rule may have.
const maxRulePriority = 4096

func decodeSecurityRule(r *res) *SecurityRule {
	p := r.props
	p.ignore("provisioningState")
	sr := &SecurityRule{Meta: r.meta(), Description: p.str("description")}
	sr.Priority, _ = p.integer("priority", 100, maxRulePriority, true)
	sr.Direction = Direction(p.enum("direction", true, string(Inbound), string(Outbound)))
	sr.Access = Access(p.enum("access", true, string(Allow), string(Deny)))
	proto := Protocol(p.enum("protocol", true, string(ProtoTCP), string(ProtoUDP), string(ProtoICMP),
		string(ProtoESP), string(ProtoAH), string(ProtoAny), "Any"))
	if proto == "Any" {
		proto = ProtoAny
	}
	sr.Protocol = proto
	sr.SourcePrefixes, sr.SourceASGs = ruleEndpoints(p, sourceSide)
	sr.DestinationPrefixes, sr.DestinationASGs = ruleEndpoints(p, destinationSide)
	sr.SourcePorts = rulePorts(p, sourceSide, false)
	sr.DestinationPorts = rulePorts(p, destinationSide, true)
	return sr
}

// ruleSide holds the field names of one side of an NSG rule, spelt out
// once: a large file has hundreds of thousands of rules.
type ruleSide struct {
	prefix, prefixes, asgs, port, ports string
}

var (
	sourceSide      = ruleSide{"sourceAddressPrefix", "sourceAddressPrefixes", "sourceApplicationSecurityGroups", "sourcePortRange", "sourcePortRanges"}
	destinationSide = ruleSide{"destinationAddressPrefix", "destinationAddressPrefixes", "destinationApplicationSecurityGroups", "destinationPortRange", "destinationPortRanges"}
)

// ruleEndpoints reads one side of an NSG rule: address prefixes (singular or
// plural) or application security groups, exactly one of the two.
func ruleEndpoints(p *obj, side ruleSide) ([]string, []Ref) {
	hasASGs := p.present(side.asgs)
	asgs := p.refs(side.asgs, TypeASG)
	var one [1]arm.Node
	vals, key, plural := p.either(side.prefix, side.prefixes, false, &one)
	switch {
	case len(vals) == 0 && !hasASGs && !p.anyPresent(side.prefix, side.prefixes):
		p.missing(fmt.Sprintf("%s, %s or %s", side.prefix, side.prefixes, side.asgs))
	case len(vals) > 0 && hasASGs:
		p.errf(p.lineOf(side.asgs), "%s cannot be combined with %s", side.asgs, p.name(key))
	}
	var out []string
	if len(vals) > 0 {
		out = p.r.d.strs.take(len(vals))
	}
	for _, v := range vals {
		kind, err := parseRulePrefix(v.Str())
		switch {
		case err != nil:
			p.errf(v.Line(), "%s %v", p.name(key), err)
		case plural && len(vals) > 1 && kind != prefixIP:
			// §8.1: augmented rules take many IPs, not many tags.
			p.errf(v.Line(), "%s lists %q; a list may hold only IP addresses and CIDRs (use one rule per service tag)", p.name(key), v.Str())
		default:
			out = append(out, v.Str())
		}
	}
	return out, asgs
}

// rulePorts reads one side's ports. Azure requires both sides; SDK users
// routinely omit the source port, meaning "*", so only the destination is
// required here.
func rulePorts(p *obj, side ruleSide, required bool) []PortRange {
	var one [1]arm.Node
	vals, key, plural := p.either(side.port, side.ports, true, &one)
	if len(vals) == 0 {
		if p.anyPresent(side.port, side.ports) {
			return nil // a value of the wrong kind, already reported
		}
		if required {
			p.missing(fmt.Sprintf("%s or %s", side.port, side.ports))
			return nil
		}
		return append(p.r.d.ports.take(1), anyPort)
	}
	// A singular value is often one range, a plural one range each.
	out := p.r.d.ports.take(len(vals))
	for _, v := range vals {
		var err error
		if plural {
			var one PortRange
			if one, err = parsePortRange(v.Str()); err == nil {
				out = append(out, one)
			}
		} else {
			out, err = parsePorts(out, v.Str())
		}
		if err != nil {
			p.errf(v.Line(), "%s %v", p.name(key), err)
		}
	}
	return out
}

func decodeASG(r *res) *ApplicationSecurityGroup {
	r.props.ignore("resourceGuid", "provisioningState")
	return &ApplicationSecurityGroup{Meta: r.meta()}
}

func decodeRouteTable(r *res) *RouteTable {
	// routes are read as nested children.
	r.props.ignore("subnets", "resourceGuid", "provisioningState")
	return &RouteTable{Meta: r.meta(), DisableBgpRoutePropagation: r.props.boolean("disableBgpRoutePropagation", false)}
}

func decodeRoute(r *res) *Route {
	p := r.props
	p.ignore("hasBgpOverride", "provisioningState")
	rt := &Route{Meta: r.meta()}
	if v := p.need("addressPrefix", arm.String); !v.IsZero() {
		if err := parseRoutePrefix(v.Str()); err != nil {
			p.errf(v.Line(), "addressPrefix %v", err)
		} else {
			rt.AddressPrefix = v.Str()
		}
	}
	rt.NextHopType = p.enum("nextHopType", true, NextHopVirtualNetworkGateway, NextHopVnetLocal, NextHopInternet,
		NextHopVirtualAppliance, NextHopNone)
	ipv := p.get("nextHopIpAddress", arm.String)
	given := !ipv.IsZero() && ipv.Str() != ""
	switch {
	case rt.NextHopType == NextHopVirtualAppliance && !given:
		p.errf(p.lineOf("nextHopType"), "nextHopIpAddress is required when nextHopType is %s", NextHopVirtualAppliance)
	case rt.NextHopType == NextHopVirtualAppliance:
		a, err := parseIPv4(ipv.Str())
		if err != nil {
			p.errf(ipv.Line(), "nextHopIpAddress %v", err)
		}
		rt.NextHopIP = a
	case given && rt.NextHopType != "":
		p.errf(ipv.Line(), "nextHopIpAddress is only allowed when nextHopType is %s", NextHopVirtualAppliance)
	}
	return rt
}

func decodeNATGateway(r *res) *NATGateway {
	p := r.props
	p.ignore("idleTimeoutInMinutes", "publicIpAddressesV6", "publicIpPrefixesV6", "sourceVirtualNetwork", "subnets",
		"resourceGuid", "provisioningState")
	return &NATGateway{Meta: r.meta(),
		PublicIPAddresses: p.refs("publicIpAddresses", TypePublicIP),
		PublicIPPrefixes:  p.refs("publicIpPrefixes", typeIPPrefix),
	}
}

func decodePublicIP(r *res) *PublicIPAddress {
	p := r.props
	p.ignore("idleTimeoutInMinutes", "dnsSettings", "ddosSettings", "ipTags", "publicIPPrefix", "natGateway",
		"deleteOption", "ipConfiguration", "linkedPublicIPAddress", "servicePublicIPAddress", "migrationPhase",
		"resourceGuid", "provisioningState")
	sku := r.env.child("sku")
	pip := &PublicIPAddress{Meta: r.meta(),
		SKU:              sku.enum("name", false, "Basic", "Standard", "StandardV2"),
		AllocationMethod: p.enum("publicIPAllocationMethod", false, "Static", "Dynamic"),
		Address:          p.ipv4("ipAddress", false),
	}
	sku.enum("tier", false, "Regional", "Global")
	if p.enum("publicIPAddressVersion", false, "IPv4", "IPv6") == "IPv6" {
		p.errf(p.lineOf("publicIPAddressVersion"), "publicIPAddressVersion IPv6 is not supported: only IPv4 is modeled")
	}
	return pip
}

func decodeLoadBalancer(r *res) *LoadBalancer {
	p := r.props
	p.ignore("probes", "inboundNatPools", "scope", "resourceGuid", "provisioningState")
	sku := r.env.child("sku")
	lb := &LoadBalancer{Meta: r.meta(), SKU: sku.enum("name", false, "Basic", "Standard", "Gateway")}
	sku.enum("tier", false, "Regional", "Global")
	// Part names by lower-cased name, as ARM compares them.
	frontends, pools := map[string]string{}, map[string]string{}
	for _, it := range p.items("frontendIPConfigurations") {
		it.ignore("id", "etag", "type", "zones")
		fp := it.child("properties")
		fp.ignore("privateIPAllocationMethod", "privateIPAddressVersion", "publicIPPrefix",
			"inboundNatRules", "inboundNatPools", "loadBalancingRules", "outboundRules", "provisioningState")
		fp.unsupported("gatewayLoadBalancer", gatewayLBUnsupported)
		fe := LBFrontend{Name: it.needStr("name"),
			PublicIP:  fp.ref("publicIPAddress", TypePublicIP),
			Subnet:    fp.ref("subnet", TypeSubnet),
			PrivateIP: fp.ipv4("privateIPAddress", false),
		}
		lb.Frontends = append(lb.Frontends, fe)
		frontends[strings.ToLower(fe.Name)] = fe.Name
	}
	for _, it := range p.items("backendAddressPools") {
		// A pool's properties list its members, which NICs declare.
		it.ignore("id", "etag", "type", "properties")
		name := it.needStr("name")
		lb.BackendPools = append(lb.BackendPools, name)
		pools[strings.ToLower(name)] = name
		if !r.id.IsZero() {
			r.d.lbPools[r.id.Child("backendAddressPools", name).Key()] = true
		}
	}
	lb.Rules = lbRules(r, p, "loadBalancingRules", frontends, pools)
	lb.InboundNATRules = lbRules(r, p, "inboundNatRules", frontends, pools)
	for _, it := range p.items("outboundRules") {
		it.ignore("id", "etag", "type")
		op := it.child("properties")
		op.ignore("allocatedOutboundPorts", "enableTcpReset", "idleTimeoutInMinutes", "provisioningState")
		op.enum("protocol", true, "Tcp", "Udp", "All")
		o := LBOutboundRule{Name: it.needStr("name"),
			BackendPool: r.lbPart(op, "backendAddressPool", "backendAddressPools", pools, true),
		}
		op.required("frontendIPConfigurations")
		for _, f := range op.items("frontendIPConfigurations") {
			o.Frontends = append(o.Frontends, r.lbPartOf(f, "frontendIPConfigurations", frontends))
		}
		lb.OutboundRules = append(lb.OutboundRules, o)
	}
	return lb
}

// lbRules reads load-balancing or inbound NAT rules.
func lbRules(r *res, p *obj, key string, frontends, pools map[string]string) []LBRule {
	var out []LBRule
	for _, it := range p.items(key) {
		it.ignore("id", "etag", "type")
		rp := it.child("properties")
		// backendAddressPools mirrors backendAddressPool except on gateway load balancers.
		rp.ignore("probe", "backendAddressPools", "enableTcpReset", "disableOutboundSnat",
			"idleTimeoutInMinutes", "loadDistribution", "backendIPConfiguration", "provisioningState")
		if rp.boolean("enableFloatingIP", false) {
			rp.refuse("enableFloatingIP", "true", "floating IP (direct server return) is not modeled: the backend would see the frontend's address as destination")
		}
		for _, key := range []string{"frontendPortRangeStart", "frontendPortRangeEnd"} {
			rp.unsupported(key, "frontend port ranges are not modeled; give one frontendPort per rule")
		}
		rule := LBRule{Name: it.needStr("name"), Protocol: rp.enum("protocol", true, "Tcp", "Udp", "All")}
		// NAT rules may give a frontend port range instead of a port.
		rule.FrontendPort, _ = rp.integer("frontendPort", 0, 65534, key == "loadBalancingRules")
		rule.BackendPort, _ = rp.integer("backendPort", 0, 65535, false)
		rule.Frontend = r.lbPart(rp, "frontendIPConfiguration", "frontendIPConfigurations", frontends, true)
		rule.BackendPool = r.lbPart(rp, "backendAddressPool", "backendAddressPools", pools, false)
		out = append(out, rule)
	}
	return out
}

// lbPart reads a load balancer's reference to one of its own parts
// ({"id": ".../loadBalancers/lb/frontendIPConfigurations/fe"}) and returns
// the part's name; names maps lower-cased part names to their spelling.
func (r *res) lbPart(o *obj, key, part string, names map[string]string, required bool) string {
	if required && !o.required(key) {
		return ""
	}
	return r.lbPartOf(o.child(key), part, names)
}

func (r *res) lbPartOf(c *obj, part string, names map[string]string) string {
	if c.v.IsZero() {
		return ""
	}
	iv := c.need("id", arm.String)
	if iv.IsZero() {
		return ""
	}
	field := strings.TrimSuffix(c.path(), ".")
	id, err := arm.ParseID(iv.Str(), r.sub)
	if err != nil {
		r.errf(iv.Line(), "%s: %v", field, err)
		return ""
	}
	parent, ok := id.Parent()
	if !ok || !strings.EqualFold(id.Types[len(id.Types)-1], part) || (!r.id.IsZero() && !parent.Equal(r.id)) {
		r.errf(iv.Line(), "%s %s is not one of this load balancer's %s", field, iv.Str(), part)
		return ""
	}
	name, ok := names[strings.ToLower(id.Leaf())]
	if !ok {
		r.errf(iv.Line(), "%s: the load balancer has no %s named %q", field, part, id.Leaf())
	}
	return name
}

func decodeNIC(r *res) *NetworkInterface {
	p := r.props
	p.ignore("enableAcceleratedNetworking", "macAddress", "primary",
		"privateLinkService", "hostedWorkloads", "tapConfigurations", "dscpConfiguration", "vnetEncryptionSupported",
		"nicType", "auxiliaryMode", "auxiliarySku", "workloadType", "migrationPhase",
		"defaultOutboundConnectivityEnabled", "allowPort25Out", "resourceGuid", "provisioningState")
	if p.boolean("disableTcpStateTracking", false) {
		p.refuse("disableTcpStateTracking", "true", "NSGs are modeled as stateful: without state tracking a reply needs its own rule")
	}
	nic := &NetworkInterface{Meta: r.meta(),
		NetworkSecurityGroup: p.ref("networkSecurityGroup", TypeNSG),
		EnableIPForwarding:   p.boolean("enableIPForwarding", false),
		// Read-only in Azure: the endpoint a NIC was created for, which
		// may be left out of a file.
		PrivateEndpoint: p.externalRef("privateEndpoint", TypePrivateEndpoint),
	}
	dns := p.child("dnsSettings")
	// Azure reports the servers in effect and the NIC's internal names;
	// flows are asked by address or public name, so the names change none.
	dns.ignore("appliedDnsServers", "internalDnsNameLabel", "internalFqdn", "internalDomainNameSuffix")
	nic.DNSServers = dns.ipv4s("dnsServers")
	// The VM is not modelled: its id is only type-checked.
	if vm := p.child("virtualMachine"); !vm.v.IsZero() {
		if iv := vm.need("id", arm.String); !iv.IsZero() {
			nic.VirtualMachine = r.idRef(vm.name("id"), iv, TypeVirtualMachine, true)
		}
	}
	p.required("ipConfigurations")
	for _, it := range p.items("ipConfigurations") {
		it.ignore("id", "etag", "type")
		ip := it.child("properties")
		ip.ignore("privateIPAllocationMethod", "privateIPAddressVersion", "primary",
			"applicationGatewayBackendAddressPools", "virtualNetworkTaps", "privateLinkConnectionProperties", "provisioningState")
		ip.unsupported("gatewayLoadBalancer", gatewayLBUnsupported)
		ip.unsupported("loadBalancerInboundNatRules", "inbound NAT rules that name a NIC are not modeled; "+
			"give the rule a backendAddressPool and list the pool in loadBalancerBackendAddressPools")
		ip.required("subnet")
		nic.IPConfigurations = append(nic.IPConfigurations, NICIPConfiguration{
			Name:                      it.needStr("name"),
			Subnet:                    ip.ref("subnet", TypeSubnet),
			PrivateIP:                 ip.ipv4("privateIPAddress", false),
			PublicIP:                  ip.ref("publicIPAddress", TypePublicIP),
			ApplicationSecurityGroups: ip.refs("applicationSecurityGroups", TypeASG),
			LoadBalancerBackendPools:  ip.refs("loadBalancerBackendAddressPools", typeLBPool),
		})
	}
	return nic
}

func decodePrivateEndpoint(r *res) *PrivateEndpoint {
	p := r.props
	// The NIC name does not change reachability.
	p.ignore("customNetworkInterfaceName", "ipVersionType", "provisioningState")
	p.required("subnet")
	pe := &PrivateEndpoint{Meta: r.meta(),
		Subnet:                    p.ref("subnet", TypeSubnet),
		ApplicationSecurityGroups: p.refs("applicationSecurityGroups", TypeASG),
	}
	for _, key := range []string{"privateLinkServiceConnections", "manualPrivateLinkServiceConnections"} {
		for _, it := range p.items(key) {
			it.ignore("id", "type", "etag")
			cp := it.child("properties")
			cp.ignore("requestMessage", "privateLinkServiceConnectionState", "provisioningState")
			pe.Connections = append(pe.Connections, PrivateLinkConnection{Name: it.needStr("name"),
				// The target may be anywhere: another subscription, a PaaS service.
				Target:   cp.idString("privateLinkServiceId", "", true, true),
				GroupIDs: cp.strings("groupIds"),
			})
		}
	}
	for _, it := range p.items("ipConfigurations") {
		it.ignore("id", "type", "etag")
		ip := it.child("properties")
		pe.IPConfigurations = append(pe.IPConfigurations, PrivateEndpointIPConfiguration{Name: it.needStr("name"),
			GroupID:    ip.str("groupId"),
			MemberName: ip.str("memberName"),
			PrivateIP:  ip.ipv4("privateIPAddress", true),
		})
	}
	// Read-only in Azure: the NICs created for the endpoint, which may be
	// left out of a file.
	for _, it := range p.items("networkInterfaces") {
		if r := p.refObj(it, TypeNIC, true); r.IsSet() {
			pe.NetworkInterfaces = append(pe.NetworkInterfaces, r)
		}
	}
	for _, it := range p.items("customDnsConfigs") {
		it.ignore("fqdn")
		pe.customDNSAddresses = append(pe.customDNSAddresses, it.ipv4s("ipAddresses")...)
	}
	return pe
}

func decodeZone(r *res) *PrivateDNSZone {
	r.props.ignore("maxNumberOfRecordSets", "numberOfRecordSets", "maxNumberOfVirtualNetworkLinks",
		"numberOfVirtualNetworkLinks", "maxNumberOfVirtualNetworkLinksWithRegistration",
		"numberOfVirtualNetworkLinksWithRegistration", "internalId", "provisioningState")
	return &PrivateDNSZone{Meta: r.meta(), A: map[string][]netip.Addr{}, CNAME: map[string]string{}}
}

func decodeZoneLink(r *res) *VirtualNetworkLink {
	p := r.props
	p.ignore("resolutionPolicy", "virtualNetworkLinkState", "provisioningState")
	p.required("virtualNetwork")
	return &VirtualNetworkLink{Meta: r.meta(),
		VirtualNetwork:      p.ref("virtualNetwork", TypeVirtualNetwork),
		RegistrationEnabled: p.boolean("registrationEnabled", false),
	}
}

// recordSet is a decoded A or CNAME record set, merged into its zone.
type recordSet struct {
	rel     string // lower-cased name relative to the zone
	isCNAME bool
	a       []netip.Addr
	cname   string
}

func (rs *recordSet) typ() string {
	if rs.isCNAME {
		return "CNAME"
	}
	return "A"
}

func decodeARecords(r *res) *recordSet {
	p := recordProps(r)
	rs := &recordSet{rel: strings.ToLower(r.leaf())}
	for _, it := range p.items("aRecords") {
		if a := it.ipv4("ipv4Address", true); a.IsValid() {
			rs.a = append(rs.a, a)
		}
	}
	return rs
}

func decodeCNAMERecord(r *res) *recordSet {
	p := recordProps(r)
	return &recordSet{rel: strings.ToLower(r.leaf()), isCNAME: true, cname: p.child("cnameRecord").needStr("cname")}
}

// recordProps checks what A and CNAME record sets share.
func recordProps(r *res) *obj {
	p := r.props
	p.ignore("fqdn", "isAutoRegistered", "metadata", "provisioningState")
	p.integer("ttl", 0, math.MaxInt32, false)
	return p
}

// attachRecordSet merges a record set into its zone. DNS forbids a CNAME
// beside other records of the same name.
func attachRecordSet(d *decoder, z *PrivateDNSZone, rs *recordSet) {
	_, hasA := z.A[rs.rel]
	_, hasCNAME := z.CNAME[rs.rel]
	if hasA || hasCNAME {
		// Same-type duplicates were caught at registration: other is the other type.
		other := &recordSet{isCNAME: hasCNAME}
		r, where := d.info[rs], ""
		if first := d.seen[z.ID.Child(other.typ(), rs.rel).Key()]; first != nil {
			where = " at " + d.pos(first.line)
		}
		r.errf(r.line, "%s record set %q conflicts with the %s record set%s: a CNAME cannot share its name",
			rs.typ(), rs.rel, other.typ(), where)
		return
	}
	if rs.isCNAME {
		z.CNAME[rs.rel] = rs.cname
	} else {
		z.A[rs.rel] = rs.a
	}
}

func decodeServiceEndpointPolicy(r *res) *ServiceEndpointPolicy {
	p := r.props
	// The alias shows in the portal only; definitions carry the scope.
	p.ignore("serviceAlias", "contextualServiceEndpointPolicies", "subnets", "resourceGuid", "provisioningState")
	sep := &ServiceEndpointPolicy{Meta: r.meta()}
	for _, it := range p.items("serviceEndpointPolicyDefinitions") {
		it.ignore("id", "type", "etag")
		dp := it.child("properties")
		dp.ignore("description", "provisioningState")
		sep.Definitions = append(sep.Definitions, ServiceEndpointPolicyDefinition{Name: it.needStr("name"),
			Service:          dp.needStr("service"),
			ServiceResources: dp.strings("serviceResources"),
		})
	}
	return sep
}

// checkVirtualNetworks checks each VNet with all its subnets attached:
// subnets inside the address space (unless the VNet itself is broken) and
// not overlapping (§8.3).
func (d *decoder) checkVirtualNetworks() {
	for _, vn := range d.snap.VirtualNetworks {
		vr := d.info[vn]
		space := slices.Clone(vn.AddressSpace)
		slices.SortFunc(space, comparePrefixes)
		var ps []netip.Prefix
		var owners []*Subnet
		for _, sn := range vn.Subnets {
			sr := d.info[sn]
			for _, p := range sn.AddressPrefixes {
				if !vr.broken && !within(space, p) {
					sr.errc(CodeSubnetOutsideVNet, subnetPrefixLine(sr), "address prefix %s is outside the address space of virtual network %s (%s)",
						p, vn.ID.Name(), joinPrefixes(vn.AddressSpace))
				}
				ps = append(ps, p)
				owners = append(owners, sn)
			}
		}
		for _, o := range overlaps(ps) {
			a, b := owners[o[0]], owners[o[1]]
			br := d.info[b]
			if a == b {
				br.errc(CodeSubnetsOverlap, subnetPrefixLine(br), "address prefixes %s and %s overlap", ps[o[0]], ps[o[1]])
				continue
			}
			br.errc(CodeSubnetsOverlap, subnetPrefixLine(br), "address prefix %s overlaps subnet %s (%s at %s)", ps[o[1]], a.ID.Name(), ps[o[0]], a.Pos)
		}
	}
}

func subnetPrefixLine(r *res) int {
	if r.props.present("addressPrefixes") {
		return r.props.lineOf("addressPrefixes")
	}
	return r.props.lineOf("addressPrefix")
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// overlaps returns pairs of indexes (earlier, later) of overlapping prefixes.
// CIDR blocks either nest or are disjoint, so after sorting by start a block
// overlaps an earlier-starting one iff the block reaching furthest so far
// contains its start: O(n log n) however many subnets a VNet has.
func overlaps(ps []netip.Prefix) [][2]int {
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return comparePrefixes(ps[a], ps[b]) })
	var out [][2]int
	far := -1
	for _, i := range idx {
		if far >= 0 && ps[far].Contains(ps[i].Addr()) {
			out = append(out, [2]int{min(far, i), max(far, i)})
			continue
		}
		far = i
	}
	slices.SortFunc(out, func(a, b [2]int) int { return cmp.Compare(a[1], b[1]) })
	return out
}

// within reports whether p lies inside one of the sorted, disjoint blocks
// of space: only the last block starting at or before p can hold it.
func within(space []netip.Prefix, p netip.Prefix) bool {
	i := sort.Search(len(space), func(i int) bool { return p.Addr().Less(space[i].Addr()) })
	if i == 0 {
		return false
	}
	s := space[i-1]
	return s.Bits() <= p.Bits() && s.Contains(p.Addr())
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// checkSecurityGroups checks each NSG with all its rules attached: a
// priority is used once per direction (§8.1).
func (d *decoder) checkSecurityGroups() {
	// The rule holding each priority of a direction, by priority (which
	// decodeSecurityRule has checked, or left 0): an array, emptied after
	// each NSG, costs less than a map per NSG.
	var used [2][maxRulePriority + 1]*SecurityRule
	slot := func(sr *SecurityRule) **SecurityRule {
		dir := 0
		if sr.Direction == Outbound {
			dir = 1
		}
		return &used[dir][sr.Priority]
	}
	for _, g := range d.snap.NetworkSecurityGroups {
		for _, sr := range g.Rules {
			if sr.Priority == 0 || sr.Direction == "" {
				continue
			}
			k := slot(sr)
			if first := *k; first != nil {
				r := d.seen[sr.ID.Key()]
				r.errc(CodeRuleConflict, r.props.lineOf("priority"), "priority %d is already used by %s rule %s (%s)",
					sr.Priority, strings.ToLower(string(sr.Direction)), first.ID.Leaf(), first.Pos)
				continue
			}
			*k = sr
		}
		for _, sr := range g.Rules {
			if sr.Priority != 0 && sr.Direction != "" {
				*slot(sr) = nil
			}
		}
	}
}
