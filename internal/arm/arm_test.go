package arm

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const sub = "00000000-0000-0000-0000-000000000001"

func TestParseID(t *testing.T) {
	id, err := ParseID("/resourceGroups/MyGroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default", sub)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subscription != sub || id.Type() != "Microsoft.Network/virtualNetworks/subnets" || id.Name() != "vnet1/default" || id.Leaf() != "default" {
		t.Errorf("parsed %+v", id)
	}
	p, ok := id.Parent()
	if !ok || p.Name() != "vnet1" || p.Type() != "Microsoft.Network/virtualNetworks" {
		t.Errorf("parent %+v", p)
	}
	// Ids compare case-insensitively, as in Azure.
	other, _ := ParseID("/SUBSCRIPTIONS/"+sub+"/resourcegroups/mygroup/PROVIDERS/microsoft.network/VIRTUALNETWORKS/VNET1/subnets/Default", "")
	if !id.Equal(other) || id.Key() != other.Key() {
		t.Errorf("%s != %s", id, other)
	}
	pa, err := ParseID("/subscriptions/"+sub+"/providers/Microsoft.Authorization/policyAssignments/deny-pip", "")
	if err != nil || pa.ResourceGroup != "" || pa.Type() != "Microsoft.Authorization/policyAssignments" ||
		pa.String() != "/subscriptions/"+sub+"/providers/Microsoft.Authorization/policyAssignments/deny-pip" {
		t.Errorf("subscription-level id: %+v %v", pa, err)
	}
	rg, err := ParseID("/subscriptions/"+sub+"/resourceGroups/rg", "")
	if err != nil || rg.Type() != TypeResourceGroup || rg.Name() != "rg" {
		t.Errorf("resource group id: %+v %v", rg, err)
	}
}

func TestParseIDErrors(t *testing.T) {
	for in, want := range map[string]string{
		"resourceGroups/x":                  "must start with",
		"/resourceGroups/x":                 "has no subscription",
		"/subscriptions/s":                  "names a subscription",
		"/subscriptions/s/foo/x":            "expected resourceGroups",
		"/subscriptions/s/resourceGroups//": "empty segment",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks":           "expected providers",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets": "has no name",
	} {
		_, err := ParseID(in, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestNewID(t *testing.T) {
	id, err := NewID(sub, "rg", "Microsoft.Network/virtualNetworks/subnets", "v/s")
	if err != nil || id.String() != "/subscriptions/"+sub+"/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s" {
		t.Errorf("%s %v", id, err)
	}
	if _, err := NewID(sub, "rg", "Microsoft.Network/virtualNetworks/subnets", "s"); err == nil {
		t.Error("child name without parent accepted")
	}
}

func TestParseDocument(t *testing.T) {
	v, err := ParseDocument([]byte("a: 1\nb:\n  - x\n  - true\nc: null\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("a").Kind != Number || v.Get("b").Items[1].Kind != Bool || v.Get("b").Items[0].Line != 3 || v.Get("c").Kind != Null {
		t.Errorf("tree %+v", v)
	}
	j, err := ParseDocument([]byte(`{"a": {"b": [1, "2"]}}`))
	if err != nil || j.Get("a").Get("b").Items[1].Kind != String {
		t.Errorf("json: %v", err)
	}
	for in, want := range map[string]string{
		"":                  "empty",
		"a: 1\na: 2\n":      "appears twice",
		"a: &x 1\nb: *x\n":  "aliases",
		"a: 1\n---\nb: 2\n": "second one",
		"a: [1, 2":          "line",
	} {
		_, err := ParseDocument([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)
	if _, err := ParseDocument([]byte(deep)); err == nil {
		t.Error("300 levels of nesting accepted")
	}
}

func FuzzParseDocument(f *testing.F) {
	f.Add([]byte("subscription: s\nresources:\n  - type: x\n"))
	f.Add([]byte(`{"a": [1, {"b": null}]}`))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseDocument(data)
	})
}

func FuzzParseID(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s")
	f.Add("/resourceGroups/rg")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s, "sub")
		if err != nil {
			return
		}
		again, err := ParseID(id.String(), "")
		if err != nil || again.Key() != id.Key() {
			t.Fatalf("%q: round trip %q: %v", s, id.String(), err)
		}
	})
}

func TestSplitPosition(t *testing.T) {
	for pos, want := range map[string]struct {
		file string
		line int
	}{
		"env.yaml:42":           {"env.yaml", 42},
		`C:\envs\env.yaml:7`:    {`C:\envs\env.yaml`, 7},
		"dir:with:colons/e.yml": {"dir:with:colons/e.yml", 0},
		"env.yaml:0":            {"env.yaml:0", 0},
		"":                      {"", 0},
	} {
		if f, l := SplitPosition(pos); f != want.file || l != want.line {
			t.Errorf("SplitPosition(%q) = %q, %d", pos, f, l)
		}
	}
	if ComparePositions("env.yaml:9", "env.yaml:10") >= 0 || ComparePositions("a.yaml:10", "b.yaml:9") >= 0 {
		t.Error("positions compare as text")
	}
}

// TestChildren: the ids Children makes are those their text parses to,
// each with its own list of names (they are cut from shared blocks), and
// Child gives the same.
func TestChildren(t *testing.T) {
	const nsg = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n"
	parent, err := ParseID(nsg, "")
	if err != nil {
		t.Fatal(err)
	}
	child := parent.Children("securityRules")
	var ids []ID
	for i := range 300 {
		ids = append(ids, child(fmt.Sprintf("r%d", i)))
	}
	for i, id := range ids {
		want, err := ParseID(fmt.Sprintf("%s/securityRules/r%d", nsg, i), "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(id, want) || id.String() != want.String() {
			t.Fatalf("child %d is %s, want %s", i, id, want)
		}
		if c := parent.Child("securityRules", want.Leaf()); !reflect.DeepEqual(c, want) {
			t.Fatalf("Child gives %s, want %s", c, want)
		}
	}
}
