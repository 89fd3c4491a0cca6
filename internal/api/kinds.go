package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// resourceKind is a kind of the registry (resources.Kinds) that the
// generic resource handler serves, with the hooks that add the control
// plane's behaviour for it. Every registered kind is served: by this
// handler, or (resources.Kind.OwnRoute) by a route of its own.
type resourceKind struct {
	*resources.Kind
	// typ is Kind.Type, under the name the policy code reads.
	typ string
	// children are the kinds nested inline in this one (Kind.Children).
	children []*resourceKind
	// childrenApart: its child records are validated apart from its
	// writes (a workspace's computes).
	childrenApart bool
	kindHooks
}

// kindHooks are a kind's own steps in the write and delete services
// (service.go); nil for most kinds. Each runs inside the request's
// transaction and depends only on it and its arguments, so that a store
// may re-run the transaction.
type kindHooks struct {
	// settle sets what the server owns in a normalised body (props are
	// its properties; cur is the stored body or nil): an NSG's default
	// rules, a peering's state.
	settle func(id arm.ID, props, cur object)
	// derive fills in, after settle, what Azure creates or assigns with
	// the resource: a private endpoint's NIC and address, a workspace's
	// GUID.
	derive func(s *Server, ctx context.Context, tx store.Tx, id arm.ID, cur, next object) error
	// written runs after the write's body is stored, in its transaction:
	// what Azure keeps current with the resource (a private endpoint's
	// zone groups' records follow its address).
	written func(s *Server, ctx context.Context, tx store.Tx, id arm.ID) error
	// admit applies the kind's admission rules to a write and names the
	// operation it begins ("" for a plain write) with its target count.
	admit func(s *Server, ctx context.Context, tx store.Reader, id arm.ID, cur, next object) (opKind string, target int, err error)
	// context adds to the set a write is validated with what the kind's
	// checks read beyond its parent, siblings, children and references.
	context func(s *Server, ctx context.Context, tx store.Reader, set *bodySet, id arm.ID) error
	// admission checks a write of the kind on the decoded set, instead of
	// the region rules every other kind meets.
	admission func(snap *resources.Snapshot, id arm.ID) error
	// apart kinds are validated apart from their siblings, and their
	// parent's writes without them: each meets its own admission.
	apart bool
	// wakes says a write changes what the provisioning engine watches.
	wakes bool
	// owned lists, from the stored body, the records Azure deletes with
	// the resource (a private endpoint's NIC).
	owned func(body object) []string
	// checkDelete checks a delete's query parameters.
	checkDelete func(query url.Values, id arm.ID) error
	// beginDelete starts a long-running delete and returns the
	// operation's URL; "" deletes the resource as a record.
	beginDelete func(s *Server, ctx context.Context, tx store.Tx, link opLink, id arm.ID, rec store.Record, cond store.Condition) (string, error)
	// deleted removes, after a delete committed, what the resource kept
	// outside the store (a job's logs).
	deleted func(s *Server, ctx context.Context, id arm.ID) error
}

// hooks are the kinds' hooks, by registered type.
var hooks = map[string]kindHooks{
	resources.TypeNSG:             {settle: func(id arm.ID, props, _ object) { props["defaultSecurityRules"] = defaultSecurityRules(id) }},
	resources.TypePeering:         {settle: func(_ arm.ID, props, cur object) { peeringState(props, cur) }},
	resources.TypePrivateEndpoint: {derive: (*Server).derivePrivateEndpoint, written: (*Server).refreshZoneGroups, owned: endpointNICs},
	resources.TypeWorkspace:       {derive: deriveWorkspace},
	// A zone group keeps its endpoint's A records in its zones; they go
	// with it.
	resources.TypeZoneGroup: {derive: (*Server).deriveZoneGroup, owned: zoneGroupRecords},
	// A compute's write may begin provisioning, and changes what the
	// engine watches (a lower minNodeCount lets idle nodes go); its
	// delete removes nodes and what Azure created for it first.
	resources.TypeCompute: {settle: func(_ arm.ID, props, _ object) { dropComputePassword(props) }, admit: (*Server).computeWrite, wakes: true, checkDelete: requireUnderlyingResourceAction, beginDelete: (*Server).deleteCompute,
		context: (*Server).addComputeContext, admission: computeAdmission, apart: true},
	// A service endpoint policy is written through the subnets that use
	// it: its writes are checked against them.
	resources.TypeSEP: {context: addReferrersContext},
	// A job is queued by its create and run by the engine's scheduler.
	resources.TypeJob: jobHooks,
	// A storage account's name addresses its blobs: it is unique, and its
	// blobs go with it.
	resources.TypeStorageAccount: {derive: deriveStorageAccount, deleted: removeBlobs},
}

// Types the control plane names, spelled by the registry.
const (
	typeResourceGroup    = resources.TypeResourceGroup
	typeVNet             = resources.TypeVirtualNetwork
	typePeering          = resources.TypePeering
	typeNSG              = resources.TypeNSG
	typeNIC              = resources.TypeNIC
	typeWorkspace        = resources.TypeWorkspace
	typeCompute          = resources.TypeCompute
	typeVM               = resources.TypeVirtualMachine
	typeLock             = resources.TypeLock
	typePolicyAssignment = resources.TypePolicyAssignment
)

// kinds are the generically served kinds, by lower-cased type. They are
// built in init: the hooks reach the write path, which looks kinds up.
var kinds map[string]*resourceKind

func init() { kinds = newKinds() }

func newKinds() map[string]*resourceKind {
	out := map[string]*resourceKind{}
	for _, k := range resources.Kinds() {
		if !k.OwnRoute {
			out[strings.ToLower(k.Type)] = &resourceKind{Kind: k, typ: k.Type, kindHooks: hooks[k.Type]}
		}
	}
	for typ := range hooks {
		if out[strings.ToLower(typ)] == nil {
			// Hooks for a type the handler does not serve would never
			// run: a programming error every test run meets at once.
			panic("api: hooks for " + typ + ", which is not a generically served kind")
		}
	}
	for _, k := range out {
		for _, c := range k.Kind.Children {
			k.children = append(k.children, out[strings.ToLower(c.Type)])
		}
		if p := k.Parent(); p != nil && k.apart {
			out[strings.ToLower(p.Type)].childrenApart = true
		}
	}
	return out
}

// kindOf returns the generically served kind of a full type, or nil.
func kindOf(typ string) *resourceKind { return kinds[strings.ToLower(typ)] }

// requireUnderlyingResourceAction: deleting a compute says what becomes of
// what it runs on, as Azure requires.
func requireUnderlyingResourceAction(query url.Values, id arm.ID) error {
	switch strings.ToLower(query.Get("underlyingResourceAction")) {
	case "delete", "detach":
		return nil
	}
	return newError(http.StatusBadRequest, "MissingRequiredParameter",
		"Deleting compute '%s' needs the query parameter underlyingResourceAction=Delete or Detach.", id.Leaf())
}
