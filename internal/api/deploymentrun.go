package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/store"
	"securetrain/internal/template"
)

// deploymentRun deploys one plan as the caller who asked for it: each
// resource starts when what it depends on has succeeded (resources
// independent of each other run in parallel), is written through the
// resource service exactly as a direct PUT (RBAC, linked access, locks,
// validation, policy), and — for a resource whose write begins
// provisioning, a compute — ends only when that operation has.
type deploymentRun struct {
	s    *Server
	who  string
	link opLink
	// lease is the run's lease when the store is shared (nil: not): the
	// run's records are written only while it is still this run's.
	lease *store.Lease

	mu sync.Mutex
	// secrets are the values of secure parameters (nested plans resolved
	// during the run add theirs): cut out of every message recorded.
	secrets []string
}

// redact cuts the run's secrets out of text.
func (run *deploymentRun) redact(text string) string {
	run.mu.Lock()
	defer run.mu.Unlock()
	return redact(text, run.secrets)
}

// run carries the deployment rec through its run and records its end.
func (run *deploymentRun) run(ctx context.Context, rec deploymentRecord, plan *template.Plan) {
	rec.Properties.ProvisioningState = deployRunning
	run.save(rec)
	outputs, failure := run.deploy(ctx, plan, rec.ID)
	run.finish(ctx, rec, plan, outputs, failure)
}

// finish records how a run (of the top deployment or a nested one) ended.
func (run *deploymentRun) finish(ctx context.Context, rec deploymentRecord, plan *template.Plan, outputs map[string]shownValue, failure *deployError) {
	p := &rec.Properties
	p.Duration = isoDuration(run.s.clock.Now().Sub(p.Timestamp)) // the timestamp is when it began
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCanceled):
		p.ProvisioningState = deployCanceled
	case errors.Is(cause, errStopping):
		p.ProvisioningState = deployFailed
		p.Error = &deployError{Code: "DeploymentFailed", Message: "The deployment did not finish: " + errStopping.Error() +
			". Resources deployed before stay; deploy again to finish."}
	case failure != nil:
		p.ProvisioningState, p.Error = deployFailed, failure
	default:
		p.ProvisioningState, p.Outputs = deploySucceeded, outputs
		eachDeployed(plan, func(r *template.Resource) {
			p.OutputResources = append(p.OutputResources, resourceReference{ID: r.ID.String()})
		})
	}
	run.save(rec)
}

func eachDeployed(p *template.Plan, fn func(*template.Resource)) {
	for _, r := range p.Resources {
		if r.Nested == nil {
			fn(r)
		}
	}
}

// save stores a deployment record. A cancel recorded meanwhile (by
// another replica, before this run's first save) stands: the run never
// sets a canceled deployment back to Running, and stops when it next
// renews its lease (canceledElsewhere).
func (run *deploymentRun) save(rec deploymentRecord) {
	run.record(rec.ID, func(ctx context.Context, tx store.Tx) error {
		if rec.Properties.ProvisioningState == deployRunning {
			cur, err := readDeployment(ctx, tx, rec.ID)
			switch {
			case err == nil && cur.Properties.ProvisioningState == deployCanceled:
				return nil
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		_, err := putJSON(ctx, tx, rec.ID, typeDeployment, rec, store.Condition{})
		return err
	})
}

// store stores v as the record of id.
func (run *deploymentRun) store(id, typ string, v any) {
	run.record(id, func(ctx context.Context, tx store.Tx) error {
		_, err := putJSON(ctx, tx, id, typ, v, store.Condition{})
		return err
	})
}

// record runs fn in a transaction to record id. A run outlives its
// request, so it writes with a context of its own; a failure is logged,
// and a deployment left Running is ended by the next start
// (recoverDeployments). A run whose lease another replica has taken over
// (this one was paused past its expiry) writes nothing.
func (run *deploymentRun) record(id string, fn func(context.Context, store.Tx) error) {
	ctx := context.Background()
	if err := run.s.store.Update(ctx, func(tx store.Tx) error {
		if err := checkRunLease(ctx, tx, run.lease); err != nil {
			return err
		}
		return fn(ctx, tx)
	}); err != nil {
		run.s.log.Error("recording a deployment", "record", id, "err", err)
	}
}

// deploy deploys the plan's resources and evaluates its outputs. The
// failure names each resource that failed; resources that depend on one
// that failed are not deployed.
func (run *deploymentRun) deploy(ctx context.Context, plan *template.Plan, deploymentID string) (map[string]shownValue, *deployError) {
	type state struct {
		done chan struct{}
		ok   bool
	}
	states := make(map[*template.Resource]*state, len(plan.Resources))
	for _, r := range plan.Resources {
		states[r] = &state{done: make(chan struct{})}
	}
	var mu sync.Mutex
	var failed []*deployError
	var wg sync.WaitGroup
	res := storeResolver{s: run.s, ctx: context.WithoutCancel(ctx), who: run.who}
	for _, r := range plan.Resources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := states[r]
			defer close(st.done)
			for _, dep := range r.DependsOn {
				select {
				case <-states[dep].done:
				case <-ctx.Done():
					return
				}
				if !states[dep].ok {
					return // not deployed, as in Azure: the failure is its dependency's
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err := run.resource(ctx, r, res, deploymentID); err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
				return
			}
			st.ok = true
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		return nil, &deployError{Code: "DeploymentFailed", Target: deploymentID, Details: failed,
			Message: "At least one resource deployment operation failed. List the deployment operations for details."}
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	outs, err := plan.Outputs(res)
	if err != nil {
		return nil, run.failure(err, deploymentID)
	}
	shown := map[string]shownValue{}
	for _, o := range outs {
		if o.Secure {
			shown[o.Name] = shownValue{Type: "Secure" + o.Type}
			continue
		}
		shown[o.Name] = shownValue{Type: o.Type, Value: template.Plain(o.Value)}
	}
	return shown, nil
}

// resource deploys one resource and records its deployment operation.
func (run *deploymentRun) resource(ctx context.Context, r *template.Resource, res template.Resolver, deploymentID string) *deployError {
	opID := strings.ToUpper(strings.ReplaceAll(arm.NewGUID(), "-", ""))[:16]
	start := run.s.clock.Now().UTC()
	op := deploymentOperation{ID: deploymentID + "/operations/" + opID, OperationID: opID, Properties: deploymentOperationProperties{
		ProvisioningOperation: "Create", ProvisioningState: deployRunning, Timestamp: start, Duration: isoDuration(0),
		TargetResource: targetReference{ID: r.ID.String(), ResourceName: r.Name, ResourceType: r.Type, APIVersion: r.APIVersion},
	}}
	run.saveOperation(op)
	status, err := run.write(ctx, r, res)
	op.Properties.Duration = isoDuration(run.s.clock.Now().Sub(start))
	op.Properties.Timestamp = run.s.clock.Now().UTC()
	if err == nil {
		op.Properties.ProvisioningState, op.Properties.StatusCode = deploySucceeded, http.StatusText(status)
		run.saveOperation(op)
		return nil
	}
	failure := run.failure(err, r.ID.String())
	op.Properties.ProvisioningState = deployFailed
	if errors.Is(err, errCanceled) {
		op.Properties.ProvisioningState = deployCanceled
	}
	op.Properties.StatusCode = strings.ReplaceAll(http.StatusText(failureStatus(err)), " ", "")
	op.Properties.StatusMessage = &statusMessage{Status: op.Properties.ProvisioningState, Error: failure}
	run.saveOperation(op)
	return failure
}

func failureStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	return http.StatusBadRequest
}

// failure is err as a deployment shows it: ARM's code and message, with
// the resource (or deployment) as target and secure values cut out.
func (run *deploymentRun) failure(err error, target string) *deployError {
	var conv func(ae *apiError) *deployError
	conv = func(ae *apiError) *deployError {
		d := &deployError{Code: ae.code, Message: run.redact(ae.message), Target: ae.target}
		for _, det := range ae.details {
			d.Details = append(d.Details, conv(det))
		}
		return d
	}
	var ae *apiError
	var pe *provision.Error
	var de *deployError
	var d *deployError
	switch {
	case errors.Is(err, errCanceled), errors.Is(err, errStopping):
		// Stopped while it ran (a compute still provisioning): the
		// resource stays as far as it got.
		d = &deployError{Code: "DeploymentNotFinished", Message: "The resource's deployment did not finish: " + err.Error() + "; the resource stays as far as it got."}
	case errors.As(err, &de):
		d = de
	case errors.As(err, &ae):
		d = conv(ae)
	case errors.As(err, &pe):
		d = &deployError{Code: pe.Code, Message: run.redact(pe.Message)}
	default:
		var te *template.Error
		code := "InternalServerError"
		if errors.As(err, &te) {
			code = te.Code
		} else if !errors.Is(err, context.Canceled) {
			run.s.log.Error("deploying a resource", "resource", target, "err", run.redact(err.Error()))
		}
		d = &deployError{Code: code, Message: run.redact(err.Error())}
	}
	if d.Target == "" {
		d.Target = target
	}
	return d
}

func (run *deploymentRun) saveOperation(op deploymentOperation) {
	run.store(op.ID, typeDeploymentOperation, op)
}

// write deploys r: a nested deployment's plan, or the resource's body
// through the resource service.
func (run *deploymentRun) write(ctx context.Context, r *template.Resource, res template.Resolver) (int, error) {
	if r.Nested != nil {
		return run.nested(ctx, r, res)
	}
	k := kindOf(r.Type)
	if k == nil { // preflight refuses these; a nested plan resolved during the run is checked here
		return 0, newError(http.StatusBadRequest, "NoRegisteredProviderFound", "The resource type '%s' is not served by securetrain.", r.Type)
	}
	// The id's names meet the rules a request path's do.
	for _, n := range r.ID.Names {
		if err := arm.CheckIDText(n); err != nil {
			return 0, newError(http.StatusBadRequest, "InvalidResourceName", "The resource name '%s' is invalid: %v.", strings.ToValidUTF8(n, "\uFFFD"), err)
		}
	}
	if err := checkIDNames(http.MethodPut, r.ID.Provider, r.ID.Types, r.ID.Names); err != nil {
		return 0, err
	}
	body, err := r.Body(res)
	if err != nil {
		return 0, err
	}
	if err := checkVersionFields(k, r.APIVersion, body); err != nil {
		return 0, err
	}
	if err := canonicalizeIDs(body, r.ID.Subscription); err != nil {
		return 0, err
	}
	// As a direct PUT: the caller's right to write the resource and to
	// link what it references, checked now (roles may have changed).
	if err := run.s.authorize(ctx, run.who, k.typ+"/write", r.ID.String()); err != nil {
		return 0, err
	}
	if err := run.s.authorizeLinked(ctx, run.who, k.typ, http.MethodPut+" "+k.typ, body, r.ID.String()); err != nil {
		return 0, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", r.ID, err)
	}
	wr, err := run.s.write(context.WithoutCancel(ctx), writeRequest{kind: k, id: r.ID, body: raw, link: run.link})
	if err != nil {
		return 0, err
	}
	if wr.opKind != "" {
		// Provisioning (a compute's nodes): dependents start when it ends.
		if err := run.s.awaitOperation(ctx, wr.opURL); err != nil {
			return 0, err
		}
	}
	return wr.status, nil
}

// nested deploys an inline nested deployment: its plan (resolved now when
// its parameters use reference()) under a deployment record of its own in
// its target resource group, whose outputs reference() reads.
func (run *deploymentRun) nested(ctx context.Context, r *template.Resource, res template.Resolver) (int, error) {
	if err := run.s.authorize(ctx, run.who, typeDeployment+"/write", r.ID.String()); err != nil {
		return 0, err
	}
	plan := r.Nested.Plan
	if plan == nil {
		var err error
		if plan, err = r.Nested.Resolve(res); err != nil {
			return 0, err
		}
		run.mu.Lock()
		collectSecrets(plan, &run.secrets)
		run.mu.Unlock()
		if err := run.s.checkPlanned(ctx, run.who, plan); err != nil {
			return 0, err
		}
	}
	rec := deploymentRecord{ID: r.ID.String(), Name: r.ID.Leaf(), Type: typeDeployment, Properties: deploymentProperties{
		ProvisioningState: deployRunning, Mode: "Incremental", CorrelationID: arm.NewGUID(), Timestamp: run.s.clock.Now().UTC(),
		Duration: isoDuration(0), Dependencies: dependencies(plan),
	}}
	run.save(rec)
	outputs, failure := run.deploy(ctx, plan, rec.ID)
	run.finish(ctx, rec, plan, outputs, failure)
	if failure != nil {
		return 0, failure
	}
	if err := context.Cause(ctx); ctx.Err() != nil {
		return 0, err
	}
	return http.StatusCreated, nil
}

func (d *deployError) Error() string { return d.Code + ": " + d.Message }

// awaitOperation waits until the operation at opURL (one this server
// began) has ended, and returns its error if it failed.
func (s *Server) awaitOperation(ctx context.Context, opURL string) error {
	u, err := url.Parse(opURL)
	if err != nil {
		return fmt.Errorf("operation URL %q: %w", opURL, err)
	}
	for {
		changed := s.engine.Changed() // before the read: no end is missed
		op, err := readStored[provision.Operation](ctx, s.store, u.Path)
		if err != nil && ctx.Err() != nil {
			return context.Cause(ctx) // canceled mid-read: the cause, not the store's error
		}
		if err != nil {
			return err
		}
		if provision.Terminal(op.Status) {
			if op.Error != nil {
				return op.Error
			}
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// storeResolver answers reference() from the store: a resource's
// properties (or the whole resource), a deployment's properties (its
// outputs) — to a caller who may read it, as in Azure: a template must not
// read, through its outputs, what its author could not.
type storeResolver struct {
	s   *Server
	ctx context.Context
	who string
}

func (sr storeResolver) Reference(id arm.ID, _ string, full bool) (any, error) {
	if err := sr.s.authorize(sr.ctx, sr.who, id.Type()+"/read", id.String()); err != nil {
		return nil, err
	}
	var obj object
	if strings.EqualFold(id.Type(), typeDeployment) {
		rec, err := sr.s.store.Get(sr.ctx, id.String())
		if err != nil {
			return nil, referenceError(id, err)
		}
		if obj, err = recordObject(rec); err != nil {
			return nil, err
		}
	} else {
		k := kindOf(id.Type())
		if k == nil {
			return nil, fmt.Errorf("reference(): the type '%s' is not served by securetrain", id.Type())
		}
		_, child, rec, err := sr.s.find(sr.ctx, sr.s.store, k, id)
		if err != nil {
			return nil, referenceError(id, err)
		}
		obj = child
		if obj == nil {
			if obj, err = recordObject(rec); err != nil {
				return nil, err
			}
		}
	}
	if full {
		return obj, nil
	}
	return obj["properties"], nil
}

func referenceError(id arm.ID, err error) error {
	var ae *apiError
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &ae) && ae.status == http.StatusNotFound {
		return newError(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' under resource group '%s' was not found (reference()).", id.Type()+"/"+id.Name(), id.ResourceGroup)
	}
	return err
}

// recoverDeployments ends the deployments a stopped or crashed server left
// Accepted or Running (and their running operations): Failed, with the
// reason. Runs of this server are left alone.
func (s *Server) recoverDeployments(ctx context.Context) error {
	var stale []deploymentRecord
	err := store.Each(ctx, s.store, store.Query{Type: typeDeployment}, func(rec store.Record) error {
		var d deploymentRecord
		if err := json.Unmarshal(rec.Body, &d); err != nil {
			return fmt.Errorf("stored %s: %w", rec.ID, err)
		}
		if deploymentActive(d.Properties.ProvisioningState) && !s.deployments.running(arm.FoldKey(rec.ID)) {
			stale = append(stale, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range stale {
		orphan, lease, err := s.orphaned(ctx, arm.FoldKey(d.ID))
		if err != nil {
			return fmt.Errorf("ending interrupted deployment %s: %w", d.ID, err)
		}
		if !orphan {
			continue // another replica runs it
		}
		reason := &deployError{Code: "DeploymentFailed", Target: d.ID, Message: "The deployment was interrupted: securetrain stopped while it ran. " +
			"Resources deployed before stay; deploy again to finish."}
		err = s.store.Update(ctx, func(tx store.Tx) error {
			if err := checkRunLease(ctx, tx, lease); err != nil {
				return err
			}
			cur, err := readDeployment(ctx, tx, d.ID)
			if err != nil || !deploymentActive(cur.Properties.ProvisioningState) {
				return err // deleted or ended meanwhile
			}
			cur.Properties.ProvisioningState, cur.Properties.Error = deployFailed, reason
			if _, err := putJSON(ctx, tx, d.ID, typeDeployment, cur, store.Condition{}); err != nil {
				return err
			}
			return store.Each(ctx, tx, store.Query{Scope: d.ID, Type: typeDeploymentOperation}, func(rec store.Record) error {
				var op deploymentOperation
				if err := json.Unmarshal(rec.Body, &op); err != nil {
					return fmt.Errorf("stored deployment operation %s: %w", rec.ID, err)
				}
				if op.Properties.ProvisioningState != deployRunning {
					return nil
				}
				op.Properties.ProvisioningState = deployFailed
				op.Properties.StatusMessage = &statusMessage{Status: deployFailed, Error: reason}
				_, err := putJSON(ctx, tx, rec.ID, typeDeploymentOperation, op, store.Condition{})
				return err
			})
		})
		s.releaseRun(ctx, lease, arm.FoldKey(d.ID))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ending interrupted deployment %s: %w", d.ID, err)
		}
	}
	return nil
}
