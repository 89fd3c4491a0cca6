//go:build linux

package netns

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// checkCapability refuses to run without CAP_NET_ADMIN in the effective
// set: namespaces, links and nftables all need it.
func checkCapability() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("the netns fabric cannot read this process's capabilities: %w", err)
	}
	if data[0].Effective&(1<<unix.CAP_NET_ADMIN) == 0 {
		return errors.New("the netns fabric needs CAP_NET_ADMIN (run serve as root, or with --fabric sim)")
	}
	return nil
}
