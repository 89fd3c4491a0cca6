//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testUID is a user id no account has, for the test's processes.
const testUID = 2_899_123

// helperEnv makes the test binary a helper program: it allocates and
// touches the MiB the variable says, then prints "allocated".
const helperEnv = "SANDBOX_TEST_ALLOCATE_MIB"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		mib, _ := strconv.Atoi(v)
		buf := make([]byte, mib<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		fmt.Println("allocated", len(buf)>>20)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("NOT RUN: starting processes as other users and creating control groups needs root; CI runs these tests as root")
	}
}

// helper copies the test binary where testUID can run it.
func helper(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sandbox-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "helper")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newGroup(t *testing.T, l Limits) *Group {
	t.Helper()
	g, err := NewGroup(fmt.Sprintf("test-%d", time.Now().UnixNano()), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
		for _, d := range g.dirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("control group %s left behind (%v)", d, err)
			}
		}
	})
	return g
}

// A process in a group runs as its user, with no groups, in the group in
// every hierarchy, and under the limits written.
func TestStartRunsAsUserInGroup(t *testing.T) {
	requireRoot(t)
	g := newGroup(t, Limits{Cores: 2, Memory: 256 << 20})
	var out bytes.Buffer
	cmd, err := g.Start(Spec{Argv: []string{"/bin/sh", "-c", "id -u; id -G; cat /proc/self/cgroup"}, Dir: "/", UID: testUID, Stdout: &out, Stderr: &out,
		Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != strconv.Itoa(testUID) || lines[1] != strconv.Itoa(testUID) {
		t.Errorf("user and groups: %q", lines[:2])
	}
	for _, d := range g.dirs {
		// The cgroup path as /proc/self/cgroup shows it ends with the
		// group's directory name.
		if !strings.Contains(out.String(), "/"+filepath.Base(d)+"\n") {
			t.Errorf("the process is not in %s:\n%s", d, out.String())
		}
	}
	mem, cpu := "memory.limit_in_bytes", "cpu.cfs_quota_us"
	if g.v2 {
		mem, cpu = "memory.max", "cpu.max"
	}
	if got := readGroupFile(t, g, mem); got != strconv.Itoa(256<<20) {
		t.Errorf("%s = %q", mem, got)
	}
	if got := readGroupFile(t, g, cpu); !strings.HasPrefix(got, "200000") {
		t.Errorf("%s = %q, want 2 cores' quota", cpu, got)
	}
}

func readGroupFile(t *testing.T, g *Group, name string) string {
	t.Helper()
	for _, d := range g.dirs {
		if data, err := os.ReadFile(filepath.Join(d, name)); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	t.Fatalf("no %s in %v", name, g.dirs)
	return ""
}

// A process that allocates more than the group's memory is killed; one
// that stays below runs.
func TestMemoryLimitKills(t *testing.T) {
	requireRoot(t)
	prog := helper(t)
	g := newGroup(t, Limits{Memory: 64 << 20})
	run := func(mib int) (string, error) {
		var out bytes.Buffer
		cmd, err := g.Start(Spec{Argv: []string{prog}, Dir: "/", UID: testUID, Stdout: &out, Stderr: &out, Env: []string{helperEnv + "=" + strconv.Itoa(mib)}})
		if err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		return out.String(), err
	}
	if out, err := run(16); err != nil || !strings.Contains(out, "allocated 16") {
		t.Fatalf("16 MiB under a 64 MiB limit: %v\n%s", err, out)
	}
	if n := g.OOMKills(); n != 0 {
		t.Errorf("%d OOM kills after a process within the limit", n)
	}
	out, err := run(200)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("200 MiB under a 64 MiB limit: %v, want killed by the OOM killer\n%s", err, out)
	}
	if n := g.OOMKills(); n < 1 {
		t.Errorf("the group counts %d OOM kills after its process was killed for its memory", n)
	}
}

// Kill kills the whole tree, a process that left its process group and
// session included, and Remove leaves nothing.
func TestKillTakesTheTree(t *testing.T) {
	requireRoot(t)
	g := newGroup(t, Limits{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd, err := g.Start(Spec{Argv: []string{"/bin/sh", "-c", "setsid sleep 600 & sleep 600 & echo started; wait"}, Dir: "/", UID: testUID, Stdout: w,
		Env: []string{"PATH=/usr/bin:/bin"}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 8)
	if _, err := io.ReadFull(r, line); err != nil || string(line) != "started\n" {
		t.Fatalf("read %q: %v", line, err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(g.Pids()) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("processes in the group: %v, want the shell and two sleeps", g.Pids())
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.Kill()
	_ = cmd.Wait()
	for _, pid := range g.Pids() {
		if !zombie(pid) {
			t.Errorf("process %d is alive after Kill", pid)
		}
	}
}

// A name that is not a plain directory name is refused.
func TestGroupNameRefused(t *testing.T) {
	for _, name := range []string{"", "../x", "A", "a/b"} {
		if _, err := NewGroup(name, Limits{}); err == nil || !strings.Contains(err.Error(), "group name") {
			t.Errorf("NewGroup(%q): %v", name, err)
		}
	}
}
