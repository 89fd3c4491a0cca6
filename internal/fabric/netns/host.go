//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

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

// Refused lists what the firewalls on node n's way (its VNet's, and
// those its router links to) refused its private address since since.
func (f *Fabric) Refused(n fabric.Node, since time.Time) []fabric.Refusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	nd := f.nodes[nodeKey(n)]
	if nd == nil {
		return nil
	}
	var out []fabric.Refusal
	for _, fw := range f.firewalls {
		if _, linked := fw.links[nd.router]; fw.router != nd.router && !linked {
			continue
		}
		fw.mu.Lock()
		for _, r := range fw.refused {
			if r.Source == nd.n.PrivateIP && !r.At.Before(since) {
				out = append(out, r)
			}
		}
		fw.mu.Unlock()
	}
	slices.SortStableFunc(out, func(a, b fabric.Refusal) int { return a.At.Compare(b.At) })
	return out
}

var _ fabric.Host = (*Fabric)(nil)
