package jobs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// leaseHolderEnv makes the test binary a process that holds the lease of
// a user id (the value) in the directory named by leaseDirEnv until it is
// killed: another server on the host.
const (
	leaseHolderEnv = "SECURETRAIN_TEST_UID_LEASE_HOLDER"
	leaseDirEnv    = "SECURETRAIN_TEST_UID_LEASE_DIR"
)

func TestMain(m *testing.M) {
	if v := os.Getenv(leaseHolderEnv); v != "" {
		uid, _ := strconv.Atoi(v)
		f, err := leaseUID(os.Getenv(leaseDirEnv), uid)
		if err != nil || f == nil {
			os.Stdout.WriteString("not held\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("held\n")
		select {} // until killed
	}
	os.Exit(m.Run())
}

// testUIDs is a range of user ids no account has, for schedulers that
// only take and give back ids.
const testFirstUID = 2_899_700

// Two servers on one host (two schedulers sharing the lease directory, as
// they share /run) never hold the same user id, even before either has a
// process running as it (a job in Preparing): the first to end would kill
// the other's processes. An id given back can be taken again; a job found
// started after a restart is stopped by its user id only when no one else
// holds it.
func TestUIDLeasesAreHostWide(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uids")
	a := New(Config{FirstUID: testFirstUID, UIDs: 2, UIDLeaseDir: dir})
	b := New(Config{FirstUID: testFirstUID, UIDs: 2, UIDLeaseDir: dir})
	none := map[int]bool{} // no process runs as any of them
	ua, err := a.takeUID(none)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := b.takeUID(none)
	if err != nil {
		t.Fatal(err)
	}
	if ua == ub {
		t.Fatalf("two servers both took user id %d", ua)
	}
	if u, err := b.takeUID(none); err == nil || !strings.Contains(err.Error(), "no free user id") {
		t.Errorf("a third id out of two: %d, %v", u, err)
	}
	if ok, err := a.retakeUID(ub); ok || err != nil {
		t.Errorf("a restart took over user id %d, which the other server holds: %v %v", ub, ok, err)
	}
	a.releaseUID(ua)
	if u, err := b.takeUID(none); err != nil || u != ua {
		t.Errorf("the id given back: %d, %v; want %d", u, err, ua)
	}
	b.releaseUID(ub)
	if ok, err := a.retakeUID(ub); !ok || err != nil {
		t.Errorf("a restart could not take user id %d back once free: %v %v", ub, ok, err)
	}
}

// The lease is held by another process, not only another scheduler, and
// is free again once that process is killed (a server killed with
// SIGKILL does not keep its jobs' ids).
func TestUIDLeaseHeldByAnotherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uids")
	if err := leaseDir(dir); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), leaseHolderEnv+"="+strconv.Itoa(testFirstUID), leaseDirEnv+"="+dir)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "held\n" {
		t.Fatalf("the other process: %q", line)
	}
	s := New(Config{FirstUID: testFirstUID, UIDs: 2, UIDLeaseDir: dir})
	if u, err := s.takeUID(map[int]bool{}); err != nil || u != testFirstUID+1 {
		t.Errorf("took %d, %v; want %d (the other process holds %d)", u, err, testFirstUID+1, testFirstUID)
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()
	if ok, err := s.retakeUID(testFirstUID); !ok || err != nil {
		t.Errorf("user id %d is still held after its holder was killed: %v %v", testFirstUID, ok, err)
	}
}

// A lease directory that others can write is refused, naming it: a job's
// user could hold every id there.
func TestUIDLeaseDirMustBePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uids")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	s := New(Config{FirstUID: testFirstUID, UIDs: 2, UIDLeaseDir: dir})
	if u, err := s.takeUID(map[int]bool{}); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("took %d from a directory anyone can write: %v", u, err)
	}
}

// Jobs of the same id on two servers (node directories) get control
// groups of their own: a group of the same name is taken over, killing
// its processes. A restart of a server finds its own again.
func TestGroupNamesDifferBetweenServers(t *testing.T) {
	k := key("/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/jobs/j")
	a, b := groupName(filepath.Join("/srv/a/nodes", k), 0), groupName(filepath.Join("/srv/b/nodes", k), 0)
	if a == b {
		t.Errorf("the same control group %s for a job of the same id on two servers", a)
	}
	if again := groupName(filepath.Join("/srv/a/nodes", k), 0); again != a {
		t.Errorf("a restart names the group %s, not %s", again, a)
	}
	if groupName(filepath.Join("/srv/a/nodes", k), 1) == a {
		t.Errorf("nodes 0 and 1 share group %s", a)
	}
}
