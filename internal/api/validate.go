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
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Validation on write: the record about to be stored is decoded by
// resources.DecodeARM — the decoder `securetrain check` runs on files —
// together with the stored records its checks look at (its parent and
// siblings, its own children, what it references). References beyond
// those are answered from the store. A compute is also put through
// requirements.Admission, the rules Azure applies when it creates one; any
// other record through requirements.RegionAdmission, the region rules of
// what it holds and of the subnets that use it (a service endpoint
// policy's writes are checked against those subnets).

// bodySet collects the bodies to decode, each record once.
type bodySet struct {
	ctx    context.Context
	tx     store.Reader
	seen   map[string]bool
	bodies []storedBody
}

func (b *bodySet) add(id string, body []byte) {
	if k := store.Key(id); !b.seen[k] {
		b.seen[k] = true
		if pid, err := arm.ParseID(id, ""); err == nil {
			b.bodies = append(b.bodies, storedBody{pid, body})
		}
	}
}

// addRecord adds the stored record of id, if there is one (a missing one
// is the decoder's to report).
func (b *bodySet) addRecord(id string) (store.Record, bool, error) {
	if b.seen[store.Key(id)] {
		return store.Record{}, false, nil
	}
	rec, err := b.tx.Get(b.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	b.add(rec.ID, rec.Body)
	return rec, true, nil
}

// addUnder adds the records strictly under scope, of type typ if set.
func (b *bodySet) addUnder(scope, typ string) error {
	return store.Each(b.ctx, b.tx, store.Query{Scope: scope, Type: typ}, func(rec store.Record) error {
		if kindOf(rec.Type) != nil { // not locks, role assignments or operations kept under a resource
			b.add(rec.ID, rec.Body)
		}
		return nil
	})
}

// addReferenced adds the records that body references, each with the
// records it is a child of (a resolver's outbound endpoint needs its
// resolver to decode).
func (b *bodySet) addReferenced(body object, self string) error {
	for _, ref := range arm.RefsOutside(body, self) {
		id, err := arm.ParseID(ref, "")
		if err != nil {
			continue
		}
		for rid, ok := recordIDOf(id), true; ok; rid, ok = rid.Parent() {
			if _, _, err := b.addRecord(rid.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordIDOf is the id of the record that holds id: itself, or for an
// inline child (a subnet) or a part (a load balancer's pool) its parent.
func recordIDOf(id arm.ID) arm.ID {
	for {
		if k := kindOf(id.Type()); k != nil && k.Inline == "" {
			return id
		}
		p, ok := id.Parent()
		if !ok {
			return id
		}
		id = p
	}
}

// validate checks the record recID is about to get (body, raw): the
// record decoded with its parent, siblings, children and what it
// references (and what its kind's context hook adds), then its kind's
// admission (a compute's), else the region rules.
func (s *Server) validate(ctx context.Context, tx store.Reader, recID arm.ID, body object, raw []byte) error {
	k := kindOf(recID.Type())
	set := &bodySet{ctx: ctx, tx: tx, seen: map[string]bool{}}
	set.add(recID.String(), raw)
	if pid, ok := recID.Parent(); ok {
		if _, _, err := set.addRecord(pid.String()); err != nil {
			return err
		}
		if !k.apart { // siblings: record sets, rules and links are checked together
			if err := set.addUnder(pid.String(), ""); err != nil {
				return err
			}
		}
	}
	if !k.childrenApart {
		if err := set.addUnder(recID.String(), ""); err != nil {
			return err
		}
	}
	if err := set.addReferenced(body, recID.String()); err != nil {
		return err
	}
	if k.context != nil {
		if err := k.context(s, ctx, tx, set, recID); err != nil {
			return err
		}
	}
	exists := func(id arm.ID) (bool, error) { return storedExists(ctx, tx, id) }
	// The stored records around it may hold a broken reference (older
	// data): left out unless the written record needs them.
	snap, err := decodeStored(set.bodies, exists, recID)
	if err != nil {
		return problemsError(err)
	}
	if k.admission != nil {
		return k.admission(snap, recID)
	}
	fs := requirements.RegionAdmission(snap, recID)
	if len(fs) == 0 {
		return nil
	}
	return admissionError(fs[0].Code, fs)
}

// computeAdmission checks a compute against what Azure ML requires of it
// (requirements.Admission).
func computeAdmission(snap *resources.Snapshot, id arm.ID) error {
	for _, c := range snap.Computes {
		if c.ID.Equal(id) {
			return admissionError("BadRequest", requirements.Admission(snap, c))
		}
	}
	return nil
}

// addReferrersContext adds the records that reference id: a service
// endpoint policy's subnets, for the region rules.
func addReferrersContext(_ *Server, _ context.Context, _ store.Reader, set *bodySet, id arm.ID) error {
	return set.addReferrers(id.String())
}

// addReferrers adds the stored records that reference id.
func (b *bodySet) addReferrers(id string) error {
	refs, err := b.tx.Referrers(b.ctx, id)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if _, _, err := b.addRecord(ref); err != nil {
			return err
		}
	}
	return nil
}

// addComputeContext adds what Admission looks at: the workspace's private
// endpoints (and their subnets), the other computes of the subscription
// (compute instance names are unique per region), and the NSGs of the
// VNets involved.
func (s *Server) addComputeContext(ctx context.Context, tx store.Reader, set *bodySet, id arm.ID) error {
	ws, _ := id.Parent()
	refs, err := tx.Referrers(ctx, ws.String())
	if err != nil {
		return err
	}
	for _, ref := range refs {
		rid, err := arm.ParseID(ref, "")
		if err != nil || !strings.EqualFold(rid.Type(), resources.TypePrivateEndpoint) {
			continue
		}
		rec, ok, err := set.addRecord(ref)
		if err != nil {
			return err
		}
		if ok {
			pe, err := recordObject(rec)
			if err != nil {
				return err
			}
			if err := set.addReferenced(pe, rec.ID); err != nil {
				return err
			}
		}
	}
	if err := set.addUnder("/subscriptions/"+id.Subscription, typeCompute); err != nil {
		return err
	}
	// Admission checks the rules of the compute's subnet NSG: add what the
	// VNets in the set reference.
	for _, b := range slices.Clone(set.bodies) {
		if !strings.EqualFold(b.id.Type(), resources.TypeVirtualNetwork) {
			continue
		}
		vnet, err := arm.DecodeBody(b.body)
		if err != nil {
			return fmt.Errorf("stored %s: %w", b.id, err)
		}
		if err := set.addReferenced(vnet, b.id.String()); err != nil {
			return err
		}
	}
	return nil
}

// storedExists reports whether the store holds id: its record, or the
// inline child or part inside its parent's record.
func storedExists(ctx context.Context, tx store.Reader, id arm.ID) (bool, error) {
	rid := recordIDOf(id)
	rec, err := tx.Get(ctx, rid.String())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil || len(rid.Types) == len(id.Types) {
		return err == nil, err
	}
	o, err := recordObject(rec)
	if err != nil {
		return false, err
	}
	_, c := findChild(o, id.Types[len(rid.Types)], id.Names[len(rid.Types)])
	return c != nil, nil
}

// problemsError turns the decoder's problems into one ARM error: the first
// problem's code (Azure's, where it has a specific one) and every problem
// in details.
func problemsError(err error) error {
	var fe *resources.FileError
	if !errors.As(err, &fe) || len(fe.Problems) == 0 {
		return err
	}
	out := &apiError{status: http.StatusBadRequest, code: fe.Problems[0].Code}
	if out.code == "" {
		out.code = "InvalidRequestContent"
	}
	msgs := make([]string, len(fe.Problems))
	for i, p := range fe.Problems {
		msgs[i] = p.String()
		code := p.Code
		if code == "" {
			code = "InvalidRequestContent"
		}
		out.details = append(out.details, &apiError{code: code, message: p.Message, target: p.Resource})
	}
	out.message = strings.Join(msgs, "; ")
	return out
}

// admissionError refuses a write with the findings Azure refuses it for,
// under code: Azure ML's BadRequest for a compute; for the network's region
// rules, whose Azure codes are not documented, the first finding's code.
func admissionError(code string, fs []requirements.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	out := &apiError{status: http.StatusBadRequest, code: code}
	var msgs []string
	for _, f := range fs {
		msgs = append(msgs, f.Message)
		out.details = append(out.details, &apiError{code: f.Code, message: f.Message + ". Fix: " + f.Fix, target: f.Resource})
	}
	out.message = strings.Join(msgs, "; ")
	return out
}

// linkedAction is an action a write needs on a resource it links to.
type linkedAction struct {
	action string
	target arm.ID
}

// joinableParts are the parts of kinds (not kinds themselves) whose
// reference needs their join action; the kinds' verbs are the registry's
// (resources.Kind.Join).
var joinableParts = []string{"Microsoft.Network/publicIPPrefixes", "Microsoft.Network/loadBalancers/backendAddressPools"}

// linkedActionsFor are the actions a write of writeType needs on the
// resource ref it references (a compute in a subnet needs subnets/join and
// virtualNetworks/join, spec §1; a peering needs virtualNetworks/peer on
// the remote VNet). References to other types need nothing.
func linkedActionsFor(writeType string, ref arm.ID) []linkedAction {
	typ, verb := ref.Type(), ""
	if k := resources.KindOf(typ); k != nil {
		typ, verb = k.Type, k.Join
	} else if i := slices.IndexFunc(joinableParts, func(p string) bool { return strings.EqualFold(p, typ) }); i >= 0 {
		typ, verb = joinableParts[i], "join"
	}
	if verb == "" {
		return nil
	}
	if typ == typeVNet && strings.HasPrefix(strings.ToLower(writeType), strings.ToLower(typeVNet)) {
		verb = "peer" // a VNet (its peering) links to its remote
	}
	out := []linkedAction{{typ + "/" + verb + "/action", ref}}
	if typ == resources.TypeSubnet {
		vnet, _ := ref.Parent()
		out = append(out, linkedAction{typeVNet + "/join/action", vnet})
	}
	return out
}

// authorizeLinked checks the linked actions on every resource the request
// body (already canonical: canonicalizeIDs) links to; a missing one is
// ARM's 403 LinkedAuthorizationFailed.
func (s *Server) authorizeLinked(ctx context.Context, who, writeType string, action string, body object, self string) error {
	for _, ref := range arm.RefsOutside(body, self) {
		id, err := arm.ParseID(ref, "")
		if err != nil {
			continue // RefsOutside yields only parsed ids
		}
		for _, need := range linkedActionsFor(writeType, id) {
			ok, err := s.permitted(ctx, who, need.action, need.target.String(), false)
			if err != nil {
				return err
			}
			if !ok {
				return newError(http.StatusForbidden, "LinkedAuthorizationFailed",
					"The client '%s' has permission to perform action '%s' on scope '%s', however it does not have permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
					who, action, self, need.action, need.target)
			}
		}
	}
	return nil
}

// checkPolicy refuses a write that an enforced policy assignment at or
// above the resource denies (403 RequestDisallowedByPolicy), as
// resources.PolicyAssignment.Denies decides for `check` too: the built-in
// "Not allowed resource types", and securetrain's deny-property-value
// definition (docs/api.md).
func (s *Server) checkPolicy(ctx context.Context, tx store.Reader, k *resourceKind, id arm.ID, body object) error {
	return store.Each(ctx, tx, store.Query{Scope: "/subscriptions/" + id.Subscription, Type: typePolicyAssignment}, func(rec store.Record) error {
		// Fail closed: a policy that cannot be read does not silently
		// refuse nothing.
		snap, err := resources.DecodeStored(rec.Body)
		if err != nil {
			return fmt.Errorf("stored policy assignment %s cannot be evaluated: %w", rec.ID, err)
		}
		if len(snap.PolicyAssignments) != 1 {
			return fmt.Errorf("stored record %s is not one policy assignment", rec.ID)
		}
		a := snap.PolicyAssignments[0]
		denied, why := a.Denies(id, k.typ, body)
		if !denied {
			return nil
		}
		ids, _ := json.Marshal([]any{object{ // decoded JSON always encodes
			"policyAssignment": object{"name": a.ID.Leaf(), "id": rec.ID},
			"policyDefinition": object{"id": a.PolicyDefinitionID},
		}})
		return newError(http.StatusForbidden, "RequestDisallowedByPolicy",
			"Resource '%s' was disallowed by policy (%s). Policy identifiers: '%s'.", id.Name(), why, ids)
	})
}
