// Package studio is securetrain's web UI: pages rendered by html/template
// from assets embedded in the binary, served by `securetrain serve` on the
// API's listener under / and /studio/. It holds no authority of its own:
// every read and write is a request to the API's handler, made in-process
// with the signed-in principal's token, so authentication, RBAC, locks,
// policy and validation are the ones every API client meets.
package studio

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/arm"
	"securetrain/internal/clock"
	"securetrain/internal/requirements"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// API is what the studio needs of the control plane (api.Server).
type API interface {
	// ServeHTTP is the ARM API: the studio's reads and writes.
	http.Handler
	// Principal authenticates a request's bearer token.
	Principal(*http.Request) (string, error)
	// Permitted asks the RBAC evaluator whether the request's principal
	// may perform an action on a target (to show or hide a button).
	Permitted(r *http.Request, action, target string) (bool, error)
	// ServePreflight judges a compute before it is created.
	ServePreflight(http.ResponseWriter, *http.Request)
	// CheckCompute is what `securetrain check` says of an existing
	// compute, on the cached compiled network.
	CheckCompute(r *http.Request, id arm.ID) (requirements.ComputeReport, error)
	// ServeFlow answers a flow explorer's question as `securetrain flow`.
	ServeFlow(http.ResponseWriter, *http.Request)
	// ServeNetworkView answers what the verifier computes of subnets
	// (free addresses, effective rules and routes) and NSGs.
	ServeNetworkView(http.ResponseWriter, *http.Request)
	// RecordTimes says when the resources of a type under a scope were
	// created and last written.
	RecordTimes(r *http.Request, scope, typ string) (map[string]api.RecordTime, error)
	// ListComputes lists a workspace's computes of a type, with the
	// bodies of a page of them, as the API's list would.
	ListComputes(r *http.Request, ws arm.ID, computeType string, offset, limit int) (api.ComputeList, error)
	// ListNetwork lists a subscription's NSGs, firewalls, NAT gateways,
	// load balancers or public IPs: those users wrote, and the count of
	// those Azure ML created, as the API's list would.
	ListNetwork(r *http.Request, sub, typ string) (api.NetworkList, error)
	// Referrers lists the resources whose bodies name a resource (what
	// it is attached to) that the principal may read.
	Referrers(r *http.Request, id arm.ID) ([]arm.ID, error)
}

// Options configure the studio.
type Options struct {
	Log *slog.Logger
	// Clock times sessions; nil is the system clock.
	Clock clock.Clock
	// IdleTimeout ends a session unused this long (default 30 minutes);
	// MaxLifetime ends it this long after sign-in (default 12 hours).
	IdleTimeout, MaxLifetime time.Duration
}

// Studio is the web UI's handler.
type Studio struct {
	api      API
	log      *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	// crossOrigin refuses state-changing requests a browser marks as
	// coming from another origin (Sec-Fetch-Site, Origin): the first
	// layer of CSRF protection; the session's CSRF token is the second.
	crossOrigin *http.CrossOriginProtection
	// preflights bounds the pre-flight checks running at once: each
	// compiles the subscription's network (up to a second for a large
	// one), and the panel asks on every edit.
	preflights chan struct{}
	// streams bounds the log streams open at once (maxStreams).
	streams chan struct{}
	// heartbeat is how long a quiet log stream waits before it sends a
	// comment, so that proxies and browsers keep the connection.
	heartbeat time.Duration
	// patience is how long a log stream keeps asking the API through the
	// server's own failures (streamPatience; tests shorten it).
	patience time.Duration
}

// maxPreflights is how many pre-flight checks run at once; more are
// answered 503 and the panel asks again on the next edit.
const maxPreflights = 2

// cookieName: the __Host- prefix makes browsers accept the cookie only
// with Secure, Path=/ and no Domain, so no sibling host can set it.
const cookieName = "__Host-securetrain-studio"

// maxForm bounds a form's body: the largest is the compute form with an
// SSH key.
const maxForm = 64 << 10

// New returns the studio over api.
func New(api API, opts Options) *Studio {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = 12 * time.Hour
	}
	s := &Studio{api: api, log: opts.Log, sessions: newSessions(opts.Clock, opts.IdleTimeout, opts.MaxLifetime),
		pages: parsePages(), crossOrigin: http.NewCrossOriginProtection(), preflights: make(chan struct{}, maxPreflights),
		streams: make(chan struct{}, maxStreams), heartbeat: 15 * time.Second, patience: streamPatience}
	static, _ := fs.Sub(staticFS, "static") // the embedded directory exists
	mux := http.NewServeMux()
	mux.Handle("GET /studio/static/", http.StripPrefix("/studio/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /studio/signin", s.signIn)
	mux.HandleFunc("POST /studio/signout", s.signedIn(s.signOut))
	mux.HandleFunc("GET /studio/compute", s.signedIn(s.computePage))
	mux.HandleFunc("GET /studio/compute/new", s.signedIn(s.newComputePage))
	mux.HandleFunc("POST /studio/compute/create", s.signedIn(s.createCompute))
	mux.HandleFunc("GET /studio/compute/view", s.signedIn(s.viewCompute))
	mux.HandleFunc("POST /studio/compute/resize", s.signedIn(s.resizeCompute))
	mux.HandleFunc("POST /studio/compute/stop", s.signedIn(s.powerCompute("stop")))
	mux.HandleFunc("POST /studio/compute/start", s.signedIn(s.powerCompute("start")))
	mux.HandleFunc("POST /studio/compute/restart", s.signedIn(s.powerCompute("restart")))
	mux.HandleFunc("POST /studio/compute/delete", s.signedIn(s.deleteCompute))
	mux.HandleFunc("GET /studio/resource", s.signedIn(s.viewResource))
	mux.HandleFunc("POST /studio/api/preflight", s.signedIn(s.preflight))
	mux.HandleFunc("GET /studio/network", s.signedIn(s.networkPage))
	mux.HandleFunc("GET /studio/network/subnet", s.signedIn(s.subnetPage))
	mux.HandleFunc("GET /studio/network/nsg", s.signedIn(s.nsgPage))
	mux.HandleFunc("GET /studio/network/routetable", s.signedIn(s.routeTablePage))
	mux.HandleFunc("GET /studio/network/firewall", s.signedIn(s.firewallPage))
	mux.HandleFunc("GET /studio/network/loadbalancer", s.signedIn(s.loadBalancerPage))
	mux.HandleFunc("GET /studio/network/publicip", s.signedIn(s.publicIPPage))
	mux.HandleFunc("GET /studio/network/natgateway", s.signedIn(s.natGatewayPage))
	mux.HandleFunc("GET /studio/network/peering", s.signedIn(s.peeringPage))
	mux.HandleFunc("GET /studio/network/flow", s.signedIn(s.flowPage))
	mux.HandleFunc("GET /studio/network/diagram", s.signedIn(s.vnetDiagramPage))
	mux.HandleFunc("GET /studio/jobs", s.signedIn(s.jobsPage))
	mux.HandleFunc("GET /studio/jobs/view", s.signedIn(s.jobPage))
	mux.HandleFunc("GET /studio/jobs/events", s.signedIn(s.jobEvents))
	mux.HandleFunc("GET /studio/jobs/output", s.signedIn(s.jobOutput))
	mux.HandleFunc("POST /studio/jobs/cancel", s.signedIn(s.cancelJob))
	mux.HandleFunc("GET /studio/jobs/new", s.signedIn(s.newJobPage))
	mux.HandleFunc("POST /studio/jobs/create", s.signedIn(s.createJob))
	s.mux = mux
	return s
}

// Mount serves the studio at / and under /studio/, and everything else
// (the ARM API: /subscriptions/…) with api, unchanged.
func Mount(api http.Handler, studio *Studio) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Blob REST request (x-ms-version) may address a storage
		// account called studio: it is the API's.
		if (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/studio/")) && r.Header.Get("x-ms-version") == "" {
			studio.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the studio's pages with its security headers.
func (s *Studio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style, nothing from elsewhere, no framing.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !strings.HasPrefix(r.URL.Path, "/studio/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if err := s.crossOrigin.Check(r); err != nil {
		http.Error(w, "Refused: a cross-origin request cannot change anything in the studio.", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// sessionOf is the live session of r's cookie.
func (s *Studio) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	return s.sessions.get(c.Value)
}

// signedIn wraps a handler that needs a session: without one, a page
// goes to sign-in and anything else is 401. A state-changing request must
// also carry the session's CSRF token (form field csrf, or the
// X-CSRF-Token header).
func (s *Studio) signedIn(next func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.sessionOf(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			http.Error(w, "Refused: sign in to the studio first.", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet {
			if err := readForm(w, r); err != nil {
				http.Error(w, "Refused: the form cannot be read: "+err.Error(), http.StatusBadRequest)
				return
			}
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostForm.Get("csrf")
			}
			if !sess.validCSRF(got) {
				http.Error(w, "Refused: the request has no valid CSRF token; reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		next(w, r, sess)
	}
}

// readForm reads a request's form within its bounds: a job's upload
// (multipart, on /studio/jobs/create only) up to maxUpload, any other
// form up to maxForm.
func readForm(w http.ResponseWriter, r *http.Request) error {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return fmt.Errorf("at most %d KiB: %w", maxForm>>10, err)
		}
		return nil
	}
	if r.URL.Path != "/studio/jobs/create" {
		return errors.New("only a job's submission is sent as files")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(multipartMemory); err != nil {
		return fmt.Errorf("the job file and code archive are at most %d MiB together: %w", maxUpload>>20, err)
	}
	return nil
}

// armError is an error answer of the API.
type armError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *armError) Error() string { return e.Code + ": " + e.Message }

// answered is an error of one of the API's Go methods as an *armError,
// the API's answer; an internal error stays as it is, to be logged.
func answered(err error) error {
	status, code, message := api.ErrorAnswer(err)
	if status == http.StatusInternalServerError {
		return err
	}
	return &armError{Status: status, Code: code, Message: message}
}

// apiRequest is a request to the API made in-process as the session's
// principal. It keeps the browser's context, host and TLS state, so links
// the API writes (operation URLs) are right.
func (s *Studio) apiRequest(r *http.Request, sess session, method, path string, body []byte) *http.Request {
	req := httptest.NewRequestWithContext(r.Context(), method, path, bytes.NewReader(body))
	req.Host, req.TLS, req.RemoteAddr = r.Host, r.TLS, r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+sess.token)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// call sends a request to the API, with extra headers given as name,
// value pairs, and returns the answer.
func (s *Studio) call(r *http.Request, sess session, method, path string, body []byte, headers ...string) *httptest.ResponseRecorder {
	req := s.apiRequest(r, sess, method, path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, req)
	return rec
}

// get reads path from the API into out; an error answer is an *armError.
func (s *Studio) get(r *http.Request, sess session, path string, out any) error {
	return decodeAnswer(s.call(r, sess, http.MethodGet, path, nil), out)
}

// ask sends in (JSON) to one of the API's studio handlers as the
// session's principal and decodes its answer into out.
func (s *Studio) ask(r *http.Request, sess session, handler func(http.ResponseWriter, *http.Request), in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode a request to the API: %w", err)
	}
	rec := httptest.NewRecorder()
	handler(rec, s.apiRequest(r, sess, http.MethodPost, r.URL.Path, body))
	return decodeAnswer(rec, out)
}

// decodeAnswer decodes an API answer into out, or its error.
func decodeAnswer(rec *httptest.ResponseRecorder, out any) error {
	if rec.Code >= 300 {
		var e struct {
			Error armError `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
			return &armError{Status: rec.Code, Code: http.StatusText(rec.Code), Message: strings.TrimSpace(rec.Body.String())}
		}
		e.Error.Status = rec.Code
		return &e.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return fmt.Errorf("the API's answer: %w", err)
	}
	return nil
}
