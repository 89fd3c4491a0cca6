// Package sandbox starts untrusted processes — a job's, a `compute exec`'s
// — the one way securetrain starts them: as a user id of their own with no
// groups, in a new process group, inside a control group that limits
// their CPU and memory (a node's VM size) and holds their whole process
// tree, optionally inside a node's network namespace. Killing the group
// kills every process in it, whatever session or process group it moved
// to, and nothing of it outlives Remove.
package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// Limits are what a group's processes may use together: a VM size's.
type Limits struct {
	// Cores is CPU time: Cores × the period in every period (cpu.max,
	// cpu.cfs_quota_us); 0 leaves CPU unlimited.
	Cores int
	// Memory is bytes of memory (memory.max, memory.limit_in_bytes); 0
	// leaves memory unlimited.
	Memory int64
	// Pids bounds the processes and threads (pids.max); 0 is
	// DefaultPids, so that a fork bomb stays inside its group.
	Pids int
}

// DefaultPids bounds a group's processes and threads when Limits.Pids is 0.
const DefaultPids = 4096

// Spec is one process to start in a group.
type Spec struct {
	// Argv is the program (an absolute path) and its arguments.
	Argv []string
	Dir  string
	// Env is the whole environment: nothing of the server's is passed.
	Env []string
	// UID runs the process, with the same number as its group id and no
	// supplementary groups; it must not be 0 or the server's own.
	UID            int
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Enter, when set, runs its argument on a thread inside the node's
	// network namespace, with the node's /etc files (its resolv.conf)
	// mounted over the host's: the process is started there and lives
	// there (fabric.Host.Enter). Nil starts it in the server's.
	Enter func(start func() error) error
}

// Nobody is the user (and group) id of unprivileged processes that need
// no user of their own, such as the node agents: nobody.
const Nobody = 65534

// Unprivileged is the start of a process as uid, with the same number as
// its group id and no supplementary groups: started by root, it has no
// capabilities left (the change of credentials drops them all). Callers
// add the rest of their process's attributes to it.
func Unprivileged(uid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
}

// gate holds a new process until it is in its group: its shell reads one
// line from descriptor 3 (the server writes it once the process has been
// moved), closes it and only then executes the program. A process that
// started its tree before it was moved would leave children outside the
// group (cgroup v1 has no way to start a process inside one).
const gate = `read -r _ <&3 || exit 125; exec 3<&-; exec "$@"`

// Start starts sp's process in group g and returns it running; the caller
// waits for it (cmd.Wait).
func (g *Group) Start(sp Spec) (*exec.Cmd, error) {
	if len(sp.Argv) == 0 {
		return nil, errors.New("sandbox: no program to start")
	}
	if sp.UID <= 0 || sp.UID == os.Geteuid() {
		return nil, fmt.Errorf("sandbox: user id %d is not a user of the process's own", sp.UID)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: gate: %w", err)
	}
	defer r.Close()
	defer w.Close() // an early return closes it unwritten: the gate's read fails and the shell exits
	cmd := exec.Command("/bin/sh", append([]string{"-c", gate, "sh"}, sp.Argv...)...)
	cmd.Dir, cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = sp.Dir, sp.Env, sp.Stdin, sp.Stdout, sp.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = Unprivileged(sp.UID)
	cmd.SysProcAttr.Setpgid = true
	if sp.Enter != nil {
		err = sp.Enter(cmd.Start)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", sp.Argv[0], err)
	}
	if err := g.add(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	if _, err := w.Write([]byte("go\n")); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("sandbox: open the gate of %s: %w", sp.Argv[0], err)
	}
	return cmd, nil
}
