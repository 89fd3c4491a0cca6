//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"securetrain/internal/netverify"
)

// Peering: two peered VNets' routers are joined by a veth pair, and each
// subnet's table sends the peer's address space (and its private
// endpoints' /32s) over it, as the subnet's effective routes say; a
// peering the verifier does not see connected both ways gives no route,
// so nothing crosses. Peering is not transitive: a router routes only
// its own peers' spaces. A peered VNet without nodes gets a router too
// (its private endpoints answer there), removed with the last router
// with nodes that peers with it.

// peerAddr is router x's address on its link to router y: link-local,
// unique in x's namespace.
func peerAddr(x, y *router) netip.Addr {
	return netip.AddrFrom4([4]byte{169, 254, byte(1 + y.index%250), byte(1 + x.index%250)})
}

// peerLinkName is the name, in router x, of its link to router y.
func peerLinkName(y *router) string { return fmt.Sprintf("st-peer%d", y.index) }

// linkPeers joins routers a and b (or finds them joined).
func linkPeers(a, b *router) error {
	nameA, nameB := peerLinkName(b), peerLinkName(a)
	if _, err := a.ns.nl.LinkByName(nameA); err == nil {
		a.peers[b.vnet.Key()], b.peers[a.vnet.Key()] = b, a
		return nil
	}
	if old, err := b.ns.nl.LinkByName(nameB); err == nil {
		if err := b.ns.nl.LinkDel(old); err != nil && !errors.Is(err, unix.ENODEV) { // its other end went with a's namespace (the kernel removes it soon after: ENODEV)
			return fmt.Errorf("remove stale link %s: %w", nameB, err)
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nameA}, PeerName: nameB, PeerNamespace: netlink.NsFd(int(b.ns.fd))}
	if err := a.ns.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("peering link between VNets %s and %s: %w", a.vnet.Name(), b.vnet.Name(), err)
	}
	if err := upWithAddress(a.ns.nl, nameA, netip.PrefixFrom(peerAddr(a, b), 32)); err != nil {
		return err
	}
	if err := upWithAddress(b.ns.nl, nameB, netip.PrefixFrom(peerAddr(b, a), 32)); err != nil {
		return err
	}
	a.peers[b.vnet.Key()], b.peers[a.vnet.Key()] = b, a
	// Routes over an earlier link went with it: sync the tables anew.
	clear(a.tables)
	clear(b.tables)
	return nil
}

// unlinkPeers removes the link between a and b (both ends go).
func unlinkPeers(a, b *router) error {
	delete(a.peers, b.vnet.Key())
	delete(b.peers, a.vnet.Key())
	clear(a.tables)
	clear(b.tables)
	l, err := a.ns.nl.LinkByName(peerLinkName(b))
	if err != nil {
		return nil // gone already
	}
	if err := a.ns.nl.LinkDel(l); err != nil {
		return fmt.Errorf("remove the peering link between VNets %s and %s: %w", a.vnet.Name(), b.vnet.Name(), err)
	}
	return nil
}

// syncPeers joins r to the routers of the VNets its subnets' routes send
// traffic to over a peering (creating them), and unjoins the others.
// f.mu is held.
func (f *Fabric) syncPeers(nw *netverify.Network, r *router, spans map[*bridge][]netverify.RouteSpan) error {
	want := map[string]*router{}
	var errs []error
	for _, ss := range spans {
		for _, sp := range ss {
			if sp.VNet.IsZero() || want[sp.VNet.Key()] != nil {
				continue
			}
			vnet := nw.Snapshot().VirtualNetwork(sp.VNet)
			if vnet == nil {
				continue
			}
			p, err := f.router(vnet)
			if err == nil {
				err = linkPeers(r, p)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			want[sp.VNet.Key()] = p
		}
	}
	r.wants = map[string]bool{}
	for key := range want {
		r.wants[key] = true
	}
	for key, p := range r.peers {
		// A link stays while either side routes over it: one VNet may
		// reach the other's private endpoint while the other's routes
		// send nothing back (the endpoint's replies still use it). What
		// the other side wants is brought up to date first.
		if want[key] != nil {
			continue
		}
		if p.wants[r.vnet.Key()] {
			errs = append(errs, f.apply(nw, p))
		}
		if !p.wants[r.vnet.Key()] {
			errs = append(errs, unlinkPeers(r, p))
		}
	}
	for _, p := range want {
		errs = append(errs, f.apply(nw, p))
	}
	return errors.Join(errs...)
}

// prune removes the routers without nodes that no router with nodes
// peers with. f.mu is held.
func (f *Fabric) prune() error {
	used := map[*router]bool{}
	for _, nd := range f.nodes {
		used[nd.router] = true
		for _, p := range nd.router.peers {
			used[p] = true
		}
	}
	var errs []error
	for _, r := range f.routers {
		if !used[r] {
			errs = append(errs, f.removeRouter(r))
		}
	}
	return errors.Join(errs...)
}
