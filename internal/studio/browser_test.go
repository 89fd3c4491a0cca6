package studio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"securetrain/internal/resources"
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
	// The wizard's script (deferred) shows one step at a time once it ran.
	b.waitFor("the wizard's first step", `document.querySelector("#step-size.current") !== null`)
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

// The pre-flight panel names the family quota a cluster would exceed:
// its minimum nodes are allocated at once (an error), its maximum beyond
// the quota is a warning. The seed cluster's node holds 4 of
// standardDSv2Family's 100 cores.
func TestBrowserWizardNamesTheFamilyQuota(t *testing.T) {
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.adminToken)
	b.do("+ New cluster", chromedp.Navigate(e.base+"/studio/compute/new?kind=cluster&ws="+url.QueryEscape(wsID)),
		chromedp.WaitVisible(chromedp.CSS("#name")), chromedp.SendKeys(chromedp.CSS("#name"), "big"))
	b.waitFor("the wizard's first step", `document.querySelector("#step-size.current") !== null`)
	if opt := b.text(`#vmSize option[value="Standard_DS3_v2"]`); !strings.Contains(opt, "96 of 100 cores left") {
		t.Fatalf("the size's quota: %q", opt)
	}
	nodes := func(lo, hi int) {
		t.Helper()
		eval[bool](b, fmt.Sprintf(`(() => { for (const [id, v] of [["minNodes", %d], ["maxNodes", %d]]) { const i = document.getElementById(id); i.value = v; i.dispatchEvent(new Event("input", {bubbles: true})); } return true; })()`, lo, hi))
	}
	nodes(25, 25)
	b.waitFor("the panel to name the family quota", `document.getElementById("preflight-findings").textContent.includes("room for 24")`)
	panel := b.text("#preflight")
	if !strings.Contains(panel, "will fail") || !strings.Contains(panel, "25 × Standard_DS3_v2 need 100 cores, and the standardDSv2Family quota has 96 of 100 cores left in eastus") ||
		!strings.Contains(panel, "QuotaExceeded") || !strings.Contains(panel, "Fix: ") {
		t.Fatalf("the panel on 25 nodes: %q", panel)
	}
	b.screenshot("new-compute-quota")
	nodes(0, 30)
	b.waitFor("the panel to warn of the maximum", `document.getElementById("preflight-findings").textContent.includes("can grow to 24 of its 30 nodes")`)
	if panel := b.text("#preflight"); strings.Contains(panel, "will fail") || strings.Contains(panel, "room for") {
		t.Fatalf("the panel on 0–30 nodes: %q", panel)
	}
	nodes(0, 2)
	b.waitFor("the panel to pass", `document.getElementById("preflight-status").className === "verdict-ok" && !document.getElementById("preflight").textContent.includes("QuotaExceeded")`)
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

func TestBrowserNetworkViews(t *testing.T) { // issue 14 item 3: a default rule and an effective route, in the browser
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.readerToken)
	b.do("the network page", chromedp.Navigate(e.base+"/?sub="+sub), chromedp.WaitVisible(chromedp.CSS("#network-link")),
		chromedp.Click(chromedp.CSS("#network-link")), chromedp.WaitVisible(chromedp.CSS(`tr[data-subnet="blocked"]`)))
	if row := b.text(`tr[data-subnet="compute"]`); !strings.Contains(row, "10.0.1.0/24") || !strings.Contains(row, "nsg-compute") {
		t.Fatalf("subnet compute's row: %q", row)
	}
	b.screenshot("network")
	b.do("the diagram", chromedp.Click(chromedp.CSS(`section[data-vnet="vnet"] h3 a.hint`)), chromedp.WaitVisible(chromedp.CSS("#diagram")))
	if svg := b.text("#diagram"); !strings.Contains(svg, "private endpoint ws1-pe") || !strings.Contains(svg, "compute ws1/cpu-cluster") {
		t.Fatalf("the diagram: %q", svg)
	}
	b.screenshot("diagram")
	b.do("back to the network page", chromedp.Navigate(e.base+"/studio/network?sub="+sub), chromedp.WaitVisible(chromedp.CSS(`tr[data-subnet="blocked"]`)))
	b.do("the subnet", chromedp.Click(chromedp.CSS(`tr[data-subnet="blocked"] td a`)), chromedp.WaitVisible(chromedp.CSS("#routes")))
	if rule := b.text(`#rules-outbound tr[data-rule="defaultSecurityRules/DenyAllOutBound"]`); !strings.Contains(rule, "65500") || !strings.Contains(rule, "Deny") {
		t.Fatalf("the default rule: %q", rule)
	}
	if first := b.text(`#rules-outbound tbody tr`); !strings.Contains(first, "DenyUDP5831") {
		t.Fatalf("the first outbound rule: %q", first)
	}
	if route := b.text(`#routes tr[data-prefix="10.0.1.5/32"]`); !strings.Contains(route, "InterfaceEndpoint") || !strings.Contains(route, "ws1-pe") {
		t.Fatalf("the private endpoint's route: %q", route)
	}
	if route := b.text(`#routes tr[data-prefix="10.0.0.0/16"][data-state="Invalid"]`); !strings.Contains(route, "VnetLocal") {
		t.Fatalf("the overridden system route: %q", route)
	}
	b.do("scroll to the outbound rules", chromedp.ScrollIntoView(chromedp.CSS("#rules-outbound")))
	b.screenshot("subnet")
}

func TestBrowserFlowExplorerNamesTheBlockingRule(t *testing.T) { // issue 14 item 3: the flow explorer
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.readerToken)
	b.do("the flow explorer", chromedp.Navigate(e.base+"/studio/network/flow?sub="+sub), chromedp.WaitVisible(chromedp.CSS("#from")),
		chromedp.SendKeys(chromedp.CSS("#from"), subnetsOf+"blocked"), chromedp.SendKeys(chromedp.CSS("#to"), "AzureMachineLearning"),
		chromedp.SetValue(chromedp.CSS("#protocol"), "UDP"), chromedp.SendKeys(chromedp.CSS("#port"), "5831"),
		chromedp.Click(chromedp.CSS("#ask")), chromedp.WaitVisible(chromedp.CSS("#flow-result")))
	if verdict := b.text("#verdict"); !strings.HasPrefix(verdict, "Denied: ") || !strings.Contains(verdict, "UDP port 5831") {
		t.Fatalf("the verdict: %q", verdict)
	}
	result := b.text("#flow-result")
	if !strings.Contains(result, "DenyUDP5831") || !strings.Contains(result, "Blocked:") || !strings.Contains(result, "Fix:") {
		t.Fatalf("the answer does not name the rule and the fix: %q", result)
	}
	b.do("scroll to the answer", chromedp.ScrollIntoView(chromedp.CSS("#flow-result")))
	b.screenshot("flow-blocked")
}

// gateDir is a directory jobs' users can read, for a file that releases a
// job.
func gateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "securetrain-studio-gate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBrowserJobLogAppearsLive(t *testing.T) { // jobs: a job runs and its log appears on its page
	e := newEnv(t)
	dir := gateDir(t)
	gate1, gate2 := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	e.submitJob("live", "live", "echo before the gate; echo '"+xssLine+"'; while [ ! -e "+gate1+" ]; do sleep 0.05; done; echo between the gates; "+
		"while [ ! -e "+gate2+" ]; do sleep 0.05; done; echo after the gate")
	e.waitJob("live", func(st string) bool { return st == "Running" })
	b := newTab(t, e)
	b.signIn(e.adminToken)
	b.do("the jobs page", chromedp.Navigate(e.base+"/studio/jobs?ws="+url.QueryEscape(wsID)), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="live"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-name="live"] a`)), chromedp.WaitVisible(chromedp.CSS("#log")))
	b.waitFor("the log's first line", `document.getElementById("log").textContent.includes("before the gate")`)
	if eval[bool](b, `document.querySelectorAll("#log img").length !== 0 || !document.getElementById("log").textContent.includes('`+xssLine+`')`) {
		t.Fatal("the log line became HTML")
	}
	// A line written while the page is open is appended by its script,
	// without a reload (the page's own variable survives).
	eval[bool](b, `(window.notReloaded = true)`)
	if err := os.WriteFile(gate1, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the log's middle line", `document.getElementById("log").textContent.includes("between the gates")`)
	if !eval[bool](b, `window.notReloaded === true && document.getElementById("status").textContent === "Running"`) {
		t.Fatal("the line appeared by a reload, or the job is no longer running")
	}
	b.do("scroll to the log", chromedp.ScrollIntoView(chromedp.CSS("#log")))
	b.screenshot("job")
	if err := os.WriteFile(gate2, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// (The element is missing while the page reloads.)
	b.waitFor("the log's last line", `(document.getElementById("log")?.textContent ?? "").includes("after the gate")`)
	b.waitFor("the job to complete", `document.getElementById("status")?.textContent === "Completed"`)
}

func TestBrowserReaderCannotCancel(t *testing.T) { // jobs: a Reader cannot cancel
	e := newEnv(t)
	e.submitJob("long", "long", "echo started; sleep 600")
	e.waitJob("long", func(st string) bool { return st == "Running" })
	b := newTab(t, e)
	b.signIn(e.readerToken)
	b.do("the job page", chromedp.Navigate(e.base+"/studio/jobs/view?id="+url.QueryEscape(jobID("long"))), chromedp.WaitVisible(chromedp.CSS("#status")))
	if eval[bool](b, `document.getElementById("cancel") !== null`) {
		t.Fatal("the Reader sees Cancel")
	}
	status := eval[string](b, `(async () => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		const r = await fetch("/studio/jobs/cancel", {method: "POST", body: new URLSearchParams({csrf, id: `+jsString(jobID("long"))+`})});
		return r.status + " " + (await r.text()).includes("AuthorizationFailed");
	})()`)
	if status != "403 true" {
		t.Fatalf("the Reader's forced Cancel: %s", status)
	}
	if st := e.jobStatus("long"); st != "Running" {
		t.Fatalf("the refused Cancel changed the job: %s", st)
	}
}

// focused is the id of the element that has the keyboard focus.
func (b *tab) focused() string {
	b.t.Helper()
	return eval[string](b, `document.activeElement ? document.activeElement.id : ""`)
}

// press sends keys to the focused element and checks where the focus
// lands (want: an element id).
func (b *tab) press(keys, want string) {
	b.t.Helper()
	b.do("press "+keys, chromedp.KeyEvent(keys))
	if got := b.focused(); got != want {
		b.t.Fatalf("after %q the focus is on %q, want %q", keys, got, want)
	}
}

func TestBrowserKeyboardOnlyCreatesACompute(t *testing.T) { // accessible: the + New wizard with the keyboard alone
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.adminToken)
	b.do("the Compute page", chromedp.Navigate(e.base+"/studio/compute?ws="+url.QueryEscape(wsID)+"&tab=instances"), chromedp.WaitVisible(chromedp.CSS("#new")))
	// The first Tab reaches the skip link, which shows itself and leads
	// to the content.
	b.do("Tab", chromedp.KeyEvent(kb.Tab))
	if !eval[bool](b, `document.activeElement.classList.contains("skip") && document.activeElement.getBoundingClientRect().left >= 0`) {
		t.Fatalf("the first Tab is not on a visible skip link: %q", eval[string](b, `document.activeElement.outerHTML`))
	}
	// Keyboard focus is visible: an outline of at least 2px.
	if w := eval[string](b, `getComputedStyle(document.activeElement).outlineWidth`); w == "0px" || eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`) == "none" {
		t.Fatalf("no visible focus on the skip link (outline %s)", w)
	}
	// The tabs are links: Tab reaches them, Enter follows them.
	b.do("focus the clusters tab", chromedp.Focus(chromedp.CSS("#tab-clusters")))
	b.do("Enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="cpu-cluster"]`)))
	if cur := eval[string](b, `document.getElementById("tab-clusters").getAttribute("aria-current")`); cur != "page" {
		t.Fatalf("the clusters tab after Enter: aria-current %q", cur)
	}
	b.do("the instances tab", chromedp.Focus(chromedp.CSS("#tab-instances")), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#new")))
	b.do("+ New", chromedp.Focus(chromedp.CSS("#new")), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#name")))
	// The wizard puts the focus on its first field; from there on, keys
	// only.
	b.waitFor("the wizard's focus", `document.activeElement && document.activeElement.name === "kind"`)
	b.press(kb.Tab, "name")
	b.do("type the name", chromedp.KeyEvent("kbinstance"))
	b.press(kb.Tab, "vmSize")
	b.press(kb.Tab, "next")
	b.press(kb.Enter, "vnet")
	b.press(" ", "vnet")
	b.press(kb.Tab, "subnet")
	b.press(kb.ArrowDown, "subnet")
	if v := eval[string](b, `document.getElementById("subnet").value`); v != subnetsOf+"compute" {
		t.Fatalf("ArrowDown chose %q", v)
	}
	b.press(kb.Tab, "noPublicIp")
	b.press(" ", "noPublicIp")
	b.waitFor("the panel to pass the subnet", `document.getElementById("preflight-status").className === "verdict-ok"`)
	b.press(kb.Tab, "ssh")
	b.press(kb.Tab, "back") // the key field is off without SSH
	b.press(kb.Tab, "create")
	b.do("Create", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#state")))
	e.settle()
	b.do("the new compute listed", chromedp.Navigate(e.base+"/studio/compute?ws="+url.QueryEscape(wsID)+"&tab=instances"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="kbinstance"]`)))
	if row := b.text(`tr[data-name="kbinstance"]`); !strings.Contains(row, "No public IP") || !strings.Contains(row, "vnet / compute") {
		t.Fatalf("the compute made with the keyboard: %q", row)
	}
}

// unnamedControls lists the page's controls and links without an
// accessible name: a label, aria-label or aria-labelledby, or a button's
// or link's own text.
const unnamedControls = `(() => {
	const bad = [];
	for (const el of document.querySelectorAll("input, select, textarea, button, a[href]")) {
		if (el.type === "hidden") continue;
		let name = el.getAttribute("aria-label") || "";
		const by = el.getAttribute("aria-labelledby");
		if (!name && by) name = by.split(" ").map(id => document.getElementById(id)?.textContent ?? "").join(" ");
		if (!name && el.labels) name = Array.from(el.labels).map(l => l.textContent).join(" ");
		if (!name && ["BUTTON", "A"].includes(el.tagName.toUpperCase())) name = el.textContent;
		if (!name.trim()) bad.push(el.outerHTML.slice(0, 160));
	}
	return bad;
})()`

func TestBrowserEveryPageIsNamedAndFitsANarrowWindow(t *testing.T) { // accessible: labels everywhere; usable at 1280×800 and 400 px wide
	e := newEnv(t)
	e.submitJob("shown", "a job", "echo shown")
	e.waitJob("shown", resources.JobTerminal)
	withNetworkParts(t, e)
	_, clusters := e.signIn(e.readerToken).get("/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters")
	lb := hrefTo(t, clusters, "/studio/network/loadbalancer")
	b := newTab(t, e)
	b.do("the sign-in page", chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.checkPage("sign in", "/")
	b.signIn(e.adminToken)
	ws, q := url.QueryEscape(wsID), url.QueryEscape
	for name, path := range map[string]string{
		"workspaces":    "/?sub=" + sub,
		"compute":       "/studio/compute?ws=" + ws + "&tab=clusters",
		"new compute":   "/studio/compute/new?ws=" + ws + "&kind=cluster",
		"a compute":     "/studio/compute/view?id=" + q(wsID+"/computes/cpu-cluster"),
		"a resource":    "/studio/resource?id=" + q(nsgBlocked),
		"network":       "/studio/network?sub=" + sub,
		"diagram":       "/studio/network/diagram?id=" + q(strings.TrimSuffix(subnetsOf, "/subnets/")),
		"subnet":        "/studio/network/subnet?id=" + q(subnetsOf+"blocked"),
		"nsg":           "/studio/network/nsg?id=" + q(nsgBlocked),
		"route table":   "/studio/network/routetable?id=" + q(rtBlocked),
		"flow":          "/studio/network/flow?" + url.Values{"sub": {sub}, "from": {subnetsOf + "blocked"}, "to": {"AzureMachineLearning"}, "protocol": {"UDP"}, "port": {"5831"}}.Encode(),
		"jobs":          "/studio/jobs?ws=" + ws,
		"a job":         "/studio/jobs/view?id=" + q(jobID("shown")),
		"submit a job":  "/studio/jobs/new?ws=" + ws,
		"an error page": "/studio/compute?ws=nonsense",
		"a firewall":    "/studio/network/firewall?id=" + q(netOf+"azureFirewalls/fw"),
		"load balancer": lb,
		"a public IP":   "/studio/network/publicip?id=" + q(netOf+"publicIPAddresses/pip-fw"),
		"NAT gateway":   "/studio/network/natgateway?id=" + q(netOf+"natGateways/nat-egress"),
		"a peering":     "/studio/network/peering?id=" + q(vnetID+"/virtualNetworkPeerings/to-vnet2"),
	} {
		b.checkPage(name, path)
	}
	b.do("a firewall", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(e.base+"/studio/network/firewall?id="+q(netOf+"azureFirewalls/fw")),
		chromedp.WaitVisible(chromedp.CSS(`section[data-collection="aml"]`)))
	b.screenshot("firewall")
	b.do("the Compute page, narrow", chromedp.EmulateViewport(400, 800), chromedp.Navigate(e.base+"/studio/compute?ws="+ws+"&tab=clusters"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="cpu-cluster"]`)))
	b.screenshot("compute-narrow")
}

// overflow says whether the page is wider than the window and, if so,
// which elements reach past its right edge (outside a scrolling box).
const overflow = `(() => {
	const d = document.documentElement;
	if (d.scrollWidth <= window.innerWidth) return "";
	const out = [];
	for (const el of document.querySelectorAll("body *")) {
		if (el.closest(".scroll") && !el.classList.contains("scroll")) continue;
		const r = el.getBoundingClientRect();
		if (r.right > window.innerWidth + 1) out.push(el.tagName + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className : "") + " " + Math.round(r.right));
	}
	return d.scrollWidth + " > " + window.innerWidth + ": " + out.slice(0, 6).join(", ");
})()`

// checkPage loads path at 1280×800 and 400×800: every control and link is
// named, and neither width scrolls the page sideways (wide tables scroll
// in their own box).
func (b *tab) checkPage(name, path string) {
	b.t.Helper()
	for _, width := range []int64{1280, 400} {
		b.do(name, chromedp.EmulateViewport(width, 800), chromedp.Navigate(b.e.base+path), chromedp.WaitReady(chromedp.CSS("main")))
		if bad := eval[[]string](b, unnamedControls); len(bad) > 0 {
			b.t.Errorf("%s: controls without a name: %q", name, bad)
		}
		if over := eval[string](b, overflow); over != "" {
			b.t.Errorf("%s at %d px: the page scrolls sideways: %s", name, width, over)
		}
	}
}

func TestBrowserSubmitAJobFromItsYAML(t *testing.T) { // jobs: the YAML and its code archive chosen as a user does, the job followed live
	e := newEnv(t)
	e.withStorage()
	dir := t.TempDir()
	gate := filepath.Join(gateDir(t), "gate")
	yml := strings.Replace(jobYAML, "sh train.sh ${{inputs.lr}}", "sh train.sh ${{inputs.lr}} "+gate, 1)
	code := zipOf(t, map[string]string{"src/train.sh": "echo \"training at lr $1\"\nwhile [ ! -e \"$2\" ]; do sleep 0.05; done\necho done training\n"})
	for name, data := range map[string][]byte{"train.yml": []byte(yml), "src.zip": code} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := newTab(t, e)
	b.signIn(e.adminToken)
	b.do("the Jobs page", chromedp.Navigate(e.base+"/studio/jobs?ws="+url.QueryEscape(wsID)), chromedp.WaitVisible(chromedp.CSS("#new-job")),
		chromedp.Click(chromedp.CSS("#new-job")), chromedp.WaitVisible(chromedp.CSS("#job-form")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{filepath.Join(dir, "train.yml")}),
		chromedp.SetUploadFiles(chromedp.CSS("#code"), []string{filepath.Join(dir, "src.zip")}),
		chromedp.SendKeys(chromedp.CSS("#job-name"), "studio-train"))
	b.screenshot("job-submit")
	b.do("Submit", chromedp.Click(chromedp.CSS("#submit-job")), chromedp.WaitVisible(chromedp.CSS("#log")))
	b.waitFor("the job's first line", `document.getElementById("log").textContent.includes("training at lr 0.5")`)
	if st := b.text("#status"); st != "Running" {
		t.Fatalf("the submitted job: %q", st)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the job to complete", `document.getElementById("status")?.textContent === "Completed" && document.getElementById("log").textContent.includes("done training")`)
	// A mistake comes back on the form with the file's line.
	b.do("a bad file", chromedp.Navigate(e.base+"/studio/jobs/new?ws="+url.QueryEscape(wsID)), chromedp.WaitVisible(chromedp.CSS("#job-form")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{filepath.Join(dir, "train.yml")}),
		chromedp.Click(chromedp.CSS("#submit-job")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if msg := b.text("#error"); !strings.Contains(msg, `train.yml:2: code "./src" must be a local folder`) || !strings.Contains(msg, "Code archive") {
		t.Fatalf("the refusal: %q", msg)
	}
	b.screenshot("job-submit-refused")
}

func TestBrowserComputePageResizesAndDeletes(t *testing.T) { // a compute's page: its flows, Resize, and Delete only once confirmed
	e := newEnv(t)
	b := newTab(t, e)
	b.signIn(e.adminToken)
	b.do("the cluster's page", chromedp.Navigate(e.base+viewOf("cpu-cluster")), chromedp.WaitVisible(chromedp.CSS("#flows")))
	if flows := b.text("#flows"); !strings.Contains(flows, "Allowed") || strings.Contains(flows, "Denied") {
		t.Fatalf("the seed cluster's flows: %q", flows)
	}
	eval[bool](b, `window.before = true`) // gone once the form's answer loads
	b.do("Resize to 0–3", chromedp.SetValue(chromedp.CSS(`#resize-form input[name="minNodes"]`), "0"),
		chromedp.SetValue(chromedp.CSS(`#resize-form input[name="maxNodes"]`), "3"), chromedp.Click(chromedp.CSS("#resize")))
	b.waitFor("the page after Resize", `window.before === undefined && document.getElementById("flows") !== null`)
	e.settle()
	if _, body := e.armDo("GET", wsID+"/computes/cpu-cluster"+mlVersion, ""); !strings.Contains(body, `"maxNodeCount":3`) {
		t.Fatalf("the cluster after Resize: %s", body)
	}
	b.do("the settled page", chromedp.Navigate(e.base+viewOf("cpu-cluster")), chromedp.WaitVisible(chromedp.CSS("#delete")))
	// Delete without ticking "I understand": the form does not go.
	b.do("Delete unconfirmed", chromedp.Click(chromedp.CSS("#delete")))
	if !eval[bool](b, `document.getElementById("delete-form").querySelector("input[name=confirm]").validity.valueMissing`) {
		t.Fatal("Delete went without its confirmation")
	}
	b.do("Delete confirmed", chromedp.Click(chromedp.CSS(`#delete-form input[name="confirm"]`)), chromedp.Click(chromedp.CSS("#delete")))
	b.waitFor("the clusters tab", `location.pathname === "/studio/compute" && location.search.includes("tab=clusters")`)
	e.settle()
	if status, _ := e.armDo("GET", wsID+"/computes/cpu-cluster"+mlVersion, ""); status != http.StatusNotFound {
		t.Fatalf("the cluster after Delete: %d", status)
	}
}
