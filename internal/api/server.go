// Package api is securetrain's ARM-compatible control plane: the HTTP
// handler that `securetrain serve` runs. It speaks ARM's dialect (paths
// matched case-insensitively, api-version required, ARM's error shape and
// codes, value/nextLink lists) so that the Azure SDK for Go and curl work
// against it unchanged. State lives in a store.Store.
package api

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/blob"
	"securetrain/internal/clock"
	"securetrain/internal/fabric"
	"securetrain/internal/jobs"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// MaxBody is the largest request body accepted (ARM's limit is 4 MB).
const MaxBody = 4 << 20

// Server is the control plane's HTTP handler.
type Server struct {
	store  store.Store
	log    *slog.Logger
	engine *provision.Engine
	jobs   *jobs.Scheduler
	clock  clock.Clock
	// networks caches each subscription's compiled network, computes
	// the index of its computes (computelist.go), networkLists that of
	// its NSGs, firewalls, NAT gateways, load balancers and public IPs
	// (netlist.go); store invalidates them all on writes.
	networks     *subscriptionCache[*netverify.Network]
	computes     *subscriptionCache[*computeIndex]
	networkLists *subscriptionCache[*networkIndex]
	// excludedLogged holds the broken stored resources already logged.
	excludedLogged sync.Map
	// deployments are the template deployments running (deployments.go).
	deployments *deploymentRuns
	// blob serves the storage accounts' blobs (blob.go); nil without
	// Options.Blobs.
	blob *blob.Service
	// replica is this server's lease settings when it shares the store
	// with other servers; nil when the store is its alone.
	replica *provision.Lease
}

// Options configure a server beyond its store.
type Options struct {
	// Fabric realises compute nodes; nil is the simulated fabric.
	Fabric fabric.Fabric
	// Quotas limit provisioning per subscription and region; zero values
	// are Azure-like defaults.
	Quotas provision.Quotas
	// Clock is the time of operations and provisioning; nil is the system
	// clock.
	Clock clock.Clock
	// JobLogDir keeps jobs' logs: under the data directory, private.
	JobLogDir string
	// NodeDir holds the working directories of jobs' processes on the
	// sim fabric; the jobs' users must be able to reach it (0711 or
	// wider up the path), so it is not in the data directory.
	NodeDir string
	// Blobs keeps the storage accounts' blobs: on the data directory's
	// disk with the embedded store, in the database with PostgreSQL (so
	// that every replica serves every blob); nil serves none (and jobs
	// get no code or file inputs).
	Blobs blob.Backend
	// Replica, when set, says the store is shared with other servers:
	// the engine works while it holds the lease (provision.Lease), and
	// cached networks are checked against the store's change counters.
	Replica *provision.Lease
}

// New returns a server on st, logging to log, with the simulated fabric
// and default quotas.
func New(st store.Store, log *slog.Logger) *Server { return NewWithOptions(st, log, Options{}) }

// NewWithOptions returns a server on st with opts. Operations it begins
// run while its Background runs.
func NewWithOptions(st store.Store, log *slog.Logger, opts Options) *Server {
	s := &Server{log: log, clock: opts.Clock, networks: newSubscriptionCache[*netverify.Network](),
		computes: newSubscriptionCache[*computeIndex](), networkLists: newSubscriptionCache[*networkIndex](),
		deployments: newDeploymentRuns(), replica: opts.Replica}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	changes := &networkChangeLog{counts: map[string]int64{}}
	s.store = invalidatingStore{Store: st, caches: []invalidator{s.networks, s.computes, s.networkLists}, changes: changes, shared: opts.Replica != nil}
	fab := opts.Fabric
	if fab == nil {
		fab = fabric.NewSim()
	}
	// The engine writes through the same store, so that its writes
	// invalidate cached networks too.
	s.engine = provision.New(provision.Config{Store: s.store, Fabric: fab, Governance: governance{s}, Quotas: opts.Quotas, Log: log,
		Network: s.network, NetworkChanges: s.nodeNetworkChanges, Clock: s.clock, Lease: opts.Replica})
	changes.mu.Lock()
	changes.wake = s.engine.Wake
	changes.mu.Unlock()
	var ds jobs.Datastore
	if opts.Blobs != nil {
		s.blob = blob.NewService(opts.Blobs, blobAuthority{s}, log)
		ds = datastore{s}
	}
	runner := ""
	if opts.Replica != nil {
		runner = opts.Replica.Holder
	}
	s.jobs = jobs.New(jobs.Config{Store: s.engine.Store(), Engine: s.engine, Clock: s.clock, Log: log, LogDir: opts.JobLogDir, WorkDir: opts.NodeDir,
		Datastore: ds, Runner: runner})
	s.engine.SetScheduler(s.jobs)
	return s
}

// Engine is the server's provisioner; Background runs it.
func (s *Server) Engine() *provision.Engine { return s.engine }

// ServeHTTP authenticates, routes and logs every request. Tokens never
// reach the log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if s.blob != nil && blob.IsBlobRequest(r) {
		who := s.blob.Serve(rec, r)
		s.log.Info("blob request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "principal", who,
			"ms", float64(time.Since(start).Microseconds())/1000)
		return
	}
	who, err := s.authenticate(r)
	if err == nil {
		err = s.route(rec, r, who)
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) && !errors.Is(err, store.ErrPreconditionFailed) {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(rec, err)
	}
	s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "principal", who,
		"ms", float64(time.Since(start).Microseconds())/1000)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (the Blob
// service lifts its deadlines for large transfers).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// route dispatches on the path's segments, compared case-insensitively.
func (s *Server) route(w http.ResponseWriter, r *http.Request, who string) error {
	// Segments are split on the escaped path and unescaped one by one, so
	// that an escaped "/" stays inside its segment (and a name with it is
	// refused) instead of changing the path.
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	lower := make([]string, len(segs))
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return newError(http.StatusBadRequest, "InvalidRequestUri", "The request path is not a valid URL path: %v", err)
		}
		if err := arm.CheckIDText(u); err != nil {
			// A look-alike letter such as U+017F would otherwise reach
			// another resource's key.
			return newError(http.StatusBadRequest, "InvalidResourceName", "The path segment '%s' is invalid: %v.", strings.ToValidUTF8(u, "\uFFFD"), err)
		}
		segs[i], lower[i] = u, strings.ToLower(u)
	}
	if len(segs) < 2 || lower[0] != "subscriptions" {
		return newError(http.StatusNotFound, "InvalidResourceType", "no resource type at %s", r.URL.Path)
	}
	if !arm.IsGUID(segs[1]) {
		return newError(http.StatusBadRequest, "InvalidSubscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", segs[1])
	}
	subScope := "/subscriptions/" + segs[1]
	// authz finds .../providers/Microsoft.Authorization/{kind}[/{name}]
	// at subscription or resource-group scope: the scope, the name ("" to
	// list) and the target the action applies to.
	// The scope is the subscription, a resource group or a resource.
	authz := func(kind string) (scope, name, target string, ok bool) {
		at := len(segs) - 3
		if at >= 0 && len(segs) >= 4 && lower[len(segs)-4] == "providers" && lower[len(segs)-3] == "microsoft.authorization" {
			at = len(segs) - 4
		}
		if at < 2 || lower[at] != "providers" || lower[at+1] != "microsoft.authorization" || lower[at+2] != strings.ToLower(kind) {
			return "", "", "", false
		}
		scope = "/" + strings.Join(segs[:at], "/")
		if at == 2 {
			scope = subScope
		}
		target = scope
		if len(segs) == at+4 {
			name = segs[at+3]
			target = scope + "/providers/Microsoft.Authorization/" + kind + "/" + name
		}
		return scope, name, target, true
	}
	// Each route names the ARM action the request performs and its target,
	// checked against the principal's role assignments before anything
	// else happens.
	verb := methodVerb(r.Method)
	authorized := func(action, target string, handle func() error) error {
		if err := s.authorize(r.Context(), who, action, target); err != nil {
			return err
		}
		return handle()
	}
	if scope, name, target, ok := authz("locks"); ok {
		return authorized("Microsoft.Authorization/locks/"+verb, target, func() error { return s.lockRoute(w, r, who, scope, name) })
	}
	if scope, name, target, ok := authz("roleAssignments"); ok {
		return authorized("Microsoft.Authorization/roleAssignments/"+verb, target, func() error { return s.roleAssignmentRoute(w, r, who, scope, name) })
	}
	if scope, name, _, ok := authz("roleDefinitions"); ok && scope == subScope {
		return authorized("Microsoft.Authorization/roleDefinitions/"+verb, subScope, func() error { return s.roleDefinitionRoute(w, r, who, subScope, name) })
	}
	switch {
	case len(segs) == 3 && lower[2] == "resourcegroups":
		if err := s.requireAPIVersion(r, who, typeResourceGroup); err != nil {
			return err
		}
		return authorized("Microsoft.Resources/subscriptions/resourceGroups/read", subScope, func() error { return s.listResourceGroups(w, r, segs[1]) })
	case len(segs) == 4 && lower[2] == "resourcegroups":
		if err := s.requireAPIVersion(r, who, typeResourceGroup); err != nil {
			return err
		}
		return authorized("Microsoft.Resources/subscriptions/resourceGroups/"+verb, resourceGroupID(segs[1], segs[3]),
			func() error { return s.resourceGroup(w, r, segs[1], segs[3]) })
	}
	if name, rest, ok := deploymentPath(segs, lower); ok {
		return s.deploymentRoute(w, r, who, segs[1], segs[3], name, rest, segs[len(segs)-len(rest):])
	}
	if len(segs) == 8 && lower[2] == "providers" && lower[4] == "locations" && lower[6] == "operations" {
		return s.operationRoute(w, r, who, provision.OperationID(segs[1], segs[3], segs[5], segs[7]))
	}
	if len(segs) == 7 && lower[2] == "providers" && lower[3] == strings.ToLower(mlNamespace) && lower[4] == "locations" && lower[6] == "usages" {
		return s.usagesRoute(w, r, who, segs[1], segs[5])
	}
	if p, ok := parseResourcePath(segs, lower); ok {
		return s.resourceRoute(w, r, who, p)
	}
	return newError(http.StatusNotFound, "InvalidResourceType", "The resource type at '%s' is not supported by securetrain.", r.URL.Path)
}

// requireAPIVersion checks the api-version query parameter against the
// versions Azure registers for typ, a full type (or, for routes that are
// not a type's, a provider namespace): resources.APIVersionsOf. A version
// typ lacks is answered as Resource Manager answers it: for its own types
// (Microsoft.Resources) and namespaces, InvalidApiVersionParameter; for a
// provider's type, NoRegisteredProviderFound naming the resource group's
// location when the request is in one the caller (who) may read, else
// InvalidResourceType (so the answer shows no group's location, or
// existence, to a caller who may not see it).
func (s *Server) requireAPIVersion(r *http.Request, who, typ string) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return newError(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	accepted := resources.APIVersionsOf(typ)
	if slices.Contains(accepted, v) {
		return nil
	}
	ns, short, isType := strings.Cut(typ, "/")
	if !isType || strings.EqualFold(ns, "Microsoft.Resources") {
		return newError(http.StatusBadRequest, "InvalidApiVersionParameter",
			"The api-version '%s' is invalid. The supported versions are '%s'.", v, strings.Join(accepted, ","))
	}
	if sub, rg := groupOfPath(r.URL.Path); rg != "" && s.authorize(r.Context(), who, "Microsoft.Resources/subscriptions/resourceGroups/read", resourceGroupID(sub, rg)) == nil {
		location, err := s.groupLocation(r.Context(), sub, rg)
		if err != nil {
			return err
		}
		if location != "" {
			return newError(http.StatusBadRequest, "NoRegisteredProviderFound", "%s", unregisteredVersion(typ, v, location, accepted))
		}
	}
	return newError(http.StatusBadRequest, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s' for api version '%s'. The supported api-versions are '%s'.",
		short, ns, v, strings.Join(accepted, ", "))
}

// groupOfPath is the subscription and resource group a request path is
// in; rg is "" for a path outside a resource group.
func groupOfPath(path string) (sub, rg string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) >= 4 && strings.EqualFold(segs[0], "subscriptions") && strings.EqualFold(segs[2], "resourceGroups") {
		return segs[1], segs[3]
	}
	return "", ""
}

// condition reads If-Match / If-None-Match.
func condition(r *http.Request) store.Condition {
	return store.Condition{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
}
