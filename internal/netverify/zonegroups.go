package netverify

import (
	"net/netip"
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// ZoneRecord is an A record set a private DNS zone group keeps in a zone.
type ZoneRecord struct {
	Zone  arm.ID
	Name  string // relative to the zone, lower-case
	Addrs []netip.Addr
}

// FQDN is the record's full name, without the final dot.
func (r ZoneRecord) FQDN() string { return r.Name + "." + strings.ToLower(r.Zone.Leaf()) }

// ID is the id of the record set.
func (r ZoneRecord) ID() arm.ID { return r.Zone.Child("A", r.Name) }

// ZoneGroupRecords are the A records Azure keeps for a private endpoint's
// zone group: for each privatelink name the endpoint serves (names maps
// public names to them, as PrivateLinkNames does), in each zone of the
// group that holds it, the endpoint's addresses. The control plane writes
// them as record sets; the verifier adds them to the zones it resolves
// with, so both answer as Azure does. Sorted by zone and name.
func ZoneGroupRecords(names map[string]string, addrs []netip.Addr, zones []arm.ID) []ZoneRecord {
	if len(addrs) == 0 {
		return nil
	}
	var out []ZoneRecord
	for _, private := range names {
		private = strings.ToLower(private)
		for _, z := range zones {
			rel, ok := strings.CutSuffix(private, "."+strings.ToLower(z.Leaf()))
			if !ok || rel == "" {
				continue
			}
			out = append(out, ZoneRecord{Zone: z, Name: rel, Addrs: slices.Clone(addrs)})
		}
	}
	slices.SortFunc(out, func(a, b ZoneRecord) int {
		if c := strings.Compare(a.Zone.Key(), b.Zone.Key()); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.CompactFunc(out, func(a, b ZoneRecord) bool { return a.Zone.Equal(b.Zone) && a.Name == b.Name })
}

// EndpointNames are the public names of every connection of pe, each
// mapped to its privatelink name (PrivateLinkNames); workspace finds a
// workspace target, or returns nil.
func EndpointNames(pe *resources.PrivateEndpoint, workspace func(arm.ID) *resources.Workspace) map[string]string {
	out := map[string]string{}
	for _, c := range pe.Connections {
		for public, private := range PrivateLinkNames(c.Target.ID, c.GroupIDs, workspace(c.Target.ID)) {
			out[public] = private
		}
	}
	return out
}

// EndpointAddrs are the addresses of a private endpoint, each once.
func EndpointAddrs(pe *resources.PrivateEndpoint) []netip.Addr {
	var out []netip.Addr
	for _, ipc := range pe.IPConfigurations {
		if ipc.PrivateIP.IsValid() && !slices.Contains(out, ipc.PrivateIP) {
			out = append(out, ipc.PrivateIP)
		}
	}
	return out
}

// zoneGroupRecords adds to the snapshot's zones the records of every
// private endpoint's zone groups, beside the record sets the zones hold
// (the control plane writes the same records: an address is added once).
func (n *Network) zoneGroupRecords(zones map[string]*resources.PrivateDNSZone) map[*resources.PrivateDNSZone]map[string][]netip.Addr {
	out := map[*resources.PrivateDNSZone]map[string][]netip.Addr{}
	for _, pe := range n.snap.PrivateEndpoints {
		if len(pe.ZoneGroups) == 0 {
			continue
		}
		names := EndpointNames(pe, n.snap.Workspace)
		addrs := EndpointAddrs(pe)
		for _, g := range pe.ZoneGroups {
			ids := make([]arm.ID, 0, len(g.Zones))
			for _, z := range g.Zones {
				ids = append(ids, z.ID)
			}
			for _, rec := range ZoneGroupRecords(names, addrs, ids) {
				z := zones[rec.Zone.Key()]
				if z == nil {
					continue
				}
				if out[z] == nil {
					out[z] = map[string][]netip.Addr{}
				}
				for _, a := range rec.Addrs {
					if !slices.Contains(z.A[rec.Name], a) && !slices.Contains(out[z][rec.Name], a) {
						out[z][rec.Name] = append(out[z][rec.Name], a)
					}
				}
			}
		}
	}
	return out
}
