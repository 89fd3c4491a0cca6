package studio

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// The pages of a firewall (with its policy's rule collections), a load
// balancer, a public IP, a NAT gateway and a VNet peering. Like the NSG
// and route table pages, each reads the resource through the API as the
// signed-in principal; what refers to a resource (a public IP's load
// balancer) comes from the API's index of references (api.Referrers),
// listing only what the principal may read.

// typePages are the studio's own pages of resource types, by lower-cased
// type; a resource of another type shows on the resource page.
var typePages = map[string]string{
	strings.ToLower(resources.TypeSubnet):       "/studio/network/subnet",
	strings.ToLower(resources.TypeNSG):          "/studio/network/nsg",
	strings.ToLower(resources.TypeRouteTable):   "/studio/network/routetable",
	strings.ToLower(resources.TypeFirewall):     "/studio/network/firewall",
	strings.ToLower(resources.TypeLoadBalancer): "/studio/network/loadbalancer",
	strings.ToLower(resources.TypePublicIP):     "/studio/network/publicip",
	strings.ToLower(resources.TypeNATGateway):   "/studio/network/natgateway",
	strings.ToLower(resources.TypePeering):      "/studio/network/peering",
}

// pageOf is the path of the studio's page of resource id of type typ.
func pageOf(typ, id string) string {
	p, ok := typePages[strings.ToLower(typ)]
	if !ok {
		p = "/studio/resource"
	}
	return p + "?id=" + url.QueryEscape(id)
}

// typedLink is a resource as a page links to it, with its type (the
// page it has).
type typedLink struct{ ID, Type, Name string }

func typedLinkOf(ref resources.Ref) typedLink {
	if !ref.IsSet() {
		return typedLink{}
	}
	return typedLink{ID: ref.ID.String(), Type: ref.ID.Type(), Name: ref.ID.Leaf()}
}

func typedLinks(refs []resources.Ref) []typedLink {
	out := make([]typedLink, 0, len(refs))
	for _, ref := range refs {
		out = append(out, typedLinkOf(ref))
	}
	return out
}

// netResource is what every one of these pages shows of its resource.
type netResource struct {
	Subscription, ID, Name, ResourceGroup, Location string
	// ReferredBy are the resources whose bodies name it, that the
	// principal may read.
	ReferredBy []typedLink
}

// readNet reads resource id (of type typ, the query's id) through the API
// and decodes it; an answer is written and ok is false when it cannot.
func (s *Studio) readNet(w http.ResponseWriter, r *http.Request, sess session, typ string) (id arm.ID, snap *resources.Snapshot, ok bool) {
	id, err := idOf(r.URL.Query().Get("id"), typ)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return id, nil, false
	}
	at := id
	if strings.EqualFold(typ, resources.TypePeering) {
		at, _ = id.Parent() // a peering is read with its VNet, as a subnet is
	}
	rec := s.call(r, sess, http.MethodGet, apiPath(at, apiVersion(at.Type())), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		s.fail(w, r, sess, err)
		return id, nil, false
	}
	if snap, err = resources.DecodeStored(rec.Body.Bytes()); err != nil {
		s.fail(w, r, sess, fmt.Errorf("%s: %w", at, err))
		return id, nil, false
	}
	if snap.Lookup(id) == nil {
		s.fail(w, r, sess, &armError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("'%s' was not found in '%s'.", id.Leaf(), at.Leaf())})
		return id, nil, false
	}
	return id, snap, true
}

// netResourceOf is id's facts and what refers to it; ok is false when
// the API refused (the answer is written).
func (s *Studio) netResourceOf(w http.ResponseWriter, r *http.Request, sess session, id arm.ID, location string) (n netResource, ok bool) {
	n = netResource{Subscription: id.Subscription, ID: id.String(), Name: id.Leaf(), ResourceGroup: id.ResourceGroup, Location: location}
	refs, err := s.api.Referrers(s.apiRequest(r, sess, http.MethodGet, "/", nil), id)
	if err != nil {
		s.fail(w, r, sess, answered(err))
		return n, false
	}
	for _, ref := range refs {
		n.ReferredBy = append(n.ReferredBy, typedLink{ID: ref.String(), Type: ref.Type(), Name: ref.Leaf()})
	}
	return n, true
}

// subnetsUsing lists the subnets whose settings name id (an NSG, a route
// table, a NAT gateway), from the API's list of the subscription's VNets.
func (s *Studio) subnetsUsing(r *http.Request, sess session, id arm.ID) ([]link, error) {
	vnets, err := s.readVNets(r, sess, id.Subscription)
	if err != nil {
		return nil, err
	}
	return vnets.users[id.Key()], nil
}

// lbRuleRow is a load-balancing or inbound NAT rule in one line.
func lbRuleText(rule resources.LBRule) string {
	s := fmt.Sprintf("%s: %s %s:%d → ", rule.Name, rule.Protocol, rule.Frontend, rule.FrontendPort)
	if rule.BackendPool != "" {
		s += rule.BackendPool + ":"
	} else {
		s += "port "
	}
	return s + strconv.Itoa(rule.BackendPort)
}

// loadBalancerPage is a load balancer: its frontends (public IP or
// subnet and address), backend pools, load-balancing rules, inbound NAT
// rules and outbound rules, and what refers to it (its pools' NICs).
func (s *Studio) loadBalancerPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, snap, ok := s.readNet(w, r, sess, resources.TypeLoadBalancer)
	if !ok {
		return
	}
	lb := snap.LoadBalancers[0]
	type frontend struct {
		Name             string
		PublicIP, Subnet typedLink
		PrivateIP        string
	}
	data := struct {
		netResource
		SKU                               string
		Frontends                         []frontend
		Pools, Rules, NATRules, Outbounds []string
	}{SKU: resources.SKUName(lb.SKU), Pools: lb.BackendPools}
	if data.netResource, ok = s.netResourceOf(w, r, sess, id, lb.Location); !ok {
		return
	}
	for _, f := range lb.Frontends {
		fr := frontend{Name: f.Name, PublicIP: typedLinkOf(f.PublicIP), Subnet: typedLinkOf(f.Subnet)}
		if f.PrivateIP.IsValid() {
			fr.PrivateIP = f.PrivateIP.String()
		}
		data.Frontends = append(data.Frontends, fr)
	}
	for _, rule := range lb.Rules {
		data.Rules = append(data.Rules, lbRuleText(rule))
	}
	for _, rule := range lb.InboundNATRules {
		data.NATRules = append(data.NATRules, lbRuleText(rule))
	}
	for _, o := range lb.OutboundRules {
		data.Outbounds = append(data.Outbounds, o.Name+": "+o.BackendPool+" through "+strings.Join(o.Frontends, ", "))
	}
	s.render(w, http.StatusOK, "loadbalancer", sess, page{Title: "Load balancer " + id.Leaf(), Data: data})
}

// publicIPPage is a public IP: its address, SKU and allocation, and what
// it is attached to (the load balancer, NAT gateway, firewall or network
// interface whose body names it).
func (s *Studio) publicIPPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, snap, ok := s.readNet(w, r, sess, resources.TypePublicIP)
	if !ok {
		return
	}
	pip := snap.PublicIPAddresses[0]
	data := struct {
		netResource
		Address, SKU, Allocation string
	}{Address: "not assigned", SKU: resources.SKUName(pip.SKU), Allocation: pip.AllocationMethod}
	if pip.Address.IsValid() {
		data.Address = pip.Address.String()
	}
	if data.netResource, ok = s.netResourceOf(w, r, sess, id, pip.Location); !ok {
		return
	}
	s.render(w, http.StatusOK, "publicip", sess, page{Title: "Public IP " + id.Leaf(), Data: data})
}

// natGatewayPage is a NAT gateway: its public IPs and prefixes, and the
// subnets that send their outbound traffic through it.
func (s *Studio) natGatewayPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, snap, ok := s.readNet(w, r, sess, resources.TypeNATGateway)
	if !ok {
		return
	}
	nat := snap.NATGateways[0]
	data := struct {
		netResource
		PublicIPs, Prefixes []typedLink
		Subnets             []link
	}{PublicIPs: typedLinks(nat.PublicIPAddresses), Prefixes: typedLinks(nat.PublicIPPrefixes)}
	if data.netResource, ok = s.netResourceOf(w, r, sess, id, nat.Location); !ok {
		return
	}
	var err error
	if data.Subnets, err = s.subnetsUsing(r, sess, id); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, http.StatusOK, "natgateway", sess, page{Title: "NAT gateway " + id.Leaf(), Data: data})
}

// collectionRow is a firewall rule collection as the page shows it.
type collectionRow struct {
	Name, Group, Kind, Action string
	GroupPriority, Priority   int
	Rules                     []firewallRuleRow
}

// firewallRuleRow is one rule of a collection.
type firewallRuleRow struct {
	Name, Protocols, Sources, Destinations, Ports, Translated string
}

// collectionRows orders rule collections as Azure Firewall processes
// them: DNAT, then network, then application rules; within a kind by
// rule collection group priority, then collection priority.
func collectionRows(cols []resources.FirewallRuleCollection) []collectionRow {
	stage := map[resources.FirewallRuleKind]int{resources.FirewallNAT: 0, resources.FirewallNetwork: 1, resources.FirewallApplication: 2}
	sorted := slices.Clone(cols)
	slices.SortStableFunc(sorted, func(a, b resources.FirewallRuleCollection) int {
		return cmp.Or(cmp.Compare(stage[a.Kind], stage[b.Kind]), cmp.Compare(a.GroupPriority, b.GroupPriority), cmp.Compare(a.Priority, b.Priority))
	})
	out := make([]collectionRow, len(sorted))
	for i, c := range sorted {
		row := collectionRow{Name: c.Name, Group: c.Group, Kind: string(c.Kind), Action: c.Action, GroupPriority: c.GroupPriority, Priority: c.Priority}
		for _, rule := range c.Rules {
			fr := firewallRuleRow{Name: rule.Name, Protocols: strings.Join(rule.Protocols, ", "), Sources: strings.Join(rule.SourceAddresses, ", "),
				Destinations: strings.Join(slices.Concat(rule.DestinationAddresses, rule.DestinationFqdns, rule.TargetFqdns), ", ")}
			for _, p := range rule.AppProtocols {
				fr.Protocols = strings.TrimPrefix(fr.Protocols+", "+p.Type+":"+strconv.Itoa(p.Port), ", ")
			}
			ports := make([]string, len(rule.DestinationPorts))
			for j, p := range rule.DestinationPorts {
				ports[j] = p.String()
			}
			fr.Ports = strings.Join(ports, ", ")
			if rule.TranslatedAddress != "" || rule.TranslatedPort != "" {
				fr.Translated = rule.TranslatedAddress + ":" + rule.TranslatedPort
			}
			row.Rules = append(row.Rules, fr)
		}
		out[i] = row
	}
	return out
}

// firewallPage is an Azure Firewall: its subnet, addresses, policy and
// the rule collections it applies (its policy's, read with the policy's
// rule collection groups, or its classic ones), in processing order.
func (s *Studio) firewallPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, snap, ok := s.readNet(w, r, sess, resources.TypeFirewall)
	if !ok {
		return
	}
	fw := snap.AzureFirewalls[0]
	data := struct {
		netResource
		Subnet                typedLink
		PrivateIP             string
		PublicIPs             []typedLink
		Policy, BasePolicy    typedLink
		DNSProxy              bool
		DNSServers            []string
		Collections           []collectionRow
		CollectionsNote       string
		ClassicUnderThePolicy bool
	}{Subnet: typedLinkOf(fw.Subnet), PublicIPs: typedLinks(fw.PublicIPs), Policy: typedLinkOf(fw.Policy), DNSProxy: fw.DNSProxy}
	if fw.PrivateIP.IsValid() {
		data.PrivateIP = fw.PrivateIP.String()
	}
	for _, a := range fw.DNSServers {
		data.DNSServers = append(data.DNSServers, a.String())
	}
	if data.netResource, ok = s.netResourceOf(w, r, sess, id, fw.Location); !ok {
		return
	}
	if !fw.Policy.IsSet() {
		data.Collections = collectionRows(fw.RuleCollections)
		s.render(w, http.StatusOK, "firewall", sess, page{Title: "Firewall " + id.Leaf(), Data: data})
		return
	}
	// A policy's rule collections live in its rule collection groups,
	// child resources the policy's body only names.
	data.ClassicUnderThePolicy = len(fw.RuleCollections) > 0
	policy, err := s.readPolicy(r, sess, fw.Policy.ID)
	if err != nil && !errors.As(err, new(*armError)) {
		s.fail(w, r, sess, err)
		return
	}
	if err != nil {
		data.CollectionsNote = "The policy's rule collections are not shown: " + err.Error()
	} else {
		data.Collections, data.BasePolicy, data.DNSProxy = collectionRows(policy.RuleCollections), typedLinkOf(policy.BasePolicy), policy.DNSProxy
		data.DNSServers = nil
		for _, a := range policy.DNSServers {
			data.DNSServers = append(data.DNSServers, a.String())
		}
	}
	s.render(w, http.StatusOK, "firewall", sess, page{Title: "Firewall " + id.Leaf(), Data: data})
}

// readPolicy reads a firewall policy and its rule collection groups
// through the API; an error the API answered is an *armError.
func (s *Studio) readPolicy(r *http.Request, sess session, id arm.ID) (*resources.FirewallPolicy, error) {
	version := apiVersion(resources.TypeFirewallPolicy)
	rec := s.call(r, sess, http.MethodGet, apiPath(id, version), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		return nil, err
	}
	groups, err := s.list(r, sess, childPath(id, "ruleCollectionGroups", version))
	if err != nil {
		return nil, err
	}
	bodies := [][]byte{rec.Body.Bytes()}
	for _, g := range groups {
		bodies = append(bodies, g)
	}
	snap, err := resources.DecodeARM(bodies, func(arm.ID) (bool, error) { return true, nil })
	if err != nil || len(snap.FirewallPolicies) != 1 {
		return nil, fmt.Errorf("firewall policy %s: %v", id, err)
	}
	return snap.FirewallPolicies[0], nil
}

// peeringPage is a VNet peering: its state, whether it carries the
// remote VNet's traffic, forwarded traffic and gateway transit, and the
// remote VNet with its peering back (when the principal may read it).
func (s *Studio) peeringPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, snap, ok := s.readNet(w, r, sess, resources.TypePeering)
	if !ok {
		return
	}
	p, _ := snap.Lookup(id).(*resources.Peering)
	if p == nil {
		s.fail(w, r, sess, fmt.Errorf("%s is not a peering", id))
		return
	}
	vnet, _ := id.Parent()
	data := struct {
		netResource
		VNet, Remote                          typedLink
		State                                 string
		VNetAccess, Forwarded, GatewayTransit bool
		RemoteGateways                        bool
		Back                                  typedLink
		BackState, BackNote                   string
	}{VNet: typedLink{ID: vnet.String(), Type: vnet.Type(), Name: vnet.Leaf()}, Remote: typedLinkOf(p.RemoteVirtualNetwork),
		State: cmp.Or(string(p.State), "not reported"), VNetAccess: p.AllowVirtualNetworkAccess, Forwarded: p.AllowForwardedTraffic,
		GatewayTransit: p.AllowGatewayTransit, RemoteGateways: p.UseRemoteGateways}
	data.netResource = netResource{Subscription: id.Subscription, ID: id.String(), Name: id.Leaf(), ResourceGroup: id.ResourceGroup}
	// The peering back, which Azure needs on the remote side too before
	// traffic flows.
	remote := p.RemoteVirtualNetwork.ID
	rec := s.call(r, sess, http.MethodGet, apiPath(remote, apiVersion(resources.TypeVirtualNetwork)), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		data.BackNote = "The remote virtual network is not shown: " + err.Error()
	} else if rsnap, err := resources.DecodeStored(rec.Body.Bytes()); err != nil || len(rsnap.VirtualNetworks) != 1 {
		data.BackNote = fmt.Sprintf("The remote virtual network did not decode: %v", err)
	} else {
		data.BackNote = "The remote virtual network has no peering to this one: no traffic flows until it has."
		for _, back := range rsnap.VirtualNetworks[0].Peerings {
			if back.RemoteVirtualNetwork.IsSet() && back.RemoteVirtualNetwork.ID.Key() == vnet.Key() {
				data.Back, data.BackState, data.BackNote = typedLink{ID: back.ID.String(), Type: back.ID.Type(), Name: back.ID.Leaf()}, cmp.Or(string(back.State), "not reported"), ""
			}
		}
	}
	s.render(w, http.StatusOK, "peering", sess, page{Title: "Peering " + id.Leaf(), Data: data})
}
