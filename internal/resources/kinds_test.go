package resources

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestEveryKindDecodes: the decoder's table is the registry's: every
// registered kind has a decoder, keyed by the registry entry.
func TestEveryKindDecodes(t *testing.T) {
	for _, k := range Kinds() {
		d := kindIndex[strings.ToLower(k.Type)]
		if d == nil {
			t.Errorf("%s is registered but has no decoder", k.Type)
			continue
		}
		if d.Kind != k {
			t.Errorf("the decoder of %s is keyed by another entry than the registry's", k.Type)
		}
	}
	if len(kindIndex) != len(Kinds()) {
		t.Errorf("%d decoders for %d registered kinds", len(kindIndex), len(Kinds()))
	}
}

// TestRegistryIsConsistent: every entry is complete and agrees with its
// provider and parent.
func TestRegistryIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for i, k := range Kinds() {
		if seen[strings.ToLower(k.Type)] {
			t.Errorf("%s is registered twice", k.Type)
		}
		seen[strings.ToLower(k.Type)] = true
		if KindOf(strings.ToUpper(k.Type)) != k {
			t.Errorf("KindOf(%s) does not find its entry case-insensitively", k.Type)
		}
		if k.Label == "" {
			t.Errorf("%s has no label", k.Type)
		}
		if k.name.valid == nil || nameRules[strings.ToLower(k.Type)].text != k.name.text {
			t.Errorf("%s has no naming rule of its own, or CheckName does not apply it", k.Type)
		}
		if k.Created != http.StatusOK && k.Created != http.StatusCreated || k.Updated != http.StatusOK && k.Updated != http.StatusCreated {
			t.Errorf("%s: created %d, updated %d: each must be 200 or 201", k.Type, k.Created, k.Updated)
		}
		p := k.Provider()
		if p == nil {
			t.Errorf("%s: no provider %s", k.Type, k.Namespace())
			continue
		}
		if v := SDKAPIVersion(k.Type); !slices.Contains(p.APIVersions, v) {
			t.Errorf("%s: the SDK's api-version %s is not one %s accepts", k.Type, v, p.Namespace)
		}
		if parent := k.Parent(); strings.Count(k.Type, "/") > 1 {
			switch {
			case parent == nil:
				t.Errorf("%s: its parent type is not registered", k.Type)
			case slices.Index(Kinds(), parent) > i:
				t.Errorf("%s is listed before its parent %s (export lists parents first)", k.Type, parent.Type)
			case k.Inline != "" && !slices.Contains(parent.Children, k):
				t.Errorf("%s nests inline but is not among %s's children", k.Type, parent.Type)
			}
		} else if k.Inline != "" {
			t.Errorf("%s is top-level but nests inline", k.Type)
		}
	}
	for _, p := range providers {
		if !slices.Contains(p.APIVersions, p.SDKVersion) {
			t.Errorf("%s: the SDK's api-version %s is not accepted", p.Namespace, p.SDKVersion)
		}
	}
}

// TestSDKAPIVersion: a kind's own version, its parent's, else its
// provider's; actions and unmodelled types of a provider get the nearest.
func TestSDKAPIVersion(t *testing.T) {
	for typ, want := range map[string]string{
		TypeLock:             "2016-09-01",
		TypePolicyAssignment: "2023-04-01",
		"Microsoft.Authorization/roleAssignments": "2022-04-01",
		TypeZoneA:                  "2024-06-01",
		TypeForwardingRule:         "2022-07-01",
		TypeSubnet:                 "2025-01-01",
		TypeCompute + "/resize":    "2024-04-01",
		TypeResourceGroup:          "2021-04-01",
		"Microsoft.Unknown/things": "",
	} {
		if got := SDKAPIVersion(typ); got != want {
			t.Errorf("SDKAPIVersion(%s) = %q, want %q", typ, got, want)
		}
	}
}

// TestEveryKindHasPublishedVersions: the api-version table covers every
// kind, each list is sorted without repeats, and the version the kind's
// Azure SDK module sends is one of them.
func TestEveryKindHasPublishedVersions(t *testing.T) {
	for _, k := range Kinds() {
		vs, ok := apiVersions[k.Type]
		if !ok {
			t.Errorf("%s has no entry in the api-version table", k.Type)
			continue
		}
		if !slices.IsSorted(vs) || len(slices.Compact(slices.Clone(vs))) != len(vs) {
			t.Errorf("%s: versions not sorted or repeated: %v", k.Type, vs)
		}
		if v := SDKAPIVersion(k.Type); !slices.Contains(APIVersionsOf(k.Type), v) {
			t.Errorf("%s: the SDK's api-version %s is not published for it", k.Type, v)
		}
	}
}

// TestAPIVersionsOf: a type's own list, a part's or action's from its
// nearest parent, a namespace's union; the old versions templates use
// are there, and an unknown version or type is not.
func TestAPIVersionsOf(t *testing.T) {
	for _, c := range []struct {
		typ, version string
		want         bool
	}{
		{TypeVirtualNetwork, "2019-11-01", true},
		{TypeSubnet, "2019-11-01", true},
		{TypePrivateEndpoint, "2019-04-01", true},
		{TypePrivateEndpoint, "2018-12-01", false}, // before private endpoints existed
		{TypeZoneGroup, "2020-03-01", true},
		{TypePrivateDNSZone, "2020-06-01", true},
		{TypePrivateDNSZone, "2022-05-01", false}, // a Microsoft.Network version, not private DNS's
		{TypeWorkspace, "2018-11-19", true},
		{TypeCompute, "2018-11-19", true},
		{TypeCompute, "2018-03-01-preview", true}, // the reference lists computes from the first version on
		{TypeCompute + "/resize", "2021-01-01", true},
		{TypeStorageAccount, "2019-04-01", true},
		{TypeStorageAccount, "2019-05-01", false},
		{TypeKeyVault, "2022-07-01", true},
		{TypeRegistry, "2022-02-01-preview", true},
		{TypeAppInsights, "2020-02-02", true},
		{"Microsoft.Network", "2018-09-01", true}, // the namespace: every type's
		{"Microsoft.Unknown/things", "2020-01-01", false},
	} {
		if got := slices.Contains(APIVersionsOf(c.typ), c.version); got != c.want {
			t.Errorf("%s accepts %s: %v, want %v", c.typ, c.version, got, c.want)
		}
	}
}
