package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"securetrain/internal/arm"
	"strings"

	"securetrain/internal/store"
)

// Management locks (Microsoft.Authorization/locks) at subscription and
// resource-group scope. CanNotDelete refuses deletes under the scope,
// ReadOnly refuses every write under it; locks themselves stay manageable.

type lockBody struct {
	ID         string `json:"id,omitempty"`
	Name       string `json:"name,omitempty"`
	Type       string `json:"type,omitempty"`
	Properties struct {
		Level  string            `json:"level"`
		Notes  string            `json:"notes,omitempty"`
		Owners []json.RawMessage `json:"owners,omitempty"`
	} `json:"properties"`
}

// lockLevels are the levels ARM knows, canonical spelling by lower case.
var lockLevels = map[string]string{"cannotdelete": "CanNotDelete", "readonly": "ReadOnly"}

// lockRoute handles .../providers/Microsoft.Authorization/locks[/{name}]
// under scope (a subscription or resource group id).
func (s *Server) lockRoute(w http.ResponseWriter, r *http.Request, who, scope, name string) error {
	if err := s.requireAPIVersion(r, who, typeLock); err != nil {
		return err
	}
	if name == "" {
		return s.list(w, r, scope, typeLock)
	}
	if err := checkPathName(r.Method, typeLock, name); err != nil {
		return err
	}
	id := scope + "/providers/" + typeLock + "/" + name
	if err := s.requireScope(r.Context(), scope); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return s.getRecord(w, r, id, newError(http.StatusNotFound, "LockNotFound", "The lock '%s' could not be found.", name))
	case http.MethodPut:
		var in lockBody
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		level, ok := lockLevels[strings.ToLower(in.Properties.Level)]
		if !ok {
			return newError(http.StatusBadRequest, "LockLevelRequired", "properties.level must be CanNotDelete or ReadOnly, got %q.", in.Properties.Level)
		}
		var status int
		var out store.Record
		err := s.store.Update(r.Context(), func(tx store.Tx) error {
			status = http.StatusCreated // the closure may be re-run (store.Store)
			if _, err := tx.Get(r.Context(), id); err == nil {
				status = http.StatusOK
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			in.ID, in.Name, in.Type, in.Properties.Level = id, name, typeLock, level
			var err error
			out, err = putJSON(r.Context(), tx, id, typeLock, in, condition(r))
			return err
		})
		if err != nil {
			return err
		}
		return writeRecord(w, status, out)
	case http.MethodDelete:
		err := s.store.Update(r.Context(), func(tx store.Tx) error { return tx.Delete(r.Context(), id, condition(r)) })
		if errors.Is(err, store.ErrNotFound) {
			w.WriteHeader(http.StatusNoContent) // ARM: deleting a missing lock is 204
			return nil
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a lock", r.Method)
}

// requireScope checks that a resource-group scope exists (a subscription
// always does).
func (s *Server) requireScope(ctx context.Context, scope string) error {
	segs := strings.Split(strings.Trim(scope, "/"), "/")
	if len(segs) < 4 {
		return nil
	}
	if _, err := s.store.Get(ctx, scope); errors.Is(err, store.ErrNotFound) {
		return newError(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", segs[3])
	} else if err != nil {
		return err
	}
	return nil
}

// checkLocks refuses an operation on target when a lock at or above it
// forbids it: deletes under CanNotDelete or ReadOnly, other writes under
// ReadOnly. ARM answers 409 ScopeLocked naming the locked scopes.
func checkLocks(ctx context.Context, tx store.Reader, sub, target string, isDelete bool) error {
	var locked []string
	err := store.Each(ctx, tx, store.Query{Scope: "/subscriptions/" + sub, Type: typeLock}, func(rec store.Record) error {
		scope := rec.ID[:strings.Index(strings.ToLower(rec.ID), "/providers/microsoft.authorization/locks/")]
		if !arm.Within(target, scope) {
			return nil
		}
		var l lockBody
		if err := json.Unmarshal(rec.Body, &l); err != nil {
			return fmt.Errorf("stored lock %s: %w", rec.ID, err)
		}
		if isDelete || l.Properties.Level == "ReadOnly" {
			locked = append(locked, fmt.Sprintf("%s (%s lock %s)", scope, l.Properties.Level, l.Name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(locked) == 0 {
		return nil
	}
	op := "write"
	if isDelete {
		op = "delete"
	}
	return newError(http.StatusConflict, "ScopeLocked",
		"The scope '%s' cannot perform %s operation because following scope(s) are locked: %s. Please remove the lock and try again.",
		target, op, strings.Join(locked, ", "))
}
