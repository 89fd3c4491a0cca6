package netverify

import (
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// A storage account's own network rules decide whether a request that
// reached its public endpoint is served (Azure's article "Configure Azure
// Storage firewalls and virtual networks"): publicNetworkAccess Disabled
// admits private endpoints only; networkAcls.defaultAction Deny admits a
// subnet listed in virtualNetworkRules (its traffic arrives through a
// service endpoint, with the private source) and the public addresses
// listed in ipRules — "IP network rules have no effect on requests
// originating from the same Azure region as the storage account". Private
// endpoints bypass these rules ("You don't need any firewall access rules
// to allow traffic for private endpoints of a storage account"). A flow is
// attributed to an account only when the query names it
// (<account>.blob.core.windows.net), as service endpoint policies are.

// storageAccount is a storage account of the file with its rules compiled.
type storageAccount struct {
	sa        *resources.StorageAccount
	ipRules   ipset.Set
	vnetRules map[string]bool // subnet keys
}

// storageVerdict says which of an account's settings decided a request.
type storageVerdict uint8

const (
	storageAdmitVNetRule storageVerdict = iota + 1
	storageAdmitIPRule
	storagePublicDisabled
	storagePerimeter
	storageNoVNetRule
	storageSameRegion
	storageNoIPRule
)

func compileStorageAccount(sa *resources.StorageAccount) *storageAccount {
	st := &storageAccount{sa: sa, vnetRules: map[string]bool{}}
	for _, r := range sa.IPRules {
		// The decoder accepted only IPv4 addresses and prefixes.
		if set, err := ipset.ParseAddrOrPrefix(r); err == nil {
			st.ipRules = st.ipRules.Union(set)
		}
	}
	for _, r := range sa.VirtualNetworkRules {
		st.vnetRules[r.ID.Key()] = true
	}
	return st
}

// storageNamed returns the storage account of the file a DNS name of its
// public endpoint names (<account>.blob.core.windows.net), or nil.
func (n *Network) storageNamed(name string) *storageAccount {
	acct, suffix, ok := strings.Cut(strings.ToLower(strings.TrimSuffix(name, ".")), ".")
	if !ok {
		return nil
	}
	for _, s := range privateLinkSubdomains {
		if suffix == s {
			return n.dns.storage[acct]
		}
	}
	return nil
}

// storageGate applies the network rules of the storage account the flow
// names, to a request arriving at its public endpoint from subnet sc:
// through a service endpoint (viaEndpoint) or from the internet, after
// the SNAT step the walk just added.
func (w *walker) storageGate(f *pointFlow, sc *subnetCtx, viaEndpoint bool) Verdict {
	if f.name == "" {
		return Allowed
	}
	st := w.n.storageNamed(f.name)
	if st == nil {
		return Allowed
	}
	v := st.decide(w, sc, viaEndpoint)
	if v == 0 {
		return Allowed
	}
	w.add(step{kind: stepStorage, storage: st, storageVerdict: v, subnet: sc})
	if v == storageAdmitVNetRule || v == storageAdmitIPRule {
		return Allowed
	}
	return Denied
}

// decide returns what admits or refuses the request, or 0 when the account
// is open to every network (defaultAction Allow).
func (st *storageAccount) decide(w *walker, sc *subnetCtx, viaEndpoint bool) storageVerdict {
	switch {
	case strings.EqualFold(st.sa.PublicNetworkAccess, "Disabled"):
		return storagePublicDisabled
	case strings.EqualFold(st.sa.PublicNetworkAccess, "SecuredByPerimeter"):
		return storagePerimeter
	case !strings.EqualFold(st.sa.DefaultAction, "Deny"):
		return 0
	case viaEndpoint && st.vnetRules[sc.s.ID.Key()]:
		return storageAdmitVNetRule
	case viaEndpoint:
		return storageNoVNetRule
	case sameLocation(sc.vnet.v.Location, st.sa.Location):
		return storageSameRegion
	}
	if snat, known := w.n.snatAddresses(w.steps[len(w.steps)-1]); known && !snat.IsEmpty() && st.ipRules.Covers(snat) {
		return storageAdmitIPRule
	}
	return storageNoIPRule
}

// sameLocation compares two ARM locations; an unset location is not
// known to be the same.
func sameLocation(a, b string) bool {
	return a != "" && b != "" && normLocation(a) == normLocation(b)
}

// normLocation writes an ARM location as ARM compares it ("West US 2" is
// westus2).
func normLocation(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }

// snatAddresses are the public addresses a SNAT step may translate the
// source to, and whether they are all known (an address Azure assigns, or
// a public IP without its address in the file, is not).
func (n *Network) snatAddresses(s step) (ipset.Set, bool) {
	switch s.kind {
	case stepSNATNat:
		if len(s.subnet.nat.PublicIPPrefixes) > 0 {
			return ipset.Set{}, false // prefixes are not modelled
		}
		return n.publicAddresses(s.subnet.nat.PublicIPAddresses)
	case stepSNATInstance:
		if a := s.host.publicIP.Address; a.IsValid() {
			return ipset.FromAddrs(a), true
		}
	case stepSNATLoadBalancer:
		var out ipset.Set
		for part := range strings.SplitSeq(s.host.outboundIPs, ",") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return ipset.Set{}, false // a frontend named, its address not known
			}
			out = out.Union(ipset.FromAddrs(a))
		}
		return out, true
	case stepFirewallEgress:
		// Azure Firewall picks any of its public IPs for SNAT.
		return n.publicAddresses(s.fw.fw.PublicIPs)
	}
	return ipset.Set{}, false
}

// publicAddresses are the addresses of public IP resources, and whether
// every one is known.
func (n *Network) publicAddresses(refs []resources.Ref) (ipset.Set, bool) {
	var out ipset.Set
	for _, r := range refs {
		p := n.snap.PublicIPAddress(r.ID)
		if p == nil || !p.Address.IsValid() {
			return ipset.Set{}, false
		}
		out = out.Union(ipset.FromAddrs(p.Address))
	}
	return out, len(refs) > 0
}

// storageHop explains a storage account's decision.
func storageHop(s step) Hop {
	sa := s.storage.sa
	h := Hop{Kind: HopStorage, Resource: sa.ID.String(), Position: sa.Pos, Action: "Deny"}
	name, subnet := sa.ID.Name(), s.subnet.s.ID.Name()
	switch s.storageVerdict {
	case storageAdmitVNetRule:
		h.Action, h.Rule = "Allow", "networkAcls.virtualNetworkRules"
		h.Detail = fmt.Sprintf("storage account %s admits it: virtualNetworkRules lists subnet %s, whose service endpoint carries the request", name, subnet)
	case storageAdmitIPRule:
		h.Action, h.Rule = "Allow", "networkAcls.ipRules"
		h.Detail = fmt.Sprintf("storage account %s admits it: ipRules cover the public address it comes from", name)
	case storagePublicDisabled:
		h.Rule = "publicNetworkAccess"
		h.Detail = fmt.Sprintf("storage account %s refuses it: publicNetworkAccess is Disabled, only its private endpoints are served", name)
	case storagePerimeter:
		h.Rule = "publicNetworkAccess"
		h.Detail = fmt.Sprintf("storage account %s refuses it: publicNetworkAccess is SecuredByPerimeter, public requests pass only a network security perimeter's access rules, which securetrain does not model", name)
	case storageNoVNetRule:
		h.Rule = "networkAcls.defaultAction"
		h.Detail = fmt.Sprintf("storage account %s refuses it: networkAcls.defaultAction is Deny and virtualNetworkRules does not list subnet %s, whose service endpoint carries the request with its private address%s", name, subnet, bypassNote(sa))
	case storageSameRegion:
		h.Rule = "networkAcls.defaultAction"
		h.Detail = fmt.Sprintf("storage account %s refuses it: networkAcls.defaultAction is Deny and the request comes from its own region (%s), where ipRules have no effect (Azure: \"IP network rules have no effect on requests originating from the same Azure region as the storage account\"); only a virtualNetworkRules entry with a service endpoint, or a private endpoint, admits it%s",
			name, strings.ToLower(sa.Location), bypassNote(sa))
	case storageNoIPRule:
		h.Rule = "networkAcls.ipRules"
		h.Detail = fmt.Sprintf("storage account %s refuses it: networkAcls.defaultAction is Deny and ipRules do not cover the address the request leaves by (an address Azure assigns cannot be listed)%s", name, bypassNote(sa))
	}
	return h
}

// bypassNote: the trusted-services exception admits Azure services'
// own access, not a compute's nodes in a customer's VNet.
func bypassNote(sa *resources.StorageAccount) string {
	if strings.Contains(strings.ToLower(sa.Bypass), "azureservices") {
		return "; bypass AzureServices admits trusted Azure services, not the compute's own traffic"
	}
	return ""
}

// storageFix says how to let a refused request through.
func storageFix(s step) string {
	name, subnet := s.storage.sa.ID.Name(), s.subnet.s.ID.Name()
	switch s.storageVerdict {
	case storagePublicDisabled, storagePerimeter:
		return fmt.Sprintf("reach storage account %s through a private endpoint (blob and file) in the VNet or a peered VNet, with its privatelink DNS zones linked", name)
	case storageNoVNetRule:
		return fmt.Sprintf("add subnet %s to storage account %s's networkAcls.virtualNetworkRules, or reach it through a private endpoint", subnet, name)
	case storageSameRegion:
		return fmt.Sprintf("enable the Microsoft.Storage service endpoint on subnet %s and add the subnet to storage account %s's networkAcls.virtualNetworkRules, or reach it through a private endpoint", subnet, name)
	}
	return fmt.Sprintf("add the address the request leaves by to storage account %s's networkAcls.ipRules (a NAT gateway gives a fixed one), or use a service endpoint with a virtualNetworkRules entry, or a private endpoint", name)
}
