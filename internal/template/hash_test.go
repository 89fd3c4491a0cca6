package template

import (
	"regexp"
	"testing"
)

// Values Azure returned for uniqueString(), as published with the code
// that checks against them: Kingsland.ArmLinter (ArmFunctions_UniqueString.cs,
// outputs of a deployed template), Azure/terraform-provider-azapi
// (unique_string_function_test.go) and microsoft/commercial-marketplace-offer-deploy
// (ArmFunctionsTests.cs, "valueFromArmTemplate").
func TestUniqueStringMatchesAzure(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"aaa"}, "zavj67f3en4hc"},
		{[]string{"bbb"}, "w5eragfxe33cy"},
		{[]string{"zzz"}, "cryksdzzzawae"},
		{[]string{"xxx", "yyy", "zzz"}, "lghi7k5js7itq"},
		{[]string{"/subscriptions/00000000-0000-0000-0000-000000000000", "resource-id"}, "cwvxuqg24sifi"},
		{[]string{"/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/providers/Microsoft.Compute/virtualMachines/bobjacmodm201"}, "yvjxno3je5on2"},
	} {
		if got := uniqueString(c.in); got != c.want {
			t.Errorf("uniqueString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// guid() is a version-5 UUID of the arguments joined with "-" under the
// namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830 (the "String functions
// for ARM templates" article describes the inputs; the values are what
// Python's uuid.uuid5 gives for that namespace and name).
func TestGUIDIsVersion5UnderTheARMNamespace(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"abc"}, "a9b46cc2-65a6-5559-9f14-7091827ab32f"},
		{[]string{"a", "b", "c"}, "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"},
	} {
		if got := guid(c.in); got != c.want {
			t.Errorf("guid(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	if guid([]string{"ab", "c"}) == guid([]string{"a", "bc"}) {
		t.Error("arguments are not separated: guid('ab','c') == guid('a','bc')")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(guid([]string{"x"})) {
		t.Errorf("guid is not a version-5 RFC 4122 UUID: %s", guid([]string{"x"}))
	}
}
