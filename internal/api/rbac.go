package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"securetrain/internal/arm"
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
	// Scope is where a custom role is defined (a subscription); "" for
	// built-in roles, which are defined at the root.
	Scope       string
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

// roleDefinitionID is a role's ARM id: at the root for built-in roles
// (the same everywhere), in its subscription for a custom one.
func roleDefinitionID(r roleDefinition) string {
	return r.Scope + "/providers/" + typeRoleDefinition + "/" + r.ID
}

const typeRoleDefinition = "Microsoft.Authorization/roleDefinitions"

// storedRole is a custom role definition as stored and returned.
type storedRole struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleName         string           `json:"roleName"`
		Description      string           `json:"description,omitempty"`
		Type             string           `json:"type,omitempty"`
		Permissions      []rolePermission `json:"permissions"`
		AssignableScopes []string         `json:"assignableScopes,omitempty"`
	} `json:"properties"`
}

type rolePermission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions,omitempty"`
	NotDataActions []string `json:"notDataActions,omitempty"`
}

func (sr storedRole) definition(scope string) roleDefinition {
	d := roleDefinition{Scope: scope, ID: sr.Name, Name: sr.Properties.RoleName, Description: sr.Properties.Description}
	for _, p := range sr.Properties.Permissions {
		d.Actions = append(d.Actions, p.Actions...)
		d.NotActions = append(d.NotActions, p.NotActions...)
	}
	return d
}

// roleFor resolves a roleDefinitionId: a built-in role by its GUID, or a
// custom role stored at the subscription the id names.
func roleFor(ctx context.Context, rd store.Reader, ref string) (roleDefinition, bool, error) {
	guid := ref[strings.LastIndex(ref, "/")+1:]
	if d, ok := roleByName(guid); ok && validGUID(guid) {
		return d, true, nil
	}
	i := strings.Index(strings.ToLower(ref), "/providers/microsoft.authorization/roledefinitions/")
	if i <= 0 || !validGUID(guid) {
		return roleDefinition{}, false, nil
	}
	rec, err := rd.Get(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return roleDefinition{}, false, nil
	}
	if err != nil {
		return roleDefinition{}, false, err
	}
	var sr storedRole
	if err := json.Unmarshal(rec.Body, &sr); err != nil {
		return roleDefinition{}, false, fmt.Errorf("stored role definition %s: %w", rec.ID, err)
	}
	return sr.definition(rec.ID[:i]), true, nil
}

// customRoles lists the custom roles defined in a subscription.
func customRoles(ctx context.Context, rd store.Reader, sub string) ([]roleDefinition, error) {
	var out []roleDefinition
	err := store.Each(ctx, rd, store.Query{Scope: sub, Type: typeRoleDefinition}, func(rec store.Record) error {
		var sr storedRole
		if err := json.Unmarshal(rec.Body, &sr); err != nil {
			return fmt.Errorf("stored role definition %s: %w", rec.ID, err)
		}
		out = append(out, sr.definition(sub))
		return nil
	})
	return out, err
}

// eachAssignment calls fn for every role assignment under scope.
func eachAssignment(ctx context.Context, rd store.Reader, scope string, fn func(roleAssignment) error) error {
	return store.Each(ctx, rd, store.Query{Scope: scope, Type: typeRoleAssignment}, func(rec store.Record) error {
		var ra roleAssignment
		if err := json.Unmarshal(rec.Body, &ra); err != nil {
			return fmt.Errorf("stored role assignment %s: %w", rec.ID, err)
		}
		return fn(ra)
	})
}

// AssignRole gives principal the role (built-in, or custom in the scope's
// subscription; by name or GUID) at scope ("/" is every subscription) and
// returns the assignment's id.
func AssignRole(ctx context.Context, st store.Store, principalName, role, scope string) (string, error) {
	if scope != "/" && !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") {
		return "", fmt.Errorf("scope %q: use / or an id starting with /subscriptions/", scope)
	}
	def, ok := roleByName(role)
	if segs := strings.Split(strings.Trim(scope, "/"), "/"); !ok && len(segs) >= 2 {
		custom, err := customRoles(ctx, st, "/subscriptions/"+segs[1])
		if err != nil {
			return "", err
		}
		for _, c := range custom {
			if strings.EqualFold(c.Name, role) || strings.EqualFold(c.ID, role) {
				def, ok = c, true
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("role %q: not a role; built-in roles: %s (or a custom role of the scope's subscription)", role, roleNames())
	}
	var rec store.Record
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		rec, err = putAssignment(ctx, tx, strings.TrimSuffix(scope, "/"), arm.NewGUID(), principalName, def, store.Condition{IfNoneMatch: "*"})
		return err
	})
	return rec.ID, err
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
	if err := checkPathName(r.Method, typeRoleAssignment, name); err != nil {
		return err
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
		def, ok, err := roleFor(r.Context(), s.store, ref)
		if err != nil {
			return err
		}
		if !ok || !strings.Contains(strings.ToLower(ref), "/providers/microsoft.authorization/roledefinitions/") {
			return newError(http.StatusBadRequest, "RoleDefinitionDoesNotExist",
				"The role definition '%s' does not exist; use a role definition id (…/providers/Microsoft.Authorization/roleDefinitions/GUID) of: %s.", ref, roleNames())
		}
		status := http.StatusCreated
		var out store.Record
		err = s.store.Update(r.Context(), func(tx store.Tx) error {
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

// roleDefinitionRoute serves role definitions at a subscription: the
// built-in roles and the subscription's custom roles (GET, list), and
// custom roles' create, update and delete (PUT, DELETE).
func (s *Server) roleDefinitionRoute(w http.ResponseWriter, r *http.Request, sub, name string) error {
	if err := requireAPIVersion(r, "microsoft.authorization"); err != nil {
		return err
	}
	ctx := r.Context()
	view := func(d roleDefinition) map[string]any {
		kind, scopes := "BuiltInRole", []string{"/"}
		if d.Scope != "" {
			kind, scopes = "CustomRole", []string{d.Scope}
		}
		return map[string]any{"id": roleDefinitionID(d), "name": d.ID, "type": typeRoleDefinition,
			"properties": map[string]any{"roleName": d.Name, "description": d.Description, "type": kind,
				"permissions": []map[string]any{{"actions": d.Actions, "notActions": d.NotActions}}, "assignableScopes": scopes}}
	}
	custom, err := customRoles(ctx, s.store, sub)
	if err != nil {
		return err
	}
	all := append(slices.Clone(builtinRoles), custom...)
	if name == "" {
		if r.Method != http.MethodGet {
			return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a list", r.Method)
		}
		value := []map[string]any{}
		filter := strings.ToLower(r.URL.Query().Get("$filter")) // roleName eq 'X', as the SDK and CLI send it
		for _, d := range all {
			if want, ok := strings.CutPrefix(filter, "rolename eq "); ok && strings.Trim(want, "'") != strings.ToLower(d.Name) {
				continue
			}
			value = append(value, view(d))
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": value})
		return nil
	}
	if err := checkPathName(r.Method, typeRoleDefinition, name); err != nil {
		return err
	}
	if d, ok := roleByName(name); ok {
		if r.Method != http.MethodGet {
			return newError(http.StatusConflict, "RoleDefinitionUpdateNotPermitted", "The built-in role '%s' cannot be changed.", d.Name)
		}
		writeJSON(w, http.StatusOK, view(d))
		return nil
	}
	id := sub + "/providers/" + typeRoleDefinition + "/" + name
	switch r.Method {
	case http.MethodGet:
		return s.getRecord(w, r, id, newError(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The role definition '%s' does not exist.", name))
	case http.MethodPut:
		var in storedRole
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		if err := checkCustomRole(in, sub, name, all); err != nil {
			return err
		}
		in.ID, in.Name, in.Type, in.Properties.Type = id, name, typeRoleDefinition, "CustomRole"
		if len(in.Properties.AssignableScopes) == 0 {
			in.Properties.AssignableScopes = []string{sub}
		}
		status := http.StatusCreated
		var out store.Record
		err := s.store.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Get(ctx, id); err == nil {
				status = http.StatusCreated // armauthorization's CreateOrUpdate accepts 201 only
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			var err error
			out, err = putJSON(ctx, tx, id, typeRoleDefinition, in, condition(r))
			return err
		})
		if err != nil {
			return err
		}
		return writeRecord(w, status, out)
	case http.MethodDelete:
		var out store.Record
		err := s.store.Update(ctx, func(tx store.Tx) error {
			var err error
			if out, err = tx.Get(ctx, id); err != nil {
				return err
			}
			if n, err := assignmentsOf(ctx, tx, sub, id); err != nil {
				return err
			} else if n > 0 {
				return newError(http.StatusConflict, "RoleDefinitionHasAssignments",
					"There are %d existing role assignments of role definition '%s'; delete them first.", n, name)
			}
			return tx.Delete(ctx, id, condition(r))
		})
		if errors.Is(err, store.ErrNotFound) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err != nil {
			return err
		}
		return writeRecord(w, http.StatusOK, out)
	}
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a role definition", r.Method)
}

// checkCustomRole validates a custom role: a unique name, actions, valid
// wildcards, and assignable scopes inside its subscription.
func checkCustomRole(in storedRole, sub, name string, all []roleDefinition) error {
	p := in.Properties
	if strings.TrimSpace(p.RoleName) == "" {
		return newError(http.StatusBadRequest, "RoleDefinitionNameRequired", "properties.roleName is required.")
	}
	for _, d := range all {
		if strings.EqualFold(d.Name, p.RoleName) && !strings.EqualFold(d.ID, name) {
			return newError(http.StatusConflict, "RoleDefinitionWithSameNameExists", "A role definition named '%s' already exists (%s).", d.Name, d.ID)
		}
	}
	if len(p.Permissions) == 0 {
		return newError(http.StatusBadRequest, "InvalidRoleDefinition", "properties.permissions must list at least one set of actions.")
	}
	for _, perm := range p.Permissions {
		for _, a := range slices.Concat(perm.Actions, perm.NotActions) {
			if a == "" || strings.ContainsAny(a, " \t\n") || (a != "*" && !strings.Contains(a, "/")) {
				return newError(http.StatusBadRequest, "InvalidActionOrNotAction", "'%s' is not a valid action: use Provider/type/verb with * wildcards.", a)
			}
		}
	}
	for _, sc := range p.AssignableScopes {
		if !arm.Within(sc, sub) {
			return newError(http.StatusBadRequest, "InvalidAssignableScope", "Assignable scope '%s' is not in subscription %s.", sc, sub)
		}
	}
	return nil
}

// assignmentsOf counts the assignments of a role definition in a
// subscription.
func assignmentsOf(ctx context.Context, rd store.Reader, sub, roleID string) (int, error) {
	n := 0
	err := eachAssignment(ctx, rd, sub, func(ra roleAssignment) error {
		if strings.EqualFold(ra.Properties.RoleDefinitionID, roleID) {
			n++
		}
		return nil
	})
	return n, err
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
	// errPermitted ends the walk at the first assignment that permits.
	errPermitted := errors.New("permitted")
	for _, scope := range scopes {
		err := eachAssignment(ctx, s.store, scope, func(ra roleAssignment) error {
			if ra.Properties.PrincipalID != who || !(ra.Properties.Scope == "/" || arm.Within(target, ra.Properties.Scope)) {
				return nil
			}
			def, ok, err := roleFor(ctx, s.store, ra.Properties.RoleDefinitionID)
			if err != nil {
				return err
			}
			if ok && def.permits(action) {
				return errPermitted
			}
			return nil
		})
		if errors.Is(err, errPermitted) {
			return true, nil
		}
		if err != nil {
			return false, err
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
