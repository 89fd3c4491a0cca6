//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
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
