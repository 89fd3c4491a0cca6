package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// resourceGroupBody is what a resource group PUT may carry; read-only
// fields (id, name, type, properties) are accepted and ignored, anything
// else is refused.
type resourceGroupBody struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	ManagedBy  string            `json:"managedBy,omitempty"`
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Properties json.RawMessage   `json:"properties,omitempty"`
}

// resourceGroup is the representation returned.
type resourceGroup struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	ManagedBy  string            `json:"managedBy,omitempty"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

func resourceGroupID(sub, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + name
}

func (s *Server) resourceGroup(w http.ResponseWriter, r *http.Request, sub, name string) error {
	if err := checkPathName(r.Method, typeResourceGroup, name); err != nil {
		return err
	}
	id := resourceGroupID(sub, name)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.getRecord(w, r, id, newError(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name))
	case http.MethodPut:
		return s.putResourceGroup(w, r, sub, name)
	case http.MethodDelete:
		return s.deleteResourceGroup(w, r, sub, name)
	}
	return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a resource group", r.Method)
}

func (s *Server) putResourceGroup(w http.ResponseWriter, r *http.Request, sub, name string) error {
	var in resourceGroupBody
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.Location == "" {
		return newError(http.StatusBadRequest, "LocationRequired", "The location property is required for resource group '%s'.", name)
	}
	if err := checkLocation(typeResourceGroup, in.Location); err != nil {
		return err
	}
	id := resourceGroupID(sub, name)
	var status int
	var out store.Record
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		// The closure may be re-run (store.Store): it sets its answer and
		// the group's spelling afresh.
		status = http.StatusCreated
		id, name := id, name
		cur, err := tx.Get(r.Context(), id)
		switch {
		case err == nil:
			status = http.StatusOK
			var old resourceGroup
			if err := json.Unmarshal(cur.Body, &old); err != nil {
				return fmt.Errorf("stored resource group %s: %w", id, err)
			}
			if !strings.EqualFold(normalizeLocation(old.Location), normalizeLocation(in.Location)) {
				return newError(http.StatusConflict, "InvalidResourceGroupLocation",
					"Invalid resource group location '%s'. The Resource group already exists in location '%s'.", in.Location, old.Location)
			}
			id, name = cur.ID, old.Name // ARM keeps the name as first created
			if err := checkLocks(r.Context(), tx, sub, id, false); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		rg := resourceGroup{ID: id, Name: name, Type: typeResourceGroup, Location: normalizeLocation(in.Location), Tags: in.Tags, ManagedBy: in.ManagedBy}
		rg.Properties.ProvisioningState = "Succeeded"
		out, err = putJSON(r.Context(), tx, id, typeResourceGroup, rg, condition(r))
		return err
	})
	if err != nil {
		return err
	}
	return writeRecord(w, status, out)
}

// deleteResourceGroup deletes the group and everything in it, in one
// transaction.
func (s *Server) deleteResourceGroup(w http.ResponseWriter, r *http.Request, sub, name string) error {
	id := resourceGroupID(sub, name)
	var accounts []string // the storage accounts deleted, whose blobs go too
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		accounts = accounts[:0] // the closure may be re-run
		if err := checkLocks(r.Context(), tx, sub, id, true); err != nil {
			return err
		}
		if err := refuseActiveDeployments(r.Context(), tx, id); err != nil {
			return err
		}
		if err := releaseReferences(r.Context(), tx, id); err != nil {
			return err
		}
		if err := tx.Delete(r.Context(), id, condition(r)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return newError(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
			}
			return err
		}
		if err := store.Each(r.Context(), tx, store.Query{Scope: id, Type: resources.TypeStorageAccount}, func(rec store.Record) error {
			accounts = append(accounts, rec.ID)
			return nil
		}); err != nil {
			return err
		}
		// What its resources own outside it goes too (a zone group's
		// records in another group's zone).
		if err := deleteOwnedUnder(r.Context(), tx, id); err != nil {
			return err
		}
		_, err := tx.DeleteUnder(r.Context(), id)
		return err
	})
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if err := s.removeAccountBlobs(r.Context(), a); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) listResourceGroups(w http.ResponseWriter, r *http.Request, sub string) error {
	return s.list(w, r, "/subscriptions/"+sub, typeResourceGroup)
}

// list answers a GET of the resources of type typ under scope, a page at
// a time.
func (s *Server) list(w http.ResponseWriter, r *http.Request, scope, typ string) error {
	return s.listWhere(w, r, scope, typ, nil)
}

// listWhere is list of the records keep keeps (nil: all); a page may then
// hold fewer than $top, and still a nextLink.
func (s *Server) listWhere(w http.ResponseWriter, r *http.Request, scope, typ string, keep func(store.Record) bool) error {
	if r.Method != http.MethodGet {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a list", r.Method)
	}
	page, err := s.store.List(r.Context(), store.Query{Scope: scope, Type: typ, Limit: pageSize(r), After: r.URL.Query().Get("$skiptoken")})
	if err != nil {
		return err
	}
	if keep != nil {
		page.Records = slices.DeleteFunc(page.Records, func(rec store.Record) bool { return !keep(rec) })
	}
	return writePage(w, r, page)
}

// pageSize reads $top (ARM's page-size parameter), capped at the store's
// page.
func pageSize(r *http.Request) int {
	if n, err := strconv.Atoi(r.URL.Query().Get("$top")); err == nil && n > 0 {
		return min(n, store.MaxPage)
	}
	return store.MaxPage
}

// writePage writes ARM's list shape: value, and nextLink (an absolute URL
// on the host and scheme the client used) when there is more.
func writePage(w http.ResponseWriter, r *http.Request, page store.Page) error {
	value := make([]json.RawMessage, len(page.Records))
	for i, rec := range page.Records {
		value[i] = rec.Body
	}
	out := map[string]any{"value": value}
	if page.Next != "" {
		q := r.URL.Query()
		q.Set("$skiptoken", page.Next)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		out["nextLink"] = u.String()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getRecord answers a GET of id, with notFound when there is none.
func (s *Server) getRecord(w http.ResponseWriter, r *http.Request, id string, notFound error) error {
	rec, err := s.store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	return writeRecord(w, http.StatusOK, rec)
}

// writeRecord writes a resource with its etag.
func writeRecord(w http.ResponseWriter, status int, rec store.Record) error {
	w.Header().Set("ETag", rec.ETag)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(rec.Body)
	return err
}

// putJSON stores v as the record of id.
func putJSON(ctx context.Context, tx store.Tx, id, typ string, v any, cond store.Condition) (store.Record, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return store.Record{}, fmt.Errorf("encode %s: %w", id, err)
	}
	return tx.Put(ctx, store.Record{ID: id, Type: typ, Body: body}, cond)
}
