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
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Computes: instances and clusters are provisioned (internal/provision).
// A PUT that creates one answers 201 with provisioningState Creating and
// an Azure-AsyncOperation the worker completes; DELETE, resize, stop,
// start and restart are long-running operations too. What provisioning
// owns in a compute's body (provisioningState, allocationState, node
// counts, state, errors) is the server's: requests cannot set it.

// storedCompute decodes a compute's body, typed (resources.Compute): what
// the API reads of its shape. An error is a shape error, which validation
// reports when the body is written.
func storedCompute(body []byte) (*resources.Compute, error) {
	snap, err := resources.DecodeStored(body)
	if err != nil {
		return nil, err
	}
	if len(snap.Computes) != 1 {
		return nil, errors.New("the body is not one compute")
	}
	return snap.Computes[0], nil
}

// computeOf decodes a compute body the API holds as an object.
func computeOf(body object) (*resources.Compute, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("compute body: %w", err)
	}
	return storedCompute(raw)
}

// provisioned reports whether a compute type is provisioned here (the
// attached types are records only).
func provisioned(c *resources.Compute) bool {
	return c.ComputeType == resources.ComputeAml || c.ComputeType == resources.ComputeInstance
}

// runtimeFields are the keys of a compute's body that provisioning owns,
// in properties and in properties.properties.
func runtimeFields(c *resources.Compute) (props, inner []string) {
	if c.ComputeType == resources.ComputeInstance {
		return resources.ComputeRuntimeProperties, resources.InstanceRuntimeFields
	}
	return resources.ComputeRuntimeProperties, resources.ClusterRuntimeFields
}

// computeWrite applies the provisioning rules to a compute PUT/PATCH
// (next, already normalised; cur the stored one or nil) and says which
// operation to begin: create for a new compute; resize when new scale
// settings put the current node count out of bounds.
func (s *Server) computeWrite(ctx context.Context, tx store.Reader, id arm.ID, cur, next object) (string, int, error) {
	c, err := computeOf(next)
	if err != nil || !provisioned(c) {
		return "", 0, nil // a shape error: validation refuses the write with it
	}
	if _, err := provision.SizeOf(c.VMSize); err != nil {
		var pe *provision.Error
		errors.As(err, &pe)
		return "", 0, newError(http.StatusBadRequest, pe.Code, "%s", pe.Message)
	}
	if d := c.NodeIdleTimeBeforeScaleDown; d != "" {
		if _, err := provision.ParseDuration(d); err != nil {
			return "", 0, newError(http.StatusBadRequest, "InvalidRequestContent", "scaleSettings.nodeIdleTimeBeforeScaleDown %q: %v", d, err)
		}
	}
	props := arm.EnsureField(next, "properties")
	inner := arm.EnsureField(props, "properties")
	propFields, innerFields := runtimeFields(c)
	if cur == nil {
		for _, k := range propFields {
			delete(props, k)
		}
		for _, k := range innerFields {
			delete(inner, k)
		}
		props["provisioningState"] = "Creating"
		if c.ComputeType == resources.ComputeInstance {
			inner["state"] = "Creating"
		} else {
			inner["allocationState"], inner["currentNodeCount"], inner["targetNodeCount"] = "Steady", 0, 0
		}
		return provision.KindCreate, 0, nil
	}
	was, err := computeOf(cur)
	if err != nil {
		return "", 0, fmt.Errorf("stored compute %s: %w", id, err)
	}
	if was.ComputeType != c.ComputeType {
		return "", 0, newError(http.StatusBadRequest, "BadRequest", "The computeType of compute '%s' cannot change.", id.Leaf())
	}
	if strings.EqualFold(arm.Str(arm.Field(cur, "properties"), "provisioningState"), "Failed") {
		return "", 0, failedComputeError(id, cur)
	}
	// Everything but the scale settings is fixed once created (an
	// instance's size is immutable, spec §9): compared as written, so
	// that no part of a setting changes unnoticed.
	curProps := arm.Field(cur, "properties")
	curInner := arm.Field(curProps, "properties")
	for _, k := range []string{"vmSize", "subnet", "enableNodePublicIp", "vmPriority", "osType", "sshSettings"} {
		a, _ := json.Marshal(curInner[k])
		b, _ := json.Marshal(inner[k])
		if !strings.EqualFold(string(a), string(b)) { // ids and sizes compare case-insensitively
			return "", 0, newError(http.StatusBadRequest, "BadRequest",
				"Property '%s' of compute '%s' cannot be updated; delete the compute and create it again.", k, id.Leaf())
		}
	}
	// Carry over what provisioning owns.
	carry := func(from, to object, keys []string) {
		for _, k := range keys {
			if v, ok := from[k]; ok {
				to[k] = v
			} else {
				delete(to, k)
			}
		}
	}
	carry(curProps, props, propFields)
	carry(curInner, inner, innerFields)
	if c.ComputeType != resources.ComputeAml {
		return "", 0, nil
	}
	if target := min(max(was.CurrentNodeCount, c.MinNodeCount), c.MaxNodeCount); target != was.CurrentNodeCount {
		if err := s.notBusy(ctx, tx, id); err != nil {
			return "", 0, err
		}
		provision.MarkResizing(next, target, s.clock.Now())
		return provision.KindResize, target, nil
	}
	return "", 0, nil
}

// failedComputeError refuses a write to a compute whose provisioning
// failed: as in Azure ML, such a compute is not repaired by updating it;
// it is deleted and created again once the cause is fixed. The answer
// repeats the original failure's reasons, one detail each.
func failedComputeError(id arm.ID, cur object) *apiError {
	var details []*apiError
	state := "state Failed"
	errs, _ := arm.Field(cur, "properties")["provisioningErrors"].([]any)
	for i, item := range errs {
		pe, _ := item.(map[string]any)
		inner := arm.Field(pe, "error")
		details = append(details, newError(http.StatusBadRequest, arm.Str(inner, "code"), "%s", arm.Str(inner, "message")))
		state += map[bool]string{true: ": ", false: "; "}[i == 0] + arm.Str(inner, "code") + ": " + arm.Str(inner, "message")
	}
	e := newError(http.StatusBadRequest, "BadRequest",
		"Compute '%s' is in %s. A compute whose provisioning failed cannot be updated: delete it and create it again once the cause is fixed.", id.Leaf(), state)
	e.details = details
	return e
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
	c, err := storedCompute(rec.Body)
	if err != nil {
		return "", fmt.Errorf("stored compute %s: %w", id, err)
	}
	if !provisioned(c) {
		return "", nil
	}
	body, err := recordObject(rec)
	if err != nil {
		return "", err
	}
	if cond.IfMatch != "" && cond.IfMatch != "*" && cond.IfMatch != rec.ETag {
		return "", fmt.Errorf("%s has etag %s, not %s: %w", id, rec.ETag, cond.IfMatch, store.ErrPreconditionFailed)
	}
	if err := s.notBusy(ctx, tx, id); err != nil {
		return "", err
	}
	for _, c := range provision.CreatedIDs(rec.Body) {
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
// restart (an instance), listNodes, exec (exec.go).
func (s *Server) computeAction(w http.ResponseWriter, r *http.Request, who string, p resourcePath) error {
	action := strings.ToLower(p.types[len(p.types)-1])
	id := arm.ID{Subscription: p.sub, ResourceGroup: p.rg, Provider: p.ns, Types: p.types[:2], Names: p.names}
	if err := s.requireAPIVersion(r, who, typeCompute); err != nil {
		return err
	}
	canonical := map[string]string{"resize": "resize", "stop": "stop", "start": "start", "restart": "restart", "listnodes": "listNodes", "exec": "exec"}[action]
	if canonical == "" {
		return newError(http.StatusNotFound, "InvalidResourceType", "Compute action '%s' is not supported: resize, stop, start, restart, listNodes, exec.", p.types[2])
	}
	if r.Method != http.MethodPost {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s needs POST", canonical)
	}
	if err := s.authorize(r.Context(), who, typeCompute+"/"+canonical+"/action", id.String()); err != nil {
		return err
	}
	ctx := r.Context()
	switch canonical {
	case "listNodes":
		return s.listNodes(w, r, id)
	case "exec":
		return s.computeExec(w, r, id)
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
		rec, c, err := readCompute(ctx, tx, id)
		if err != nil {
			return err
		}
		body, err := recordObject(rec)
		if err != nil {
			return err
		}
		switch {
		case canonical == "resize" && c.ComputeType != resources.ComputeAml:
			return newError(http.StatusBadRequest, "BadRequest", "Only a compute cluster (AmlCompute) resizes; '%s' is a %s.", id.Leaf(), c.ComputeType)
		case canonical != "resize" && c.ComputeType != resources.ComputeInstance:
			return newError(http.StatusBadRequest, "BadRequest", "%s applies to a compute instance; '%s' is a %s.", canonical, id.Leaf(), c.ComputeType)
		case arm.Str(arm.EnsureField(body, "properties"), "provisioningState") != "Succeeded":
			return newError(http.StatusConflict, "Conflict", "Compute '%s' is %s.", id.Leaf(), arm.Str(arm.EnsureField(body, "properties"), "provisioningState"))
		}
		if canonical == "resize" && (target < c.MinNodeCount || target > c.MaxNodeCount) {
			return newError(http.StatusBadRequest, "BadRequest", "targetNodeCount %d is outside the scale settings of '%s' (%d to %d nodes).", target, id.Leaf(), c.MinNodeCount, c.MaxNodeCount)
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

// readCompute reads the stored compute id: its record and typed view.
func readCompute(ctx context.Context, rd store.Reader, id arm.ID) (store.Record, *resources.Compute, error) {
	rec, err := rd.Get(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return rec, nil, notFound(id)
	}
	if err != nil {
		return rec, nil, err
	}
	c, err := storedCompute(rec.Body)
	if err != nil {
		return rec, nil, fmt.Errorf("stored compute %s: %w", id, err)
	}
	return rec, c, nil
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

// dropComputePassword removes a compute's administrator password
// (properties.userAccountCredentials.adminUserPassword) before it is
// stored: a credential is written, never read back — not in GET, exports
// or records — and the simulated nodes do not need it. A template's
// securestring parameter usually lands here.
func dropComputePassword(props object) {
	inner, _ := props["properties"].(map[string]any)
	if creds, ok := inner["userAccountCredentials"].(map[string]any); ok {
		delete(creds, "adminUserPassword")
	}
}
