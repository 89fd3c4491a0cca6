// Package arm holds what every securetrain resource shares with Azure Resource
// Manager: resource ids, and the position-aware value tree that environment
// files and API bodies are decoded from.
package arm

import (
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"
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
// Ids are printable ASCII (CheckIDText).
func ParseID(s, defaultSubscription string) (ID, error) {
	if err := CheckIDText(s); err != nil {
		return ID{}, fmt.Errorf("resource id %q: %w", strings.ToValidUTF8(s, "\uFFFD"), err)
	}
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
	case len(parts) >= 2 && equalFold(parts[0], "subscriptions"):
		id.Subscription = parts[1]
		parts = parts[2:]
	case len(parts) >= 1 && equalFold(parts[0], "resourceGroups"):
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
	subscriptionLevel := equalFold(parts[0], "providers")
	if !subscriptionLevel {
		if len(parts) < 2 || !equalFold(parts[0], "resourceGroups") {
			return ID{}, fmt.Errorf("resource id %q: expected resourceGroups/{name} after the subscription", s)
		}
		id.ResourceGroup = parts[1]
		parts = parts[2:]
		if len(parts) == 0 {
			return id, nil
		}
	}
	if !equalFold(parts[0], "providers") || len(parts) < 4 {
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
	for _, part := range []string{subscription, resourceGroup, fullType, name} {
		if err := CheckIDText(part); err != nil {
			return ID{}, fmt.Errorf("%q: %w", strings.ToValidUTF8(part, "\uFFFD"), err)
		}
	}
	tparts := strings.Split(fullType, "/")
	nparts := strings.Split(name, "/")
	if equalFold(fullType, TypeResourceGroup) {
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

// TenantID is the tenant of every subscription: securetrain has one
// tenant, the same for every server and for check, so that a template's
// subscription().tenantId (a key vault's tenantId) is a GUID and the
// same wherever the template is evaluated (docs/templates.md).
const TenantID = "93d1e7b1-4ae1-500c-8a70-4f6a00421634"

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
func (id ID) Child(childType, name string) ID { return id.Children(childType)(name) }

// Children gives the ids of this resource's children of one type, by
// name. They share one list of types (an ID's lists are never changed in
// place), and their lists of names are cut from blocks, of one list at
// first (Child), then of up to 64: a large file has a hundred thousand
// NSG rules.
func (id ID) Children(childType string) func(name string) ID {
	n := len(id.Types) + 1
	types := append(append(make([]string, 0, n), id.Types...), childType)
	var block []string
	lists := 1 // in the next block
	return func(name string) ID {
		if len(block) < n {
			block = make([]string, lists*n)
			lists = min(2*lists, 64)
		}
		c := id
		c.Types = types
		c.Names = append(append(block[:0:n], id.Names...), name)
		block = block[n:]
		return c
	}
}

// IsZero reports whether the id is unset.
func (id ID) IsZero() bool { return id.Subscription == "" }

func (id ID) String() string { return id.text(false) }

// text writes the id, lower-cased (ASCII) when fold is set, into a buffer
// sized once: ids are built for every resource of large files.
func (id ID) text(fold bool) string {
	n := len("/subscriptions/") + len(id.Subscription) + len("/resourceGroups/") + len(id.ResourceGroup) + len("/providers/") + len(id.Provider)
	for i := range id.Types {
		n += 2 + len(id.Types[i]) + len(id.Names[i])
	}
	b := make([]byte, 0, n)
	b = append(b, "/subscriptions/"...)
	b = append(b, id.Subscription...)
	if id.ResourceGroup != "" || id.Provider == "" {
		b = append(b, "/resourceGroups/"...)
		b = append(b, id.ResourceGroup...)
	}
	if id.Provider != "" {
		b = append(b, "/providers/"...)
		b = append(b, id.Provider...)
		for i := range id.Types {
			b = append(b, '/')
			b = append(b, id.Types[i]...)
			b = append(b, '/')
			b = append(b, id.Names[i]...)
		}
	}
	if fold {
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
	}
	// b is not written again: the string may share it.
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Key is the canonical, lower-cased form used for lookups: ARM ids compare
// case-insensitively. It is FoldKey(id.String()), built in one buffer.
func (id ID) Key() string { return strings.TrimSuffix(id.text(true), "/") }

// FoldKey is the one lookup form of an id string: ASCII letters lower-cased
// (only ASCII: Unicode folding would make "ſ" and "s" one key) and no
// trailing slash.
func FoldKey(s string) string {
	s = strings.TrimSuffix(s, "/")
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// equalFold compares ASCII case-insensitively; other bytes must be equal.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// notIDChar reports a rune that no resource id holds.
func notIDChar(r rune) bool { return r < 0x20 || r >= 0x7f }

// CheckIDText refuses text that cannot be part of a resource id: ids are
// printable ASCII. A letter such as U+017F (ſ) or U+212A (Kelvin sign)
// case-folds to an ASCII one; accepting it would give one resource two
// spellings that compare equal in some places and differ in others.
func CheckIDText(s string) error {
	i := strings.IndexFunc(s, notIDChar)
	if i < 0 {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return fmt.Errorf("the character %U at byte %d is not allowed: resource names and ids are printable ASCII", r, i)
}

// Equal compares two ids case-insensitively, segment by segment (no
// string building: it is called in loops over resources).
func (id ID) Equal(o ID) bool {
	if !equalFold(id.Subscription, o.Subscription) || !equalFold(id.ResourceGroup, o.ResourceGroup) ||
		!equalFold(id.Provider, o.Provider) || len(id.Types) != len(o.Types) {
		return false
	}
	for i := range id.Types {
		if !equalFold(id.Types[i], o.Types[i]) || !equalFold(id.Names[i], o.Names[i]) {
			return false
		}
	}
	return true
}

// IDsIn returns the ids of provider resources that a decoded JSON value
// (maps, slices, strings) holds anywhere outside tags: the references of
// an ARM body. Short ids (/resourceGroups/…) are in subscription sub.
func IDsIn(v any, sub string) []ID {
	ids, _ := visitIDs(v, sub, false)
	return ids
}

// CanonicalizeIDs rewrites, in place, every resource id that the decoded
// JSON body v holds outside its tags into its one canonical spelling (the
// full /subscriptions/… form, short ids resolved in sub) and returns them.
// A string written as an id but holding a non-ASCII character is an
// error: it would name a resource that compares equal to an ASCII one.
// Everything that authorizes, indexes or compares the references of a
// body reads them after this.
func CanonicalizeIDs(v any, sub string) ([]ID, error) { return visitIDs(v, sub, true) }

// IDError is a string in a body that is written as a resource id but is
// not a valid one; Path locates it ("properties.subnet.id").
type IDError struct {
	Path string
	Err  error
}

func (e *IDError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *IDError) Unwrap() error { return e.Err }

func visitIDs(v any, sub string, rewrite bool) ([]ID, error) {
	var out []ID
	var walk func(v any, path string) (any, error)
	walk = func(v any, path string) (any, error) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "tags" {
					continue // free text: tag values are not references
				}
				nc, err := walk(c, joinPath(path, k))
				if err != nil {
					return nil, err
				}
				if rewrite {
					x[k] = nc
				}
			}
		case []any:
			for i, c := range x {
				nc, err := walk(c, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return nil, err
				}
				if rewrite {
					x[i] = nc
				}
			}
		case string:
			if !writtenAsID(x) {
				return x, nil
			}
			id, err := ParseID(x, sub)
			switch {
			case err == nil && id.Provider != "":
				out = append(out, id)
				return id.String(), nil
			case err != nil && rewrite && CheckIDText(x) != nil:
				return nil, &IDError{Path: path, Err: err}
			}
		}
		return v, nil
	}
	_, err := walk(v, "")
	return out, err
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// writtenAsID reports a string that starts like a resource id, its first
// segment compared with Unicode folding so that look-alikes (/ſubscriptions/)
// are caught and refused rather than passed over as free text.
func writtenAsID(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	first, _, _ := strings.Cut(s[1:], "/")
	return strings.EqualFold(first, "subscriptions") || strings.EqualFold(first, "resourceGroups")
}

// Within reports whether id is scope or inside it, case-insensitively.
func Within(id, scope string) bool {
	id, scope = FoldKey(id), FoldKey(scope)
	return id == scope || strings.HasPrefix(id, scope+"/")
}

// RefsOutside are the ids a body references (IDsIn, short ids in self's
// subscription) that are not self or inside it: what a stored record
// points at.
func RefsOutside(v any, self string) []string {
	selfID, _ := ParseID(self, "")
	var out []string
	for _, id := range IDsIn(v, selfID.Subscription) {
		if s := id.String(); !Within(s, self) {
			out = append(out, s)
		}
	}
	return out
}
