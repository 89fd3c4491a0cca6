package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/jobs"
	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// POST .../computes/{name}/exec (securetrain's; in Azure one SSHes into a
// node): runs a command in a node, as jobs run (internal/jobs.Exec), and
// answers with its output as it comes and its exit code, one JSON object
// a line (application/x-ndjson):
//
//	{"stdout":"<base64>"}  {"stderr":"<base64>"}  {"exitCode":0}
//
// or, when the command could not run or be waited for after the answer
// began, {"error":{"code":…,"message":…}} last. Errors before it runs are
// ARM errors. The action is Microsoft.MachineLearningServices/workspaces/
// computes/exec/action (docs/security.md): Reader does not have it.

// maxExec bounds a command's run, and timeoutSeconds in the request may
// shorten it.
const maxExec = time.Hour

// execRequest is the body of an exec.
type execRequest struct {
	Command []string `json:"command"`
	// Node is a node's id (tvm-0000) or index in the node list ("" for
	// the first idle or running node).
	Node           string `json:"node"`
	TimeoutSeconds int    `json:"timeoutSeconds"`
}

// execFrame is one line of the answer.
type execFrame struct {
	Stdout   []byte         `json:"stdout,omitempty"`
	Stderr   []byte         `json:"stderr,omitempty"`
	ExitCode *int           `json:"exitCode,omitempty"`
	Error    map[string]any `json:"error,omitempty"`
}

// frameWriter writes the command's output as frames, flushed at once; the
// two streams and the command's start share it, so the answer's header is
// written once, before any frame, whichever comes first.
type frameWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

// start writes the answer's header, once.
func (f *frameWriter) start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startLocked()
}

func (f *frameWriter) startLocked() {
	if f.started {
		return
	}
	f.started = true
	f.w.Header().Set("Content-Type", "application/x-ndjson")
	f.w.WriteHeader(http.StatusOK)
}

// hasStarted says whether the answer's header is written.
func (f *frameWriter) hasStarted() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started
}

func (f *frameWriter) frame(fr execFrame) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startLocked()
	if err := f.enc.Encode(fr); err != nil {
		return err
	}
	return http.NewResponseController(f.w).Flush()
}

// stream is one of the command's outputs.
type stream struct {
	f      *frameWriter
	stderr bool
}

func (s stream) Write(p []byte) (int, error) {
	fr := execFrame{Stdout: p}
	if s.stderr {
		fr = execFrame{Stderr: p}
	}
	if err := s.f.frame(fr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// computeExec serves exec on compute id; the caller has authorized it.
func (s *Server) computeExec(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	var in execRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, "InvalidRequestContent", format, args...)
	}
	switch {
	case len(in.Command) == 0 || in.Command[0] == "":
		return bad("exec needs command: the program and its arguments, [\"ls\", \"-l\"].")
	case in.TimeoutSeconds < 0 || time.Duration(in.TimeoutSeconds)*time.Second > maxExec:
		return bad("timeoutSeconds %d must be between 1 and %d (0: %d).", in.TimeoutSeconds, int(maxExec.Seconds()), int(maxExec.Seconds()))
	}
	for _, a := range in.Command {
		if strings.ContainsRune(a, 0) {
			return bad("the command holds a NUL character.")
		}
	}
	_, c, err := readCompute(r.Context(), s.store, id)
	if err != nil {
		return err
	}
	size, err := provision.SizeOf(c.VMSize)
	if err != nil {
		return err
	}
	node, err := execNode(r.Context(), s.store, id, in.Node)
	if err != nil {
		return err
	}
	timeout := maxExec
	if in.TimeoutSeconds > 0 {
		timeout = time.Duration(in.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// The answer lasts as long as the command: the server's write
	// timeout would cut it.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 10*time.Second))
	fw := &frameWriter{w: w, enc: json.NewEncoder(w)}
	code, err := s.jobs.Exec(ctx, jobs.ExecSpec{Compute: id, Node: node, Size: size, Argv: in.Command,
		Stdout: stream{f: fw}, Stderr: stream{f: fw, stderr: true}, Started: fw.start})
	started := fw.hasStarted()
	switch {
	case err != nil && !started && errors.Is(err, jobs.ErrCannotRun):
		return newError(http.StatusConflict, "Conflict", "%v.", err)
	case err != nil && !started:
		return err
	case err != nil:
		return fw.frame(execFrame{Error: map[string]any{"code": "ExecFailed", "message": err.Error()}})
	case ctx.Err() == context.DeadlineExceeded:
		return fw.frame(execFrame{Error: map[string]any{"code": "ExecTimeout", "message": "the command ran longer than " + timeout.String() + " and was killed"}})
	}
	return fw.frame(execFrame{ExitCode: &code})
}

// execNode picks the node an exec runs on: the one named (its id or index
// in the node list), else the first idle or running one.
func execNode(ctx context.Context, rd store.Reader, id arm.ID, want string) (string, error) {
	nodes, err := provision.Nodes(ctx, rd, id)
	if err != nil {
		return "", err
	}
	if len(nodes) == 0 {
		return "", newError(http.StatusConflict, "Conflict", "Compute '%s' has no nodes: resize the cluster, or start the instance.", id.Leaf())
	}
	usable := func(n provision.NodeInfo) bool {
		return n.NodeState == provision.NodeIdle || n.NodeState == provision.NodeRunning
	}
	if want == "" {
		for _, n := range nodes {
			if usable(n) {
				return n.NodeID, nil
			}
		}
		return "", newError(http.StatusConflict, "Conflict", "Compute '%s' has no idle or running node (its first is %s).", id.Leaf(), nodes[0].NodeState)
	}
	for i, n := range nodes {
		if !strings.EqualFold(n.NodeID, want) && strconv.Itoa(i) != want {
			continue
		}
		if !usable(n) {
			return "", newError(http.StatusConflict, "Conflict", "Node %s of '%s' is %s: a command runs on an idle or running node.", n.NodeID, id.Leaf(), n.NodeState)
		}
		return n.NodeID, nil
	}
	return "", newError(http.StatusNotFound, "NodeNotFound", "Compute '%s' has no node '%s' (its nodes: %s).", id.Leaf(), want, nodeIDs(nodes))
}

func nodeIDs(nodes []provision.NodeInfo) string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.NodeID
	}
	return strings.Join(ids, ", ")
}
