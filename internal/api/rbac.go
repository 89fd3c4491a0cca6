package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"securetrain/internal/store"
)

// Role-based access control, Azure's model: a role definition allows
// actions (with * wildcards) minus notActions; a role assignment gives a
// principal a role at a scope (the root "/", a subscription, a resource
// group or a resource) and everything under it. A request is allowed when
// some assignment of its principal at or above the target permits the
// request's action.

// roleDefinition is a role: its permissions.
type roleDefinition struct {
	ID          string   // the GUID (Azure's own for Azure's built-in roles)
	Name        string   // roleName
	Description string   // what it is for
	Actions     []string // allowed, with * wildcards, case-insensitive
	NotActions  []string // subtracted from Actions
}

// builtinRoles are the built-in roles. Owner, Contributor, Reader and
// Network Contributor carry Azure's GUIDs and the parts of Azure's
// definitions that apply here; Data Scientist is securetrain's: it may
// create and run computes (including joining them to a subnet) but not
// change networks.
var builtinRoles = []roleDefinition{
	{ID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", Name: "Owner", Description: "Full access, including assigning roles.",
		Actions: []string{"*"}},
	{ID: "b24988ac-6180-42a0-ab88-20f7382dd24c", Name: "Contributor", Description: "Full access to resources, but no role assignments.",
		Actions:    []string{"*"},
		NotActions: []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"}},
	{ID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", Name: "Reader", Description: "Read everything, change nothing.",
		Actions: []string{"*/read"}},
	{ID: "4d97b98b-1d4f-4787-a291-c67834d212e7", Name: "Network Contributor", Description: "Manage networks, not access to them.",
		Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Network/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}},
	{ID: "5b7c1a4e-2f2d-4c3b-9a51-5ec0e7a1d001", Name: "Data Scientist", Description: "Create and run computes in workspaces; read networks and join subnets, never change them.",
		Actions: []string{"*/read", "Microsoft.MachineLearningServices/workspaces/computes/*", "Microsoft.MachineLearningServices/workspaces/jobs/*",
			"Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Network/virtualNetworks/join/action"}},
}

// roleByName finds a built-in role by name or GUID (case-insensitive).
func roleByName(name string) (roleDefinition, bool) {
	for _, r := range builtinRoles {
		if strings.EqualFold(r.Name, name) || strings.EqualFold(r.ID, name) {
			return r, true
		}
	}
	return roleDefinition{}, false
}

// permits reports whether the role allows action.
func (r roleDefinition) permits(action string) bool {
	allowed := false
	for _, a := range r.Actions {
		if actionMatch(a, action) {
			allowed = true
			break
		}
	}
	if !allowed {
		return false
	}
	for _, na := range r.NotActions {
		if actionMatch(na, action) {
			return false
		}
	}
	return true
}

// actionMatch matches an action against a pattern whose * stands for any
// run of characters, case-insensitively.
func actionMatch(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == a
	}
	if !strings.HasPrefix(a, parts[0]) {
		return false
	}
	a = a[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(a, mid)
		if i < 0 {
			return false
		}
		a = a[i+len(mid):]
	}
	return strings.HasSuffix(a, parts[len(parts)-1])
}

const typeRoleAssignment = "Microsoft.Authorization/roleAssignments"

// roleAssignment is stored as ARM returns it.
type roleAssignment struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleDefinitionID string `json:"roleDefinitionId"`
		PrincipalID      string `json:"principalId"`
		Scope            string `json:"scope"`
	} `json:"properties"`
}

// roleDefinitionID is a role's ARM id (at the root: built-in roles are
// the same everywhere).
func roleDefinitionID(r roleDefinition) string {
	return "/providers/Microsoft.Authorization/roleDefinitions/" + r.ID
}

// AssignRole gives principal the role at scope ("/" is every
// subscription) and returns the assignment's id.
func AssignRole(ctx context.Context, st store.Store, principalName, role, scope string) (string, error) {
	def, ok := roleByName(role)
	if !ok {
		var names []string
		for _, r := range builtinRoles {
			names = append(names, r.Name)
		}
		return "", fmt.Errorf("role %q: not a role; built-in roles: %s", role, strings.Join(names, ", "))
	}
	if scope != "/" && !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") {
		return "", fmt.Errorf("scope %q: use / or an id starting with /subscriptions/", scope)
	}
	scope = strings.TrimSuffix(scope, "/")
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	name := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	id := scope + "/providers/" + typeRoleAssignment + "/" + name
	ra := roleAssignment{ID: id, Name: name, Type: typeRoleAssignment}
	ra.Properties.RoleDefinitionID, ra.Properties.PrincipalID, ra.Properties.Scope = roleDefinitionID(def), principalName, scope
	if ra.Properties.Scope == "" {
		ra.Properties.Scope = "/"
	}
	body, err := json.Marshal(ra)
	if err != nil {
		return "", err
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, principalID(principalName)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("principal %q does not exist (securetrain principal create %s)", principalName, principalName)
		} else if err != nil {
			return err
		}
		_, err := tx.Put(ctx, store.Record{ID: id, Type: typeRoleAssignment, Body: body}, store.Condition{IfNoneMatch: "*"})
		return err
	})
	return id, err
}

// authorize checks that who may perform action on target: some role
// assignment of who at or above target permits it. Otherwise 403
// AuthorizationFailed, in ARM's words.
func (s *Server) authorize(ctx context.Context, who, action, target string) error {
	ok, err := s.permitted(ctx, who, action, target)
	if err != nil {
		return err
	}
	if !ok {
		return newError(http.StatusForbidden, "AuthorizationFailed",
			"The client '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid.", who, action, target)
	}
	return nil
}

// permitted evaluates who's assignments at the root and under the
// target's subscription.
func (s *Server) permitted(ctx context.Context, who, action, target string) (bool, error) {
	scopes := []string{"/providers"} // root-scope assignments
	if segs := strings.Split(strings.Trim(target, "/"), "/"); len(segs) >= 2 && strings.EqualFold(segs[0], "subscriptions") {
		scopes = append(scopes, "/subscriptions/"+segs[1])
	}
	for _, scope := range scopes {
		q := store.Query{Scope: scope, Type: typeRoleAssignment}
		for {
			page, err := s.store.List(ctx, q)
			if err != nil {
				return false, err
			}
			for _, rec := range page.Records {
				var ra roleAssignment
				if err := json.Unmarshal(rec.Body, &ra); err != nil {
					return false, fmt.Errorf("stored role assignment %s: %w", rec.ID, err)
				}
				if ra.Properties.PrincipalID != who || !(ra.Properties.Scope == "/" || under(target, ra.Properties.Scope)) {
					continue
				}
				def, ok := roleByName(ra.Properties.RoleDefinitionID[strings.LastIndex(ra.Properties.RoleDefinitionID, "/")+1:])
				if ok && def.permits(action) {
					return true, nil
				}
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
	}
	return false, nil
}

// methodVerb maps an HTTP method to the verb of an ARM action.
func methodVerb(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read"
	case http.MethodDelete:
		return "delete"
	}
	return "write"
}
