package resources

import (
	"net/http"
	"strings"

	"securetrain/internal/arm"
)

// The kind registry: every resource type securetrain models, once. The
// environment-file decoder, the control plane's routes and write path, the
// CLI's api-versions, `securetrain export` and `apply` read their tables
// from it, so adding a kind is one entry here and its hooks (a decoder in
// decode.go; behaviour the control plane adds, in api's kinds.go).

// Kind is one resource type.
type Kind struct {
	// Type is the canonical full type, "Microsoft.Network/virtualNetworks/subnets".
	Type string
	// Label names the kind in messages: "subnet".
	Label string
	// Inline is the key under which ARM also nests the kind in its
	// parent's properties ("subnets"); such a child lives inside its
	// parent's record, so a parent PUT and a child PUT see one truth.
	// Empty for kinds that are records of their own.
	Inline string
	// Children are the kinds nested inline in this one, by type.
	Children []*Kind
	// LongRunning PUTs answer with Azure-AsyncOperation (the Azure SDK's
	// long-running operations); the others are synchronous.
	LongRunning bool
	// Created is the status of a PUT that creates, the one the Azure SDK
	// operation accepts (ML workspaces and storage accounts answer 200,
	// never 201); Updated that of a PUT that replaces. When they are equal
	// the status cannot tell a create from an update.
	Created, Updated int
	// InUse is ARM's error code for deleting the resource while another
	// one references it; "" means references do not hold it (a workspace
	// may be deleted under its private endpoint, as in Azure).
	InUse string
	// NoProvisioningState: the kind has no properties.provisioningState.
	NoProvisioningState bool
	// Global kinds live in the "global" location only, as in Azure.
	Global bool
	// AtSubscription kinds may also be created at the subscription,
	// outside any resource group, and need no location (a policy
	// assignment's is only for its managed identity).
	AtSubscription bool
	// SDKVersion is the api-version the kind's Azure SDK for Go module
	// sends, when it differs from its provider's; children without one
	// use their parent's.
	SDKVersion string
	// Join is the verb of the action ({Type}/{Join}/action) a write
	// needs on a resource of the kind that it references ("join": a
	// subnet's NSG; "joinIpConfiguration": an ASG); "" when referencing
	// one needs nothing.
	Join string
	// name is the kind's naming rule (CheckName).
	name nameRule
	// RecordOnly kinds are stored, shown and exported, with no behaviour:
	// nothing in securetrain reads what they hold.
	RecordOnly bool
	// OwnRoute kinds are served by routes of their own rather than as
	// provider resources: a resource group is a path segment, a lock
	// attaches to any scope.
	OwnRoute bool
}

// Provider is a resource provider namespace and the api-versions the
// control plane accepts for it.
type Provider struct {
	Namespace string
	// APIVersions are every version published for the namespace's types
	// (the apiVersions table); each type accepts its own (APIVersionsOf).
	APIVersions []string
	// SDKVersion is the version its Azure SDK for Go module sends.
	SDKVersion string
}

// Resource types, canonical spelling.
const (
	TypeResourceGroup    = arm.TypeResourceGroup
	TypeVirtualNetwork   = "Microsoft.Network/virtualNetworks"
	TypeSubnet           = TypeVirtualNetwork + "/subnets"
	TypePeering          = TypeVirtualNetwork + "/virtualNetworkPeerings"
	TypeNSG              = "Microsoft.Network/networkSecurityGroups"
	TypeSecurityRule     = TypeNSG + "/securityRules"
	TypeASG              = "Microsoft.Network/applicationSecurityGroups"
	TypeRouteTable       = "Microsoft.Network/routeTables"
	TypeRoute            = TypeRouteTable + "/routes"
	TypeNATGateway       = "Microsoft.Network/natGateways"
	TypePublicIP         = "Microsoft.Network/publicIPAddresses"
	TypeLoadBalancer     = "Microsoft.Network/loadBalancers"
	TypeNIC              = "Microsoft.Network/networkInterfaces"
	TypePrivateEndpoint  = "Microsoft.Network/privateEndpoints"
	TypeZoneGroup        = TypePrivateEndpoint + "/privateDnsZoneGroups"
	TypePrivateDNSZone   = "Microsoft.Network/privateDnsZones"
	TypeZoneLink         = TypePrivateDNSZone + "/virtualNetworkLinks"
	TypeZoneA            = TypePrivateDNSZone + "/A"
	TypeZoneCNAME        = TypePrivateDNSZone + "/CNAME"
	TypeFirewall         = "Microsoft.Network/azureFirewalls"
	TypeFirewallPolicy   = "Microsoft.Network/firewallPolicies"
	TypeRuleGroup        = TypeFirewallPolicy + "/ruleCollectionGroups"
	TypeSEP              = "Microsoft.Network/serviceEndpointPolicies"
	TypeDNSResolver      = "Microsoft.Network/dnsResolvers"
	TypeInboundEndpoint  = TypeDNSResolver + "/inboundEndpoints"
	TypeOutboundEndpoint = TypeDNSResolver + "/outboundEndpoints"
	TypeRuleset          = "Microsoft.Network/dnsForwardingRulesets"
	TypeForwardingRule   = TypeRuleset + "/forwardingRules"
	TypeRulesetLink      = TypeRuleset + "/virtualNetworkLinks"
	TypeStorageAccount   = "Microsoft.Storage/storageAccounts"
	TypeWorkspace        = "Microsoft.MachineLearningServices/workspaces"
	TypeCompute          = TypeWorkspace + "/computes"
	TypeJob              = TypeWorkspace + "/jobs"
	TypeCodes            = TypeWorkspace + "/codes"
	TypeCodeVersion      = TypeCodes + "/versions"
	TypeEnvironments     = TypeWorkspace + "/environments"
	TypeEnvironmentVer   = TypeEnvironments + "/versions"
	TypeVirtualMachine   = "Microsoft.Compute/virtualMachines"
	TypeKeyVault         = "Microsoft.KeyVault/vaults"
	TypeAppInsights      = "Microsoft.Insights/components"
	TypeRegistry         = "Microsoft.ContainerRegistry/registries"
	TypeLock             = "Microsoft.Authorization/locks"
	TypePolicyAssignment = "Microsoft.Authorization/policyAssignments"
)

// providers are the namespaces served, by lower-cased namespace.
var providers = newProviders()

// kinds is the registry in export order; kindsByType indexes it by
// lower-cased type. Package-level variables are set before any init
// runs, so the decoder's table can be keyed from them.
var kinds, kindsByType = newRegistry()

func newProviders() map[string]*Provider {
	out := map[string]*Provider{}
	for _, p := range []*Provider{
		{Namespace: "Microsoft.Resources", SDKVersion: "2021-04-01"},
		// armlocks sends 2016-09-01 (2020-05-01 is the newest locks
		// version); armauthorization v2 sends 2022-04-01 for roles;
		// armpolicy sends 2023-04-01 for policy assignments.
		{Namespace: "Microsoft.Authorization", SDKVersion: "2022-04-01"},
		// armnetwork/v7 sends 2025-01-01 (v6: 2024-05-01); armprivatedns
		// 2024-06-01; armdnsresolver 2022-07-01.
		{Namespace: "Microsoft.Network", SDKVersion: "2025-01-01"},
		{Namespace: "Microsoft.Storage", SDKVersion: "2024-01-01"},
		{Namespace: "Microsoft.MachineLearningServices", SDKVersion: "2024-04-01"},
		{Namespace: "Microsoft.Compute", SDKVersion: "2024-07-01"},
		// Record-only types: armkeyvault sends 2023-07-01,
		// armapplicationinsights 2020-02-02, armcontainerregistry 2023-07-01.
		{Namespace: "Microsoft.KeyVault", SDKVersion: "2023-07-01"},
		{Namespace: "Microsoft.Insights", SDKVersion: "2020-02-02"},
		{Namespace: "Microsoft.ContainerRegistry", SDKVersion: "2023-07-01"},
	} {
		p.APIVersions = namespaceVersions(p.Namespace)
		out[strings.ToLower(p.Namespace)] = p
	}
	return out
}

func newRegistry() ([]*Kind, map[string]*Kind) {
	// network completes a Microsoft.Network kind: long-running, 201 on
	// create, named by the rule most of them share unless it has its own.
	network := func(k Kind) *Kind {
		k.LongRunning, k.Created, k.Updated = true, http.StatusCreated, http.StatusOK
		if k.name.valid == nil {
			k.name = networkName
		}
		return &k
	}
	list := []*Kind{
		{Type: TypeResourceGroup, Label: "resource group", Created: http.StatusCreated, Updated: http.StatusOK, OwnRoute: true, name: resourceGroupName},
		// A VNet is held by what links to it (DNS zone and ruleset links,
		// DNS resolvers); a peering to it is not: it becomes Disconnected.
		network(Kind{Type: TypeVirtualNetwork, Label: "virtual network", InUse: "InUseVirtualNetworkCannotBeDeleted", Join: "join", name: network2to64}),
		network(Kind{Type: TypeSubnet, Label: "subnet", Inline: "subnets", InUse: "InUseSubnetCannotBeDeleted", Join: "join"}),
		network(Kind{Type: TypePeering, Label: "peering", Inline: "virtualNetworkPeerings"}),
		network(Kind{Type: TypeNSG, Label: "network security group", InUse: "InUseNetworkSecurityGroupCannotBeDeleted", Join: "join"}),
		network(Kind{Type: TypeSecurityRule, Label: "security rule", Inline: "securityRules"}),
		network(Kind{Type: TypeASG, Label: "application security group", InUse: "InUseApplicationSecurityGroupCannotBeDeleted", Join: "joinIpConfiguration"}),
		network(Kind{Type: TypeRouteTable, Label: "route table", InUse: "InUseRouteTableCannotBeDeleted", Join: "join"}),
		network(Kind{Type: TypeRoute, Label: "route", Inline: "routes"}),
		network(Kind{Type: TypeNATGateway, Label: "NAT gateway", InUse: "InUseNatGatewayCannotBeDeleted", Join: "join"}),
		network(Kind{Type: TypePublicIP, Label: "public IP address", InUse: "PublicIPAddressInUse", Join: "join"}),
		network(Kind{Type: TypeLoadBalancer, Label: "load balancer", InUse: "InUseLoadBalancerCannotBeDeleted"}),
		// A NIC is held by what it is attached to: a VM, a private endpoint.
		network(Kind{Type: TypeNIC, Label: "network interface", InUse: "NicInUse"}),
		network(Kind{Type: TypePrivateEndpoint, Label: "private endpoint", name: network2to64}),
		// A zone group is a record of its own under its endpoint: its
		// write puts the endpoint's A records in the zones it names.
		network(Kind{Type: TypeZoneGroup, Label: "private DNS zone group"}),
		network(Kind{Type: TypePrivateDNSZone, Label: "private DNS zone", Global: true, Join: "join", SDKVersion: "2024-06-01", name: zoneName}), // armprivatedns
		network(Kind{Type: TypeZoneLink, Label: "virtual network link", Global: true}),
		network(Kind{Type: TypeZoneA, Label: "A record set", name: recordName}),
		network(Kind{Type: TypeZoneCNAME, Label: "CNAME record set", name: recordName}),
		network(Kind{Type: TypeFirewall, Label: "firewall"}),
		network(Kind{Type: TypeFirewallPolicy, Label: "firewall policy", InUse: "InUseFirewallPolicyCannotBeDeleted", Join: "join"}),
		network(Kind{Type: TypeRuleGroup, Label: "rule collection group"}),
		network(Kind{Type: TypeSEP, Label: "service endpoint policy", InUse: "InUseServiceEndpointPolicyCannotBeDeleted", Join: "join"}),
		// DNS Private Resolver children are standalone only: ARM has no
		// inline form for them. armdnsresolver sends 2022-07-01.
		network(Kind{Type: TypeDNSResolver, Label: "DNS resolver", SDKVersion: "2022-07-01", name: resolverName}),
		network(Kind{Type: TypeInboundEndpoint, Label: "inbound endpoint", name: resolverName}),
		network(Kind{Type: TypeOutboundEndpoint, Label: "outbound endpoint", InUse: "InUseOutboundEndpointCannotBeDeleted", Join: "join", name: resolverName}),
		network(Kind{Type: TypeRuleset, Label: "forwarding ruleset", SDKVersion: "2022-07-01", name: resolverName}),
		network(Kind{Type: TypeForwardingRule, Label: "forwarding rule", name: resolverName}),
		network(Kind{Type: TypeRulesetLink, Label: "ruleset link", name: resolverName}),
		{Type: TypeStorageAccount, Label: "storage account", LongRunning: true, Created: http.StatusOK, Updated: http.StatusOK,
			name: pattern(`^[a-z0-9]{3,24}$`, "3–24 lower-case letters and digits")},
		{Type: TypeWorkspace, Label: "workspace", LongRunning: true, Created: http.StatusOK, Updated: http.StatusOK,
			name: pattern(`^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$`, "3–33 letters, digits, '_' and '-', starting with a letter or digit")},
		{Type: TypeCompute, Label: "compute", LongRunning: true, Created: http.StatusCreated, Updated: http.StatusOK,
			name: pattern(`^[A-Za-z][A-Za-z0-9-]{1,31}$`, "2–32 letters, digits and '-', starting with a letter (each compute type has its own length)")},
		// A job's status belongs to the server: it has no provisioningState.
		{Type: TypeJob, Label: "job", Created: http.StatusCreated, Updated: http.StatusOK, NoProvisioningState: true, name: jobName},
		{Type: TypeCodes, Label: "code", Created: http.StatusCreated, Updated: http.StatusOK, name: assetName},
		{Type: TypeCodeVersion, Label: "code version", Created: http.StatusCreated, Updated: http.StatusOK, name: assetName},
		{Type: TypeEnvironments, Label: "environment", Created: http.StatusCreated, Updated: http.StatusOK, name: assetName},
		{Type: TypeEnvironmentVer, Label: "environment version", Created: http.StatusCreated, Updated: http.StatusOK, name: assetName},
		{Type: TypeVirtualMachine, Label: "virtual machine", LongRunning: true, Created: http.StatusCreated, Updated: http.StatusOK,
			name: pattern(`^[A-Za-z0-9-]{0,63}[A-Za-z0-9]$`, "1–64 letters, digits and '-', not ending with '-'")},
		// Record-only kinds: stored, shown and exported as sent; what they
		// do in Azure (secrets, telemetry, images) is not modelled.
		{Type: TypeKeyVault, Label: "key vault", LongRunning: true, Created: http.StatusOK, Updated: http.StatusOK, RecordOnly: true,
			name: keyVaultName},
		{Type: TypeAppInsights, Label: "Application Insights component", Created: http.StatusOK, Updated: http.StatusOK, RecordOnly: true,
			name: printableExcept(260, `%&\?/`, ". ", `1–260 ASCII characters without %&\?/ or control characters, not ending with '.' or a space`)},
		{Type: TypeRegistry, Label: "container registry", LongRunning: true, Created: http.StatusOK, Updated: http.StatusOK, RecordOnly: true,
			name: pattern(`^[A-Za-z0-9]{5,50}$`, "5–50 letters and digits")},
		{Type: TypeLock, Label: "lock", Created: http.StatusCreated, Updated: http.StatusOK, SDKVersion: "2016-09-01", OwnRoute: true,
			name: printableExcept(260, `<>%&:\?/#`, "", `1–260 ASCII characters without <>%&:\?/# or control characters`)},
		// armpolicy's Create accepts 201 only, on create and update alike.
		{Type: TypePolicyAssignment, Label: "policy assignment", Created: http.StatusCreated, Updated: http.StatusCreated,
			NoProvisioningState: true, AtSubscription: true, SDKVersion: "2023-04-01",
			name: printableExcept(64, `#<>%&:\?/`, ". ", `1–64 ASCII characters without #<>%&:\?/ or control characters, not ending with '.' or a space`)},
	}
	byType := map[string]*Kind{}
	for _, k := range list {
		byType[strings.ToLower(k.Type)] = k
	}
	for _, k := range list {
		if k.Inline != "" {
			p := byType[strings.ToLower(k.Type[:strings.LastIndexByte(k.Type, '/')])]
			p.Children = append(p.Children, k)
		}
	}
	return list, byType
}

// Kinds are the registered kinds, parents before their children, in the
// order `securetrain export` lists them.
func Kinds() []*Kind { return kinds }

// KindOf is the kind of a full type (case-insensitive), or nil.
func KindOf(typ string) *Kind { return kindsByType[strings.ToLower(typ)] }

// ProviderOf is the provider of a namespace (case-insensitive), or nil.
func ProviderOf(namespace string) *Provider { return providers[strings.ToLower(namespace)] }

// Namespace is the kind's provider namespace, "Microsoft.Network".
func (k *Kind) Namespace() string { return k.Type[:strings.IndexByte(k.Type, '/')] }

// Provider is the kind's provider.
func (k *Kind) Provider() *Provider { return ProviderOf(k.Namespace()) }

// Leaf is the last segment of the kind's type, "subnets": the segment
// that precedes a name in an id.
func (k *Kind) Leaf() string { return k.Type[strings.LastIndexByte(k.Type, '/')+1:] }

// Parent is the kind of the parent type, or nil for a top-level kind.
func (k *Kind) Parent() *Kind {
	if strings.Count(k.Type, "/") < 2 {
		return nil
	}
	return KindOf(k.Type[:strings.LastIndexByte(k.Type, '/')])
}

// SubscriptionCollection is the path that lists a top-level kind across
// subscription sub.
func (k *Kind) SubscriptionCollection(sub string) string {
	if k.Type == TypeResourceGroup {
		return "/subscriptions/" + sub + "/resourcegroups"
	}
	return "/subscriptions/" + sub + "/providers/" + k.Type
}

// SDKAPIVersion is the api-version the Azure SDK for Go sends for a full
// type: its kind's, the nearest registered parent's, else its provider's
// ("" for an unknown provider). Types that are not kinds (role
// assignments, a compute's actions) get their parent's or provider's.
func SDKAPIVersion(fullType string) string {
	for t := fullType; strings.Contains(t, "/"); t = t[:strings.LastIndexByte(t, '/')] {
		if k := KindOf(t); k != nil && k.SDKVersion != "" {
			return k.SDKVersion
		}
	}
	ns, _, _ := strings.Cut(fullType, "/")
	if p := ProviderOf(ns); p != nil {
		return p.SDKVersion
	}
	return ""
}
