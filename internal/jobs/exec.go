package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/sandbox"
)

// `securetrain compute exec` (what SSH into a node is in Azure) runs a
// command in a node under a job's rules: a user id of its own (from the
// jobs' range, never one a job holds), a control group limited to the
// node's VM size, the node's network namespace on the netns fabric, a
// working directory of its own under the node directory; when the command
// ends, or its caller goes, every process it started is killed and its
// directory removed.

// ExecSpec is a command to run in a node.
type ExecSpec struct {
	Compute arm.ID
	Node    string
	Size    provision.Size
	// Argv is the program (looked up in the plain PATH jobs get) and its
	// arguments.
	Argv           []string
	Stdout, Stderr io.Writer
	// Started is called once the command runs (the caller then answers
	// with its output).
	Started func()
}

// ErrCannotRun is a server that runs no processes: not root, or without a
// node directory.
var ErrCannotRun = errors.New("this server runs no processes in nodes")

// canRun says why this server cannot run a job's or a command's processes
// (wrapping ErrCannotRun), or nil.
func (s *Scheduler) canRun(what string) error {
	if s.cfg.LogDir == "" || s.cfg.WorkDir == "" {
		return fmt.Errorf("%w: it was started without a directory for %s working directories", ErrCannotRun, what)
	}
	if os.Geteuid() != 0 {
		// Never as the server's own user, beside its secrets.
		return fmt.Errorf("%w: it runs as user %d, not root, so it cannot run %s as a user of their own", ErrCannotRun, os.Geteuid(), what)
	}
	return nil
}

// Exec runs sp's command in its node and returns its exit code (128 +
// the signal's number when a signal ended it, as a shell reports it). A
// ctx that ends kills it.
func (s *Scheduler) Exec(ctx context.Context, sp ExecSpec) (int, error) {
	if err := s.canRun("commands'"); err != nil {
		return 0, err
	}
	if len(sp.Argv) == 0 {
		return 0, errors.New("no command to run")
	}
	uid, err := s.takeUID(nil)
	if err != nil {
		return 0, err
	}
	defer s.releaseUID(uid)
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	name := "exec-" + hex.EncodeToString(b[:])
	dir := filepath.Join(s.cfg.WorkDir, name)
	if err := ownedDir(dir, uid); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	defer killUser(uid) // what left the group (nothing can) or outlived it
	g, err := sandbox.NewGroup(name, sandbox.Limits{Cores: sp.Size.Cores, Memory: int64(sp.Size.MemoryMiB) << 20})
	if err != nil {
		return 0, fmt.Errorf("limit the command to node %s's VM size: %w", sp.Node, err)
	}
	defer func() {
		if err := g.Remove(); err != nil {
			s.cfg.Log.Warn("exec: control group left behind", "err", err)
		}
	}()
	cmd, err := g.Start(sandbox.Spec{Argv: sp.Argv, Dir: dir, Env: []string{"PATH=" + hostPath, "HOME=" + dir}, UID: uid,
		Stdout: sp.Stdout, Stderr: sp.Stderr, Enter: s.cfg.Engine.Enter(sp.Compute, sp.Node)})
	if err != nil {
		return 0, err
	}
	if sp.Started != nil {
		sp.Started()
	}
	// Output a background process holds open ends a second after the
	// command: then the group is killed.
	cmd.WaitDelay = time.Second
	stop := context.AfterFunc(ctx, g.Kill)
	defer stop()
	err = cmd.Wait()
	g.Kill() // its children go with it
	var ee *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay):
		return 0, err
	case cmd.ProcessState == nil:
		return 0, errors.New("the command's exit status is unknown")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	// A success whose output a background process held open
	// (exec.ErrWaitDelay) is a success.
	return cmd.ProcessState.ExitCode(), nil
}
