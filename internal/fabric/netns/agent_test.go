//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestNodeAgentProbesUnprivileged: with node agents, the seed cluster's
// outbound flows are sent by a process in the node's namespace that runs
// as nobody with no capability and no supplementary group, and they pass
// as they do from the server; inbound 44224 still reaches the node.
func TestNodeAgentProbesUnprivileged(t *testing.T) {
	nw := compile(t, "cluster-public-ip.yaml")
	f := newFabricWith(t, &nw, &Agent{Env: []string{agentEnv}})
	c, fl := flows(t, nw, "ws1/cpucluster")
	ctx := context.Background()
	n := nodeOf(c, "tvm-0000", "10.0.0.4")
	if err := f.Boot(ctx, n); err != nil {
		t.Fatal(err)
	}
	var nodeIno uint64
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.nodes[nodeKey(n)].ns.fd), &st); err != nil {
		t.Fatal(err)
	}
	nodeIno = st.Ino
	var seen []string
	f.agentStarted = func(pid int) {
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
		var ns syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &ns); err != nil || ns.Ino != nodeIno {
			t.Errorf("agent %d: network namespace %d (%v), want the node's %d", pid, ns.Ino, err, nodeIno)
		}
		seen = append(seen, fields["Uid"])
	}
	probes, err := f.Probe(ctx, n, fl)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("%d agents started for one probe of the node, want 1", len(seen))
	}
	if bad := failed(probes); len(bad) > 0 || len(probes) != len(fl) {
		t.Fatalf("%d of %d flows failed:\n%s", len(bad), len(fl), strings.Join(bad, "\n"))
	}
	outbound := 0
	for _, p := range probes {
		if !p.Flow.Inbound {
			outbound++
			if !strings.Contains(p.Detail, "answered by the emulated") {
				t.Errorf("%s: %s", p.Flow.Name, p.Detail)
			}
		}
	}
	if outbound == 0 {
		t.Fatal("no outbound flow: the agent had nothing to send")
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
	cmd := agentCommand(context.Background(), Agent{Env: []string{readEnv + "=" + secret}})
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
