//go:build linux

package netns

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"securetrain/internal/fabric"
	"securetrain/internal/fabric/netns/netnstest"
	"securetrain/internal/mountinfo"
)

// startIn starts argv in node n through Enter and returns it running.
func startIn(t *testing.T, f *Fabric, n fabric.Node, out *strings.Builder, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := f.Enter(n, cmd.Start); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestEnterSeesNodeResolvConf: a process started in a node reads the
// node's resolv.conf as /etc/resolv.conf — getent resolves pypi.org
// through the VNet's Azure DNS to the verifier's address, and reaches it
// through the firewall, which refuses a name no application rule allows
// and notes the refusal (Refused) —
// while the server's threads keep the host's mounts and namespace, and
// the process's mount namespace holds no copy of a named namespace's file
// (it would keep the namespace alive after `ip netns del`).
func TestEnterSeesNodeResolvConf(t *testing.T) {
	nw := compile(t, firewallExample)
	f, n, _ := bootOne(t, &nw, "ws1/gpucluster", "10.0.0.4")
	hostNet, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer hostNet.Close()
	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	if err := startIn(t, f, n, &out, "cat", "/etc/resolv.conf").Wait(); err != nil || out.String() != resolvConf(nodeNS(t, f, n).name) {
		t.Errorf("/etc/resolv.conf in the node: %v %q; want the node's %q", err, out.String(), resolvConf(nodeNS(t, f, n).name))
	}
	out.Reset()
	want := verifierDestination(t, nw, "ws1/gpucluster", "pypi.org")
	if err := startIn(t, f, n, &out, "getent", "ahostsv4", "pypi.org").Wait(); err != nil || !strings.HasPrefix(out.String(), want.String()+" ") {
		t.Errorf("getent ahostsv4 pypi.org in the node: %v %q; want %s", err, out.String(), want)
	}
	since := time.Now()
	if got := f.Refused(n, since); len(got) != 0 {
		t.Errorf("refused before anything was sent: %+v", got)
	}
	for _, c := range []struct {
		host string
		pass bool
	}{{"pypi.org", true}, {"cloud.r-project.org", false}} {
		out.Reset()
		err := startIn(t, f, n, &out, "/usr/bin/python3", "-c", netnstest.TLSClient, c.host).Wait()
		if (err == nil) != c.pass {
			t.Errorf("TLS to %s:443 from the node: %v %q; want passed=%v", c.host, err, out.String(), c.pass)
		}
	}

	// The firewall noted what it refused the node, and only that.
	got := f.Refused(n, since)
	if len(got) != 1 || got[0].Name != "cloud.r-project.org" || got[0].Destination.Port() != 443 || got[0].Source != n.PrivateIP {
		t.Errorf("Refused = %+v, want cloud.r-project.org:443 from %s", got, n.PrivateIP)
	}
	if later := f.Refused(n, time.Now()); len(later) != 0 {
		t.Errorf("Refused since now = %+v, want none", later)
	}

	// The server keeps its own namespaces on every thread.
	if now, _ := os.Readlink("/proc/thread-self/ns/mnt"); now != hostMnt {
		t.Errorf("the calling thread's mount namespace is %s, want the server's %s", now, hostMnt)
	}
	if now, _ := netns.Get(); !now.Equal(hostNet) {
		t.Errorf("the calling thread's network namespace changed")
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	// Only Enter changes a thread's mount namespace (other threads may be
	// in a node's network namespace for a moment: probes, the proxy).
	for _, task := range tasks {
		if mnt, _ := os.Readlink("/proc/self/task/" + task.Name() + "/ns/mnt"); mnt != "" && mnt != hostMnt {
			t.Errorf("thread %s is left in mount namespace %s, want the server's %s", task.Name(), mnt, hostMnt)
		}
	}

	out.Reset()
	sleeper := startIn(t, f, n, &out, "sleep", "30")
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := strconv.Itoa(sleeper.Process.Pid)
	mounts, err := mountinfo.Read("/proc/" + pid + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var etc bool
	for _, m := range mounts {
		if m.FSType == "nsfs" {
			t.Errorf("the process's mounts hold %s (nsfs)", m.Point)
		}
		etc = etc || m.Point == "/etc/resolv.conf"
	}
	if !etc {
		t.Error("the process's mounts have nothing over /etc/resolv.conf")
	}
	if m, _ := os.Readlink("/proc/" + pid + "/ns/mnt"); m == hostMnt {
		t.Error("the process shares the server's mount namespace")
	}
	procNet, err1 := os.Stat("/proc/" + pid + "/ns/net")
	nodeNet, err2 := os.Stat(filepath.Join(netnsDir, nodeNS(t, f, n).name))
	if err := errors.Join(err1, err2); err != nil || !os.SameFile(procNet, nodeNet) {
		t.Errorf("the process is not in the node's network namespace (%v)", err)
	}
}

// TestEnterRefusesUnbootedNode: nothing starts in a node the fabric has
// not booted.
func TestEnterRefusesUnbootedNode(t *testing.T) {
	nw := compile(t, firewallExample)
	f := newFabric(t, &nw)
	ran := false
	err := f.Enter(fabric.Node{Name: "nope"}, func() error { ran = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "node nope is not booted") || ran {
		t.Errorf("Enter into an unbooted node: %v (ran %v)", err, ran)
	}
}

// BenchmarkEnterStart: starting /bin/true in a node and waiting for it,
// through Enter (a thread of its own, a mount namespace with the node's
// resolv.conf) against inNamespace alone (the thread switched into the
// node's network and back, the host's /etc).
func BenchmarkEnterStart(b *testing.B) {
	nw := compile(b, firewallExample)
	f := newFabric(b, &nw)
	c, _ := flows(b, nw, "ws1/gpucluster")
	n := nodeOf(c, "tvm-0000", "10.0.0.4")
	if err := f.Boot(context.Background(), n); err != nil {
		b.Fatal(err)
	}
	fd := f.nodes[nodeKey(n)].ns.fd
	for _, bc := range []struct {
		name  string
		enter func(start func() error) error
	}{
		{"Enter", func(start func() error) error { return f.Enter(n, start) }},
		{"netOnly", func(start func() error) error { return inNamespace(fd, start) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("/bin/true")
				if err := bc.enter(cmd.Start); err != nil {
					b.Fatal(err)
				}
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
