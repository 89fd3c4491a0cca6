package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/resources"
	"securetrain/internal/store"
	"securetrain/internal/template"
)

// ARM template deployments at resource-group scope, in the shape the
// Azure SDK's DeploymentsClient and DeploymentOperationsClient speak:
//
//	.../resourcegroups/{g}/providers/Microsoft.Resources/deployments/{name}
//	    PUT (long-running), GET, HEAD, DELETE; POST .../validate, .../cancel;
//	    GET .../operationStatuses/{correlationId}
//	.../resourcegroups/{g}/deployments/{name}/operations[/{id}]
//
// A deployment is a record (its body is what GET answers) with one child
// record per deployment operation. Templates are evaluated and planned by
// package template; each resource is then written through the same
// service as a direct PUT, as the caller (deploymentrun.go).

const (
	typeDeployment          = "Microsoft.Resources/deployments"
	typeDeploymentOperation = "Microsoft.Resources/deployments/operations"
)

// Deployment states (ARM's provisioningState of a deployment).
const (
	deployAccepted  = "Accepted"
	deployRunning   = "Running"
	deploySucceeded = "Succeeded"
	deployFailed    = "Failed"
	deployCanceled  = "Canceled"
)

func deploymentActive(state string) bool { return state == deployAccepted || state == deployRunning }

// deploymentRecord is a deployment as stored and answered.
type deploymentRecord struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Tags       map[string]string    `json:"tags,omitempty"`
	Properties deploymentProperties `json:"properties"`
}

type deploymentProperties struct {
	ProvisioningState string    `json:"provisioningState"`
	Mode              string    `json:"mode"`
	CorrelationID     string    `json:"correlationId"`
	Timestamp         time.Time `json:"timestamp"`
	Duration          string    `json:"duration"`
	// Parameters are the values used; secure ones show only their type.
	Parameters      map[string]shownValue `json:"parameters,omitempty"`
	Outputs         map[string]shownValue `json:"outputs,omitempty"`
	OutputResources []resourceReference   `json:"outputResources,omitempty"`
	Dependencies    []dependency          `json:"dependencies,omitempty"`
	Error           *deployError          `json:"error,omitempty"`
}

// shownValue is a parameter or output as ARM shows it: a secure one has
// no value.
type shownValue struct {
	Type  string `json:"type"`
	Value any    `json:"value,omitempty"`
}

type resourceReference struct {
	ID string `json:"id"`
}

type dependency struct {
	ID           string            `json:"id"`
	ResourceName string            `json:"resourceName"`
	ResourceType string            `json:"resourceType"`
	DependsOn    []basicDependency `json:"dependsOn"`
}

type basicDependency struct {
	ID           string `json:"id"`
	ResourceName string `json:"resourceName"`
	ResourceType string `json:"resourceType"`
}

// deployError is ARM's error detail as deployments carry it.
type deployError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Target  string         `json:"target,omitempty"`
	Details []*deployError `json:"details,omitempty"`
}

// deploymentOperation is one resource's operation in a deployment.
type deploymentOperation struct {
	ID          string                        `json:"id"`
	OperationID string                        `json:"operationId"`
	Properties  deploymentOperationProperties `json:"properties"`
}

type deploymentOperationProperties struct {
	ProvisioningOperation string          `json:"provisioningOperation"`
	ProvisioningState     string          `json:"provisioningState"`
	Timestamp             time.Time       `json:"timestamp"`
	Duration              string          `json:"duration"`
	StatusCode            string          `json:"statusCode,omitempty"`
	StatusMessage         *statusMessage  `json:"statusMessage,omitempty"`
	TargetResource        targetReference `json:"targetResource"`
}

type statusMessage struct {
	Status string       `json:"status,omitempty"`
	Error  *deployError `json:"error,omitempty"`
}

type targetReference struct {
	ID           string `json:"id"`
	ResourceName string `json:"resourceName"`
	ResourceType string `json:"resourceType"`
	APIVersion   string `json:"apiVersion,omitempty"`
}

// deploymentRequest is the body of a PUT or a validate.
type deploymentRequest struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties struct {
		Mode                        string          `json:"mode"`
		Template                    json.RawMessage `json:"template"`
		TemplateLink                json.RawMessage `json:"templateLink"`
		Parameters                  json.RawMessage `json:"parameters"`
		ParametersLink              json.RawMessage `json:"parametersLink"`
		OnErrorDeployment           json.RawMessage `json:"onErrorDeployment"`
		DebugSetting                json.RawMessage `json:"debugSetting"`
		ExpressionEvaluationOptions json.RawMessage `json:"expressionEvaluationOptions"`
	} `json:"properties"`
}

// deploymentNameRule is Azure's rule for deployment names.
var deploymentNameRule = lazyregexp.New(`^[-\w.()]{1,64}$`)

// deploymentPath reads a deployment route: segs after the resource group
// are providers/Microsoft.Resources/deployments[/{name}[/...]] or (the
// deployment operations' form) deployments/{name}/operations[/{id}].
func deploymentPath(segs, lower []string) (name string, rest []string, ok bool) {
	if len(segs) < 5 || lower[2] != "resourcegroups" {
		return "", nil, false
	}
	switch {
	case len(segs) >= 7 && lower[4] == "providers" && lower[5] == "microsoft.resources" && lower[6] == "deployments":
		if len(segs) == 7 {
			return "", nil, true
		}
		return segs[7], lower[8:], true
	case len(segs) >= 7 && lower[4] == "deployments" && lower[6] == "operations":
		return segs[5], lower[6:], true
	}
	return "", nil, false
}

// deploymentRoute serves the deployments of one resource group.
func (s *Server) deploymentRoute(w http.ResponseWriter, r *http.Request, who, sub, rg, name string, rest []string, raw []string) error {
	if err := s.requireAPIVersion(r, who, typeDeployment); err != nil {
		return err
	}
	if name == "" {
		if err := s.authorize(r.Context(), who, typeDeployment+"/read", resourceGroupID(sub, rg)); err != nil {
			return err
		}
		return s.list(w, r, resourceGroupID(sub, rg), typeDeployment)
	}
	if !deploymentNameRule.MatchString(name) {
		return newError(http.StatusBadRequest, "InvalidDeploymentName",
			"The deployment name '%s' is invalid: it must be 1 to 64 characters of letters, digits, '-', '_', '.', '(' and ')'.", name)
	}
	id := deploymentID(sub, rg, name)
	call := func(action string, method string, handle func() error) error {
		if r.Method != method {
			return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported here; use %s", r.Method, method)
		}
		if err := s.authorize(r.Context(), who, action, id.String()); err != nil {
			return err
		}
		return handle()
	}
	switch {
	case len(rest) == 0:
		if err := s.authorize(r.Context(), who, typeDeployment+"/"+methodVerb(r.Method), id.String()); err != nil {
			return err
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return s.getDeployment(w, r, id)
		case http.MethodPut:
			return s.createDeployment(w, r, who, id)
		case http.MethodDelete:
			return s.deleteDeployment(w, r, id)
		}
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on a deployment", r.Method)
	case len(rest) == 1 && rest[0] == "validate":
		return call(typeDeployment+"/validate/action", http.MethodPost, func() error { return s.validateDeployment(w, r, who, id) })
	case len(rest) == 1 && rest[0] == "cancel":
		return call(typeDeployment+"/cancel/action", http.MethodPost, func() error { return s.cancelDeployment(w, r, id) })
	case len(rest) == 2 && rest[0] == "operationstatuses":
		return call(typeDeployment+"/read", http.MethodGet, func() error { return s.deploymentStatus(w, r, id, raw[1]) })
	case rest[0] == "operations" && len(rest) <= 2:
		return call(typeDeploymentOperation+"/read", http.MethodGet, func() error {
			if len(rest) == 1 {
				return s.list(w, r, id.String(), typeDeploymentOperation)
			}
			return s.getRecord(w, r, id.String()+"/operations/"+raw[1],
				newError(http.StatusNotFound, "DeploymentOperationNotFound", "The deployment operation '%s' of deployment '%s' could not be found.", raw[1], name))
		})
	}
	return newError(http.StatusNotFound, "InvalidResourceType", "The resource type at '%s' is not supported by securetrain.", r.URL.Path)
}

func deploymentID(sub, rg, name string) arm.ID {
	return arm.ID{Subscription: sub, ResourceGroup: rg, Provider: "Microsoft.Resources", Types: []string{"deployments"}, Names: []string{name}}
}

func deploymentNotFound(id arm.ID) error {
	return newError(http.StatusNotFound, "DeploymentNotFound", "Deployment '%s' could not be found.", id.Leaf())
}

// readDeployment reads the deployment record of id.
func readDeployment(ctx context.Context, rd store.Reader, id string) (deploymentRecord, error) {
	return readStored[deploymentRecord](ctx, rd, id)
}

// readStored reads the record of id and decodes its body, a JSON document
// of the server's own (not a resource of the kinds served).
func readStored[T any](ctx context.Context, rd store.Reader, id string) (T, error) {
	var v T
	rec, err := rd.Get(ctx, id)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(rec.Body, &v); err != nil {
		return v, fmt.Errorf("stored %s: %w", id, err)
	}
	return v, nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	rec, err := s.store.Get(r.Context(), id.String())
	if errors.Is(err, store.ErrNotFound) {
		return deploymentNotFound(id)
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent) // CheckExistence: 204 or 404
		return nil
	}
	var d deploymentRecord
	if err := json.Unmarshal(rec.Body, &d); err != nil {
		return fmt.Errorf("stored deployment %s: %w", id, err)
	}
	if deploymentActive(d.Properties.ProvisioningState) {
		w.Header().Set("Retry-After-Ms", retryAfterMs)
	}
	return writeRecord(w, http.StatusOK, rec)
}

// deploymentStatus answers the Azure-AsyncOperation of a deployment's
// PUT: the run's state, and the deployment's error once it failed.
func (s *Server) deploymentStatus(w http.ResponseWriter, r *http.Request, id arm.ID, correlation string) error {
	d, err := readDeployment(r.Context(), s.store, id.String())
	if errors.Is(err, store.ErrNotFound) || err == nil && !strings.EqualFold(d.Properties.CorrelationID, correlation) {
		return newError(http.StatusNotFound, "OperationNotFound", "The operation '%s' of deployment '%s' could not be found.", correlation, id.Leaf())
	}
	if err != nil {
		return err
	}
	out := map[string]any{"status": d.Properties.ProvisioningState}
	if d.Properties.Error != nil {
		out["error"] = d.Properties.Error
	}
	if deploymentActive(d.Properties.ProvisioningState) {
		w.Header().Set("Retry-After-Ms", retryAfterMs)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createDeployment checks the request and the template before anything
// is stored (as Azure's preflight), records the deployment Accepted and
// starts its run.
func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request, who string, id arm.ID) error {
	in, err := s.deploymentPreflight(r, who, id)
	if err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	rec := deploymentRecord{ID: id.String(), Name: id.Leaf(), Type: typeDeployment, Tags: in.tags, Properties: deploymentProperties{
		ProvisioningState: deployAccepted, Mode: "Incremental", CorrelationID: arm.NewGUID(), Timestamp: now, Duration: isoDuration(0),
		Parameters: in.parameters, Dependencies: dependencies(in.plan),
	}}
	run, reserved := s.deployments.reserve(id.Key())
	if !reserved {
		return newError(http.StatusConflict, "DeploymentActive", "Unable to edit or replace deployment '%s': it is still running. Wait for it to finish or cancel it.", id.Leaf())
	}
	lease, err := s.claimRun(r.Context(), id)
	if err != nil {
		s.deployments.release(id.Key(), run)
		return err
	}
	var status int
	var stored store.Record
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		status = http.StatusCreated
		if err := checkRunLease(r.Context(), tx, lease); err != nil {
			return err
		}
		if _, err := tx.Get(r.Context(), resourceGroupID(id.Subscription, id.ResourceGroup)); errors.Is(err, store.ErrNotFound) {
			return newError(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", id.ResourceGroup)
		} else if err != nil {
			return err
		}
		// A deployment is a write in its group: a ReadOnly lock refuses it.
		if err := checkLocks(r.Context(), tx, id.Subscription, id.String(), false); err != nil {
			return err
		}
		cur, err := readDeployment(r.Context(), tx, id.String())
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case deploymentActive(cur.Properties.ProvisioningState):
			return newError(http.StatusConflict, "DeploymentActive",
				"Unable to edit or replace deployment '%s': previous deployment from '%s' is still active (deployment state: %s). Wait for it to finish or cancel it.",
				id.Leaf(), cur.Properties.Timestamp.Format(time.RFC3339), cur.Properties.ProvisioningState)
		default:
			status = http.StatusOK
			if _, err := tx.DeleteUnder(r.Context(), id.String()); err != nil { // the previous run's operations
				return err
			}
		}
		stored, err = putJSON(r.Context(), tx, id.String(), typeDeployment, rec, store.Condition{})
		return err
	})
	if err != nil {
		s.releaseRun(r.Context(), lease, id.Key())
		s.deployments.release(id.Key(), run)
		return err
	}
	dr := &deploymentRun{s: s, who: who, link: linkOf(r), lease: lease, secrets: in.secrets}
	s.deployments.launch(id.Key(), run, func(ctx context.Context) {
		s.underRunLease(ctx, lease, id.Key(), func(ctx context.Context) { dr.run(ctx, rec, in.plan) })
	})
	statusURL := linkOf(r).operationURL(id.String() + "/operationStatuses/" + rec.Properties.CorrelationID)
	w.Header().Set("Azure-AsyncOperation", statusURL)
	w.Header().Set("Retry-After-Ms", retryAfterMs)
	return writeRecord(w, status, stored)
}

// validateDeployment is Azure's preflight: 200 with the resources the
// template would deploy, or 400 with the error.
func (s *Server) validateDeployment(w http.ResponseWriter, r *http.Request, who string, id arm.ID) error {
	in, err := s.deploymentPreflight(r, who, id)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": ae.body()})
		return nil
	}
	if err != nil {
		return err
	}
	var validated []resourceReference
	eachPlanned(in.plan, func(r *template.Resource) { validated = append(validated, resourceReference{ID: r.ID.String()}) })
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id.String(), "name": id.Leaf(), "type": typeDeployment,
		"properties": map[string]any{
			"provisioningState": deploySucceeded, "mode": "Incremental", "correlationId": arm.NewGUID(),
			"timestamp": s.clock.Now().UTC(), "duration": isoDuration(0),
			"parameters": in.parameters, "validatedResources": validated, "dependencies": dependencies(in.plan),
		},
	})
	return nil
}

// cancelDeployment stops a running deployment: resources being written
// finish, no other starts, and the deployment ends Canceled.
func (s *Server) cancelDeployment(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	var state string
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		d, err := readDeployment(r.Context(), tx, id.String())
		if errors.Is(err, store.ErrNotFound) {
			return deploymentNotFound(id)
		}
		if err != nil {
			return err
		}
		state = d.Properties.ProvisioningState
		if !deploymentActive(state) {
			return newError(http.StatusConflict, "DeploymentCannotBeCanceled",
				"The deployment '%s' cannot be canceled: its state is %s, and only an Accepted or Running deployment can be.", id.Leaf(), state)
		}
		if s.deployments.running(id.Key()) {
			return nil // the run records Canceled when it stops
		}
		// No run here (a record a stopped server left): end it now.
		d.Properties.ProvisioningState = deployCanceled
		_, err = putJSON(r.Context(), tx, id.String(), typeDeployment, d, store.Condition{})
		return err
	})
	if err != nil {
		return err
	}
	s.deployments.cancel(id.Key(), errCanceled)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteDeployment removes the record and its operations, not the
// resources it deployed (as in Azure). A running one is refused.
func (s *Server) deleteDeployment(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		d, err := readDeployment(r.Context(), tx, id.String())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if deploymentActive(d.Properties.ProvisioningState) {
			return newError(http.StatusConflict, "DeploymentActive",
				"The deployment '%s' is still active (deployment state: %s) and cannot be deleted: wait for it to finish or cancel it.", id.Leaf(), d.Properties.ProvisioningState)
		}
		// Deployment history is kept under a lock, as in Azure.
		if err := checkLocks(r.Context(), tx, id.Subscription, id.String(), true); err != nil {
			return err
		}
		if _, err := tx.DeleteUnder(r.Context(), id.String()); err != nil {
			return err
		}
		return tx.Delete(r.Context(), id.String(), store.Condition{})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// refuseActiveDeployments refuses to delete the resource group group
// while a deployment in it runs: the run would go on writing into a group
// that is gone.
func refuseActiveDeployments(ctx context.Context, tx store.Reader, group string) error {
	return store.Each(ctx, tx, store.Query{Scope: group, Type: typeDeployment}, func(rec store.Record) error {
		var d deploymentRecord
		if err := json.Unmarshal(rec.Body, &d); err != nil {
			return fmt.Errorf("stored %s: %w", rec.ID, err)
		}
		if deploymentActive(d.Properties.ProvisioningState) {
			return newError(http.StatusConflict, "DeploymentActive",
				"The resource group cannot be deleted while its deployment '%s' is %s: wait for it to finish or cancel it.", d.Name, d.Properties.ProvisioningState)
		}
		return nil
	})
}

// deploymentInput is a request that passed preflight.
type deploymentInput struct {
	plan       *template.Plan
	parameters map[string]shownValue
	tags       map[string]string
	// secrets are the values of secure parameters: they are cut out of
	// every message a deployment records or answers.
	secrets []string
}

// deploymentPreflight reads a deployment request and checks it as Azure does before
// deploying anything: the template and parameters evaluate and plan, every
// resource is of a type securetrain serves, its resource group exists,
// and the caller may write it.
func (s *Server) deploymentPreflight(r *http.Request, who string, id arm.ID) (*deploymentInput, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var req deploymentRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "The request content is not a valid deployment: %v.", err)
	}
	p := req.Properties
	switch {
	case len(p.TemplateLink) > 0 || len(p.ParametersLink) > 0:
		return nil, newError(http.StatusBadRequest, template.CodeLinkedTemplateNotSupported,
			"The deployment uses templateLink or parametersLink: linked templates are not supported; send the template in properties.template (docs/templates.md).")
	case len(p.OnErrorDeployment) > 0:
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "properties.onErrorDeployment (redeploying on error) is not supported.")
	case len(p.Template) == 0 || string(p.Template) == "null":
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "The deployment has no template: properties.template is required.")
	case p.Mode == "":
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "properties.mode is required: Incremental.")
	}
	params := map[string]any{}
	if len(p.Parameters) > 0 && string(p.Parameters) != "null" {
		if params, err = template.ParseParameters(p.Parameters); err != nil {
			return nil, newError(http.StatusBadRequest, template.CodeInvalidTemplate, "Deployment parameters: %v", err)
		}
	}
	group, err := s.groupLocation(r.Context(), id.Subscription, id.ResourceGroup)
	if err != nil {
		return nil, err
	}
	if group == "" {
		return nil, newError(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", id.ResourceGroup)
	}
	t, err := template.Parse(p.Template)
	if err != nil {
		return nil, templateError(err, nil)
	}
	plan, err := t.Plan(template.Deployment{Name: id.Leaf(), SubscriptionID: id.Subscription, TenantID: arm.TenantID, ResourceGroup: id.ResourceGroup, Location: group, Mode: p.Mode,
		GroupLocation: func(sub, rg string) (string, bool) {
			loc, err := s.groupLocation(r.Context(), sub, rg)
			return loc, err == nil && loc != ""
		}}, params)
	if err != nil {
		return nil, templateError(err, secretsOf(params))
	}
	in := &deploymentInput{plan: plan, tags: req.Tags, parameters: map[string]shownValue{}}
	collectSecrets(plan, &in.secrets)
	for _, prm := range plan.Parameters {
		if prm.Secure {
			in.parameters[prm.Name] = shownValue{Type: shownType(prm.Type)}
			continue
		}
		in.parameters[prm.Name] = shownValue{Type: shownType(prm.Type), Value: template.Plain(prm.Value)}
	}
	if err := s.checkPlanned(r.Context(), who, plan); err != nil {
		return nil, err
	}
	return in, nil
}

// templateError turns a template package error into ARM's 400.
func templateError(err error, secrets []string) error {
	var te *template.Error
	if errors.As(err, &te) {
		return newError(http.StatusBadRequest, te.Code, "%s", redact(te.Error(), secrets))
	}
	return newError(http.StatusBadRequest, template.CodeInvalidTemplate, "%s", redact(err.Error(), secrets))
}

// checkPlanned checks every resource the plan (and the nested plans known
// before the run) deploys: a served type, an api-version its provider
// publishes, and the caller's right to write it.
func (s *Server) checkPlanned(ctx context.Context, who string, plan *template.Plan) error {
	var problems []*apiError
	eachPlanned(plan, func(r *template.Resource) {
		action := typeDeployment + "/write"
		if r.Nested == nil {
			k := kindOf(r.Type)
			if k == nil {
				problems = append(problems, &apiError{status: http.StatusBadRequest, code: "NoRegisteredProviderFound", target: r.ID.String(),
					message: fmt.Sprintf("The resource '%s' (line %d) is of type '%s', which securetrain does not serve; docs/api.md lists the types it does.", r.Name, r.Line, r.Type)})
				return
			}
			action = k.typ + "/write"
		}
		if versions := resources.APIVersionsOf(r.Type); !slices.Contains(versions, r.APIVersion) {
			problems = append(problems, &apiError{status: http.StatusBadRequest, code: "NoRegisteredProviderFound", target: r.ID.String(),
				message: unregisteredVersion(r.Type, r.APIVersion, plannedLocation(plan, r), versions) + fmt.Sprintf(" (resource '%s', line %d)", r.Name, r.Line)})
		}
		if err := s.authorize(ctx, who, action, r.ID.String()); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				problems = append(problems, ae)
				return
			}
			problems = append(problems, &apiError{status: http.StatusInternalServerError, code: "InternalServerError", message: "checking authorization failed"})
		}
	})
	if len(problems) == 0 {
		return nil
	}
	first := problems[0]
	if len(problems) == 1 {
		return first
	}
	return &apiError{status: first.status, code: first.code, message: fmt.Sprintf("%s (and %d more problems: see details)", first.message, len(problems)-1), details: problems}
}

// groupLocation is the location of a stored resource group, "" when
// there is none.
func (s *Server) groupLocation(ctx context.Context, sub, rg string) (string, error) {
	rec, err := s.store.Get(ctx, resourceGroupID(sub, rg))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var g struct {
		Location string `json:"location"`
	}
	if err := json.Unmarshal(rec.Body, &g); err != nil {
		return "", fmt.Errorf("stored resource group %s: %w", rec.ID, err)
	}
	return g.Location, nil
}

// eachPlanned calls fn for every resource of the plan and of the nested
// plans known before the run, nested deployments included.
func eachPlanned(p *template.Plan, fn func(*template.Resource)) {
	for _, r := range p.Resources {
		fn(r)
		if r.Nested != nil && r.Nested.Plan != nil {
			eachPlanned(r.Nested.Plan, fn)
		}
	}
}

// dependencies are the plan's resources with what each waits for, in
// ARM's shape.
func dependencies(p *template.Plan) []dependency {
	var out []dependency
	for _, r := range p.Resources {
		if len(r.DependsOn) == 0 {
			continue
		}
		d := dependency{ID: r.ID.String(), ResourceName: r.Name, ResourceType: r.Type}
		for _, on := range r.DependsOn {
			d.DependsOn = append(d.DependsOn, basicDependency{ID: on.ID.String(), ResourceName: on.Name, ResourceType: on.Type})
		}
		out = append(out, d)
	}
	return out
}

// shownType is a template type as ARM shows it in a deployment.
func shownType(t string) string {
	switch strings.ToLower(t) {
	case "string":
		return "String"
	case "securestring":
		return "SecureString"
	case "int":
		return "Int"
	case "bool":
		return "Bool"
	case "object":
		return "Object"
	case "secureobject":
		return "SecureObject"
	case "array":
		return "Array"
	}
	return t
}

// collectSecrets appends the values of the plan's secure parameters, and
// those of its nested plans known now, as the texts they may appear as.
func collectSecrets(p *template.Plan, out *[]string) {
	for _, prm := range p.Parameters {
		if prm.Secure {
			*out = append(*out, secretTexts(template.Plain(prm.Value))...)
		}
	}
	for _, r := range p.Resources {
		if r.Nested != nil && r.Nested.Plan != nil {
			collectSecrets(r.Nested.Plan, out)
		}
	}
}

// secretsOf is every text of the given parameter values: before a plan
// exists it is not known which are secure, so a failed plan's message is
// cleaned of all of them.
func secretsOf(params map[string]any) []string {
	var out []string
	for _, v := range params {
		out = append(out, secretTexts(v)...)
	}
	return out
}

// secretTexts are the strings inside a value, and its JSON when it is not
// a string.
func secretTexts(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if x != "" {
				out = append(out, x)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if _, isString := v.(string); !isString && v != nil {
		if raw, err := json.Marshal(v); err == nil {
			out = append(out, string(raw))
		}
	}
	return out
}

// redact replaces every secret in text. Longer secrets go first, so that
// one containing another is replaced whole.
func redact(text string, secrets []string) string {
	longestFirst := slices.Clone(secrets)
	slices.SortStableFunc(longestFirst, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range longestFirst {
		text = strings.ReplaceAll(text, sec, "[secure value hidden]")
	}
	return text
}

// isoDuration is ARM's duration form, ISO 8601 (PT1.5S).
func isoDuration(d time.Duration) string {
	return fmt.Sprintf("PT%sS", strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", d.Seconds()), "0"), "."))
}

// deploymentRuns are the deployments this server runs, each in its own
// goroutine under a context that Cancel and the server's stop end.
type deploymentRuns struct {
	mu     sync.Mutex
	active map[string]*runHandle
	wg     sync.WaitGroup
}

// runHandle is one run, reserved before its record is stored so that a
// Cancel in between finds it; a later run of the same name has its own.
type runHandle struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

var (
	errCanceled = errors.New("the deployment was canceled")
	errStopping = errors.New("the server stopped while the deployment ran")
)

func newDeploymentRuns() *deploymentRuns {
	return &deploymentRuns{active: map[string]*runHandle{}}
}

// reserve claims key for a run; false when one is already running.
func (d *deploymentRuns) reserve(key string) (*runHandle, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active[key] != nil {
		return nil, false
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	h := &runHandle{ctx: ctx, cancel: cancel}
	d.active[key] = h
	d.wg.Add(1)
	return h, true
}

// release gives up a reservation whose run does not start.
func (d *deploymentRuns) release(key string, h *runHandle) {
	d.mu.Lock()
	if d.active[key] == h {
		delete(d.active, key)
	}
	d.mu.Unlock()
	h.cancel(nil)
	d.wg.Done()
}

// launch runs a reserved run in its own goroutine.
func (d *deploymentRuns) launch(key string, h *runHandle, run func(ctx context.Context)) {
	go func() {
		defer d.release(key, h)
		run(h.ctx)
	}()
}

func (d *deploymentRuns) running(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active[key] != nil
}

func (d *deploymentRuns) cancel(key string, cause error) {
	d.mu.Lock()
	h := d.active[key]
	d.mu.Unlock()
	if h != nil {
		h.cancel(cause)
	}
}

// stop ends every run and waits for them: each records that the server
// stopped it.
func (d *deploymentRuns) stop() {
	d.mu.Lock()
	for _, h := range d.active {
		h.cancel(errStopping)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// unregisteredVersion is Resource Manager's NoRegisteredProviderFound
// message for an api-version typ (a full type) does not have: the type
// without its namespace, the versions it has and its locations.
func unregisteredVersion(typ, version, location string, versions []string) string {
	_, short, _ := strings.Cut(typ, "/")
	locations := regions
	if k := resources.KindOf(typ); k != nil && k.Global {
		locations = []string{"global"}
	}
	return fmt.Sprintf("No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		location, version, short, strings.Join(versions, ", "), strings.Join(locations, ", "))
}

// plannedLocation is where a planned resource goes: its body's location,
// else its deployment's resource group's.
func plannedLocation(plan *template.Plan, r *template.Resource) string {
	if !r.Deferred {
		if body, err := r.Body(nil); err == nil {
			if loc, ok := body["location"].(string); ok && loc != "" {
				return normalizeLocation(loc)
			}
		}
	}
	return plan.Deployment.Location
}
