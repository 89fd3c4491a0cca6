package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// The studio (internal/studio) is a second face over this server, not a
// second authority: it sends every read and write through ServeHTTP with
// the signed-in principal's bearer token, so that authentication, RBAC,
// locks, policy and validation are the ones every API client meets. What
// it needs beyond ARM's routes is here, behind the same token lookup and
// the same permission evaluator.

// Principal authenticates r as every request is (its bearer token, looked
// up in the store) and returns the principal's name.
func (s *Server) Principal(r *http.Request) (string, error) { return s.authenticate(r) }

// Permitted reports whether the principal of r may perform action on
// target, by the evaluator that authorizes requests: the studio asks it
// to decide which buttons to show, never to decide what is allowed.
func (s *Server) Permitted(r *http.Request, action, target string) (bool, error) {
	who, err := s.authenticate(r)
	if err != nil {
		return false, err
	}
	return s.permitted(r.Context(), who, action, target, false)
}

// PreflightRequest is what ServePreflight judges: the id a compute would
// be created at and the body its PUT would send.
type PreflightRequest struct {
	ID      string          `json:"id"`
	Compute json.RawMessage `json:"compute"`
}

// PreflightAnswer is the verdict on a compute before it is created.
type PreflightAnswer struct {
	Report requirements.ComputeReport `json:"report"`
	// FreeAddresses is what the compute's subnet has left before it; nil
	// without a subnet.
	FreeAddresses *int `json:"freeAddresses,omitempty"`
}

// ServePreflight answers a PreflightRequest (POST, JSON) with a
// PreflightAnswer: the rules `securetrain check` applies to a compute,
// run on the subscription's network as it is now (the cached compilation
// the provisioner reads), for a compute that does not exist yet. It needs
// what creating the compute needs (computes/write on it, join on its
// subnet and VNet), since it reveals what creating it would; it writes
// nothing. Errors are ARM's.
func (s *Server) ServePreflight(w http.ResponseWriter, r *http.Request) {
	s.serveStudio(w, r, "preflight", s.computePreflight)
}

// serveStudio authenticates a studio request (POST, JSON), runs fn and
// answers its error in ARM's shape, logging the principal and the time.
func (s *Server) serveStudio(w http.ResponseWriter, r *http.Request, name string, fn func(http.ResponseWriter, *http.Request, string) error) {
	start := time.Now()
	who, err := s.authenticate(r)
	if err == nil && r.Method != http.MethodPost {
		err = newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The studio's %s needs POST.", name)
	}
	if err == nil {
		err = fn(w, r, who)
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error(name+" failed", "err", err)
		}
		writeError(w, err)
	}
	s.log.Info(name, "principal", who, "ms", float64(time.Since(start).Microseconds())/1000)
}

func (s *Server) computePreflight(w http.ResponseWriter, r *http.Request, who string) error {
	var in PreflightRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	id, err := arm.ParseID(in.ID, "")
	if err != nil || !strings.EqualFold(id.Type(), typeCompute) {
		return newError(http.StatusBadRequest, "InvalidRequestContent",
			"The pre-flight check needs the id of a compute (/subscriptions/{s}/resourceGroups/{g}/providers/%s/{workspace}/computes/{name}); got '%s'.",
			typeWorkspace, in.ID)
	}
	ctx := r.Context()
	if err := s.authorize(ctx, who, typeCompute+"/write", id.String()); err != nil {
		return err
	}
	body, err := decodeObject(in.Compute)
	if err != nil {
		return err
	}
	if err := canonicalizeIDs(body, id.Subscription); err != nil {
		return err
	}
	if err := s.authorizeLinked(ctx, who, typeCompute, "PUT "+typeCompute, body, id.String()); err != nil {
		return err
	}
	if _, err := s.store.Get(ctx, id.String()); err == nil {
		return newError(http.StatusConflict, "Conflict", "Compute '%s' exists already in workspace '%s': choose another name.", id.Leaf(), id.Names[0])
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	next, err := normalize(kindOf(typeCompute), id, body, nil)
	if err != nil {
		return err
	}
	c, err := computeOf(next)
	if err != nil {
		return newError(http.StatusBadRequest, "InvalidRequestContent", "Compute '%s': %v", id.Leaf(), err)
	}
	if _, err := provision.SizeOf(c.VMSize); err != nil {
		var pe *provision.Error
		errors.As(err, &pe)
		return newError(http.StatusBadRequest, pe.Code, "%s", pe.Message)
	}
	// The proposal is compiled with the subscription's network as it is
	// (the cached snapshot): the flows of a compute depend on what Azure ML
	// would create for it, which only a compilation holds.
	current, err := s.network(ctx, id.Subscription)
	if err != nil {
		return fmt.Errorf("pre-flight of %s: %w", id, err)
	}
	n, err := netverify.Compile(current.Snapshot().WithCompute(c), current.ServiceTags())
	if err != nil {
		return modelError(err)
	}
	rep, err := requirements.CheckCompute(n, c, requirements.Options{})
	if err != nil {
		return fmt.Errorf("pre-flight of %s: %w", id, err)
	}
	answer := PreflightAnswer{Report: rep}
	if c.Subnet.IsSet() {
		if free, ok := requirements.FreeAddresses(current.Snapshot(), c.Subnet.ID); ok {
			answer.FreeAddresses = &free
		}
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}

// FlowRequest is a flow explorer's question: `securetrain flow`'s flags
// on a subscription's network.
type FlowRequest struct {
	Subscription string `json:"subscription"`
	From         string `json:"from"`
	To           string `json:"to"`
	// Protocol is TCP, UDP, ICMP, ESP, AH or Any.
	Protocol string `json:"protocol"`
	// Port is the destination port (TCP, UDP); SourcePort 0 is an
	// ephemeral one.
	Port       int `json:"port"`
	SourcePort int `json:"sourcePort"`
	// Direction is outbound, inbound or "" (inferred).
	Direction string `json:"direction"`
	// MaxRanges caps the ranges each outcome lists (0: all).
	MaxRanges int `json:"maxRanges,omitempty"`
}

// ServeFlow answers a FlowRequest (POST, JSON) with the verifier's
// netverify.Result, the answer of `securetrain flow --format json`, on
// the subscription's cached network. A flow's hops cross the whole
// subscription (VNets, NSGs, route tables, firewalls, DNS zones), so it
// needs read on the subscription's networks
// (Microsoft.Network/virtualNetworks/read at the subscription).
func (s *Server) ServeFlow(w http.ResponseWriter, r *http.Request) {
	s.serveStudio(w, r, "flow", s.flow)
}

func (s *Server) flow(w http.ResponseWriter, r *http.Request, who string) error {
	var in FlowRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if !arm.IsGUID(in.Subscription) {
		return badField("subscription", "'%s' is not a subscription id (a GUID)", in.Subscription)
	}
	ctx := r.Context()
	if err := s.authorize(ctx, who, typeVNet+"/read", "/subscriptions/"+in.Subscription); err != nil {
		return err
	}
	if err := requireFields("from", in.From, "to", in.To); err != nil {
		return err
	}
	q := netverify.Query{Direction: netverify.Direction(strings.ToLower(strings.TrimSpace(in.Direction))), MaxRanges: max(in.MaxRanges, 0)}
	var err error
	if q.Protocol, err = netverify.ParseProtocol(cmp.Or(in.Protocol, "TCP")); err != nil {
		return badField("protocol", "%v", err)
	}
	switch {
	case in.Port < 0 || in.Port > 65535:
		return badField("port", "%d is outside 0-65535", in.Port)
	case in.SourcePort < 0 || in.SourcePort > 65535:
		return badField("sourcePort", "%d is outside 0-65535", in.SourcePort)
	case in.Port == 0 && (q.Protocol == netverify.TCP || q.Protocol == netverify.UDP):
		return badField("port", "a destination port is required for %s", q.Protocol)
	case q.Direction != "" && q.Direction != netverify.DirectionOutbound && q.Direction != netverify.DirectionInbound:
		return badField("direction", "'%s' must be outbound, inbound or empty (inferred)", in.Direction)
	}
	q.Port, q.SourcePort = uint16(in.Port), uint16(in.SourcePort)
	n, err := s.network(ctx, in.Subscription)
	if err != nil {
		return fmt.Errorf("flow in %s: %w", in.Subscription, err)
	}
	if q.From, err = n.ParseEndpoint(strings.TrimSpace(in.From)); err != nil {
		return badField("from", "%v", err)
	}
	if q.To, err = n.ParseEndpoint(strings.TrimSpace(in.To)); err != nil {
		return badField("to", "%v", err)
	}
	res, err := n.Flow(q)
	var ee *netverify.EndpointError
	switch {
	case errors.As(err, &ee) && ee.Destination:
		return badField("to", "%s %v", in.To, ee.Err)
	case errors.As(err, &ee):
		return badField("from", "%s %v", in.From, ee.Err)
	case errors.Is(err, netverify.ErrDirection):
		return badField("direction", "%v", err)
	case err != nil:
		return newError(http.StatusBadRequest, "InvalidRequestFormat", "The flow cannot be evaluated: %v.", err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// NetworkViewRequest asks for what the verifier computes of subnets (their
// free addresses; with Effective, their effective security rules and
// routes) or of an NSG (its rules in evaluation order, defaults included).
type NetworkViewRequest struct {
	Subnets   []string `json:"subnets,omitempty"`
	Effective bool     `json:"effective,omitempty"`
	NSG       string   `json:"nsg,omitempty"`
}

// NetworkView answers a NetworkViewRequest.
type NetworkView struct {
	Subnets []SubnetView `json:"subnets"`
	// NSG is the NSG's rules as compiled in the first VNet it is used in;
	// nil when no subnet or NIC uses it.
	NSG *RuleView `json:"nsg,omitempty"`
}

// SubnetView is what the verifier computes of a subnet.
type SubnetView struct {
	ID string `json:"id"`
	// Free is its usable addresses less those computes, NICs, private
	// endpoints, firewalls and load balancer frontends take.
	Free int `json:"freeAddresses"`
	// Rules are the effective security rules at the subnet's addresses
	// and Routes its effective routes (with Effective only).
	Rules  *RuleView                  `json:"rules,omitempty"`
	Routes []netverify.EffectiveRoute `json:"routes,omitempty"`
}

// EffectiveSecurityRule is Azure's EffectiveNetworkSecurityRule, as
// Network Watcher's security group view answers it.
type EffectiveSecurityRule = effectiveRule

// RuleView is the security rules that apply somewhere, in Azure's
// effective-rule shape and evaluation order per direction, Azure's
// default rules included (named defaultSecurityRules/…).
type RuleView struct {
	NSG      string                  `json:"nsg,omitempty"`
	Inbound  []EffectiveSecurityRule `json:"inbound"`
	Outbound []EffectiveSecurityRule `json:"outbound"`
}

// maxViewSubnets bounds the subnets one NetworkViewRequest names.
const maxViewSubnets = 5000

// ServeNetworkView answers a NetworkViewRequest (POST, JSON) from the
// subscription's cached network: what Network Watcher's security group
// view and effective routes show, for a principal who may read the subnet
// or NSG (every subnet must be readable, or the request is refused).
func (s *Server) ServeNetworkView(w http.ResponseWriter, r *http.Request) {
	s.serveStudio(w, r, "network view", s.networkView)
}

func (s *Server) networkView(w http.ResponseWriter, r *http.Request, who string) error {
	var in NetworkViewRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if len(in.Subnets) > maxViewSubnets {
		return badField("subnets", "%d subnets; at most %d a request", len(in.Subnets), maxViewSubnets)
	}
	ctx := r.Context()
	sub := ""
	ids := make([]arm.ID, len(in.Subnets))
	for i, raw := range in.Subnets {
		id, err := arm.ParseID(raw, "")
		if err != nil || !strings.EqualFold(id.Type(), typeVNet+"/subnets") {
			return badField("subnets", "'%s' is not the id of a subnet", raw)
		}
		if sub == "" {
			sub = id.Subscription
		} else if !strings.EqualFold(sub, id.Subscription) {
			return badField("subnets", "%s is not in subscription %s: a view is of one subscription", id, sub)
		}
		if err := s.authorize(ctx, who, typeVNet+"/subnets/read", id.String()); err != nil {
			return err
		}
		ids[i] = id
	}
	var nsg arm.ID
	if in.NSG != "" {
		id, err := arm.ParseID(in.NSG, "")
		if err != nil || !strings.EqualFold(id.Type(), typeNSG) || (sub != "" && !strings.EqualFold(sub, id.Subscription)) {
			return badField("nsg", "'%s' is not the id of a network security group of the request's subscription", in.NSG)
		}
		if err := s.authorize(ctx, who, typeNSG+"/read", id.String()); err != nil {
			return err
		}
		nsg, sub = id, id.Subscription
	}
	out := NetworkView{Subnets: []SubnetView{}}
	if sub == "" {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	n, err := s.network(ctx, sub)
	if err != nil {
		return fmt.Errorf("network view of %s: %w", sub, err)
	}
	for _, id := range ids {
		v, err := subnetView(n, id, in.Effective)
		if err != nil {
			return err
		}
		out.Subnets = append(out.Subnets, v)
	}
	if !nsg.IsZero() {
		for _, v := range n.NSGs() {
			if v.NSG.Equal(nsg) {
				out.NSG = &RuleView{NSG: v.NSG.String(), Inbound: effectiveRules(v.Inbound), Outbound: effectiveRules(v.Outbound)}
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// subnetView is what the verifier computes of subnet id.
func subnetView(n *netverify.Network, id arm.ID, effective bool) (SubnetView, error) {
	free, ok := requirements.FreeAddresses(n.Snapshot(), id)
	if !ok {
		if why, excluded := n.Snapshot().Exclusion(id); excluded {
			return SubnetView{}, newError(http.StatusConflict, "InvalidNetworkConfiguration", "Subnet '%s' cannot be evaluated: %s", id, why)
		}
		return SubnetView{}, notFound(id)
	}
	v := SubnetView{ID: id.String(), Free: free}
	if !effective {
		return v, nil
	}
	i, err := n.Interface(id)
	if err != nil {
		return SubnetView{}, newError(http.StatusConflict, "InvalidNetworkConfiguration", "Subnet '%s' cannot be evaluated: %v", id, err)
	}
	v.Rules = &RuleView{Inbound: effectiveRules(i.EffectiveRules(resources.Inbound)), Outbound: effectiveRules(i.EffectiveRules(resources.Outbound))}
	if i.SubnetNSG != nil {
		v.Rules.NSG = i.SubnetNSG.NSG.String()
	}
	if v.Routes, err = n.EffectiveRoutes(id); err != nil {
		return SubnetView{}, newError(http.StatusConflict, "InvalidNetworkConfiguration", "Subnet '%s' cannot be evaluated: %v", id, err)
	}
	return v, nil
}

// effectiveRules renders compiled rules in Azure's effective-rule shape.
func effectiveRules(rules []netverify.EffectiveRule) []effectiveRule {
	out := make([]effectiveRule, len(rules))
	for i := range rules {
		out[i] = effectiveOf(&rules[i])
	}
	return out
}

// RecordTime is when a resource was first and last written.
type RecordTime struct{ Created, Updated time.Time }

// RecordTimes returns when the store first and last wrote each resource
// of type typ under scope (a jobs list's created and duration: the API's
// bodies carry no timestamps), keyed by arm.FoldKey of their ids. It needs
// what listing them needs: typ/read on the scope.
func (s *Server) RecordTimes(r *http.Request, scope, typ string) (map[string]RecordTime, error) {
	who, err := s.authenticate(r)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(r.Context(), who, typ+"/read", scope); err != nil {
		return nil, err
	}
	out := map[string]RecordTime{}
	q := store.Query{Scope: scope, Type: typ}
	for {
		page, err := s.store.List(r.Context(), q)
		if err != nil {
			return nil, fmt.Errorf("record times under %s: %w", scope, err)
		}
		for _, rec := range page.Records {
			out[arm.FoldKey(rec.ID)] = RecordTime{Created: rec.Created, Updated: rec.Updated}
		}
		if page.Next == "" {
			return out, nil
		}
		q.After = page.Next
	}
}

// CheckCompute is what `securetrain check` says of an existing compute:
// its required flows with their verdicts and explanations, and its
// findings, judged on the subscription's cached compiled network (the
// compute is in it; nothing is compiled per request). It needs
// computes/read on the compute and, since the explanations name the
// network's rules and routes, virtualNetworks/read on its VNet.
func (s *Server) CheckCompute(r *http.Request, id arm.ID) (requirements.ComputeReport, error) {
	start := time.Now()
	who, err := s.authenticate(r)
	var rep requirements.ComputeReport
	if err == nil {
		rep, err = s.checkCompute(r.Context(), who, id)
	}
	s.logCall("compute check", "compute", id.String(), who, start, err)
	return rep, err
}

func (s *Server) checkCompute(ctx context.Context, who string, id arm.ID) (requirements.ComputeReport, error) {
	if err := s.authorize(ctx, who, typeCompute+"/read", id.String()); err != nil {
		return requirements.ComputeReport{}, err
	}
	n, err := s.network(ctx, id.Subscription)
	if err != nil {
		return requirements.ComputeReport{}, fmt.Errorf("check of %s: %w", id, err)
	}
	c, ok := n.Snapshot().Lookup(id).(*resources.Compute)
	if !ok {
		return requirements.ComputeReport{}, newError(http.StatusNotFound, "ResourceNotFound", "Compute '%s' was not found in workspace '%s'.", id.Leaf(), id.Names[0])
	}
	if c.Subnet.IsSet() {
		vnet, _ := c.Subnet.ID.Parent()
		if err := s.authorize(ctx, who, typeVNet+"/read", vnet.String()); err != nil {
			return requirements.ComputeReport{}, err
		}
	}
	rep, err := requirements.CheckCompute(n, c, requirements.Options{})
	if err != nil {
		return requirements.ComputeReport{}, fmt.Errorf("check of %s: %w", id, err)
	}
	return rep, nil
}

// Referrers lists the resources whose bodies reference id (a public IP's
// load balancer, NAT gateway, firewall or network interface): what a
// resource is attached to, which Azure's bodies say only in part. It
// needs read on id, and lists only the referrers of Azure's types the
// principal may read, in id order (the store's index of references: no
// body is read).
func (s *Server) Referrers(r *http.Request, id arm.ID) ([]arm.ID, error) {
	start := time.Now()
	who, err := s.authenticate(r)
	var out []arm.ID
	if err == nil {
		out, err = s.referrers(r.Context(), who, id)
	}
	s.logCall("referrers", "resource", id.String(), who, start, err)
	return out, err
}

func (s *Server) referrers(ctx context.Context, who string, id arm.ID) ([]arm.ID, error) {
	if err := s.authorize(ctx, who, id.Type()+"/read", id.String()); err != nil {
		return nil, err
	}
	ids, err := s.store.Referrers(ctx, id.String())
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", id, err)
	}
	var out []arm.ID
	for _, raw := range ids {
		ref, err := arm.ParseID(raw, "")
		if err != nil || ref.Provider == "" || strings.HasPrefix(strings.ToLower(ref.Type()), "securetrain/") || arm.Within(ref.String(), id.String()) {
			continue // the server's own records, and id's own parts
		}
		ok, err := s.permitted(ctx, who, ref.Type()+"/read", ref.String(), false)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ref)
		}
	}
	return out, nil
}
