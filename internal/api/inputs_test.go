package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/store"
)

// Input checks that are the same on every route (issue 10, defect 7).

const (
	ctRG     = "/subscriptions/" + sub + "/resourceGroups/ct-rg"
	authzV   = "?api-version=2022-04-01"
	locksV   = "?api-version=2016-09-01"
	lockPath = ctRG + "/providers/Microsoft.Authorization/locks/"
)

func errMessage(body map[string]any) string {
	return arm.Str(arm.EnsureField(body, "error"), "message")
}

// countUnder is how many records the store holds under scope.
func countUnder(t *testing.T, st store.Store, scope string) int {
	t.Helper()
	n := 0
	if err := st.View(context.Background(), func(rd store.Reader) error {
		return store.Each(context.Background(), rd, store.Query{Scope: scope}, func(store.Record) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Every route that takes a body refuses one that is not JSON with ARM's
// 415, and stores nothing.
func TestContentTypeOnEveryBodyRoute(t *testing.T) {
	c := newClient(t)
	if st, out, _ := c.do("PUT", ctRG+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	before := countUnder(t, c.st, "/subscriptions/"+sub)
	const guid = "11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct{ name, method, path, body string }{
		{"resource group", "PUT", "/subscriptions/" + sub + "/resourceGroups/other" + rgAPI, `{"location":"eastus"}`},
		{"lock", "PUT", lockPath + "nodelete" + locksV, `{"properties":{"level":"CanNotDelete"}}`},
		{"role assignment", "PUT", ctRG + "/providers/Microsoft.Authorization/roleAssignments/" + guid + authzV,
			`{"properties":{"roleDefinitionId":"/subscriptions/` + sub + `/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7","principalId":"admin"}}`},
		{"role definition", "PUT", "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guid + authzV,
			`{"properties":{"roleName":"r","assignableScopes":["/subscriptions/` + sub + `"],"permissions":[{"actions":["*/read"]}]}}`},
		{"resource", "PUT", ctRG + "/providers/Microsoft.Network/virtualNetworks/vnet" + netVersion,
			`{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`},
		{"compute action", "POST", ctRG + "/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/cpu/resize" + mlVersion, `{"targetNodeCount":1}`},
		{"network watcher", "POST", ctRG + "/providers/Microsoft.Network/networkWatchers/nw/ipFlowVerify" + netVersion, `{}`},
	} {
		st, out, _ := c.do(tc.method, tc.path, tc.body, "Content-Type", "text/plain")
		if st != http.StatusUnsupportedMediaType || errCode(out) != "UnsupportedMediaType" {
			t.Errorf("%s with text/plain: %d %v, want 415 UnsupportedMediaType", tc.name, st, out)
		}
	}
	if after := countUnder(t, c.st, "/subscriptions/"+sub); after != before {
		t.Errorf("refused requests changed the store: %d records, then %d", before, after)
	}
	// JSON, with or without parameters, is accepted.
	if st, out, _ := c.do("PUT", lockPath+"nodelete"+locksV, `{"properties":{"level":"CanNotDelete"}}`, "Content-Type", "application/json; charset=utf-8"); st != http.StatusCreated {
		t.Errorf("lock with application/json: %d %v", st, out)
	}
}

// Lock names follow the Management Locks rule: an escaped '/' is not a
// path and is refused, as are '%' and control characters; a name with
// spaces and parentheses is fine.
func TestLockNames(t *testing.T) {
	c := newClient(t)
	if st, out, _ := c.do("PUT", ctRG+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	body := `{"properties":{"level":"CanNotDelete"}}`
	for _, name := range []string{"a%2Fb", "a%25b", "a%00b", "a%3Ab", "%2E%2E", strings.Repeat("l", 261)} {
		if st, out, _ := c.do("PUT", lockPath+name+locksV, body); st != http.StatusBadRequest || errCode(out) != "InvalidResourceName" {
			t.Errorf("lock %q: %d %v, want 400 InvalidResourceName", name, st, out)
		}
	}
	if _, out, _ := c.do("PUT", lockPath+"a%2Fb"+locksV, body); !strings.Contains(errMessage(out), `"a/b" is not a valid Microsoft.Authorization/locks name`) {
		t.Errorf("the error does not name the lock name, type and rule: %v", out)
	}
	if _, out, _ := c.do("GET", ctRG+"/providers/Microsoft.Authorization/locks"+locksV, ""); len(out["value"].([]any)) != 0 {
		t.Errorf("refused lock names were stored: %v", out["value"])
	}
	if st, out, _ := c.do("PUT", lockPath+"do%20not%20delete%20(prod)"+locksV, body); st != http.StatusCreated {
		t.Errorf("valid lock name: %d %v", st, out)
	}
}

// A name with invalid UTF-8 (or any non-ASCII byte) is refused on every
// route that names a resource; nothing is stored under another key.
func TestNonASCIINamesRefused(t *testing.T) {
	c := newClient(t)
	if st, out, _ := c.do("PUT", ctRG+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	before := countUnder(t, c.st, "/subscriptions/"+sub)
	vnet := `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`
	for _, tc := range []struct{ path, body, code string }{
		{ctRG + "/providers/Microsoft.Network/virtualNetworks/vn%FF" + netVersion, vnet, "InvalidResourceName"},
		{ctRG + "/providers/Microsoft.Network/virtualNetworks/v%C3%A9n" + netVersion, vnet, "InvalidResourceName"},
		{"/subscriptions/" + sub + "/resourceGroups/rg%FF" + rgAPI, `{"location":"eastus"}`, "InvalidResourceGroup"},
		{"/subscriptions/" + sub + "/resourceGroups/gr%C3%BCppe" + rgAPI, `{"location":"eastus"}`, "InvalidResourceGroup"},
		{lockPath + "l%FF" + locksV, `{"properties":{"level":"ReadOnly"}}`, "InvalidResourceName"},
		// An inline child's name is checked as its own would be.
		{ctRG + "/providers/Microsoft.Network/virtualNetworks/vn1" + netVersion,
			`{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"s\u00ff","properties":{"addressPrefix":"10.0.0.0/24"}}]}}`, "InvalidResourceName"},
	} {
		// The path's ASCII rule (internal/arm) may answer before the type's.
		if st, out, _ := c.do("PUT", tc.path, tc.body); st != http.StatusBadRequest || errCode(out) != tc.code && errCode(out) != "InvalidResourceName" {
			t.Errorf("PUT %s: %d %v, want 400 %s", tc.path, st, out, tc.code)
		}
	}
	if after := countUnder(t, c.st, "/subscriptions/"+sub); after != before {
		t.Errorf("refused names changed the store: %d records, then %d", before, after)
	}
}

// Per-type rules on writes: a storage account takes 3–24 lower-case
// letters and digits, a VNet 2–64 characters.
func TestNameRulesPerType(t *testing.T) {
	c := newClient(t)
	if st, out, _ := c.do("PUT", ctRG+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	storage := ctRG + "/providers/Microsoft.Storage/storageAccounts/"
	if st, out, _ := c.do("PUT", storage+"My_Storage?api-version=2023-05-01", `{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`); st != http.StatusBadRequest ||
		errCode(out) != "InvalidResourceName" || !strings.Contains(errMessage(out), "3–24 lower-case letters and digits") {
		t.Errorf("storage account My_Storage: %d %v, want 400 naming the rule", st, out)
	}
	if st, out, _ := c.do("PUT", ctRG+"/providers/Microsoft.Network/virtualNetworks/v"+netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`); st != http.StatusBadRequest {
		t.Errorf("VNet v: %d %v, want 400", st, out)
	}
	// A read of a name only the looser rule allows is a lookup, not an error.
	if st, out, _ := c.do("GET", storage+"My_Storage?api-version=2023-05-01", ""); st != http.StatusNotFound {
		t.Errorf("GET storage account My_Storage: %d %v, want 404", st, out)
	}
}

// A location is one of the region list for resource groups and every
// resource; NUL and a 1 MB string are refused with a bounded message;
// private DNS zones live in "global" only.
func TestLocationsChecked(t *testing.T) {
	c := newClient(t)
	rgPath := "/subscriptions/" + sub + "/resourceGroups/"
	huge := strings.Repeat("x", 1<<20)
	for _, loc := range []string{`"west\u0000us"`, `"` + huge + `"`, `"nowhere"`, `"global"`} {
		st, out, _ := c.do("PUT", rgPath+"loc-rg"+rgAPI, `{"location":`+loc+`}`)
		msg := errMessage(out)
		if st != http.StatusBadRequest || errCode(out) != "LocationNotAvailableForResourceGroup" || len(msg) > 2000 {
			t.Errorf("resource group location %.40s: %d %s %d-byte message", loc, st, errCode(out), len(msg))
		}
	}
	if st, _, _ := c.do("GET", rgPath+"loc-rg"+rgAPI, ""); st != http.StatusNotFound {
		t.Errorf("a refused resource group exists: %d", st)
	}
	if st, out, _ := c.do("PUT", ctRG+rgAPI, `{"location":"West US 2"}`); st != http.StatusCreated || out["location"] != "westus2" {
		t.Fatalf("resource group in West US 2: %d %v", st, out)
	}
	vnet := ctRG + "/providers/Microsoft.Network/virtualNetworks/vnet" + netVersion
	for _, loc := range []string{"global", "west\\u0000us", huge} {
		if st, out, _ := c.do("PUT", vnet, `{"location":"`+loc+`","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`); st != http.StatusBadRequest ||
			errCode(out) != "LocationNotAvailableForResourceType" {
			t.Errorf("VNet location %.20q: %d %v", loc, st, errCode(out))
		}
	}
	zone := ctRG + "/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms?api-version=2024-06-01"
	if st, out, _ := c.do("PUT", zone, `{"location":"westus2"}`); st != http.StatusBadRequest || errCode(out) != "LocationNotAvailableForResourceType" {
		t.Errorf("private DNS zone in westus2: %d %v", st, out)
	}
	if st, out, _ := c.do("PUT", zone, `{"location":"global"}`); st != http.StatusCreated {
		t.Errorf("private DNS zone in global: %d %v", st, out)
	}
	if n := countUnder(t, c.st, ctRG+"/providers/Microsoft.Network/virtualNetworks"); n != 0 {
		t.Errorf("refused VNets were stored: %d", n)
	}
}

// A VNet may not peer with itself, inline or as its own resource, whatever
// the id's spelling.
func TestSelfPeeringRefused(t *testing.T) {
	c := newClient(t)
	if st, out, _ := c.do("PUT", ctRG+rgAPI, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	vnet := ctRG + "/providers/Microsoft.Network/virtualNetworks/hub"
	self := func(id string) string {
		return `{"name":"to-self","properties":{"remoteVirtualNetwork":{"id":"` + id + `"}}}`
	}
	inline := `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"virtualNetworkPeerings":[` + self(vnet) + `]}}`
	if st, out, _ := c.do("PUT", vnet+netVersion, inline); st != http.StatusBadRequest || !strings.Contains(errMessage(out), "cannot peer with itself") {
		t.Errorf("VNet peering inline with itself: %d %v", st, out)
	}
	if st, out, _ := c.do("PUT", vnet+netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`); st != http.StatusCreated {
		t.Fatalf("VNet: %d %v", st, out)
	}
	upper := strings.ToUpper(strings.TrimPrefix(vnet, "/subscriptions/"+sub))
	if st, out, _ := c.do("PUT", vnet+"/virtualNetworkPeerings/to-self"+netVersion, `{"properties":{"remoteVirtualNetwork":{"id":"`+upper+`"}}}`); st != http.StatusBadRequest {
		t.Errorf("standalone peering with itself (short, upper-case id): %d %v", st, out)
	}
	if st, _, _ := c.do("GET", vnet+"/virtualNetworkPeerings/to-self"+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("the refused peering exists: %d", st)
	}
}

// gatedFabric holds Boot for one compute until released, keeping the
// provisioner busy so that what a client sees next is the API's doing.
type gatedFabric struct {
	fabric.Fabric
	compute string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedFabric) Boot(ctx context.Context, n fabric.Node) error {
	if strings.HasSuffix(n.Compute, g.compute) {
		g.once.Do(func() { close(g.entered) })
		<-g.release
	}
	return g.Fabric.Boot(ctx, n)
}

// Right after a resize answers 202, a GET shows allocationState Resizing
// toward the new target, before the provisioner takes the operation up.
func TestResizeVisibleAtOnce(t *testing.T) {
	gate := &gatedFabric{Fabric: fabric.NewSim(), compute: "/computes/gate", entered: make(chan struct{}), release: make(chan struct{})}
	c := newClient(t, Options{Fabric: gate})
	provisionEnv(t, c, "")
	for _, name := range []string{"cpu", "gate"} {
		if op := c.start("PUT", wsML+"/computes/"+name+mlVersion, clusterBody("compute", 0, 4, "PT120S"), http.StatusCreated); op["status"] != "Succeeded" {
			t.Fatalf("create %s: %v", name, op)
		}
	}
	// The provisioner blocks in the gate cluster's first node.
	if st, out, _ := c.do("POST", wsML+"/computes/gate/resize"+mlVersion, resize(1)); st != http.StatusAccepted {
		t.Fatalf("resize gate: %d %v", st, out)
	}
	<-gate.entered
	st, out, hdr := c.do("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2))
	if st != http.StatusAccepted {
		close(gate.release)
		t.Fatalf("resize cpu: %d %v", st, out)
	}
	_, inner := c.compute("cpu")
	if inner["allocationState"] != "Resizing" || inner["targetNodeCount"] != float64(2) || inner["allocationStateTransitionTime"] == nil {
		t.Errorf("right after the 202: allocationState %v, targetNodeCount %v, transition %v; want Resizing toward 2",
			inner["allocationState"], inner["targetNodeCount"], inner["allocationStateTransitionTime"])
	}
	close(gate.release)
	if op := c.wait(hdr.Get("Azure-AsyncOperation")); op["status"] != "Succeeded" {
		t.Fatalf("resize: %v", op)
	}
	if _, inner := c.compute("cpu"); inner["allocationState"] != "Steady" || inner["currentNodeCount"] != float64(2) {
		t.Errorf("after the resize: %v with %v nodes", inner["allocationState"], inner["currentNodeCount"])
	}
}
