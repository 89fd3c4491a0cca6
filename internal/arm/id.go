// Package arm holds what every securetrain resource shares with Azure Resource
// Manager: resource ids, and the position-aware value tree that environment
// files and API bodies are decoded from.
package arm

import (
	"fmt"
	"strings"
)

// ID is a parsed ARM resource id. Segments keep the user's spelling for
// display; comparisons go through Key, which is case-insensitive as in Azure.
type ID struct {
	Subscription  string
	ResourceGroup string
	// Provider is the namespace, e.g. "Microsoft.Network"; empty for a
	// resource group id.
	Provider string
	// Types and Names alternate below the provider: virtualNetworks/vnet1/subnets/default
	// gives Types [virtualNetworks subnets] and Names [vnet1 default].
	Types []string
	Names []string
}

// ParseID parses a full ARM id (of a resource in a resource group, or of a
// subscription-level resource: /subscriptions/S/providers/…), or an id
// starting at /resourceGroups/…, which takes defaultSubscription.
func ParseID(s, defaultSubscription string) (ID, error) {
	if !strings.HasPrefix(s, "/") {
		return ID{}, fmt.Errorf("resource id %q must start with /subscriptions/ or /resourceGroups/", s)
	}
	parts := strings.Split(strings.TrimSuffix(s[1:], "/"), "/")
	for _, p := range parts {
		if p == "" {
			return ID{}, fmt.Errorf("resource id %q has an empty segment", s)
		}
	}
	var id ID
	switch {
	case len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions"):
		id.Subscription = parts[1]
		parts = parts[2:]
	case len(parts) >= 1 && strings.EqualFold(parts[0], "resourceGroups"):
		if defaultSubscription == "" {
			return ID{}, fmt.Errorf("resource id %q has no subscription and the file sets none", s)
		}
		id.Subscription = defaultSubscription
	default:
		return ID{}, fmt.Errorf("resource id %q must start with /subscriptions/ or /resourceGroups/", s)
	}
	if len(parts) == 0 {
		return ID{}, fmt.Errorf("resource id %q names a subscription, not a resource", s)
	}
	// Subscription-level resources (policy assignments) have no group.
	subscriptionLevel := strings.EqualFold(parts[0], "providers")
	if !subscriptionLevel {
		if len(parts) < 2 || !strings.EqualFold(parts[0], "resourceGroups") {
			return ID{}, fmt.Errorf("resource id %q: expected resourceGroups/{name} after the subscription", s)
		}
		id.ResourceGroup = parts[1]
		parts = parts[2:]
		if len(parts) == 0 {
			return id, nil
		}
	}
	if !strings.EqualFold(parts[0], "providers") || len(parts) < 4 {
		return ID{}, fmt.Errorf("resource id %q: expected providers/{namespace}/{type}/{name} after the resource group", s)
	}
	id.Provider = parts[1]
	rest := parts[2:]
	if len(rest)%2 != 0 {
		return ID{}, fmt.Errorf("resource id %q: type %q has no name", s, rest[len(rest)-1])
	}
	for i := 0; i < len(rest); i += 2 {
		id.Types = append(id.Types, rest[i])
		id.Names = append(id.Names, rest[i+1])
	}
	return id, nil
}

// NewID builds the id of a resource of fullType ("Microsoft.Network/virtualNetworks/subnets")
// named name ("vnet1/default") in a resource group.
func NewID(subscription, resourceGroup, fullType, name string) (ID, error) {
	tparts := strings.Split(fullType, "/")
	nparts := strings.Split(name, "/")
	if strings.EqualFold(fullType, TypeResourceGroup) {
		return ID{Subscription: subscription, ResourceGroup: name}, nil
	}
	if len(tparts) < 2 {
		return ID{}, fmt.Errorf("type %q must be {namespace}/{type}[/{child}…]", fullType)
	}
	if len(nparts) != len(tparts)-1 {
		return ID{}, fmt.Errorf("name %q must have %d segment(s) for type %s (parent/child naming)", name, len(tparts)-1, fullType)
	}
	for _, n := range nparts {
		if n == "" {
			return ID{}, fmt.Errorf("name %q has an empty segment", name)
		}
	}
	return ID{Subscription: subscription, ResourceGroup: resourceGroup, Provider: tparts[0],
		Types: append([]string(nil), tparts[1:]...), Names: nparts}, nil
}

// TypeResourceGroup is the ARM type of resource groups.
const TypeResourceGroup = "Microsoft.Resources/resourceGroups"

// Type is the full resource type, e.g. "Microsoft.Network/virtualNetworks/subnets".
func (id ID) Type() string {
	if id.Provider == "" {
		return TypeResourceGroup
	}
	return id.Provider + "/" + strings.Join(id.Types, "/")
}

// Name is the ARM name, parent/child joined by "/".
func (id ID) Name() string {
	if id.Provider == "" {
		return id.ResourceGroup
	}
	return strings.Join(id.Names, "/")
}

// Leaf is the last name segment ("default" for vnet1/default).
func (id ID) Leaf() string {
	if id.Provider == "" {
		return id.ResourceGroup
	}
	return id.Names[len(id.Names)-1]
}

// Parent is the id of the enclosing resource (a VNet for a subnet); ok is
// false for top-level resources.
func (id ID) Parent() (ID, bool) {
	if len(id.Types) < 2 {
		return ID{}, false
	}
	p := id
	p.Types = id.Types[:len(id.Types)-1]
	p.Names = id.Names[:len(id.Names)-1]
	return p, true
}

// Child is the id of a child resource of this one.
func (id ID) Child(childType, name string) ID {
	c := id
	c.Types = append(append([]string(nil), id.Types...), childType)
	c.Names = append(append([]string(nil), id.Names...), name)
	return c
}

// IsZero reports whether the id is unset.
func (id ID) IsZero() bool { return id.Subscription == "" }

func (id ID) String() string {
	var b strings.Builder
	b.WriteString("/subscriptions/")
	b.WriteString(id.Subscription)
	if id.ResourceGroup != "" || id.Provider == "" {
		b.WriteString("/resourceGroups/")
		b.WriteString(id.ResourceGroup)
	}
	if id.Provider != "" {
		b.WriteString("/providers/")
		b.WriteString(id.Provider)
		for i := range id.Types {
			b.WriteString("/")
			b.WriteString(id.Types[i])
			b.WriteString("/")
			b.WriteString(id.Names[i])
		}
	}
	return b.String()
}

// Key is the canonical, lower-cased form used for lookups: ARM ids compare
// case-insensitively.
func (id ID) Key() string { return strings.ToLower(id.String()) }

// Equal compares two ids case-insensitively, segment by segment (no
// string building: it is called in loops over resources).
func (id ID) Equal(o ID) bool {
	if !strings.EqualFold(id.Subscription, o.Subscription) || !strings.EqualFold(id.ResourceGroup, o.ResourceGroup) ||
		!strings.EqualFold(id.Provider, o.Provider) || len(id.Types) != len(o.Types) {
		return false
	}
	for i := range id.Types {
		if !strings.EqualFold(id.Types[i], o.Types[i]) || !strings.EqualFold(id.Names[i], o.Names[i]) {
			return false
		}
	}
	return true
}

// IDsIn returns the ids of provider resources that a decoded JSON value
// (maps, slices, strings) mentions anywhere: the references of an ARM
// body.
func IDsIn(v any) []ID {
	var out []ID
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		case string:
			if len(x) > 15 && strings.EqualFold(x[:15], "/subscriptions/") {
				if id, err := ParseID(x, ""); err == nil && id.Provider != "" {
					out = append(out, id)
				}
			}
		}
	}
	walk(v)
	return out
}

// Within reports whether id is scope or inside it, case-insensitively.
func Within(id, scope string) bool {
	id, scope = strings.ToLower(strings.TrimSuffix(id, "/")), strings.ToLower(strings.TrimSuffix(scope, "/"))
	return id == scope || strings.HasPrefix(id, scope+"/")
}

// RefsOutside are the ids a body references (IDsIn) that are not self or
// inside it: what a stored record points at.
func RefsOutside(v any, self string) []string {
	var out []string
	for _, id := range IDsIn(v) {
		if s := id.String(); !Within(s, self) {
			out = append(out, s)
		}
	}
	return out
}
