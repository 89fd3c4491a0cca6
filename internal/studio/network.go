package studio

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/api"
	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
)

// The network views: a subscription's virtual networks and subnets, NSGs,
// route tables, private endpoints and private DNS zones; a subnet's
// effective security rules and routes; an NSG's rules in evaluation
// order; and the flow explorer. Resources are read through the API's
// lists; what the verifier computes (free addresses, effective rules and
// routes, flows) comes from the API's studio handlers, which answer from
// the subscription's cached compiled network.

// subscriptionOf reads the sub query parameter.
func subscriptionOf(v string) (string, error) {
	if !arm.IsGUID(v) {
		return "", fmt.Errorf("subscription %q is not a subscription id: a GUID, such as 00000000-0000-0000-0000-000000000001", v)
	}
	return v, nil
}

// idOf reads an id query parameter that must be of type typ.
func idOf(v, typ string) (arm.ID, error) {
	id, err := arm.ParseID(v, "")
	if err != nil {
		return arm.ID{}, fmt.Errorf("id %q: %w", v, err)
	}
	if !strings.EqualFold(id.Type(), typ) {
		return arm.ID{}, fmt.Errorf("id %q: the id of a %s is needed, not of a %s", v, typ, id.Type())
	}
	return id, nil
}

// listTyped lists a subscription's resources of type typ through the API
// and decodes each body.
func (s *Studio) listTyped(r *http.Request, sess session, sub, typ string) ([]*resources.Snapshot, []string, error) {
	bodies, err := s.list(r, sess, "/subscriptions/"+sub+"/providers/"+typ+"?api-version="+url.QueryEscape(apiVersion(typ)))
	if err != nil {
		return nil, nil, err
	}
	out, problems := decodeEach(bodies, typ, resources.DecodeStored)
	return out, problems, nil
}

// decodeEach decodes bodies of type typ one at a time: one body the
// decoder refuses does not hide the others; it is listed with its
// problem.
func decodeEach[T any](bodies []json.RawMessage, typ string, decode func([]byte) (T, error)) ([]T, []string) {
	var out []T
	var problems []string
	for _, b := range bodies {
		v, err := decode(b)
		if err != nil {
			var named struct{ ID string }
			_ = json.Unmarshal(b, &named) // the id only names the problem
			problems = append(problems, fmt.Sprintf("%s: %v", cmp.Or(named.ID, typ), err))
			continue
		}
		out = append(out, v)
	}
	return out, problems
}

// link is a resource as a page links to it.
type link struct{ ID, Name string }

func linkOf(ref resources.Ref) link {
	if !ref.IsSet() {
		return link{}
	}
	return link{ID: ref.ID.String(), Name: ref.ID.Leaf()}
}

// subnetRow is a subnet as the network page lists it.
type subnetRow struct {
	ID, Name         string
	Prefixes         []string
	Usable           int
	Free             string
	Delegations      []string
	NSG, Routes, NAT link
	ServiceEndpoints []string
	DefaultOutbound  string
}

// subnetRowOf is a subnet's row; free is the verifier's count ("?" when
// not known).
func subnetRowOf(sn *resources.Subnet, free string) subnetRow {
	row := subnetRow{ID: sn.ID.String(), Name: sn.ID.Leaf(), Usable: requirements.UsableAddresses(sn), Free: free,
		NSG: linkOf(sn.NetworkSecurityGroup), Routes: linkOf(sn.RouteTable), NAT: linkOf(sn.NATGateway), DefaultOutbound: "yes"}
	for _, p := range sn.AddressPrefixes {
		row.Prefixes = append(row.Prefixes, p.String())
	}
	for _, d := range sn.Delegations {
		row.Delegations = append(row.Delegations, d.ServiceName)
	}
	for _, se := range sn.ServiceEndpoints {
		row.ServiceEndpoints = append(row.ServiceEndpoints, se.Service)
	}
	if sn.DefaultOutboundAccess != nil && !*sn.DefaultOutboundAccess {
		row.DefaultOutbound = "no"
	}
	return row
}

// vnetRow is a virtual network with its subnets.
type vnetRow struct {
	ID, Name, Location, ResourceGroup string
	Space, DNSServers                 []string
	Peerings                          []peeringRow
	Subnets                           []subnetRow
}

// peeringRow is a VNet's peering as the network page lists it.
type peeringRow struct{ ID, Name, Remote, State string }

// networkData is the network page.
type networkData struct {
	Subscription string
	VNets        []vnetRow
	NSGs         []nsgRow
	// NSGsAzureML counts the NSGs Azure ML created for public-IP
	// computes: each is linked from its compute's row.
	NSGsAzureML      int
	RouteTables      []routeTableRow
	PrivateEndpoints []endpointRow
	Zones            []zoneRow
	// Parts are the firewalls, NAT gateways, load balancers and public
	// IPs, each linking to its page.
	Parts    []netPart
	Problems []string
}

// netPart is a table of the network page. What Azure ML created for
// computes (a public-IP compute's load balancer and public IP) is
// counted, not listed: each is linked from its compute's row.
type netPart struct {
	Title, Key string
	Rows       []netRow
	AzureML    int
}

// netRow is a firewall, NAT gateway, load balancer or public IP as the
// network page lists it: a link to its page and a line about it.
type netRow struct{ ID, Type, Name, ResourceGroup, About string }

type nsgRow struct {
	ID, Name, ResourceGroup string
	Rules                   int
	Subnets                 []link
}

type routeTableRow struct {
	ID, Name, ResourceGroup string
	Routes                  []string
	Subnets                 []link
}

type endpointRow struct {
	ID, Name  string
	Subnet    link
	Addresses []string
	Targets   []string
}

type zoneRow struct {
	ID, Name string
	Links    []string
	Records  []string
	Note     string
}

// networkPage shows a subscription's networks.
func (s *Studio) networkPage(w http.ResponseWriter, r *http.Request, sess session) {
	sub, err := subscriptionOf(r.URL.Query().Get("sub"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	data := networkData{Subscription: sub}
	vnets, err := s.readVNets(r, sess, sub)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	data.VNets, data.Problems = vnets.rows, vnets.problems
	users, subnetIDs := vnets.users, vnets.subnetIDs
	// Free addresses are the verifier's: one request for every subnet.
	if len(subnetIDs) > 0 {
		var view api.NetworkView
		if err := s.ask(r, sess, s.api.ServeNetworkView, api.NetworkViewRequest{Subnets: subnetIDs}, &view); err != nil {
			data.Problems = append(data.Problems, "Free addresses are not shown: "+err.Error())
		}
		free := map[string]int{}
		for _, v := range view.Subnets {
			free[v.ID] = v.Free
		}
		for i := range data.VNets {
			for j := range data.VNets[i].Subnets {
				if f, ok := free[data.VNets[i].Subnets[j].ID]; ok {
					data.VNets[i].Subnets[j].Free = strconv.Itoa(f)
				}
			}
		}
	}
	// NSGs, firewalls, NAT gateways, load balancers and public IPs come
	// from the API's index of them: those users wrote, and the count of
	// those Azure ML created (each linked from its compute's row).
	asAPI := s.apiRequest(r, sess, http.MethodGet, "/", nil)
	nsgs, err := s.api.ListNetwork(asAPI, sub, resources.TypeNSG)
	if err != nil {
		s.fail(w, r, sess, answered(err))
		return
	}
	snaps, problems := decodeEach(nsgs.Bodies, resources.TypeNSG, resources.DecodeStored)
	data.Problems = append(data.Problems, problems...)
	data.NSGsAzureML = nsgs.AzureML
	for _, snap := range snaps {
		for _, g := range snap.NetworkSecurityGroups {
			data.NSGs = append(data.NSGs, nsgRow{ID: g.ID.String(), Name: g.ID.Leaf(), ResourceGroup: g.ID.ResourceGroup, Rules: len(g.Rules), Subnets: users[g.ID.Key()]})
		}
	}
	tables, problems, err := s.listTyped(r, sess, sub, resources.TypeRouteTable)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	data.Problems = append(data.Problems, problems...)
	for _, snap := range tables {
		for _, t := range snap.RouteTables {
			row := routeTableRow{ID: t.ID.String(), Name: t.ID.Leaf(), ResourceGroup: t.ID.ResourceGroup, Subnets: users[t.ID.Key()]}
			for _, rt := range t.Routes {
				row.Routes = append(row.Routes, routeText(rt))
			}
			data.RouteTables = append(data.RouteTables, row)
		}
	}
	endpoints, problems, err := s.listTyped(r, sess, sub, resources.TypePrivateEndpoint)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	data.Problems = append(data.Problems, problems...)
	for _, snap := range endpoints {
		for _, pe := range snap.PrivateEndpoints {
			row := endpointRow{ID: pe.ID.String(), Name: pe.ID.Leaf(), Subnet: linkOf(pe.Subnet)}
			for _, ipc := range pe.IPConfigurations {
				row.Addresses = append(row.Addresses, ipc.PrivateIP.String()+" ("+ipc.GroupID+")")
			}
			for _, c := range pe.Connections {
				row.Targets = append(row.Targets, c.Target.ID.Leaf()+" ["+strings.Join(c.GroupIDs, ", ")+"]")
			}
			data.PrivateEndpoints = append(data.PrivateEndpoints, row)
		}
	}
	for _, part := range []struct {
		typ, title, key string
		about           func(listedNet) string
	}{
		{resources.TypeFirewall, "Firewalls", "firewalls", firewallAbout},
		{resources.TypeNATGateway, "NAT gateways", "natgateways", natGatewayAbout},
		{resources.TypeLoadBalancer, "Load balancers", "loadbalancers", loadBalancerAbout},
		{resources.TypePublicIP, "Public IP addresses", "publicips", publicIPAbout},
	} {
		listed, err := s.api.ListNetwork(asAPI, sub, part.typ)
		if err != nil {
			s.fail(w, r, sess, answered(err))
			return
		}
		decoded, problems := decodeEach(listed.Bodies, part.typ, func(b []byte) (n listedNet, err error) {
			if err = json.Unmarshal(b, &n); err == nil {
				n.id, err = arm.ParseID(n.ID, "")
			}
			return n, err
		})
		data.Problems = append(data.Problems, problems...)
		np := netPart{Title: part.title, Key: part.key, AzureML: listed.AzureML}
		for _, n := range decoded {
			np.Rows = append(np.Rows, netRow{ID: n.id.String(), Type: n.id.Type(), Name: n.id.Leaf(), ResourceGroup: n.id.ResourceGroup, About: part.about(n)})
		}
		data.Parts = append(data.Parts, np)
	}
	if data.Zones, err = s.zones(r, sess, sub); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, http.StatusOK, "network", sess, page{Title: "Network — " + sub, Data: data})
}

// listedNet is what the network page reads of a firewall, NAT gateway,
// load balancer or public IP as the API returns it (its shape was
// validated when it was written): read with encoding/json, not the full
// decoder, which the page does not need. Lists of parts are only
// counted.
type listedNet struct {
	ID  string `json:"id"`
	id  arm.ID
	SKU struct {
		Name string `json:"name"`
	} `json:"sku"`
	Properties struct {
		IPAddress        string `json:"ipAddress"`
		IPConfigurations []struct {
			Properties struct {
				PrivateIPAddress string `json:"privateIPAddress"`
				Subnet           struct {
					ID string `json:"id"`
				} `json:"subnet"`
			} `json:"properties"`
		} `json:"ipConfigurations"`
		FirewallPolicy struct {
			ID string `json:"id"`
		} `json:"firewallPolicy"`
		NATRuleCollections         []struct{} `json:"natRuleCollections"`
		NetworkRuleCollections     []struct{} `json:"networkRuleCollections"`
		ApplicationRuleCollections []struct{} `json:"applicationRuleCollections"`
		PublicIPAddresses          []struct{} `json:"publicIpAddresses"`
		PublicIPPrefixes           []struct{} `json:"publicIpPrefixes"`
		Frontends                  []struct{} `json:"frontendIPConfigurations"`
		Rules                      []struct{} `json:"loadBalancingRules"`
		InboundNATRules            []struct{} `json:"inboundNatRules"`
	} `json:"properties"`
}

// leaf is the last segment of an id ("" for none).
func leaf(id string) string { return id[strings.LastIndexByte(id, '/')+1:] }

func firewallAbout(n listedNet) string {
	about := "subnet none"
	if ipc := n.Properties.IPConfigurations; len(ipc) > 0 {
		about = "subnet " + cmp.Or(leaf(ipc[0].Properties.Subnet.ID), "none")
		if a := ipc[0].Properties.PrivateIPAddress; a != "" {
			about += " · " + a
		}
	}
	if n.Properties.FirewallPolicy.ID != "" {
		return about + " · policy " + leaf(n.Properties.FirewallPolicy.ID)
	}
	p := n.Properties
	return about + fmt.Sprintf(" · %d classic rule collections", len(p.NATRuleCollections)+len(p.NetworkRuleCollections)+len(p.ApplicationRuleCollections))
}

func natGatewayAbout(n listedNet) string {
	return fmt.Sprintf("%d public IPs, %d prefixes", len(n.Properties.PublicIPAddresses), len(n.Properties.PublicIPPrefixes))
}

func loadBalancerAbout(n listedNet) string {
	p := n.Properties
	return fmt.Sprintf("%s · %d frontends, %d rules, %d inbound NAT rules", resources.SKUName(n.SKU.Name), len(p.Frontends), len(p.Rules), len(p.InboundNATRules))
}

func publicIPAbout(n listedNet) string {
	return cmp.Or(n.Properties.IPAddress, "not assigned") + " · " + resources.SKUName(n.SKU.Name)
}

// vnetsRead is a subscription's virtual networks as the pages show them.
type vnetsRead struct {
	rows      []vnetRow
	subnetIDs []string
	// users are the subnets of each NSG, route table and NAT gateway (by
	// id key).
	users    map[string][]link
	problems []string
}

// readVNets lists a subscription's virtual networks through the API.
func (s *Studio) readVNets(r *http.Request, sess session, sub string) (vnetsRead, error) {
	var out vnetsRead
	vnets, problems, err := s.listTyped(r, sess, sub, resources.TypeVirtualNetwork)
	if err != nil {
		return out, err
	}
	out.problems = problems
	out.users = map[string][]link{}
	for _, snap := range vnets {
		for _, v := range snap.VirtualNetworks {
			row := vnetRow{ID: v.ID.String(), Name: v.ID.Leaf(), Location: v.Location, ResourceGroup: v.ID.ResourceGroup}
			for _, p := range v.AddressSpace {
				row.Space = append(row.Space, p.String())
			}
			for _, a := range v.DNSServers {
				row.DNSServers = append(row.DNSServers, a.String())
			}
			for _, p := range v.Peerings {
				row.Peerings = append(row.Peerings, peeringRow{ID: p.ID.String(), Name: p.ID.Leaf(), Remote: p.RemoteVirtualNetwork.ID.Leaf(), State: string(p.State)})
			}
			for _, sn := range v.Subnets {
				sr := subnetRowOf(sn, "?")
				subnetLink := link{ID: sr.ID, Name: v.ID.Leaf() + "/" + sr.Name}
				for _, ref := range []resources.Ref{sn.NetworkSecurityGroup, sn.RouteTable, sn.NATGateway} {
					if ref.IsSet() {
						out.users[ref.ID.Key()] = append(out.users[ref.ID.Key()], subnetLink)
					}
				}
				out.subnetIDs = append(out.subnetIDs, sr.ID)
				row.Subnets = append(row.Subnets, sr)
			}
			out.rows = append(out.rows, row)
		}
	}
	return out, nil
}

// routeText is a user route in one line.
func routeText(rt *resources.Route) string {
	s := rt.ID.Leaf() + ": " + rt.AddressPrefix + " → " + rt.NextHopType
	if rt.NextHopIP.IsValid() {
		s += " " + rt.NextHopIP.String()
	}
	return s
}

// zones lists the subscription's private DNS zones with their virtual
// network links and A records (each a list of the API: a zone's children
// are records of their own).
func (s *Studio) zones(r *http.Request, sess session, sub string) ([]zoneRow, error) {
	bodies, err := s.list(r, sess, "/subscriptions/"+sub+"/providers/"+resources.TypePrivateDNSZone+"?api-version="+url.QueryEscape(apiVersion(resources.TypePrivateDNSZone)))
	if err != nil {
		return nil, err
	}
	var out []zoneRow
	for _, b := range bodies {
		var z struct{ ID string }
		if err := json.Unmarshal(b, &z); err != nil {
			return nil, fmt.Errorf("a private DNS zone of %s: %w", sub, err)
		}
		id, err := arm.ParseID(z.ID, "")
		if err != nil {
			return nil, fmt.Errorf("a private DNS zone of %s: %w", sub, err)
		}
		row := zoneRow{ID: id.String(), Name: id.Leaf()}
		version := apiVersion(resources.TypePrivateDNSZone)
		links, err := s.list(r, sess, childPath(id, "virtualNetworkLinks", version))
		if err != nil {
			row.Note = "Links are not shown: " + err.Error()
		}
		for _, l := range links {
			var v struct {
				Name       string
				Properties struct {
					VirtualNetwork      struct{ ID string }
					RegistrationEnabled bool
				}
			}
			if json.Unmarshal(l, &v) == nil {
				vnet, _ := arm.ParseID(v.Properties.VirtualNetwork.ID, "")
				row.Links = append(row.Links, v.Name+" → "+vnet.Leaf()+map[bool]string{true: " (registration)", false: ""}[v.Properties.RegistrationEnabled])
			}
		}
		records, err := s.list(r, sess, childPath(id, "A", version))
		if err != nil && row.Note == "" {
			row.Note = "Records are not shown: " + err.Error()
		}
		for _, rec := range records {
			var a struct {
				Name       string
				Properties struct {
					ARecords []struct{ IPv4Address string }
				}
			}
			if json.Unmarshal(rec, &a) == nil {
				addrs := make([]string, len(a.Properties.ARecords))
				for i, x := range a.Properties.ARecords {
					addrs[i] = x.IPv4Address
				}
				row.Records = append(row.Records, a.Name+" A "+strings.Join(addrs, ", "))
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// ruleRow is an effective security rule as a page shows it.
type ruleRow struct {
	Name, Access, Protocol, Source, SourcePorts, Destination, DestinationPorts string
	Priority                                                                   int
	Default                                                                    bool
	// SourceExpanded and DestinationExpanded count the prefixes a service
	// tag or ASG side stands for (0: written as prefixes).
	SourceExpanded, DestinationExpanded int
}

// ruleRows renders effective rules (the API's shape, as Network
// Watcher's security group view).
func ruleRows(rules []api.EffectiveSecurityRule) []ruleRow {
	out := make([]ruleRow, len(rules))
	for i, e := range rules {
		out[i] = ruleRow{Name: e.Name, Access: e.Access, Protocol: e.Protocol, Priority: e.Priority,
			Default:             strings.HasPrefix(e.Name, "defaultSecurityRules/"),
			Source:              joinOne(e.SourceAddressPrefix, e.SourceAddressPrefixes),
			SourcePorts:         joinOne(e.SourcePortRange, e.SourcePortRanges),
			Destination:         joinOne(e.DestinationAddressPrefix, e.DestinationAddressPrefixes),
			DestinationPorts:    joinOne(e.DestinationPortRange, e.DestinationPortRanges),
			SourceExpanded:      len(e.ExpandedSourceAddressPrefix),
			DestinationExpanded: len(e.ExpandedDestinationAddressPrefix)}
	}
	return out
}

func joinOne(one string, many []string) string {
	if one != "" {
		return one
	}
	return strings.Join(many, ", ")
}

// subnetPage is a subnet: its facts, its effective security rules in
// evaluation order (Azure's defaults included) and its effective routes.
func (s *Studio) subnetPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := idOf(r.URL.Query().Get("id"), resources.TypeSubnet)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	vnetID, _ := id.Parent()
	rec := s.call(r, sess, http.MethodGet, apiPath(vnetID, apiVersion(resources.TypeVirtualNetwork)), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	snap, err := resources.DecodeStored(rec.Body.Bytes())
	if err != nil {
		s.fail(w, r, sess, fmt.Errorf("virtual network %s: %w", vnetID, err))
		return
	}
	sn := snap.Subnet(id)
	if sn == nil {
		s.fail(w, r, sess, &armError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("Subnet '%s' was not found in virtual network '%s'.", id.Leaf(), vnetID.Leaf())})
		return
	}
	var view api.NetworkView
	if err := s.ask(r, sess, s.api.ServeNetworkView, api.NetworkViewRequest{Subnets: []string{id.String()}, Effective: true}, &view); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	v := view.Subnets[0]
	row := subnetRowOf(sn, strconv.Itoa(v.Free))
	data := struct {
		Subscription      string
		VNet              link
		Subnet            subnetRow
		Inbound, Outbound []ruleRow
		Routes            []netverify.EffectiveRoute
	}{Subscription: id.Subscription, VNet: link{ID: vnetID.String(), Name: vnetID.Leaf()}, Subnet: row, Routes: v.Routes}
	if v.Rules != nil {
		data.Inbound, data.Outbound = ruleRows(v.Rules.Inbound), ruleRows(v.Rules.Outbound)
	}
	s.render(w, http.StatusOK, "subnet", sess, page{Title: "Subnet " + vnetID.Leaf() + "/" + id.Leaf(), Data: data})
}

// nsgPage is an NSG's rules in evaluation order per direction, Azure's
// six default rules included, as the verifier compiled them.
func (s *Studio) nsgPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := idOf(r.URL.Query().Get("id"), resources.TypeNSG)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	var body struct{ Tags map[string]string }
	if err := s.get(r, sess, apiPath(id, apiVersion(resources.TypeNSG)), &body); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	subnets, err := s.subnetsUsing(r, sess, id)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	var view api.NetworkView
	if err := s.ask(r, sess, s.api.ServeNetworkView, api.NetworkViewRequest{NSG: id.String()}, &view); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	data := struct {
		Subscription      string
		ID, Name          string
		Used              bool
		Tags              map[string]string
		Subnets           []link
		Inbound, Outbound []ruleRow
	}{Subscription: id.Subscription, ID: id.String(), Name: id.Leaf(), Used: view.NSG != nil, Tags: body.Tags, Subnets: subnets}
	if view.NSG != nil {
		data.Inbound, data.Outbound = ruleRows(view.NSG.Inbound), ruleRows(view.NSG.Outbound)
	}
	s.render(w, http.StatusOK, "nsg", sess, page{Title: "NSG " + id.Leaf(), Data: data})
}

// routeTablePage is a route table's user routes and the subnets it is
// associated with (each links to its effective routes).
func (s *Studio) routeTablePage(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := idOf(r.URL.Query().Get("id"), resources.TypeRouteTable)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	rec := s.call(r, sess, http.MethodGet, apiPath(id, apiVersion(resources.TypeRouteTable)), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	snap, err := resources.DecodeStored(rec.Body.Bytes())
	if err != nil || len(snap.RouteTables) != 1 {
		s.fail(w, r, sess, fmt.Errorf("route table %s: %v", id, err))
		return
	}
	t := snap.RouteTables[0]
	data := struct {
		Subscription, ID, Name string
		Routes                 []string
		NoBGP                  bool
		Subnets                []link
	}{Subscription: id.Subscription, ID: id.String(), Name: id.Leaf(), NoBGP: t.DisableBgpRoutePropagation}
	for _, rt := range t.Routes {
		data.Routes = append(data.Routes, routeText(rt))
	}
	if data.Subnets, err = s.subnetsUsing(r, sess, id); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, http.StatusOK, "routetable", sess, page{Title: "Route table " + id.Leaf(), Data: data})
}

// flowForm is the flow explorer's form, `securetrain flow`'s flags.
type flowForm struct {
	Subscription, From, To, Protocol, Port, SourcePort, Direction string
}

// flowRanges is how many ranges each side of an outcome lists.
const flowRanges = 4

// protocols the explorer offers.
var flowProtocols = []string{"TCP", "UDP", "ICMP", "ESP", "AH", "Any"}

// flowPage is the flow explorer: from, to, protocol, port → the verdict
// with its hops, as `securetrain flow` answers.
func (s *Studio) flowPage(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	f := flowForm{Subscription: q.Get("sub"), From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
		Protocol: cmp.Or(q.Get("protocol"), "TCP"), Port: strings.TrimSpace(q.Get("port")), SourcePort: strings.TrimSpace(q.Get("sourcePort")), Direction: q.Get("direction")}
	if _, err := subscriptionOf(f.Subscription); err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	data := struct {
		Form      flowForm
		Protocols []string
		Result    *netverify.Result
	}{Form: f, Protocols: flowProtocols}
	p := page{Title: "Flow explorer", Data: &data}
	if f.From == "" && f.To == "" {
		s.render(w, http.StatusOK, "flow", sess, p)
		return
	}
	// Each outcome lists its first ranges, as `securetrain flow` prints them.
	req := api.FlowRequest{Subscription: f.Subscription, From: f.From, To: f.To, Protocol: f.Protocol, Direction: f.Direction, MaxRanges: flowRanges}
	for _, n := range []struct {
		field, text string
		into        *int
	}{{"Port", f.Port, &req.Port}, {"Source port", f.SourcePort, &req.SourcePort}} {
		if n.text == "" {
			continue
		}
		v, err := strconv.Atoi(n.text)
		if err != nil {
			p.Error = fmt.Sprintf("%s %q: a port is a whole number 0-65535", n.field, n.text)
			s.render(w, http.StatusBadRequest, "flow", sess, p)
			return
		}
		*n.into = v
	}
	if !slices.Contains(flowProtocols, f.Protocol) {
		p.Error = fmt.Sprintf("Protocol %q: one of %s", f.Protocol, strings.Join(flowProtocols, ", "))
		s.render(w, http.StatusBadRequest, "flow", sess, p)
		return
	}
	var res netverify.Result
	if err := s.ask(r, sess, s.api.ServeFlow, req, &res); err != nil {
		var ae *armError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			p.Error = ae.Error()
			s.render(w, http.StatusBadRequest, "flow", sess, p)
			return
		}
		s.fail(w, r, sess, err)
		return
	}
	data.Result = &res
	s.render(w, http.StatusOK, "flow", sess, p)
}
