package studio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The studio in a real browser: headless Chromium driven over the DevTools
// protocol (github.com/chromedp/chromedp, Go only, no driver to install).
// .ci/run installs Debian's chromium and sets SECURETRAIN_REQUIRE_BROWSER,
// so that CI fails rather than skips without it.

// chromiumPath finds the browser, or stops the test saying why.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SECURETRAIN_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is not installed: the browser tests need it (apt-get install chromium)")
	}
	t.Skip("BROWSER TEST NOT RUN: chromium is not installed here (apt-get install chromium); .ci/run installs it and runs it")
	return ""
}

// tab is a browser tab on the test server.
type tab struct {
	t    *testing.T
	e    *env
	ctx  context.Context
	shot string // where screenshots go ("" for none)
}

func newTab(t *testing.T, e *env) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 800))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	// A bound on the whole test, not an assertion: a stuck browser fails
	// it instead of hanging CI.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancel(); cancelTab(); cancelAlloc() })
	return &tab{t: t, e: e, ctx: ctx, shot: os.Getenv("SECURETRAIN_SCREENSHOTS")}
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page, awaiting a promise
// (DevTools evaluation is not script of the page: the CSP does not apply
// to it, but fetch from it is the page's own request).
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor evaluates expr until it is true: the page's own script
// (the pre-flight panel) updates it asynchronously.
func (b *tab) waitFor(what, expr string) {
	b.t.Helper()
	for !eval[bool](b, expr) {
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("waiting for %s: %v", what, b.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// text is an element's text.
func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot writes the page to $SECURETRAIN_SCREENSHOTS/name.png when set
// (docs/ui holds the README's).
func (b *tab) screenshot(name string) {
	b.t.Helper()
	if b.shot == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.do("sign in", chromedp.Navigate(b.e.base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin button")), chromedp.WaitVisible(chromedp.CSS("#principal")))
}

// pickSubnet selects a subnet as a user does: the select's value, then
// the change event the page listens to.
func (b *tab) pickSubnet(name string) {
	b.t.Helper()
	id, _ := json.Marshal(subnetsOf + name)
	eval[bool](b, fmt.Sprintf(`(() => { const s = document.getElementById("subnet"); s.value = %s; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value !== ""; })()`, id))
}

func TestBrowserSeedFlow(t *testing.T) { // issue 14 §6: sign in, the seed's no-public-IP instance through + New and the pre-flight panel, sign out
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.adminToken)
	b.do("the picker", chromedp.Navigate(e.base+"/?sub="+sub), chromedp.WaitVisible(chromedp.CSS("#workspaces")))
	b.screenshot("workspaces")
	clusters := e.base + "/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters"
	b.do("the Compute page", chromedp.Navigate(clusters), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="cpu-cluster"]`)))
	if row := b.text(`tr[data-name="cpu-cluster"]`); !strings.Contains(row, "Succeeded") || !strings.Contains(row, "vnet / compute") || !strings.Contains(row, "Standard_DS3_v2") {
		t.Fatalf("the seed cluster's row: %q", row)
	}
	b.screenshot("compute")

	// The seed article's steps: Compute instances, + New, VM size, Next,
	// Advanced settings: Enable virtual network, the subnet, No Public IP.
	instances := e.base + "/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=instances"
	b.do("+ New", chromedp.Navigate(instances), chromedp.WaitVisible(chromedp.CSS("#new")), chromedp.Click(chromedp.CSS("#new")),
		chromedp.WaitVisible(chromedp.CSS("#name")), chromedp.SendKeys(chromedp.CSS("#name"), "myinstance"))
	if eval[bool](b, `document.getElementById("vnet").offsetParent !== null`) {
		t.Fatal("Advanced settings show before Next")
	}
	b.do("Next", chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#vnet")), chromedp.Click(chromedp.CSS("#vnet")),
		chromedp.Click(chromedp.CSS("#noPublicIp")))
	b.pickSubnet("blocked")
	b.waitFor("the panel to name the blocking rule", `document.getElementById("preflight-findings").textContent.includes("DenyUDP5831")`)
	panel := b.text("#preflight")
	if !strings.Contains(panel, "will fail") || !strings.Contains(panel, "UDP 5831") || !strings.Contains(panel, "required-outbound-blocked") || !strings.Contains(panel, "Fix: ") {
		t.Fatalf("the panel on the blocked subnet: %q", panel)
	}
	b.screenshot("new-compute-blocked")
	b.pickSubnet("compute")
	b.waitFor("the panel to pass the good subnet", `document.getElementById("preflight-status").className === "verdict-ok"`)
	if panel := b.text("#preflight"); !strings.Contains(panel, "248 free addresses") || strings.Contains(panel, "DenyUDP5831") {
		t.Fatalf("the panel on the good subnet: %q", panel)
	}
	b.screenshot("new-compute-ok")

	// Create lands on the compute's page, which follows it to Running.
	b.do("Create", chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#state")))
	e.settle()
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#state")))
	if state := b.text("#state"); state != "Succeeded · Running" {
		t.Fatalf("the new compute's state: %q", state)
	}
	b.screenshot("compute-view")
	b.do("the new compute listed", chromedp.Navigate(instances), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="myinstance"]`)))
	if row := b.text(`tr[data-name="myinstance"]`); !strings.Contains(row, "No public IP") || !strings.Contains(row, "vnet / compute") || !strings.Contains(row, "nothing") {
		t.Fatalf("the new instance's row: %q", row)
	}

	// Sign out: the session is gone, pages lead to sign-in.
	b.do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.Navigate(instances), chromedp.WaitVisible(chromedp.CSS("#signin")))
}

func TestBrowserReaderHasNoNewButton(t *testing.T) { // issue 14 §6: a Reader cannot create
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.readerToken)
	b.do("the Compute page", chromedp.Navigate(e.base+"/studio/compute?ws="+url.QueryEscape(wsID)+"&tab=clusters"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="cpu-cluster"]`)))
	if eval[bool](b, `document.getElementById("new") !== null`) {
		t.Fatal("the Reader sees + New")
	}
	// Forcing the form (the POST itself, with the page's CSRF token) is
	// refused by the API's RBAC.
	status := eval[string](b, `(async () => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		const body = new URLSearchParams({csrf, ws: `+jsString(wsID)+`, kind: "cluster", name: "sneaky", vmSize: "Standard_DS3_v2", minNodes: "0", maxNodes: "1"});
		const r = await fetch("/studio/compute/create", {method: "POST", body});
		return r.status + " " + (await r.text()).includes("AuthorizationFailed");
	})()`)
	if status != "403 true" {
		t.Fatalf("the Reader's forced Create: %s", status)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
