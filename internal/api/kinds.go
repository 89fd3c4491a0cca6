package api

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// resourceKind is a resource type the generic resource handler serves:
// every type the environment-file decoder knows, so that what the API
// accepts and what `securetrain check` reads are one model.
type resourceKind struct {
	typ string // canonical full type
	// inline is set for children ARM also nests in their parent's
	// properties under this key (a VNet's subnets): they live inside the
	// parent's record, so a parent PUT and a child PUT see one truth.
	inline string
	// created is the status of a PUT that creates: the one the Azure SDK
	// operation accepts (arm-api-notes.md: ML workspaces take 200 or 202,
	// never 201).
	created int
	// async PUTs answer with Azure-AsyncOperation (the SDK's long-running
	// operations); the others are synchronous.
	async bool
	// inUse is the ARM error code for deleting the resource while another
	// one references it; "" means references do not hold it (a workspace
	// may be deleted under its private endpoint, as in Azure).
	inUse string
	// noProvisioningState: the type has no properties.provisioningState.
	noProvisioningState bool
	// children are the kinds nested inline in this one, by type.
	children []*resourceKind
	// derive fills in, in the write's transaction and after normalize,
	// what Azure creates or assigns with the resource (a private
	// endpoint's NIC and address, a workspace's GUID); nil for most kinds.
	derive func(s *Server, ctx context.Context, tx store.Tx, id arm.ID, cur, next object) error
	// owned lists, from the stored body, the records Azure deletes with
	// the resource (a private endpoint's NIC); nil for most kinds.
	owned func(body object) []string
}

var kinds = map[string]*resourceKind{} // by lower-cased type

func init() {
	network := func(typ, inline, inUse string) {
		kinds[strings.ToLower(typ)] = &resourceKind{typ: typ, inline: inline, created: http.StatusCreated, async: true, inUse: inUse}
	}
	const n = "Microsoft.Network/"
	// A VNet is held by what links to it (DNS zone and ruleset links, DNS
	// resolvers); a peering to it is not: it becomes Disconnected.
	network(n+"virtualNetworks", "", "InUseVirtualNetworkCannotBeDeleted")
	network(n+"virtualNetworks/subnets", "subnets", "InUseSubnetCannotBeDeleted")
	network(n+"virtualNetworks/virtualNetworkPeerings", "virtualNetworkPeerings", "")
	network(n+"networkSecurityGroups", "", "InUseNetworkSecurityGroupCannotBeDeleted")
	network(n+"networkSecurityGroups/securityRules", "securityRules", "")
	network(n+"applicationSecurityGroups", "", "InUseApplicationSecurityGroupCannotBeDeleted")
	network(n+"routeTables", "", "InUseRouteTableCannotBeDeleted")
	network(n+"routeTables/routes", "routes", "")
	network(n+"natGateways", "", "InUseNatGatewayCannotBeDeleted")
	network(n+"publicIPAddresses", "", "PublicIPAddressInUse")
	network(n+"loadBalancers", "", "InUseLoadBalancerCannotBeDeleted")
	// A NIC is held by what it is attached to: a VM, a private endpoint.
	network(n+"networkInterfaces", "", "NicInUse")
	network(n+"privateEndpoints", "", "")
	network(n+"privateDnsZones", "", "")
	network(n+"privateDnsZones/virtualNetworkLinks", "", "")
	network(n+"privateDnsZones/A", "", "")
	network(n+"privateDnsZones/CNAME", "", "")
	network(n+"azureFirewalls", "", "")
	network(n+"firewallPolicies", "", "InUseFirewallPolicyCannotBeDeleted")
	network(n+"firewallPolicies/ruleCollectionGroups", "", "")
	network(n+"serviceEndpointPolicies", "", "InUseServiceEndpointPolicyCannotBeDeleted")
	network(n+"dnsResolvers", "", "")
	network(n+"dnsResolvers/inboundEndpoints", "", "")
	network(n+"dnsResolvers/outboundEndpoints", "", "InUseOutboundEndpointCannotBeDeleted")
	network(n+"dnsForwardingRulesets", "", "")
	network(n+"dnsForwardingRulesets/forwardingRules", "", "")
	network(n+"dnsForwardingRulesets/virtualNetworkLinks", "", "")
	for _, k := range []*resourceKind{
		{typ: "Microsoft.Storage/storageAccounts", created: http.StatusOK, async: true},
		{typ: "Microsoft.MachineLearningServices/workspaces", created: http.StatusOK, async: true},
		{typ: typeCompute, created: http.StatusCreated, async: true},
		{typ: "Microsoft.Compute/virtualMachines", created: http.StatusCreated, async: true},
		// armpolicy's Create accepts 201 only, on create and update alike.
		{typ: "Microsoft.Authorization/policyAssignments", created: http.StatusCreated, noProvisioningState: true},
	} {
		kinds[strings.ToLower(k.typ)] = k
	}
	pe := kinds[strings.ToLower(n+"privateEndpoints")]
	pe.derive, pe.owned = (*Server).derivePrivateEndpoint, endpointNICs
	kinds[strings.ToLower(typeWorkspace)].derive = deriveWorkspace
	for _, c := range kinds {
		if c.inline != "" {
			p := kinds[strings.ToLower(c.typ[:strings.LastIndexByte(c.typ, '/')])]
			p.children = append(p.children, c)
		}
	}
	for _, k := range kinds {
		slices.SortFunc(k.children, func(a, b *resourceKind) int { return strings.Compare(a.typ, b.typ) })
	}
}

// kindOf returns the kind of a full type, or nil.
func kindOf(typ string) *resourceKind { return kinds[strings.ToLower(typ)] }

// updatedStatus is the status of a PUT that replaces.
func (k *resourceKind) updatedStatus() int {
	if strings.EqualFold(k.typ, "Microsoft.Authorization/policyAssignments") {
		return http.StatusCreated
	}
	return http.StatusOK
}

// provider is the namespace, lower-cased (the api-version table's key).
func (k *resourceKind) provider() string {
	return strings.ToLower(k.typ[:strings.IndexByte(k.typ, '/')])
}
