//go:build linux

package netns

import (
	"fmt"

	"securetrain/internal/fabric"
)

// Enter runs start on a thread inside node n's namespace (fabric.Host):
// a process start starts lives in the node's network, behind its NSGs and
// routes, and the thread returns to the server's namespace afterwards.
func (f *Fabric) Enter(n fabric.Node, start func() error) error {
	f.mu.Lock()
	nd := f.nodes[nodeKey(n)]
	f.mu.Unlock()
	if nd == nil {
		return fmt.Errorf("node %s is not booted on the netns fabric", n.Name)
	}
	return inNamespace(nd.ns.fd, start)
}

var _ fabric.Host = (*Fabric)(nil)
