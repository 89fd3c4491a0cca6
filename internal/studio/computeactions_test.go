package studio

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// viewOf is the path of a compute's page in ws1.
func viewOf(name string) string {
	return "/studio/compute/view?id=" + url.QueryEscape(wsID+"/computes/"+name)
}

// deniedRow matches a flow's row the verifier denies.
var deniedRow = regexp.MustCompile(`(?s)<tr data-verdict="Denied">.*?</tr>`)

func TestComputePageShowsRequiredFlows(t *testing.T) { // the flows `securetrain check` derives, with verdicts and explanations
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	if resp, _ := b.post("/studio/compute/create", computeFormValues("cluster", "gpu", "blocked")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Create in subnet blocked: %d", resp.StatusCode)
	}
	e.settle()
	_, page := b.get(viewOf("gpu"))
	rows := deniedRow.FindAllString(page, -1)
	if len(rows) != 1 || !strings.Contains(rows[0], "UDP 5831") || !strings.Contains(rows[0], "DenyUDP5831") || !strings.Contains(rows[0], "Fix:") {
		t.Fatalf("the blocked cluster's denied flows: %q\n%s", rows, page)
	}
	if !strings.Contains(page, `id="check-status" class="verdict-fail"`) || !strings.Contains(page, `data-verdict="Allowed"`) {
		t.Errorf("the blocked cluster's verdict or its allowed flows are missing: %s", page)
	}
	// The seed cluster's subnet lets every flow through; a Reader of the
	// subscription sees them too.
	_, page = e.signIn(e.readerToken).get(viewOf("cpu-cluster"))
	if !strings.Contains(page, `id="flows"`) || strings.Contains(page, `data-verdict="Denied"`) || !strings.Contains(page, `<td class="verdict-Allowed">Allowed</td>`) {
		t.Fatalf("the seed cluster's flows for a reader: %s", page)
	}
}

func TestComputePageResizes(t *testing.T) { // Resize sets the scale settings through the API
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	_, page := b.get(viewOf("cpu-cluster"))
	if !strings.Contains(page, `id="resize-form"`) || !strings.Contains(page, `name="maxNodes" min="1" value="2"`) || strings.Contains(page, `id="stop"`) {
		t.Fatalf("the cluster's actions: %s", page)
	}
	form := url.Values{"id": {wsID + "/computes/cpu-cluster"}, "minNodes": {"0"}, "maxNodes": {"3"}}
	resp, _ := b.post("/studio/compute/resize", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != viewOf("cpu-cluster") {
		t.Fatalf("Resize: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := e.armDo("GET", wsID+"/computes/cpu-cluster"+mlVersion, ""); !strings.Contains(body, `"maxNodeCount":3`) || !strings.Contains(body, `"minNodeCount":0`) {
		t.Fatalf("the cluster after Resize: %s", body)
	}
	// Bad bounds are refused naming the rule, and change nothing.
	form.Set("minNodes", "4")
	if resp, page = b.post("/studio/compute/resize", form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "at least the minimum, 4") {
		t.Fatalf("Resize to 4–3: %d %s", resp.StatusCode, page)
	}
	// A Reader is offered no action, and a forced one is the API's refusal.
	r := e.signIn(e.readerToken)
	if _, page = r.get(viewOf("cpu-cluster")); strings.Contains(page, `id="resize-form"`) || strings.Contains(page, `id="delete-form"`) {
		t.Fatalf("a reader is offered actions: %s", page)
	}
	form.Set("minNodes", "1")
	form.Del("csrf") // the reader's own
	if resp, page = r.post("/studio/compute/resize", form); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") {
		t.Fatalf("a reader's Resize: %d %s", resp.StatusCode, page)
	}
	if resp, _ = r.post("/studio/compute/delete", url.Values{"id": form["id"], "confirm": {"on"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a reader's Delete: %d", resp.StatusCode)
	}
	// Without the CSRF token, even the admin's POST is refused.
	form.Set("csrf", "")
	if resp, _ = b.post("/studio/compute/resize", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Resize without a CSRF token: %d", resp.StatusCode)
	}
	if _, body := e.armDo("GET", wsID+"/computes/cpu-cluster"+mlVersion, ""); !strings.Contains(body, `"maxNodeCount":3`) || !strings.Contains(body, `"minNodeCount":0`) {
		t.Fatalf("a refused Resize changed the cluster: %s", body)
	}
}

func TestComputePageStopsStartsRestartsAndDeletes(t *testing.T) { // Stop, Start, Restart, and Delete after a confirmation
	e := newEnv(t)
	b := e.signIn(e.adminToken)
	if resp, page := b.post("/studio/compute/create", computeFormValues("instance", "nb1", "compute")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Create: %d %s", resp.StatusCode, page)
	}
	e.settle()
	id := url.Values{"id": {wsID + "/computes/nb1"}}
	for _, step := range []struct{ action, state string }{{"stop", "Stopped"}, {"start", "Running"}} {
		if _, page := b.get(viewOf("nb1")); !strings.Contains(page, `id="`+step.action+`"`) {
			t.Fatalf("the instance's page has no %s: %s", step.action, page)
		}
		resp, _ := b.post("/studio/compute/"+step.action, id)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != viewOf("nb1") {
			t.Fatalf("%s: %d → %s", step.action, resp.StatusCode, resp.Header.Get("Location"))
		}
		e.settle()
		if _, page := b.get(viewOf("nb1")); !strings.Contains(page, "Succeeded · "+step.state) {
			t.Fatalf("after %s: %s", step.action, page)
		}
	}
	// Restart: the API's restart operation, back to Running.
	if _, page := b.get(viewOf("nb1")); !strings.Contains(page, `id="restart"`) {
		t.Fatalf("the instance's page has no Restart: %s", page)
	}
	// A Reader is offered none of them, a forced Restart is the API's
	// refusal, and one without the CSRF token is refused before it.
	r := e.signIn(e.readerToken)
	if _, page := r.get(viewOf("nb1")); strings.Contains(page, `id="restart"`) || strings.Contains(page, `id="stop"`) || !strings.Contains(page, "nb1") {
		t.Fatalf("a reader is offered actions on the instance: %s", page)
	}
	if resp, page := r.post("/studio/compute/restart", url.Values{"id": id["id"]}); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") ||
		!strings.Contains(page, "computes/restart/action") {
		t.Fatalf("a reader's Restart: %d %s", resp.StatusCode, page)
	}
	if resp, _ := b.post("/studio/compute/restart", url.Values{"id": id["id"], "csrf": {""}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Restart without a CSRF token: %d", resp.StatusCode)
	}
	if n := restarts(t, e, "nb1"); n != 0 {
		t.Fatalf("refused Restarts restarted the instance %d times", n)
	}
	resp, _ := b.post("/studio/compute/restart", id)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != viewOf("nb1") {
		t.Fatalf("restart: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.settle()
	if _, page := b.get(viewOf("nb1")); !strings.Contains(page, "Succeeded · Running") || restarts(t, e, "nb1") != 1 {
		t.Fatalf("after restart (%d restarts): %s", restarts(t, e, "nb1"), page)
	}

	resp, page := b.post("/studio/compute/delete", id)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "I understand") {
		t.Fatalf("Delete without the confirmation: %d %s", resp.StatusCode, page)
	}
	if status, _ := e.armDo("GET", wsID+"/computes/nb1"+mlVersion, ""); status != http.StatusOK {
		t.Fatalf("an unconfirmed Delete deleted: %d", status)
	}
	id.Set("confirm", "on")
	id.Set("type", "ComputeInstance")
	resp, _ = b.post("/studio/compute/delete", id)
	if want := "/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=instances"; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("Delete: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.settle()
	if status, _ := e.armDo("GET", wsID+"/computes/nb1"+mlVersion, ""); status != http.StatusNotFound {
		t.Fatalf("the instance after Delete: %d", status)
	}
}

// restarts counts the finished restart operations of compute name in ws1.
func restarts(t *testing.T, e *env, name string) int {
	t.Helper()
	n := 0
	err := store.Each(context.Background(), e.st, store.Query{Type: provision.OperationType}, func(rec store.Record) error {
		var op provision.Operation
		if err := json.Unmarshal(rec.Body, &op); err != nil {
			return err
		}
		if op.Kind == provision.KindRestart && strings.EqualFold(op.ResourceID, wsID+"/computes/"+name) && op.Status == "Succeeded" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
