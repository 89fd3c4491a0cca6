// Package procusers tells which users the live processes of this machine
// run as, from /proc/PID/status (proc(5)): the job runner kills a job's
// user's processes and picks job users no process runs as, and the tests
// check that nothing of a job's user is left.
package procusers

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// each calls fn with the real and effective user ids of every live
// process (a zombie is dead: it only waits for its parent to read its
// exit).
func each(fn func(pid, real, effective int)) {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if err != nil {
			continue // it exited since the listing
		}
		if real, effective, live := parseStatus(string(status)); live {
			fn(pid, real, effective)
		}
	}
}

// parseStatus reads the real and effective user ids of a
// /proc/PID/status text and whether the process is alive (not a zombie).
func parseStatus(status string) (real, effective int, live bool) {
	real, effective, live = -1, -1, true
	for line := range strings.SplitSeq(status, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "State:":
			live = f[1] != "Z"
		case len(f) >= 3 && f[0] == "Uid:":
			real, _ = strconv.Atoi(f[1])
			effective, _ = strconv.Atoi(f[2])
		}
	}
	return real, effective, live
}

// Processes lists the live processes whose real or effective user is
// uid.
func Processes(uid int) []int {
	var out []int
	each(func(pid, real, effective int) {
		if real == uid || effective == uid {
			out = append(out, pid)
		}
	})
	return out
}

// Users is the set of user ids live processes run as, real or effective.
func Users() map[int]bool {
	out := map[int]bool{}
	each(func(_, real, effective int) { out[real], out[effective] = true, true })
	return out
}
