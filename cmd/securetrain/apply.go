package main

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// `securetrain apply -f ENV` creates or updates on the server every
// resource of an environment file: resource groups first, then resources
// in dependency order, then locks; one PUT each, stopping at the first
// error. apply never deletes.

const applySynopsis = "-f ENV [--url URL] [--token T]"

func runApply(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("apply", applySynopsis, stderr)
	file := fs.String("f", "", "environment `file` to apply (YAML or JSON)")
	c := addClientFlags(fs, false)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if *file == "" || len(rest) > 0 {
		return badUsage(fs, "expected -f ENV and no other arguments")
	}
	// References the file does not hold are looked up on the server, when
	// there is one to ask; the file's own problems come first either way.
	srv, srvErr := newServerClient(c)
	var exists func(arm.ID) (bool, error)
	if srvErr == nil {
		exists = srv.exists
	}
	plan, err := planApply(*file, exists)
	switch {
	case errors.Is(err, errAskingServer): // whether a reference holds is unknown
		fmt.Fprintf(stderr, "securetrain apply: %s:\n", *file)
		writeAPIError(stderr, err)
		fmt.Fprintln(stderr, "nothing was sent")
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "securetrain apply: %v\nnothing was sent\n", err)
		return exitBadInput
	case srvErr != nil:
		fmt.Fprintf(stderr, "securetrain apply: %v\n", srvErr)
		return exitBadInput
	}
	return plan.run(srv, stdout, stderr)
}

// applyEntry is one resource of the file, ready to send.
type applyEntry struct {
	index    int    // in the file's resources list
	pos      string // file:line
	id       arm.ID
	location string
	body     map[string]any
	deps     []int // indexes of the entries it must come after
}

func (e *applyEntry) label() string { return e.id.Type() + " " + e.id.Name() }

func (e *applyEntry) is(typ string) bool { return strings.EqualFold(e.id.Type(), typ) }

// implicitGroup is a resource group the file's resources use without
// declaring it.
type implicitGroup struct {
	id       arm.ID
	location string // of the first resource in it that has one ("" if none)
	from     string // that resource
}

type applyPlan struct {
	file     string
	groups   []*applyEntry // declared resource groups, in file order
	implicit []implicitGroup
	ordered  []*applyEntry // the other resources, dependency order; locks last
	// orphans are the children whose parent is not in the file (a
	// compute's workspace need not be): the server must have it.
	orphans []*applyEntry
}

// planApply reads and validates the file (a file with problems is refused
// before anything is sent), builds each resource's id and PUT body, and
// orders them.
func planApply(path string, exists func(arm.ID) (bool, error)) (*applyPlan, error) {
	data, err := resources.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The bytes validated are the bytes sent: one read, no window for the
	// file to change in between.
	if _, err := resources.DecodeFileResolving(path, data, exists); err != nil {
		var fe *resources.FileError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s has problems:\n%w", path, err)
		}
		return nil, err
	}
	doc, err := arm.ParseDocument(data)
	if err != nil { // unreachable: the decoder parsed it
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fileSub := strValue(doc.Get("subscription"))
	plan := &applyPlan{file: path}
	var all []*applyEntry
	byKey := map[string]*applyEntry{}
	for i, item := range doc.Get("resources").Items {
		e, err := newApplyEntry(path, i, item, fileSub)
		if err != nil {
			return nil, err
		}
		all = append(all, e)
		byKey[e.id.Key()] = e
	}
	// Resource groups used but not declared, each once, in file order.
	seenGroup := map[string]int{}
	for _, e := range all {
		if e.is(arm.TypeResourceGroup) {
			plan.groups = append(plan.groups, e)
			continue
		}
		if e.id.ResourceGroup == "" { // a subscription-level policy assignment
			continue
		}
		g := arm.ID{Subscription: e.id.Subscription, ResourceGroup: e.id.ResourceGroup}
		if byKey[g.Key()] != nil {
			continue
		}
		i, seen := seenGroup[g.Key()]
		if !seen {
			i = len(plan.implicit)
			seenGroup[g.Key()] = i
			plan.implicit = append(plan.implicit, implicitGroup{id: g})
		}
		// Azure has no "global" resource group: a DNS zone's location
		// does not place its group.
		if ig := &plan.implicit[i]; ig.location == "" && e.location != "" && !strings.EqualFold(e.location, "global") {
			ig.location, ig.from = e.location, e.label()
		}
	}
	ordered, err := orderEntries(all, byKey)
	if err != nil {
		return nil, err
	}
	plan.ordered = ordered
	for _, e := range ordered {
		if p, ok := e.id.Parent(); ok && owner(p, byKey) == nil {
			plan.orphans = append(plan.orphans, e)
		}
	}
	return plan, nil
}

// newApplyEntry builds the id and PUT body of resources[i]. The file is
// valid, so the envelope fields are there and well-formed.
func newApplyEntry(path string, i int, item *arm.Value, fileSub string) (*applyEntry, error) {
	sub := strValue(item.Get("subscription"))
	if sub == "" {
		sub = fileSub
	}
	typ, name := strValue(item.Get("type")), strValue(item.Get("name"))
	id, err := arm.NewID(sub, strValue(item.Get("resourceGroup")), typ, name)
	if err != nil { // unreachable: the decoder built the same id
		return nil, fmt.Errorf("%s:%d: %w", path, item.Line, err)
	}
	obj, err := toJSONValue(item)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	body := obj.(map[string]any)
	for _, k := range []string{"subscription", "resourceGroup", "name", "type", "id"} {
		delete(body, k) // the URL says them
	}
	// ARM knows only full ids: /resourceGroups/… ids, a file shorthand,
	// are sent with the resource's subscription.
	body = expandShortIDs(body, sub).(map[string]any)
	e := &applyEntry{index: i, pos: fmt.Sprintf("%s:%d", path, item.Line), id: id, body: body}
	e.location, _ = body["location"].(string)
	switch {
	case e.is(arm.TypeResourceGroup):
		// The resource group endpoint takes location, tags and managedBy
		// only, tags as strings; the file format ignores the rest here.
		e.body = map[string]any{"location": body["location"]}
		if tags, ok := body["tags"].(map[string]any); ok {
			st := map[string]any{}
			for k, v := range tags {
				if v != nil {
					st[k] = fmt.Sprint(v)
				}
			}
			e.body["tags"] = st
		}
		if m, ok := body["managedBy"].(string); ok {
			e.body["managedBy"] = m
		}
	case e.is(resources.TypeLock):
		// A lock has properties only; the file format ignores location.
		e.body = map[string]any{"properties": body["properties"]}
	}
	return e, nil
}

// strValue is a string value's text, or "" for anything else (and nil).
func strValue(v *arm.Value) string {
	if v == nil || v.Kind != arm.String {
		return ""
	}
	return v.Str
}

// toJSONValue converts a file's value tree to what encoding/json encodes.
// YAML numbers JSON cannot spell (0x1F, 1_000, 010) are rewritten in
// decimal, as the decoder reads them.
func toJSONValue(v *arm.Value) (any, error) {
	switch v.Kind {
	case arm.Null:
		return nil, nil
	case arm.Bool:
		return v.Str == "true", nil
	case arm.String:
		return v.Str, nil
	case arm.Number:
		n, err := jsonNumber(v.Str)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", v.Line, err)
		}
		return n, nil
	case arm.Array:
		out := make([]any, len(v.Items))
		for i, it := range v.Items {
			c, err := toJSONValue(it)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	out := make(map[string]any, len(v.Keys))
	for i, k := range v.Keys {
		if v.Fields[i].Kind == arm.Null {
			continue // null is an absent field in a file; so it is sent
		}
		c, err := toJSONValue(v.Fields[i])
		if err != nil {
			return nil, err
		}
		out[k] = c
	}
	return out, nil
}

func jsonNumber(s string) (json.Number, error) {
	if json.Valid([]byte(s)) {
		return json.Number(s), nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil { // 010, +5
		return json.Number(strconv.FormatInt(i, 10)), nil
	}
	if i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil { // 0x1F, 0o17, 1_000
		return json.Number(strconv.FormatInt(i, 10)), nil
	}
	if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	return "", fmt.Errorf("the number %s cannot be written in JSON", s)
}

// expandShortIDs rewrites /resourceGroups/… ids as full ids in sub.
func expandShortIDs(v any, sub string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = expandShortIDs(c, sub)
		}
	case []any:
		for i, c := range x {
			x[i] = expandShortIDs(c, sub)
		}
	case string:
		if hasPrefixFold(x, "/resourceGroups/") {
			if id, err := arm.ParseID(x, sub); err == nil {
				return id.String()
			}
		}
	}
	return v
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// owner is the entry of the file that holds id: the resource itself, or
// for a nested child or part (a subnet, a load balancer's pool) the
// closest enclosing resource of the file; nil when none is in the file.
func owner(id arm.ID, byKey map[string]*applyEntry) *applyEntry {
	for {
		if e := byKey[id.Key()]; e != nil {
			return e
		}
		p, ok := id.Parent()
		if !ok {
			return nil
		}
		id = p
	}
}

// endpointOfNIC reports whether ref is the private endpoint a NIC body
// says it was created for.
func endpointOfNIC(body map[string]any, ref arm.ID) bool {
	props, _ := body["properties"].(map[string]any)
	pe, _ := props["privateEndpoint"].(map[string]any)
	s, _ := pe["id"].(string)
	id, err := arm.ParseID(s, ref.Subscription)
	return err == nil && id.Equal(ref)
}

// orderEntries orders the resources other than resource groups so that
// each comes after its parent and after every resource of the file it
// references; of the resources ready to go, the earliest in the file goes
// first. Locks come last, as a ReadOnly lock refuses later writes under
// it. A cycle is an error.
func orderEntries(all []*applyEntry, byKey map[string]*applyEntry) ([]*applyEntry, error) {
	dependOn := func(e, on *applyEntry) {
		if on != nil && on != e && !on.is(arm.TypeResourceGroup) {
			e.deps = append(e.deps, on.index)
		}
	}
	// A compute without public IP needs its workspace's private endpoint
	// in place (Azure refuses it otherwise): computes come after the
	// private endpoints of the file that link to their workspace.
	endpointsOf := map[string][]*applyEntry{}
	for _, e := range all {
		if !e.is(resources.TypePrivateEndpoint) {
			continue
		}
		for _, ref := range arm.IDsIn(e.body, e.id.Subscription) {
			if strings.EqualFold(ref.Type(), resources.TypeWorkspace) {
				endpointsOf[ref.Key()] = append(endpointsOf[ref.Key()], e)
			}
		}
	}
	var rest, locks []*applyEntry
	for _, e := range all {
		switch {
		case e.is(arm.TypeResourceGroup):
			continue
		case e.is(resources.TypeLock):
			locks = append(locks, e)
			continue
		}
		rest = append(rest, e)
		if p, ok := e.id.Parent(); ok {
			dependOn(e, owner(p, byKey))
		}
		for _, ref := range arm.IDsIn(e.body, e.id.Subscription) {
			if e.is(resources.TypeNIC) && endpointOfNIC(e.body, ref) {
				// Azure's back-reference from the NIC it created for a
				// private endpoint: the NIC goes first and the endpoint,
				// which names it, adopts it with its address.
				continue
			}
			dependOn(e, owner(ref, byKey))
		}
		if e.is(resources.TypeCompute) {
			ws, _ := e.id.Parent()
			for _, pe := range endpointsOf[ws.Key()] {
				dependOn(e, pe)
			}
		}
	}
	// Kahn's algorithm, taking the earliest ready entry in file order.
	byIndex := map[int]*applyEntry{}
	waiting := map[int]int{}
	dependents := map[int][]int{}
	for _, e := range rest {
		byIndex[e.index] = e
	}
	for _, e := range rest {
		seen := map[int]bool{}
		for _, d := range e.deps {
			if !seen[d] && byIndex[d] != nil {
				seen[d] = true
				waiting[e.index]++
				dependents[d] = append(dependents[d], e.index)
			}
		}
	}
	ready := &indexHeap{}
	for _, e := range rest {
		if waiting[e.index] == 0 {
			heap.Push(ready, e.index)
		}
	}
	out := make([]*applyEntry, 0, len(rest)+len(locks))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		out = append(out, byIndex[i])
		for _, d := range dependents[i] {
			if waiting[d]--; waiting[d] == 0 {
				heap.Push(ready, d)
			}
		}
	}
	if len(out) < len(rest) {
		return nil, cycleError(rest, byIndex, waiting)
	}
	return append(out, locks...), nil
}

// cycleError names one cycle among the entries still waiting.
func cycleError(rest []*applyEntry, byIndex map[int]*applyEntry, waiting map[int]int) error {
	// Every waiting entry waits on another waiting one: walking those
	// links from any of them must revisit an entry, which closes a cycle.
	var start *applyEntry
	for _, e := range rest {
		if waiting[e.index] > 0 {
			start = e
			break
		}
	}
	step := map[int]int{}
	var path []*applyEntry
	e := start
	for {
		if at, ok := step[e.index]; ok {
			path = path[at:]
			break
		}
		step[e.index] = len(path)
		path = append(path, e)
		for _, d := range e.deps {
			if byIndex[d] != nil && waiting[d] > 0 {
				e = byIndex[d]
				break
			}
		}
	}
	names := make([]string, 0, len(path)+1)
	for _, e := range path {
		names = append(names, fmt.Sprintf("%s (%s)", e.label(), e.pos))
	}
	names = append(names, path[0].label())
	return fmt.Errorf("these resources reference each other, so no order creates them one at a time:\n  %s\n"+
		"declare one of the references as a standalone child (for VNet peerings: type Microsoft.Network/virtualNetworks/virtualNetworkPeerings, name VNET/PEERING) to break the cycle",
		strings.Join(names, "\n  -> "))
}

// indexHeap is a min-heap of file indexes.
type indexHeap []int

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h indexHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *indexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// run sends the plan: one PUT per resource, progress on stdout, the first
// error on stderr (exit 1).
func (p *applyPlan) run(srv *serverClient, stdout, stderr io.Writer) int {
	total := len(p.groups) + len(p.ordered)
	done := 0
	counts := map[string]int{}
	apply := func(e *applyEntry) error {
		verb, err := srv.put(e)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain apply: [%d/%d] %s (%s):\n", done+1, total, e.label(), e.pos)
			writeAPIError(stderr, err)
			fmt.Fprintf(stderr, "stopped: %d of %d resources applied; the rest were not sent\n", done, total)
			return err
		}
		done++
		counts[verb]++
		fmt.Fprintf(stdout, "[%d/%d] %s %s\n", done, total, verb, e.label())
		return nil
	}
	// A missing parent would stop apply half way: look before writing.
	var missing []string
	for _, e := range p.orphans {
		parent, _ := e.id.Parent()
		_, err := srv.do(http.MethodGet, parent.String(), nil)
		var ae *armError
		switch {
		case errors.As(err, &ae) && ae.status == http.StatusNotFound:
			missing = append(missing, fmt.Sprintf("%s (%s) needs %s %s", e.label(), e.pos, parent.Type(), parent.Name()))
		case err != nil:
			fmt.Fprintln(stderr, "securetrain apply: looking for the parents the file does not declare:")
			writeAPIError(stderr, err)
			return 1
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "securetrain apply: these resources need a parent that is neither in %s nor on the server:\n  %s\nnothing was sent\n",
			p.file, strings.Join(missing, "\n  "))
		return 1
	}
	for _, e := range p.groups {
		if apply(e) != nil {
			return 1
		}
	}
	for _, g := range p.implicit {
		created, err := srv.ensureGroup(g)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain apply: resource group %s (used in %s, not declared in it):\n", g.id.ResourceGroup, p.file)
			writeAPIError(stderr, err)
			fmt.Fprintf(stderr, "stopped: %d of %d resources applied; the rest were not sent\n", done, total)
			return 1
		}
		if created {
			fmt.Fprintf(stdout, "created resource group %s in %s (not declared in the file; location of %s)\n", g.id.ResourceGroup, g.location, g.from)
		}
	}
	for _, e := range p.ordered {
		if apply(e) != nil {
			return 1
		}
	}
	var parts []string
	for _, verb := range []string{"created", "updated", "unchanged"} {
		if counts[verb] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[verb], verb))
		}
	}
	summary := "nothing to apply"
	if len(parts) > 0 {
		summary = strings.Join(parts, ", ")
	}
	fmt.Fprintf(stdout, "applied %s: %s\n", p.file, summary)
	return 0
}

// put sends e and waits for a long-running operation to finish. It
// returns what happened, read from the resource before and after (the
// status code cannot tell: Azure answers 200 to some creates and 201 to
// some updates): created, updated, or unchanged.
func (s *serverClient) put(e *applyEntry) (string, error) {
	body, err := json.Marshal(e.body)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", e.id, err)
	}
	before, err := s.current(e.id.String())
	if err != nil {
		return "", err
	}
	resp, err := s.do(http.MethodPut, e.id.String(), body)
	if err != nil {
		return "", err
	}
	if err := s.await(resp, e.id.String()); err != nil {
		return "", err
	}
	after := resp.body
	if resp.header.Get("Azure-AsyncOperation") != "" { // the answer was the state at the start
		if after, err = s.current(e.id.String()); err != nil {
			return "", err
		}
	}
	switch {
	case before == nil:
		return "created", nil
	case withoutETag(before) == withoutETag(after):
		return "unchanged", nil
	}
	return "updated", nil
}

// exists tells whether the server holds id (a reference the file being
// applied does not hold).
func (s *serverClient) exists(id arm.ID) (bool, error) {
	body, err := s.current(id.String())
	if err != nil {
		return false, fmt.Errorf("%w: %w", errAskingServer, err)
	}
	return body != nil, nil
}

// errAskingServer marks a failure to ask the server about a reference.
var errAskingServer = errors.New("asking the server")

// current is the server's body of id, or nil when it has none.
func (s *serverClient) current(id string) ([]byte, error) {
	resp, err := s.do(http.MethodGet, id, nil)
	var ae *armError
	if errors.As(err, &ae) && ae.status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// withoutETag is a body's JSON, keys sorted, without its etags: what a
// write changed, whatever the server stamps on every write.
func withoutETag(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "etag")
			for _, c := range x {
				strip(c)
			}
		case []any:
			for _, c := range x {
				strip(c)
			}
		}
	}
	strip(v)
	out, _ := json.Marshal(v) // decoded JSON always encodes
	return string(out)
}

// ensureGroup creates g unless the server has it.
func (s *serverClient) ensureGroup(g implicitGroup) (bool, error) {
	_, err := s.do(http.MethodGet, g.id.String(), nil)
	var ae *armError
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &ae) || ae.status != http.StatusNotFound:
		return false, err
	case g.location == "":
		return false, fmt.Errorf("resource group %s is neither in the file nor on the server, and no resource in it has a location to create it in: declare it in the file", g.id.ResourceGroup)
	}
	body, _ := json.Marshal(map[string]string{"location": g.location}) // strings always encode
	_, err = s.do(http.MethodPut, g.id.String(), body)
	return err == nil, err
}

// Polling of long-running operations.
const (
	pollLimit   = 10 * time.Minute
	defaultPoll = time.Second
	maxPoll     = time.Minute
)

// await follows a PUT's Azure-AsyncOperation to a terminal status, unless
// the body already has one in properties.provisioningState.
func (s *serverClient) await(resp *response, target string) error {
	var body struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(resp.body, &body) // a body without it is not terminal
	state := body.Properties.ProvisioningState
	op := resp.header.Get("Azure-AsyncOperation")
	deadline := time.Now().Add(pollLimit)
	next := resp
	for op != "" && !terminal(state) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the operation %s did not finish within %s (last status %q)", target, op, pollLimit, state)
		}
		time.Sleep(retryAfter(next.header))
		var err error
		if next, err = s.do(http.MethodGet, op, nil); err != nil {
			return fmt.Errorf("polling the operation of %s: %w", target, err)
		}
		var st struct {
			Status string    `json:"status"`
			Error  *armError `json:"error"`
		}
		if err := json.Unmarshal(next.body, &st); err != nil {
			return fmt.Errorf("polling the operation of %s: %s is not an operation status: %w", target, op, err)
		}
		state = st.Status
		if strings.EqualFold(state, "Failed") || strings.EqualFold(state, "Canceled") {
			if st.Error != nil && st.Error.Code != "" {
				st.Error.method, st.Error.path, st.Error.status = "PUT", target, resp.status
				return fmt.Errorf("the operation %s: %w", state, st.Error)
			}
		}
	}
	if strings.EqualFold(state, "Failed") || strings.EqualFold(state, "Canceled") {
		return fmt.Errorf("PUT %s: the operation ended %s", target, state)
	}
	return nil
}

func terminal(state string) bool {
	for _, t := range []string{"Succeeded", "Failed", "Canceled"} {
		if strings.EqualFold(state, t) {
			return true
		}
	}
	return false
}

// retryAfter reads the poll interval the server asks for: retry-after-ms,
// then Retry-After in seconds.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.Atoi(h.Get("Retry-After-Ms")); err == nil && ms >= 0 {
		return min(time.Duration(ms)*time.Millisecond, maxPoll)
	}
	if sec, err := strconv.Atoi(h.Get("Retry-After")); err == nil && sec >= 0 {
		return min(time.Duration(sec)*time.Second, maxPoll)
	}
	return defaultPoll
}
