//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"securetrain/internal/fabric"
)

// Enter runs start on a thread inside node n's namespace (fabric.Host):
// a process start starts lives in the node's network, behind its NSGs and
// routes, and sees the node's /etc files (/etc/netns/NAME: its
// resolv.conf, naming its VNet's DNS server) over /etc's in a mount
// namespace of its own, as under `ip netns exec`. The thread ends
// afterwards (inNamespaceWithEtc): start must not set Pdeathsig.
func (f *Fabric) Enter(n fabric.Node, start func() error) error {
	f.mu.Lock()
	nd := f.nodes[nodeKey(n)]
	f.mu.Unlock()
	if nd == nil {
		return fmt.Errorf("node %s is not booted on the netns fabric", n.Name)
	}
	etc := filepath.Join(netnsEtc, nd.ns.name)
	// A node without its resolv.conf would resolve through the host's
	// DNS server: refuse rather than start a process that looks up names
	// somewhere the node's network does not lead.
	if _, err := os.Stat(filepath.Join(etc, "resolv.conf")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node %s has no resolv.conf yet: its VNet's DNS is not set up", n.Name)
	}
	return inNamespaceWithEtc(nd.ns.fd, etc, start)
}

var _ fabric.Host = (*Fabric)(nil)
