package studio

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"securetrain/internal/api"
)

func TestSignInSetsASecureSessionCookie(t *testing.T) { // issue 14 §1
	e := newEnv(t)
	resp := e.post("/studio/signin", url.Values{"token": {"st_wrong"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp = e.post("/studio/signin", url.Values{"token": {e.adminToken}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	c := resp.Cookies()[0]
	if c.Name != "__Host-securetrain-studio" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie: %+v", c)
	}
	if strings.Contains(c.Value, e.adminToken) || strings.Contains(resp.Header.Get("Location"), e.adminToken) {
		t.Fatal("the token is in the cookie or the redirect")
	}
	b := e.signIn(e.adminToken)
	_, page := b.get("/?sub=" + sub)
	if !strings.Contains(page, `id="principal">admin<`) || !strings.Contains(page, ">ws1</a>") {
		t.Fatalf("the picker does not show admin and ws1: %s", page)
	}
	if strings.Contains(page, e.adminToken) {
		t.Fatal("the token is in the page")
	}
}

func TestEveryStudioAnswerHasTheSecurityHeaders(t *testing.T) { // issue 14 §1: CSP without inline script
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	for _, path := range []string{"/", "/studio/compute?ws=" + wsID, "/studio/compute/new?ws=" + wsID, "/studio/static/studio.js",
		"/studio/network?sub=" + sub, "/studio/network/subnet?id=" + subnetsOf + "blocked", "/studio/network/nsg?id=" + nsgBlocked,
		"/studio/network/routetable?id=" + rtBlocked, "/studio/network/flow?sub=" + sub + "&from=" + url.QueryEscape(subnetsOf+"blocked") + "&to=Internet&port=443",
		"/studio/jobs?ws=" + wsID, "/studio/network/diagram?id=" + strings.TrimSuffix(subnetsOf, "/subnets/")} {
		resp, body := b.get(path)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, CSP %q", path, resp.StatusCode, csp)
		}
		// No inline script or style anywhere: every <script> has a src.
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "onclick") {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

func TestARMRoutesAreUnchanged(t *testing.T) { // issue 14 §1: the ARM API stays as it was
	e := newEnv(t)
	status, body := e.armDo("GET", "/foo", "")
	if status != http.StatusNotFound || !strings.Contains(body, `"InvalidResourceType"`) {
		t.Fatalf("GET /foo: %d %s", status, body)
	}
	status, body = e.armDo("GET", wsID+mlVersion, "")
	if status != http.StatusOK || !strings.Contains(body, `"name":"ws1"`) {
		t.Fatalf("GET the workspace: %d %s", status, body)
	}
	// Without a token, the API still answers 401 in ARM's shape.
	resp, err := e.client.Get(e.base + wsID + mlVersion)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Security-Policy") != "" {
		t.Fatalf("the API without a token: %d", resp.StatusCode)
	}
}

func TestStateChangingRequestsNeedTheCSRFToken(t *testing.T) { // issue 14 §1
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	for name, form := range map[string]url.Values{"no token": {"csrf": {""}}, "another token": {"csrf": {strings.Repeat("0", 64)}}} {
		for k, v := range computeFormValues("cluster", "forged", "compute") {
			form[k] = v
		}
		resp, _ := b.post("/studio/compute/create", form)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// The right token from another site is refused too (Sec-Fetch-Site).
	resp, _ := b.post("/studio/compute/create", computeFormValues("cluster", "forged", "compute"), "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d", resp.StatusCode)
	}
	resp, _ = b.post("/studio/signout", url.Values{"csrf": {""}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the token: %d", resp.StatusCode)
	}
	if status, body := e.armDo("GET", wsID+"/computes/forged"+mlVersion, ""); status != http.StatusNotFound {
		t.Fatalf("a refused request created the compute: %d %s", status, body)
	}
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusOK {
		t.Fatalf("the session ended: %d", resp.StatusCode)
	}
}

func TestReaderSeesAndCannotCreate(t *testing.T) { // issue 14 §1: one authorization path
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	_, page := b.get("/studio/compute?ws=" + wsID + "&tab=clusters")
	if !strings.Contains(page, `data-name="cpu-cluster"`) || strings.Contains(page, `id="new"`) {
		t.Fatalf("the reader's Compute page: %s", page)
	}
	if resp, _ := b.get("/studio/compute/new?ws=" + wsID); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the wizard for a reader: %d", resp.StatusCode)
	}
	resp, page := b.post("/studio/compute/create", computeFormValues("cluster", "sneaky", "compute"))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") {
		t.Errorf("a reader's Create: %d %s", resp.StatusCode, page)
	}
	resp, page = b.post("/studio/api/preflight", computeFormValues("cluster", "sneaky", "compute"))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") {
		t.Errorf("a reader's pre-flight: %d %s", resp.StatusCode, page)
	}
	if status, _ := e.armDo("GET", wsID+"/computes/sneaky"+mlVersion, ""); status != http.StatusNotFound {
		t.Fatalf("the reader created a compute: %d", status)
	}
}

func TestSignOutEndsTheSession(t *testing.T) { // issue 14 §1
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	resp, _ := b.post("/studio/signout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("sign-out: %d %v", resp.StatusCode, resp.Cookies())
	}
	// The old cookie, replayed, opens nothing.
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("a page after sign-out: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/studio/compute/create", computeFormValues("cluster", "late", "compute")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a POST after sign-out: %d", resp.StatusCode)
	}
	if _, page := b.get("/"); !strings.Contains(page, `id="signin"`) {
		t.Fatal("/ after sign-out is not the sign-in page")
	}
}

func TestSessionsExpire(t *testing.T) { // issue 14 §1: server-side expiry
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	e.clock.Advance(29 * time.Minute)
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusOK {
		t.Fatalf("a session used within 30 minutes: %d", resp.StatusCode)
	}
	e.clock.Advance(30 * time.Minute)
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a session idle 30 minutes: %d", resp.StatusCode)
	}
	// Used all along, a session still ends 12 hours after sign-in.
	b = e.signIn(e.adminToken)
	for range 25 {
		e.clock.Advance(29 * time.Minute)
		b.get("/")
	}
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a session 12 hours old: %d", resp.StatusCode)
	}
}

func TestARevokedTokenEndsTheSession(t *testing.T) { // docs/api.md: revocation holds from the next request
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	if _, err := api.RevokeTokens(context.Background(), e.st, "reader", e.dir); err != nil {
		t.Fatal(err)
	}
	resp, page := b.get("/studio/compute?ws=" + wsID)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "sign in again") {
		t.Fatalf("a page after revocation: %d %s", resp.StatusCode, page)
	}
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session outlived the token: %d", resp.StatusCode)
	}
}

// preflight posts the wizard's form to the panel's endpoint.
func preflight(t *testing.T, b *browser, form url.Values) (int, api.PreflightAnswer, string) {
	t.Helper()
	form.Set("csrf", "")
	resp, body := b.post("/studio/api/preflight", form, "X-CSRF-Token", b.csrf)
	var a api.PreflightAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("pre-flight answer %s: %v", body, err)
		}
	}
	return resp.StatusCode, a, body
}

func TestPreflightRunsTheRulesOfCheck(t *testing.T) { // issue 14 §2; spec §2, §10 #3, #6
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	status, a, body := preflight(t, b, computeFormValues("cluster", "gpu", "blocked"))
	if status != http.StatusOK || a.Report.Status != "will fail" || len(a.Report.Findings) == 0 {
		t.Fatalf("the blocked subnet: %d %s", status, body)
	}
	f := a.Report.Findings[0]
	if f.Code != "required-outbound-blocked" || !strings.Contains(f.Message, "UDP 5831") || !strings.Contains(f.Message, "DenyUDP5831") || f.Fix == "" {
		t.Fatalf("the blocking finding: %+v", f)
	}
	status, a, _ = preflight(t, b, computeFormValues("cluster", "gpu", "compute"))
	// The seed cluster takes up to 2 of the /24's 251 addresses, the
	// workspace's private endpoint 1.
	if status != http.StatusOK || a.Report.Status != "ok" || a.FreeAddresses == nil || *a.FreeAddresses != 248 {
		t.Fatalf("the good subnet: %d, status %q, free %v", status, a.Report.Status, a.FreeAddresses)
	}
	// The seed article's instance: no public IP, which needs the
	// workspace's private endpoint (the seed has one).
	form := computeFormValues("instance", "myinstance", "compute")
	form.Set("noPublicIp", "on")
	if status, a, _ = preflight(t, b, form); status != http.StatusOK || a.Report.Status != "ok" || a.Report.PublicIP {
		t.Fatalf("the no-public-IP instance: %d %+v", status, a.Report.Findings)
	}
	if _, a, body = preflight(t, b, computeFormValues("cluster", "gpu", "delegated")); !hasCode(a, "subnet-delegated") {
		t.Fatalf("the delegated subnet: %s", body)
	}
	// A compute that exists is not a proposal; bad fields name the field.
	if status, _, body = preflight(t, b, computeFormValues("cluster", "cpu-cluster", "compute")); status != http.StatusConflict || !strings.Contains(body, "exists already") {
		t.Fatalf("an existing name: %d %s", status, body)
	}
	form = computeFormValues("cluster", "gpu", "compute")
	form.Set("minNodes", "3")
	if status, _, body = preflight(t, b, form); status != http.StatusBadRequest || !strings.Contains(body, "Minimum number of nodes 3: at most the maximum, 2") {
		t.Fatalf("min above max: %d %s", status, body)
	}
	form.Set("minNodes", "0")
	form.Set("vmSize", "Standard_Huge")
	if status, _, body = preflight(t, b, form); status != http.StatusBadRequest || !strings.Contains(body, "VmSizeNotSupported") {
		t.Fatalf("an unknown size: %d %s", status, body)
	}
}

func hasCode(a api.PreflightAnswer, code string) bool {
	for _, f := range a.Report.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func TestCreateFromTheStudio(t *testing.T) { // issue 14 §2: Create lands on the compute's page
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	resp, _ := b.post("/studio/compute/create", computeFormValues("cluster", "gpu", "compute"))
	want := "/studio/compute/view?id=" + url.QueryEscape(wsID+"/computes/gpu")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("Create: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.settle()
	_, page := b.get(want)
	if !strings.Contains(page, `id="state" data-state="Succeeded"`) || strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatalf("the compute's page: %s", page)
	}
	// Create never replaces: the same name again is refused with the
	// API's reason, on the wizard.
	resp, page = b.post("/studio/compute/create", computeFormValues("cluster", "gpu", "compute"))
	if resp.StatusCode != http.StatusPreconditionFailed || !strings.Contains(page, `id="compute-form"`) {
		t.Fatalf("Create again: %d %s", resp.StatusCode, page)
	}
}

func TestComputePageRows(t *testing.T) { // issue 14 §2: the Compute page's columns
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	_, page := b.get("/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters")
	for _, want := range []string{`data-state="Succeeded">Succeeded · Steady`, "Standard_DS3_v2", "1 of 1 (1–2)", ">vnet / compute</a>", "<td>Yes</td>",
		">aml-cpu-cluster-", "-lb</a>", "-pip</a>", "-nsg</a>", `aria-current="page">Compute clusters`, `id="new"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the clusters tab lacks %q", want)
		}
	}
	if _, page = b.get("/studio/compute?ws=" + url.QueryEscape(wsID)); strings.Contains(page, "cpu-cluster") || !strings.Contains(page, "None yet.") {
		t.Errorf("the instances tab lists the cluster")
	}
}

func TestRowOfReadsAzureDefaults(t *testing.T) { // Azure: enableNodePublicIp is true when absent
	row, err := rowOf([]byte(`{"id":"` + wsID + `/computes/ci","location":"eastus","properties":{"computeType":"ComputeInstance","provisioningState":"Failed",
		"provisioningErrors":[{"error":{"code":"ComputeUnusable","message":"UDP 5831 is denied"}}],
		"properties":{"vmSize":"Standard_DS3_v2","state":"CreateFailed","subnet":{"id":"` + subnetsOf + `compute"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !row.PublicIP || len(row.Created) != 3 || row.Nodes != "1" || row.Detail != "CreateFailed" || row.VNet != "vnet" || row.Subnet != "compute" ||
		len(row.Errors) != 1 || row.Errors[0] != "ComputeUnusable: UDP 5831 is denied" {
		t.Fatalf("row: %+v", row)
	}
	if _, err := rowOf([]byte(`{"id":"not an id"}`)); err == nil {
		t.Fatal("a body without a valid id makes a row")
	}
}

func TestSigningInAgainEndsTheOldSession(t *testing.T) { // issue 14 §1: no session outlives its replacement
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	resp := e.post("/studio/signin", url.Values{"token": {e.readerToken}}, b.cookie)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in again: %d", resp.StatusCode)
	}
	if resp, _ := b.get("/studio/compute?ws=" + wsID); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the old session still opens pages: %d", resp.StatusCode)
	}
}

func TestPreflightsRunningAtOnceAreBounded(t *testing.T) { // each compiles the subscription's network
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	for range maxPreflights {
		e.studio.preflights <- struct{}{} // checks that run
	}
	status, _, body := preflight(t, b, computeFormValues("cluster", "gpu", "compute"))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "ServerBusy") {
		t.Fatalf("a pre-flight beyond the bound: %d %s", status, body)
	}
	<-e.studio.preflights
	if status, _, body = preflight(t, b, computeFormValues("cluster", "gpu", "compute")); status != http.StatusOK {
		t.Fatalf("a pre-flight within the bound: %d %s", status, body)
	}
}

// addClusters creates clusters c0…c{n-1} (no nodes) in ws1 through the
// API.
func (e *env) addClusters(n int) {
	e.t.Helper()
	for i := range n {
		body := `{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS1_v2","enableNodePublicIp":true,
			"subnet":{"id":"` + subnetsOf + `compute"},"scaleSettings":{"minNodeCount":0,"maxNodeCount":0}}}}`
		if status, out := e.armDo("PUT", wsID+"/computes/c"+strconv.Itoa(i)+mlVersion, body); status != http.StatusCreated {
			e.t.Fatalf("PUT c%d: %d %s", i, status, out)
		}
	}
	e.settle()
}

func TestListsArePaged(t *testing.T) { // 50 rows a page, with Previous and Next
	e := newEnv(t)
	e.addClusters(60) // with the seed's cpu-cluster: 61
	b := e.signIn(e.readerToken)
	clusters := "/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters"
	_, first := b.get(clusters)
	if n := strings.Count(first, "<tr data-name="); n != listPage || !strings.Contains(first, "1–50 of 61 · page 1 of 2") ||
		strings.Contains(first, `rel="prev"`) || !strings.Contains(first, `data-name="c0"`) {
		t.Fatalf("the first page: %d rows: %s", n, first)
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(first)
	if next == nil {
		t.Fatalf("the first page has no Next: %s", first)
	}
	_, second := b.get(html.UnescapeString(next[1]))
	if n := strings.Count(second, "<tr data-name="); n != 11 || !strings.Contains(second, "51–61 of 61 · page 2 of 2") ||
		!strings.Contains(second, `rel="prev"`) || strings.Contains(second, `rel="next"`) || strings.Contains(second, `data-name="c0"`) {
		t.Fatalf("the second page: %d rows: %s", n, second)
	}
	// Past the end: the last page (the list may have shrunk).
	if _, past := b.get(clusters + "&page=9"); !strings.Contains(past, "page 2 of 2") {
		t.Fatalf("a page past the end: %s", past)
	}
	// Instances are another tab: none here.
	if _, inst := b.get("/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=instances"); !strings.Contains(inst, "0 of 0 · page 1 of 1") {
		t.Fatalf("the instances tab: %s", inst)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		if resp, page := b.get(clusters + "&page=" + bad); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "a whole number, 1 or more") {
			t.Errorf("page=%s: %d", bad, resp.StatusCode)
		}
	}
	// Jobs: newest first across pages.
	for i := range 51 {
		e.submitJob("j"+strconv.Itoa(i), "", "true")
	}
	_, jobs := b.get("/studio/jobs?ws=" + url.QueryEscape(wsID))
	if n := strings.Count(jobs, "<tr data-name="); n != listPage || !strings.Contains(jobs, "1–50 of 51") || !strings.Contains(jobs, `data-name="j50"`) {
		t.Fatalf("the jobs' first page: %d rows: %s", n, jobs)
	}
	if _, last := b.get("/studio/jobs?ws=" + url.QueryEscape(wsID) + "&page=2"); !strings.Contains(last, `data-name="j0"`) || strings.Count(last, "<tr data-name=") != 1 {
		t.Fatalf("the jobs' last page: %s", last)
	}
}

func TestComputeListsFollowWritesAndKeepRBAC(t *testing.T) { // the API's index of computes: every write shows; the list's RBAC on every path
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	clusters := "/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters"
	diagram := "/studio/network/diagram?id=" + url.QueryEscape(strings.TrimSuffix(subnetsOf, "/subnets/"))
	// Each page read once: the index is cached.
	if _, page := b.get(clusters); !strings.Contains(page, "1–1 of 1 ·") || strings.Contains(page, `data-name="c0"`) {
		t.Fatalf("the Compute page before a write: %s", page)
	}
	if _, page := b.get(diagram); strings.Contains(page, "ws1/c0") {
		t.Fatalf("the diagram before a write: %s", page)
	}
	e.addClusters(1)
	if _, page := b.get(clusters); !strings.Contains(page, "1–2 of 2 ·") || !strings.Contains(page, `data-name="c0"`) {
		t.Errorf("the Compute page after a cluster was created: %s", page)
	}
	if _, page := b.get(diagram); !strings.Contains(html.UnescapeString(page), "compute ws1/c0, public IP (AmlCompute)") {
		t.Errorf("the diagram after a cluster was created: %s", page)
	}
	if _, page := b.get("/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=instances"); strings.Contains(page, `data-name="c0"`) {
		t.Errorf("a cluster on the instances tab: %s", page)
	}

	// A Reader of another workspace sees that one's computes, not ws1's;
	// a principal without a role sees none, on either page.
	ctx := context.Background()
	ws2 := strings.TrimSuffix(wsID, "ws1") + "ws2"
	if status, out := e.armDo("PUT", ws2+mlVersion, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{}}`); status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("PUT ws2: %d %s", status, out)
	}
	other, err := api.CreatePrincipal(ctx, e.st, "ws2-reader")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.AssignRole(ctx, e.st, "ws2-reader", "Reader", ws2); err != nil {
		t.Fatal(err)
	}
	nobody, err := api.CreatePrincipal(ctx, e.st, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	o := e.signIn(other)
	if resp, page := o.get("/studio/compute?ws=" + url.QueryEscape(ws2) + "&tab=clusters"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "0 of 0 ·") {
		t.Errorf("ws2's Compute page for its Reader: %d %s", resp.StatusCode, page)
	}
	n := e.signIn(nobody)
	for who, br := range map[string]*browser{"ws2's Reader": o, "a principal without a role": n} {
		for _, path := range []string{clusters, diagram} {
			if resp, page := br.get(path); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") || strings.Contains(page, "cpu-cluster") {
				t.Errorf("%s for %s: %d %s", path, who, resp.StatusCode, page)
			}
		}
	}
	// A workspace that does not exist is the list's 404.
	missing := strings.TrimSuffix(wsID, "ws1") + "nope"
	if resp, page := b.get("/studio/compute?ws=" + url.QueryEscape(missing)); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "ResourceNotFound") {
		t.Errorf("the Compute page of a missing workspace: %d %s", resp.StatusCode, page)
	}
}

// The wizard lists each VM size with its cores, memory and its family's
// cores left in the workspace's region (the seed cluster's node holds 4
// of standardDSv2Family's 100); a principal who may not read the
// subscription's usages sees the sizes without them, and why.
func TestWizardShowsSizesWithMemoryAndQuotaLeft(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	resp, body := b.get("/studio/compute/new?ws=" + url.QueryEscape(wsID))
	for _, want := range []string{
		"Standard_DS3_v2 — 4 cores, 14 GiB memory (standardDSv2Family: 96 of 100 cores left)",
		"Standard_NC6s_v3 — 6 cores, 112 GiB memory (standardNCSv3Family: 100 of 100 cores left)",
		`data-cores="4" data-family="standardDSv2Family" data-left="96" data-limit="100"`,
		`data-region="eastus" data-total-left="346"`, "346 of 350 Total Regional vCPUs",
	} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("the wizard's sizes: %d, want %q in %s", resp.StatusCode, want, body)
		}
	}
	// A Contributor of the workspace's group who manages the network (a
	// Network Contributor of the subscription) may create computes but
	// not read the subscription's usages.
	ctx := context.Background()
	tok, err := api.CreatePrincipal(ctx, e.st, "rgcontributor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.AssignRole(ctx, e.st, "rgcontributor", "Contributor", "/subscriptions/"+sub+"/resourceGroups/rg-ml"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.AssignRole(ctx, e.st, "rgcontributor", "Network Contributor", "/subscriptions/"+sub); err != nil {
		t.Fatal(err)
	}
	resp, body = e.signIn(tok).get("/studio/compute/new?ws=" + url.QueryEscape(wsID))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Standard_DS3_v2 — 4 cores, 14 GiB memory (standardDSv2Family)") ||
		!strings.Contains(body, "Quota left is not shown: AuthorizationFailed") || strings.Contains(body, "data-left=") {
		t.Fatalf("the wizard for a Contributor of rg-ml: %d %s", resp.StatusCode, body)
	}
}
