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
	// DataActions and NotDataActions are the same for data actions (a
	// blob's read, write, delete): Actions never grant those.
	DataActions, NotDataActions []string
	// AssignableScopes are where a custom role may be assigned, all
	// inside its subscription; nil for built-in roles (anywhere).
	AssignableScopes []string
}

// blobData are the data actions on blobs (internal/blob).
var blobData = []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"}

// builtinRoles are the built-in roles. Owner, Contributor, Reader,
// Network Contributor and the Storage Blob Data roles carry Azure's GUIDs
// and the parts of Azure's definitions that apply here; Data Scientist is
// securetrain's: it may create and run computes (including joining them
// to a subnet, and through template deployments) but not change networks.
// Unlike Azure's, Owner, Contributor and Data Scientist carry the blob
// data actions, so that whoever submits jobs can upload their code
// without a second role; Reader carries none, as in Azure.
var builtinRoles = []roleDefinition{
	{ID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", Name: "Owner", Description: "Full access, including assigning roles.",
		Actions: []string{"*"}, DataActions: blobData},
	{ID: "b24988ac-6180-42a0-ab88-20f7382dd24c", Name: "Contributor", Description: "Full access to resources, but no role assignments.",
		Actions:     []string{"*"},
		NotActions:  []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"},
		DataActions: blobData},
	{ID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", Name: "Reader", Description: "Read everything, change nothing.",
		Actions: []string{"*/read"}},
	{ID: "4d97b98b-1d4f-4787-a291-c67834d212e7", Name: "Network Contributor", Description: "Manage networks, not access to them.",
		Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Network/*", "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}},
	{ID: "5b7c1a4e-2f2d-4c3b-9a51-5ec0e7a1d001", Name: "Data Scientist", Description: "Create and run computes in workspaces; read networks and join subnets, never change them.",
		Actions: []string{"*/read", "Microsoft.MachineLearningServices/workspaces/computes/*", "Microsoft.MachineLearningServices/workspaces/jobs/*",
			"Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Network/virtualNetworks/join/action",
			// Template deployments of computes: each resource a template
			// holds still needs its own write.
			"Microsoft.Resources/deployments/*",
			// The container a workspace's code snapshots go to.
			"Microsoft.Storage/storageAccounts/blobServices/containers/write"},
		DataActions: blobData},
	{ID: "ba92f5b4-2d11-453d-a403-e96b0029c9fe", Name: "Storage Blob Data Contributor", Description: "Read, write and delete blob containers and data.",
		Actions: []string{"Microsoft.Storage/storageAccounts/blobServices/containers/delete", "Microsoft.Storage/storageAccounts/blobServices/containers/read",
			"Microsoft.Storage/storageAccounts/blobServices/containers/write"},
		DataActions: blobData},
	{ID: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", Name: "Storage Blob Data Reader", Description: "Read and list blob containers and data.",
		Actions:     []string{"Microsoft.Storage/storageAccounts/blobServices/containers/read"},
		DataActions: []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"}},
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

// permits reports whether the role allows action (a data action when
// data).
func (r roleDefinition) permits(action string, data bool) bool {
	allow, deny := r.Actions, r.NotActions
	if data {
		allow, deny = r.DataActions, r.NotDataActions
	}
	return slices.ContainsFunc(allow, func(a string) bool { return actionMatch(a, action) }) &&
		!slices.ContainsFunc(deny, func(na string) bool { return actionMatch(na, action) })
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
	d := roleDefinition{Scope: scope, ID: sr.Name, Name: sr.Properties.RoleName, Description: sr.Properties.Description,
		AssignableScopes: sr.Properties.AssignableScopes}
	for _, p := range sr.Properties.Permissions {
		d.Actions = append(d.Actions, p.Actions...)
		d.NotActions = append(d.NotActions, p.NotActions...)
		d.DataActions = append(d.DataActions, p.DataActions...)
		d.NotDataActions = append(d.NotDataActions, p.NotDataActions...)
	}
	return d
}

// assignableAt reports whether the role may be assigned at scope.
func (r roleDefinition) assignableAt(scope string) bool {
	if r.AssignableScopes == nil {
		return true
	}
	return slices.ContainsFunc(r.AssignableScopes, func(as string) bool { return arm.Within(scope, as) })
}

// roleRef is a parsed role definition id: the subscription it names (""
// in the tenant form) and the role's GUID.
type roleRef struct{ sub, guid string }

// parseRoleRef reads a role definition id in ARM's two forms,
// /subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}
// and /providers/Microsoft.Authorization/roleDefinitions/{guid}, in any
// ASCII case. Anything else is not a role definition id: another scope,
// or a non-ASCII letter that Unicode folds to an ASCII one (U+017F "ſ").
func parseRoleRef(ref string) (roleRef, bool) {
	if !strings.HasPrefix(ref, "/") || arm.CheckIDText(ref) != nil {
		return roleRef{}, false
	}
	segs := strings.Split(ref[1:], "/")
	var r roleRef
	if len(segs) == 6 && strings.EqualFold(segs[0], "subscriptions") && arm.IsGUID(segs[1]) {
		r.sub, segs = segs[1], segs[2:]
	}
	if len(segs) != 4 || !strings.EqualFold(segs[0], "providers") || !strings.EqualFold(segs[1]+"/"+segs[2], typeRoleDefinition) || !arm.IsGUID(segs[3]) {
		return roleRef{}, false
	}
	r.guid = segs[3]
	return r, true
}

// names reports whether the reference is to the role guid of subscription
// sub (the tenant form names a subscription's role where it is used).
func (r roleRef) names(sub, guid string) bool {
	return strings.EqualFold(r.guid, guid) && (r.sub == "" || strings.EqualFold(r.sub, sub))
}

// subscriptionOf is the subscription GUID a scope is in; "" for the root.
func subscriptionOf(scope string) string {
	if segs := strings.Split(strings.Trim(scope, "/"), "/"); len(segs) >= 2 && strings.EqualFold(segs[0], "subscriptions") {
		return segs[1]
	}
	return ""
}

// resolveRole finds the role that ref names for an assignment at scope and
// checks that it may be assigned there: a built-in role anywhere; a custom
// role only in the subscription that defines it and inside its
// assignableScopes. A role definition id that names another subscription
// does not exist here, built-in or not. The errors are ARM's.
func resolveRole(ctx context.Context, rd store.Reader, ref, scope string) (roleDefinition, error) {
	scopeSub := subscriptionOf(scope)
	r, ok := parseRoleRef(ref)
	if !ok || (r.sub != "" && !strings.EqualFold(r.sub, scopeSub)) {
		return roleDefinition{}, roleNotFound(ref, scopeSub)
	}
	if d, ok := roleByName(r.guid); ok {
		return d, nil
	}
	if scopeSub == "" {
		return roleDefinition{}, roleNotFound(ref, scopeSub)
	}
	defScope := "/subscriptions/" + scopeSub
	rec, err := rd.Get(ctx, defScope+"/providers/"+typeRoleDefinition+"/"+r.guid)
	if errors.Is(err, store.ErrNotFound) {
		return roleDefinition{}, roleNotFound(ref, scopeSub)
	}
	if err != nil {
		return roleDefinition{}, err
	}
	var sr storedRole
	if err := json.Unmarshal(rec.Body, &sr); err != nil {
		return roleDefinition{}, fmt.Errorf("stored role definition %s: %w", rec.ID, err)
	}
	d := sr.definition(defScope)
	if !d.assignableAt(scope) {
		return roleDefinition{}, newError(http.StatusBadRequest, "InvalidCreateRoleAssignmentRequest",
			"The role %s is not available for assignment at the requested scope '%s': its assignableScopes are %s.", d.Name, scope, strings.Join(d.AssignableScopes, ", "))
	}
	return d, nil
}

func roleNotFound(ref, sub string) error {
	where := "at the root scope"
	if sub != "" {
		where = "in subscription " + sub
	}
	return newError(http.StatusBadRequest, "RoleDefinitionDoesNotExist",
		"The specified role definition with ID '%s' does not exist %s. Use the id (…/providers/Microsoft.Authorization/roleDefinitions/GUID) of a built-in role (%s) or of a custom role of that subscription.",
		ref, where, roleNames())
}

// allRoles lists the built-in roles and the custom roles of a
// subscription.
func allRoles(ctx context.Context, rd store.Reader, sub string) ([]roleDefinition, error) {
	custom, err := customRoles(ctx, rd, sub)
	return append(slices.Clone(builtinRoles), custom...), err
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
// subscription; by name, or by id when role is a GUID) at scope ("/" is
// every subscription) and returns the assignment's id.
func AssignRole(ctx context.Context, st store.Store, principalName, role, scope string) (string, error) {
	scope = strings.TrimSuffix(scope, "/")
	if scope != "" {
		if err := checkScope(scope); err != nil {
			return "", err
		}
	}
	var rec store.Record
	err := st.Update(ctx, func(tx store.Tx) error {
		ref, err := roleRefFor(ctx, tx, role, subscriptionOf(scope))
		if err != nil {
			return err
		}
		def, err := resolveRole(ctx, tx, ref, scope)
		if err != nil {
			return err
		}
		rec, err = putAssignment(ctx, tx, scope, arm.NewGUID(), principalName, def, store.Condition{IfNoneMatch: "*"})
		return err
	})
	return rec.ID, err
}

// roleRefFor is the role definition id of a role given by GUID (its id,
// never a roleName that happens to spell a GUID) or by name (a built-in
// role, or a custom role of subscription sub).
func roleRefFor(ctx context.Context, rd store.Reader, role, sub string) (string, error) {
	if arm.IsGUID(role) {
		return "/providers/" + typeRoleDefinition + "/" + role, nil
	}
	if d, ok := roleByName(role); ok {
		return roleDefinitionID(d), nil
	}
	if sub != "" {
		custom, err := customRoles(ctx, rd, "/subscriptions/"+sub)
		if err != nil {
			return "", err
		}
		for _, c := range custom {
			if strings.EqualFold(c.Name, role) {
				return roleDefinitionID(c), nil
			}
		}
	}
	return "", fmt.Errorf("role %q: not a role; built-in roles: %s (or a custom role of the scope's subscription)", role, roleNames())
}

// checkScope checks that scope is an ASCII subscription, resource group or
// resource id.
func checkScope(scope string) error {
	segs := strings.Split(strings.TrimPrefix(scope, "/"), "/")
	if arm.CheckIDText(scope) != nil || !strings.HasPrefix(scope, "/") || len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") || !arm.IsGUID(segs[1]) {
		return fmt.Errorf("scope %q: use / or an id starting with /subscriptions/{subscription GUID}, in ASCII", scope)
	}
	if len(segs) == 2 {
		return nil
	}
	if _, err := arm.ParseID(scope, ""); err != nil {
		return fmt.Errorf("scope %q: %w", scope, err)
	}
	return nil
}

func roleNames() string {
	var names []string
	for _, r := range builtinRoles {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

// putAssignment stores an assignment of def to principalName at scope
// ("" is the root), after checking that the principal exists. The
// assignment records the principal's own spelling of its name: the one
// requests are authenticated as.
func putAssignment(ctx context.Context, tx store.Tx, scope, name, principalName string, def roleDefinition, cond store.Condition) (store.Record, error) {
	p, err := lookupPrincipal(ctx, tx, principalName)
	if err != nil {
		return store.Record{}, err
	}
	id := scope + "/providers/" + typeRoleAssignment + "/" + name
	ra := roleAssignment{ID: id, Name: name, Type: typeRoleAssignment}
	ra.Properties.RoleDefinitionID, ra.Properties.PrincipalID, ra.Properties.Scope = roleDefinitionID(def), p.Name, scope
	if scope == "" {
		ra.Properties.Scope = "/"
	}
	return putJSON(ctx, tx, id, typeRoleAssignment, ra, cond)
}

// roleAssignmentRoute handles .../providers/Microsoft.Authorization/
// roleAssignments[/{name}] under scope (a subscription or resource group).
func (s *Server) roleAssignmentRoute(w http.ResponseWriter, r *http.Request, who, scope, name string) error {
	if err := s.requireAPIVersion(r, who, typeRoleAssignment); err != nil {
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
		// The URI's scope is the one authorized: a body naming another is
		// refused, never followed.
		if in.Properties.Scope != "" && store.Key(in.Properties.Scope) != store.Key(scope) {
			return newError(http.StatusBadRequest, "InvalidCreateRoleAssignmentRequest",
				"The request to create role assignment '%s' is not valid. Role assignment scope '%s' must match the scope specified on the URI '%s'.", name, in.Properties.Scope, scope)
		}
		var status int
		var out store.Record
		err := s.store.Update(r.Context(), func(tx store.Tx) error {
			status = http.StatusCreated // the closure may be re-run (store.Store)
			// Resolved in the transaction that stores the assignment: the
			// role cannot be deleted or narrowed in between.
			def, err := resolveRole(r.Context(), tx, in.Properties.RoleDefinitionID, scope)
			if err != nil {
				return err
			}
			if cur, err := tx.Get(r.Context(), id); err == nil {
				// ARM never changes an assignment: the same one again is
				// fine, another role or principal is a conflict.
				var ra roleAssignment
				if err := json.Unmarshal(cur.Body, &ra); err != nil {
					return fmt.Errorf("stored role assignment %s: %w", id, err)
				}
				if !strings.EqualFold(ra.Properties.PrincipalID, in.Properties.PrincipalID) || !strings.EqualFold(ra.Properties.RoleDefinitionID, roleDefinitionID(def)) {
					return newError(http.StatusConflict, "RoleAssignmentUpdateNotPermitted",
						"Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
				}
				status, out = http.StatusOK, cur
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
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
func (s *Server) roleDefinitionRoute(w http.ResponseWriter, r *http.Request, who, sub, name string) error {
	if err := s.requireAPIVersion(r, who, typeRoleDefinition); err != nil {
		return err
	}
	ctx := r.Context()
	view := func(d roleDefinition) map[string]any {
		kind, scopes := "BuiltInRole", []string{"/"}
		if d.Scope != "" {
			kind, scopes = "CustomRole", d.AssignableScopes
		}
		return map[string]any{"id": roleDefinitionID(d), "name": d.ID, "type": typeRoleDefinition,
			"properties": map[string]any{"roleName": d.Name, "description": d.Description, "type": kind,
				"permissions":      []map[string]any{{"actions": d.Actions, "notActions": d.NotActions, "dataActions": nonNil(d.DataActions), "notDataActions": nonNil(d.NotDataActions)}},
				"assignableScopes": scopes}}
	}
	if name == "" {
		if r.Method != http.MethodGet {
			return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a list", r.Method)
		}
		all, err := allRoles(ctx, s.store, sub)
		if err != nil {
			return err
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
		in.ID, in.Name, in.Type, in.Properties.Type = id, name, typeRoleDefinition, "CustomRole"
		if len(in.Properties.AssignableScopes) == 0 {
			in.Properties.AssignableScopes = []string{sub}
		}
		var out store.Record
		err := s.store.Update(ctx, func(tx store.Tx) error {
			all, err := allRoles(ctx, tx, sub)
			if err != nil {
				return err
			}
			if err := checkCustomRole(&in, sub, name, all); err != nil {
				return err
			}
			// Azure refuses to narrow a role's assignableScopes past an
			// assignment of it rather than orphan the assignment.
			narrowed := in.definition(sub)
			err = eachAssignmentOf(ctx, tx, sub, name, func(ra roleAssignment) error {
				if !narrowed.assignableAt(ra.Properties.Scope) {
					return newError(http.StatusConflict, "RoleScopeBeingRemovedContainsAssignments",
						"Role assignments found under scope '%s' which is being removed. Removing this scope from the role will orphan these assignments (%s). Delete these assignments before removing the scope.",
						ra.Properties.Scope, ra.ID)
				}
				return nil
			})
			if err != nil {
				return err
			}
			out, err = putJSON(ctx, tx, id, typeRoleDefinition, in, condition(r))
			return err
		})
		if err != nil {
			return err
		}
		return writeRecord(w, http.StatusCreated, out) // armauthorization's CreateOrUpdate accepts 201 only, for an update too
	case http.MethodDelete:
		var out store.Record
		err := s.store.Update(ctx, func(tx store.Tx) error {
			var err error
			if out, err = tx.Get(ctx, id); err != nil {
				return err
			}
			n := 0
			if err := eachAssignmentOf(ctx, tx, sub, name, func(roleAssignment) error { n++; return nil }); err != nil {
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
// wildcards, and assignable scopes inside its subscription (kept without a
// trailing slash).
func checkCustomRole(in *storedRole, sub, name string, all []roleDefinition) error {
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
		for _, a := range slices.Concat(perm.Actions, perm.NotActions, perm.DataActions, perm.NotDataActions) {
			if a == "" || strings.ContainsAny(a, " \t\n") || (a != "*" && !strings.Contains(a, "/")) {
				return newError(http.StatusBadRequest, "InvalidActionOrNotAction", "'%s' is not a valid action: use Provider/type/verb with * wildcards.", a)
			}
		}
	}
	for i, sc := range p.AssignableScopes {
		if err := checkScope(sc); err != nil || !arm.Within(sc, sub) {
			return newError(http.StatusBadRequest, "InvalidAssignableScope",
				"Assignable scope '%s' is not valid: a custom role is assignable only in its own subscription %s, at the subscription, a resource group or a resource id (ASCII), never at the root '/'.", sc, sub)
		}
		in.Properties.AssignableScopes[i] = strings.TrimSuffix(sc, "/")
	}
	return nil
}

// eachAssignmentOf calls fn for every assignment of the custom role guid
// anywhere in subscription sub (the subscription, its groups, their
// resources).
func eachAssignmentOf(ctx context.Context, rd store.Reader, sub, guid string, fn func(roleAssignment) error) error {
	return eachAssignment(ctx, rd, sub, func(ra roleAssignment) error {
		if r, ok := parseRoleRef(ra.Properties.RoleDefinitionID); ok && r.names(subscriptionOf(sub), guid) {
			return fn(ra)
		}
		return nil
	})
}

// authorize checks that who may perform action on target: some role
// assignment of who at or above target permits it. Otherwise 403
// AuthorizationFailed, in ARM's words.
func (s *Server) authorize(ctx context.Context, who, action, target string) error {
	ok, err := s.permitted(ctx, who, action, target, false)
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
// target's subscription; a data action (data) is granted by a role's
// dataActions only.
func (s *Server) permitted(ctx context.Context, who, action, target string, data bool) (bool, error) {
	scopes := []string{"/providers"} // root-scope assignments
	if targetSub := subscriptionOf(target); targetSub != "" {
		scopes = append(scopes, "/subscriptions/"+targetSub)
	}
	// errPermitted ends the walk at the first assignment that permits.
	errPermitted := errors.New("permitted")
	for _, scope := range scopes {
		err := eachAssignment(ctx, s.store, scope, func(ra roleAssignment) error {
			if ra.Properties.PrincipalID != who || !(ra.Properties.Scope == "/" || arm.Within(target, ra.Properties.Scope)) {
				return nil
			}
			// The same rules as when it was made: an assignment of a role
			// of another subscription, or outside the role's assignable
			// scopes (older data), grants nothing.
			def, err := resolveRole(ctx, s.store, ra.Properties.RoleDefinitionID, ra.Properties.Scope)
			var ae *apiError
			if errors.As(err, &ae) {
				return nil
			}
			if err != nil {
				return err
			}
			if def.permits(action, data) {
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

// nonNil shows an empty list as [] rather than null.
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
