package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// Computes: instances and clusters are provisioned (internal/provision).
// A PUT that creates one answers 201 with provisioningState Creating and
// an Azure-AsyncOperation the worker completes; DELETE, resize, stop,
// start and restart are long-running operations too. What provisioning
// owns in a compute's body (provisioningState, allocationState, node
// counts, state, errors) is the server's: requests cannot set it.

// runtimeFields are the keys of a compute's body that provisioning owns:
// in properties, and in properties.properties.
var runtimeFields = map[string][]string{
	"properties": {"provisioningState", "provisioningErrors", "createdOn", "modifiedOn", "isAttachedCompute"},
	"inner": {"allocationState", "allocationStateTransitionTime", "currentNodeCount", "targetNodeCount", "nodeStateCounts",
		"errors", "state", "lastOperation", "connectivityEndpoints", "applications", "createdBy", "versions", "osImageMetadata"},
}

// provisioned reports whether a compute type is provisioned here (the
// attached types are records only).
func provisioned(body object) bool {
	t := provision.ComputeKind(body)
	return t == provision.AmlCompute || t == provision.ComputeInstance
}

// computeWrite applies the provisioning rules to a compute PUT/PATCH
// (next, already normalised; cur the stored one or nil) and says which
// operation to begin: create for a new compute; resize when new scale
// settings put the current node count out of bounds.
func (s *Server) computeWrite(ctx context.Context, tx store.Reader, id arm.ID, cur, next object) (string, int, error) {
	if !provisioned(next) {
		return "", 0, nil
	}
	inner := arm.EnsureField(arm.EnsureField(next, "properties"), "properties")
	if _, _, err := provision.SizeOf(arm.Str(inner, "vmSize")); err != nil {
		var pe *provision.Error
		errors.As(err, &pe)
		return "", 0, newError(http.StatusBadRequest, pe.Code, "%s", pe.Message)
	}
	if d := arm.Str(arm.Field(inner, "scaleSettings"), "nodeIdleTimeBeforeScaleDown"); d != "" {
		if _, err := provision.ParseDuration(d); err != nil {
			return "", 0, newError(http.StatusBadRequest, "InvalidRequestContent", "scaleSettings.nodeIdleTimeBeforeScaleDown %q: %v", d, err)
		}
	}
	if cur == nil {
		for _, k := range runtimeFields["properties"] {
			delete(arm.EnsureField(next, "properties"), k)
		}
		for _, k := range runtimeFields["inner"] {
			delete(inner, k)
		}
		arm.EnsureField(next, "properties")["provisioningState"] = "Creating"
		if provision.ComputeKind(next) == provision.ComputeInstance {
			inner["state"] = "Creating"
		} else {
			inner["allocationState"], inner["currentNodeCount"], inner["targetNodeCount"] = "Steady", 0, 0
		}
		return provision.KindCreate, 0, nil
	}
	if provision.ComputeKind(cur) != provision.ComputeKind(next) {
		return "", 0, newError(http.StatusBadRequest, "BadRequest", "The computeType of compute '%s' cannot change.", id.Leaf())
	}
	// Everything but the scale settings is fixed once created (an
	// instance's size is immutable, spec §9).
	curInner := arm.Field(arm.Field(cur, "properties"), "properties")
	for _, k := range []string{"vmSize", "subnet", "enableNodePublicIp", "vmPriority", "osType", "sshSettings"} {
		a, _ := json.Marshal(curInner[k])
		b, _ := json.Marshal(inner[k])
		if !strings.EqualFold(string(a), string(b)) { // ids and sizes compare case-insensitively
			return "", 0, newError(http.StatusBadRequest, "BadRequest",
				"Property '%s' of compute '%s' cannot be updated; delete the compute and create it again.", k, id.Leaf())
		}
	}
	// Carry over what provisioning owns.
	for _, k := range runtimeFields["properties"] {
		if v, ok := arm.EnsureField(cur, "properties")[k]; ok {
			arm.EnsureField(next, "properties")[k] = v
		} else {
			delete(arm.EnsureField(next, "properties"), k)
		}
	}
	for _, k := range runtimeFields["inner"] {
		if v, ok := curInner[k]; ok {
			inner[k] = v
		} else {
			delete(inner, k)
		}
	}
	if provision.ComputeKind(next) != provision.AmlCompute {
		return "", 0, nil
	}
	ss := arm.Field(inner, "scaleSettings")
	minN, maxN := arm.Int(ss, "minNodeCount"), arm.Int(ss, "maxNodeCount")
	current := arm.Int(curInner, "currentNodeCount")
	if target := min(max(current, minN), maxN); target != current {
		if err := s.notBusy(ctx, tx, id); err != nil {
			return "", 0, err
		}
		provision.MarkResizing(next, target, s.clock.Now())
		return provision.KindResize, target, nil
	}
	return "", 0, nil
}

// notBusy refuses a second operation on a compute while one runs (ARM's
// 409 Conflict).
func (s *Server) notBusy(ctx context.Context, rd store.Reader, id arm.ID) error {
	op, err := provision.Busy(ctx, rd, id)
	if err != nil {
		return err
	}
	if op != "" {
		return newError(http.StatusConflict, "Conflict", "Compute '%s' has an operation in progress (%s); wait for it to finish.", id.Leaf(), op)
	}
	return nil
}

// deleteCompute starts the delete of a provisioned compute and returns its
// operation URL ("" for an attached compute, deleted as a record). Locks
// that would stop the delete of what Azure created for it are checked now,
// so that the delete fails at once (spec §10 #9).
func (s *Server) deleteCompute(ctx context.Context, tx store.Tx, link opLink, id arm.ID, rec store.Record, cond store.Condition) (string, error) {
	body, err := recordObject(rec)
	if err != nil || !provisioned(body) {
		return "", err
	}
	if cond.IfMatch != "" && cond.IfMatch != "*" && cond.IfMatch != rec.ETag {
		return "", fmt.Errorf("%s has etag %s, not %s: %w", id, rec.ETag, cond.IfMatch, store.ErrPreconditionFailed)
	}
	if err := s.notBusy(ctx, tx, id); err != nil {
		return "", err
	}
	for _, c := range provision.CreatedIDs(id, body) {
		if _, err := tx.Get(ctx, c.String()); err != nil {
			continue
		}
		if err := checkLocks(ctx, tx, c.Subscription, c.String(), true); err != nil {
			return "", err
		}
	}
	arm.EnsureField(body, "properties")["provisioningState"] = "Deleting"
	if err := s.putRuntime(ctx, tx, id, body); err != nil {
		return "", err
	}
	return s.beginOperation(ctx, tx, link, id, arm.Str(body, "location"), provision.KindDelete, 0)
}

// computeAction serves POST .../computes/{name}/{action}: resize (a
// cluster's node count, within its scale settings), stop, start and
// restart (an instance), listNodes.
func (s *Server) computeAction(w http.ResponseWriter, r *http.Request, who string, p resourcePath) error {
	action := strings.ToLower(p.types[len(p.types)-1])
	id := arm.ID{Subscription: p.sub, ResourceGroup: p.rg, Provider: p.ns, Types: p.types[:2], Names: p.names}
	if err := requireAPIVersion(r, "microsoft.machinelearningservices"); err != nil {
		return err
	}
	canonical := map[string]string{"resize": "resize", "stop": "stop", "start": "start", "restart": "restart", "listnodes": "listNodes"}[action]
	if canonical == "" {
		return newError(http.StatusNotFound, "InvalidResourceType", "Compute action '%s' is not supported: resize, stop, start, restart, listNodes.", p.types[2])
	}
	if r.Method != http.MethodPost {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s needs POST", canonical)
	}
	if err := s.authorize(r.Context(), who, typeCompute+"/"+canonical+"/action", id.String()); err != nil {
		return err
	}
	ctx := r.Context()
	if canonical == "listNodes" {
		return s.listNodes(w, r, id)
	}
	var target int
	if canonical == "resize" {
		var in struct {
			TargetNodeCount *int   `json:"targetNodeCount"`
			TargetVMSize    string `json:"targetVMSize"`
		}
		if err := decodeBody(r, &in); err != nil {
			return err
		}
		if in.TargetVMSize != "" {
			return newError(http.StatusBadRequest, "BadRequest", "The VM size of a compute cannot change; delete and create it again.")
		}
		if in.TargetNodeCount == nil {
			return newError(http.StatusBadRequest, "InvalidRequestContent", "resize needs targetNodeCount.")
		}
		target = *in.TargetNodeCount
	}
	var opURL string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := checkLocks(ctx, tx, id.Subscription, id.String(), false); err != nil {
			return err
		}
		rec, err := tx.Get(ctx, id.String())
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		body, err := recordObject(rec)
		if err != nil {
			return err
		}
		kind := provision.ComputeKind(body)
		switch {
		case canonical == "resize" && kind != provision.AmlCompute:
			return newError(http.StatusBadRequest, "BadRequest", "Only a compute cluster (AmlCompute) resizes; '%s' is a %s.", id.Leaf(), kind)
		case canonical != "resize" && kind != provision.ComputeInstance:
			return newError(http.StatusBadRequest, "BadRequest", "%s applies to a compute instance; '%s' is a %s.", canonical, id.Leaf(), kind)
		case arm.Str(arm.EnsureField(body, "properties"), "provisioningState") != "Succeeded":
			return newError(http.StatusConflict, "Conflict", "Compute '%s' is %s.", id.Leaf(), arm.Str(arm.EnsureField(body, "properties"), "provisioningState"))
		}
		if canonical == "resize" {
			ss := arm.Field(arm.Field(arm.Field(body, "properties"), "properties"), "scaleSettings")
			if minN, maxN := arm.Int(ss, "minNodeCount"), arm.Int(ss, "maxNodeCount"); target < minN || target > maxN {
				return newError(http.StatusBadRequest, "BadRequest", "targetNodeCount %d is outside the scale settings of '%s' (%d to %d nodes).", target, id.Leaf(), minN, maxN)
			}
		}
		if err := s.notBusy(ctx, tx, id); err != nil {
			return err
		}
		if canonical == "resize" {
			// The 202 is visible at once: a GET now shows Resizing.
			provision.MarkResizing(body, target, s.clock.Now())
			if err := s.putRuntime(ctx, tx, id, body); err != nil {
				return err
			}
		}
		opURL, err = s.beginOperation(ctx, tx, linkOf(r), id, arm.Str(body, "location"), canonical, target)
		return err
	})
	if err != nil {
		return err
	}
	s.engine.Wake()
	w.Header().Set("Azure-AsyncOperation", opURL)
	w.Header().Set("Location", opURL)
	w.Header().Set("Retry-After-Ms", retryAfterMs)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// listNodes answers Azure's AmlComputeNodesInformation.
func (s *Server) listNodes(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	if _, err := s.store.Get(r.Context(), id.String()); errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	} else if err != nil {
		return err
	}
	nodes, err := provision.Nodes(r.Context(), s.store, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
	return nil
}

// governance lets the provisioner write the resources Azure creates for a
// compute under the rules every client meets.
type governance struct{ s *Server }

func (g governance) Check(ctx context.Context, tx store.Reader, id arm.ID, body map[string]any) error {
	k := kindOf(id.Type())
	if k == nil {
		return fmt.Errorf("provisioning asked to write a %s", id.Type())
	}
	return g.s.checkPolicy(ctx, tx, k, id, body)
}

func (g governance) Put(ctx context.Context, tx store.Tx, id arm.ID, body map[string]any) error {
	k := kindOf(id.Type())
	if k == nil {
		return fmt.Errorf("provisioning asked to write a %s", id.Type())
	}
	if err := g.s.requireParent(ctx, tx, k, id); err != nil {
		return err
	}
	if err := checkLocks(ctx, tx, id.Subscription, id.String(), false); err != nil {
		return err
	}
	if err := g.s.checkPolicy(ctx, tx, k, id, body); err != nil {
		return err
	}
	next, err := normalize(k, id, body, nil)
	if err != nil {
		return err
	}
	_, err = g.s.putResource(ctx, tx, id, next, store.Condition{})
	return err
}

func (g governance) PutCompute(ctx context.Context, tx store.Tx, id arm.ID, body map[string]any) error {
	return g.s.putRuntime(ctx, tx, id, body)
}

// putRuntime stores a compute's body with new runtime fields (what
// provisioning owns): a new etag in the body and on the record, and its
// references indexed, as every write. The request checks (locks, policy,
// admission) are not made again: they judge what a client asks, and must
// not keep the server from recording what became of it.
func (s *Server) putRuntime(ctx context.Context, tx store.Tx, id arm.ID, body object) error {
	rec, err := tx.Get(ctx, id.String())
	if err != nil {
		return err
	}
	cur, err := recordObject(rec)
	if err != nil {
		return err
	}
	body["etag"] = etagFor(body, cur)
	raw, err := encodeResource(id, body)
	if err != nil {
		return err
	}
	_, err = putEncoded(ctx, tx, id, body, raw, store.Condition{})
	return err
}

func (g governance) Delete(ctx context.Context, tx store.Tx, id arm.ID) error {
	if err := checkLocks(ctx, tx, id.Subscription, id.String(), true); err != nil {
		return err
	}
	if err := releaseReferences(ctx, tx, id.String()); err != nil {
		return err
	}
	if err := tx.Delete(ctx, id.String(), store.Condition{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
