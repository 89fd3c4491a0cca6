package studio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// The diagram of a virtual network: its subnets as boxes, each with its
// prefix, NSG, route table, NAT gateway, the firewall, private endpoints
// and computes in it, and the VNet's peerings; drawn as SVG by the server
// (html/template escapes every text; presentation attributes, no style
// attribute, so the Content-Security-Policy holds).

// Box geometry, in SVG units.
const (
	boxW, boxH, boxGap = 300, 168, 20
	boxCols            = 3
	vnetPad, vnetTop   = 20, 70
	lineH              = 18
)

// diagramBox is a subnet as the diagram draws it.
type diagramBox struct {
	X, Y  int
	ID    string
	Title string
	Lines []diagramLine
}

// diagramLine is a line of a box: its text and where it sits.
type diagramLine struct {
	Y    int
	Text string
	// Short is Text cut to fit the box (the whole text is its tooltip).
	Short string
	Kind  string // "nsg", "route", "nat", "firewall", "endpoint", "compute", "" for facts
}

// lineFit is how many characters fit on a line of a box.
const lineFit = 40

// shorten cuts text to lineFit characters.
func shorten(text string) string {
	r := []rune(text)
	if len(r) <= lineFit {
		return text
	}
	return string(r[:lineFit-1]) + "…"
}

// diagram is the page's data.
type diagram struct {
	Subscription  string
	VNet          link
	Space         string
	Peerings      []string
	Width, Height int
	InnerW        int
	InnerH        int
	Boxes         []diagramBox
}

// vnetDiagramPage draws a virtual network.
func (s *Studio) vnetDiagramPage(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := idOf(r.URL.Query().Get("id"), resources.TypeVirtualNetwork)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	rec := s.call(r, sess, http.MethodGet, apiPath(id, apiVersion(resources.TypeVirtualNetwork)), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	snap, err := resources.DecodeStored(rec.Body.Bytes())
	if err != nil || len(snap.VirtualNetworks) != 1 {
		s.fail(w, r, sess, fmt.Errorf("virtual network %s: %v", id, err))
		return
	}
	vnet := snap.VirtualNetworks[0]
	// What sits in each subnet, by subnet id key: private endpoints,
	// firewalls and computes, read through the API's lists.
	in := map[string][]diagramLine{}
	endpoints, _, err := s.listTyped(r, sess, id.Subscription, resources.TypePrivateEndpoint)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	for _, e := range endpoints {
		for _, pe := range e.PrivateEndpoints {
			addrs := make([]string, len(pe.IPConfigurations))
			for i, ipc := range pe.IPConfigurations {
				addrs[i] = ipc.PrivateIP.String()
			}
			in[pe.Subnet.ID.Key()] = append(in[pe.Subnet.ID.Key()], diagramLine{Kind: "endpoint", Text: "private endpoint " + pe.ID.Leaf() + " " + strings.Join(addrs, ", ")})
		}
	}
	firewalls, _, err := s.listTyped(r, sess, id.Subscription, resources.TypeFirewall)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	for _, f := range firewalls {
		for _, fw := range f.AzureFirewalls {
			in[fw.Subnet.ID.Key()] = append(in[fw.Subnet.ID.Key()], diagramLine{Kind: "firewall", Text: "firewall " + fw.ID.Leaf() + " " + fw.PrivateIP.String()})
		}
	}
	if err := s.computesBySubnet(r, sess, id.Subscription, in); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := diagram{Subscription: id.Subscription, VNet: link{ID: id.String(), Name: id.Leaf()}}
	space := make([]string, len(vnet.AddressSpace))
	for i, p := range vnet.AddressSpace {
		space[i] = p.String()
	}
	d.Space = strings.Join(space, ", ")
	for _, p := range vnet.Peerings {
		d.Peerings = append(d.Peerings, p.ID.Leaf()+" → "+p.RemoteVirtualNetwork.ID.Leaf())
	}
	for i, sn := range vnet.Subnets {
		row := subnetRowOf(sn, "")
		b := diagramBox{X: vnetPad + (i%boxCols)*(boxW+boxGap), Y: vnetTop + (i/boxCols)*(boxH+boxGap), ID: row.ID,
			Title: shorten(row.Name + " " + strings.Join(row.Prefixes, " "))}
		lines := []diagramLine{{Kind: "nsg", Text: "NSG " + cmpName(row.NSG.Name)}, {Kind: "route", Text: "route table " + cmpName(row.Routes.Name)}}
		if row.NAT.ID != "" {
			lines = append(lines, diagramLine{Kind: "nat", Text: "NAT gateway " + row.NAT.Name})
		}
		for _, dl := range row.Delegations {
			lines = append(lines, diagramLine{Text: "delegated to " + dl})
		}
		lines = append(lines, in[sn.ID.Key()]...)
		// A box shows what fits; the subnet's page has the rest.
		const fit = (boxH - 40) / lineH
		if len(lines) > fit {
			more := len(lines) - fit + 1
			lines = append(lines[:fit-1], diagramLine{Text: fmt.Sprintf("… %d more on the subnet's page", more)})
		}
		for j := range lines {
			lines[j].Y, lines[j].Short = b.Y+44+j*lineH, shorten(lines[j].Text)
		}
		b.Lines = lines
		d.Boxes = append(d.Boxes, b)
	}
	rows := max((len(vnet.Subnets)+boxCols-1)/boxCols, 1)
	d.InnerW = boxCols*boxW + (boxCols-1)*boxGap + 2*vnetPad
	d.InnerH = vnetTop + rows*(boxH+boxGap) - boxGap + vnetPad
	d.Width, d.Height = d.InnerW+2, d.InnerH+2
	s.render(w, http.StatusOK, "diagram", sess, page{Title: "Diagram of " + id.Leaf(), Data: d})
}

// cmpName is a name, or none.
func cmpName(name string) string {
	if name == "" {
		return "none"
	}
	return name
}

// computesBySubnet adds each compute of the subscription's workspaces to
// the lines of its subnet.
func (s *Studio) computesBySubnet(r *http.Request, sess session, sub string, in map[string][]diagramLine) error {
	workspaces, err := s.list(r, sess, "/subscriptions/"+sub+"/providers/"+resources.TypeWorkspace+"?api-version="+apiVersion(resources.TypeWorkspace))
	if err != nil {
		return err
	}
	asAPI := s.apiRequest(r, sess, http.MethodGet, "/", nil)
	for _, b := range workspaces {
		var ws struct{ ID string }
		if err := json.Unmarshal(b, &ws); err != nil {
			return fmt.Errorf("a workspace of %s: %w", sub, err)
		}
		wsID, err := arm.ParseID(ws.ID, "")
		if err != nil {
			return fmt.Errorf("a workspace of %s: %w", sub, err)
		}
		// The API's index of the computes: no compute's body is read.
		list, err := s.api.ListComputes(asAPI, wsID, "", 0, 0)
		if err != nil {
			return answered(err)
		}
		for _, c := range list.Computes {
			if c.Subnet.IsZero() {
				continue
			}
			ip := "public IP"
			if !c.PublicIP {
				ip = "no public IP"
			}
			key := c.Subnet.Key()
			in[key] = append(in[key], diagramLine{Kind: "compute", Text: "compute " + wsID.Leaf() + "/" + c.ID.Leaf() + ", " + ip + " (" + c.ComputeType + ")"})
		}
	}
	return nil
}
