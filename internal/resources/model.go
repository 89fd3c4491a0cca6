// Package resources holds the typed views of ARM resources that securetrain
// reasons about (network, machine learning), decoded from the ARM JSON of an
// environment file or API body, and the Snapshot that groups them.
//
// References between resources are kept as ids (arm.ID); Snapshot.Link
// resolves them. A field that Azure leaves optional and securetrain must
// distinguish from its zero value is a pointer.
package resources

import (
	"net/netip"
	"strconv"
	"strings"

	"securetrain/internal/arm"
)

// Meta is what every resource carries.
type Meta struct {
	ID       arm.ID
	Location string // as written; compare with strings.EqualFold
	Tags     map[string]string
	// Pos is where the resource is declared ("env.yaml:12"); empty for
	// resources that did not come from a file.
	Pos string
}

// Ref is a reference to another resource by id, with where it was written.
type Ref struct {
	ID  arm.ID
	Pos string
}

// IsSet reports whether the reference is present.
func (r Ref) IsSet() bool { return !r.ID.IsZero() }

// ResourceGroup is Microsoft.Resources/resourceGroups.
type ResourceGroup struct{ Meta }

// VirtualNetwork is Microsoft.Network/virtualNetworks.
type VirtualNetwork struct {
	Meta
	AddressSpace []netip.Prefix
	// DNSServers are dhcpOptions.dnsServers; empty means Azure-provided DNS.
	DNSServers []netip.Addr
	Subnets    []*Subnet
	Peerings   []*Peering
}

// Delegation hands a subnet to a service.
type Delegation struct {
	Name        string
	ServiceName string
}

// ServiceEndpoint is a subnet's service endpoint ("Microsoft.Storage").
type ServiceEndpoint struct {
	Service   string
	Locations []string
}

// Subnet is Microsoft.Network/virtualNetworks/subnets.
type Subnet struct {
	Meta
	AddressPrefixes         []netip.Prefix
	Delegations             []Delegation
	NetworkSecurityGroup    Ref
	RouteTable              Ref
	NATGateway              Ref
	ServiceEndpoints        []ServiceEndpoint
	ServiceEndpointPolicies []Ref
	// PrivateEndpointNetworkPolicies: Disabled (Azure's default), Enabled,
	// NetworkSecurityGroupEnabled, RouteTableEnabled.
	PrivateEndpointNetworkPolicies string
	// DefaultOutboundAccess nil means not set (Azure's default for the
	// VNet's API version applies; securetrain treats unset as true).
	DefaultOutboundAccess *bool
}

// EndpointNSGs reports whether NSGs apply to the private endpoints in the
// subnet (privateEndpointNetworkPolicies Enabled or
// NetworkSecurityGroupEnabled; Azure: "Manage network policies for
// private endpoints").
func (s *Subnet) EndpointNSGs() bool {
	switch s.PrivateEndpointNetworkPolicies {
	case "Enabled", "NetworkSecurityGroupEnabled":
		return true
	}
	return false
}

// EndpointRouteTables reports whether user-defined routes may override
// the /32 routes of the private endpoints in the subnet
// (privateEndpointNetworkPolicies Enabled or RouteTableEnabled).
func (s *Subnet) EndpointRouteTables() bool {
	switch s.PrivateEndpointNetworkPolicies {
	case "Enabled", "RouteTableEnabled":
		return true
	}
	return false
}

// Peering is Microsoft.Network/virtualNetworks/virtualNetworkPeerings.
type Peering struct {
	Meta
	RemoteVirtualNetwork Ref
	// State is Azure's peeringState as stored ("" when not written). A
	// Disconnected peering carries no traffic until it is deleted and
	// re-created, even if its remote VNet comes back.
	State                     PeeringState
	AllowVirtualNetworkAccess bool // default true
	AllowForwardedTraffic     bool
	AllowGatewayTransit       bool
	UseRemoteGateways         bool
}

// PeeringState is a VNet peering's peeringState.
type PeeringState string

// Peering states (Azure's spelling).
const (
	PeeringInitiated    PeeringState = "Initiated"
	PeeringConnected    PeeringState = "Connected"
	PeeringDisconnected PeeringState = "Disconnected"
)

// Carries reports whether the peering can carry traffic on its side: not
// Disconnected.
func (p *Peering) Carries() bool { return p.State != PeeringDisconnected }

// Direction of an NSG rule.
type Direction string

// NSG rule directions.
const (
	Inbound  Direction = "Inbound"
	Outbound Direction = "Outbound"
)

// Access of an NSG rule or firewall rule collection.
type Access string

// NSG rule accesses.
const (
	Allow Access = "Allow"
	Deny  Access = "Deny"
)

// Protocol of an NSG rule; Any is "*".
type Protocol string

// NSG protocols, canonical spelling.
const (
	ProtoTCP  Protocol = "Tcp"
	ProtoUDP  Protocol = "Udp"
	ProtoICMP Protocol = "Icmp"
	ProtoESP  Protocol = "Esp"
	ProtoAH   Protocol = "Ah"
	ProtoAny  Protocol = "*"
)

// PortRange is an inclusive port range; "*" is {0, 65535}.
type PortRange struct{ From, To uint16 }

// String writes the range as ARM does: "*", "443" or "8000-8999".
func (p PortRange) String() string {
	switch {
	case p == anyPort:
		return "*"
	case p.From == p.To:
		return strconv.Itoa(int(p.From))
	}
	return strconv.Itoa(int(p.From)) + "-" + strconv.Itoa(int(p.To))
}

// NetworkSecurityGroup is Microsoft.Network/networkSecurityGroups. Rules
// hold the user's rules only; the six default rules are added by the verifier.
type NetworkSecurityGroup struct {
	Meta
	Rules []*SecurityRule
}

// SecurityRule is an NSG rule (nested or Microsoft.Network/networkSecurityGroups/securityRules).
type SecurityRule struct {
	Meta
	Priority  int
	Direction Direction
	Access    Access
	Protocol  Protocol
	// SourcePrefixes and DestinationPrefixes hold what was written, from
	// either the singular or the plural field: "*", an IP, a CIDR, an IP
	// range "a-b" is not allowed by Azure; a service tag such as "Storage.WestUS2".
	SourcePrefixes      []string
	SourcePorts         []PortRange
	DestinationPrefixes []string
	DestinationPorts    []PortRange
	SourceASGs          []Ref
	DestinationASGs     []Ref
	Description         string
}

// ApplicationSecurityGroup is Microsoft.Network/applicationSecurityGroups.
type ApplicationSecurityGroup struct{ Meta }

// Next hop types of a route.
const (
	NextHopVnetLocal             = "VnetLocal"
	NextHopInternet              = "Internet"
	NextHopVirtualAppliance      = "VirtualAppliance"
	NextHopVirtualNetworkGateway = "VirtualNetworkGateway"
	NextHopNone                  = "None"
)

// RouteTable is Microsoft.Network/routeTables.
type RouteTable struct {
	Meta
	Routes                     []*Route
	DisableBgpRoutePropagation bool
}

// Route is a user-defined route.
type Route struct {
	Meta
	// AddressPrefix is a CIDR or a service tag name.
	AddressPrefix string
	NextHopType   string // canonical spelling, one of the NextHop constants
	NextHopIP     netip.Addr
}

// NATGateway is Microsoft.Network/natGateways.
type NATGateway struct {
	Meta
	PublicIPAddresses []Ref
	PublicIPPrefixes  []Ref
}

// SKUName is the SKU of a public IP address or load balancer whose body
// says written: Standard when it says none, since Basic ones can no longer
// be created (Public IP addresses). The verifier and the studio read it so.
func SKUName(written string) string {
	if written == "" {
		return "Standard"
	}
	return written
}

// PublicIPAddress is Microsoft.Network/publicIPAddresses.
type PublicIPAddress struct {
	Meta
	SKU              string
	AllocationMethod string
	// Address is the assigned address when known (read-only in Azure).
	Address netip.Addr
}

// LoadBalancer is Microsoft.Network/loadBalancers.
type LoadBalancer struct {
	Meta
	SKU             string
	Frontends       []LBFrontend
	BackendPools    []string
	Rules           []LBRule
	InboundNATRules []LBRule
	OutboundRules   []LBOutboundRule
}

// LBFrontend is a frontend IP configuration.
type LBFrontend struct {
	Name      string
	PublicIP  Ref
	Subnet    Ref
	PrivateIP netip.Addr
}

// LBRule is a load-balancing or inbound NAT rule.
type LBRule struct {
	Name         string
	Protocol     string // Tcp, Udp, All
	FrontendPort int
	BackendPort  int
	Frontend     string // frontend configuration name
	BackendPool  string // pool name; empty for NAT rules bound to a NIC
}

// LBOutboundRule gives a backend pool outbound SNAT through frontends.
type LBOutboundRule struct {
	Name        string
	BackendPool string
	Frontends   []string
}

// NetworkInterface is Microsoft.Network/networkInterfaces.
type NetworkInterface struct {
	Meta
	// VirtualMachine is the VM the NIC belongs to (read-only in Azure; the
	// VM itself is not modelled): attached VirtualMachine computes find
	// their address through it.
	VirtualMachine       Ref
	NetworkSecurityGroup Ref
	EnableIPForwarding   bool
	IPConfigurations     []NICIPConfiguration
	// DNSServers (dnsSettings.dnsServers) take precedence over the VNet's.
	DNSServers []netip.Addr
	// PrivateEndpoint is the endpoint Azure created the NIC for (read-only
	// in Azure). When that endpoint is in the snapshot and owns the NIC
	// (Snapshot.EndpointNIC), it stands for the NIC: its IPConfigurations
	// hold the NIC's addresses.
	PrivateEndpoint Ref
}

// NICIPConfiguration is one IP configuration of a NIC.
type NICIPConfiguration struct {
	Name                      string
	Subnet                    Ref
	PrivateIP                 netip.Addr
	PublicIP                  Ref
	ApplicationSecurityGroups []Ref
	LoadBalancerBackendPools  []Ref // ids of loadBalancers/{lb}/backendAddressPools/{pool}
}

// PrivateEndpoint is Microsoft.Network/privateEndpoints.
type PrivateEndpoint struct {
	Meta
	Subnet Ref
	// Connections from privateLinkServiceConnections and manualPrivateLinkServiceConnections.
	Connections []PrivateLinkConnection
	// IPConfigurations are the endpoint's addresses: the static ones
	// written in it, else those of its NIC, else those its customDnsConfigs
	// list (Azure's dynamic allocation shows only there).
	IPConfigurations          []PrivateEndpointIPConfiguration
	ApplicationSecurityGroups []Ref
	// NetworkInterfaces are the NICs Azure created for the endpoint.
	NetworkInterfaces []Ref
	// ZoneGroups are the endpoint's private DNS zone groups.
	ZoneGroups []*PrivateDNSZoneGroup
	// customDNSAddresses are the addresses of customDnsConfigs, which Azure
	// derives from the others: they only stand in for a missing NIC.
	customDNSAddresses []netip.Addr
}

// PrivateDNSZoneGroup is Microsoft.Network/privateEndpoints/
// privateDnsZoneGroups: Azure keeps A records of its endpoint's addresses
// in the zones it names (netverify.ZoneGroupRecords).
type PrivateDNSZoneGroup struct {
	Meta
	Zones []Ref
}

// Record is a resource of a record-only kind (Kind.RecordOnly): kept as
// sent; nothing reads what it holds.
type Record struct{ Meta }

// PrivateLinkConnection points a private endpoint at a resource.
type PrivateLinkConnection struct {
	Name     string
	Target   Ref
	GroupIDs []string // "blob", "file", "amlworkspace", …
}

// PrivateEndpointIPConfiguration is a static address of a private endpoint.
type PrivateEndpointIPConfiguration struct {
	Name       string
	GroupID    string
	MemberName string
	PrivateIP  netip.Addr
}

// PrivateDNSZone is Microsoft.Network/privateDnsZones; its name is the zone.
type PrivateDNSZone struct {
	Meta
	Links []*VirtualNetworkLink
	// Records by relative name, lower-cased ("@" is the apex).
	A     map[string][]netip.Addr
	CNAME map[string]string
}

// VirtualNetworkLink is Microsoft.Network/privateDnsZones/virtualNetworkLinks.
type VirtualNetworkLink struct {
	Meta
	VirtualNetwork      Ref
	RegistrationEnabled bool
}

// FirewallRuleKind says which stage of Azure Firewall processing a rule collection belongs to.
type FirewallRuleKind string

// Firewall rule collection kinds, in the order Azure Firewall processes them.
const (
	FirewallNAT         FirewallRuleKind = "Nat"
	FirewallNetwork     FirewallRuleKind = "Network"
	FirewallApplication FirewallRuleKind = "Application"
)

// FirewallRuleCollection is a classic rule collection or a policy rule
// collection, flattened: Priority orders collections of one kind; GroupPriority
// orders policy rule collection groups (0 for classic collections).
type FirewallRuleCollection struct {
	Name          string
	Group         string // rule collection group name (policies only)
	GroupPriority int
	Priority      int
	Kind          FirewallRuleKind
	Action        string // Allow, Deny, Dnat
	Rules         []FirewallRule
	Pos           string
}

// FirewallAppProtocol is an application rule protocol (Http:80, Https:443, Mssql:1433).
type FirewallAppProtocol struct {
	Type string
	Port int
}

// FirewallRule is a network, application or NAT rule.
type FirewallRule struct {
	Name string
	// SourceAddresses and DestinationAddresses: "*", IPs, CIDRs, ranges "a-b",
	// and (destination, network rules) service tags.
	SourceAddresses      []string
	DestinationAddresses []string
	DestinationFqdns     []string
	DestinationPorts     []PortRange
	// Protocols of network rules: TCP, UDP, ICMP, Any.
	Protocols []string
	// Application rules.
	TargetFqdns  []string
	AppProtocols []FirewallAppProtocol
	// NAT rules.
	TranslatedAddress string
	TranslatedPort    string
}

// AzureFirewall is Microsoft.Network/azureFirewalls.
type AzureFirewall struct {
	Meta
	Subnet    Ref // from ipConfigurations[0].properties.subnet
	PrivateIP netip.Addr
	PublicIPs []Ref
	Policy    Ref
	// Classic rule collections (ignored when Policy is set, as in Azure).
	RuleCollections []FirewallRuleCollection
	// DNSProxy and DNSServers from classic additionalProperties
	// (Network.DNS.EnableProxy / Network.DNS.Servers); a policy overrides them.
	DNSProxy   bool
	DNSServers []netip.Addr
	// SNATPrivateRanges from additionalProperties Network.SNAT.PrivateRanges;
	// nil: IANAPrivateRanges. A policy overrides them.
	SNATPrivateRanges []netip.Prefix
}

// IANAPrivateRanges are the destinations Azure Firewall does not SNAT
// network-rule traffic to by default: "a private IP address range per IANA
// RFC 1918 or shared address space per IANA RFC 6598" (Azure Firewall SNAT
// private IP address ranges).
var IANAPrivateRanges = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10")}

// FirewallPolicy is Microsoft.Network/firewallPolicies with its rule
// collection groups (nested or Microsoft.Network/firewallPolicies/ruleCollectionGroups).
type FirewallPolicy struct {
	Meta
	BasePolicy      Ref
	DNSProxy        bool
	DNSServers      []netip.Addr
	RuleCollections []FirewallRuleCollection
	// SNATPrivateRanges from snat.privateRanges; nil: IANAPrivateRanges.
	SNATPrivateRanges []netip.Prefix
}

// ServiceEndpointPolicy is Microsoft.Network/serviceEndpointPolicies.
type ServiceEndpointPolicy struct {
	Meta
	Definitions []ServiceEndpointPolicyDefinition
}

// ServiceEndpointPolicyDefinition scopes a policy to resources of one service.
type ServiceEndpointPolicyDefinition struct {
	Name             string
	Service          string // Microsoft.Storage or Global (aliases)
	ServiceResources []string
}

// StorageAccount is Microsoft.Storage/storageAccounts (network rules only).
type StorageAccount struct {
	Meta
	PublicNetworkAccess  string
	AllowSharedKeyAccess *bool
	DefaultAction        string // Allow or Deny
	Bypass               string
	IPRules              []string
	VirtualNetworkRules  []Ref // subnet ids
}

// VirtualMachine is Microsoft.Compute/virtualMachines, read for what
// attaching it as a compute depends on (spec §4.6: Ubuntu only): its image
// and OS type. Its network interfaces are found through their
// virtualMachine property.
type VirtualMachine struct {
	Meta
	// ImagePublisher, ImageOffer, ImageSKU are storageProfile.imageReference's
	// (empty for a VM from a custom image or gallery image id).
	ImagePublisher, ImageOffer, ImageSKU string
	OSType                               string // storageProfile.osDisk.osType: Linux or Windows, or empty
}

// IsUbuntu reports whether the VM's image is known to be Ubuntu (known:
// whether the image says enough to tell).
func (vm *VirtualMachine) IsUbuntu() (ubuntu, known bool) {
	if strings.EqualFold(vm.OSType, "Windows") {
		return false, true
	}
	if vm.ImagePublisher == "" && vm.ImageOffer == "" {
		return false, false
	}
	for _, s := range []string{vm.ImageOffer, vm.ImageSKU} {
		if strings.Contains(strings.ToLower(s), "ubuntu") {
			return true, true
		}
	}
	// Canonical publishes Ubuntu only (offers like 0001-com-ubuntu-server-jammy).
	return strings.EqualFold(vm.ImagePublisher, "Canonical"), true
}

// Workspace is Microsoft.MachineLearningServices/workspaces.
type Workspace struct {
	Meta
	StorageAccount      Ref
	KeyVault            Ref
	ApplicationInsights Ref
	ContainerRegistry   Ref
	PublicNetworkAccess string
	HBIWorkspace        bool
	// WorkspaceID is the workspace GUID used in its FQDNs (read-only in Azure).
	WorkspaceID string
	// ManagedNetworkIsolation is managedNetwork.isolationMode (Disabled when unset).
	ManagedNetworkIsolation string
}

// Compute types.
const (
	ComputeAml        = "AmlCompute"
	ComputeInstance   = "ComputeInstance"
	ComputeVM         = "VirtualMachine"
	ComputeHDInsight  = "HDInsight"
	ComputeDatabricks = "Databricks"
)

// Compute is Microsoft.MachineLearningServices/workspaces/computes.
type Compute struct {
	Meta
	Workspace   arm.ID // the parent workspace
	ComputeType string // canonical spelling, one of the Compute constants
	// ComputeLocation is properties.computeLocation, else the resource location.
	ComputeLocation string
	Description     string
	// ResourceID is the attached resource for VirtualMachine, HDInsight, Databricks.
	ResourceID Ref
	// AmlCompute and ComputeInstance properties.
	VMSize                      string
	VMPriority                  string
	Subnet                      Ref
	EnableNodePublicIP          bool // default true
	MinNodeCount                int
	MaxNodeCount                int
	NodeIdleTimeBeforeScaleDown string
	// CurrentNodeCount is a cluster's node count as provisioning last
	// recorded it (0 in files).
	CurrentNodeCount            int
	RemoteLoginPortPublicAccess string // AmlCompute: Enabled, Disabled, NotSpecified
	SSHPublicAccess             string // ComputeInstance: Enabled, Disabled
	OSType                      string
	// Body is the compute as written, for policies that name any of its
	// properties (PolicyAssignment.Denies); not part of the typed view's
	// JSON, which compares what the fields mean.
	Body arm.Body `json:"-"`
}

// DNSResolver is Microsoft.Network/dnsResolvers (Azure DNS Private
// Resolver) with its inbound and outbound endpoints (nested children are not
// ARM's shape: they are standalone dnsResolvers/inboundEndpoints and
// dnsResolvers/outboundEndpoints).
type DNSResolver struct {
	Meta
	VirtualNetwork    Ref
	InboundEndpoints  []*DNSResolverInboundEndpoint
	OutboundEndpoints []*DNSResolverOutboundEndpoint
}

// DNSResolverInboundEndpoint receives queries at a private address of a
// subnet (ipConfigurations[0]); VMs and forwarders use it as a DNS server.
type DNSResolverInboundEndpoint struct {
	Meta
	Subnet    Ref
	PrivateIP netip.Addr // zero when dynamic and not given: the linker assigns the subnet's first usable address (.4)
}

// DNSResolverOutboundEndpoint sends forwarded queries from a subnet.
type DNSResolverOutboundEndpoint struct {
	Meta
	Subnet Ref
}

// DNSForwardingRuleset is Microsoft.Network/dnsForwardingRulesets with its
// forwarding rules and virtual network links (standalone children).
type DNSForwardingRuleset struct {
	Meta
	OutboundEndpoints []Ref
	Rules             []*DNSForwardingRule
	Links             []*DNSForwardingRulesetLink
}

// DNSForwardingRule forwards queries under DomainName to target servers.
type DNSForwardingRule struct {
	Meta
	// DomainName is lower-case, without the trailing dot ("." becomes "").
	DomainName string
	Targets    []netip.AddrPort
	Enabled    bool // forwardingRuleState Enabled (default) or Disabled
}

// DNSForwardingRulesetLink links a ruleset to a virtual network.
type DNSForwardingRulesetLink struct {
	Meta
	VirtualNetwork Ref
}

// Lock levels.
const (
	LockCanNotDelete = "CanNotDelete"
	LockReadOnly     = "ReadOnly"
)

// ManagementLock is Microsoft.Authorization/locks on a resource group (the
// lock's resourceGroup is the group it locks).
type ManagementLock struct {
	Meta
	Level string // LockCanNotDelete or LockReadOnly
	Notes string
}

// NotAllowedResourceTypesPolicy is the id of Azure's built-in policy
// definition "Not allowed resource types"; its parameter
// listOfResourceTypesNotAllowed lists the denied types.
const NotAllowedResourceTypesPolicy = "/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749"

// DenyPropertyPolicy is securetrain's policy definition that denies
// resources of a type whose property (a dotted path into the resource, e.g.
// properties.properties.enableNodePublicIp) equals a value, or — with
// exists false — is absent.
const DenyPropertyPolicy = "/providers/Microsoft.Authorization/policyDefinitions/securetrain-deny-property-value"

// PolicyAssignment is Microsoft.Authorization/policyAssignments at a
// resource group (resourceGroup set) or at the subscription (no
// resourceGroup). securetrain evaluates the built-in "Not allowed resource
// types" definition and its own DenyPropertyPolicy (Denies); other
// definitions are kept but not evaluated.
type PolicyAssignment struct {
	Meta
	// Scope is the resource group or subscription the assignment applies to.
	Scope              arm.ID
	SubscriptionScope  bool
	DisplayName        string
	PolicyDefinitionID string
	// NotAllowedTypes are the types of listOfResourceTypesNotAllowed, as
	// written (compare case-insensitively).
	NotAllowedTypes []string
	// Enforced is false when enforcementMode is DoNotEnforce, or the
	// built-in's effect parameter is Audit or Disabled: nothing is refused.
	Enforced bool
	// NotScopes are excluded scopes (resource groups or resources).
	NotScopes []arm.ID
	// DenyProperty is the condition of a DenyPropertyPolicy assignment.
	DenyProperty *PropertyCondition
}

// PropertyCondition is what a DenyPropertyPolicy assignment denies.
type PropertyCondition struct {
	ResourceType string // compare case-insensitively
	Field        string // a dotted path, matched case-insensitively
	// Equals, when HasEquals, is the JSON value the field must not have.
	Equals    any
	HasEquals bool
	// MustExist denies resources without the field (exists: false).
	MustExist bool
}
