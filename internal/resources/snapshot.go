package resources

import (
	"maps"
	"slices"
	"strings"

	"securetrain/internal/arm"
)

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
	Jobs                      []*Job
	MLAssets                  []*MLAsset              // codes, environments and their versions
	VirtualMachines           []*VirtualMachine       // only what attaching one as a compute depends on
	DNSResolvers              []*DNSResolver          // endpoints are attached to their resolver
	DNSForwardingRulesets     []*DNSForwardingRuleset // rules and links are attached to their ruleset
	Locks                     []*ManagementLock
	PolicyAssignments         []*PolicyAssignment
	// Records are the resources of record-only kinds (key vaults,
	// Application Insights components, container registries).
	Records []*Record

	// Excluded are the stored resources a control plane's model left out
	// because they did not decode (a reference to what is gone, in data
	// written before deletes kept references whole), and what depends on
	// them; empty for files, which must decode whole.
	Excluded []Problem

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

// lookupAs returns the resource with the given id if it has type T.
func lookupAs[T any](s *Snapshot, id arm.ID) *T {
	v, _ := s.Lookup(id).(*T)
	return v
}

// Subnet returns the subnet with the given id, or nil.
func (s *Snapshot) Subnet(id arm.ID) *Subnet { return lookupAs[Subnet](s, id) }

// VirtualNetwork returns the VNet with the given id, or nil.
func (s *Snapshot) VirtualNetwork(id arm.ID) *VirtualNetwork { return lookupAs[VirtualNetwork](s, id) }

// NetworkSecurityGroup returns the NSG with the given id, or nil.
func (s *Snapshot) NetworkSecurityGroup(id arm.ID) *NetworkSecurityGroup {
	return lookupAs[NetworkSecurityGroup](s, id)
}

// RouteTable returns the route table with the given id, or nil.
func (s *Snapshot) RouteTable(id arm.ID) *RouteTable { return lookupAs[RouteTable](s, id) }

// NATGateway returns the NAT gateway with the given id, or nil.
func (s *Snapshot) NATGateway(id arm.ID) *NATGateway { return lookupAs[NATGateway](s, id) }

// PublicIPAddress returns the public IP with the given id, or nil.
func (s *Snapshot) PublicIPAddress(id arm.ID) *PublicIPAddress {
	return lookupAs[PublicIPAddress](s, id)
}

// FirewallPolicy returns the firewall policy with the given id, or nil.
func (s *Snapshot) FirewallPolicy(id arm.ID) *FirewallPolicy { return lookupAs[FirewallPolicy](s, id) }

// Workspace returns the workspace with the given id, or nil.
func (s *Snapshot) Workspace(id arm.ID) *Workspace { return lookupAs[Workspace](s, id) }

// StorageAccount returns the storage account with the given id, or nil.
func (s *Snapshot) StorageAccount(id arm.ID) *StorageAccount { return lookupAs[StorageAccount](s, id) }

// VirtualMachine returns the virtual machine with the given id, or nil.
func (s *Snapshot) VirtualMachine(id arm.ID) *VirtualMachine { return lookupAs[VirtualMachine](s, id) }

// ServiceEndpointPolicy returns the service endpoint policy with the given id, or nil.
func (s *Snapshot) ServiceEndpointPolicy(id arm.ID) *ServiceEndpointPolicy {
	return lookupAs[ServiceEndpointPolicy](s, id)
}

// EndpointNIC reports whether nic is the NIC Azure created for a private
// endpoint of the snapshot: the NIC names the endpoint, and the endpoint
// lists the NIC (or lists none). The endpoint stands for such a NIC, so its
// addresses are counted and reached once, as the endpoint's.
func (s *Snapshot) EndpointNIC(nic *NetworkInterface) bool {
	if !nic.PrivateEndpoint.IsSet() {
		return false
	}
	pe := lookupAs[PrivateEndpoint](s, nic.PrivateEndpoint.ID)
	return pe != nil && pe.owns(nic)
}

// owns reports whether the endpoint lists nic among its NICs, or lists
// none (a file may leave the read-only list out).
func (pe *PrivateEndpoint) owns(nic *NetworkInterface) bool {
	return len(pe.NetworkInterfaces) == 0 || slices.ContainsFunc(pe.NetworkInterfaces, func(r Ref) bool { return r.ID.Equal(nic.ID) })
}

// VNetOf returns the VNet that holds a subnet.
func (s *Snapshot) VNetOf(sn *Subnet) *VirtualNetwork {
	p, ok := sn.ID.Parent()
	if !ok {
		return nil
	}
	return s.VirtualNetwork(p)
}

// Exclusion explains why id (or what holds it) is among Excluded: its
// problem, then the problems of the excluded resources that problem names
// (a compute whose subnet is excluded because its NSG is gone). ok is
// false when id is in the model.
func (s *Snapshot) Exclusion(id arm.ID) (why string, ok bool) {
	find := func(id arm.ID) (Problem, bool) {
		for {
			for _, p := range s.Excluded {
				if p.ID.Equal(id) {
					return p, true
				}
			}
			parent, ok := id.Parent()
			if !ok {
				return Problem{}, false
			}
			id = parent
		}
	}
	p, ok := find(id)
	if !ok {
		return "", false
	}
	parts := []string{p.String()}
	seen := map[string]bool{p.ID.Key(): true}
	for i := 0; i < len(parts); i++ {
		for _, q := range s.Excluded {
			if !seen[q.ID.Key()] && strings.Contains(arm.FoldKey(parts[i]), q.ID.Key()) {
				seen[q.ID.Key()] = true
				parts = append(parts, q.String())
			}
		}
	}
	return strings.Join(parts, "; "), true
}

// WithCompute returns a copy of the snapshot that also holds c (a compute
// not created yet, whose pre-flight compiles it with the rest), sharing
// everything else. It returns the snapshot itself when c's id is taken.
func (s *Snapshot) WithCompute(c *Compute) *Snapshot {
	if s.Lookup(c.ID) != nil {
		return s
	}
	out := *s
	out.Computes = append(slices.Clip(s.Computes), c)
	out.byKey = maps.Clone(s.byKey)
	if out.byKey == nil {
		out.byKey = map[string]any{}
	}
	out.byKey[c.ID.Key()] = c
	return &out
}
