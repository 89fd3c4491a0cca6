//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"securetrain/internal/mountinfo"
)

// namespace is a named network namespace the fabric created, bind-mounted
// under /run/netns like `ip netns add`, with a netlink handle whose socket
// lives inside it (usable from any goroutine: no thread switch).
type namespace struct {
	name string
	fd   netns.NsHandle
	nl   *netlink.Handle
}

// createNamespace creates (or opens, when a previous run left it) the
// named namespace and brings its loopback up.
func createNamespace(name string) (*namespace, error) {
	fd, err := netns.GetFromName(name)
	if err != nil {
		if fd, err = newNamed(name); err != nil {
			return nil, fmt.Errorf("create network namespace %s: %w", name, err)
		}
	}
	nl, err := netlink.NewHandleAt(fd)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netlink in namespace %s: %w", name, err)
	}
	ns := &namespace{name: name, fd: fd, nl: nl}
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("loopback of namespace %s: %w", name, err)
	}
	return ns, nil
}

// newNamed creates a named namespace. netns.NewNamed switches the calling
// thread into it; the thread is switched back before it is unlocked, so
// that no Go thread stays in a namespace (dataplane pitfall: a wedged
// main thread pins the namespace for the life of the process).
func newNamed(name string) (netns.NsHandle, error) {
	var created netns.NsHandle
	err := inNamespace(0, func() error {
		var err error
		created, err = netns.NewNamed(name)
		return err
	})
	return created, err
}

// inNamespace runs fn on a locked OS thread inside namespace fd (0: the
// thread's current one, for calls that switch by themselves) and switches
// the thread back before unlocking it. A thread that cannot be switched
// back is left locked, so that the runtime ends it with the goroutine.
func inNamespace(fd netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
	if fd != 0 {
		if err := netns.Set(fd); err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("enter network namespace: %w", err)
		}
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// inNamespaceWithEtc runs fn as inNamespace does and, around it, gives
// the thread a mount namespace of its own in which each file of etc (a
// node's /etc/netns/NAME) is bind-mounted over the same name in /etc, as
// `ip netns exec` does: a process fn starts is forked from the thread and
// keeps both namespaces, so it reads the node's resolv.conf. It all runs
// as root before the process starts (its user id is set at exec), from
// files only root can write.
//
// The work runs on a goroutine of its own whose thread is never unlocked:
// unshare(CLONE_NEWNS) gives the thread a filesystem context (root,
// working directory) of its own, which no other goroutine may inherit,
// so the runtime ends the thread with the goroutine. Both namespaces are
// restored first anyway: a goroutine that ends locked on the main thread
// wedges it instead of ending it (dataplane pitfall). A process started
// with Pdeathsig would be killed when the thread ends: fn must not set it.
// Threads that end are why a process that must die with the server is
// forked on the keeper's thread instead (onKeeperThread): the kernel sends
// the parent-death signal when the forking thread ends, and this one may
// have been any thread of the server's before.
func inNamespaceWithEtc(fd netns.NsHandle, etc string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- withEtc(etc, func() error { return inNamespace(fd, fn) })
	}()
	return <-done
}

// keeper is a goroutine locked to its thread for the life of the server.
var keeper struct {
	once sync.Once
	work chan func()
}

// onKeeperThread runs fn on the keeper's thread, one call at a time. A
// process started with Pdeathsig (the node agent) is forked there: the
// kernel signals it when the thread that forked it ends, not when the
// server does, and other threads of the server end (inNamespaceWithEtc).
func onKeeperThread(fn func() error) error {
	keeper.once.Do(func() {
		keeper.work = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the server
			for w := range keeper.work {
				w()
			}
		}()
	})
	done := make(chan error, 1)
	keeper.work <- func() { done <- fn() }
	return <-done
}

// withEtc runs fn in a new mount namespace of the calling (locked) thread
// with etc's files over /etc's, and returns the thread to its mount
// namespace afterwards.
func withEtc(etc string, fn func() error) error {
	orig, err := os.Open("/proc/thread-self/ns/mnt")
	if err != nil {
		return fmt.Errorf("current mount namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("new mount namespace: %w", err)
	}
	ferr := privateEtc(etc)
	if ferr == nil {
		ferr = fn()
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNS); err != nil {
		return errors.Join(ferr, fmt.Errorf("return to the original mount namespace: %w", err))
	}
	return ferr
}

// privateEtc prepares the thread's new mount namespace: mounts and
// unmounts in it do not reach the host's, the host's reach it where the
// host's mount is shared (rslave, as `ip netns exec`), the copies of
// named network namespaces
// are dropped — a copy would keep its namespace alive, interfaces and
// all, for as long as a process of this mount namespace runs, after
// `ip netns del` — and etc's regular files are bind-mounted over /etc's.
func privateEtc(etc string) error {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / a slave mount: %w", err)
	}
	if err := unmountNamespaceFiles(); err != nil {
		return err
	}
	entries, err := os.ReadDir(etc)
	if err != nil {
		return fmt.Errorf("the node's /etc files: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		src, dst := filepath.Join(etc, e.Name()), filepath.Join("/etc", e.Name())
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s over %s: %w", src, dst, err)
		}
	}
	return nil
}

// unmountNamespaceFiles detaches every nsfs mount (a named namespace's
// file, /run/netns/NAME) from the thread's mount namespace, last mounted
// first.
func unmountNamespaceFiles() error {
	mounts, err := mountinfo.Read("/proc/thread-self/mountinfo")
	if err != nil {
		return err
	}
	for _, m := range slices.Backward(mounts) {
		if m.FSType != "nsfs" {
			continue
		}
		// EINVAL: no longer a mount point (a namespace file mounted twice).
		if err := unix.Unmount(m.Point, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", m.Point, err)
		}
	}
	return nil
}

// sysctl writes a /proc/sys value inside the namespace (sysctls have no
// netlink interface; /proc/sys/net follows the writing thread's
// namespace).
func (ns *namespace) sysctl(key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return inNamespace(ns.fd, func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s in namespace %s: %w", key, ns.name, err)
		}
		return nil
	})
}

func (ns *namespace) close() {
	ns.nl.Close()
	ns.fd.Close()
}

// deleteNamespace removes a named namespace, and its /etc files; a
// missing one is no error.
func deleteNamespace(name string) error {
	if !strings.HasPrefix(name, NamePrefix) || strings.Contains(name, "/") {
		return fmt.Errorf("network namespace %q: the fabric removes only its own (%s…)", name, NamePrefix)
	}
	if err := os.RemoveAll(filepath.Join(netnsEtc, name)); err != nil {
		return fmt.Errorf("remove the /etc files of network namespace %s: %w", name, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	return nil
}

// namespacesWithPrefix lists the named namespaces whose name starts with
// prefix.
func namespacesWithPrefix(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// netnsDir is where named namespaces are bind-mounted (iproute2's place).
const netnsDir = "/run/netns"
