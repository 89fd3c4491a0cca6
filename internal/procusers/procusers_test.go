package procusers

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	for _, c := range []struct {
		status          string
		real, effective int
		live            bool
	}{
		{"Name:\tsleep\nState:\tS (sleeping)\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n", 1000, 0, true},
		{"Name:\tsh\nState:\tZ (zombie)\nUid:\t65534\t65534\t65534\t65534\n", 65534, 65534, false},
		{"Name:\tkthreadd\nState:\tS (sleeping)\n", -1, -1, true},
	} {
		real, effective, live := parseStatus(c.status)
		if real != c.real || effective != c.effective || live != c.live {
			t.Errorf("%q: %d %d %v, want %d %d %v", c.status, real, effective, live, c.real, c.effective, c.live)
		}
	}
}

// This process is among its user's; a child that has exited but not been
// waited for (a zombie) is not.
func TestProcesses(t *testing.T) {
	uid := os.Geteuid()
	if !slices.Contains(Processes(uid), os.Getpid()) {
		t.Fatalf("this process %d is not among uid %d's: %v", os.Getpid(), uid, Processes(uid))
	}
	if !Users()[uid] {
		t.Fatalf("uid %d is not among the users of processes: %v", uid, Users())
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the child %d did not exit", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if slices.Contains(Processes(uid), pid) {
		t.Errorf("the zombie %d is listed as live", pid)
	}
}

// A user no process runs as has none.
func TestProcessesOfAnIdleUser(t *testing.T) {
	users := Users()
	uid := 60000
	for users[uid] {
		uid++
	}
	if got := Processes(uid); len(got) != 0 {
		t.Fatalf("uid %d, not in %v, has processes %v", uid, users, got)
	}
}

// isZombie reports whether pid has exited and waits for its parent.
func isZombie(pid int) bool {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	return err == nil && strings.Contains(string(status), "\nState:\tZ")
}
