package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

const testSub = "00000000-0000-0000-0000-000000000001"

// startServer runs `serve` over plain HTTP on a free port in a new data
// directory and points the client commands at it.
func startServer(t *testing.T) *serverClient {
	t.Helper()
	return startServerAt(t, filepath.Join(t.TempDir(), "data"))
}

// startServerAt is startServer on the data directory dir.
func startServerAt(t *testing.T, dir string) *serverClient {
	t.Helper()
	serveOn(t, serveConfig{dataDir: dir, insecure: true})
	t.Setenv("SECURETRAIN_SUBSCRIPTION", "")
	srv, err := newServerClient(addClientFlags(newFlagSet("test", "", io.Discard), false))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// exportTo runs export into a file and returns its path.
func exportTo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.json")
	if code, out, errs := runCLI(t, "export", "--subscription", testSub, "-o", path); code != 0 || !strings.Contains(out, "exported") {
		t.Fatalf("export: %d %s %s", code, out, errs)
	}
	return path
}

// withPolicyAndLock is cluster-public-ip.yaml with a lock on mygroup and a
// subscription-level policy assignment, for the round trip to cover
// Microsoft.Authorization.
func withPolicyAndLock(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(example("cluster-public-ip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "cluster-locked.yaml", string(data)+`
  - type: Microsoft.Authorization/locks
    resourceGroup: mygroup
    name: keep-network
    properties: {level: CanNotDelete, notes: the training network}
  - type: Microsoft.Authorization/policyAssignments
    name: no-firewalls
    properties:
      policyDefinitionId: /providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749
      parameters:
        listOfResourceTypesNotAllowed: {value: [Microsoft.Network/azureFirewalls]}
`)
}

// TestApplyExportRoundTrip applies examples to a fresh server, exports
// the subscription, and checks that `check` accepts the export and finds
// in it the same resources (ids and decoded content: subnets, NSG rules,
// routes, firewall rules, DNS records, computes, locks, policies) and, for
// a single file, the same verdicts as in the example.
func TestApplyExportRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string // applied in order; a later file's resource replaces an earlier one's
	}{
		{"cluster with public IP, lock and policy", []string{withPolicyAndLock(t)}},
		{"instance without public IP", []string{example("instance-no-public-ip.yaml")}},
		// The firewall example's compute needs workspace ws1, which it does
		// not declare: cluster-public-ip.yaml creates it.
		{"firewall on top of cluster", []string{example("cluster-public-ip.yaml"), example("cluster-public-ip-firewall.yaml")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			startServer(t)
			want := map[string]string{}
			// Every example uses mygroup and mlgroup, declared or not.
			wantIDs := []string{strings.ToLower("/subscriptions/" + testSub + "/resourceGroups/mygroup"), strings.ToLower("/subscriptions/" + testSub + "/resourceGroups/mlgroup")}
			for _, file := range tc.files {
				code, out, errs := runCLI(t, "apply", "-f", file)
				if code != 0 {
					t.Fatalf("apply %s: %d\n%s%s", file, code, out, errs)
				}
				wantIDs = append(wantIDs, fileIDs(t, file)...)
				maps.Copy(want, canonicalResources(t, decodeFile(t, file)))
			}
			exported := exportTo(t)
			code, out, errs := runCLI(t, "check", exported)
			if code == exitBadInput {
				t.Fatalf("check refuses the export: %s%s", out, errs)
			}
			snap := decodeFile(t, exported)
			// What Azure creates with a private endpoint comes back too:
			// its NIC, which its read-only networkInterfaces name.
			for _, pe := range snap.PrivateEndpoints {
				for _, nic := range pe.NetworkInterfaces {
					wantIDs = append(wantIDs, nic.ID.Key())
				}
				pe.NetworkInterfaces = nil
			}

			slices.Sort(wantIDs)
			wantIDs = slices.Compact(wantIDs)
			if gotIDs := fileIDs(t, exported); !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("exported ids:\n  %s\nwant:\n  %s", strings.Join(gotIDs, "\n  "), strings.Join(wantIDs, "\n  "))
			}
			got := canonicalResources(t, snap)
			for id, w := range want {
				if strings.HasSuffix(id, "/resourcegroups/mygroup") || strings.HasSuffix(id, "/resourcegroups/mlgroup") {
					continue // location only; the ids say they are there
				}
				if got[id] != w {
					t.Errorf("%s:\nexported %s\napplied  %s", id, got[id], w)
				}
			}
			// A few properties by name, in case the comparison above is
			// ever loosened.
			sn := snap.Subnet(arm.ID{Subscription: testSub, ResourceGroup: "mygroup", Provider: "Microsoft.Network",
				Types: []string{"virtualNetworks", "subnets"}, Names: []string{"mynetwork", "default"}})
			if sn == nil || sn.AddressPrefixes[0].String() != "10.0.0.0/24" ||
				!strings.HasSuffix(sn.NetworkSecurityGroup.ID.String(), "/networkSecurityGroups/nsg1") {
				t.Errorf("exported subnet mynetwork/default: %+v", sn)
			}
			if len(snap.NetworkSecurityGroups[0].Rules) == 0 {
				t.Error("the exported NSG has no rules")
			}

			if len(tc.files) == 1 { // same verdicts and findings from the example and from the export
				_, wantRep := checkJSON(t, tc.files[0])
				_, gotRep := checkJSON(t, exported)
				if a, b := verdicts(wantRep), verdicts(gotRep); a != b {
					t.Errorf("check of the export differs:\n%s\nexample:\n%s", b, a)
				}
			}
		})
	}
}

// decodeFile decodes an environment file (it must have no problems).
func decodeFile(t *testing.T, path string) *resources.Snapshot {
	t.Helper()
	snap, err := resources.LoadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return snap
}

// fileIDs are the lower-cased ids of a file's entries, sorted.
func fileIDs(t *testing.T, path string) []string {
	t.Helper()
	plan, err := planApply(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range append(append([]*applyEntry{}, plan.groups...), plan.ordered...) {
		ids = append(ids, e.id.Key())
	}
	slices.Sort(ids)
	return ids
}

// canonicalResources renders every resource of a snapshot as JSON by id,
// without file positions and with children in id order: two snapshots of
// the same resources give the same map, whatever files they came from.
// It clears and sorts in place: the snapshot is the caller's to drop.
func canonicalResources(t *testing.T, snap *resources.Snapshot) map[string]string {
	t.Helper()
	out := map[string]string{}
	sv := reflect.ValueOf(snap).Elem()
	for i := range sv.NumField() {
		f := sv.Field(i)
		if f.Kind() != reflect.Slice || !sv.Type().Field(i).IsExported() {
			continue
		}
		for j := range f.Len() {
			el := f.Index(j)
			normalize(el)
			id := el.Elem().FieldByName("Meta").FieldByName("ID").Interface().(arm.ID)
			b, err := json.Marshal(el.Interface())
			if err != nil {
				t.Fatal(err)
			}
			out[id.Key()] = string(b)
		}
	}
	return out
}

// normalize clears Pos fields and sorts lists of resources by id.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if v.Type().Field(i).Name == "Pos" && f.Kind() == reflect.String {
				f.SetString("")
				continue
			}
			if v.Type().Field(i).IsExported() {
				normalize(f)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			normalize(v.Index(i))
		}
		if v.Type().Elem().Kind() == reflect.Pointer && v.Type().Elem().Elem().Kind() == reflect.Struct {
			if _, ok := v.Type().Elem().Elem().FieldByName("Meta"); ok {
				key := func(i int) string { return v.Index(i).Elem().FieldByName("ID").Interface().(arm.ID).Key() }
				s := reflect.Swapper(v.Interface())
				for i := 1; i < v.Len(); i++ { // insertion sort: the lists are short
					for j := i; j > 0 && key(j) < key(j-1); j-- {
						s(j, j-1)
					}
				}
			}
		}
	}
}

// verdicts summarises a check report without file positions.
func verdicts(rep checkReport) string {
	var b strings.Builder
	for _, c := range rep.Computes {
		fmt.Fprintf(&b, "%s %s %s\n", c.ID, c.Status, c.Summary)
		for _, f := range c.Flows {
			fmt.Fprintf(&b, "  %s: %s\n", f.Name, f.Verdict)
		}
		for _, f := range c.Findings {
			fmt.Fprintf(&b, "  finding %s %s %s\n", f.Severity, f.Code, strings.ToLower(f.Resource))
		}
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "finding %s %s\n", f.Severity, f.Code)
	}
	fmt.Fprintf(&b, "%+v\n", rep.Counts)
	return b.String()
}

// TestApplyTwiceIsIdempotent: the second apply updates every resource and
// leaves the server as the first one did (etags aside); groups the file
// uses without declaring are created once.
func TestApplyTwiceIsIdempotent(t *testing.T) {
	startServer(t)
	file := example("instance-no-public-ip.yaml")
	code, first, errs := runCLI(t, "apply", "-f", file)
	if code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, first, errs)
	}
	for _, want := range []string{
		"created resource group mygroup in westus2 (not declared in the file; location of Microsoft.Network/publicIPAddresses nat-pip)",
		"created resource group mlgroup in westus2",
		"[14/14] created Microsoft.MachineLearningServices/workspaces/computes ws1/myinstance",
		"[5/14] created Microsoft.MachineLearningServices/workspaces ws1",
		"applied " + file + ": 14 created",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("first apply lacks %q:\n%s", want, first)
		}
	}
	before := withoutETags(t, exportTo(t))
	code, second, errs := runCLI(t, "apply", "-f", file)
	if code != 0 {
		t.Fatalf("second apply: %d\n%s%s", code, second, errs)
	}
	// Issue 16: what the second apply did not change reads "unchanged".
	if strings.Contains(second, "created") || strings.Contains(second, "updated") || !strings.Contains(second, ": 14 unchanged") {
		t.Errorf("second apply:\n%s", second)
	}
	if after := withoutETags(t, exportTo(t)); after != before {
		t.Errorf("the second apply changed the server:\n%s\nbefore:\n%s", after, before)
	}
}

var etagField = regexp.MustCompile(`(?m)^\s*"etag": "(?:[^"\\]|\\.)*",?\n`)

func withoutETags(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return etagField.ReplaceAllString(string(data), "")
}

// TestApplyInvalidFileSendsNothing: a file with a problem the decoder finds
// is refused with its file:line before any request.
func TestApplyInvalidFileSendsNothing(t *testing.T) {
	srv := startServer(t)
	file := writeFile(t, "bad.yaml", `subscription: `+testSub+`
resources:
  - type: Microsoft.Resources/resourceGroups
    name: rg1
    location: westus2
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg1
    name: vnet1
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: far
          properties: {addressPrefix: 10.9.0.0/24}
`)
	code, out, errs := runCLI(t, "apply", "-f", file)
	if code != exitBadInput || out != "" || !strings.Contains(errs, file+":14") || !strings.Contains(errs, "nothing was sent") {
		t.Fatalf("apply: %d\nstdout %q\nstderr %s", code, out, errs)
	}
	groups, err := srv.list("/subscriptions/" + testSub + "/resourcegroups")
	if err != nil || len(groups) != 0 {
		t.Fatalf("the server changed: %v %s", err, groups)
	}
	// And without -f.
	if code, _, errs := runCLI(t, "apply", file); code != exitBadInput || !strings.Contains(errs, "expected -f ENV") {
		t.Errorf("apply without -f: %d %s", code, errs)
	}
}

// TestApplyStopsAtServerRefusal: what the decoder accepts but the server
// refuses (Azure's rule that a compute without public IP needs a workspace
// private endpoint) stops apply with ARM's code and message, exit 1.
func TestApplyStopsAtServerRefusal(t *testing.T) {
	srv := startServer(t)
	file := writeFile(t, "no-pe.yaml", `subscription: `+testSub+`
resources:
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: rg1
    name: ws1/private
    location: westus2
    properties:
      computeType: AmlCompute
      properties:
        vmSize: STANDARD_D2_V2
        enableNodePublicIp: false
        scaleSettings: {maxNodeCount: 1}
        subnet: {id: /resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/default}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg1
    name: vnet1
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets: [{name: default, properties: {addressPrefix: 10.0.0.0/24}}]
  - type: Microsoft.MachineLearningServices/workspaces
    resourceGroup: rg1
    name: ws1
    location: westus2
  - type: Microsoft.Network/routeTables
    resourceGroup: rg1
    name: never-sent
    location: westus2
`)
	code, out, errs := runCLI(t, "apply", "-f", file)
	if code != 1 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	// The compute, first in the file, goes after the VNet and workspace
	// it needs; the route table, independent, keeps its place after it.
	wantOut := "created resource group rg1 in westus2 (not declared in the file; location of Microsoft.MachineLearningServices/workspaces/computes ws1/private)\n" +
		"[1/4] created Microsoft.Network/virtualNetworks vnet1\n" +
		"[2/4] created Microsoft.MachineLearningServices/workspaces ws1\n"
	if out != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, wantOut)
	}
	for _, want := range []string{
		"[3/4] Microsoft.MachineLearningServices/workspaces/computes ws1/private (" + file + ":3)",
		"400 BadRequest: ", "EnableNodePublicIp 'False' requires workspace private endpoint",
		"stopped: 2 of 4 resources applied; the rest were not sent",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if _, err := srv.do(http.MethodGet, "/subscriptions/"+testSub+"/resourceGroups/rg1/providers/Microsoft.Network/routeTables/never-sent", nil); err == nil {
		t.Error("apply went on after the error")
	}
}

// TestApplyRefusedByPolicy: a policy assignment applied earlier denies a
// resource of the next file (403 RequestDisallowedByPolicy).
func TestApplyRefusedByPolicy(t *testing.T) {
	startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", withPolicyAndLock(t)); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	file := example("cluster-public-ip-firewall.yaml")
	code, out, errs := runCLI(t, "apply", "-f", file)
	if code != 1 || !strings.Contains(out, "[4/6] created Microsoft.Network/publicIPAddresses fw-pip") || strings.Contains(out, "[5/6]") {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"[5/6] Microsoft.Network/azureFirewalls fw1 (" + file + ":58)", "403 RequestDisallowedByPolicy", "no-firewalls"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// TestApplyNeedsParentOnServer: a child whose parent is neither in the
// file nor on the server (the firewall example's compute, without its
// workspace) is found before anything is sent.
func TestApplyNeedsParentOnServer(t *testing.T) {
	srv := startServer(t)
	file := example("cluster-public-ip-firewall.yaml")
	code, out, errs := runCLI(t, "apply", "-f", file)
	want := "securetrain apply: these resources need a parent that is neither in " + file + " nor on the server:\n" +
		"  Microsoft.MachineLearningServices/workspaces/computes ws1/gpucluster (" + file + ":93) needs Microsoft.MachineLearningServices/workspaces ws1\n" +
		"nothing was sent\n"
	if code != 1 || out != "" || errs != want {
		t.Fatalf("apply: %d\nstdout %q\nstderr %s\nwant %s", code, out, errs, want)
	}
	if groups, err := srv.list("/subscriptions/" + testSub + "/resourcegroups"); err != nil || len(groups) != 0 {
		t.Fatalf("the server changed: %v %s", err, groups)
	}
}

// TestApplySendsFullIDs: the file's /resourceGroups/… ids reach the server
// as full ids, so the server's references hold (the NSG a subnet uses
// cannot be deleted).
func TestApplySendsFullIDs(t *testing.T) {
	srv := startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", example("cluster-public-ip.yaml")); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	net := "/subscriptions/" + testSub + "/resourceGroups/mygroup/providers/Microsoft.Network/"
	resp, err := srv.do(http.MethodGet, net+"virtualNetworks/mynetwork/subnets/default", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.body), `"id":"`+net+`networkSecurityGroups/nsg1"`) {
		t.Errorf("subnet: %s", resp.body)
	}
	_, err = srv.do(http.MethodDelete, net+"networkSecurityGroups/nsg1", nil)
	if ae, ok := err.(*armError); !ok || ae.Code != "InUseNetworkSecurityGroupCannotBeDeleted" {
		t.Errorf("deleting the NSG in use: %v", err)
	}
}

// TestApplyOrder: parents and referenced resources first, file order
// otherwise, computes after their workspace's private endpoints, locks
// last.
func TestApplyOrder(t *testing.T) {
	file := writeFile(t, "order.yaml", `subscription: `+testSub+`
resources:
  - {type: Microsoft.Authorization/locks, resourceGroup: rg, name: lock, properties: {level: ReadOnly}}
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: rg
    name: ws/ci
    properties:
      computeType: ComputeInstance
      properties: {vmSize: STANDARD_DS3_V2, enableNodePublicIp: false, subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/s2}}
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: rg
    name: pe
    location: westus2
    properties:
      subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/s1}
      privateLinkServiceConnections:
        - {name: ws, properties: {privateLinkServiceId: /resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws, groupIds: [amlworkspace]}}
  - type: Microsoft.Network/virtualNetworks/subnets
    resourceGroup: rg
    name: vnet/s2
    properties: {addressPrefix: 10.0.2.0/24, networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg}}
  - {type: Microsoft.Network/routeTables, resourceGroup: rg, name: rt, location: westus2}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets: [{name: s1, properties: {addressPrefix: 10.0.1.0/24}}]
  - {type: Microsoft.Network/networkSecurityGroups, resourceGroup: rg, name: nsg, location: westus2}
  - {type: Microsoft.Resources/resourceGroups, name: rg, location: westus2}
`)
	plan, err := planApply(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range append(plan.groups, plan.ordered...) {
		got = append(got, e.id.Name())
	}
	// The workspace is not in the file: the compute waits for the private
	// endpoint that links to it all the same.
	want := []string{"rg", "rt", "vnet", "pe", "nsg", "vnet/s2", "ws/ci", "lock"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if len(plan.implicit) != 0 {
		t.Errorf("implicit groups: %v", plan.implicit)
	}
}

// TestApplyCycle: VNets peered to each other with nested peerings cannot
// be created one at a time; apply says so before sending anything.
func TestApplyCycle(t *testing.T) {
	vnet := func(name, prefix, peer string) string {
		return `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: ` + name + `
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [` + prefix + `]}
      virtualNetworkPeerings:
        - {name: to-` + peer + `, properties: {remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/` + peer + `}}}`
	}
	file := writeFile(t, "cycle.yaml", "subscription: "+testSub+"\nresources:"+vnet("va", "10.1.0.0/16", "vb")+vnet("vb", "10.2.0.0/16", "va")+"\n")
	t.Setenv("SECURETRAIN_TOKEN", "unused")
	t.Setenv("SECURETRAIN_URL", "http://127.0.0.1:1") // nothing listens: a request would fail differently
	code, out, errs := runCLI(t, "apply", "-f", file)
	for _, want := range []string{"reference each other", "virtualNetworks va (" + file + ":3)", "-> Microsoft.Network/virtualNetworks vb", "virtualNetworkPeerings", "nothing was sent"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if code != exitBadInput || out != "" {
		t.Errorf("apply: %d %q", code, out)
	}
}

// TestApplyPollsOperations drives apply against a fake server: an
// Azure-AsyncOperation is polled (with the token, at the interval asked)
// until it ends; Failed stops apply with the operation's error; an
// operation URL on another host is not followed.
func TestApplyPollsOperations(t *testing.T) {
	var polls atomic.Int32
	var foreign string
	mux := http.NewServeMux()
	mux.HandleFunc("/subscriptions/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/operations/op1"):
			w.Header().Set("Retry-After-Ms", "1")
			if polls.Add(1) < 3 {
				io.WriteString(w, `{"status":"InProgress"}`)
				return
			}
			io.WriteString(w, `{"status":"Succeeded"}`)
		case strings.HasSuffix(r.URL.Path, "/operations/op2"):
			io.WriteString(w, `{"status":"Failed","error":{"code":"QuotaExceeded","message":"no cores left"}}`)
		case r.Method == http.MethodPut:
			name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			op := "http://" + r.Host + "/subscriptions/" + testSub + "/providers/Microsoft.Network/locations/westus2/operations/"
			switch name {
			case "slow":
				op += "op1"
			case "broken":
				op += "op2"
			case "elsewhere":
				op = foreign
			}
			w.Header().Set("Azure-AsyncOperation", op)
			w.Header().Set("Retry-After-Ms", "1")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"properties":{"provisioningState":"Updating"}}`)
		case strings.Contains(r.URL.Path, "/routeTables/"): // apply looks before it writes
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":"ResourceNotFound","message":"not found"}}`)
		default: // GET of the resource group
			io.WriteString(w, `{}`)
		}
	})
	fake := httptest.NewServer(mux)
	defer fake.Close()
	foreign = "http://example.invalid/operations/x"
	t.Setenv("SECURETRAIN_URL", fake.URL)
	t.Setenv("SECURETRAIN_TOKEN", "tok")
	table := func(name string) string {
		return writeFile(t, name+".yaml", `subscription: `+testSub+`
resources:
  - {type: Microsoft.Network/routeTables, resourceGroup: rg, name: `+name+`, location: westus2}
`)
	}
	if code, out, errs := runCLI(t, "apply", "-f", table("slow")); code != 0 || !strings.Contains(out, "[1/1] created Microsoft.Network/routeTables slow") || polls.Load() != 3 {
		t.Errorf("slow: %d polls %d\n%s%s", code, polls.Load(), out, errs)
	}
	if code, _, errs := runCLI(t, "apply", "-f", table("broken")); code != 1 || !strings.Contains(errs, "QuotaExceeded: no cores left") {
		t.Errorf("broken: %d\n%s", code, errs)
	}
	if code, _, errs := runCLI(t, "apply", "-f", table("elsewhere")); code != 1 || !strings.Contains(errs, "not sending the token there") {
		t.Errorf("elsewhere: %d\n%s", code, errs)
	}
}

// TestExportLocksAndFlags: a subscription-level lock has no place in an
// environment file and is reported as skipped; the subscription is
// required.
func TestExportLocksAndFlags(t *testing.T) {
	srv := startServer(t)
	if code, _, errs := runCLI(t, "export"); code != exitBadInput || !strings.Contains(errs, "--subscription") {
		t.Errorf("export without a subscription: %d %s", code, errs)
	}
	// An empty subscription exports an empty, valid file.
	code, out, errs := runCLI(t, "export", "--subscription", testSub)
	if code != 0 || out != "{\n  \"subscription\": \""+testSub+"\",\n  \"resources\": []\n}\n" {
		t.Fatalf("empty export: %d %q %s", code, out, errs)
	}
	if _, err := srv.do(http.MethodPut, "/subscriptions/"+testSub+"/providers/Microsoft.Authorization/locks/sub-lock",
		[]byte(`{"properties":{"level":"CanNotDelete"}}`)); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "apply", "-f", withPolicyAndLock(t)); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	t.Setenv("SECURETRAIN_SUBSCRIPTION", testSub)
	code, out, errs = runCLI(t, "export")
	if code != 0 || !strings.Contains(errs, "skipped lock /subscriptions/"+testSub+"/providers/Microsoft.Authorization/locks/sub-lock") {
		t.Fatalf("export: %d\n%s", code, errs)
	}
	var doc struct {
		Resources []struct{ Type, Name, ResourceGroup string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var locks, policies []string
	for _, r := range doc.Resources {
		switch r.Type {
		case resources.TypeLock:
			locks = append(locks, r.ResourceGroup+"/"+r.Name)
		case resources.TypePolicyAssignment:
			policies = append(policies, r.ResourceGroup+"/"+r.Name)
		}
	}
	if !slices.Equal(locks, []string{"mygroup/keep-network"}) || !slices.Equal(policies, []string{"/no-firewalls"}) {
		t.Errorf("locks %v, policy assignments %v", locks, policies)
	}
}

func TestJSONNumber(t *testing.T) {
	for in, want := range map[string]string{"12": "12", "1.5e3": "1.5e3", "010": "10", "+5": "5", "0x1F": "31", "1_000": "1000", "0o17": "15"} {
		if got, err := jsonNumber(in); err != nil || string(got) != want {
			t.Errorf("jsonNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := jsonNumber(".inf"); err == nil {
		t.Error(".inf became a JSON number")
	}
}

// TestApplyExportFlags: -h does not print the token from the environment;
// without a token nothing is sent.
func TestApplyExportFlags(t *testing.T) {
	t.Setenv("SECURETRAIN_TOKEN", "st_not_for_help")
	for _, cmd := range []string{"apply", "export"} {
		if code, out, errs := runCLI(t, cmd, "-h"); code != 0 || strings.Contains(out+errs, "st_not_for_help") {
			t.Errorf("%s -h: %d\n%s%s", cmd, code, out, errs)
		}
	}
	t.Setenv("SECURETRAIN_TOKEN", "")
	if code, _, errs := runCLI(t, "apply", "-f", example("cluster-public-ip.yaml")); code != exitBadInput || !strings.Contains(errs, "no token") {
		t.Errorf("apply without a token: %d %s", code, errs)
	}
}

// Issue 16: apply -f of a file whose references are on the server (a NIC
// in a subnet applied before) resolves them there instead of refusing
// "not found in the file"; a reference neither in the file nor on the
// server is refused before anything is sent; and the report says what
// changed: created, updated, unchanged.
func TestApplyResolvesReferencesOnServer(t *testing.T) {
	srv := startServer(t)
	network := writeFile(t, "network.yaml", `subscription: `+testSub+`
resources:
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet
    location: westus2
    tags: {team: {{TEAM}}}
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets: [{name: default, properties: {addressPrefix: 10.0.1.0/24}}]
  - {type: Microsoft.Network/routeTables, resourceGroup: rg, name: rt, location: westus2}
`)
	os.WriteFile(network, []byte(strings.Replace(string(readFile(t, network)), "{{TEAM}}", "a", 1)), 0o644)
	if code, out, errs := runCLI(t, "apply", "-f", network); code != 0 || !strings.Contains(out, ": 2 created") {
		t.Fatalf("apply the network: %d\n%s%s", code, out, errs)
	}
	nic := func(subnet string) string {
		return writeFile(t, "nic.yaml", `subscription: `+testSub+`
resources:
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: rg
    name: nic
    location: westus2
    properties:
      ipConfigurations:
        - name: ipconfig1
          properties: {subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/`+subnet+`}, privateIPAllocationMethod: Dynamic}
`)
	}
	code, out, errs := runCLI(t, "apply", "-f", nic("nosuch"))
	if code != exitBadInput || out != "" || !strings.Contains(errs, "subnets/nosuch not found in the file nor on the server") || !strings.Contains(errs, "nothing was sent") {
		t.Errorf("a reference nowhere: %d\n%s%s", code, out, errs)
	}
	if body, err := srv.current("/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic"); err != nil || body != nil {
		t.Fatalf("the refused NIC reached the server: %v %s", err, body)
	}
	if code, out, errs := runCLI(t, "apply", "-f", nic("default")); code != 0 || !strings.Contains(out, "[1/1] created Microsoft.Network/networkInterfaces nic") {
		t.Errorf("a reference on the server: %d\n%s%s", code, out, errs)
	}
	os.WriteFile(network, []byte(strings.Replace(string(readFile(t, network)), "team: a", "team: b", 1)), 0o644)
	code, out, errs = runCLI(t, "apply", "-f", network)
	if code != 0 || !strings.Contains(out, "updated Microsoft.Network/virtualNetworks vnet") || !strings.Contains(out, "unchanged Microsoft.Network/routeTables rt") ||
		!strings.Contains(out, ": 1 updated, 1 unchanged") {
		t.Errorf("a changed tag: %d\n%s%s", code, out, errs)
	}
}

// Issue 16: re-applying a file whose compute failed answers with the
// original failure's reasons, each ARM detail on its own line, and what
// to do: delete the compute and create it again.
func TestApplyFailedComputeSaysDeleteAndRecreate(t *testing.T) {
	startServer(t)
	file := example("broken/instance-udp-5831-blocked.yaml")
	code, _, errs := runCLI(t, "apply", "-f", file)
	if code != 1 || !strings.Contains(errs, "ComputeUnusable") {
		t.Fatalf("first apply: %d\n%s", code, errs)
	}
	code, _, errs = runCLI(t, "apply", "-f", file)
	for _, want := range []string{"is in state Failed: ComputeUnusable:", "delete it and create it again once the cause is fixed",
		"\n    - ComputeUnusable: ", "DenyAzureMachineLearningUdp"} {
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("second apply: exit %d, stderr lacks %q:\n%s", code, want, errs)
		}
	}
}
