package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/requirements"
	"securetrain/internal/store"
)

// The studio (internal/studio) is a second face over this server, not a
// second authority: it sends every read and write through ServeHTTP with
// the signed-in principal's bearer token, so that authentication, RBAC,
// locks, policy and validation are the ones every API client meets. What
// it needs beyond ARM's routes is here, behind the same token lookup and
// the same permission evaluator.

// Principal authenticates r as every request is (its bearer token, looked
// up in the store) and returns the principal's name.
func (s *Server) Principal(r *http.Request) (string, error) { return s.authenticate(r) }

// Permitted reports whether the principal of r may perform action on
// target, by the evaluator that authorizes requests: the studio asks it
// to decide which buttons to show, never to decide what is allowed.
func (s *Server) Permitted(r *http.Request, action, target string) (bool, error) {
	who, err := s.authenticate(r)
	if err != nil {
		return false, err
	}
	return s.permitted(r.Context(), who, action, target, false)
}

// PreflightRequest is what ServePreflight judges: the id a compute would
// be created at and the body its PUT would send.
type PreflightRequest struct {
	ID      string          `json:"id"`
	Compute json.RawMessage `json:"compute"`
}

// PreflightAnswer is the verdict on a compute before it is created.
type PreflightAnswer struct {
	Report requirements.ComputeReport `json:"report"`
	// FreeAddresses is what the compute's subnet has left before it; nil
	// without a subnet.
	FreeAddresses *int `json:"freeAddresses,omitempty"`
}

// ServePreflight answers a PreflightRequest (POST, JSON) with a
// PreflightAnswer: the rules `securetrain check` applies to a compute,
// run on the subscription's network as it is now (the cached compilation
// the provisioner reads), for a compute that does not exist yet. It needs
// what creating the compute needs (computes/write on it, join on its
// subnet and VNet), since it reveals what creating it would; it writes
// nothing. Errors are ARM's.
func (s *Server) ServePreflight(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	who, err := s.authenticate(r)
	if err == nil {
		err = s.computePreflight(w, r, who)
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("preflight failed", "err", err)
		}
		writeError(w, err)
	}
	s.log.Info("preflight", "principal", who, "ms", float64(time.Since(start).Microseconds())/1000)
}

func (s *Server) computePreflight(w http.ResponseWriter, r *http.Request, who string) error {
	if r.Method != http.MethodPost {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The pre-flight check needs POST.")
	}
	var in PreflightRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	id, err := arm.ParseID(in.ID, "")
	if err != nil || !strings.EqualFold(id.Type(), typeCompute) {
		return newError(http.StatusBadRequest, "InvalidRequestContent",
			"The pre-flight check needs the id of a compute (/subscriptions/{s}/resourceGroups/{g}/providers/%s/{workspace}/computes/{name}); got '%s'.",
			typeWorkspace, in.ID)
	}
	ctx := r.Context()
	if err := s.authorize(ctx, who, typeCompute+"/write", id.String()); err != nil {
		return err
	}
	body, err := decodeObject(in.Compute)
	if err != nil {
		return err
	}
	if err := canonicalizeIDs(body, id.Subscription); err != nil {
		return err
	}
	if err := s.authorizeLinked(ctx, who, typeCompute, "PUT "+typeCompute, body, id.String()); err != nil {
		return err
	}
	if _, err := s.store.Get(ctx, id.String()); err == nil {
		return newError(http.StatusConflict, "Conflict", "Compute '%s' exists already in workspace '%s': choose another name.", id.Leaf(), id.Names[0])
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	next, err := normalize(kindOf(typeCompute), id, body, nil)
	if err != nil {
		return err
	}
	c, err := computeOf(next)
	if err != nil {
		return newError(http.StatusBadRequest, "InvalidRequestContent", "Compute '%s': %v", id.Leaf(), err)
	}
	if _, _, err := provision.SizeOf(c.VMSize); err != nil {
		var pe *provision.Error
		errors.As(err, &pe)
		return newError(http.StatusBadRequest, pe.Code, "%s", pe.Message)
	}
	// The proposal is compiled with the subscription's network as it is
	// (the cached snapshot): the flows of a compute depend on what Azure ML
	// would create for it, which only a compilation holds.
	current, err := s.network(ctx, id.Subscription)
	if err != nil {
		return fmt.Errorf("pre-flight of %s: %w", id, err)
	}
	n, err := netverify.Compile(current.Snapshot().WithCompute(c), current.ServiceTags())
	if err != nil {
		return modelError(err)
	}
	rep, err := requirements.CheckCompute(n, c, requirements.Options{})
	if err != nil {
		return fmt.Errorf("pre-flight of %s: %w", id, err)
	}
	answer := PreflightAnswer{Report: rep}
	if c.Subnet.IsSet() {
		if free, ok := requirements.FreeAddresses(current.Snapshot(), c.Subnet.ID); ok {
			answer.FreeAddresses = &free
		}
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}
