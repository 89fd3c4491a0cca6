package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

const sub = "00000000-0000-0000-0000-000000000001"

type client struct {
	t     testing.TB
	base  string
	token string
	st    store.Store
	srv   *Server // nil for a server in another process
	dir   string  // the data directory, when the test made it
}

func newClient(t *testing.T, opts ...Options) *client {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return newClientOn(t, func(s store.Store) store.Store { return s }, o)
}

// newClientOn is newClient with the server on wrap of its store.
func newClientOn(t *testing.T, wrap func(store.Store) store.Store, o Options) *client {
	t.Helper()
	// The store creates dir 0700; SECURETRAIN_TEST_STORE=postgres puts
	// the records in PostgreSQL.
	dir := filepath.Join(t.TempDir(), "data")
	st := wrap(storetest.Open(t, dir))
	if created, err := EnsureAdmin(context.Background(), st, dir); err != nil || !created {
		t.Fatalf("admin: %v %v", created, err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, AdminTokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v", fi.Mode().Perm())
	}
	if again, err := EnsureAdmin(context.Background(), st, dir); again || err != nil {
		t.Errorf("second start re-created the admin: %v %v", again, err)
	}
	return serveTest(t, NewWithOptions(st, slog.New(slog.NewTextHandler(io.Discard, nil)), o), st, dir, strings.TrimSpace(string(tok)))
}

// adminToken makes st's administrator, its token written in dir, unless
// it exists, and returns the token.
func adminToken(t testing.TB, st store.Store, dir string) string {
	t.Helper()
	if _, err := EnsureAdmin(context.Background(), st, dir); err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(tok))
}

// serveTest serves s, a server on st, on loopback HTTP with its engine
// and sweeper running as serve runs them, until the test ends, and
// returns a client of it with token (dir: its data directory).
func serveTest(t testing.TB, s *Server, st store.Store, dir, token string) *client {
	t.Helper()
	t.Cleanup(startBackground(s))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL, token: token, st: st, srv: s, dir: dir}
}

// startBackground runs the server's engine and sweeper, as serve does,
// until the function it returns is called (before the store closes).
func startBackground(s *Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Background(ctx) }()
	return func() { cancel(); <-done }
}

// settle waits until the server's engine has taken up every request so
// far: what it could do is done, what remains waits for a time or a
// change. A server in another process (c.srv nil) is polled instead.
func (c *client) settle() {
	c.t.Helper()
	if c.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // -race on 2 shared cores is slow
	defer cancel()
	if err := c.srv.Engine().Quiet(ctx); err != nil {
		c.t.Fatal(err)
	}
}

// do sends a request and returns the status, the decoded body and the
// headers.
func (c *client) do(method, path, body string, hdr ...string) (int, map[string]any, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON", method, path, data)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

const rgAPI = "?api-version=2021-04-01"

func TestAuthentication(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct{ name, token, code string }{
		{"missing header", "", "AuthenticationFailed"},
		{"wrong token", "st_nope", "InvalidAuthenticationToken"},
	} {
		c2 := *c
		c2.token = tc.token
		req, _ := http.NewRequest("GET", c.base+"/subscriptions/"+sub+"/resourcegroups"+rgAPI, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("x-ms-error-code") != tc.code {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, resp.Header.Get("x-ms-error-code"))
		}
	}
	// A created principal's token works; the store holds only its hash.
	tok, err := CreatePrincipal(context.Background(), c.st, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c.token = tok
	// Authenticated, but with no role: 403, not 401.
	if status, body, _ := c.do("GET", "/subscriptions/"+sub+"/resourcegroups"+rgAPI, ""); status != 403 || errCode(body) != "AuthorizationFailed" {
		t.Errorf("alice's token without a role: %d %v", status, body)
	}
	p, _ := c.st.List(context.Background(), store.Query{Scope: "/providers/securetrain"})
	for _, r := range p.Records {
		if strings.Contains(string(r.Body), tok) || strings.Contains(r.ID, tok) {
			t.Errorf("token stored in clear in %s", r.ID)
		}
	}
	if _, err := CreatePrincipal(context.Background(), c.st, "alice"); err == nil {
		t.Error("duplicate principal accepted")
	}
}

func TestAPIVersionAndRouting(t *testing.T) {
	c := newClient(t)
	rg := "/subscriptions/" + sub + "/resourceGroups/rg1"
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{rg, 400, "MissingApiVersionParameter"},
		{rg + "?api-version=1999-01-01", 400, "InvalidApiVersionParameter"},
		{"/subscriptions/not-a-guid/resourceGroups/rg1" + rgAPI, 400, "InvalidSubscriptionId"},
		{"/subscriptions/" + sub + "/providers/Microsoft.Nope/things/x" + rgAPI, 404, "InvalidResourceType"},
		{rg + rgAPI, 404, "ResourceGroupNotFound"},
	} {
		if status, body, _ := c.do("GET", tc.path, ""); status != tc.status || errCode(body) != tc.code {
			t.Errorf("GET %s: %d %v", tc.path, status, body)
		}
	}
}

func TestResourceGroupLifecycle(t *testing.T) {
	c := newClient(t)
	// armresources sends lower-case "resourcegroups"; others "resourceGroups".
	path := "/subscriptions/" + sub + "/resourcegroups/RG-Train" + rgAPI
	status, body, hdr := c.do("PUT", path, `{"location":"West US 2","tags":{"team":"ml"}}`)
	if status != 201 || body["id"] != "/subscriptions/"+sub+"/resourceGroups/RG-Train" || body["location"] != "westus2" || hdr.Get("ETag") == "" {
		t.Fatalf("create: %d %v", status, body)
	}
	etag := hdr.Get("ETag")
	if status, body, _ := c.do("GET", strings.ToUpper(path[:len(path)-len(rgAPI)])+rgAPI, ""); status != 200 || body["name"] != "RG-Train" {
		t.Errorf("case-insensitive get: %d %v", status, body)
	}
	if status, body, _ := c.do("PUT", path, `{"location":"eastus"}`); status != 409 || errCode(body) != "InvalidResourceGroupLocation" {
		t.Errorf("location change: %d %v", status, body)
	}
	if status, body, _ := c.do("PUT", path, `{"location":"westus2","tags":{}}`, "If-Match", `W/"stale"`); status != 412 || errCode(body) != "PreconditionFailed" {
		t.Errorf("stale If-Match: %d %v", status, body)
	}
	if status, _, h := c.do("PUT", path, `{"location":"westus2"}`, "If-Match", etag); status != 200 || h.Get("ETag") == etag {
		t.Errorf("update with the current etag: %d", status)
	}
	for _, bad := range []struct{ body, code string }{
		{`{"location":"westus2","locaton":"x"}`, "InvalidRequestContent"},
		{`{"tags":{}}`, "LocationRequired"},
		{`{"location":`, "InvalidRequestContent"},
		{`{"location":"westus2"} {}`, "InvalidRequestContent"},
	} {
		if status, body, _ := c.do("PUT", path, bad.body); status != 400 || errCode(body) != bad.code {
			t.Errorf("body %s: %d %v", bad.body, status, body)
		}
	}
	if status, body, _ := c.do("PUT", "/subscriptions/"+sub+"/resourcegroups/bad.name."+rgAPI, `{"location":"westus2"}`); status != 400 || errCode(body) != "InvalidResourceGroup" {
		t.Errorf("invalid name: %d %v", status, body)
	}
	big := `{"location":"westus2","tags":{"x":"` + strings.Repeat("a", MaxBody) + `"}}`
	if status, body, _ := c.do("PUT", path, big); status != 413 || errCode(body) != "RequestEntityTooLarge" {
		t.Errorf("oversized body: %d %v", status, errCode(body))
	}
	// Deleting the group deletes what it holds, in one transaction.
	ctx := context.Background()
	child := "/subscriptions/" + sub + "/resourceGroups/RG-Train/providers/Microsoft.Network/virtualNetworks/v1"
	if err := c.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, store.Record{ID: child, Type: "Microsoft.Network/virtualNetworks", Body: []byte(`{}`)}, store.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := c.do("DELETE", path, ""); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if _, err := c.st.Get(ctx, child); err == nil {
		t.Error("the group's VNet survived its group")
	}
	if status, body, _ := c.do("DELETE", path, ""); status != 404 || errCode(body) != "ResourceGroupNotFound" {
		t.Errorf("second delete: %d %v", status, body)
	}
}

func TestResourceGroupListPaging(t *testing.T) {
	c := newClient(t)
	for i := range 7 {
		if status, body, _ := c.do("PUT", fmt.Sprintf("/subscriptions/%s/resourceGroups/rg%d%s", sub, i, rgAPI), `{"location":"eastus"}`); status != 201 {
			t.Fatalf("create rg%d: %d %v", i, status, body)
		}
	}
	var names []string
	next := c.base + "/subscriptions/" + sub + "/resourcegroups" + rgAPI + "&$top=3"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		status, body, _ := c.do("GET", strings.TrimPrefix(next, c.base), "")
		if status != 200 {
			t.Fatalf("list: %d %v", status, body)
		}
		for _, v := range body["value"].([]any) {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		next, _ = body["nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, c.base) {
			t.Fatalf("nextLink %q is not absolute on the server", next)
		}
	}
	if strings.Join(names, ",") != "rg0,rg1,rg2,rg3,rg4,rg5,rg6" {
		t.Errorf("listed %v", names)
	}
}

func TestLocksProtectResourceGroups(t *testing.T) { // spec §10 #9: a lock makes deletes fail
	c := newClient(t)
	rg := "/subscriptions/" + sub + "/resourceGroups/net-rg"
	lock := rg + "/providers/Microsoft.Authorization/locks/keep?api-version=2016-09-01"
	if status, body, _ := c.do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); status != 404 || errCode(body) != "ResourceGroupNotFound" {
		t.Errorf("lock on a missing group: %d %v", status, body)
	}
	if status, _, _ := c.do("PUT", rg+rgAPI, `{"location":"eastus"}`); status != 201 {
		t.Fatal("create group")
	}
	if status, body, _ := c.do("PUT", lock, `{"properties":{"level":"NoDelete"}}`); status != 400 || errCode(body) != "LockLevelRequired" {
		t.Errorf("bad level: %d %v", status, body)
	}
	if status, body, _ := c.do("PUT", lock, `{"properties":{"level":"cannotdelete","notes":"shared network"}}`); status != 201 ||
		body["type"] != "Microsoft.Authorization/locks" || body["properties"].(map[string]any)["level"] != "CanNotDelete" {
		t.Fatalf("create lock: %d %v", status, body)
	}
	// CanNotDelete: updates pass, deletes fail with ScopeLocked naming the lock.
	if status, _, _ := c.do("PUT", rg+rgAPI, `{"location":"eastus","tags":{"a":"b"}}`); status != 200 {
		t.Errorf("update under CanNotDelete: %d", status)
	}
	status, body, _ := c.do("DELETE", rg+rgAPI, "")
	if msg, _ := body["error"].(map[string]any)["message"].(string); status != 409 || errCode(body) != "ScopeLocked" || !strings.Contains(msg, "keep") {
		t.Errorf("delete under CanNotDelete: %d %v", status, body)
	}
	// A ReadOnly lock at subscription scope refuses writes too.
	subLock := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/locks/freeze?api-version=2020-05-01"
	if status, _, _ := c.do("PUT", subLock, `{"properties":{"level":"ReadOnly"}}`); status != 201 {
		t.Fatal("subscription lock")
	}
	if status, body, _ := c.do("PUT", rg+rgAPI, `{"location":"eastus"}`); status != 409 || errCode(body) != "ScopeLocked" {
		t.Errorf("update under ReadOnly: %d %v", status, body)
	}
	if status, body, _ := c.do("GET", "/subscriptions/"+sub+"/providers/Microsoft.Authorization/locks?api-version=2016-09-01", ""); status != 200 || len(body["value"].([]any)) != 2 {
		t.Errorf("list locks: %d %v", status, body)
	}
	// Removing the locks lets the delete finish.
	for _, l := range []string{subLock, lock} {
		if status, _, _ := c.do("DELETE", l, ""); status != 200 {
			t.Errorf("delete lock %s: %d", l, status)
		}
	}
	if status, _, _ := c.do("DELETE", lock, ""); status != 204 {
		t.Errorf("deleting a missing lock: %d", status)
	}
	if status, body, _ := c.do("DELETE", rg+rgAPI, ""); status != 200 {
		t.Errorf("delete after unlocking: %d %v", status, body)
	}
}

func TestRBAC(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	admin := c.token
	for _, rg := range []string{"net-rg", "ml-rg"} {
		if status, _, _ := c.do("PUT", "/subscriptions/"+sub+"/resourceGroups/"+rg+rgAPI, `{"location":"eastus"}`); status != 201 {
			t.Fatalf("create %s", rg)
		}
	}
	as := func(name, role, scope string) string {
		tok, err := CreatePrincipal(ctx, c.st, name)
		if err != nil {
			t.Fatal(err)
		}
		if role != "" {
			if _, err := AssignRole(ctx, c.st, name, role, scope); err != nil {
				t.Fatal(err)
			}
		}
		return tok
	}
	rgPath := func(rg string) string { return "/subscriptions/" + sub + "/resourceGroups/" + rg + rgAPI }
	lock := "/subscriptions/" + sub + "/resourceGroups/ml-rg/providers/Microsoft.Authorization/locks/l?api-version=2016-09-01"
	cases := []struct {
		who, role, scope, method, path, body string
		want                                 int
	}{
		// Reader at one resource group: reads it, nothing else.
		{"reader", "Reader", "/subscriptions/" + sub + "/resourceGroups/ml-rg", "GET", rgPath("ml-rg"), "", 200},
		{"reader", "", "", "GET", rgPath("NET-RG"), "", 403},
		{"reader", "", "", "PUT", rgPath("ml-rg"), `{"location":"eastus"}`, 403},
		// Contributor at the subscription: writes resources, not locks
		// (Microsoft.Authorization/*/Write is a notAction).
		{"contrib", "Contributor", "/subscriptions/" + sub, "PUT", rgPath("ml-rg"), `{"location":"eastus"}`, 200},
		{"contrib", "", "", "PUT", lock, `{"properties":{"level":"ReadOnly"}}`, 403},
		// Data Scientist: reads, cannot change resource groups.
		{"ds", "data scientist", "/subscriptions/" + sub, "GET", rgPath("net-rg"), "", 200},
		{"ds", "", "", "DELETE", rgPath("net-rg"), "", 403},
		// Owner at a resource group: locks there.
		{"owner", "Owner", "/subscriptions/" + sub + "/resourceGroups/ml-rg", "PUT", lock, `{"properties":{"level":"ReadOnly"}}`, 201},
	}
	tokens := map[string]string{}
	for _, tc := range cases {
		if _, ok := tokens[tc.who]; !ok {
			tokens[tc.who] = as(tc.who, tc.role, tc.scope)
		}
		c.token = tokens[tc.who]
		if status, body, _ := c.do(tc.method, tc.path, tc.body); status != tc.want {
			t.Errorf("%s %s %s: %d, want %d (%v)", tc.who, tc.method, tc.path, status, tc.want, body)
		} else if status == 403 && errCode(body) != "AuthorizationFailed" {
			t.Errorf("%s: 403 with code %s", tc.who, errCode(body))
		}
	}
	c.token = admin
	if _, err := AssignRole(ctx, c.st, "nobody", "Reader", "/"); err == nil {
		t.Error("role assigned to a principal that does not exist")
	}
	if _, err := AssignRole(ctx, c.st, "reader", "Janitor", "/"); err == nil || !strings.Contains(err.Error(), "Network Contributor") {
		t.Errorf("unknown role: %v", err)
	}
}

func TestActionMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.Network/virtualNetworks/write", true},
		{"*/read", "Microsoft.Network/virtualNetworks/read", true},
		{"*/read", "Microsoft.Network/virtualNetworks/write", false},
		{"Microsoft.Authorization/*/Write", "microsoft.authorization/locks/write", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/locks/read", false},
		{"Microsoft.Network/*", "Microsoft.NetworkX/a/write", false},
		{"Microsoft.MachineLearningServices/workspaces/computes/*", "Microsoft.MachineLearningServices/workspaces/computes/write", true},
		{"Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Network/virtualNetworks/subnets/join/action", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
	} {
		if got := actionMatch(tc.pattern, tc.action); got != tc.want {
			t.Errorf("actionMatch(%q, %q) = %v", tc.pattern, tc.action, got)
		}
	}
}

func TestRoleAssignmentAPI(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	admin := c.token
	if status, _, _ := c.do("PUT", "/subscriptions/"+sub+"/resourceGroups/ml-rg"+rgAPI, `{"location":"eastus"}`); status != 201 {
		t.Fatal("create group")
	}
	bobToken, err := CreatePrincipal(ctx, c.st, "bob")
	if err != nil {
		t.Fatal(err)
	}
	const v = "?api-version=2022-04-01"
	ra := "/subscriptions/" + sub + "/resourceGroups/ml-rg/providers/Microsoft.Authorization/roleAssignments/11111111-2222-3333-4444-555555555555"
	reader := `{"properties":{"roleDefinitionId":"/subscriptions/` + sub + `/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7","principalId":"bob"}}`
	for _, bad := range []struct{ path, body, code string }{
		{ra + v, strings.Replace(reader, "acdd72a7-3385-48ef-bd42-f606fba81ae7", "00000000-0000-0000-0000-00000000dead", 1), "RoleDefinitionDoesNotExist"},
		{ra + v, strings.Replace(reader, `"bob"`, `"carol"`, 1), "PrincipalNotFound"},
		{strings.Replace(ra, "11111111-2222-3333-4444-555555555555", "not-a-guid", 1) + v, reader, "InvalidRoleAssignmentId"},
	} {
		if status, body, _ := c.do("PUT", bad.path, bad.body); errCode(body) != bad.code {
			t.Errorf("%s: %d %v", bad.code, status, body)
		}
	}
	// bob cannot read the group until the assignment exists.
	c.token = bobToken
	if status, _, _ := c.do("GET", "/subscriptions/"+sub+"/resourceGroups/ml-rg"+rgAPI, ""); status != 403 {
		t.Errorf("bob before the assignment: %d", status)
	}
	c.token = admin
	if status, body, _ := c.do("PUT", ra+v, reader); status != 201 || body["properties"].(map[string]any)["scope"] != "/subscriptions/"+sub+"/resourceGroups/ml-rg" {
		t.Fatalf("assign: %d %v", status, body)
	}
	if status, _, _ := c.do("PUT", ra+v, reader); status != 200 {
		t.Errorf("same assignment again: %d", status)
	}
	owner := strings.Replace(reader, "acdd72a7-3385-48ef-bd42-f606fba81ae7", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", 1)
	if status, body, _ := c.do("PUT", ra+v, owner); status != 409 || errCode(body) != "RoleAssignmentUpdateNotPermitted" {
		t.Errorf("changing an assignment: %d %v", status, body)
	}
	c.token = bobToken
	if status, _, _ := c.do("GET", "/subscriptions/"+sub+"/resourceGroups/ml-rg"+rgAPI, ""); status != 200 {
		t.Errorf("bob as Reader: %d", status)
	}
	// A Reader cannot assign roles (needs roleAssignments/write).
	if status, body, _ := c.do("PUT", strings.Replace(ra, "5555", "6666", 1)+v, owner); status != 403 {
		t.Errorf("Reader assigning Owner: %d %v", status, body)
	}
	c.token = admin
	if status, body, _ := c.do("GET", "/subscriptions/"+sub+"/resourceGroups/ml-rg/providers/Microsoft.Authorization/roleAssignments"+v, ""); status != 200 || len(body["value"].([]any)) != 1 {
		t.Errorf("list: %d %v", status, body)
	}
	if status, body, _ := c.do("GET", "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions"+v, ""); status != 200 || len(body["value"].([]any)) != len(builtinRoles) {
		t.Errorf("role definitions: %d %v", status, body)
	}
	if status, _, _ := c.do("DELETE", ra+v, ""); status != 200 {
		t.Errorf("delete: %d", status)
	}
	c.token = bobToken
	if status, _, _ := c.do("GET", "/subscriptions/"+sub+"/resourceGroups/ml-rg"+rgAPI, ""); status != 403 {
		t.Errorf("bob after the assignment is deleted: %d", status)
	}
}
