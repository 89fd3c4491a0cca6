package resources

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"securetrain/internal/arm"
)

// The one policy evaluator: the API's admission refuses a write that an
// assignment denies, and `check` reports a compute whose creation (itself,
// or what Azure ML creates for it) an assignment denies. Both ask Denies.

// Denies reports whether the assignment refuses writing body, a resource of
// type typ, at id, and why: the assignment is enforced, id is within its
// scope and outside every notScope, and its definition's rule matches.
func (a *PolicyAssignment) Denies(id arm.ID, typ string, body arm.Body) (bool, string) {
	scope := "/subscriptions/" + a.Scope.Subscription
	if !a.SubscriptionScope {
		scope = a.Scope.String()
	}
	if !a.Enforced || !arm.Within(id.String(), scope) ||
		slices.ContainsFunc(a.NotScopes, func(ns arm.ID) bool { return arm.Within(id.String(), ns.String()) }) {
		return false, ""
	}
	switch {
	case strings.EqualFold(a.PolicyDefinitionID, NotAllowedResourceTypesPolicy):
		if slices.ContainsFunc(a.NotAllowedTypes, func(t string) bool { return strings.EqualFold(t, typ) }) {
			return true, fmt.Sprintf("resource type %s is not allowed", typ)
		}
	case a.DenyProperty != nil && strings.EqualFold(a.DenyProperty.ResourceType, typ):
		c := a.DenyProperty
		v, present := lookupPath(body, c.Field)
		if c.MustExist && !present {
			return true, fmt.Sprintf("%s must be set", c.Field)
		}
		if c.HasEquals && present {
			w, _ := json.Marshal(c.Equals) // decoded JSON always encodes
			g, _ := json.Marshal(v)
			if strings.EqualFold(string(w), string(g)) {
				return true, fmt.Sprintf("%s must not be %s", c.Field, w)
			}
		}
	}
	return false, ""
}

// lookupPath follows a dotted path of object keys (case-insensitive).
func lookupPath(o arm.Body, path string) (any, bool) {
	var cur any = o
	for key := range strings.SplitSeq(path, ".") {
		m, ok := cur.(arm.Body)
		if !ok {
			return nil, false
		}
		found := false
		for k, v := range m {
			if strings.EqualFold(k, key) {
				cur, found = v, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, cur != nil
}

// plain turns a decoded value into plain JSON (numbers kept as written),
// as arm.DecodeBody gives an API body.
func plain(v arm.Node) any {
	if v.IsZero() {
		return nil
	}
	switch v.Kind() {
	case arm.String:
		return v.Str()
	case arm.Number:
		return json.Number(v.Str())
	case arm.Bool:
		return v.Str() == "true"
	case arm.Object:
		m := make(arm.Body, v.Len())
		for i := range v.Len() {
			m[v.Key(i)] = plain(v.Field(i))
		}
		return m
	case arm.Array:
		out := make([]any, v.Len())
		for i, it := range v.Items() {
			out[i] = plain(it)
		}
		return out
	}
	return nil
}
