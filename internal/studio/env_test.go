package studio

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/blob"
	"securetrain/internal/clock"
	"securetrain/internal/store"
)

const (
	sub       = "00000000-0000-0000-0000-000000000001"
	wsID      = "/subscriptions/" + sub + "/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws1"
	subnetsOf = "/subscriptions/" + sub + "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/"
	mlVersion = "?api-version=2024-04-01"
)

// env is a control plane with the studio mounted, over TLS, seeded with
// testdata/seed.json.
type env struct {
	t           testing.TB
	base        string
	api         *api.Server
	st          store.Store
	dir         string
	clock       *clock.Fake
	adminToken  string
	readerToken string
	// client trusts the test server's certificate and does not follow
	// redirects.
	client *http.Client
	studio *Studio
	served *atomic.Int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data") // the store creates it 0700
	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if _, err := api.EnsureAdmin(ctx, st, dir); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, api.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := api.CreatePrincipal(ctx, st, "reader")
	if err != nil {
		t.Fatal(err)
	}
	// Jobs run as processes on the sim fabric: their logs under the data
	// directory, their working directories where a job's user can reach
	// them.
	nodes, err := os.MkdirTemp("", "securetrain-studio-nodes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(nodes) })
	if err := os.Chmod(nodes, 0o711); err != nil {
		t.Fatal(err)
	}
	// Blobs: a job's code uploaded from the studio.
	blobs, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a := api.NewWithOptions(st, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		api.Options{JobLogDir: filepath.Join(dir, "jobs"), NodeDir: nodes, Blobs: blobs})
	bg, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Background(bg) }()
	t.Cleanup(func() { stop(); <-done })
	fake := clock.NewFake(time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC))
	ui := New(a, Options{Clock: fake})
	// served adds up the time the handler takes (the server's time a
	// page, which the benchmarks report beside the wall time).
	served := new(atomic.Int64)
	mounted := Mount(a, ui)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		mounted.ServeHTTP(w, r)
		served.Add(int64(time.Since(start)))
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e := &env{t: t, base: srv.URL, api: a, st: st, dir: dir, clock: fake, adminToken: strings.TrimSpace(string(tok)), readerToken: reader, client: client, studio: ui, served: served}
	e.seed()
	return e
}

// seed sends testdata/seed.json's requests as the admin and waits for the
// seed cluster.
func (e *env) seed() {
	e.t.Helper()
	raw, err := os.ReadFile("testdata/seed.json")
	if err != nil {
		e.t.Fatal(err)
	}
	var seed struct {
		Requests []struct {
			Path string          `json:"path"`
			Body json.RawMessage `json:"body"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil {
		e.t.Fatal(err)
	}
	for _, r := range seed.Requests {
		if status, body := e.armDo("PUT", "/subscriptions/"+sub+r.Path, string(r.Body)); status != http.StatusOK && status != http.StatusCreated {
			e.t.Fatalf("seed PUT %s: %d %s", r.Path, status, body)
		}
	}
	e.settle()
}

// settle waits until the provisioning engine has done what it can.
func (e *env) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.api.Engine().Quiet(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// armDo sends an API request as the admin.
func (e *env) armDo(method, path, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// browser is a signed-in HTTP client: its session cookie and CSRF token.
type browser struct {
	e      *env
	cookie *http.Cookie
	csrf   string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// signIn signs in with token and reads the CSRF token from the page.
func (e *env) signIn(token string) *browser {
	e.t.Helper()
	resp := e.post("/studio/signin", url.Values{"token": {token}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == cookieName {
			c = k
		}
	}
	if c == nil {
		e.t.Fatal("sign-in set no session cookie")
	}
	b := &browser{e: e, cookie: c}
	_, page := b.get("/")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		e.t.Fatalf("the signed-in page has no CSRF token: %s", page)
	}
	b.csrf = m[1]
	return b
}

// post sends a form, with cookie if not nil.
func (e *env) post(path string, form url.Values, cookie *http.Cookie, headers ...string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (b *browser) get(path string) (*http.Response, string) {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.base+path, nil)
	return b.send(req)
}

// send sends req with the session cookie and reads the answer.
func (b *browser) send(req *http.Request) (*http.Response, string) {
	b.e.t.Helper()
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	resp, err := b.e.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// post sends a form with the session cookie and, unless the form sets
// one, the CSRF token.
func (b *browser) post(path string, form url.Values, headers ...string) (*http.Response, string) {
	b.e.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	resp := b.e.post(path, form, b.cookie, headers...)
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// computeForm is the wizard's form for a compute in ws1.
func computeFormValues(kind, name, subnet string) url.Values {
	v := url.Values{"ws": {wsID}, "kind": {kind}, "name": {name}, "vmSize": {"Standard_DS3_v2"}, "minNodes": {"0"}, "maxNodes": {"2"}}
	if subnet != "" {
		v.Set("vnet", "on")
		v.Set("subnet", subnetsOf+subnet)
	}
	return v
}
