package api

import (
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/resources"
)

// kindPath is the path of a resource of k named "item" (each ancestor
// named "parent") in resource group rg.
func kindPath(k *resources.Kind, rg string) string {
	if k.Type == resources.TypeResourceGroup {
		return "/subscriptions/" + sub + "/resourceGroups/" + rg
	}
	segs := strings.Split(k.Type, "/")
	path := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + segs[0]
	for i, typ := range segs[1:] {
		name := "parent"
		if i == len(segs)-2 {
			name = "item"
		}
		path += "/" + typ + "/" + name
	}
	return path
}

// TestEveryKindIsRoutable: the routes come from the registry. Every
// registered kind is served, with the api-version its SDK sends, and
// refuses an api-version Azure does not publish for it with the type's
// list; a kind without a route would answer
// InvalidResourceType.
func TestEveryKindIsRoutable(t *testing.T) {
	c := newClient(t)
	if st, out, _ := c.do("PUT", "/subscriptions/"+sub+"/resourceGroups/rg-kinds"+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("create the group: %d %v", st, out)
	}
	for _, k := range resources.Kinds() {
		path := kindPath(k, "rg-kinds")
		if k.Type == resources.TypeResourceGroup {
			path = kindPath(k, "rg-absent")
		}
		st, out, _ := c.do("GET", path+"?api-version="+resources.SDKAPIVersion(k.Type), "")
		code, _ := out["error"].(map[string]any)["code"].(string)
		if st != http.StatusNotFound || code == "InvalidResourceType" || code == "" {
			t.Errorf("GET %s: %d %v, want 404 for a resource not there", k.Type, st, out)
		}
		// Resource Manager's own types answer InvalidApiVersionParameter
		// (its list comma-separated), a provider's NoRegisteredProviderFound
		// in a resource group (", "-separated), as Azure writes them.
		st, out, _ = c.do("GET", path+"?api-version=1999-01-01", "")
		msg, _ := out["error"].(map[string]any)["message"].(string)
		sep, wantCode := ", ", "NoRegisteredProviderFound"
		if strings.HasPrefix(k.Type, "Microsoft.Resources/") {
			sep, wantCode = ",", "InvalidApiVersionParameter"
		}
		if st != http.StatusBadRequest || errCode(out) != wantCode || !strings.Contains(msg, "'"+strings.Join(resources.APIVersionsOf(k.Type), sep)+"'") {
			t.Errorf("GET %s with an unknown api-version: %d %v, want 400 listing the type's published versions", k.Type, st, out)
		}
	}
}

// TestKindsAreTheRegistrys: the generic handler serves every registered
// kind without a route of its own, with the registry's entry and its
// inline children, and nothing else.
func TestKindsAreTheRegistrys(t *testing.T) {
	served := 0
	for _, k := range resources.Kinds() {
		rk := kindOf(k.Type)
		switch {
		case k.OwnRoute && rk != nil:
			t.Errorf("%s has a route of its own but the generic handler serves it too", k.Type)
		case k.OwnRoute:
		case rk == nil || rk.Kind != k:
			t.Errorf("%s is registered but the generic handler does not serve its entry", k.Type)
		default:
			served++
			if len(rk.children) != len(k.Children) {
				t.Errorf("%s: %d inline children served, %d registered", k.Type, len(rk.children), len(k.Children))
			}
			for i, c := range rk.children {
				if c.Kind != k.Children[i] {
					t.Errorf("%s: inline child %d is %s, registered %s", k.Type, i, c.Type, k.Children[i].Type)
				}
			}
		}
	}
	if served != len(kinds) {
		t.Errorf("the generic handler serves %d kinds, the registry has %d for it", len(kinds), served)
	}
}
