package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// TestListComputesIsTheListsPage: the studio's list of a workspace's
// computes is the API's list (its order, its bodies), filtered by type
// and paged, with the list's RBAC and errors; a write shows at once.
// asPrincipal is an in-process call's request with token ("" for none).
func asPrincipal(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// refusal is a call on id as token's principal, and the ARM error it gets.
type refusal struct {
	what   string
	token  string
	id     arm.ID
	status int
	code   string
}

func TestListComputesIsTheListsPage(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	// Outside a VNet, enableNodePublicIp absent: Azure's default, true.
	noSubnet := `{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS3_v2","scaleSettings":{"maxNodeCount":1}}}}`
	for name, body := range map[string]string{"b-cluster": clusterBody("compute", 0, 0, "PT5M"), "a-inst": instanceBody,
		"c-cluster": noSubnet, "d-cluster": clusterBody("compute", 0, 0, "PT5M")} {
		c.begin("PUT", wsML+"/computes/"+name+mlVersion, body, http.StatusCreated)
	}
	c.settle()
	ws, err := arm.ParseID(wsML, "")
	if err != nil {
		t.Fatal(err)
	}
	names := func(l ComputeList) string {
		var out []string
		for _, s := range l.Computes {
			out = append(out, s.ID.Leaf())
		}
		return strings.Join(out, " ")
	}
	all, err := c.srv.ListComputes(asPrincipal(c.token), ws, "", 0, 0)
	if err != nil || names(all) != "a-inst b-cluster c-cluster d-cluster" || len(all.Bodies) != 0 {
		t.Fatalf("every compute: %q %d bodies, %v", names(all), len(all.Bodies), err)
	}
	subnet := func(name string) arm.ID { id, _ := arm.ParseID(vnetNet+"/subnets/"+name, ""); return id }
	for i, want := range []ComputeSummary{{ComputeType: "ComputeInstance", Subnet: subnet("compute"), PublicIP: true},
		{ComputeType: "AmlCompute", Subnet: subnet("compute"), PublicIP: true}, {ComputeType: "AmlCompute", PublicIP: true}} {
		got := all.Computes[i]
		if got.ComputeType != want.ComputeType || got.Subnet.IsZero() != want.Subnet.IsZero() || got.Subnet.Key() != want.Subnet.Key() || got.PublicIP != want.PublicIP {
			t.Errorf("%s: %+v, want %+v", got.ID.Leaf(), got, want)
		}
	}
	// The second cluster's page of one: the body the API returns.
	page, err := c.srv.ListComputes(asPrincipal(c.token), ws, "AmlCompute", 1, 1)
	if err != nil || names(page) != "b-cluster c-cluster d-cluster" || len(page.Bodies) != 1 {
		t.Fatalf("clusters from the second: %q %d bodies, %v", names(page), len(page.Bodies), err)
	}
	rec, err := c.st.Get(context.Background(), wsML+"/computes/c-cluster")
	if err != nil || !bytes.Equal(page.Bodies[0], rec.Body) {
		t.Errorf("the page's body %s, the API's %s (%v)", page.Bodies[0], rec.Body, err)
	}
	if past, err := c.srv.ListComputes(asPrincipal(c.token), ws, "AmlCompute", 50, 50); err != nil || len(past.Bodies) != 0 || len(past.Computes) != 3 {
		t.Errorf("a page past the end: %d bodies, %v", len(past.Bodies), err)
	}
	if _, err := c.srv.ListComputes(asPrincipal(c.token), ws, "", -1, 1); err == nil {
		t.Error("a negative offset was accepted")
	}

	// A write shows at once.
	c.start("DELETE", wsML+"/computes/b-cluster"+mlVersion+"&underlyingResourceAction=Delete", "", http.StatusAccepted)
	if after, err := c.srv.ListComputes(asPrincipal(c.token), ws, "AmlCompute", 0, 50); err != nil || names(after) != "c-cluster d-cluster" || len(after.Bodies) != 2 {
		t.Errorf("after a delete: %q %d bodies, %v", names(after), len(after.Bodies), err)
	}

	// The list's refusals, as the API answers them.
	networkReader := c.as("network-reader", "Reader", rgNet)
	missing, _ := arm.ParseID(rgML+"/providers/Microsoft.MachineLearningServices/workspaces/nope", "")
	vnet, _ := arm.ParseID(vnetNet, "")
	for _, tc := range []refusal{
		{"no token", "", ws, http.StatusUnauthorized, "AuthenticationFailed"},
		{"a Reader of another resource group", networkReader.token, ws, http.StatusForbidden, "AuthorizationFailed"},
		{"a workspace that does not exist", c.token, missing, http.StatusNotFound, "ResourceNotFound"},
		{"the id of a VNet", c.token, vnet, http.StatusBadRequest, "InvalidResourceId"},
	} {
		got, err := c.srv.ListComputes(asPrincipal(tc.token), tc.id, "", 0, 50)
		if status, code, _ := ErrorAnswer(err); err == nil || status != tc.status || code != tc.code || len(got.Computes) != 0 {
			t.Errorf("%s: %d %s (%v), %d computes", tc.what, status, code, err, len(got.Computes))
		}
	}
}

// BenchmarkListComputes1000 is the studio's first Compute page (50
// clusters and the count) in a workspace of 1,000 clusters: warm, from
// the cached index; cold, the first page after a write, which rebuilds
// the index from the store.
func BenchmarkListComputes1000(b *testing.B) {
	c, _ := benchServer(b)
	mustDo(b, c, "PUT", rgML+rgVersion, `{"location":"eastus"}`, http.StatusCreated)
	mustDo(b, c, "PUT", wsML+mlVersion, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{}}`, http.StatusOK)
	mustDo(b, c, "PUT", wsML+"/computes/c0000"+mlVersion,
		`{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS3_v2","scaleSettings":{"maxNodeCount":1}}}}`, http.StatusCreated)
	c.settle()
	ctx := context.Background()
	first, err := c.st.Get(ctx, wsML+"/computes/c0000")
	if err != nil {
		b.Fatal(err)
	}
	// 999 more of the same body, written to the store directly (the API
	// would provision each): a page reads them as it reads any compute.
	if err := c.st.Update(ctx, func(tx store.Tx) error {
		for i := 1; i < 1000; i++ {
			name := fmt.Sprintf("c%04d", i)
			body := bytes.ReplaceAll(first.Body, []byte("c0000"), []byte(name))
			if _, err := tx.Put(ctx, store.Record{ID: wsML + "/computes/" + name, Type: first.Type, Body: body}, store.Condition{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	ws, _ := arm.ParseID(wsML, "")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+c.token)
	for _, cold := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "cold"}[cold], func(b *testing.B) {
			c.srv.computes.invalidate(sub)
			for b.Loop() {
				if cold {
					c.srv.computes.invalidate(sub)
				}
				l, err := c.srv.ListComputes(r, ws, "AmlCompute", 0, 50)
				if err != nil || len(l.Computes) != 1000 || len(l.Bodies) != 50 {
					b.Fatalf("%d computes, %d bodies, %v", len(l.Computes), len(l.Bodies), err)
				}
			}
		})
	}
}

func TestCheckComputeOfAnExistingCompute(t *testing.T) { // the studio's compute page: `securetrain check` on the cached network
	c := newClient(t)
	provisionEnv(t, c, "")
	c.begin("PUT", wsML+"/computes/gpu"+mlVersion, clusterBody("compute", 0, 0, "PT5M"), http.StatusCreated)
	c.settle()
	id, _ := arm.ParseID(wsML+"/computes/gpu", "")
	rep, err := c.srv.CheckCompute(asPrincipal(c.token), id)
	if err != nil || !strings.EqualFold(rep.ID, id.String()) || len(rep.Flows) == 0 {
		t.Fatalf("the cluster's check: %+v, %v", rep, err)
	}
	for _, f := range rep.Flows {
		if f.Verdict == "" || f.Result == nil {
			t.Errorf("flow %q has no verdict or explanation", f.Name)
		}
	}
	// Its refusals: the explanations name the network's rules, so a
	// reader of the workspace alone does not see them.
	mlReader := c.as("ml-reader", "Reader", rgML)
	networkReader := c.as("network-reader", "Reader", rgNet)
	missing, _ := arm.ParseID(wsML+"/computes/nope", "")
	for _, tc := range []refusal{
		{"no token", "", id, http.StatusUnauthorized, "AuthenticationFailed"},
		{"a Reader of the workspace's resource group only", mlReader.token, id, http.StatusForbidden, "AuthorizationFailed"},
		{"a Reader of the network's resource group only", networkReader.token, id, http.StatusForbidden, "AuthorizationFailed"},
		{"a compute that does not exist", c.token, missing, http.StatusNotFound, "ResourceNotFound"},
	} {
		got, err := c.srv.CheckCompute(asPrincipal(tc.token), tc.id)
		if status, code, _ := ErrorAnswer(err); err == nil || status != tc.status || code != tc.code || len(got.Flows) != 0 {
			t.Errorf("%s: %d %s (%v)", tc.what, status, code, err)
		}
	}
}
