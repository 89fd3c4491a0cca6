package studio

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"securetrain/internal/api"
	"securetrain/internal/arm"
	"securetrain/internal/provision"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
)

// The Compute page, the + New wizard and its pre-flight panel, and a
// compute's own page.

// workspaceOf reads the ws query parameter: a workspace's id.
func workspaceOf(v string) (arm.ID, error) {
	id, err := arm.ParseID(v, "")
	if err != nil {
		return arm.ID{}, fmt.Errorf("workspace %q: %w", v, err)
	}
	if !strings.EqualFold(id.Type(), resources.TypeWorkspace) {
		return arm.ID{}, fmt.Errorf("workspace %q: the id of a %s is needed, not of a %s", v, resources.TypeWorkspace, id.Type())
	}
	return id, nil
}

// computeRow is a compute as the Compute page lists it.
type computeRow struct {
	ID, Name, Type, VMSize, Nodes string
	// State is provisioningState, then the instance's state or the
	// cluster's allocation state.
	State, Detail string
	// VNet and Subnet are names; SubnetID the subnet's id ("" outside a
	// VNet).
	VNet, Subnet, SubnetID string
	PublicIP               bool
	// MinNodes and MaxNodes are a cluster's scale settings.
	MinNodes, MaxNodes int
	Created            []createdLink
	Errors             []string
}

// createdLink is a resource Azure ML created for a compute, as a page
// links to it (strings: the page of 1,000 computes renders them without
// a method call each).
type createdLink struct{ ID, Type, Name string }

// createdLinks lists what Azure ML created for c.
func createdLinks(c *resources.Compute) []createdLink {
	ids := provision.CreatedFor(c)
	out := make([]createdLink, len(ids))
	for i, id := range ids {
		out[i] = createdLink{ID: id.String(), Type: id.Type(), Name: id.Leaf()}
	}
	return out
}

// listedCompute is what the Compute page reads of a compute's body as
// the API returns it: its shape was validated when it was written, and
// provisioning owns the runtime fields. Read with encoding/json (about
// 20 times cheaper than the full typed decode, which a page of 1,000
// computes cannot afford); the one default that matters here is Azure's:
// enableNodePublicIp is true when absent.
type listedCompute struct {
	ID         string `json:"id"`
	Location   string `json:"location"`
	Properties struct {
		ComputeType        string `json:"computeType"`
		ComputeLocation    string `json:"computeLocation"`
		ProvisioningState  string `json:"provisioningState"`
		ProvisioningErrors []struct {
			Error struct{ Code, Message string } `json:"error"`
		} `json:"provisioningErrors"`
		Properties struct {
			VMSize             string `json:"vmSize"`
			EnableNodePublicIP *bool  `json:"enableNodePublicIp"`
			Subnet             struct {
				ID string `json:"id"`
			} `json:"subnet"`
			ScaleSettings struct {
				MinNodeCount int `json:"minNodeCount"`
				MaxNodeCount int `json:"maxNodeCount"`
			} `json:"scaleSettings"`
			State            string `json:"state"`
			AllocationState  string `json:"allocationState"`
			CurrentNodeCount int    `json:"currentNodeCount"`
			TargetNodeCount  int    `json:"targetNodeCount"`
		} `json:"properties"`
	} `json:"properties"`
}

// rowOf reads a compute's body.
func rowOf(body []byte) (computeRow, error) {
	var lc listedCompute
	if err := json.Unmarshal(body, &lc); err != nil {
		return computeRow{}, err
	}
	id, err := arm.ParseID(lc.ID, "")
	if err != nil {
		return computeRow{}, err
	}
	p, inner := lc.Properties, lc.Properties.Properties
	c := &resources.Compute{Meta: resources.Meta{ID: id, Location: lc.Location}, ComputeType: p.ComputeType, ComputeLocation: p.ComputeLocation,
		VMSize: inner.VMSize, EnableNodePublicIP: inner.EnableNodePublicIP == nil || *inner.EnableNodePublicIP}
	if inner.Subnet.ID != "" {
		if c.Subnet.ID, err = arm.ParseID(inner.Subnet.ID, ""); err != nil {
			return computeRow{}, fmt.Errorf("compute %s: subnet: %w", id, err)
		}
	}
	row := computeRow{ID: id.String(), Name: id.Leaf(), Type: c.ComputeType, VMSize: c.VMSize, PublicIP: c.EnableNodePublicIP,
		State: p.ProvisioningState, Created: createdLinks(c)}
	if c.ComputeType == resources.ComputeInstance {
		row.Detail, row.Nodes = inner.State, "1"
	} else {
		row.Detail = inner.AllocationState
		row.MinNodes, row.MaxNodes = inner.ScaleSettings.MinNodeCount, inner.ScaleSettings.MaxNodeCount
		row.Nodes = fmt.Sprintf("%d of %d (%d–%d)", inner.CurrentNodeCount, inner.TargetNodeCount, inner.ScaleSettings.MinNodeCount, inner.ScaleSettings.MaxNodeCount)
	}
	if c.Subnet.IsSet() {
		vnet, _ := c.Subnet.ID.Parent()
		row.VNet, row.Subnet, row.SubnetID = vnet.Leaf(), c.Subnet.ID.Leaf(), c.Subnet.ID.String()
	}
	for _, pe := range p.ProvisioningErrors {
		row.Errors = append(row.Errors, pe.Error.Code+": "+pe.Error.Message)
	}
	return row, nil
}

// computeWrite is the action creating a compute needs.
const computeWrite = resources.TypeCompute + "/write"

// computePage lists a workspace's compute instances or clusters.
func (s *Studio) computePage(w http.ResponseWriter, r *http.Request, sess session) {
	ws, err := workspaceOf(r.URL.Query().Get("ws"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	tab := r.URL.Query().Get("tab")
	if tab != "clusters" {
		tab = "instances"
	}
	want := map[string]string{"instances": resources.ComputeInstance, "clusters": resources.ComputeAml}[tab]
	// The API lists the tab's computes from its index and reads only the
	// page's bodies; a page past the end (the list shrank since the link
	// was made) is asked again as the last one.
	asked, err := pageAsked(r)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	asAPI := s.apiRequest(r, sess, http.MethodGet, "/", nil)
	offset := min(asked-1, math.MaxInt32) * listPage // past any list's end, without overflow
	list, err := s.api.ListComputes(asAPI, ws, want, offset, listPage)
	if err != nil {
		s.fail(w, r, sess, answered(err))
		return
	}
	lo, _, pages, _ := paginate(r, len(list.Computes)) // ?page= was read above
	if lo != offset {
		if list, err = s.api.ListComputes(asAPI, ws, want, lo, listPage); err != nil {
			s.fail(w, r, sess, answered(err))
			return
		}
	}
	data := struct {
		Workspace arm.ID
		Tab       string
		CanCreate bool
		Rows      []computeRow
		Pages     pager
	}{Workspace: ws, Tab: tab, Pages: pages}
	for _, b := range list.Bodies {
		row, err := rowOf(b)
		if err != nil {
			s.fail(w, r, sess, fmt.Errorf("a compute of %s: %w", ws, err))
			return
		}
		data.Rows = append(data.Rows, row)
	}
	if data.CanCreate, err = s.api.Permitted(s.apiRequest(r, sess, http.MethodGet, "/", nil), computeWrite, ws.String()); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, http.StatusOK, "compute", sess, page{Title: "Compute — " + ws.Leaf(), Data: data})
}

// viewCompute is a compute's page: its state, nodes, what Azure ML
// created for it, why provisioning failed, the flows it needs with the
// verifier's verdicts, and the actions the principal may take. It
// reloads itself while an operation runs.
func (s *Studio) viewCompute(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := computeOf(r.URL.Query().Get("id"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	rec := s.call(r, sess, http.MethodGet, apiPath(id, apiVersion(resources.TypeCompute)), nil)
	if err := decodeAnswer(rec, nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	row, err := rowOf(rec.Body.Bytes())
	if err != nil {
		s.fail(w, r, sess, fmt.Errorf("compute %s: %w", id, err))
		return
	}
	ws, _ := id.Parent()
	data := struct {
		Row       computeRow
		Workspace arm.ID
		Nodes     []map[string]any
		NodesNote string
		// Report is what `securetrain check` says of the compute;
		// ReportNote why it is not shown.
		Report     requirements.ComputeReport
		ReportNote string
		// Can says which actions the principal may take (to offer them;
		// the API decides).
		Can map[string]bool
	}{Row: row, Workspace: ws}
	var nodes struct {
		Nodes []map[string]any `json:"nodes"`
	}
	nodesPath := childPath(id, "listNodes", apiVersion(resources.TypeCompute))
	if err := decodeAnswer(s.call(r, sess, http.MethodPost, nodesPath, nil), &nodes); err != nil {
		data.NodesNote = "Nodes are not shown: " + err.Error()
	}
	data.Nodes = nodes.Nodes
	if data.Report, err = s.api.CheckCompute(s.apiRequest(r, sess, http.MethodGet, "/", nil), id); err != nil {
		if err = answered(err); !errors.As(err, new(*armError)) {
			s.fail(w, r, sess, err)
			return
		}
		data.ReportNote = "Required flows are not shown: " + err.Error()
	}
	if data.Can, err = s.computeActions(r, sess, id, row); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	refresh := 0
	if !terminal(row.State) || changing[row.Detail] {
		refresh = 2
	}
	s.render(w, http.StatusOK, "view", sess, page{Title: row.Name, Refresh: refresh, Data: data})
}

// changing are the instance and allocation states an action passes
// through.
var changing = map[string]bool{"Resizing": true, "Stopping": true, "Starting": true, "Restarting": true}

// terminal reports whether a provisioning state is final.
func terminal(state string) bool {
	switch state {
	case "Succeeded", "Failed", "Canceled":
		return true
	}
	return false
}

// computeForm is the + New wizard's form.
type computeForm struct {
	Workspace          arm.ID
	Kind               string // "instance" or "cluster"
	Name, VMSize       string
	MinNodes, MaxNodes int
	VNet               bool
	Subnet             string
	NoPublicIP, SSH    bool
	SSHKey             string
}

// formError is a wizard field that breaks a rule.
type formError struct{ Field, Rule string }

func (e *formError) Error() string { return e.Field + ": " + e.Rule }

// readComputeForm reads and checks the wizard's fields; the error names
// the field and its rule. Azure's own rules (names, sizes, subnets) are
// the API's and the pre-flight's to say.
func readComputeForm(v url.Values) (computeForm, error) {
	f := computeForm{Kind: v.Get("kind"), Name: strings.TrimSpace(v.Get("name")), VMSize: v.Get("vmSize"),
		VNet: v.Get("vnet") == "on", Subnet: v.Get("subnet"), NoPublicIP: v.Get("noPublicIp") == "on",
		SSH: v.Get("ssh") == "on", SSHKey: strings.TrimSpace(v.Get("sshKey"))}
	ws, err := workspaceOf(v.Get("ws"))
	if err != nil {
		return f, err
	}
	f.Workspace = ws
	switch {
	case f.Kind != "instance" && f.Kind != "cluster":
		return f, &formError{"Compute type", "choose Compute instance or Compute cluster"}
	case f.Name == "":
		return f, &formError{"Name", "a compute needs a name"}
	case strings.ContainsFunc(f.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	}):
		return f, &formError{fmt.Sprintf("Name %q", f.Name), "use letters, digits and hyphens"}
	case f.VMSize == "":
		return f, &formError{"Virtual machine size", "choose one"}
	case f.VNet && f.Subnet == "":
		return f, &formError{"Subnet", "with Enable virtual network, choose a subnet"}
	case f.NoPublicIP && !f.VNet:
		return f, &formError{"No Public IP", "needs Enable virtual network and a subnet"}
	case f.SSH && f.SSHKey == "":
		return f, &formError{"SSH public key", "SSH access needs the key to admit"}
	}
	if f.VNet {
		if id, err := arm.ParseID(f.Subnet, ""); err != nil || !strings.EqualFold(id.Type(), resources.TypeSubnet) {
			return f, &formError{fmt.Sprintf("Subnet %q", f.Subnet), "the id of a subnet is needed"}
		}
	}
	if f.Kind != "cluster" {
		return f, nil
	}
	minRaw, maxRaw := v.Get("minNodes"), v.Get("maxNodes")
	if f.MinNodes, err = strconv.Atoi(minRaw); err != nil || f.MinNodes < 0 {
		return f, &formError{fmt.Sprintf("Minimum number of nodes %q", minRaw), "a whole number, 0 or more"}
	}
	if f.MaxNodes, err = strconv.Atoi(maxRaw); err != nil || f.MaxNodes < 1 {
		return f, &formError{fmt.Sprintf("Maximum number of nodes %q", maxRaw), "a whole number, 1 or more"}
	}
	if f.MinNodes > f.MaxNodes {
		return f, &formError{fmt.Sprintf("Minimum number of nodes %d", f.MinNodes), fmt.Sprintf("at most the maximum, %d", f.MaxNodes)}
	}
	return f, nil
}

// id is the compute's id.
func (f computeForm) id() arm.ID { return f.Workspace.Child("computes", f.Name) }

// body is the compute's PUT body in the workspace's location.
func (f computeForm) body(location string) map[string]any {
	inner := map[string]any{"vmSize": f.VMSize, "enableNodePublicIp": !f.NoPublicIP}
	if f.VNet {
		inner["subnet"] = map[string]any{"id": f.Subnet}
	}
	access := map[bool]string{true: "Enabled", false: "Disabled"}[f.SSH]
	computeType := resources.ComputeInstance
	if f.Kind == "cluster" {
		computeType = resources.ComputeAml
		inner["scaleSettings"] = map[string]any{"minNodeCount": f.MinNodes, "maxNodeCount": f.MaxNodes}
		inner["remoteLoginPortPublicAccess"] = access
		if f.SSH {
			inner["userAccountCredentials"] = map[string]any{"adminUserName": "azureuser", "adminUserSshPublicKey": f.SSHKey}
		}
	} else {
		ssh := map[string]any{"sshPublicAccess": access}
		if f.SSH {
			ssh["adminPublicKey"] = f.SSHKey
		}
		inner["sshSettings"] = ssh
	}
	return map[string]any{"location": location, "properties": map[string]any{"computeType": computeType, "properties": inner}}
}

// workspaceLocation reads a workspace's location through the API.
func (s *Studio) workspaceLocation(r *http.Request, sess session, ws arm.ID) (string, error) {
	var body struct{ Location string }
	err := s.get(r, sess, apiPath(ws, apiVersion(resources.TypeWorkspace)), &body)
	return body.Location, err
}

// subnetChoice is a subnet as the wizard offers it.
type subnetChoice struct {
	ID, VNet, Name, Location string
	Prefixes, VNetSpace      []string
	NSG                      string
	Delegations              []string
	Usable                   int
}

// subnets lists the subnets of the subscription's VNets the principal
// may read.
func (s *Studio) subnets(r *http.Request, sess session, sub string) ([]subnetChoice, error) {
	bodies, err := s.list(r, sess, "/subscriptions/"+sub+"/providers/"+resources.TypeVirtualNetwork+"?api-version="+apiVersion(resources.TypeVirtualNetwork))
	if err != nil {
		return nil, err
	}
	var out []subnetChoice
	for _, b := range bodies {
		snap, err := resources.DecodeStored(b)
		if err != nil || len(snap.VirtualNetworks) != 1 {
			return nil, fmt.Errorf("a virtual network of subscription %s: %v", sub, err)
		}
		vnet := snap.VirtualNetworks[0]
		space := make([]string, len(vnet.AddressSpace))
		for i, p := range vnet.AddressSpace {
			space[i] = p.String()
		}
		for _, sn := range vnet.Subnets {
			c := subnetChoice{ID: sn.ID.String(), VNet: vnet.ID.Leaf(), Name: sn.ID.Leaf(), Location: vnet.Location, VNetSpace: space}
			for _, p := range sn.AddressPrefixes {
				c.Prefixes = append(c.Prefixes, p.String())
			}
			c.Usable = requirements.UsableAddresses(sn)
			if sn.NetworkSecurityGroup.IsSet() {
				c.NSG = sn.NetworkSecurityGroup.ID.Leaf()
			}
			for _, d := range sn.Delegations {
				c.Delegations = append(c.Delegations, d.ServiceName)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// sizeChoice is a VM size as the wizard offers it, with its family's
// cores left in the workspace's region.
type sizeChoice struct {
	provision.Size
	Left, Limit int
}

// quotaLeft is what the wizard shows of the quotas: each size with its
// family's cores left, the region's total left, or why they are not
// shown (Note; the sizes are then listed without them).
type quotaLeft struct {
	Sizes                []sizeChoice
	Region, Note         string
	TotalLeft, TotalUsed int
	TotalLimit           int
}

// quotaLeft reads the usages of the workspace's region through the API
// (Azure ML's usages: one pass over the subscription's nodes). A
// principal who may not read them (they need a role on the subscription)
// sees the sizes without them and why.
func (s *Studio) quotaLeft(r *http.Request, sess session, ws arm.ID) (quotaLeft, error) {
	var q quotaLeft
	for _, size := range provision.Sizes() {
		q.Sizes = append(q.Sizes, sizeChoice{Size: size})
	}
	location, err := s.workspaceLocation(r, sess, ws)
	if err != nil {
		return q, err
	}
	var used struct {
		Value []struct {
			CurrentValue, Limit int
			Name                struct{ Value string }
		}
	}
	const usages = "Microsoft.MachineLearningServices/locations/usages"
	path := "/subscriptions/" + ws.Subscription + "/providers/Microsoft.MachineLearningServices/locations/" + url.PathEscape(location) +
		"/usages?api-version=" + apiVersion(usages)
	if err := s.get(r, sess, path, &used); err != nil {
		if !errors.As(err, new(*armError)) {
			return q, err
		}
		q.Note = "Quota left is not shown: " + err.Error()
		return q, nil
	}
	q.Region = location
	left := map[string][2]int{}
	for _, u := range used.Value {
		left[u.Name.Value] = [2]int{max(u.Limit-u.CurrentValue, 0), u.Limit}
		if u.Name.Value == "cores" {
			q.TotalLeft, q.TotalUsed, q.TotalLimit = max(u.Limit-u.CurrentValue, 0), u.CurrentValue, u.Limit
		}
	}
	for i, size := range q.Sizes {
		q.Sizes[i].Left, q.Sizes[i].Limit = left[size.Family][0], left[size.Family][1]
	}
	return q, nil
}

// newComputePage is the + New wizard: VM size, then Advanced settings,
// beside the pre-flight panel.
func (s *Studio) newComputePage(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	ws, err := workspaceOf(q.Get("ws"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	kind := q.Get("kind")
	if kind != "cluster" {
		kind = "instance"
	}
	form := computeForm{Workspace: ws, Kind: kind, VMSize: provision.DefaultVMSize, MaxNodes: 2}
	s.renderWizard(w, r, sess, http.StatusOK, form, "")
}

// renderWizard shows the wizard with form's values and an error.
func (s *Studio) renderWizard(w http.ResponseWriter, r *http.Request, sess session, status int, form computeForm, problem string) {
	if !s.allowed(w, r, sess, computeWrite, form.Workspace, "create computes") {
		return
	}
	subnets, err := s.subnets(r, sess, form.Workspace.Subscription)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	quota, err := s.quotaLeft(r, sess, form.Workspace)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	data := struct {
		Form    computeForm
		Quota   quotaLeft
		Subnets []subnetChoice
	}{form, quota, subnets}
	s.render(w, status, "new", sess, page{Title: "New compute — " + form.Workspace.Leaf(), Error: problem, Data: data})
}

// createCompute sends the wizard's compute to the API and goes to its
// page; a refusal shows the wizard again with the API's reason.
func (s *Studio) createCompute(w http.ResponseWriter, r *http.Request, sess session) {
	form, err := readComputeForm(r.PostForm)
	if err != nil {
		if form.Workspace.Subscription == "" {
			s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
			return
		}
		s.renderWizard(w, r, sess, http.StatusBadRequest, form, err.Error())
		return
	}
	location, err := s.workspaceLocation(r, sess, form.Workspace)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	body, err := json.Marshal(form.body(location))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	// If-None-Match: Create never replaces a compute of that name.
	rec := s.call(r, sess, http.MethodPut, apiPath(form.id(), apiVersion(resources.TypeCompute)), body, "If-None-Match", "*")
	if err := decodeAnswer(rec, nil); err != nil {
		var ae *armError
		// What the user can fix in the form comes back on the wizard; a
		// refusal of the principal is the API's error page.
		if errors.As(err, &ae) && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden && ae.Status < 500 {
			s.renderWizard(w, r, sess, ae.Status, form, ae.Error())
			return
		}
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/studio/compute/view?id="+url.QueryEscape(form.id().String()), http.StatusSeeOther)
}

// preflight answers the wizard's panel: the form as it is now, judged by
// the API's pre-flight (the rules of `securetrain check`). Errors have
// ARM's shape, which the panel shows.
func (s *Studio) preflight(w http.ResponseWriter, r *http.Request, sess session) {
	release, ok := take(w, s.preflights, "1", fmt.Sprintf("%d pre-flight checks are running; this one runs on your next edit.", maxPreflights))
	if !ok {
		return
	}
	defer release()
	form, err := readComputeForm(r.PostForm)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "InvalidForm", err.Error())
		return
	}
	location, err := s.workspaceLocation(r, sess, form.Workspace)
	if err != nil {
		s.writeFailure(w, "pre-flight", err)
		return
	}
	compute, _ := json.Marshal(form.body(location))                                       // the form's maps always encode
	in, _ := json.Marshal(api.PreflightRequest{ID: form.id().String(), Compute: compute}) // so does this
	s.api.ServePreflight(w, s.apiRequest(r, sess, http.MethodPost, "/studio/api/preflight", in))
}

// writeFailure answers a script's request that failed: the API's refusal
// as it gave it, anything else as a server error (logged, not shown).
func (s *Studio) writeFailure(w http.ResponseWriter, what string, err error) {
	var ae *armError
	if errors.As(err, &ae) {
		writeProblem(w, ae.Status, ae.Code, ae.Message)
		return
	}
	s.log.Error("studio "+what+" failed", "err", err)
	writeProblem(w, http.StatusInternalServerError, "InternalServerError", "the server failed to process the request")
}

// take takes one of slots, which bound work the server does at once,
// and returns its release; when all are taken it answers 503 ServerBusy
// with message and Retry-After.
func take(w http.ResponseWriter, slots chan struct{}, retryAfter, message string) (func(), bool) {
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, true
	default:
		w.Header().Set("Retry-After", retryAfter)
		writeProblem(w, http.StatusServiceUnavailable, "ServerBusy", message)
		return nil, false
	}
}

// allowed asks the API's evaluator whether the session's principal may
// perform action in workspace ws (to offer a form), and otherwise shows
// why not (doing: what the form does).
func (s *Studio) allowed(w http.ResponseWriter, r *http.Request, sess session, action string, ws arm.ID, doing string) bool {
	ok, err := s.api.Permitted(s.apiRequest(r, sess, http.MethodGet, "/", nil), action, ws.String())
	if err != nil {
		s.fail(w, r, sess, err)
		return false
	}
	if !ok {
		s.render(w, http.StatusForbidden, "error", sess, page{Title: "Error",
			Error: fmt.Sprintf("You cannot %s in workspace %s: that needs %s (a Contributor or Owner role there).", doing, ws.Leaf(), action)})
	}
	return ok
}

// writeProblem answers an error in ARM's shape.
func writeProblem(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%s}\n", problemJSON(code, message))
}
