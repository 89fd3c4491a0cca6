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
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
	"securetrain/internal/store"
)

// The verifier's model of a subscription, as provisioning and Network
// Watcher read it. Writes keep references whole (releaseReferences), but
// a store may still hold a broken one: data written before those checks,
// or a restored backup. Such a resource is left out of the model with its
// problem (Snapshot.Excluded), and so is whatever depends on it, so that
// one broken reference breaks only what needs it — and leaving out is
// never more permissive: what used the resource becomes unusable.

// storedBody is one record's contribution to the model.
type storedBody struct {
	id   arm.ID
	body []byte
}

// compileSubscription decodes every resource of the subscription and
// compiles the network. The records are read in one read transaction, so
// that the pages of the listing are one moment's state.
func (s *Server) compileSubscription(ctx context.Context, sub string) (*netverify.Network, error) {
	var snap *resources.Snapshot
	err := s.store.View(ctx, func(tx store.Reader) error {
		var recs []storedBody
		err := store.Each(ctx, tx, store.Query{Scope: "/subscriptions/" + sub, Limit: store.MaxPage}, func(rec store.Record) error {
			if kindOf(rec.Type) == nil {
				return nil // resource groups, operations, RBAC, locks: not part of the network
			}
			id, err := arm.ParseID(rec.ID, "")
			if err != nil {
				return fmt.Errorf("stored id %q: %w", rec.ID, err)
			}
			recs = append(recs, storedBody{id, rec.Body})
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading the resources of subscription %s: %w", sub, err)
		}
		snap, err = decodeStored(recs, func(id arm.ID) (bool, error) { return storedExists(ctx, tx, id) }, arm.ID{})
		if err != nil {
			return modelError(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range snap.Excluded {
		// Once per problem: models are built on every provisioning pass.
		if _, seen := s.excludedLogged.LoadOrStore(p.ID.Key()+"\x00"+p.Message, true); !seen {
			s.log.Warn("a stored resource is left out of the network model: what needs it fails until it is fixed",
				"resource", p.ID.String(), "problem", p.String())
		}
	}
	n, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		return nil, modelError(err)
	}
	return n, nil
}

// decodeStored decodes recs, leaving out (Snapshot.Excluded) what does not
// decode and what depends on it — except the record written, which must
// decode whole (its error then also gives why what it needs is left out).
// Each round leaves out at least one more part or stops with the error,
// so it ends.
func decodeStored(recs []storedBody, exists func(arm.ID) (bool, error), written arm.ID) (*resources.Snapshot, error) {
	excluded := map[string]resources.Problem{} // by the id key of the part left out
	gone := func(id arm.ID) bool {
		for {
			if _, ok := excluded[id.Key()]; ok {
				return true
			}
			p, ok := id.Parent()
			if !ok {
				return false
			}
			id = p
		}
	}
	for {
		bodies := make([][]byte, 0, len(recs))
		for _, r := range recs {
			if gone(r.id) {
				continue
			}
			body, err := withoutExcludedChildren(r, gone)
			if err != nil {
				return nil, err
			}
			bodies = append(bodies, body)
		}
		snap, err := resources.DecodeARM(bodies, func(id arm.ID) (bool, error) {
			if gone(id) {
				return false, nil
			}
			return exists(id)
		})
		var fe *resources.FileError
		if !errors.As(err, &fe) {
			if snap != nil {
				for _, p := range excluded {
					snap.Excluded = append(snap.Excluded, p)
				}
				slices.SortFunc(snap.Excluded, func(a, b resources.Problem) int { return strings.Compare(a.ID.Key(), b.ID.Key()) })
			}
			return snap, err
		}
		progress := false
		for _, p := range fe.Problems {
			if !written.IsZero() && arm.Within(p.ID.String(), written.String()) {
				for _, x := range excluded {
					fe.Problems = append(fe.Problems, x)
				}
				return nil, fe
			}
		}
		for _, p := range fe.Problems {
			if p.ID.IsZero() {
				return nil, err // not one resource's: the state as a whole is unreadable
			}
			unit := exclusionUnit(p.ID)
			if _, ok := excluded[unit.Key()]; !ok {
				p.ID = unit
				excluded[unit.Key()] = p
				progress = true
			}
		}
		if !progress {
			return nil, err
		}
	}
}

// exclusionUnit is the smallest part of the store that can be left out
// for a problem on id without making the rest more permissive: a subnet or
// a peering on its own (what uses them becomes unusable), a rule
// collection group's whole policy (a group may hold the deny that another
// group's allow comes after), else the record that holds id (an NSG for a
// rule).
func exclusionUnit(id arm.ID) arm.ID {
	for x := id; ; {
		switch t := x.Type(); {
		case strings.EqualFold(t, resources.TypeSubnet), strings.EqualFold(t, typePeering):
			return x
		case strings.EqualFold(t, resources.TypeRuleGroup):
			p, _ := x.Parent()
			return p
		}
		p, ok := x.Parent()
		if !ok {
			return recordIDOf(id)
		}
		x = p
	}
}

// withoutExcludedChildren is r's body without the inline children (a
// VNet's subnets and peerings) that are left out.
func withoutExcludedChildren(r storedBody, gone func(arm.ID) bool) ([]byte, error) {
	k := kindOf(r.id.Type())
	if len(k.children) == 0 {
		return r.body, nil
	}
	var o object
	changed := false
	for _, ck := range k.children {
		if o == nil {
			var err error
			if o, err = arm.DecodeBody(r.body); err != nil {
				return nil, fmt.Errorf("stored %s: %w", r.id, err)
			}
		}
		props := arm.EnsureField(o, "properties")
		list, _ := props[ck.Inline].([]any)
		kept := slices.DeleteFunc(slices.Clone(list), func(c any) bool {
			co, _ := c.(object)
			return gone(r.id.Child(ck.Leaf(), arm.Str(co, "name")))
		})
		if len(kept) != len(list) {
			props[ck.Inline], changed = kept, true
		}
	}
	if !changed {
		return r.body, nil
	}
	return json.Marshal(o)
}

// modelError reports stored resources that do not decode or compile
// together: the state, not the request, is at fault.
func modelError(err error) error {
	var fe *resources.FileError
	var ce *netverify.CompileError
	if errors.As(err, &fe) || errors.As(err, &ce) {
		return newError(http.StatusConflict, "InvalidNetworkConfiguration",
			"The subscription's network resources cannot be evaluated together: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return err
}
