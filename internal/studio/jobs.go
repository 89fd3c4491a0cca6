package studio

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"securetrain/internal/api"
	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// The Jobs pages: a workspace's jobs, a job with its live log, and Cancel.
// Jobs are read and canceled through the API (workspaces/jobs, its
// userLogs and outputs actions), as the session's principal.

// listedJob is what the pages read of a job's body.
type listedJob struct {
	ID         string `json:"id"`
	Properties struct {
		DisplayName    string `json:"displayName"`
		Description    string `json:"description"`
		ExperimentName string `json:"experimentName"`
		Status         string `json:"status"`
		Command        string `json:"command"`
		ComputeID      string `json:"computeId"`
		EnvironmentID  string `json:"environmentId"`
		Error          *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Inputs map[string]struct {
			Type  string `json:"jobInputType"`
			Value string `json:"value"`
			URI   string `json:"uri"`
		} `json:"inputs"`
		Outputs map[string]struct {
			Type string `json:"jobOutputType"`
			URI  string `json:"uri"`
		} `json:"outputs"`
		Resources struct {
			InstanceCount int `json:"instanceCount"`
		} `json:"resources"`
		Distribution struct {
			Type string `json:"distributionType"`
		} `json:"distribution"`
		Tags map[string]string `json:"tags"`
	} `json:"properties"`
}

// jobRow is a job as the pages show it.
type jobRow struct {
	ID, Name, DisplayName, Status string
	Compute                       link
	Created, Duration             string
	Terminal                      bool
}

// jobRowOf reads a job's body; times are the store's (zero when unknown).
func jobRowOf(j listedJob, t api.RecordTime, now time.Time) (jobRow, error) {
	id, err := arm.ParseID(j.ID, "")
	if err != nil {
		return jobRow{}, err
	}
	p := j.Properties
	row := jobRow{ID: id.String(), Name: id.Leaf(), DisplayName: p.DisplayName, Status: p.Status, Terminal: resources.JobTerminal(p.Status)}
	if c, err := arm.ParseID(p.ComputeID, ""); err == nil {
		row.Compute = link{ID: c.String(), Name: c.Leaf()}
	}
	if !t.Created.IsZero() {
		row.Created = t.Created.UTC().Format("2006-01-02 15:04:05 UTC")
		end := now
		if row.Terminal {
			end = t.Updated
		}
		row.Duration = end.Sub(t.Created).Round(time.Second).String()
	}
	return row, nil
}

// jobsPage lists a workspace's jobs, newest first.
func (s *Studio) jobsPage(w http.ResponseWriter, r *http.Request, sess session) {
	ws, err := workspaceOf(r.URL.Query().Get("ws"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	bodies, err := s.list(r, sess, childPath(ws, "jobs", apiVersion(resources.TypeJob)))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	times, err := s.api.RecordTimes(s.apiRequest(r, sess, http.MethodGet, "/", nil), ws.String(), resources.TypeJob)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	// Newest first by the store's times; only the page's jobs are read
	// in full.
	type listed struct {
		body    json.RawMessage
		id      string
		created time.Time
	}
	all := make([]listed, len(bodies))
	for i, b := range bodies {
		var j struct{ ID string }
		if err := json.Unmarshal(b, &j); err != nil {
			s.fail(w, r, sess, fmt.Errorf("a job of %s: %w", ws, err))
			return
		}
		all[i] = listed{b, j.ID, times[arm.FoldKey(j.ID)].Created}
	}
	slices.SortStableFunc(all, func(a, b listed) int { return b.created.Compare(a.created) })
	lo, hi, pages, err := paginate(r, len(all))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	now := time.Now()
	rows := make([]jobRow, 0, hi-lo)
	for _, l := range all[lo:hi] {
		var j listedJob
		err := json.Unmarshal(l.body, &j)
		var row jobRow
		if err == nil {
			row, err = jobRowOf(j, times[arm.FoldKey(l.id)], now)
		}
		if err != nil {
			s.fail(w, r, sess, fmt.Errorf("a job of %s: %w", ws, err))
			return
		}
		rows = append(rows, row)
	}
	canSubmit, err := s.api.Permitted(s.apiRequest(r, sess, http.MethodGet, "/", nil), jobWrite, ws.String())
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	data := struct {
		Workspace arm.ID
		Rows      []jobRow
		Pages     pager
		CanSubmit bool
	}{ws, rows, pages, canSubmit}
	s.render(w, http.StatusOK, "jobs", sess, page{Title: "Jobs — " + ws.Leaf(), Data: data})
}

// jobOf reads the id query parameter: a job's id.
func jobOf(v string) (arm.ID, error) { return idOf(v, resources.TypeJob) }

// maxLogChunk bounds the log a page or one poll carries: a job's log
// grows without bound, and the page follows it from its offset.
const maxLogChunk = 256 << 10

// logChunk is a piece of a job's log from an offset.
type logChunk struct {
	Status   string `json:"status"`
	Terminal bool   `json:"terminal"`
	Text     string `json:"text"`
	// Offset is where the next piece starts.
	Offset int64 `json:"offset"`
	// Missing: the job has no such log (yet).
	Missing bool `json:"missing,omitempty"`
}

// readLog reads up to maxLogChunk of a job's log file from offset through
// the API, cut at a character boundary.
func (s *Studio) readLog(r *http.Request, sess session, id arm.ID, file string, offset int64) (logChunk, error) {
	p := childPath(id, "userLogs", apiVersion(resources.TypeJob)) + "&file=" + url.QueryEscape(file) + "&offset=" + strconv.FormatInt(offset, 10)
	rec := s.call(r, sess, http.MethodGet, p, nil)
	if err := decodeAnswer(rec, nil); err != nil {
		var ae *armError
		if errors.As(err, &ae) && ae.Code == "LogNotFound" {
			return logChunk{Offset: offset, Missing: true}, nil
		}
		return logChunk{}, err
	}
	data := rec.Body.Bytes()
	if len(data) > maxLogChunk {
		data = data[:maxLogChunk]
		// A character cut in two is left for the next poll.
		for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
			if utf8.RuneStart(data[i]) {
				if !utf8.FullRune(data[i:]) {
					data = data[:i]
				}
				break
			}
		}
	}
	return logChunk{Text: string(data), Offset: offset + int64(len(data))}, nil
}

// logFile reads the file query parameter (default std_log.txt); the API
// refuses names that are not a job's log.
func logFile(v string) string { return cmp.Or(v, "std_log.txt") }

// jobPage is a job: status, command, inputs and outputs, error with its
// reason, its log (followed live by the page's script), and Cancel for
// those allowed to.
func (s *Studio) jobPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := jobOf(r.URL.Query().Get("id"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	var j listedJob
	if err := s.get(r, sess, apiPath(id, apiVersion(resources.TypeJob)), &j); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	asAPI := s.apiRequest(r, sess, http.MethodGet, "/", nil)
	ws, _ := id.Parent()
	times, err := s.api.RecordTimes(asAPI, ws.String(), resources.TypeJob)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	row, err := jobRowOf(j, times[arm.FoldKey(j.ID)], time.Now())
	if err != nil {
		s.fail(w, r, sess, fmt.Errorf("job %s: %w", id, err))
		return
	}
	file := logFile(r.URL.Query().Get("file"))
	chunk, err := s.readLog(r, sess, id, file, 0)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var logs struct {
		Value []string `json:"value"`
	}
	if err := s.get(r, sess, childPath(id, "userLogs", apiVersion(resources.TypeJob)), &logs); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var outputs struct {
		Value []struct {
			Path string `json:"path"`
			Size int64  `json:"size"`
		} `json:"value"`
	}
	if err := s.get(r, sess, childPath(id, "outputs", apiVersion(resources.TypeJob)), &outputs); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	canCancel, err := s.api.Permitted(asAPI, resources.TypeJob+"/cancel/action", id.String())
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	type kv struct{ Name, Type, Value string }
	data := struct {
		Workspace arm.ID
		Row       jobRow
		Job       listedJob
		Inputs    []kv
		Outputs   []kv
		Files     []struct {
			Path string `json:"path"`
			Size int64  `json:"size"`
		}
		Logs      []string
		LogFile   string
		Log       logChunk
		CanCancel bool
	}{Workspace: ws, Row: row, Job: j, Files: outputs.Value, Logs: logs.Value, LogFile: file, Log: chunk, CanCancel: canCancel && !row.Terminal}
	for _, name := range slices.Sorted(maps.Keys(j.Properties.Inputs)) {
		in := j.Properties.Inputs[name]
		data.Inputs = append(data.Inputs, kv{name, in.Type, cmp.Or(in.Value, in.URI)})
	}
	for _, name := range slices.Sorted(maps.Keys(j.Properties.Outputs)) {
		out := j.Properties.Outputs[name]
		data.Outputs = append(data.Outputs, kv{name, out.Type, out.URI})
	}
	s.render(w, http.StatusOK, "job", sess, page{Title: "Job " + row.Name, Data: data})
}

// The log follower: a job's page holds an EventSource on jobEvents,
// which sends what the log gains and the job's status as server-sent
// events. The studio reads both through the API (as the principal, every
// poll authorized again) and pushes only what changed.
const (
	// streamPoll is how often a stream asks the API for the job's status
	// and its log from the last offset.
	streamPoll = 250 * time.Millisecond
	// streamRetry is how long the browser waits before it reconnects a
	// dropped stream (the SSE retry field).
	streamRetry = 2 * time.Second
	// maxStreams bounds the streams open at once: each holds a
	// connection (the server takes 1,000) and polls the API.
	maxStreams = 100
)

// streamPatience is how long a stream keeps asking the API through the
// server's own failures (a 5xx answer or an internal error: a store busy
// under load) before it gives up; a refusal (4xx) ends it at once. A
// page's stream that gave up on a passing failure would stop following
// the log for good.
const streamPatience = 30 * time.Second

// transient reports whether err is the server's own failure, worth asking
// again, rather than the API's refusal.
func transient(err error) bool {
	var ae *armError
	return err != nil && (!errors.As(err, &ae) || ae.Status >= 500)
}

// streamWrite bounds one event's write: the server's WriteTimeout would
// end a stream after a minute, so each write sets its own deadline, and a
// client that stops reading is dropped.
const streamWrite = 30 * time.Second

// jobEvents streams a job's log (file, from offset or the Last-Event-ID
// a reconnecting browser sends) and status as server-sent events:
//
//	event: log     id: the next offset  data: {"text":…,"offset":…}
//	event: status                       data: {"status":…,"terminal":…}
//	event: end     the job ended and its log is sent: the page reloads
//	event: failure data: {"code":…,"message":…}: the stream stops
//
// and a comment every heartbeat so that proxies keep the connection. A
// refusal before the stream starts (no such job, no right to read it) is
// an ordinary error answer, which stops the browser's EventSource; a
// session that ends (sign-out, expiry) or a token the API stops accepting
// ends the stream with a failure event.
func (s *Studio) jobEvents(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	id, err := jobOf(q.Get("id"))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	from := cmp.Or(r.Header.Get("Last-Event-ID"), q.Get("offset"), "0")
	offset, err := strconv.ParseInt(from, 10, 64)
	if err != nil || offset < 0 {
		writeProblem(w, http.StatusBadRequest, "InvalidOffset", fmt.Sprintf("offset %q must be a byte count of 0 or more", from))
		return
	}
	file := logFile(q.Get("file"))
	release, ok := take(w, s.streams, "5", fmt.Sprintf("%d log streams are open; reload the page later.", maxStreams))
	if !ok {
		return
	}
	defer release()
	chunk, err := s.jobState(r, sess, id, file, offset)
	for since := time.Now(); transient(err) && time.Since(since) < s.patience; {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(streamPoll):
		}
		chunk, err = s.jobState(r, sess, id, file, offset)
	}
	if err != nil {
		s.writeFailure(w, "job events", err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWrite)) // not every writer has deadlines
		fmt.Fprintf(w, format, args...)
		return rc.Flush() == nil
	}
	if !send("retry: %d\n\n", streamRetry.Milliseconds()) {
		return
	}
	poll, beat := time.NewTicker(streamPoll), time.NewTicker(s.heartbeat)
	defer poll.Stop()
	defer beat.Stop()
	status := ""
	var failing time.Time // since when the API's reads fail (zero: they do not)
	for {
		if chunk.Status != status {
			status = chunk.Status
			if !send("event: status\ndata: %s\n\n", mustJSON(map[string]any{"status": chunk.Status, "terminal": chunk.Terminal})) {
				return
			}
		}
		if chunk.Text != "" {
			if !send("event: log\nid: %d\ndata: %s\n\n", chunk.Offset, mustJSON(map[string]any{"text": chunk.Text, "offset": chunk.Offset})) {
				return
			}
			beat.Reset(s.heartbeat)
		}
		if chunk.Terminal && chunk.Text == "" {
			send("event: end\ndata: {}\n\n")
			return
		}
		// A finished job's rest, or a log that gained more than a chunk,
		// is read at once; otherwise the stream waits for the next poll.
		if !chunk.Terminal && len(chunk.Text) < maxLogChunk-utf8.UTFMax {
			if !s.await(r, poll, beat, send) {
				return
			}
		}
		if !s.sessions.alive(sess.cookie) {
			send("event: failure\ndata: %s\n\n", problemJSON("SessionEnded", "Your studio session ended: sign in again to follow the log."))
			return
		}
		next, err := s.jobState(r, sess, id, file, chunk.Offset)
		switch {
		case err == nil:
			chunk, failing = next, time.Time{}
		case transient(err) && (failing.IsZero() || time.Since(failing) < s.patience):
			if failing.IsZero() {
				failing = time.Now()
				s.log.Warn("studio job events: reading the job failed; asking again", "job", id.String(), "err", err)
			}
			// Nothing new: the stream waits for the next poll.
			chunk = logChunk{Status: chunk.Status, Offset: chunk.Offset}
		default:
			var ae *armError
			if !errors.As(err, &ae) {
				s.log.Error("studio job events failed", "job", id.String(), "err", err)
				ae = &armError{Code: "InternalServerError", Message: "the server failed to read the job; its log says why"}
			}
			send("event: failure\ndata: %s\n\n", problemJSON(ae.Code, ae.Message))
			return
		}
	}
}

// await waits for the next poll, sending a heartbeat comment when one is
// due; false when the client went away.
func (s *Studio) await(r *http.Request, poll, beat *time.Ticker, send func(string, ...any) bool) bool {
	for {
		select {
		case <-r.Context().Done():
			return false
		case <-beat.C:
			if !send(": keep-alive\n\n") {
				return false
			}
		case <-poll.C:
			return true
		}
	}
}

// jobState reads a job's status, then its log from offset: in that order,
// so that a job read as ended has its whole log behind it.
func (s *Studio) jobState(r *http.Request, sess session, id arm.ID, file string, offset int64) (logChunk, error) {
	var j listedJob
	if err := s.get(r, sess, apiPath(id, apiVersion(resources.TypeJob)), &j); err != nil {
		return logChunk{}, err
	}
	chunk, err := s.readLog(r, sess, id, file, offset)
	chunk.Status, chunk.Terminal = j.Properties.Status, resources.JobTerminal(j.Properties.Status)
	return chunk, err
}

// mustJSON encodes what always encodes (strings, numbers, booleans).
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// problemJSON is an error in ARM's shape, without its envelope.
func problemJSON(code, message string) []byte {
	return mustJSON(map[string]string{"code": code, "message": message})
}

// jobOutput sends a kept output file of a job (?path=, as the outputs
// list names it) as a download, streamed from the API's answer (a file
// may be large); the API reads it (an os.Root of the job's outputs:
// nothing outside them) and decides who may. A refusal is a page.
func (s *Studio) jobOutput(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := jobOf(r.URL.Query().Get("id"))
	file := r.URL.Query().Get("path")
	if err == nil && file == "" {
		err = errors.New("path: name a kept output file, as the job's page lists them")
	}
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	d := &download{w: w, name: path.Base(file), header: http.Header{}}
	s.api.ServeHTTP(d, s.apiRequest(r, sess, http.MethodGet, childPath(id, "outputs", apiVersion(resources.TypeJob))+"&path="+url.QueryEscape(file), nil))
	if d.failed != nil {
		s.fail(w, r, sess, decodeAnswer(d.failed, nil))
		return
	}
	d.WriteHeader(http.StatusOK) // an empty file writes nothing
}

// download is the ResponseWriter an API answer is streamed through as an
// attachment when it succeeds; an error answer is kept for a page.
type download struct {
	w      http.ResponseWriter
	name   string
	header http.Header // the API's own headers, not sent
	failed *httptest.ResponseRecorder
	began  bool
}

func (d *download) Header() http.Header { return d.header }

func (d *download) WriteHeader(status int) {
	if d.began || d.failed != nil {
		return
	}
	if status != http.StatusOK {
		d.failed = httptest.NewRecorder()
		d.failed.WriteHeader(status)
		return
	}
	d.began = true
	h := d.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.name}))
	d.w.WriteHeader(http.StatusOK)
}

func (d *download) Write(b []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	if d.failed != nil {
		return d.failed.Write(b)
	}
	return d.w.Write(b)
}

// cancelJob asks the API to cancel a job and goes back to its page; the
// API's RBAC decides (jobs/cancel/action).
func (s *Studio) cancelJob(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := jobOf(r.PostForm.Get("id"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	rec := s.call(r, sess, http.MethodPost, childPath(id, "cancel", apiVersion(resources.TypeJob)), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/studio/jobs/view?id="+url.QueryEscape(id.String()), http.StatusSeeOther)
}
