package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"securetrain/internal/jobs"
	"securetrain/internal/procusers"
)

// `compute exec` runs a command in a node through the server: its output
// comes back on stdout and stderr, its exit code is the command's, and it
// runs as a user of its own (a job's kind) in a working directory of its
// own under the node directory. A Reader may not exec; a node that does
// not exist and a missing command are named.
func TestComputeExec(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	nodes := jobNodeDir(t)
	serveOn(t, serveConfig{dataDir: data, insecure: true, nodeDir: nodes})
	t.Setenv("SECURETRAIN_SUBSCRIPTION", "")
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "env.yaml", computeEnv)); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	if code, out, errs := computeCLI(t, append([]string{"create", "cpucluster", "--type", "amlcompute", "--min-nodes", "1", "--max-nodes", "1"}, inSubnet...)...); code != 0 {
		t.Fatalf("create cluster: %d\n%s%s", code, out, errs)
	}
	exec := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append([]string{"compute", "exec", "--subscription", testSub, "-g", "mlgroup"}, args...)...)
	}
	code, out, errs := exec("ws1/cpucluster", "--", "sh", "-c", "id -u; pwd; echo oops >&2; exit 7")
	if code != 7 {
		t.Fatalf("exit %d, want the command's 7\n%s%s", code, out, errs)
	}
	lines := strings.Split(out, "\n")
	if uid, err := strconv.Atoi(lines[0]); err != nil || uid < jobs.DefaultFirstUID || !strings.HasPrefix(lines[1], nodes+"/exec-") {
		t.Errorf("the command ran as %q in %q, want a job's user in a directory of its own under %s", lines[0], lines[1], nodes)
	}
	if errs != "oops\n" {
		t.Errorf("stderr %q", errs)
	}
	if code, out, errs := exec("cpucluster", "-w", "ws1", "--node", "0", "--", "true"); code != 0 || out != "" || errs != "" {
		t.Errorf("true on node 0: exit %d\n%s%s", code, out, errs)
	}
	// What the command leaves running is killed a second after it exits
	// (it held the output open), and the exit code is still the command's.
	start := time.Now()
	code, out, errs = exec("ws1/cpucluster", "--", "sh", "-c", "id -u; sleep 600 & echo left; exit 0")
	first, _, _ := strings.Cut(out, "\n")
	if code != 0 || !strings.HasSuffix(out, "\nleft\n") || time.Since(start) > 30*time.Second {
		t.Errorf("a command that left a process: exit %d after %v\n%s%s", code, time.Since(start), out, errs)
	}
	if uid, err := strconv.Atoi(first); err != nil {
		t.Errorf("the command's user id %q: %v", first, err)
	} else if left := procusers.Processes(uid); len(left) > 0 {
		t.Errorf("processes of the command's user %d left behind: %v", uid, left)
	}
	code, _, errs = exec("ws1/cpucluster", "--node", "tvm-9999", "--", "true")
	mustContain(t, "a node that does not exist", errs, "NodeNotFound", "tvm-9999", "tvm-0000")
	if code != 1 {
		t.Errorf("exit %d for a node that does not exist", code)
	}
	if code, _, errs := exec("ws1/cpucluster"); code != exitBadInput || !strings.Contains(errs, "the command to run follows --") {
		t.Errorf("no command: exit %d\n%s", code, errs)
	}

	admin := onData(t, data)
	reader := admin("principal", "create", "reader1")
	admin("role", "assign", "--principal", "reader1", "--role", "Reader", "--scope", "/subscriptions/"+testSub)
	code, out, errs = exec("ws1/cpucluster", "--token", reader, "--", "sh", "-c", "echo ran")
	if code != 1 || strings.Contains(out, "ran") {
		t.Errorf("a Reader's exec: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "a Reader's exec", errs, "403 AuthorizationFailed", "Microsoft.MachineLearningServices/workspaces/computes/exec/action")
}
