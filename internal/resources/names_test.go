package resources

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// TestNameRules holds each type's rule (Azure's "Naming rules and
// restrictions for Azure resources"; locks: the Management Locks REST
// reference) at its edges, ASCII only (issue 10, defect 7).
func TestNameRules(t *testing.T) {
	for _, c := range []struct {
		typ, name string
		ok        bool
		code      string
	}{
		{arm.TypeResourceGroup, "rg-1_(a).b", true, ""},
		{arm.TypeResourceGroup, strings.Repeat("r", 90), true, ""},
		{arm.TypeResourceGroup, strings.Repeat("r", 91), false, "InvalidResourceGroup"},
		{arm.TypeResourceGroup, "ends.", false, "InvalidResourceGroup"},
		{arm.TypeResourceGroup, "grüppe", false, "InvalidResourceGroup"}, // Azure allows Unicode letters; securetrain ids are ASCII
		{arm.TypeResourceGroup, "a b", false, "InvalidResourceGroup"},
		{TypeVirtualNetwork, "v", false, CodeInvalidName},
		{TypeVirtualNetwork, "vn", true, ""},
		{TypeVirtualNetwork, strings.Repeat("v", 64), true, ""},
		{TypeVirtualNetwork, strings.Repeat("v", 65), false, CodeInvalidName},
		{TypeVirtualNetwork, "vn-", false, CodeInvalidName},
		{TypeVirtualNetwork, "vn_", true, ""},
		{TypeVirtualNetwork, "-vn", false, CodeInvalidName},
		{TypeSubnet, "s", true, ""},
		{TypeSubnet, strings.Repeat("s", 81), false, CodeInvalidName},
		{TypeSecurityRule, "allow.443_in", true, ""},
		{TypeSecurityRule, "bad-", false, CodeInvalidName},
		{TypePrivateEndpoint, "p", false, CodeInvalidName},
		{TypeDNSResolver, "dns_", false, CodeInvalidName},
		{TypeDNSResolver, "dns-res", true, ""},
		{TypeStorageAccount, "mystorage01", true, ""},
		{TypeStorageAccount, "MyStorage", false, CodeInvalidName},
		{TypeStorageAccount, "st", false, CodeInvalidName},
		{TypeStorageAccount, strings.Repeat("s", 25), false, CodeInvalidName},
		{TypeWorkspace, "ml_ws-1", true, ""},
		{TypeWorkspace, "_ws", false, CodeInvalidName},
		{TypeCompute, "cpu-cluster", true, ""},
		{TypeCompute, "1cpu", false, CodeInvalidName},
		{TypeCompute, "cpu_cluster", false, CodeInvalidName},
		{TypeCompute, strings.Repeat("c", 33), false, CodeInvalidName},
		{TypePrivateDNSZone, "privatelink.api.azureml.ms", true, ""},
		{TypePrivateDNSZone, "nodots", false, CodeInvalidName},
		{TypeZoneA, "@", true, ""},
		{TypeZoneA, "*.web", true, ""},
		{TypeZoneA, "a..b", false, CodeInvalidName},
		{TypeLock, "do not delete (prod)", true, ""},
		{TypeLock, "a/b", false, CodeInvalidName},
		{TypeLock, "a%b", false, CodeInvalidName},
		{TypeLock, "a\x00b", false, CodeInvalidName},
		{TypeLock, "a\xffb", false, CodeInvalidName},
		{TypeLock, "..", false, CodeInvalidName},
		{TypeLock, strings.Repeat("l", 261), false, CodeInvalidName},
		{TypePolicyAssignment, "deny-public-ip", true, ""},
		{TypePolicyAssignment, "trailing.", false, CodeInvalidName},
		{typeRoleAssignment, "11111111-2222-3333-4444-555555555555", true, ""},
		{typeRoleAssignment, "not-a-guid", false, "InvalidRoleAssignmentId"},
		{typeRoleDefinition, "11111111-2222-3333-4444-55555555555", false, "InvalidRoleDefinitionId"},
		{"Microsoft.Example/unknown", "any name", true, ""},
		{"Microsoft.Example/unknown", "a|b", false, CodeInvalidName},
		{"microsoft.network/VIRTUALNETWORKS", "v", false, CodeInvalidName}, // types compare case-insensitively
	} {
		err := CheckName(c.typ, c.name)
		var ne *NameError
		switch {
		case c.ok && err != nil:
			t.Errorf("%s %q: %v, want valid", c.typ, c.name, err)
		case !c.ok && !errors.As(err, &ne):
			t.Errorf("%s %q: %v, want a *NameError", c.typ, c.name, err)
		case !c.ok && (ne.Code != c.code || ne.Name != c.name || !strings.Contains(err.Error(), ne.Rule)):
			t.Errorf("%s %q: code %s, error %q; want code %s naming the rule", c.typ, c.name, ne.Code, err, c.code)
		}
	}
}

// A read or delete also accepts a name an earlier version stored under
// ARM's looser rule for any name, and nothing beyond it.
func TestCheckStoredName(t *testing.T) {
	if err := CheckStoredName(TypeStorageAccount, "Old_Storage"); err != nil {
		t.Errorf("stored name under the looser rule: %v", err)
	}
	if err := CheckStoredName(TypeStorageAccount, "a/b"); err == nil {
		t.Error("a name no rule allows was accepted")
	}
	if err := CheckStoredName(TypeLock, "a*b"); err != nil {
		t.Errorf("lock name valid under its own rule: %v", err)
	}
}

func TestQuoteBoundsAndEscapes(t *testing.T) {
	long := Quote(strings.Repeat("x", 1<<20))
	if len(long) > 200 || !strings.Contains(long, "(1048576 bytes)") {
		t.Errorf("a 1 MB value is shown as %d bytes: %.120s", len(long), long)
	}
	if got := Quote("a\x00\xff"); got != `"a\x00\xff"` {
		t.Errorf("Quote = %s, want control and invalid bytes escaped", got)
	}
}

// FuzzNetworkName: the hand-written test of network names accepts exactly
// what Azure's pattern for them does.
func FuzzNetworkName(f *testing.F) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$`)
	for _, s := range []string{"a", "a-", "a_", "-a", "a.b", "rule-1", strings.Repeat("a", 80), strings.Repeat("a", 81), "a\n", "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validNetworkName(s), pattern.MatchString(s); got != want {
			t.Fatalf("%q: validNetworkName %v, pattern %v", s, got, want)
		}
	})
}
