package studio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"securetrain/internal/resources"
)

// jobID is the id of job name in ws1.
func jobID(name string) string { return wsID + "/jobs/" + name }

// submitJob submits a command job on the seed cluster as the admin.
func (e *env) submitJob(name, displayName, command string) {
	e.t.Helper()
	props := map[string]any{"jobType": "Command", "command": command, "displayName": displayName,
		"environmentId": "azureml://registries/azureml/environments/sklearn-1.5/versions/1", "computeId": wsID + "/computes/cpu-cluster",
		"inputs": map[string]any{"lr": map[string]any{"jobInputType": "literal", "value": "0.01"}}}
	body, _ := json.Marshal(map[string]any{"properties": props})
	if status, out := e.armDo("PUT", jobID(name)+mlVersion, string(body)); status != http.StatusCreated {
		e.t.Fatalf("PUT job %s: %d %s", name, status, out)
	}
}

// jobStatus reads a job's status through the API.
func (e *env) jobStatus(name string) string {
	e.t.Helper()
	status, out := e.armDo("GET", jobID(name)+mlVersion, "")
	if status != http.StatusOK {
		e.t.Fatalf("GET job %s: %d %s", name, status, out)
	}
	var j listedJob
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		e.t.Fatal(err)
	}
	return j.Properties.Status
}

// waitJob lets the engine work until job name has a status that done
// accepts; the processes run on their own between passes.
func (e *env) waitJob(name string, done func(string) bool) string {
	e.t.Helper()
	for range 3000 {
		e.settle()
		if st := e.jobStatus(name); done(st) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("job %s: still %s", name, e.jobStatus(name))
	return ""
}

const (
	xssName = `<script>alert("name")</script>`
	xssLine = `<img src=x onerror=alert("log")>`
)

func TestJobsListAndPageShowAJobAndItsLog(t *testing.T) { // jobs pages: list, detail, log; everything escaped
	e := newEnv(t)
	e.submitJob("train", xssName, "echo 'hello from ${{inputs.lr}}'; echo '"+xssLine+"'")
	if st := e.waitJob("train", resources.JobTerminal); st != resources.JobCompleted {
		t.Fatalf("the job ended %s", st)
	}
	b := e.signIn(e.readerToken)
	resp, page := b.get("/studio/jobs?ws=" + url.QueryEscape(wsID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jobs page: %d %s", resp.StatusCode, page)
	}
	row := rowOfPage(t, page, "data-name", "train")
	for _, want := range []string{`data-status="Completed"`, ">cpu-cluster</a>", " UTC</td>", "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;"} {
		if !strings.Contains(row, want) {
			t.Errorf("the job's row lacks %q: %s", want, row)
		}
	}
	resp, page = b.get("/studio/jobs/view?id=" + url.QueryEscape(jobID("train")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("job page: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{"hello from 0.01", "&lt;img src=x onerror=alert(&#34;log&#34;)&gt;", `id="status" data-status="Completed" data-terminal="true"`,
		"<td>lr</td><td>input</td><td>literal</td><td>0.01</td>", "echo &#39;hello from ${{inputs.lr}}&#39;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the job page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || strings.Contains(page, `id="cancel"`) {
		t.Fatalf("the job page has unescaped text, or Cancel on a finished job: %s", page)
	}
	// The log endpoint the page's script follows: from an offset on.
	_, raw := b.get("/studio/jobs/log?id=" + url.QueryEscape(jobID("train")) + "&file=std_log.txt&offset=6")
	var chunk logChunk
	if err := json.Unmarshal([]byte(raw), &chunk); err != nil {
		t.Fatalf("log chunk %s: %v", raw, err)
	}
	if !chunk.Terminal || chunk.Status != resources.JobCompleted || !strings.HasPrefix(chunk.Text, "from 0.01\n") || chunk.Offset != int64(6+len(chunk.Text)) {
		t.Fatalf("log chunk from 6: %+v", chunk)
	}
	for _, bad := range []string{"&file=../../admin.token", "&offset=-1"} {
		if resp, body := b.get("/studio/jobs/log?id=" + url.QueryEscape(jobID("train")) + bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("log with %s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func TestReaderCannotCancelAJob(t *testing.T) { // a Reader sees and cannot act
	e := newEnv(t)
	e.submitJob("long", "long", "echo started; sleep 600")
	e.waitJob("long", func(st string) bool { return st == resources.JobRunning })
	reader := e.signIn(e.readerToken)
	_, page := reader.get("/studio/jobs/view?id=" + url.QueryEscape(jobID("long")))
	if strings.Contains(page, `id="cancel"`) || !strings.Contains(page, `data-status="Running"`) {
		t.Fatalf("the Reader's job page: %s", page)
	}
	resp, page := reader.post("/studio/jobs/cancel", url.Values{"id": {jobID("long")}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") {
		t.Fatalf("the Reader's forced Cancel: %d %s", resp.StatusCode, page)
	}
	admin := e.signIn(e.adminToken)
	// Without the CSRF token, the admin's Cancel is refused too.
	if resp, _ := admin.post("/studio/jobs/cancel", url.Values{"id": {jobID("long")}, "csrf": {""}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Cancel without the CSRF token: %d", resp.StatusCode)
	}
	if st := e.jobStatus("long"); st != resources.JobRunning {
		t.Fatalf("a refused Cancel changed the job: %s", st)
	}
	_, page = admin.get("/studio/jobs/view?id=" + url.QueryEscape(jobID("long")))
	if !strings.Contains(page, `id="cancel"`) {
		t.Fatalf("the admin has no Cancel: %s", page)
	}
	resp, _ = admin.post("/studio/jobs/cancel", url.Values{"id": {jobID("long")}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/studio/jobs/view?id=") {
		t.Fatalf("Cancel: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if st := e.waitJob("long", resources.JobTerminal); st != resources.JobCanceled {
		t.Fatalf("the canceled job ended %s", st)
	}
	if _, page := admin.get("/studio/jobs/view?id=" + url.QueryEscape(jobID("long"))); !strings.Contains(page, "started") || strings.Contains(page, `id="cancel"`) {
		t.Fatalf("the canceled job's page: %s", page)
	}
}

func TestJobOutputDownloads(t *testing.T) { // a kept output file from the job's page
	e := newEnv(t)
	body := `{"properties":{"jobType":"Command","command":"echo weights > ${{outputs.model}}/w.bin","computeId":"` + wsID + `/computes/cpu-cluster",
		"environmentId":"azureml://registries/azureml/environments/sklearn-1.5/versions/1","outputs":{"model":{"jobOutputType":"uri_folder"}}}}`
	if status, out := e.armDo("PUT", jobID("out")+mlVersion, body); status != http.StatusCreated {
		t.Fatalf("PUT job: %d %s", status, out)
	}
	if st := e.waitJob("out", resources.JobTerminal); st != resources.JobCompleted {
		t.Fatalf("the job ended %s", st)
	}
	b := e.signIn(e.readerToken)
	_, page := b.get("/studio/jobs/view?id=" + url.QueryEscape(jobID("out")))
	// html/template escapes a URL with lower-case hex.
	link := "/studio/jobs/output?id=" + strings.ReplaceAll(url.QueryEscape(jobID("out")), "%2F", "%2f") + "&amp;path=model%2fw.bin"
	if !strings.Contains(page, link) {
		t.Fatalf("the page has no download link %s: %s", link, page)
	}
	resp, data := b.get("/studio/jobs/output?id=" + url.QueryEscape(jobID("out")) + "&path=model/w.bin")
	if resp.StatusCode != http.StatusOK || data != "weights\n" || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename=w.bin` {
		t.Fatalf("download: %d %q %v", resp.StatusCode, data, resp.Header)
	}
	for _, bad := range []string{"../../admin.token", "model", "nothing"} {
		resp, page := b.get("/studio/jobs/output?id=" + url.QueryEscape(jobID("out")) + "&path=" + url.QueryEscape(bad))
		if resp.StatusCode < 400 || resp.Header.Get("Content-Disposition") != "" || !strings.Contains(page, `role="alert"`) {
			t.Errorf("download of %q: %d %v", bad, resp.StatusCode, resp.Header)
		}
	}
}
