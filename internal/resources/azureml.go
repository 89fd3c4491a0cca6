package resources

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"

	"securetrain/internal/arm"
)

// What Azure Machine Learning creates for a compute with a public IP, in
// the resource group of its VNet (spec §4.2): an NSG on the node NICs that
// lets Azure Machine Learning reach the nodes on TCP 44224 (and SSH when
// public SSH access is enabled), a load balancer and its public IP. The
// server creates these resources; `flow` and `check` explain rules and hops
// of the same resources. This file is the one definition of their names,
// rules and bodies.

// AzureMLResources is what Azure ML creates for one public-IP compute.
type AzureMLResources struct {
	Compute      arm.ID
	Location     string // the compute's location
	NSG          arm.ID
	PublicIP     arm.ID
	LoadBalancer arm.ID
	// Address is the public IP's address: stable for its id, in
	// 20.0.0.0/8 (a range Azure uses), never sent any traffic here.
	Address netip.Addr
	// Rules are the NSG's security rules, in priority order.
	Rules []*SecurityRule
}

// AzureMLResourcesFor returns what Azure ML creates for c, false when it
// creates nothing: an attached compute, a compute without a public IP
// (inbound arrives over a private link service), or one in no subnet.
func AzureMLResourcesFor(c *Compute) (AzureMLResources, bool) {
	if c.ComputeType != ComputeAml && c.ComputeType != ComputeInstance || !c.EnableNodePublicIP || !c.Subnet.IsSet() {
		return AzureMLResources{}, false
	}
	// The compute id's hash keeps the names of computes of the same name
	// in different workspaces apart.
	sum := sha256.Sum256([]byte(strings.ToLower(c.ID.String())))
	base := "aml-" + c.ID.Leaf() + "-" + hex.EncodeToString(sum[:4])
	sn := c.Subnet.ID
	id := func(typ, suffix string) arm.ID {
		return arm.ID{Subscription: sn.Subscription, ResourceGroup: sn.ResourceGroup, Provider: "Microsoft.Network",
			Types: []string{typ}, Names: []string{base + "-" + suffix}}
	}
	a := AzureMLResources{Compute: c.ID, Location: c.ComputeLocation,
		NSG: id("networkSecurityGroups", "nsg"), PublicIP: id("publicIPAddresses", "pip"), LoadBalancer: id("loadBalancers", "lb")}
	a.Address = publicAddress(a.PublicIP)
	a.Rules = []*SecurityRule{{
		Meta:     Meta{ID: a.NSG.Child("securityRules", "AzureMachineLearning")},
		Priority: 1000, Direction: Inbound, Access: Allow, Protocol: ProtoTCP,
		SourcePrefixes: []string{"AzureMachineLearning"}, SourcePorts: []PortRange{anyPort},
		DestinationPrefixes: []string{"*"}, DestinationPorts: []PortRange{{44224, 44224}},
		Description: "Azure Machine Learning reaches the nodes (Azure: Secure an Azure Machine Learning training environment with virtual networks)",
	}}
	if c.RemoteLoginPortPublicAccess == "Enabled" || c.SSHPublicAccess == "Enabled" {
		a.Rules = append(a.Rules, &SecurityRule{
			Meta:     Meta{ID: a.NSG.Child("securityRules", "SSH")},
			Priority: 1010, Direction: Inbound, Access: Allow, Protocol: ProtoTCP,
			SourcePrefixes: []string{"*"}, SourcePorts: []PortRange{anyPort},
			DestinationPrefixes: []string{"*"}, DestinationPorts: []PortRange{{22, 22}},
			Description: "public SSH to the nodes, as the compute asks",
		})
	}
	return a, true
}

// publicAddress is the address of a created public IP.
func publicAddress(id arm.ID) netip.Addr {
	sum := sha256.Sum256([]byte(strings.ToLower(id.String())))
	v := binary.BigEndian.Uint32(sum[:4])&0x00ffffff | 20<<24
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	if b[3] == 0 || b[3] == 255 {
		b[3] = 7
	}
	return netip.AddrFrom4(b)
}

// CreatedResource is one resource Azure ML creates, as an ARM body.
type CreatedResource struct {
	ID   arm.ID
	Body arm.Body
}

// Azure ML tags what it creates for a compute with its name and the
// compute's id.
const (
	tagCreatedBy   = "createdBy"
	tagComputeID   = "computeId"
	azureMLCreator = "AzureML"
)

// CreatedByAzureML reports whether a resource's tags are the ones Bodies
// puts on what Azure ML creates for a compute.
func CreatedByAzureML(tags map[string]string) bool {
	return tags[tagCreatedBy] == azureMLCreator && tags[tagComputeID] != ""
}

// Bodies are the created resources in creation order (the load balancer
// references the public IP); delete them in reverse.
func (a AzureMLResources) Bodies() []CreatedResource {
	tags := map[string]any{tagCreatedBy: azureMLCreator, tagComputeID: a.Compute.String()}
	rules := make([]any, len(a.Rules))
	for i, r := range a.Rules {
		rules[i] = ruleBody(r)
	}
	standard := map[string]any{"name": "Standard", "tier": "Regional"}
	return []CreatedResource{
		{a.NSG, arm.Body{"location": a.Location, "tags": tags, "properties": arm.Body{"securityRules": rules}}},
		{a.PublicIP, arm.Body{"location": a.Location, "tags": tags, "sku": standard,
			"properties": arm.Body{"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4", "ipAddress": a.Address.String()}}},
		{a.LoadBalancer, arm.Body{"location": a.Location, "tags": tags, "sku": standard,
			"properties": arm.Body{
				"frontendIPConfigurations": []any{arm.Body{"name": "frontend", "properties": arm.Body{"publicIPAddress": arm.Body{"id": a.PublicIP.String()}}}},
				"backendAddressPools":      []any{arm.Body{"name": "nodes"}},
			}}},
	}
}

// ruleBody writes a created rule as ARM writes a security rule with one
// address prefix and one port range on each side.
func ruleBody(r *SecurityRule) arm.Body {
	return arm.Body{"name": r.ID.Leaf(), "properties": arm.Body{
		"priority": r.Priority, "direction": string(r.Direction), "access": string(r.Access), "protocol": string(r.Protocol),
		"sourceAddressPrefix": r.SourcePrefixes[0], "sourcePortRange": r.SourcePorts[0].String(),
		"destinationAddressPrefix": r.DestinationPrefixes[0], "destinationPortRange": r.DestinationPorts[0].String(),
		"description": r.Description,
	}}
}
