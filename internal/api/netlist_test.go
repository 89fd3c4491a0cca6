package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// TestListNetworkCountsWhatAzureMLCreated: the studio's lists of NSGs,
// load balancers and public IPs are the API's lists with what Azure ML
// created for a public-IP compute counted rather than listed, with the
// lists' RBAC; a write (the engine's too) shows at once.
func TestListNetworkCountsWhatAzureMLCreated(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	c.begin("PUT", wsML+"/computes/pub"+mlVersion, clusterBody("compute", 1, 1, "PT5M"), http.StatusCreated)
	c.settle()
	pip := netNet + "publicIPAddresses/pip-user"
	if st, out, _ := c.do("PUT", pip+netVersion, `{"location":"eastus","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`); st != http.StatusCreated {
		t.Fatalf("PUT %s: %d %v", pip, st, out)
	}
	type want struct{ bodies, azureML int }
	check := func(what, token string, wants map[string]want) {
		t.Helper()
		for typ, w := range wants {
			got, err := c.srv.ListNetwork(asPrincipal(token), sub, typ)
			if err != nil || len(got.Bodies) != w.bodies || got.AzureML != w.azureML {
				t.Errorf("%s, %s: %d bodies and %d Azure ML's, want %d and %d (%v)", what, typ, len(got.Bodies), got.AzureML, w.bodies, w.azureML, err)
			}
		}
	}
	created := map[string]want{resources.TypeNSG: {1, 1}, resources.TypeLoadBalancer: {0, 1}, resources.TypePublicIP: {1, 1},
		resources.TypeFirewall: {0, 0}, resources.TypeNATGateway: {0, 0}}
	check("with a public-IP cluster of one node", c.token, created)
	// A Reader of the subscription sees as much.
	check("a Reader of the subscription", c.as("sub-reader", "Reader", "/subscriptions/"+sub).token, created)
	// The body listed is the API's.
	users, err := c.srv.ListNetwork(asPrincipal(c.token), sub, resources.TypePublicIP)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := c.st.Get(context.Background(), pip); err != nil || len(users.Bodies) != 1 || !bytes.Equal(users.Bodies[0], rec.Body) {
		t.Errorf("the listed public IP %s, the API's %s (%v)", users.Bodies, rec.Body, err)
	}

	// The compute's delete removes what Azure ML created: no longer counted.
	c.start("DELETE", wsML+"/computes/pub"+mlVersion+"&underlyingResourceAction=Delete", "", http.StatusAccepted)
	c.settle()
	check("after the compute's delete", c.token, map[string]want{resources.TypeNSG: {1, 0}, resources.TypeLoadBalancer: {0, 0}, resources.TypePublicIP: {1, 0}})

	// The lists' refusals, as the API answers them: a Reader of one
	// resource group learns no count of the subscription's.
	networkReader := c.as("network-reader", "Reader", rgNet)
	for _, tc := range []struct {
		what, token, typ string
		status           int
		code             string
	}{
		{"no token", "", resources.TypeNSG, http.StatusUnauthorized, "AuthenticationFailed"},
		{"a Reader of one resource group", networkReader.token, resources.TypeNSG, http.StatusForbidden, "AuthorizationFailed"},
		{"a Reader of one resource group", networkReader.token, resources.TypeLoadBalancer, http.StatusForbidden, "AuthorizationFailed"},
	} {
		got, err := c.srv.ListNetwork(asPrincipal(tc.token), sub, tc.typ)
		if status, code, _ := ErrorAnswer(err); err == nil || status != tc.status || code != tc.code || len(got.Bodies) != 0 || got.AzureML != 0 {
			t.Errorf("%s, %s: %d %s (%v), %d bodies, %d counted", tc.what, tc.typ, status, code, err, len(got.Bodies), got.AzureML)
		}
	}
	if _, err := c.srv.ListNetwork(asPrincipal(c.token), sub, resources.TypeVirtualNetwork); err == nil {
		t.Error("a type the index does not hold was listed")
	}
}

// BenchmarkListNetwork1000 is the network page's list of load balancers
// in a subscription where 1,000 public-IP computes have Azure ML's NSG,
// load balancer and public IP each: warm, from the cached index; cold,
// the first page after a write, which rebuilds the index from the store.
func BenchmarkListNetwork1000(b *testing.B) {
	c, _ := benchServer(b)
	ctx := context.Background()
	// Written to the store directly (the API would provision computes
	// for them): the index reads them as it reads any.
	if err := c.st.Update(ctx, func(tx store.Tx) error {
		for i := range 1000 {
			tags := fmt.Sprintf(`"tags":{"createdBy":"AzureML","computeId":"%s/computes/c%d"}`, wsML, i)
			for typ, body := range map[string]string{
				resources.TypeNSG:          `{"location":"eastus",` + tags + `,"properties":{"securityRules":[]}}`,
				resources.TypePublicIP:     `{"location":"eastus",` + tags + `,"sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static","ipAddress":"20.1.2.3"}}`,
				resources.TypeLoadBalancer: `{"location":"eastus",` + tags + `,"sku":{"name":"Standard"},"properties":{"frontendIPConfigurations":[{"name":"frontend"}],"backendAddressPools":[{"name":"nodes"}]}}`,
			} {
				id := fmt.Sprintf("%s%s/aml-c%d", netProbe, strings.TrimPrefix(typ, "Microsoft.Network/"), i)
				if _, err := tx.Put(ctx, store.Record{ID: id, Type: typ, Body: []byte(strings.Replace(body, "{", `{"id":"`+id+`",`, 1))}, store.Condition{}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	r := asPrincipal(c.token)
	for _, cold := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "cold"}[cold], func(b *testing.B) {
			c.srv.networkLists.invalidate(sub)
			for b.Loop() {
				if cold {
					c.srv.networkLists.invalidate(sub)
				}
				l, err := c.srv.ListNetwork(r, sub, resources.TypeLoadBalancer)
				if err != nil || l.AzureML != 1000 || len(l.Bodies) != 0 {
					b.Fatalf("%d bodies, %d Azure ML's, %v", len(l.Bodies), l.AzureML, err)
				}
			}
		})
	}
}
