package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// The resource service between the HTTP handlers and the store: a write
// or delete of a generically served kind is one store transaction made of
// named steps, with each kind's own behaviour in its hooks (kinds.go).
// A transaction's closure depends only on the transaction and the
// request, and sets afresh everything its answer is made of, so that a
// store may re-run it (store.Store).

// opLink is where the operations a request begins are polled: its
// scheme, host and api-version.
type opLink struct{ scheme, host, apiVersion string }

// linkOf is the operation link of a request.
func linkOf(r *http.Request) opLink {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return opLink{scheme: scheme, host: r.Host, apiVersion: r.URL.Query().Get("api-version")}
}

// writeRequest is a PUT or PATCH as the handler read it.
type writeRequest struct {
	kind  *resourceKind
	id    arm.ID
	patch bool
	// body is the request's JSON, its ids canonicalised; each run of the
	// transaction decodes its own copy, since a run edits it in place.
	body []byte
	cond store.Condition
	link opLink
}

// writeResult is what a write did.
type writeResult struct {
	status int
	rec    store.Record
	child  object // an inline child's stored object; nil for a record
	opURL  string
	// opKind is the provisioning operation an admit hook began; "" for
	// a plain write's.
	opKind string
}

// write applies req in one transaction.
func (s *Server) write(ctx context.Context, req writeRequest) (writeResult, error) {
	var res writeResult
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		res, err = s.writeTx(ctx, tx, req)
		return err
	})
	if err == nil && req.kind.wakes {
		s.engine.Wake()
	}
	return res, err
}

// writeTarget is what a write finds in the store.
type writeTarget struct {
	parent object // an inline child's parent body
	cur    object // the stored resource, nil when it does not exist
	rec    store.Record
}

// writeTx is one run of a write: parents and locks, what exists, PATCH
// and preconditions, normalisation and the kind's hooks, in-use inline
// children, policy, storage and the operation it begins.
func (s *Server) writeTx(ctx context.Context, tx store.Tx, req writeRequest) (writeResult, error) {
	k, id := req.kind, req.id
	in, err := decodeObject(req.body)
	if err != nil {
		return writeResult{}, err
	}
	if err := s.requireParent(ctx, tx, k, id); err != nil {
		return writeResult{}, err
	}
	if err := checkLocks(ctx, tx, id.Subscription, id.String(), false); err != nil {
		return writeResult{}, err
	}
	t, err := s.writeTarget(ctx, tx, k, id)
	if err != nil {
		return writeResult{}, err
	}
	res := writeResult{status: k.Created}
	switch {
	case req.patch && t.cur == nil:
		return writeResult{}, notFound(id)
	case req.patch:
		mergePatch(t.cur, in)
		in, res.status = t.cur, http.StatusOK
	case t.cur != nil:
		res.status = k.Updated
	}
	cond := req.cond
	if k.Inline != "" {
		// An inline child has its own etag inside its parent's record.
		if err := checkChildCondition(id, t.cur, cond); err != nil {
			return writeResult{}, err
		}
		cond = store.Condition{}
	}
	next, err := normalize(k, id, in, t.cur)
	if err != nil {
		return writeResult{}, err
	}
	var target int
	if res.opKind, target, err = s.runWriteHooks(ctx, tx, k, id, t.cur, next); err != nil {
		return writeResult{}, err
	}
	if err := droppedInUse(ctx, tx, k, id, t.cur, next); err != nil {
		return writeResult{}, err
	}
	recID, body := id, next
	if k.Inline != "" {
		recID, _ = id.Parent()
		body = withChild(t.parent, k, id, next)
		res.child = next
	}
	if err := s.checkPolicy(ctx, tx, k, id, next); err != nil {
		return writeResult{}, err
	}
	if res.rec, err = s.putResource(ctx, tx, recID, body, cond); err != nil {
		return writeResult{}, err
	}
	if k.written != nil {
		if err := k.written(s, ctx, tx, id); err != nil {
			return writeResult{}, err
		}
	}
	location := arm.Str(body, "location")
	switch {
	case res.opKind != "":
		res.opURL, err = s.beginOperation(ctx, tx, req.link, id, location, res.opKind, target)
	case k.LongRunning && !req.patch:
		res.opURL, err = s.beginOperation(ctx, tx, req.link, id, location, provision.KindWrite, 0)
	}
	return res, err
}

// writeTarget reads what a write of id replaces: its record, or for an
// inline child its parent's record and the child in it. A missing
// resource is no error; a missing parent is one.
func (s *Server) writeTarget(ctx context.Context, tx store.Reader, k *resourceKind, id arm.ID) (writeTarget, error) {
	parent, cur, rec, err := s.find(ctx, tx, k, id)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.status == http.StatusNotFound) {
		return writeTarget{}, err
	}
	if k.Inline != "" && parent == nil {
		return writeTarget{}, err // the parent is gone (requireParent saw it in this transaction: unreachable)
	}
	if k.Inline == "" && err == nil {
		if cur, err = recordObject(rec); err != nil {
			return writeTarget{}, err
		}
	}
	return writeTarget{parent: parent, cur: cur, rec: rec}, nil
}

// runWriteHooks runs the kind's derive and admit hooks on the normalised
// body, and gives it a new etag if they changed it.
func (s *Server) runWriteHooks(ctx context.Context, tx store.Tx, k *resourceKind, id arm.ID, cur, next object) (opKind string, target int, err error) {
	if k.derive == nil && k.admit == nil {
		return "", 0, nil
	}
	if k.derive != nil {
		if err := k.derive(s, ctx, tx, id, cur, next); err != nil {
			return "", 0, err
		}
	}
	if k.admit != nil {
		if opKind, target, err = k.admit(s, ctx, tx, id, cur, next); err != nil {
			return "", 0, err
		}
	}
	next["etag"] = etagFor(next, cur)
	return opKind, target, nil
}

// withChild puts the inline child next, of kind k and id, into parent
// (replacing the one of its name) and returns parent.
func withChild(parent object, k *resourceKind, id arm.ID, next object) object {
	props := arm.EnsureField(parent, "properties")
	list, _ := props[k.Inline].([]any)
	if i, _ := findChild(parent, k.Inline, id.Leaf()); i >= 0 {
		list[i] = next
	} else {
		props[k.Inline] = append(list, next)
	}
	return parent
}

// deleteRequest is a DELETE as the handler read it.
type deleteRequest struct {
	kind *resourceKind
	id   arm.ID
	cond store.Condition
	link opLink
}

// delete applies req in one transaction and returns the URL of the
// operation it begins ("" when the resource is gone at once).
func (s *Server) delete(ctx context.Context, req deleteRequest) (string, error) {
	var opURL string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		opURL, err = s.deleteTx(ctx, tx, req)
		return err
	})
	if err == nil && req.kind.wakes {
		s.engine.Wake()
	}
	if err == nil && req.kind.deleted != nil {
		err = req.kind.deleted(s, ctx, req.id)
	}
	return opURL, err
}

// deleteTx is one run of a delete: locks, what exists, the kind's
// long-running delete, what holds it, then the record (with what Azure
// deletes with it and what lives under it) or the inline child.
func (s *Server) deleteTx(ctx context.Context, tx store.Tx, req deleteRequest) (string, error) {
	k, id := req.kind, req.id
	if err := checkLocks(ctx, tx, id.Subscription, id.String(), true); err != nil {
		return "", err
	}
	parent, child, rec, err := s.find(ctx, tx, k, id)
	if err != nil {
		return "", err
	}
	if k.beginDelete != nil {
		if opURL, err := k.beginDelete(s, ctx, tx, req.link, id, rec, req.cond); opURL != "" || err != nil {
			return opURL, err
		}
	}
	if err := releaseReferences(ctx, tx, id.String()); err != nil {
		return "", err
	}
	if k.Inline != "" {
		return "", deleteChild(ctx, tx, k, id, parent, child, rec, req.cond)
	}
	if err := tx.Delete(ctx, id.String(), req.cond); err != nil {
		return "", err
	}
	if err := deleteOwned(ctx, tx, k, rec); err != nil {
		return "", err
	}
	if err := deleteOwnedUnder(ctx, tx, id.String()); err != nil {
		return "", err
	}
	_, err = tx.DeleteUnder(ctx, id.String())
	return "", err
}

// deleteChild removes the inline child (of kind k, id and object child)
// from parent, the body of rec, and stores rec.
func deleteChild(ctx context.Context, tx store.Tx, k *resourceKind, id arm.ID, parent, child object, rec store.Record, cond store.Condition) error {
	if err := checkChildCondition(id, child, cond); err != nil {
		return err
	}
	i, _ := findChild(parent, k.Inline, id.Leaf())
	props := arm.EnsureField(parent, "properties")
	props[k.Inline] = slices.Delete(props[k.Inline].([]any), i, i+1)
	pid, _ := id.Parent()
	raw, err := json.Marshal(parent)
	if err != nil {
		return fmt.Errorf("encode %s: %w", pid, err)
	}
	_, err = tx.Put(ctx, store.Record{ID: rec.ID, Type: rec.Type, Body: raw, ETag: arm.Str(parent, "etag"), Refs: arm.RefsOutside(parent, pid.String())}, store.Condition{})
	return err
}

// operationURL is where the operation opID is polled.
func (l opLink) operationURL(opID string) string {
	q := url.Values{"api-version": {l.apiVersion}}
	return (&url.URL{Scheme: l.scheme, Host: l.host, Path: opID, RawQuery: q.Encode()}).String()
}
