//go:build linux

package netns

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// endpoint is a private endpoint: a namespace on its subnet's bridge that
// holds the endpoint's addresses and answers for the resource it links
// to, on the ports of the resource's service. No NIC NSG applies to it
// (Azure allows none on an endpoint's interface); its subnet's NSG does
// when the subnet's private endpoint network policies say so.
type endpoint struct {
	*responder
	bridge *bridge
	addrs  []netip.Addr
	// signature is what it was created for (addresses, services): a
	// change re-creates it.
	signature string
}

// endpointPorts are the TCP ports a private endpoint answers on for a
// sub-resource (group id): the workspace's API, notebook IntelliSense and
// RStudio; blob over HTTPS; file over HTTPS and SMB; others HTTPS.
func endpointPorts(group string) []uint16 {
	switch strings.ToLower(group) {
	case "amlworkspace":
		return []uint16{443, 8787, 18881}
	case "file":
		return []uint16{443, 445}
	}
	return []uint16{443}
}

// endpointListenPorts are the ports every endpoint listens on; it answers
// only on those of its service (endpointPorts).
var endpointListenPorts = []uint16{443, 445, 8787, 18881}

// endpointServices are what a private endpoint serves at its addresses in
// subnet sn (addresses outside the subnet's first prefix are not
// realised), and its signature.
func endpointServices(pe *resources.PrivateEndpoint, sn *resources.Subnet) ([]servedTag, []netip.Addr, string) {
	target, groups := "private link service", []string(nil)
	if len(pe.Connections) > 0 {
		c := pe.Connections[0]
		groups = c.GroupIDs
		if c.Target.IsSet() {
			target = c.Target.ID.Name()
		}
	}
	var served []servedTag
	var addrs []netip.Addr
	var sig strings.Builder
	for _, ipc := range pe.IPConfigurations {
		if !ipc.PrivateIP.Is4() || len(sn.AddressPrefixes) == 0 || !sn.AddressPrefixes[0].Contains(ipc.PrivateIP) || slices.Contains(addrs, ipc.PrivateIP) {
			continue
		}
		group := ipc.GroupID
		if group == "" && len(groups) > 0 {
			group = groups[0]
		}
		name := fmt.Sprintf("%s (%s) via private endpoint %s", target, strings.ToLower(group), pe.ID.Name())
		served = append(served, servedTag{name: name, set: ipset.FromAddrs(ipc.PrivateIP), tcp: endpointPorts(group)})
		addrs = append(addrs, ipc.PrivateIP)
		fmt.Fprintf(&sig, "%s=%s;", ipc.PrivateIP, name)
	}
	return served, addrs, sig.String()
}

// syncEndpoints realises the private endpoints of the router's VNet:
// creates the missing ones, re-creates the changed ones, removes the ones
// gone. f.mu is held.
func (f *Fabric) syncEndpoints(nw *netverify.Network, r *router) error {
	snap := nw.Snapshot()
	type wanted struct {
		pe     *resources.PrivateEndpoint
		sn     *resources.Subnet
		served []servedTag
		addrs  []netip.Addr
		sig    string
	}
	want := map[string]wanted{}
	for _, pe := range snap.PrivateEndpoints {
		sn := snap.Subnet(pe.Subnet.ID)
		if sn == nil {
			continue
		}
		if v := snap.VNetOf(sn); v == nil || !v.ID.Equal(r.vnet) {
			continue
		}
		served, addrs, sig := endpointServices(pe, sn)
		if a, holder := f.heldByNode(r, addrs); holder != "" {
			// Two machines answering for one address would split its
			// traffic; the node was there first.
			f.cfg.Log.Warn("netns fabric: private endpoint not realised: its address is a node's", "endpoint", pe.ID.Name(), "address", a, "node", holder)
			continue
		}
		if len(addrs) > 0 {
			want[pe.ID.Key()] = wanted{pe: pe, sn: sn, served: served, addrs: addrs, sig: sig}
		}
	}
	var errs []error
	for key, ep := range r.endpoints {
		if w, ok := want[key]; !ok || w.sig != ep.signature {
			errs = append(errs, r.removeEndpoint(key))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if r.endpoints[key] != nil {
			continue
		}
		w := want[key]
		b, err := r.bridge(w.sn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ep, err := f.newEndpoint(r, b, key, w.addrs)
		if err != nil {
			errs = append(errs, fmt.Errorf("private endpoint %s: %w", w.pe.ID.Name(), err))
			continue
		}
		ep.signature = w.sig
		ep.setServed(w.served)
		r.endpoints[key] = ep
	}
	return errors.Join(errs...)
}

// heldByNode names the node of router r that holds one of addrs, and
// that address.
func (f *Fabric) heldByNode(r *router, addrs []netip.Addr) (netip.Addr, string) {
	for _, nd := range f.nodes {
		if nd.router == r && slices.Contains(addrs, nd.n.PrivateIP) {
			return nd.n.PrivateIP, nd.n.Name
		}
	}
	return netip.Addr{}, ""
}

// newEndpoint creates the endpoint's namespace on bridge b, with its
// addresses, and its responder.
func (f *Fabric) newEndpoint(r *router, b *bridge, key string, addrs []netip.Addr) (*endpoint, error) {
	ns, err := createNamespace(f.prefix + "e-" + shortHash(key))
	if err != nil {
		return nil, err
	}
	if err := plug(r, b, ns, "st-e-"+shortHash(key)[:9], addrs); err != nil {
		ns.close()
		return nil, errors.Join(err, deleteNamespace(ns.name))
	}
	rp, err := newResponder(ns, endpointListenPorts, nil)
	if err != nil {
		ns.close()
		return nil, errors.Join(err, deleteNamespace(ns.name))
	}
	return &endpoint{responder: rp, bridge: b, addrs: addrs}, nil
}

// removeEndpoint deletes an endpoint's namespace (its link goes with it).
func (r *router) removeEndpoint(key string) error {
	ep := r.endpoints[key]
	delete(r.endpoints, key)
	ep.close()
	return deleteNamespace(ep.ns.name)
}
