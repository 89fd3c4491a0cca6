package resources

// Linking runs once every resource of a file is decoded and attached: each
// reference must name a resource of the file (for modeled types), and
// values Azure derives from other resources are filled in.

import (
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/arm"
)

// pendingRef is a reference waiting for the whole file to be known.
type pendingRef struct {
	r     *res
	field string // as written: "networkSecurityGroup", "ipConfigurations[0].properties.subnet"
	line  int
	id    arm.ID
	typ   string // canonical type the id was checked against
}

func (d *decoder) link() {
	for _, p := range d.refs {
		ok, err := d.resolves(p)
		if err != nil {
			d.existsErr = fmt.Errorf("checking whether %s exists: %w", p.id, err)
			return
		}
		if !ok {
			p.r.errc(CodeReferenceNotFound, p.line, "%s %s not found %s", p.field, p.id, d.where())
		}
	}
	d.placeDynamicAddresses()
	d.placeEndpointAddresses()
}

// resolves reports whether a reference names a resource of the file. Ids of
// types securetrain does not model (Key Vault, public IP prefixes, …) cannot
// be checked and pass; references that may point outside the file (a
// workspace's storage account, a private endpoint's target) are not queued.
func (d *decoder) resolves(p pendingRef) (bool, error) {
	switch {
	case strings.EqualFold(p.typ, typeLBPool):
		// A pool is a part of its load balancer, not a resource of its own.
		if d.lbPools[p.id.Key()] {
			return true, nil
		}
	case kindIndex[strings.ToLower(p.typ)] == nil || !kindIndex[strings.ToLower(p.typ)].index:
		return true, nil
	case d.snap.Lookup(p.id) != nil:
		return true, nil
	}
	if d.exists == nil {
		return false, nil
	}
	return d.exists(p.id)
}

// where says where references are looked for, for messages.
func (d *decoder) where() string {
	switch {
	case d.exists != nil && d.file != "":
		return "in the file nor on the server"
	case d.exists != nil:
		return "(no such resource)"
	}
	return "in the file"
}

// placeDynamicAddresses gives firewalls and inbound endpoints without a
// written private address the one Azure assigns.
func (d *decoder) placeDynamicAddresses() {
	for _, fw := range d.snap.AzureFirewalls {
		d.placeInSubnet(&fw.PrivateIP, fw.Subnet)
	}
	for _, rv := range d.snap.DNSResolvers {
		for _, ep := range rv.InboundEndpoints {
			d.placeInSubnet(&ep.PrivateIP, ep.Subnet)
		}
	}
}

// placeEndpointAddresses gives private endpoints without static addresses
// those Azure allocated dynamically: the addresses of the NIC created for
// the endpoint, or when the NIC is not in the file, those its
// customDnsConfigs list.
func (d *decoder) placeEndpointAddresses() {
	nics := map[string][]*NetworkInterface{} // by endpoint key
	for _, nic := range d.snap.NetworkInterfaces {
		if nic.PrivateEndpoint.IsSet() {
			k := nic.PrivateEndpoint.ID.Key()
			nics[k] = append(nics[k], nic)
		}
	}
	for _, pe := range d.snap.PrivateEndpoints {
		if len(pe.IPConfigurations) > 0 {
			continue
		}
		for _, nic := range nics[pe.ID.Key()] {
			if !pe.owns(nic) {
				continue
			}
			for _, ipc := range nic.IPConfigurations {
				if ipc.PrivateIP.IsValid() {
					pe.IPConfigurations = append(pe.IPConfigurations, PrivateEndpointIPConfiguration{Name: ipc.Name, PrivateIP: ipc.PrivateIP})
				}
			}
		}
		if len(pe.IPConfigurations) > 0 {
			continue
		}
		seen := map[netip.Addr]bool{}
		for _, a := range pe.customDNSAddresses {
			if !seen[a] {
				seen[a] = true
				pe.IPConfigurations = append(pe.IPConfigurations, PrivateEndpointIPConfiguration{Name: "customDnsConfigs", PrivateIP: a})
			}
		}
	}
	d.allocateZoneGroupEndpoints()
}

// allocateZoneGroupEndpoints gives a private endpoint that has a DNS zone
// group but no address yet (one a template deploys, before Azure
// allocated it) the address Azure allocates: the lowest free one of its
// subnet after the four Azure reserves, so the group's records resolve.
func (d *decoder) allocateZoneGroupEndpoints() {
	var pending []*PrivateEndpoint
	used := map[netip.Addr]bool{}
	for _, pe := range d.snap.PrivateEndpoints {
		for _, ipc := range pe.IPConfigurations {
			used[ipc.PrivateIP] = true
		}
		if len(pe.IPConfigurations) == 0 && len(pe.ZoneGroups) > 0 {
			pending = append(pending, pe)
		}
	}
	if len(pending) == 0 {
		return
	}
	for _, nic := range d.snap.NetworkInterfaces {
		for _, ipc := range nic.IPConfigurations {
			used[ipc.PrivateIP] = true
		}
	}
	for _, pe := range pending {
		sn := d.snap.Subnet(pe.Subnet.ID)
		if sn == nil || len(sn.AddressPrefixes) == 0 {
			continue
		}
		prefix := sn.AddressPrefixes[0]
		a := prefix.Addr().Next().Next().Next().Next()
		for prefix.Contains(a) && used[a] {
			a = a.Next()
		}
		if !prefix.Contains(a) || !prefix.Contains(a.Next()) { // the last address is Azure's too
			continue
		}
		used[a] = true
		pe.IPConfigurations = append(pe.IPConfigurations, PrivateEndpointIPConfiguration{Name: "allocated", PrivateIP: a})
	}
}

// placeInSubnet sets an unset address to the first usable address of the
// subnet, network+4 (Azure reserves .0 to .3, §8.3).
func (d *decoder) placeInSubnet(addr *netip.Addr, subnet Ref) {
	if addr.IsValid() {
		return
	}
	sn := d.snap.Subnet(subnet.ID)
	if sn == nil || len(sn.AddressPrefixes) == 0 {
		return
	}
	a := sn.AddressPrefixes[0].Addr()
	for range 4 {
		a = a.Next()
	}
	*addr = a
}
