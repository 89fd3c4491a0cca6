package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/store"
)

// Issue 10 §3: custom roles that cannot escape their scopes, and the
// other ways a low-privilege token could escalate through roles.

const (
	otherSub  = "00000000-0000-0000-0000-000000000002"
	subPath   = "/subscriptions/" + sub
	mlGroup   = subPath + "/resourceGroups/ml-rg"
	netGroup  = subPath + "/resourceGroups/net-rg"
	mlNSG     = mlGroup + "/providers/Microsoft.Network/networkSecurityGroups/nsg-ml"
	roleGUID  = "11111111-2222-3333-4444-555555555555"
	rolePath  = subPath + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID
	customRef = rolePath
	readerRef = subPath + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	ownerRef  = subPath + "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
)

// rbacFixture creates two resource groups and an NSG in ml-rg (a resource
// scope), without the shared SDK fixtures.
func rbacFixture(t *testing.T) *client {
	t.Helper()
	c := newClient(t)
	for _, rg := range []string{mlGroup, netGroup} {
		if st, out, _ := c.do("PUT", rg+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", rg, st, out)
		}
	}
	if st, out, _ := c.do("PUT", mlNSG+netVersion, `{"location":"eastus","properties":{}}`, "Content-Type", "application/json"); st != http.StatusCreated {
		t.Fatalf("create NSG: %d %v", st, out)
	}
	return c
}

// putRole creates or updates a custom role in sub with the given actions,
// notActions and assignable scopes (JSON arrays), failing the test unless
// the answer is want.
func putRole(t *testing.T, c *client, path, name, actions, notActions, scopes string, want int) (string, string) {
	t.Helper()
	body := `{"properties":{"roleName":"` + name + `","permissions":[{"actions":` + actions + `,"notActions":` + notActions + `}],"assignableScopes":` + scopes + `}}`
	st, code, msg := c.errorCode("PUT", path+authzVersion, body)
	if st != want {
		t.Fatalf("PUT role %s %s: %d %s %s, want %d", name, scopes, st, code, msg, want)
	}
	return code, msg
}

// assign PUTs a role assignment of ref to principal at scope and returns
// the status, code and message.
func assign(c *client, scope, name, ref, principal string) (int, string, string) {
	c.t.Helper()
	return c.errorCode("PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+name+authzVersion,
		`{"properties":{"roleDefinitionId":"`+ref+`","principalId":"`+principal+`"}}`)
}

func TestCustomRoleAssignableScopes(t *testing.T) {
	c := rbacFixture(t)
	c.as("alice", "", "")
	putRole(t, c, rolePath, "ML Operator", `["*"]`, `[]`, `["`+mlGroup+`"]`, http.StatusCreated)
	for i, tc := range []struct {
		scope, code string
	}{
		{subPath, "InvalidCreateRoleAssignmentRequest"},  // above the assignable scope
		{netGroup, "InvalidCreateRoleAssignmentRequest"}, // beside it
		{mlGroup, ""},
		{mlNSG, ""}, // below it
	} {
		st, code, msg := assign(c, tc.scope, "aaaaaaaa-0000-0000-0000-00000000000"+string(rune('1'+i)), customRef, "alice")
		if code != tc.code || (tc.code == "" && st != http.StatusCreated) {
			t.Errorf("assign at %s: %d %s %s; want %q", tc.scope, st, code, msg, tc.code)
		}
		if tc.code != "" && (st != http.StatusBadRequest || !strings.Contains(msg, "is not available for assignment at the requested scope")) {
			t.Errorf("assign at %s: %d %q", tc.scope, st, msg)
		}
	}
	// The CLI path (by name and by id) applies the same rule.
	for _, role := range []string{"ML Operator", roleGUID} {
		if _, err := AssignRole(context.Background(), c.st, "alice", role, netGroup); err == nil || !strings.Contains(err.Error(), "not available for assignment") {
			t.Errorf("role assign %q at net-rg: %v", role, err)
		}
	}
	if _, err := AssignRole(context.Background(), c.st, "alice", "ML Operator", "/"); err == nil {
		t.Error("a custom role was assigned at the root scope")
	}
	// alice holds the role at ml-rg only: net-rg stays closed to her.
	alice := c.as("alice2", "", "")
	if _, err := AssignRole(context.Background(), c.st, "alice2", "ML Operator", mlGroup); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := alice.do("PUT", netGroup+rgAPI, `{"location":"eastus"}`); st != http.StatusForbidden {
		t.Errorf("custom role outside its scope: %d", st)
	}
	if st, _, _ := alice.do("PUT", mlGroup+rgAPI, `{"location":"eastus"}`); st != http.StatusOK {
		t.Errorf("custom role inside its scope: %d", st)
	}
}

func TestCustomRoleOfAnotherSubscription(t *testing.T) {
	c := rbacFixture(t)
	mallory := c.as("mallory", "", "")
	// mallory's accomplice owns the other subscription and defines a
	// harmless-looking role there, assignable in its own subscription.
	foreign := "/subscriptions/" + otherSub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID
	putRole(t, c, foreign, "Looker", `["*/read"]`, `[]`, `["/subscriptions/`+otherSub+`"]`, http.StatusCreated)
	for _, ref := range []string{
		foreign,
		"/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID, // the tenant form resolves in the assignment's subscription
		strings.Replace(foreign, "/subscriptions/", "/ſubscriptions/", 1),
		subPath + "/resourceGroups/ml-rg/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID,
	} {
		if st, code, msg := assign(c, mlGroup, "bbbbbbbb-0000-0000-0000-000000000001", ref, "mallory"); st != http.StatusBadRequest || code != "RoleDefinitionDoesNotExist" {
			t.Errorf("assign %s in %s: %d %s %s", ref, sub, st, code, msg)
		}
	}
	// An assignment that slipped in before (older data) grants nothing,
	// however its owner widens the role.
	if err := c.st.Update(context.Background(), func(tx store.Tx) error {
		def := roleDefinition{Scope: "/subscriptions/" + otherSub, ID: roleGUID, Name: "Looker"}
		_, err := putAssignment(context.Background(), tx, mlGroup, "bbbbbbbb-0000-0000-0000-000000000002", "mallory", def, store.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	putRole(t, c, foreign, "Looker", `["*"]`, `[]`, `["/subscriptions/`+otherSub+`"]`, http.StatusCreated)
	if st, _, _ := mallory.do("PUT", mlGroup+rgAPI, `{"location":"eastus"}`); st != http.StatusForbidden {
		t.Errorf("a role of another subscription grants: %d", st)
	}
}

func TestDeleteAssignedRoleDefinition(t *testing.T) {
	c := rbacFixture(t)
	c.as("alice", "", "")
	putRole(t, c, rolePath, "Anywhere", `["*/read"]`, `[]`, `["`+subPath+`"]`, http.StatusCreated)
	for i, scope := range []string{subPath, mlGroup, mlNSG} {
		name := "cccccccc-0000-0000-0000-00000000000" + string(rune('1'+i))
		// The id's case does not matter: it is the same role.
		ref := strings.ToUpper(customRef[:1]) + strings.ToUpper(customRef[1:])
		if st, code, msg := assign(c, scope, name, ref, "alice"); st != http.StatusCreated {
			t.Fatalf("assign at %s: %d %s %s", scope, st, code, msg)
		}
		if st, code, msg := c.errorCode("DELETE", rolePath+authzVersion, ""); st != http.StatusConflict || code != "RoleDefinitionHasAssignments" {
			t.Errorf("delete with an assignment at %s: %d %s %s", scope, st, code, msg)
		}
		if st, _, _ := c.do("DELETE", scope+"/providers/Microsoft.Authorization/roleAssignments/"+name+authzVersion, ""); st != http.StatusOK {
			t.Fatalf("delete the assignment at %s: %d", scope, st)
		}
	}
	if st, _, _ := c.do("DELETE", rolePath+authzVersion, ""); st != http.StatusOK {
		t.Errorf("delete the unassigned role: %d", st)
	}
}

func TestNarrowingAssignableScopes(t *testing.T) {
	c := rbacFixture(t)
	c.as("alice", "", "")
	both := `["` + mlGroup + `","` + netGroup + `"]`
	putRole(t, c, rolePath, "Two Groups", `["*/read"]`, `[]`, both, http.StatusCreated)
	if st, code, msg := assign(c, mlNSG, "dddddddd-0000-0000-0000-000000000001", customRef, "alice"); st != http.StatusCreated {
		t.Fatalf("assign: %d %s %s", st, code, msg)
	}
	// Dropping net-rg orphans nothing; dropping ml-rg would.
	putRole(t, c, rolePath, "Two Groups", `["*/read"]`, `[]`, `["`+mlGroup+`"]`, http.StatusCreated)
	code, msg := putRole(t, c, rolePath, "Two Groups", `["*/read"]`, `[]`, `["`+netGroup+`"]`, http.StatusConflict)
	if code != "RoleScopeBeingRemovedContainsAssignments" || !strings.Contains(msg, mlGroup) {
		t.Errorf("narrowing past an assignment: %s %s", code, msg)
	}
	_, got, _ := c.do("GET", rolePath+authzVersion, "")
	if scopes := got["properties"].(map[string]any)["assignableScopes"].([]any); len(scopes) != 1 || !strings.EqualFold(scopes[0].(string), mlGroup) {
		t.Errorf("the refused update changed the role: %v", scopes)
	}
}

func TestRoleEscalationAttempts(t *testing.T) {
	c := rbacFixture(t)
	admin := c.token
	ctx := context.Background()
	groupOwner := c.as("gowner", "Owner", mlGroup)
	// Owner of a resource group cannot assign at the subscription, neither
	// by path nor by the body's scope.
	if st, code, _ := assign(groupOwner, subPath, "eeeeeeee-0000-0000-0000-000000000001", ownerRef, "gowner"); st != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Errorf("group owner assigning at the subscription: %d %s", st, code)
	}
	st, code, msg := groupOwner.errorCode("PUT", mlGroup+"/providers/Microsoft.Authorization/roleAssignments/eeeeeeee-0000-0000-0000-000000000002"+authzVersion,
		`{"properties":{"roleDefinitionId":"`+ownerRef+`","principalId":"gowner","scope":"`+subPath+`"}}`)
	if st != http.StatusBadRequest || code != "InvalidCreateRoleAssignmentRequest" || !strings.Contains(msg, "must match the scope specified on the URI") {
		t.Errorf("body scope above the URI's: %d %s %s", st, code, msg)
	}
	if st, _, _ := groupOwner.do("PUT", netGroup+rgAPI, `{"location":"eastus"}`); st != http.StatusForbidden {
		t.Errorf("group owner writes another group: %d", st)
	}
	// Nor define roles: that is a subscription-level action.
	if st, code, _ := groupOwner.errorCode("PUT", rolePath+authzVersion, `{"properties":{"roleName":"Mine","permissions":[{"actions":["*"]}],"assignableScopes":["`+mlGroup+`"]}}`); st != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Errorf("group owner defining a role: %d %s", st, code)
	}
	// "*" minus Microsoft.Authorization (any case) cannot touch roles.
	putRole(t, c, rolePath, "Almost Owner", `["*"]`, `["MICROSOFT.AUTHORIZATION/*"]`, `["`+subPath+`"]`, http.StatusCreated)
	almost := c.as("almost", "", "")
	if _, err := AssignRole(ctx, c.st, "almost", "Almost Owner", subPath); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := almost.do("PUT", netGroup+rgAPI, `{"location":"eastus"}`); st != http.StatusOK {
		t.Errorf("\"*\" writes a group: %d", st)
	}
	if st, code, _ := assign(almost, mlGroup, "eeeeeeee-0000-0000-0000-000000000003", ownerRef, "almost"); st != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Errorf("notActions Microsoft.Authorization/* assigning Owner: %d %s", st, code)
	}
	if st, _, _ := almost.do("PUT", rolePath+authzVersion, `{"properties":{"roleName":"Almost Owner","permissions":[{"actions":["*"]}]}}`); st != http.StatusForbidden {
		t.Errorf("notActions Microsoft.Authorization/* widening its own role: %d", st)
	}
	contrib := c.as("contrib", "Contributor", subPath)
	if st, _, _ := contrib.do("PUT", subPath+"/providers/Microsoft.Authorization/roleDefinitions/99999999-2222-3333-4444-555555555555"+authzVersion,
		`{"properties":{"roleName":"Mine","permissions":[{"actions":["*"]}]}}`); st != http.StatusForbidden {
		t.Errorf("Contributor defining a role: %d", st)
	}
	// Custom roles never reach the root or another subscription, in any spelling.
	for _, scopes := range []string{`["/"]`, `["/subscriptions/` + otherSub + `"]`, `["/ſubscriptions/` + sub + `"]`, `["` + subPath + `/resourceGroups"]`} {
		if code, _ := putRole(t, c, subPath+"/providers/Microsoft.Authorization/roleDefinitions/99999999-2222-3333-4444-555555555556", "Wide", `["*"]`, `[]`, scopes, http.StatusBadRequest); code != "InvalidAssignableScope" {
			t.Errorf("assignable scopes %s: %s", scopes, code)
		}
	}
	// A GUID names a role by its id, never by a roleName that spells it:
	// a role called "<Almost Owner's GUID>" does not stand in for it.
	c.token = admin
	impostor := subPath + "/providers/Microsoft.Authorization/roleDefinitions/ffffffff-2222-3333-4444-555555555555"
	putRole(t, c, impostor, roleGUID, `["*"]`, `[]`, `["`+subPath+`"]`, http.StatusCreated)
	c.as("victim", "", "")
	id, err := AssignRole(ctx, c.st, "victim", roleGUID, mlGroup)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := c.st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(string(rec.Body)), roleGUID) || strings.Contains(string(rec.Body), "ffffffff") {
		t.Errorf("role %s resolved to the impostor: %s", roleGUID, rec.Body)
	}
	// An assignment to a principal spelled in another case is the same
	// principal, recorded under its own name.
	if st, code, msg := assign(c, mlGroup, "eeeeeeee-0000-0000-0000-000000000004", readerRef, "VICTIM"); st != http.StatusCreated {
		t.Fatalf("assign to VICTIM: %d %s %s", st, code, msg)
	}
	_, got, _ := c.do("GET", mlGroup+"/providers/Microsoft.Authorization/roleAssignments/eeeeeeee-0000-0000-0000-000000000004"+authzVersion, "")
	if p := got["properties"].(map[string]any)["principalId"]; p != "victim" {
		t.Errorf("principal recorded as %v", p)
	}
}
