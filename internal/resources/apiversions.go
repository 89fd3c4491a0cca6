package resources

import (
	"slices"
	"strings"
)

// The api-versions Azure registers for each type securetrain serves, as
// Resource Manager's answers list them and, for later versions and the
// types no answer covers, Azure's template reference (docs/templates.md,
// "Where the api-versions come from"): a request (and a template's
// resource) may use any of them, and only them. Every version of a type
// is accepted with the body shape the control plane validates; the
// fields only older versions carry are tolerated by the decoders and
// kept as sent.

// Fields only older api-versions carry, tolerated by the decoders and
// kept as sent (with the values those versions allow).
var (
	// A storage account's SKU before sku (2015-05-01-preview, 2015-06-15).
	olderStorageAccountTypes = []string{"Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Premium_LRS"}
	// A workspace's Batch AI workspace (2018-03-01-preview, versionFields)
	// and its creation time, read-only in every version, which a body read
	// back and sent again carries.
	olderWorkspaceFields = []string{"batchaiWorkspace", "creationTime"}
)

// networkVersions are the versions of the Microsoft.Network API, each of
// which publishes every network type introduced by then.
var networkVersions = []string{
	"2014-12-01-preview", "2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-06-01", "2016-07-01", "2016-08-01",
	"2016-09-01", "2016-10-01", "2016-11-01", "2016-12-01", "2017-03-01", "2017-04-01", "2017-06-01", "2017-08-01",
	"2017-09-01", "2017-10-01", "2017-11-01", "2018-01-01", "2018-02-01", "2018-03-01", "2018-04-01", "2018-05-01",
	"2018-06-01", "2018-07-01", "2018-08-01", "2018-10-01", "2018-11-01", "2018-12-01", "2019-02-01", "2019-04-01",
	"2019-06-01", "2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01", "2019-12-01", "2020-01-01", "2020-03-01",
	"2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01", "2021-01-01", "2021-02-01",
	"2021-03-01", "2021-04-01", "2021-05-01", "2021-06-01", "2021-08-01", "2021-12-01", "2022-01-01", "2022-05-01",
	"2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01",
	"2023-11-01", "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01", "2025-01-01", "2025-03-01",
	"2025-05-01", "2025-07-01",
}

// networkFrom is the network versions from first, the version that
// introduced a type, on.
func networkFrom(first string) []string {
	i := slices.Index(networkVersions, first)
	if i < 0 {
		panic("resources: " + first + " is not a Microsoft.Network api-version")
	}
	return networkVersions[i:]
}

var (
	// Private DNS and DNS Private Resolver have api-versions of their own.
	privateDNSVersions  = []string{"2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"}
	dnsResolverVersions = []string{"2020-04-01-preview", "2022-07-01", "2023-07-01-preview"}
	mlVersions          = []string{
		"2018-03-01-preview", "2018-11-19", "2019-05-01", "2019-06-01", "2019-11-01", "2020-01-01", "2020-02-18-preview",
		"2020-03-01", "2020-04-01", "2020-05-01-preview", "2020-05-15-preview", "2020-06-01", "2020-08-01",
		"2020-09-01-preview", "2021-01-01", "2021-03-01-preview", "2021-04-01", "2021-07-01", "2022-01-01-preview",
		"2022-02-01-preview", "2022-05-01", "2022-06-01-preview", "2022-10-01", "2022-10-01-preview", "2022-12-01-preview",
		"2023-02-01-preview", "2023-04-01", "2023-04-01-preview", "2023-06-01-preview", "2023-08-01-preview", "2023-10-01",
		"2024-01-01-preview", "2024-04-01", "2024-04-01-preview", "2024-07-01-preview", "2024-10-01", "2025-01-01-preview",
		"2025-04-01", "2025-06-01",
	}
	// mlAssetVersions: code and environment assets arrived with the v2 API.
	mlAssetVersions = mlFrom("2021-03-01-preview")
	storageVersions = []string{
		"2015-05-01-preview", "2015-06-15", "2016-01-01", "2016-05-01", "2016-07-01", "2016-12-01", "2017-06-01", "2017-10-01",
		"2018-02-01", "2018-03-01-preview", "2018-07-01", "2018-11-01", "2019-04-01", "2019-06-01", "2020-08-01-preview",
		"2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01", "2021-08-01", "2021-09-01", "2022-05-01", "2022-09-01",
		"2023-01-01", "2023-04-01", "2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01",
	}
	computeVersions = []string{
		"2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-04-30-preview", "2017-03-30", "2017-12-01", "2018-04-01", "2018-06-01",
		"2018-10-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-06-01", "2020-12-01", "2021-03-01", "2021-04-01",
		"2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01",
		"2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01",
	}
	// Resource Manager's own versions (resource groups, deployments):
	// the list of its InvalidApiVersionParameter answer, in date order,
	// and the versions published since.
	resourcesVersions = []string{
		"2013-03-01", "2014-01-01", "2014-02-26", "2014-04", "2014-04-01", "2014-04-01-preview", "2015-01-01", "2015-11-01",
		"2016-02-01", "2016-06-01", "2016-07-01", "2016-09-01", "2017-03-01", "2017-05-01", "2017-05-10", "2017-06-01",
		"2017-08-01", "2017-12-01", "2018-01-01", "2018-02-01", "2018-05-01", "2018-06-01", "2018-07-01", "2018-08-01",
		"2018-09-01", "2018-11-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-06-01", "2019-07-01", "2019-08-01",
		"2019-09-01", "2019-10-01", "2019-11-01", "2020-01-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01",
		"2020-09-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-01-01", "2022-03-01-preview", "2022-05-01",
		"2022-06-01", "2022-09-01", "2022-11-01-preview", "2022-12-01", "2023-03-01-preview", "2023-07-01",
		"2023-07-01-preview", "2024-03-01", "2024-06-01-preview", "2024-07-01", "2024-08-01", "2024-11-01", "2025-04-01",
	}
)

func mlFrom(first string) []string { return mlVersions[slices.Index(mlVersions, first):] }

// apiVersions is the table: the published api-versions of every type
// served, kinds and the types of routes of their own, by canonical type.
var apiVersions = map[string][]string{
	TypeResourceGroup:                   resourcesVersions,
	"Microsoft.Resources/deployments":   resourcesVersions,
	TypeVirtualNetwork:                  networkVersions,
	TypeSubnet:                          networkVersions,
	TypePeering:                         networkFrom("2016-06-01"),
	TypeNSG:                             networkVersions,
	TypeSecurityRule:                    networkVersions,
	TypeASG:                             networkFrom("2017-09-01"),
	TypeRouteTable:                      networkVersions,
	TypeRoute:                           networkVersions,
	TypeNATGateway:                      networkFrom("2019-02-01"),
	TypePublicIP:                        networkVersions,
	TypeLoadBalancer:                    networkVersions,
	TypeNIC:                             networkVersions,
	TypePrivateEndpoint:                 networkFrom("2019-04-01"),
	TypeZoneGroup:                       networkFrom("2020-03-01"),
	TypeFirewall:                        networkFrom("2018-04-01"),
	TypeFirewallPolicy:                  networkFrom("2019-06-01"),
	TypeRuleGroup:                       networkFrom("2020-05-01"),
	TypeSEP:                             networkFrom("2018-07-01"),
	"Microsoft.Network/networkWatchers": networkFrom("2016-09-01"),
	TypePrivateDNSZone:                  privateDNSVersions,
	TypeZoneLink:                        privateDNSVersions,
	TypeZoneA:                           privateDNSVersions,
	TypeZoneCNAME:                       privateDNSVersions,
	TypeDNSResolver:                     dnsResolverVersions,
	TypeInboundEndpoint:                 dnsResolverVersions,
	TypeOutboundEndpoint:                dnsResolverVersions,
	TypeRuleset:                         dnsResolverVersions,
	TypeForwardingRule:                  dnsResolverVersions,
	TypeRulesetLink:                     dnsResolverVersions,
	TypeStorageAccount:                  storageVersions,
	TypeWorkspace:                       mlVersions,
	TypeCompute:                         mlVersions,
	TypeJob:                             mlAssetVersions,
	TypeCodes:                           mlAssetVersions,
	TypeCodeVersion:                     mlAssetVersions,
	TypeEnvironments:                    mlAssetVersions,
	TypeEnvironmentVer:                  mlAssetVersions,
	TypeVirtualMachine:                  computeVersions,
	TypeKeyVault:                        {"2015-06-01", "2016-10-01", "2018-02-14", "2018-02-14-preview", "2019-09-01", "2020-04-01-preview", "2021-04-01-preview", "2021-06-01-preview", "2021-10-01", "2021-11-01-preview", "2022-02-01-preview", "2022-07-01", "2022-11-01", "2023-02-01", "2023-07-01", "2024-11-01", "2025-05-01"},
	TypeAppInsights:                     {"2015-05-01", "2018-05-01-preview", "2020-02-02", "2020-02-02-preview"},
	TypeRegistry:                        {"2016-06-27-preview", "2017-03-01", "2017-06-01-preview", "2017-10-01", "2019-05-01", "2019-12-01-preview", "2020-11-01-preview", "2021-06-01-preview", "2021-08-01-preview", "2021-09-01", "2021-12-01-preview", "2022-02-01-preview", "2022-12-01", "2023-01-01-preview", "2023-06-01-preview", "2023-07-01", "2023-08-01-preview", "2023-11-01-preview", "2024-11-01-preview", "2025-03-01-preview", "2025-04-01", "2025-05-01-preview"},
	TypeLock:                            {"2015-01-01", "2016-09-01", "2017-04-01", "2020-05-01"},
	TypePolicyAssignment:                {"2015-10-01-preview", "2015-11-01", "2016-04-01", "2016-12-01", "2017-06-01-preview", "2018-03-01", "2018-05-01", "2019-01-01", "2019-06-01", "2019-09-01", "2020-03-01", "2020-09-01", "2021-06-01", "2022-06-01", "2023-04-01", "2024-04-01", "2024-05-01", "2025-01-01", "2025-03-01"},
	"Microsoft.Authorization/roleAssignments": {"2015-07-01", "2017-10-01-preview", "2018-01-01-preview", "2018-09-01-preview", "2020-03-01-preview", "2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2022-01-01-preview", "2022-04-01"},
	"Microsoft.Authorization/roleDefinitions": {"2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview"},
}

// apiVersionsByType indexes the table by lower-cased type.
var apiVersionsByType = func() map[string][]string {
	out := map[string][]string{}
	for typ, vs := range apiVersions {
		out[strings.ToLower(typ)] = vs
	}
	return out
}()

// APIVersionsOf are the api-versions published for a full type: its own,
// else (an action, a part) the nearest parent type's; for a namespace
// alone, every version of its types. Nil for what is not served.
func APIVersionsOf(typ string) []string {
	for t := strings.ToLower(typ); strings.Contains(t, "/"); t = t[:strings.LastIndexByte(t, '/')] {
		if vs, ok := apiVersionsByType[t]; ok {
			return vs
		}
	}
	ns, _, _ := strings.Cut(typ, "/")
	if p := ProviderOf(ns); p != nil {
		return p.APIVersions
	}
	return nil
}

// namespaceVersions is every version of the namespace's types, sorted.
func namespaceVersions(namespace string) []string {
	var out []string
	for typ, vs := range apiVersions {
		if ns, _, _ := strings.Cut(typ, "/"); strings.EqualFold(ns, namespace) {
			out = append(out, vs...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
