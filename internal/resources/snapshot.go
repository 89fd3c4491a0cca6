package resources

import "securetrain/internal/arm"

// Snapshot is the set of resources at one moment. It is built once (from a
// file or the store) and then only read, so it is safe to share.
type Snapshot struct {
	// Subscription is the default subscription of the file it came from.
	Subscription string

	ResourceGroups            []*ResourceGroup
	VirtualNetworks           []*VirtualNetwork // subnets and peerings are attached to their VNet
	NetworkSecurityGroups     []*NetworkSecurityGroup
	ApplicationSecurityGroups []*ApplicationSecurityGroup
	RouteTables               []*RouteTable
	NATGateways               []*NATGateway
	PublicIPAddresses         []*PublicIPAddress
	LoadBalancers             []*LoadBalancer
	NetworkInterfaces         []*NetworkInterface
	PrivateEndpoints          []*PrivateEndpoint
	PrivateDNSZones           []*PrivateDNSZone // links and records are attached to their zone
	AzureFirewalls            []*AzureFirewall
	FirewallPolicies          []*FirewallPolicy // rule collection groups are flattened into RuleCollections
	ServiceEndpointPolicies   []*ServiceEndpointPolicy
	StorageAccounts           []*StorageAccount
	Workspaces                []*Workspace
	Computes                  []*Compute

	// byKey indexes every resource (including subnets, peerings, rules,
	// routes, links) by arm.ID.Key().
	byKey map[string]any
}

// Lookup returns the resource with the given id, or nil.
func (s *Snapshot) Lookup(id arm.ID) any {
	if s == nil || s.byKey == nil {
		return nil
	}
	return s.byKey[id.Key()]
}

// Subnet returns the subnet with the given id, or nil.
func (s *Snapshot) Subnet(id arm.ID) *Subnet { sn, _ := s.Lookup(id).(*Subnet); return sn }

// VirtualNetwork returns the VNet with the given id, or nil.
func (s *Snapshot) VirtualNetwork(id arm.ID) *VirtualNetwork {
	v, _ := s.Lookup(id).(*VirtualNetwork)
	return v
}

// NetworkSecurityGroup returns the NSG with the given id, or nil.
func (s *Snapshot) NetworkSecurityGroup(id arm.ID) *NetworkSecurityGroup {
	v, _ := s.Lookup(id).(*NetworkSecurityGroup)
	return v
}

// RouteTable returns the route table with the given id, or nil.
func (s *Snapshot) RouteTable(id arm.ID) *RouteTable { v, _ := s.Lookup(id).(*RouteTable); return v }

// NATGateway returns the NAT gateway with the given id, or nil.
func (s *Snapshot) NATGateway(id arm.ID) *NATGateway { v, _ := s.Lookup(id).(*NATGateway); return v }

// PublicIPAddress returns the public IP with the given id, or nil.
func (s *Snapshot) PublicIPAddress(id arm.ID) *PublicIPAddress {
	v, _ := s.Lookup(id).(*PublicIPAddress)
	return v
}

// FirewallPolicy returns the firewall policy with the given id, or nil.
func (s *Snapshot) FirewallPolicy(id arm.ID) *FirewallPolicy {
	v, _ := s.Lookup(id).(*FirewallPolicy)
	return v
}

// Workspace returns the workspace with the given id, or nil.
func (s *Snapshot) Workspace(id arm.ID) *Workspace { v, _ := s.Lookup(id).(*Workspace); return v }

// StorageAccount returns the storage account with the given id, or nil.
func (s *Snapshot) StorageAccount(id arm.ID) *StorageAccount {
	v, _ := s.Lookup(id).(*StorageAccount)
	return v
}

// ServiceEndpointPolicy returns the service endpoint policy with the given id, or nil.
func (s *Snapshot) ServiceEndpointPolicy(id arm.ID) *ServiceEndpointPolicy {
	v, _ := s.Lookup(id).(*ServiceEndpointPolicy)
	return v
}

// VNetOf returns the VNet that holds a subnet.
func (s *Snapshot) VNetOf(sn *Subnet) *VirtualNetwork {
	p, ok := sn.ID.Parent()
	if !ok {
		return nil
	}
	return s.VirtualNetwork(p)
}
