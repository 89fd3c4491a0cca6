//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"securetrain/internal/fabric/netns/netnstest"
)

// The test binary is the node agent when the fabric starts it with
// agentEnv, as serve's binary is with "agent"; with readEnv it tries to
// read a file as the agent would (exit 3: permission denied).
const (
	agentEnv = "SECURETRAIN_TEST_NODE_AGENT=1"
	readEnv  = "SECURETRAIN_TEST_AGENT_READS"
)

func TestMain(m *testing.M) {
	if os.Getenv("SECURETRAIN_TEST_NODE_AGENT") == "1" {
		if err := AgentMain(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if path := os.Getenv(readEnv); path != "" {
		_, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrPermission):
			os.Exit(3)
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestNodeAgentProbesUnprivileged: with node agents, each node runs one:
// a process in the node's namespace, as nobody with no capability and no
// supplementary group. It sends the seed cluster's outbound flows, which
// pass as they do from the server, and answers 44224 through the load
// balancer; it ends when the node stops, and a start runs a new one.
func TestNodeAgentProbesUnprivileged(t *testing.T) {
	nw := compile(t, "cluster-public-ip.yaml")
	f := newFabricWith(t, &nw, &Agent{Env: []string{agentEnv}})
	c, fl := flows(t, nw, "ws1/cpucluster")
	ctx := context.Background()
	n := nodeOf(c, "tvm-0000", "10.0.0.4")
	var (
		mu   sync.Mutex
		pids []int
	)
	agents := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(pids)
	}
	f.agentStarted = func(pid int) {
		mu.Lock()
		pids = append(pids, pid)
		mu.Unlock()
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Errorf("agent %d: %v", pid, err)
			return
		}
		fields := map[string]string{}
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
		for k, want := range map[string]string{"Uid": "65534 65534 65534 65534", "Gid": "65534 65534 65534 65534",
			"Groups": "", "CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapAmb": "0000000000000000"} {
			if fields[k] != want {
				t.Errorf("agent %d: %s %q, want %q", pid, k, fields[k], want)
			}
		}
		var ns, node syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &ns); err != nil {
			t.Errorf("agent %d: %v", pid, err)
		}
		if err := syscall.Stat("/run/netns/"+f.nodeNamespace(n), &node); err != nil || ns.Ino != node.Ino {
			t.Errorf("agent %d: network namespace %d, want the node's %d (%v)", pid, ns.Ino, node.Ino, err)
		}
	}
	if err := f.Boot(ctx, n); err != nil {
		t.Fatal(err)
	}
	probe := func() {
		t.Helper()
		probes, err := f.Probe(ctx, n, fl)
		if err != nil {
			t.Fatal(err)
		}
		if bad := failed(probes); len(bad) > 0 || len(probes) != len(fl) {
			t.Fatalf("%d of %d flows failed:\n%s", len(bad), len(fl), strings.Join(bad, "\n"))
		}
		outbound, inbound := 0, 0
		for _, p := range probes {
			switch {
			case p.Flow.Inbound && strings.Contains(p.Detail, "through the load balancer"):
				inbound++
			case !p.Flow.Inbound && strings.Contains(p.Detail, "answered by the emulated"):
				outbound++
			default:
				t.Errorf("%s: %s", p.Flow.Name, p.Detail)
			}
		}
		if outbound == 0 || inbound == 0 {
			t.Fatalf("%d outbound and %d inbound flows passed: the agent had nothing to do", outbound, inbound)
		}
	}
	probe()
	probe() // the same agent answers again
	if pids := agents(); len(pids) != 1 {
		t.Fatalf("agents %v for one node, want 1", pids)
	}
	if err := f.Stop(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", agents()[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the agent %d of the stopped node: %v, want gone", agents()[0], err)
	}
	if _, err := f.Probe(ctx, n, fl); err == nil || !strings.Contains(err.Error(), "agent does not run") {
		t.Errorf("probing the stopped node: %v", err)
	}
	if err := f.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	probe()
	if pids := agents(); len(pids) != 2 {
		t.Fatalf("agents %v after a start, want a second one", pids)
	}
}

// TestNodeAgentCannotReadTheDataDirectory: a process started as the agent
// is cannot read a file of a private directory of root's, as the server's
// data directory is (its database, keys and tokens).
func TestNodeAgentCannotReadTheDataDirectory(t *testing.T) {
	netnstest.RequireRoot(t) // the agent runs as another user
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := agentCommand(Agent{Env: []string{readEnv + "=" + secret}})
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("the agent reading %s: %v, want permission denied (exit 3)\n%s", secret, err, out)
	}
	// The same process as root reads it: the test can tell.
	cmd = exec.Command("/proc/self/exe")
	cmd.Env = []string{readEnv + "=" + secret}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("root reading %s: %v\n%s", secret, err, out)
	}
}

// TestEnterKeepsNodeAgents: the threads that start processes in nodes
// end (Enter), and the node's agent, which dies with the thread that
// forked it (parent-death signal), lives on: it was forked on the
// keeper's thread. Its probes still pass after many starts.
func TestEnterKeepsNodeAgents(t *testing.T) {
	nw := compile(t, "cluster-public-ip.yaml")
	f := newFabricWith(t, &nw, &Agent{Env: []string{agentEnv}})
	c, fl := flows(t, nw, "ws1/cpucluster")
	ctx := context.Background()
	n := nodeOf(c, "tvm-0000", "10.0.0.4")
	if err := f.Boot(ctx, n); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		cmd := exec.Command("/bin/true")
		if err := f.Enter(n, cmd.Start); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	probes, err := f.Probe(ctx, n, fl)
	if err != nil {
		t.Fatal(err)
	}
	if bad := failed(probes); len(bad) > 0 || len(probes) != len(fl) {
		t.Errorf("after 40 starts in the node, %d of %d flows failed:\n%s", len(bad), len(fl), strings.Join(bad, "\n"))
	}
}
