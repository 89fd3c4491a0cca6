package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"securetrain/internal/procusers"
)

// A job's user id is what cancel, timeout and the job's end kill by
// (killUser), so no two running jobs or commands may share one — not
// only within a server, but between every securetrain server on the host
// (two servers, replicas on one machine, tests run side by side). Each id
// is leased with an exclusive flock(2) on a file named after it in a
// directory all of them share: the kernel lets one open file hold it, and
// drops it when its holder exits, even by SIGKILL. Reading /proc alone
// cannot do it: between one server's choice of an id and its processes'
// start (a job's Preparing takes seconds on netns) another server sees
// the id unused and takes it too, and the first of the two jobs to end
// kills the other's processes.

// DefaultUIDLeaseDir is where user ids are leased when Config.UIDLeaseDir
// is empty: the same for every server on the host.
const DefaultUIDLeaseDir = "/run/securetrain/uids"

// leaseDir creates the lease directory, private to the server's user: a
// job's user must not take or hold ids.
func leaseDir(dir string) error {
	return EnsureOwnDir("the user id lease directory", dir, 0o700)
}

// EnsureOwnDir creates dir with perm if need be, and checks that it is a
// directory (not a link) of the server's user that no one else can write:
// in a shared /tmp or /run, another user could otherwise plant a link or
// files in it. what names it in errors.
func EnsureOwnDir(what, dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s %s is not a directory (a link is refused)", what, dir)
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s %s belongs to another user; choose a directory of the server's own", what, dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s %s is writable by others (mode %v); it must be %#o", what, dir, fi.Mode().Perm(), perm)
	}
	return nil
}

// leaseUID takes uid's lease in dir: the file that holds it, or nil when
// another holder has it.
func leaseUID(dir string, uid int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(uid)), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lease user id %d: %w", uid, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lease user id %d: %w", uid, err)
	}
	return f, nil
}

// takeUID takes a user id that no job or command of any server on the
// host holds, and that no account or live process uses (busy: the ids of
// live processes; nil reads them now), until releaseUID.
func (s *Scheduler) takeUID(busy map[int]bool) (int, error) {
	if busy == nil {
		busy = procusers.Users()
	}
	if err := leaseDir(s.cfg.UIDLeaseDir); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid := s.cfg.FirstUID; uid < s.cfg.FirstUID+s.cfg.UIDs; uid++ {
		if busy[uid] || s.leases[uid] != nil || accountExists(uid) {
			continue
		}
		f, err := leaseUID(s.cfg.UIDLeaseDir, uid)
		if err != nil {
			return 0, err
		}
		if f != nil {
			s.leases[uid] = f
			return uid, nil
		}
	}
	return 0, fmt.Errorf("no free user id in %d–%d", s.cfg.FirstUID, s.cfg.FirstUID+s.cfg.UIDs-1)
}

// retakeUID takes the lease of uid, the user of a job that a restart
// found started: false when a job or command, of this server or another,
// holds it now — then its processes are that one's, not the old job's.
func (s *Scheduler) retakeUID(uid int) (bool, error) {
	if uid <= 0 {
		return false, nil // never given one: nothing runs as it
	}
	if err := leaseDir(s.cfg.UIDLeaseDir); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases[uid] != nil {
		return false, nil
	}
	f, err := leaseUID(s.cfg.UIDLeaseDir, uid)
	if f != nil {
		s.leases[uid] = f
	}
	return f != nil, err
}

// releaseUID gives a user id back, once its processes are gone.
func (s *Scheduler) releaseUID(uid int) {
	s.mu.Lock()
	f := s.leases[uid]
	delete(s.leases, uid)
	s.mu.Unlock()
	if f != nil {
		f.Close() // drops the lock
	}
}
