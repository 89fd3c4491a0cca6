package studio

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/resources"
	"securetrain/internal/serving"
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
	// The stream the page's script follows, from an offset on: the
	// status, the rest of the log (its id the next offset), the end.
	ev := b.events(jobID("train"), "&file=std_log.txt&offset=6")
	status, chunk := ev.next(t), ev.next(t)
	if status.name != "status" || status.data != `{"status":"Completed","terminal":true}` {
		t.Fatalf("the first event: %+v", status)
	}
	var log struct {
		Text   string `json:"text"`
		Offset int64  `json:"offset"`
	}
	if err := json.Unmarshal([]byte(chunk.data), &log); err != nil || chunk.name != "log" {
		t.Fatalf("the log event %+v: %v", chunk, err)
	}
	if !strings.HasPrefix(log.Text, "from 0.01\n") || log.Offset != int64(6+len(log.Text)) || chunk.id != strconv.FormatInt(log.Offset, 10) {
		t.Fatalf("the log from 6: %+v (id %s)", log, chunk.id)
	}
	if end := ev.next(t); end.name != "end" {
		t.Fatalf("after the log of a finished job: %+v", end)
	}
	if _, err := ev.r.ReadString('\n'); err != io.EOF {
		t.Fatalf("the stream goes on after its end: %v", err)
	}
	// A reconnecting browser's Last-Event-ID wins over the URL's offset:
	// nothing is sent twice.
	again := b.events(jobID("train"), "&offset=0", "Last-Event-ID", chunk.id)
	if e := again.next(t); e.name != "status" {
		t.Fatalf("the reconnected stream: %+v", e)
	}
	if e := again.next(t); e.name != "end" {
		t.Fatalf("the reconnected stream sent the log again: %+v", e)
	}
	for _, bad := range []string{"&file=../../admin.token", "&offset=-1", "&offset=x"} {
		resp := b.eventsResponse(jobID("train"), bad)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") == "text/event-stream" {
			t.Errorf("events with %s: %d", bad, resp.StatusCode)
		}
	}
}

// sse is a server-sent event.
type sse struct{ name, id, data string }

// eventStream reads a studio event stream.
type eventStream struct {
	r    *bufio.Reader
	body io.Closer
}

// eventsResponse opens the event stream of job id with the extra query
// and headers given as name, value pairs.
func (b *browser) eventsResponse(id, query string, headers ...string) *http.Response {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.base+"/studio/jobs/events?id="+url.QueryEscape(id)+query, nil)
	req.AddCookie(b.cookie)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.e.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	b.e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// events opens a stream that must start.
func (b *browser) events(id, query string, headers ...string) *eventStream {
	b.e.t.Helper()
	resp := b.eventsResponse(id, query, headers...)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		data, _ := io.ReadAll(resp.Body)
		b.e.t.Fatalf("events of %s: %d %s", id, resp.StatusCode, data)
	}
	return &eventStream{r: bufio.NewReader(resp.Body), body: resp.Body}
}

// next reads the next event; comments (heartbeats) and the retry field
// (checked) are skipped.
func (s *eventStream) next(t *testing.T) sse {
	t.Helper()
	var ev sse
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		field, value, _ := strings.Cut(line, ": ")
		switch {
		case line == "" && ev.name != "":
			return ev
		case line == "":
		case strings.HasPrefix(line, ":"):
		case field == "event":
			ev.name = value
		case field == "id":
			ev.id = value
		case field == "data":
			ev.data = value
		case field == "retry":
			if value != "2000" {
				t.Fatalf("retry: %s", value)
			}
		default:
			t.Fatalf("an unknown field in the stream: %q", line)
		}
	}
}

func TestJobEventsFollowARunningJob(t *testing.T) { // the live log: heartbeats, sign-out ends it, a closed client frees it
	e := newEnv(t)
	e.studio.heartbeat = 20 * time.Millisecond
	dir := gateDir(t)
	gate := filepath.Join(dir, "gate")
	e.submitJob("follow", "follow", "echo first; while [ ! -e "+gate+" ]; do sleep 0.05; done; echo second; sleep 600")
	e.waitJob("follow", func(st string) bool { return st == resources.JobRunning })
	b := e.signIn(e.readerToken)
	ev := b.events(jobID("follow"), "")
	if st := ev.next(t); st.data != `{"status":"Running","terminal":false}` {
		t.Fatalf("the first event: %+v", st)
	}
	for first := ""; !strings.Contains(first, "first"); {
		first += ev.next(t).data
	}
	// Quiet: heartbeats keep the connection.
	for beats := 0; beats < 3; {
		line, err := ev.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": keep-alive\n" {
			beats++
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if line := ev.next(t); line.name != "log" || !strings.Contains(line.data, "second") {
		t.Fatalf("the line written while streaming: %+v", line)
	}
	// Signing out ends the stream, saying so.
	if resp, _ := b.post("/studio/signout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if end := ev.next(t); end.name != "failure" || !strings.Contains(end.data, "SessionEnded") {
		t.Fatalf("after sign-out: %+v", end)
	}
	if _, err := ev.r.ReadString('\n'); err != io.EOF {
		t.Fatalf("the stream goes on after sign-out: %v", err)
	}
	// A client that goes away frees its stream.
	admin := e.signIn(e.adminToken)
	gone := admin.events(jobID("follow"), "")
	gone.next(t)
	if len(e.studio.streams) != 1 {
		t.Fatalf("open streams: %d, want 1", len(e.studio.streams))
	}
	gone.body.Close()
	for deadline := time.Now().Add(30 * time.Second); len(e.studio.streams) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream of a client that went away is still open")
		}
	}
}

func TestJobEventsNeedReadAccess(t *testing.T) { // a stream never shows another workspace's job
	e := newEnv(t)
	e.submitJob("secret", "secret", "echo secret")
	nobody, err := api.CreatePrincipal(context.Background(), e.st, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	b := e.signIn(nobody)
	resp := b.eventsResponse(jobID("secret"), "")
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(data), "AuthorizationFailed") || strings.Contains(string(data), "secret\n") {
		t.Fatalf("a principal without a role: %d %s", resp.StatusCode, data)
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

// A stream lives longer than the server's WriteTimeout (each write sets
// its own deadline) and ReadTimeout (which net/http lifts while a
// handler runs), as `securetrain serve` runs it.
func TestJobEventsOutliveTheServersTimeouts(t *testing.T) {
	e := newEnv(t)
	e.studio.heartbeat = 20 * time.Millisecond
	e.submitJob("slow", "slow", "echo started; sleep 600")
	e.waitJob("slow", func(st string) bool { return st == resources.JobRunning })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := serving.Defaults()
	limits.ReadTimeout, limits.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv, ln := serving.New(Mount(e.api, e.studio), ln, nil, limits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b := e.signIn(e.readerToken)
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/studio/jobs/events?id="+url.QueryEscape(jobID("slow")), nil)
	req.AddCookie(b.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	// Heartbeats for five times the server's timeouts.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatalf("the stream ended under the server's timeouts: %v", err)
		}
	}
}

// flakyAPI answers the API's requests whose path contains match with a
// server error while failures lasts (negative: always), as a store busy
// under load does; the rest go to the API.
type flakyAPI struct {
	API
	match    string
	failures atomic.Int32
}

func (f *flakyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, f.match) && f.failures.Load() != 0 {
		f.failures.Add(-1)
		writeProblem(w, http.StatusInternalServerError, "InternalServerError", "the server failed to process the request")
		return
	}
	f.API.ServeHTTP(w, r)
}

// A log stream rides out the server's own failures (a 5xx answer, as a
// store busy under load gives) before it starts and while it runs,
// instead of stopping the page's log for good; it gives up, saying why,
// only when they last past its patience. CI once saw a job's page never
// show its first line under heavy load.
func TestJobEventsRideOutTheServersFailures(t *testing.T) {
	e := newEnv(t)
	flaky := &flakyAPI{API: e.studio.api, match: "/jobs/ride"}
	// Set before any request: three or five failures a poll (250 ms)
	// apart are within it.
	e.studio.api, e.studio.patience = flaky, 2*time.Second
	dir := gateDir(t)
	gate := filepath.Join(dir, "gate")
	e.submitJob("ride", "ride", "echo first; while [ ! -e "+gate+" ]; do sleep 0.05; done; echo second; sleep 600")
	e.waitJob("ride", func(st string) bool { return st == resources.JobRunning })
	b := e.signIn(e.readerToken)
	// Before the stream starts: three reads fail, then it starts.
	flaky.failures.Store(3)
	ev := b.events(jobID("ride"), "")
	if st := ev.next(t); st.data != `{"status":"Running","terminal":false}` {
		_, job := e.armDo("GET", jobID("ride")+mlVersion, "")
		t.Fatalf("the first event: %+v; the job: %s", st, job)
	}
	for first := ""; !strings.Contains(first, "first"); {
		first += ev.next(t).data
	}
	if n := flaky.failures.Load(); n != 0 {
		t.Fatalf("%d failures left: the stream did not ask through them", n)
	}
	// While it runs: five polls fail, and the line written meanwhile
	// still comes.
	flaky.failures.Store(5)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if line := ev.next(t); line.name != "log" || !strings.Contains(line.data, "second") {
		t.Fatalf("the line written while the API failed: %+v", line)
	}
	// Failures past its patience end it with a failure event.
	flaky.failures.Store(-1)
	if end := ev.next(t); end.name != "failure" || !strings.Contains(end.data, "InternalServerError") {
		t.Fatalf("after failures past the stream's patience: %+v", end)
	}
	// And a stream that cannot start through them is refused.
	resp := b.eventsResponse(jobID("ride"), "")
	if data, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(data), "InternalServerError") {
		t.Fatalf("a stream through failures past its patience: %d %s", resp.StatusCode, data)
	}
}
