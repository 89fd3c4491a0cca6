package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// The generic resource handler: every provider resource type of kinds.go,
// at /subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}[/{child}/{name}]
// (and subscription-level lists and policy assignments). Each write is one
// store transaction that checks the resource group or parent, locks and
// preconditions, validates the result with the environment-file decoder
// (resources.DecodeARM) and stores it with its references.

// resourcePath is a parsed provider path: an item when len(names) equals
// len(types), else the collection of the last type.
type resourcePath struct {
	sub, rg, ns  string
	types, names []string
}

func (p resourcePath) collection() bool { return len(p.names) < len(p.types) }

func (p resourcePath) fullType() string { return p.ns + "/" + strings.Join(p.types, "/") }

// id is the item's id (for a collection, that of its parent or group).
func (p resourcePath) id() arm.ID {
	n := len(p.names)
	return arm.ID{Subscription: p.sub, ResourceGroup: p.rg, Provider: p.ns, Types: p.types[:n], Names: p.names}
}

// scope is what a collection is listed under.
func (p resourcePath) scope() string {
	switch {
	case len(p.names) > 0:
		return p.id().String()
	case p.rg != "":
		return resourceGroupID(p.sub, p.rg)
	}
	return "/subscriptions/" + p.sub
}

// parseResourcePath reads segs (unescaped path segments) as a provider
// path, or reports false.
func parseResourcePath(segs, lower []string) (resourcePath, bool) {
	p := resourcePath{sub: segs[1]}
	at := 2
	if len(segs) > 4 && lower[2] == "resourcegroups" {
		p.rg, at = segs[3], 4
	}
	if len(segs) < at+3 || lower[at] != "providers" {
		return p, false
	}
	p.ns = segs[at+1]
	rest := segs[at+2:]
	for i, s := range rest {
		if i%2 == 0 {
			p.types = append(p.types, s)
		} else {
			p.names = append(p.names, s)
		}
	}
	return p, true
}

// checkPathName applies the naming rule of typ (resources.CheckName) to a
// name in a request path. A write must meet the type's rule; a read,
// delete or action also finds what an earlier version stored under ARM's
// looser rule for any name. No name can smuggle a path segment.
func checkPathName(method, typ, name string) error {
	check := resources.CheckStoredName
	if method == http.MethodPut || method == http.MethodPatch {
		check = resources.CheckName
	}
	var ne *resources.NameError
	if errors.As(check(typ, name), &ne) {
		return newError(http.StatusBadRequest, ne.Code, "%s", ne)
	}
	return nil
}

// checkIDNames applies checkPathName to each name of a resource id's
// types and names.
func checkIDNames(method, ns string, types, names []string) error {
	for i, n := range names {
		if err := checkPathName(method, ns+"/"+strings.Join(types[:i+1], "/"), n); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) resourceRoute(w http.ResponseWriter, r *http.Request, who string, p resourcePath) error {
	if err := checkIDNames(r.Method, p.ns, p.types, p.names); err != nil {
		return err
	}
	if strings.EqualFold(p.ns, "Microsoft.Network") && len(p.types) == 2 && len(p.names) == 1 && strings.EqualFold(p.types[0], "networkWatchers") {
		return s.watcherRoute(w, r, who, p)
	}
	if strings.EqualFold(p.ns, "Microsoft.MachineLearningServices") && len(p.types) == 3 && len(p.names) == 2 &&
		strings.EqualFold(p.types[0], "workspaces") && strings.EqualFold(p.types[1], "computes") {
		return s.computeAction(w, r, who, p)
	}
	if strings.EqualFold(p.ns, "Microsoft.MachineLearningServices") && len(p.types) == 3 && len(p.names) == 2 &&
		strings.EqualFold(p.types[0], "workspaces") && strings.EqualFold(p.types[1], "jobs") {
		return s.jobAction(w, r, who, p)
	}
	k := kindOf(p.fullType())
	if k == nil {
		return newError(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s'.",
			strings.Join(p.types, "/"), p.ns)
	}
	if err := s.requireAPIVersion(r, who, k.typ); err != nil {
		return err
	}
	if p.rg == "" && len(p.types) == 1 && !p.collection() && !k.AtSubscription {
		return newError(http.StatusNotFound, "InvalidResourceType", "%s resources live in a resource group: /subscriptions/%s/resourceGroups/{name}/providers/%s/{name}.",
			k.typ, p.sub, k.typ)
	}
	if p.collection() {
		if err := s.authorize(r.Context(), who, k.typ+"/read", p.scope()); err != nil {
			return err
		}
		return s.listResources(w, r, p, k)
	}
	id := p.id()
	if err := s.authorize(r.Context(), who, k.typ+"/"+methodVerb(r.Method), id.String()); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		_, child, rec, err := s.find(r.Context(), s.store, k, id)
		if err != nil {
			return err
		}
		return writeResource(w, http.StatusOK, child, rec)
	case http.MethodPut, http.MethodPatch:
		return s.writeResource(w, r, who, k, id)
	case http.MethodDelete:
		return s.deleteResource(w, r, k, id)
	}
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on %s", r.Method, k.typ)
}

// find reads a resource: its own record, or for an inline child the
// parent's record and the child object in it.
func (s *Server) find(ctx context.Context, rd store.Reader, k *resourceKind, id arm.ID) (parent object, child object, rec store.Record, err error) {
	if k.Inline == "" {
		rec, err = rd.Get(ctx, id.String())
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, rec, notFound(id)
		}
		return nil, nil, rec, err
	}
	pid, _ := id.Parent()
	rec, err = rd.Get(ctx, pid.String())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, rec, notFound(pid)
	}
	if err != nil {
		return nil, nil, rec, err
	}
	parent, err = recordObject(rec)
	if err != nil {
		return nil, nil, rec, err
	}
	_, child = findChild(parent, k.Inline, id.Leaf())
	if child == nil {
		return parent, nil, rec, newError(http.StatusNotFound, "NotFound", "Resource %s not found.", id)
	}
	return parent, child, rec, nil
}

func notFound(id arm.ID) error {
	if id.ResourceGroup == "" {
		return newError(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
	}
	return newError(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found.",
		id.Provider+"/"+strings.Join(id.Types, "/"), id.Name(), id.ResourceGroup)
}

// findChild finds the inline child named name (case-insensitive) in
// parent's properties[key]: its index and object, or -1 and nil.
func findChild(parent object, key, name string) (int, object) {
	list, _ := arm.EnsureField(parent, "properties")[key].([]any)
	for i, it := range list {
		if c, ok := it.(object); ok && strings.EqualFold(arm.Str(c, "name"), name) {
			return i, c
		}
	}
	return -1, nil
}

// writeResource answers with a resource: an inline child's object, or a
// record's body; with its etag.
func writeResource(w http.ResponseWriter, status int, child object, rec store.Record) error {
	if child == nil {
		return writeRecord(w, status, rec)
	}
	if etag := arm.Str(child, "etag"); etag != "" {
		w.Header().Set("ETag", etag)
	}
	writeJSON(w, status, child)
	return nil
}

func (s *Server) listResources(w http.ResponseWriter, r *http.Request, p resourcePath, k *resourceKind) error {
	if r.Method != http.MethodGet {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a list", r.Method)
	}
	if p.rg != "" {
		if err := s.requireScope(r.Context(), resourceGroupID(p.sub, p.rg)); err != nil {
			return err
		}
	}
	if k.Inline == "" {
		if len(p.names) > 0 {
			if _, err := s.store.Get(r.Context(), p.scope()); errors.Is(err, store.ErrNotFound) {
				return notFound(p.id())
			} else if err != nil {
				return err
			}
		}
		if k.typ == resources.TypeJob {
			return s.listJobs(w, r, p.scope())
		}
		return s.list(w, r, p.scope(), k.typ)
	}
	rec, err := s.store.Get(r.Context(), p.scope())
	if errors.Is(err, store.ErrNotFound) {
		return notFound(p.id())
	}
	if err != nil {
		return err
	}
	parent, err := recordObject(rec)
	if err != nil {
		return err
	}
	value := arm.Items(arm.EnsureField(parent, "properties"), k.Inline)
	writeJSON(w, http.StatusOK, map[string]any{"value": value})
	return nil
}

// writeResource handles PUT (create or replace) and PATCH (a JSON merge
// patch of the stored resource): it reads the request, has the write
// service apply it (service.go), and answers.
func (s *Server) writeResource(w http.ResponseWriter, r *http.Request, who string, k *resourceKind, id arm.ID) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	in, err := decodeObject(data)
	if err != nil {
		return err
	}
	if err := checkVersionFields(k, r.URL.Query().Get("api-version"), in); err != nil {
		return err
	}
	// One spelling before anything reads the references: what is
	// authorized is what is indexed, compared and provisioned.
	if err := canonicalizeIDs(in, id.Subscription); err != nil {
		return err
	}
	if err := s.authorizeLinked(r.Context(), who, k.typ, r.Method+" "+k.typ, in, id.String()); err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode the request for %s: %w", id, err)
	}
	patch := r.Method == http.MethodPatch
	res, err := s.write(r.Context(), writeRequest{kind: k, id: id, patch: patch, body: body, cond: condition(r), link: linkOf(r)})
	if err != nil {
		return err
	}
	// A PATCH is synchronous in ARM (computes accept only 200): a resize it
	// starts shows as allocationState Resizing, not as an operation.
	if res.opURL != "" && !patch {
		w.Header().Set("Azure-AsyncOperation", res.opURL)
		w.Header().Set("Retry-After-Ms", retryAfterDone)
		if res.opKind != "" {
			w.Header().Set("Retry-After-Ms", retryAfterMs)
		}
	}
	return writeResource(w, res.status, res.child, res.rec)
}

// putResource validates body as the record of recID and stores it in tx,
// with its etag and the references it makes.
func (s *Server) putResource(ctx context.Context, tx store.Tx, recID arm.ID, body object, cond store.Condition) (store.Record, error) {
	raw, err := encodeResource(recID, body)
	if err != nil {
		return store.Record{}, err
	}
	if err := s.validate(ctx, tx, recID, body, raw); err != nil {
		return store.Record{}, err
	}
	return putEncoded(ctx, tx, recID, body, raw, cond)
}

// encodeResource canonicalises the ids body references and encodes it.
func encodeResource(recID arm.ID, body object) ([]byte, error) {
	if err := canonicalizeIDs(body, recID.Subscription); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", recID, err)
	}
	return raw, nil
}

// putEncoded stores raw, body's encoding, as the record of recID: the
// record's etag is the body's, and its references are indexed.
func putEncoded(ctx context.Context, tx store.Tx, recID arm.ID, body object, raw []byte, cond store.Condition) (store.Record, error) {
	return tx.Put(ctx, store.Record{ID: recID.String(), Type: kindOf(recID.Type()).typ, Body: raw, ETag: arm.Str(body, "etag"),
		Refs: arm.RefsOutside(body, recID.String())}, cond)
}

// canonicalizeIDs rewrites the ids body references into their canonical
// spelling (arm.CanonicalizeIDs), refusing one that is not an id.
func canonicalizeIDs(body object, sub string) error {
	_, err := arm.CanonicalizeIDs(body, sub)
	var ie *arm.IDError
	if errors.As(err, &ie) {
		return newError(http.StatusBadRequest, "LinkedInvalidPropertyId", "Property id at path '%s' is invalid: %v.", ie.Path, ie.Err)
	}
	return err
}

// requireParent checks that the resource group, and the parent resource
// of a child, exist.
func (s *Server) requireParent(ctx context.Context, tx store.Reader, k *resourceKind, id arm.ID) error {
	if id.ResourceGroup != "" {
		if _, err := tx.Get(ctx, resourceGroupID(id.Subscription, id.ResourceGroup)); errors.Is(err, store.ErrNotFound) {
			return newError(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", id.ResourceGroup)
		} else if err != nil {
			return err
		}
	}
	pid, ok := id.Parent()
	if !ok {
		return nil
	}
	if _, err := tx.Get(ctx, pid.String()); errors.Is(err, store.ErrNotFound) {
		return newError(http.StatusNotFound, "ParentResourceNotFound",
			"Can not perform requested operation on nested resource. Parent resource '%s' not found.", pid.Name())
	} else if err != nil {
		return err
	}
	return nil
}

// checkChildCondition applies If-Match / If-None-Match to an inline
// child, which has its own etag inside its parent's record.
func checkChildCondition(id arm.ID, cur object, cond store.Condition) error {
	etag := arm.Str(cur, "etag")
	switch {
	case cond.IfNoneMatch == "*" && cur != nil,
		cond.IfNoneMatch != "" && cond.IfNoneMatch != "*" && cur != nil && cond.IfNoneMatch == etag,
		cond.IfMatch != "" && cur == nil,
		cond.IfMatch != "" && cond.IfMatch != "*" && cond.IfMatch != etag:
		return fmt.Errorf("%s has etag %q (If-Match %q, If-None-Match %q): %w", id, etag, cond.IfMatch, cond.IfNoneMatch, store.ErrPreconditionFailed)
	}
	return nil
}

// normalize builds the stored representation of a resource from a request
// body: the envelope's id, name, type and etag are the server's, the
// location is ARM's spelling, properties carry provisioningState, inline
// children get theirs, and NSGs get Azure's default rules. cur is the
// stored resource, or nil.
func normalize(k *resourceKind, id arm.ID, in, cur object) (object, error) {
	out := object{}
	for key, v := range in {
		switch key {
		case "id", "name", "type", "etag", "systemData":
			// read-only: the server's own values replace them
		default:
			out[key] = v
		}
	}
	out["id"], out["name"], out["type"] = id.String(), id.Leaf(), k.typ
	if loc, ok := out["location"].(string); ok {
		if err := checkLocation(k.typ, loc); err != nil {
			return nil, err
		}
		out["location"] = normalizeLocation(loc)
	} else if k.Inline == "" && len(id.Types) == 1 && !k.AtSubscription {
		return nil, newError(http.StatusBadRequest, "LocationRequired", "The location property is required for %s '%s'.", k.typ, id.Name())
	}
	if cur != nil && arm.Str(cur, "location") != "" && out["location"] != nil && !strings.EqualFold(arm.Str(cur, "location"), arm.Str(out, "location")) {
		return nil, newError(http.StatusConflict, "InvalidResourceLocation",
			"The resource '%s' already exists in location '%s'. A resource with the same name cannot be created in location '%s'.",
			id.Name(), arm.Str(cur, "location"), arm.Str(out, "location"))
	}
	props, ok := out["properties"].(object)
	if !ok {
		if out["properties"] != nil {
			return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "properties of %s '%s' must be an object.", k.typ, id.Name())
		}
		props = object{}
		out["properties"] = props
	}
	if !k.NoProvisioningState {
		props["provisioningState"] = "Succeeded"
	}
	var curProps object
	if cur != nil {
		curProps, _ = cur["properties"].(object)
	}
	for _, ck := range k.children {
		list, ok := props[ck.Inline].([]any)
		if !ok {
			continue
		}
		for i, it := range list {
			c, ok := it.(object)
			if !ok {
				continue // the decoder reports it
			}
			name := arm.Str(c, "name")
			_, old := findChild(object{"properties": curProps}, ck.Inline, name)
			if resources.CheckName(ck.typ, name) != nil {
				continue // the decoder names the problem
			}
			nc, err := normalize(ck, id.Child(ck.Leaf(), name), c, old)
			if err != nil {
				return nil, err
			}
			list[i] = nc
		}
	}
	if k.settle != nil {
		k.settle(id, props, cur)
	}
	out["etag"] = etagFor(out, cur)
	return out, nil
}

// peeringState keeps peeringState Azure's to set: a client's value is
// dropped, and a peering that its remote VNet's delete left Disconnected
// stays so while it names the same remote (Azure: delete and re-create it).
func peeringState(props, cur object) {
	delete(props, "peeringState")
	if cur == nil {
		return
	}
	was := arm.EnsureField(cur, "properties")
	remote := func(p object) string { return arm.Str(arm.EnsureField(p, "remoteVirtualNetwork"), "id") }
	if arm.Str(was, "peeringState") == string(resources.PeeringDisconnected) && arm.FoldKey(remote(was)) == arm.FoldKey(remote(props)) {
		props["peeringState"] = string(resources.PeeringDisconnected)
	}
}

// etagFor keeps the stored etag when the resource is unchanged but for
// etags (a repeated PUT, or a parent PUT that repeats a child as it was),
// else gives a new one.
func etagFor(next, cur object) string {
	if cur != nil && withoutETags(next) == withoutETags(cur) {
		return arm.Str(cur, "etag")
	}
	return store.NewETag()
}

// withoutETags is v's JSON with every "etag" left out.
func withoutETags(v any) string {
	var strip func(v any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case object:
			c := make(object, len(x))
			for k, e := range x {
				if k != "etag" {
					c[k] = strip(e)
				}
			}
			return c
		case []any:
			c := make([]any, len(x))
			for i, e := range x {
				c[i] = strip(e)
			}
			return c
		}
		return v
	}
	b, _ := json.Marshal(strip(v)) // decoded JSON always encodes
	return string(b)
}

// defaultSecurityRules are the rules Azure puts at the end of every NSG,
// in Azure's representation.
func defaultSecurityRules(nsg arm.ID) []any {
	var out []any
	for _, r := range resources.DefaultSecurityRules(nsg, "") {
		out = append(out, object{
			"id": r.ID.String(), "name": r.ID.Leaf(), "type": typeNSG + "/defaultSecurityRules",
			"properties": object{
				"description": r.Description, "protocol": string(r.Protocol), "sourcePortRange": "*", "destinationPortRange": "*",
				"sourceAddressPrefix": r.SourcePrefixes[0], "destinationAddressPrefix": r.DestinationPrefixes[0],
				"access": string(r.Access), "priority": r.Priority, "direction": string(r.Direction), "provisioningState": "Succeeded",
			},
		})
	}
	return out
}

// deleteResource deletes a resource that nothing holds (the delete
// service, service.go): ARM's in-use errors name what references it.
// Deleting what does not exist is 204.
func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request, k *resourceKind, id arm.ID) error {
	if k.checkDelete != nil {
		if err := k.checkDelete(r.URL.Query(), id); err != nil {
			return err
		}
	}
	opURL, err := s.delete(r.Context(), deleteRequest{kind: k, id: id, cond: condition(r), link: linkOf(r)})
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusNotFound && ae.code != "ParentResourceNotFound" {
		w.WriteHeader(http.StatusNoContent) // ARM: deleting what is not there succeeds
		return nil
	}
	if err != nil {
		return err
	}
	if opURL != "" {
		// What the resource runs on goes first (a compute's nodes and
		// what Azure created for it): a long-running delete.
		w.Header().Set("Azure-AsyncOperation", opURL)
		w.Header().Set("Location", opURL)
		w.Header().Set("Retry-After-Ms", retryAfterMs)
		s.engine.Wake()
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// droppedInUse refuses a write that leaves out inline children (a VNet
// PUT without one of its subnets deletes it, as in Azure) that are in use.
func droppedInUse(ctx context.Context, tx store.Tx, k *resourceKind, id arm.ID, cur, next object) error {
	for _, ck := range k.children {
		for _, c := range arm.Items(arm.EnsureField(cur, "properties"), ck.Inline) {
			if _, kept := findChild(next, ck.Inline, arm.Str(c, "name")); kept != nil {
				continue
			}
			if err := releaseReferences(ctx, tx, id.Child(ck.Leaf(), arm.Str(c, "name")).String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseReferences prepares the delete of scope (a resource, an inline
// child or a resource group, with everything in it): a record outside it
// that references something inside it holds it, with ARM's in-use code of
// the kind referenced — except a peering to a VNet inside it, which Azure
// leaves Disconnected, and references to kinds that nothing holds (a
// private endpoint's workspace). So a delete never leaves a reference the
// model cannot read.
func releaseReferences(ctx context.Context, tx store.Tx, scope string) error {
	from, err := tx.Referrers(ctx, scope)
	if err != nil {
		return err
	}
	var held *resourceKind // the kind of the first resource held, and its id
	var heldID arm.ID
	var holders []string
	for _, f := range from {
		if arm.Within(f, scope) {
			continue // deleted with it
		}
		rec, err := tx.Get(ctx, f)
		if err != nil {
			return fmt.Errorf("referrer %s of %s: %w", f, scope, err)
		}
		body, err := recordObject(rec)
		if err != nil {
			return err
		}
		disconnect := false
		for _, ref := range arm.RefsOutside(body, rec.ID) {
			if !arm.Within(ref, scope) {
				continue
			}
			id, err := arm.ParseID(ref, "")
			if err != nil {
				continue // RefsOutside yields only parsed ids
			}
			if strings.EqualFold(id.Type(), typeVNet) && strings.EqualFold(rec.Type, typeVNet) {
				disconnect = true // a VNet references another only through its peerings
				continue
			}
			if k := holdingKind(id); k != nil && k.InUse != "" {
				if held == nil {
					held, heldID = k, id
				}
				holders = append(holders, rec.ID)
				break
			}
		}
		if disconnect {
			if err := disconnectPeerings(ctx, tx, rec, body, scope); err != nil {
				return err
			}
		}
	}
	if held != nil {
		return newError(http.StatusBadRequest, held.InUse, "%s %s is in use by %s and cannot be deleted.",
			held.Leaf(), heldID, strings.Join(holders, ", "))
	}
	return nil
}

// holdingKind is the kind whose in-use rule applies to a reference to id:
// its own, or for a part (a load balancer's backend pool) its owner's.
func holdingKind(id arm.ID) *resourceKind {
	for {
		if k := kindOf(id.Type()); k != nil {
			return k
		}
		p, ok := id.Parent()
		if !ok {
			return nil
		}
		id = p
	}
}

// disconnectPeerings marks the peerings of the VNet record rec whose remote
// VNet is inside scope Disconnected, as Azure does when that VNet is
// deleted; they keep its id and carry no traffic until re-created.
func disconnectPeerings(ctx context.Context, tx store.Tx, rec store.Record, vnet object, scope string) error {
	for _, p := range arm.Items(arm.EnsureField(vnet, "properties"), "virtualNetworkPeerings") {
		props := arm.EnsureField(p, "properties")
		if arm.Within(arm.Str(arm.EnsureField(props, "remoteVirtualNetwork"), "id"), scope) {
			props["peeringState"] = string(resources.PeeringDisconnected)
			p["etag"] = store.NewETag()
		}
	}
	vnet["etag"] = store.NewETag()
	raw, err := json.Marshal(vnet)
	if err != nil {
		return fmt.Errorf("encode %s: %w", rec.ID, err)
	}
	_, err = tx.Put(ctx, store.Record{ID: rec.ID, Type: rec.Type, Body: raw, ETag: arm.Str(vnet, "etag"), Refs: arm.RefsOutside(vnet, rec.ID)}, store.Condition{})
	return err
}

// checkVersionFields refuses a body field that the request's api-version
// of k does not carry (a storage account's accountType after 2015-06-15),
// as Azure's deserializer of that version has no such member.
func checkVersionFields(k *resourceKind, version string, in object) error {
	if err := resources.CheckVersionFields(k.typ, version, in); err != nil {
		return newError(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v.", err)
	}
	return nil
}
