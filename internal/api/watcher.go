package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Network Watcher diagnostics, in Azure's shapes (armnetwork v7,
// api-version 2025-01-01), answered by the verifier over the
// subscription's stored resources:
//
//	POST .../networkWatchers/{nw}/ipFlowVerify      VerificationIPFlowParameters -> {access, ruleName}
//	POST .../networkWatchers/{nw}/nextHop           NextHopParameters -> {nextHopType, nextHopIpAddress, routeTableId}
//	POST .../networkWatchers/{nw}/securityGroupView SecurityGroupViewParameters -> {networkInterfaces: [...]}
//
// Watchers themselves are not stored: any name in an existing resource
// group answers. The SDK drives these as long-running operations; a 200
// with the result and no polling headers completes them at once.
//
// A target is a VM (its NICs), a NIC, an Azure ML compute or a subnet.
// The answers are the verifier's queries (Interface, NSGVerdict, NextHop)
// on the subscription's cached network; this file maps requests to them
// and their answers to Azure's shapes.

// watcherActions maps an action path segment, lower-cased, to its name.
var watcherActions = map[string]string{
	"ipflowverify":      "ipFlowVerify",
	"nexthop":           "nextHop",
	"securitygroupview": "securityGroupView",
}

// watcherRoute serves Network Watcher actions (POST
// .../providers/Microsoft.Network/networkWatchers/{name}/{action}).
func (s *Server) watcherRoute(w http.ResponseWriter, r *http.Request, who string, p resourcePath) error {
	action, ok := watcherActions[strings.ToLower(p.types[1])]
	if !ok {
		return newError(http.StatusNotFound, "InvalidResourceType",
			"Network Watcher action '%s' is not supported; securetrain serves ipFlowVerify, nextHop and securityGroupView.", p.types[1])
	}
	if err := s.requireAPIVersion(r, who, "Microsoft.Network/networkWatchers"); err != nil {
		return err
	}
	if p.rg == "" {
		return newError(http.StatusNotFound, "InvalidResourceType",
			"Network watchers live in a resource group: /subscriptions/%s/resourceGroups/{name}/providers/Microsoft.Network/networkWatchers/{name}/%s.", p.sub, action)
	}
	watcher := arm.ID{Subscription: p.sub, ResourceGroup: p.rg, Provider: "Microsoft.Network",
		Types: []string{"networkWatchers"}, Names: []string{p.names[0]}}
	ctx := r.Context()
	if err := s.authorize(ctx, who, "Microsoft.Network/networkWatchers/"+action+"/action", watcher.String()); err != nil {
		return err
	}
	if r.Method != http.MethodPost {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on %s; use POST.", r.Method, action)
	}
	if err := s.requireScope(ctx, resourceGroupID(p.sub, p.rg)); err != nil {
		return err
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	var out any
	switch action {
	case "ipFlowVerify":
		out, err = s.ipFlowVerify(ctx, who, p.sub, data)
	case "nextHop":
		out, err = s.nextHop(ctx, who, p.sub, data)
	default:
		out, err = s.securityGroupView(ctx, who, p.sub, data)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ipFlowParams is VerificationIPFlowParameters.
type ipFlowParams struct {
	TargetResourceID    string `json:"targetResourceId"`
	Direction           string `json:"direction"`
	Protocol            string `json:"protocol"`
	LocalPort           string `json:"localPort"`
	RemotePort          string `json:"remotePort"`
	LocalIPAddress      string `json:"localIPAddress"`
	RemoteIPAddress     string `json:"remoteIPAddress"`
	TargetNicResourceID string `json:"targetNicResourceId"`
}

// ipFlowResult is VerificationIPFlowResult; ruleName is absent when no
// rule decided (no NSG, or platform traffic that no rule names).
type ipFlowResult struct {
	Access   string `json:"access"`
	RuleName string `json:"ruleName,omitempty"`
}

// ipFlowVerify answers whether the target's NSGs let one packet through
// and which rule decided (spec §8.1). Like Azure's IP flow verify it looks
// at the target's NSGs only, not at routes (an inbound flow from the
// internet to a private address has no path, yet its NSG verdict is
// asked): the verifier's NSGVerdict.
func (s *Server) ipFlowVerify(ctx context.Context, who, sub string, data []byte) (any, error) {
	var in ipFlowParams
	if err := decodeParams(data, &in); err != nil {
		return nil, err
	}
	if err := requireFields("targetResourceId", in.TargetResourceID, "direction", in.Direction, "protocol", in.Protocol,
		"localPort", in.LocalPort, "remotePort", in.RemotePort, "localIPAddress", in.LocalIPAddress, "remoteIPAddress", in.RemoteIPAddress); err != nil {
		return nil, err
	}
	var dir resources.Direction
	switch {
	case strings.EqualFold(in.Direction, string(resources.Inbound)):
		dir = resources.Inbound
	case strings.EqualFold(in.Direction, string(resources.Outbound)):
		dir = resources.Outbound
	default:
		return nil, badField("direction", "'%s' must be Inbound or Outbound", in.Direction)
	}
	proto, err := netverify.ParseProtocol(in.Protocol)
	if err != nil || (proto != netverify.TCP && proto != netverify.UDP) {
		return nil, badField("protocol", "'%s' must be TCP or UDP", in.Protocol)
	}
	local, err := parseIPv4("localIPAddress", in.LocalIPAddress)
	if err != nil {
		return nil, err
	}
	remote, err := parseIPv4("remoteIPAddress", in.RemoteIPAddress)
	if err != nil {
		return nil, err
	}
	// The source port may be "*" (Azure's "depends on the direction"): the
	// verifier's ephemeral port stands for it.
	localPort, err := parsePort("localPort", in.LocalPort, dir == resources.Outbound)
	if err != nil {
		return nil, err
	}
	remotePort, err := parsePort("remotePort", in.RemotePort, dir == resources.Inbound)
	if err != nil {
		return nil, err
	}
	n, err := s.network(ctx, sub)
	if err != nil {
		return nil, err
	}
	targets, err := s.watchTargets(ctx, who, n, sub, in.TargetResourceID, in.TargetNicResourceID)
	if err != nil {
		return nil, err
	}
	t := holding(targets, local)
	if t == nil {
		return nil, badField("localIPAddress", "%s is not an address of %s (%s)", local, in.TargetResourceID, describeAddrs(targets))
	}
	p := netverify.Packet{Protocol: proto, Source: local, Destination: remote, SourcePort: localPort, DestinationPort: remotePort}
	if dir == resources.Inbound {
		p = netverify.Packet{Protocol: proto, Source: remote, Destination: local, SourcePort: remotePort, DestinationPort: localPort}
	}
	dec, err := n.NSGVerdict(t.ID, dir, p)
	if err != nil {
		return nil, fmt.Errorf("ipFlowVerify on %s: %w", t.ID, err)
	}
	res := ipFlowResult{Access: string(resources.Deny)}
	if dec.Allowed {
		res.Access = string(resources.Allow)
	}
	if dec.Rule != nil {
		res.RuleName = ruleName(dec.Rule)
	}
	return res, nil
}

// ruleName names a rule as Azure's diagnostics do:
// securityRules/{name} or defaultSecurityRules/{name}.
func ruleName(r *netverify.EffectiveRule) string {
	if n := len(r.ID.Types); n > 0 {
		return r.ID.Types[n-1] + "/" + r.ID.Leaf()
	}
	return r.Name
}

// nextHopParams is NextHopParameters.
type nextHopParams struct {
	TargetResourceID     string `json:"targetResourceId"`
	SourceIPAddress      string `json:"sourceIPAddress"`
	DestinationIPAddress string `json:"destinationIPAddress"`
	TargetNicResourceID  string `json:"targetNicResourceId"`
}

// nextHopResult is NextHopResult: routeTableId is the route table of a
// user route, or "System Route".
type nextHopResult struct {
	NextHopType      string `json:"nextHopType"`
	NextHopIPAddress string `json:"nextHopIpAddress,omitempty"`
	RouteTableID     string `json:"routeTableId"`
}

// nextHopTypes maps the verifier's next hop types to Network Watcher's
// (the rest are spelled alike).
var nextHopTypes = map[string]string{"VNetPeering": "VirtualNetworkPeering"}

// nextHop answers which route the source's subnet picks for the
// destination (spec §8.2): the verifier's NextHop, which NSGs do not
// affect.
func (s *Server) nextHop(ctx context.Context, who, sub string, data []byte) (any, error) {
	var in nextHopParams
	if err := decodeParams(data, &in); err != nil {
		return nil, err
	}
	if err := requireFields("targetResourceId", in.TargetResourceID, "sourceIPAddress", in.SourceIPAddress,
		"destinationIPAddress", in.DestinationIPAddress); err != nil {
		return nil, err
	}
	src, err := parseIPv4("sourceIPAddress", in.SourceIPAddress)
	if err != nil {
		return nil, err
	}
	dst, err := parseIPv4("destinationIPAddress", in.DestinationIPAddress)
	if err != nil {
		return nil, err
	}
	if netverify.IsPlatformAddress(dst) {
		return nil, badField("destinationIPAddress", "%s is an Azure platform address: the host answers it directly, it is not routed", dst)
	}
	n, err := s.network(ctx, sub)
	if err != nil {
		return nil, err
	}
	targets, err := s.watchTargets(ctx, who, n, sub, in.TargetResourceID, in.TargetNicResourceID)
	if err != nil {
		return nil, err
	}
	t := holding(targets, src)
	if t == nil {
		return nil, badField("sourceIPAddress", "%s is not an address of %s (%s)", src, in.TargetResourceID, describeAddrs(targets))
	}
	hop, err := n.NextHop(t.ID, src, dst)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidRequestFormat", "The next hop from %s to %s cannot be evaluated: %v.", src, dst, err)
	}
	out := nextHopResult{NextHopType: hop.Type, RouteTableID: "System Route"}
	if t, ok := nextHopTypes[hop.Type]; ok {
		out.NextHopType = t
	}
	if hop.IP.IsValid() {
		out.NextHopIPAddress = hop.IP.String()
	}
	if !hop.RouteTable.IsZero() {
		out.RouteTableID = hop.RouteTable.String()
	}
	return out, nil
}

// sgViewParams is SecurityGroupViewParameters.
type sgViewParams struct {
	TargetResourceID string `json:"targetResourceId"`
}

// sgViewResult is SecurityGroupViewResult.
type sgViewResult struct {
	NetworkInterfaces []sgInterface `json:"networkInterfaces"`
}

// sgInterface is SecurityGroupNetworkInterface.
type sgInterface struct {
	ID                       string         `json:"id"`
	SecurityRuleAssociations sgAssociations `json:"securityRuleAssociations"`
}

// sgAssociations is SecurityRuleAssociations.
type sgAssociations struct {
	SubnetAssociation           *sgAssociation  `json:"subnetAssociation,omitempty"`
	NetworkInterfaceAssociation *sgAssociation  `json:"networkInterfaceAssociation,omitempty"`
	DefaultSecurityRules        []object        `json:"defaultSecurityRules"`
	EffectiveSecurityRules      []effectiveRule `json:"effectiveSecurityRules"`
}

// sgAssociation is SubnetAssociation / InterfaceAssociation: the custom
// rules of the NSG on the subnet or NIC.
type sgAssociation struct {
	ID            string   `json:"id"`
	SecurityRules []object `json:"securityRules"`
}

// effectiveRule is EffectiveNetworkSecurityRule: ports as "lo-hi",
// tags with their expanded prefixes, as Azure shows effective rules.
type effectiveRule struct {
	Name                             string   `json:"name"`
	Protocol                         string   `json:"protocol"`
	SourcePortRange                  string   `json:"sourcePortRange,omitempty"`
	SourcePortRanges                 []string `json:"sourcePortRanges,omitempty"`
	DestinationPortRange             string   `json:"destinationPortRange,omitempty"`
	DestinationPortRanges            []string `json:"destinationPortRanges,omitempty"`
	SourceAddressPrefix              string   `json:"sourceAddressPrefix,omitempty"`
	SourceAddressPrefixes            []string `json:"sourceAddressPrefixes,omitempty"`
	DestinationAddressPrefix         string   `json:"destinationAddressPrefix,omitempty"`
	DestinationAddressPrefixes       []string `json:"destinationAddressPrefixes,omitempty"`
	ExpandedSourceAddressPrefix      []string `json:"expandedSourceAddressPrefix,omitempty"`
	ExpandedDestinationAddressPrefix []string `json:"expandedDestinationAddressPrefix,omitempty"`
	Access                           string   `json:"access"`
	Priority                         int      `json:"priority"`
	Direction                        string   `json:"direction"`
}

// securityGroupView lists, per network interface of the target, the NSG
// rules on its subnet and on itself, the defaults, and the effective rules
// in evaluation order: inbound subnet NSG then NIC NSG, outbound NIC NSG
// then subnet NSG (spec §8.1).
func (s *Server) securityGroupView(ctx context.Context, who, sub string, data []byte) (any, error) {
	var in sgViewParams
	if err := decodeParams(data, &in); err != nil {
		return nil, err
	}
	if err := requireFields("targetResourceId", in.TargetResourceID); err != nil {
		return nil, err
	}
	n, err := s.network(ctx, sub)
	if err != nil {
		return nil, err
	}
	targets, err := s.watchTargets(ctx, who, n, sub, in.TargetResourceID, "")
	if err != nil {
		return nil, err
	}
	out := sgViewResult{NetworkInterfaces: []sgInterface{}}
	for _, t := range targets {
		a := sgAssociations{
			SubnetAssociation:      &sgAssociation{ID: t.Subnet.String(), SecurityRules: rulesOf(t.SubnetNSG, false)},
			DefaultSecurityRules:   rulesOf(firstView(t.NICNSG, t.SubnetNSG), true),
			EffectiveSecurityRules: []effectiveRule{},
		}
		// A NIC shows its association even without an NSG; a compute shows
		// the NSG Azure ML puts on its node NICs (the NICs are Azure ML's,
		// the compute stands for them).
		if t.NICNSG != nil || strings.EqualFold(t.ID.Type(), typeNIC) {
			a.NetworkInterfaceAssociation = &sgAssociation{ID: t.ID.String(), SecurityRules: rulesOf(t.NICNSG, false)}
		}
		for _, dir := range []resources.Direction{resources.Inbound, resources.Outbound} {
			rules := t.EffectiveRules(dir)
			for i := range rules {
				a.EffectiveSecurityRules = append(a.EffectiveSecurityRules, effectiveOf(&rules[i]))
			}
		}
		out.NetworkInterfaces = append(out.NetworkInterfaces, sgInterface{ID: t.ID.String(), SecurityRuleAssociations: a})
	}
	return out, nil
}

// firstView returns the first non-nil view.
func firstView(vs ...*netverify.NSGView) *netverify.NSGView {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// rulesOf lists an NSG's own rules (defaults false) or its six default
// rules in Azure's SecurityRule shape; none for no NSG.
func rulesOf(v *netverify.NSGView, defaults bool) []object {
	out := []object{}
	if v == nil {
		return out
	}
	for _, rules := range [][]netverify.EffectiveRule{v.Inbound, v.Outbound} {
		for i := range rules {
			if rules[i].Default == defaults {
				out = append(out, securityRuleOf(&rules[i]))
			}
		}
	}
	return out
}

// securityRuleOf renders a compiled rule in Azure's SecurityRule shape.
func securityRuleOf(r *netverify.EffectiveRule) object {
	props := object{
		"access":            accessOf(r),
		"direction":         string(r.Direction),
		"priority":          r.Priority,
		"protocol":          protocolOf(r.Protocols, "*"),
		"provisioningState": "Succeeded",
	}
	single := func(one, many string, vals []string) {
		if len(vals) == 1 {
			props[one] = vals[0]
		} else {
			props[many] = vals
		}
	}
	single("sourceAddressPrefix", "sourceAddressPrefixes", strings.Split(r.SourceText, ","))
	single("destinationAddressPrefix", "destinationAddressPrefixes", strings.Split(r.DestinationText, ","))
	single("sourcePortRange", "sourcePortRanges", portTexts(r.SourcePorts, "*", false))
	single("destinationPortRange", "destinationPortRanges", portTexts(r.DestinationPorts, "*", false))
	typ := "securityRules"
	if n := len(r.ID.Types); n > 0 {
		typ = r.ID.Types[n-1]
	}
	return object{"id": r.ID.String(), "name": r.ID.Leaf(), "type": typeNSG + "/" + typ, "properties": props}
}

// effectiveOf renders a compiled rule as an effective security rule.
func effectiveOf(r *netverify.EffectiveRule) effectiveRule {
	e := effectiveRule{Name: ruleName(r), Protocol: protocolOf(r.Protocols, "All"), Access: accessOf(r), Priority: r.Priority,
		Direction: string(r.Direction)}
	if ps := portTexts(r.SourcePorts, "0-65535", true); len(ps) == 1 {
		e.SourcePortRange = ps[0]
	} else {
		e.SourcePortRanges = ps
	}
	if ps := portTexts(r.DestinationPorts, "0-65535", true); len(ps) == 1 {
		e.DestinationPortRange = ps[0]
	} else {
		e.DestinationPortRanges = ps
	}
	src, srcExpanded := effectivePrefixes(r.SourceText, r.Source)
	if len(src) == 1 {
		e.SourceAddressPrefix = src[0]
	} else {
		e.SourceAddressPrefixes = src
	}
	e.ExpandedSourceAddressPrefix = srcExpanded
	dst, dstExpanded := effectivePrefixes(r.DestinationText, r.Destination)
	if len(dst) == 1 {
		e.DestinationAddressPrefix = dst[0]
	} else {
		e.DestinationAddressPrefixes = dst
	}
	e.ExpandedDestinationAddressPrefix = dstExpanded
	return e
}

// effectivePrefixes lists a rule side as written ("*" shown as 0.0.0.0/0,
// as Azure's effective rules do) and, when it names a tag or an ASG, the
// prefixes it expands to in the VNet.
func effectivePrefixes(text string, set ipset.Set) ([]string, []string) {
	toks := strings.Split(text, ",")
	named := false
	for i, t := range toks {
		switch {
		case t == "*":
			toks[i] = "0.0.0.0/0"
		case t == "" || t[0] < '0' || t[0] > '9':
			named = true // a service tag or "ASG name"
		}
	}
	if !named {
		return toks, nil
	}
	var expanded []string
	for _, p := range set.Prefixes() {
		expanded = append(expanded, p.String())
	}
	return toks, expanded
}

func accessOf(r *netverify.EffectiveRule) string {
	if r.Allow {
		return string(resources.Allow)
	}
	return string(resources.Deny)
}

// protocolOf spells a rule's protocols as Azure does: one protocol
// ("Tcp"), or any (SecurityRule "*", effective rule "All").
func protocolOf(ps []netverify.Protocol, any string) string {
	if len(ps) != 1 {
		return any
	}
	name := ps[0].String()
	return name[:1] + strings.ToLower(name[1:])
}

// portTexts lists a port set's ranges: all ports as all, else "n" or
// "lo-hi" (rangeAlways: "n-n", as effective rules show them).
func portTexts(set ipset.Set, all string, rangeAlways bool) []string {
	rs := set.Ranges()
	if len(rs) == 1 && rs[0].Lo == 0 && rs[0].Hi == 65535 {
		return []string{all}
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.Lo == r.Hi && !rangeAlways {
			out = append(out, strconv.Itoa(int(r.Lo)))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", r.Lo, r.Hi))
		}
	}
	return out
}

// targetTypes are the resource types a diagnostic may target.
var targetTypes = []string{
	typeVM,
	typeNIC,
	typeCompute,
	typeVNet + "/subnets",
}

// watchTargets resolves targetResourceId (and targetNicResourceId for a
// VM) into the interfaces to look at. The caller must be allowed to read
// the target.
func (s *Server) watchTargets(ctx context.Context, who string, n *netverify.Network, sub, target, targetNIC string) ([]netverify.Interface, error) {
	id, err := arm.ParseID(strings.TrimSpace(target), "")
	if err != nil {
		return nil, badField("targetResourceId", "%v", err)
	}
	if !strings.EqualFold(id.Subscription, sub) {
		return nil, badField("targetResourceId", "%s is not in the network watcher's subscription %s", id, sub)
	}
	k := kindOf(id.Type())
	if k == nil || !slices.ContainsFunc(targetTypes, func(t string) bool { return strings.EqualFold(t, k.typ) }) {
		return nil, badField("targetResourceId", "%s is a %s; the target must be a virtual machine, network interface, Azure ML compute or subnet",
			id, id.Type())
	}
	if err := s.authorize(ctx, who, k.typ+"/read", id.String()); err != nil {
		return nil, err
	}
	snap := n.Snapshot()
	var nicID arm.ID
	if strings.TrimSpace(targetNIC) != "" {
		if nicID, err = arm.ParseID(strings.TrimSpace(targetNIC), ""); err != nil {
			return nil, badField("targetNicResourceId", "%v", err)
		}
		_, isVM := snap.Lookup(id).(*resources.VirtualMachine)
		if !isVM && !nicID.Equal(id) {
			return nil, badField("targetNicResourceId", "is only for a virtual machine target with several network interfaces")
		}
	}
	switch snap.Lookup(id).(type) {
	case *resources.NetworkInterface, *resources.Compute, *resources.Subnet:
		i, err := n.Interface(id)
		if err != nil {
			return nil, badField("targetResourceId", "%v", err)
		}
		return []netverify.Interface{i}, nil
	case *resources.VirtualMachine:
		listed, err := s.vmNetworkInterfaces(ctx, id)
		if err != nil {
			return nil, err
		}
		var out []netverify.Interface
		// A VM's NICs: those its networkProfile lists, and those that
		// name it (Azure keeps both sides of the link).
		for _, nic := range snap.NetworkInterfaces {
			ofVM := nic.VirtualMachine.ID.Equal(id) || slices.ContainsFunc(listed, nic.ID.Equal)
			if !ofVM || !(nicID.IsZero() || nic.ID.Equal(nicID)) {
				continue
			}
			if i, err := n.Interface(nic.ID); err == nil { // a NIC in no subnet of the network has nothing to show
				out = append(out, i)
			}
		}
		if len(out) == 0 && !nicID.IsZero() {
			return nil, badField("targetNicResourceId", "%s is not a network interface of %s", nicID, id)
		}
		if len(out) == 0 {
			return nil, badField("targetResourceId", "virtual machine %s has no network interface in the subscription", id)
		}
		return out, nil
	}
	if why, ok := snap.Exclusion(id); ok {
		return nil, newError(http.StatusConflict, "InvalidNetworkConfiguration", "The target resource '%s' cannot be evaluated: %s", id, why)
	}
	return nil, newError(http.StatusNotFound, "NotFound", "The target resource '%s' was not found.", id)
}

// vmNetworkInterfaces are the NICs a stored VM's networkProfile lists
// (the verifier's model keeps only the NIC's side of the link).
func (s *Server) vmNetworkInterfaces(ctx context.Context, vm arm.ID) ([]arm.ID, error) {
	rec, err := s.store.Get(ctx, vm.String())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // deleted since the network was compiled: only the NICs that name it
	}
	if err != nil {
		return nil, fmt.Errorf("reading virtual machine %s: %w", vm, err)
	}
	o, err := recordObject(rec)
	if err != nil {
		return nil, err
	}
	var out []arm.ID
	for _, ref := range arm.Items(arm.EnsureField(arm.EnsureField(o, "properties"), "networkProfile"), "networkInterfaces") {
		if id, err := arm.ParseID(arm.Str(ref, "id"), ""); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

// holding returns the interface that owns address a, or nil.
func holding(ts []netverify.Interface, a netip.Addr) *netverify.Interface {
	u, ok := ipset.U32(a)
	if !ok {
		return nil
	}
	for i := range ts {
		if ts[i].Addresses.Contains(u) {
			return &ts[i]
		}
	}
	return nil
}

// describeAddrs lists the interfaces' addresses for an error message.
func describeAddrs(ts []netverify.Interface) string {
	var all ipset.Set
	for _, t := range ts {
		all = all.Union(t.Addresses)
	}
	if all.IsEmpty() {
		return "it has no address"
	}
	return "its addresses: " + all.Format(4)
}

// decodeParams reads a request body into the parameters struct v:
// syntax errors get ARM's InvalidRequestContent, unknown fields and wrong
// types InvalidRequestFormat naming the field.
func decodeParams(data []byte, v any) error {
	if _, err := decodeObject(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badField(te.Field, "must be a %s, not a JSON %s", te.Type, te.Value)
		}
		return newError(http.StatusBadRequest, "InvalidRequestFormat", "The request body is invalid: %s.", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// requireFields checks name/value pairs: a required field that is
// missing or empty is refused, naming it.
func requireFields(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return newError(http.StatusBadRequest, "InvalidRequestFormat", "The required field '%s' is missing or empty.", pairs[i])
		}
	}
	return nil
}

// badField is a 400 naming the request field at fault.
func badField(field, format string, args ...any) error {
	return newError(http.StatusBadRequest, "InvalidRequestFormat", "Field '%s': %s.", field, fmt.Sprintf(format, args...))
}

// parseIPv4 reads an IPv4 address (the verifier is IPv4-only).
func parseIPv4(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, badField(field, "'%s' is not an IP address", s)
	}
	if a = a.Unmap(); !a.Is4() {
		return netip.Addr{}, badField(field, "%s is not an IPv4 address; securetrain verifies IPv4 only", a)
	}
	return a, nil
}

// parsePort reads a single port 0–65535; "*" is accepted for the source
// port and stands for an ephemeral one.
func parsePort(field, s string, source bool) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "*" && source {
		return netverify.DefaultSourcePort, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		what := "a single port (0-65535)"
		if source {
			what += " or *"
		}
		return 0, badField(field, "'%s' must be %s", s, what)
	}
	return uint16(n), nil
}
