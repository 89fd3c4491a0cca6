package netverify

import (
	"fmt"

	"securetrain/internal/arm"
)

// EffectiveRoute is one route of a subnet's effective route table, as
// Azure lists effective routes: system routes (the VNet, the internet,
// reserved ranges, peerings, service endpoints, private endpoint /32s)
// and the user routes of its route table.
type EffectiveRoute struct {
	// Source is Default (a system route) or User.
	Source string `json:"source"`
	// State is Active, or Invalid when another route for the same prefix
	// wins (a user route over a system one, Azure's ranking of tags).
	State string `json:"state"`
	// Prefix is the route's address prefix as written: a CIDR or a
	// service tag; Prefixes are the CIDRs it stands for (one for a CIDR).
	Prefix   string   `json:"addressPrefix"`
	Prefixes []string `json:"addressPrefixes"`
	// NextHopType and NextHopIP as NextHop reports them.
	NextHopType string `json:"nextHopType"`
	NextHopIP   string `json:"nextHopIpAddress,omitempty"`
	// RouteTable and Route name a user route.
	RouteTable string `json:"routeTable,omitempty"`
	Route      string `json:"route,omitempty"`
	// Target names what a system route leads to: the peered VNet, the
	// private endpoint, the service endpoint's service.
	Target string `json:"target,omitempty"`
}

// EffectiveRoutes lists a subnet's effective routes in the order the
// verifier holds them (system routes, then user routes, then private
// endpoint /32s): the table Flow and NextHop look routes up in.
func (n *Network) EffectiveRoutes(subnet arm.ID) ([]EffectiveRoute, error) {
	sc := n.subnets[subnet.Key()]
	if sc == nil || sc.routes == nil {
		return nil, fmt.Errorf("subnet %s is not in the network", subnet)
	}
	rt := sc.routes.built()
	active := map[*routeEntry]bool{}
	for _, i := range rt.tieWinners() {
		active[rt.routes[rt.prefixes[i].route]] = true
	}
	var out []EffectiveRoute
	at := map[*routeEntry]int{} // a service-tag route's row
	for _, p := range rt.prefixes {
		c := rt.routes[p.route]
		if k, ok := at[c]; ok {
			out[k].Prefixes = append(out[k].Prefixes, p.text())
			continue
		}
		r := EffectiveRoute{Source: c.source, State: "Invalid", Prefix: c.display(), Prefixes: []string{c.prefix}, NextHopType: c.nextHop}
		if active[c] {
			r.State = "Active"
		}
		if c.hopIP.IsValid() {
			r.NextHopIP = c.hopIP.String()
		}
		switch {
		case c.route != nil:
			r.RouteTable, r.Route = c.table.ID.String(), c.route.ID.Leaf()
		case c.pe != nil:
			r.Target = c.pe.label
		case c.peer != nil && c.peer.remote != nil:
			r.Target = "virtual network " + c.peer.remote.v.ID.Name()
		case c.service != "":
			r.Target = "service endpoint " + c.service
		}
		at[c] = len(out)
		out = append(out, r)
	}
	return out, nil
}
