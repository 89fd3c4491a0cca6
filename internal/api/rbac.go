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
		return "", fmt.Errorf("role %q: not a role; built-in roles: %s", role, roleNames())
	}
	if scope != "/" && !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") {
		return "", fmt.Errorf("scope %q: use / or an id starting with /subscriptions/", scope)
	}
	var rec store.Record
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		rec, err = putAssignment(ctx, tx, strings.TrimSuffix(scope, "/"), newGUID(), principalName, def, store.Condition{IfNoneMatch: "*"})
		return err
	})
	return rec.ID, err
}

// newGUID is a random GUID, the form of role assignment names.
func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func roleNames() string {
	var names []string
	for _, r := range builtinRoles {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

// putAssignment stores an assignment of def to principalName at scope
// ("" is the root), after checking that the principal exists.
func putAssignment(ctx context.Context, tx store.Tx, scope, name, principalName string, def roleDefinition, cond store.Condition) (store.Record, error) {
	if _, err := tx.Get(ctx, principalID(principalName)); errors.Is(err, store.ErrNotFound) {
		return store.Record{}, newError(http.StatusBadRequest, "PrincipalNotFound",
			"Principal %s does not exist (securetrain principal create %s).", principalName, principalName)
	} else if err != nil {
		return store.Record{}, err
	}
	id := scope + "/providers/" + typeRoleAssignment + "/" + name
	ra := roleAssignment{ID: id, Name: name, Type: typeRoleAssignment}
	ra.Properties.RoleDefinitionID, ra.Properties.PrincipalID, ra.Properties.Scope = roleDefinitionID(def), principalName, scope
	if scope == "" {
		ra.Properties.Scope = "/"
	}
	return putJSON(ctx, tx, id, typeRoleAssignment, ra, cond)
}

// roleAssignmentRoute handles .../providers/Microsoft.Authorization/
// roleAssignments[/{name}] under scope (a subscription or resource group).
func (s *Server) roleAssignmentRoute(w http.ResponseWriter, r *http.Request, scope, name string) error {
	if err := requireAPIVersion(r, "microsoft.authorization"); err != nil {
		return err
	}
	if name == "" {
		return s.list(w, r, scope, typeRoleAssignment)
	}
	if !validGUID(name) {
		return newError(http.StatusBadRequest, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid: it must be a GUID.", name)
	}
	if err := s.requireScope(r.Context(), scope); err != nil {
		return err
	}
	id := scope + "/providers/" + typeRoleAssignment + "/" + name
	notFound := newError(http.StatusNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
	switch r.Method {
	case http.MethodGet:
		return s.getRecord(w, r, id, notFound)
	case http.MethodPut:
		var in struct {
			Properties struct {
				RoleDefinitionID string `json:"roleDefinitionId"`
				PrincipalID      string `json:"principalId"`
				PrincipalType    string `json:"principalType,omitempty"`
				Scope            string `json:"scope,omitempty"`
				Description      string `json:"description,omitempty"`
			} `json:"properties"`
		}
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		ref := in.Properties.RoleDefinitionID
		def, ok := roleByName(ref[strings.LastIndex(ref, "/")+1:])
		if !ok || !strings.Contains(strings.ToLower(ref), "/providers/microsoft.authorization/roledefinitions/") {
			return newError(http.StatusBadRequest, "RoleDefinitionDoesNotExist",
				"The role definition '%s' does not exist; use a role definition id (…/providers/Microsoft.Authorization/roleDefinitions/GUID) of: %s.", ref, roleNames())
		}
		status := http.StatusCreated
		var out store.Record
		err := s.store.Update(r.Context(), func(tx store.Tx) error {
			if cur, err := tx.Get(r.Context(), id); err == nil {
				// ARM never changes an assignment: the same one again is
				// fine, another role or principal is a conflict.
				var ra roleAssignment
				if err := json.Unmarshal(cur.Body, &ra); err != nil {
					return fmt.Errorf("stored role assignment %s: %w", id, err)
				}
				if ra.Properties.PrincipalID != in.Properties.PrincipalID || !strings.EqualFold(ra.Properties.RoleDefinitionID, roleDefinitionID(def)) {
					return newError(http.StatusConflict, "RoleAssignmentUpdateNotPermitted",
						"Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
				}
				status, out = http.StatusOK, cur
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			var err error
			out, err = putAssignment(r.Context(), tx, scope, name, in.Properties.PrincipalID, def, condition(r))
			return err
		})
		if err != nil {
			return err
		}
		return writeRecord(w, status, out)
	case http.MethodDelete:
		var out store.Record
		err := s.store.Update(r.Context(), func(tx store.Tx) error {
			var err error
			if out, err = tx.Get(r.Context(), id); err != nil {
				return err
			}
			return tx.Delete(r.Context(), id, condition(r))
		})
		if errors.Is(err, store.ErrNotFound) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err != nil {
			return err
		}
		return writeRecord(w, http.StatusOK, out) // ARM returns the deleted assignment
	}
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a role assignment", r.Method)
}

// roleDefinitionRoute lists the built-in roles, or shows one, in ARM's
// shape.
func (s *Server) roleDefinitionRoute(w http.ResponseWriter, r *http.Request, name string) error {
	if err := requireAPIVersion(r, "microsoft.authorization"); err != nil {
		return err
	}
	if r.Method != http.MethodGet {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "custom role definitions are not supported; %s is refused", r.Method)
	}
	view := func(d roleDefinition) map[string]any {
		return map[string]any{"id": roleDefinitionID(d), "name": d.ID, "type": "Microsoft.Authorization/roleDefinitions",
			"properties": map[string]any{"roleName": d.Name, "description": d.Description, "type": "BuiltInRole",
				"permissions": []map[string]any{{"actions": d.Actions, "notActions": d.NotActions}}, "assignableScopes": []string{"/"}}}
	}
	if name != "" {
		d, ok := roleByName(name)
		if !ok || !validGUID(name) {
			return newError(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The role definition '%s' does not exist.", name)
		}
		writeJSON(w, http.StatusOK, view(d))
		return nil
	}
	var value []map[string]any
	for _, d := range builtinRoles {
		value = append(value, view(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": value})
	return nil
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
