package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// A store may re-run a transaction's closure (store.Store's contract:
// PostgreSQL retries serialization failures). These tests drive the API and
// the provisioner through storetest.Retrying, which re-runs every closure,
// and check that the answers and what is stored are those of the plain
// store.

const (
	lockAPI    = "?api-version=2016-09-01"
	ownerRole  = "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	readerRole = "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	bobID      = "11111111-2222-3333-4444-555555555555"
	customRole = "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/99999999-8888-7777-6666-555555555555"
)

// volatile matches what differs from one run to the next: etags, GUIDs
// (operations, assignments), times, the test server's address.
var volatile = regexp.MustCompile(`W/\\*"[0-9a-f]{32}\\*"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|` +
	`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?|127\.0\.0\.1:\d+`)

// transcript is a scenario's answers and the records it leaves, with the
// volatile parts replaced.
type transcript struct {
	t     *testing.T
	c     *client
	lines []string
}

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, volatile.ReplaceAllString(fmt.Sprintf(format, args...), "~"))
}

// do sends a request, requires the answer want, records it, and waits for
// the operation it starts.
func (tr *transcript) do(method, path, body string, want int, hdr ...string) {
	tr.t.Helper()
	st, out, h := tr.c.do(method, path, body, hdr...)
	if st != want {
		tr.t.Fatalf("%s %s: %d %v, want %d", method, path, st, out, want)
	}
	raw, _ := json.Marshal(out)
	tr.add("%s %s -> %d %s", method, path, st, raw)
	if op := h.Get("Azure-AsyncOperation"); op != "" {
		raw, _ := json.Marshal(tr.c.wait(op))
		tr.add("  operation -> %s", raw)
	}
}

// stored records every record but the token hashes, in a volatile-free
// order.
func (tr *transcript) stored() []string {
	tr.t.Helper()
	var recs []string
	err := store.Each(context.Background(), tr.c.st, store.Query{}, func(r store.Record) error {
		if r.Type != tokenType {
			recs = append(recs, volatile.ReplaceAllString(fmt.Sprintf("%s %s %s %s", r.ID, r.Type, r.ETag, r.Body), "~"))
		}
		return nil
	})
	if err != nil {
		tr.t.Fatal(err)
	}
	slices.Sort(recs)
	return recs
}

// steady waits until the compute's resize has ended.
func (c *client) steady(name string) {
	c.t.Helper()
	c.settle() // the engine has done all it can: a resize still running is a failure
	if _, inner := c.compute(name); inner["allocationState"] != "Steady" {
		c.t.Fatalf("compute %s is still resizing: %v", name, inner)
	}
}

// retryScenario creates resources and computes, resizes and deletes one,
// deletes a VNet another peers to, PATCHes, assigns roles and locks, and
// returns the transcript.
func retryScenario(t *testing.T, c *client) []string {
	tr := &transcript{t: t, c: c}
	put := func(path, body string, want int) { t.Helper(); tr.do("PUT", path+versionFor(path), body, want) }
	for _, rg := range []string{rgML, rgNet} {
		tr.do("PUT", rg+rgVersion, `{"location":"eastus","tags":{"team":"ml"}}`, http.StatusCreated)
	}
	tr.do("PUT", rgNet+rgVersion, `{"location":"eastus"}`, http.StatusOK)
	put(netNet+"networkSecurityGroups/nsg-compute", `{"location":"eastus","properties":{"securityRules":[{"name":"AllowAzureML","properties":{"priority":300,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"AzureMachineLearning","sourcePortRange":"*","destinationAddressPrefix":"VirtualNetwork","destinationPortRange":"44224"}}]}}`, http.StatusCreated)
	put(vnetNet, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[
		{"name":"compute","properties":{"addressPrefix":"10.0.1.0/24","defaultOutboundAccess":true,"networkSecurityGroup":{"id":"`+netNet+`networkSecurityGroups/nsg-compute"}}},
		{"name":"small","properties":{"addressPrefix":"10.0.2.0/26","defaultOutboundAccess":true}}]}}`, http.StatusCreated)
	put(wsML, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"friendlyName":"ws1"}}`, http.StatusOK)

	// PATCH: a merge patch whose null removes a tag.
	tr.do("PATCH", vnetNet+netVersion, `{"tags":{"a":"1","b":"2"}}`, http.StatusOK)
	tr.do("PATCH", vnetNet+netVersion, `{"tags":{"a":null}}`, http.StatusOK)

	// An inline child: created, repeated, refused with a stale etag, deleted.
	subnet := vnetNet + "/subnets/extra"
	put(subnet, `{"properties":{"addressPrefix":"10.0.9.0/24"}}`, http.StatusCreated)
	put(subnet, `{"properties":{"addressPrefix":"10.0.9.0/24"}}`, http.StatusOK)
	tr.do("PUT", subnet+netVersion, `{"properties":{"addressPrefix":"10.0.9.0/25"}}`, http.StatusPreconditionFailed, "If-Match", store.NewETag())
	tr.do("DELETE", subnet+netVersion, "", http.StatusOK)

	// A peered VNet's delete leaves the peering to it Disconnected.
	vnet2 := netNet + "virtualNetworks/vnet2"
	put(vnet2, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"virtualNetworkPeerings":[{"name":"to-vnet","properties":{"remoteVirtualNetwork":{"id":"`+vnetNet+`"}}}]}}`, http.StatusCreated)
	put(vnetNet+"/virtualNetworkPeerings/to-vnet2", `{"properties":{"remoteVirtualNetwork":{"id":"`+vnet2+`"}}}`, http.StatusCreated)
	tr.do("DELETE", vnet2+netVersion, "", http.StatusOK)
	tr.do("GET", vnetNet+"/virtualNetworkPeerings/to-vnet2"+netVersion, "", http.StatusOK)

	// A private endpoint: created with the NIC Azure makes for it (a
	// derive hook), repeated, then deleted with its NIC (an owned hook);
	// the workspace PATCHed (its derive hook on a merge).
	pe := netNet + "privateEndpoints/pe-ws"
	put(pe, peBody("small", ""), http.StatusCreated)
	put(pe, peBody("small", ""), http.StatusOK)
	tr.do("PATCH", wsML+mlVersion, `{"tags":{"stage":"retry"}}`, http.StatusOK)
	// Its NIC holds its subnet: a VNet PUT without the subnet is refused.
	tr.do("PUT", vnetNet+netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`, http.StatusBadRequest)
	tr.do("DELETE", pe+netVersion, "", http.StatusOK)

	// A route table with inline routes, held by the subnet that uses it;
	// a policy assignment (synchronous, 201 always) refuses a type.
	rt := netNet + "routeTables/rt"
	put(rt, `{"location":"eastus","properties":{"routes":[{"name":"out","properties":{"addressPrefix":"0.0.0.0/0","nextHopType":"Internet"}}]}}`, http.StatusCreated)
	put(rt+"/routes/local", `{"properties":{"addressPrefix":"10.0.0.0/8","nextHopType":"VnetLocal"}}`, http.StatusCreated)
	put(vnetNet+"/subnets/held", `{"properties":{"addressPrefix":"10.0.8.0/24","routeTable":{"id":"`+rt+`"}}}`, http.StatusCreated)
	tr.do("DELETE", rt+netVersion, "", http.StatusBadRequest)
	policy := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/policyAssignments/no-nat?api-version=2023-04-01"
	noNAT := `{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
		"parameters":{"listOfResourceTypesNotAllowed":{"value":["Microsoft.Network/natGateways"]}}}}`
	tr.do("PUT", policy, noNAT, http.StatusCreated)
	tr.do("PUT", policy, noNAT, http.StatusCreated)
	tr.do("PUT", netNet+"natGateways/nat"+netVersion, `{"location":"eastus"}`, http.StatusForbidden)
	tr.do("DELETE", policy, "", http.StatusOK)

	// A cluster: created, resized, its scale settings PATCHed, deleted; an
	// instance: created and stopped.
	cluster := wsML + "/computes/cluster"
	put(cluster, clusterBody("compute", 0, 3, "PT30M"), http.StatusCreated)
	tr.do("POST", cluster+"/resize"+mlVersion, resize(2), http.StatusAccepted)
	tr.do("POST", cluster+"/listNodes"+mlVersion, "", http.StatusOK)
	tr.do("PATCH", cluster+mlVersion, `{"properties":{"properties":{"scaleSettings":{"maxNodeCount":1}}}}`, http.StatusOK)
	c.steady("cluster") // the resize the PATCH started
	tr.do("GET", cluster+mlVersion, "", http.StatusOK)
	instance := wsML + "/computes/instance"
	put(instance, instanceBody, http.StatusCreated)
	tr.do("POST", instance+"/stop"+mlVersion, "", http.StatusAccepted)
	tr.do("DELETE", cluster+mlVersion, "", http.StatusBadRequest) // no underlyingResourceAction
	tr.do("DELETE", cluster+mlVersion+"&underlyingResourceAction=Delete", "", http.StatusAccepted)

	// Role assignments and a custom role.
	if _, err := CreatePrincipal(context.Background(), c.st, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := AssignRole(context.Background(), c.st, "bob", "Reader", rgNet); err != nil {
		t.Fatal(err)
	}
	assignment := rgML + "/providers/Microsoft.Authorization/roleAssignments/" + bobID + authzVersion
	tr.do("PUT", assignment, `{"properties":{"roleDefinitionId":"`+readerRole+`","principalId":"bob"}}`, http.StatusCreated)
	tr.do("PUT", assignment, `{"properties":{"roleDefinitionId":"`+readerRole+`","principalId":"bob"}}`, http.StatusOK)
	tr.do("PUT", assignment, `{"properties":{"roleDefinitionId":"`+ownerRole+`","principalId":"bob"}}`, http.StatusConflict)
	tr.do("PUT", customRole+authzVersion, `{"properties":{"roleName":"Subnet Reader","permissions":[{"actions":["Microsoft.Network/virtualNetworks/subnets/read"],"notActions":[]}],"assignableScopes":["/subscriptions/`+sub+`"]}}`, http.StatusCreated)
	tr.do("DELETE", assignment, "", http.StatusOK)
	tr.do("DELETE", customRole+authzVersion, "", http.StatusOK)

	// A lock: created, repeated, holding a delete, removed.
	lock := rgNet + "/providers/Microsoft.Authorization/locks/keep" + lockAPI
	tr.do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`, http.StatusCreated)
	tr.do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`, http.StatusOK)
	tr.do("DELETE", netNet+"networkSecurityGroups/nsg-compute"+netVersion, "", http.StatusConflict)
	tr.do("DELETE", lock, "", http.StatusOK)

	tr.do("DELETE", rgML+rgVersion, "", http.StatusOK)
	return append(tr.lines, tr.stored()...)
}

// TestRetriedTransactionsGiveTheSameResults drives the scenario through the
// plain store and through stores that re-run every closure (twice, or three
// times with one run cut short at a random store call) and compares every
// answer and every record.
func TestRetriedTransactionsGiveTheSameResults(t *testing.T) {
	plain := retryScenario(t, newClient(t))
	for _, seed := range []uint64{0, 1, 2, 3} {
		var r *storetest.Retrying
		c := newClientOn(t, func(s store.Store) store.Store { r = storetest.NewRetrying(s, seed); return r }, Options{})
		retried := retryScenario(t, c)
		for i := range max(len(plain), len(retried)) {
			var p, q string
			if i < len(plain) {
				p = plain[i]
			}
			if i < len(retried) {
				q = retried[i]
			}
			if p != q {
				at := 0 // where they part, with some context before
				for at < min(len(p), len(q)) && p[at] == q[at] {
					at++
				}
				from := max(0, at-300)
				t.Errorf("seed %d, line %d, from byte %d:\nplain store:    %s\nretrying store: %s", seed, i, from, p[from:], q[from:])
				break
			}
		}
		if v := r.Violations(); len(v) > 0 {
			t.Errorf("seed %d: closures that hide the store's failures:\n%s", seed, strings.Join(v, "\n"))
		}
	}
}

// TestRetriedWritesAnswerForTheirLastRun: when a concurrent writer commits
// between a write's first run and its retry, the answer is the retry's —
// created (201) when what the first run found is gone, 412 when the etag
// the first run matched has changed.
func TestRetriedWritesAnswerForTheirLastRun(t *testing.T) {
	var r *storetest.Retrying
	c := newClientOn(t, func(s store.Store) store.Store { r = storetest.NewRetrying(s, 0); return r }, Options{})
	ctx := context.Background()
	// deleting removes a record between the runs of the next write.
	deleting := func(id string) {
		r.Between(func(ctx context.Context) error {
			return r.Store.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, id, store.Condition{}) })
		})
	}
	check := func(what, method, path, body string, want int, hdr ...string) {
		t.Helper()
		if st, out, _ := c.do(method, path, body, hdr...); st != want {
			t.Errorf("%s: %d %v, want %d", what, st, out, want)
		}
	}
	rg := "/subscriptions/" + sub + "/resourceGroups/rg-retry"
	check("create the group", "PUT", rg+rgVersion, `{"location":"eastus"}`, http.StatusCreated)
	deleting(rg)
	check("a group gone before the retry", "PUT", rg+rgVersion, `{"location":"eastus"}`, http.StatusCreated)

	vnet := rg + "/providers/Microsoft.Network/virtualNetworks/vn"
	body := `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.0.1.0/24"}}]}}`
	check("create the VNet", "PUT", vnet+netVersion, body, http.StatusCreated)
	deleting(vnet)
	check("a VNet gone before the retry", "PUT", vnet+netVersion, body, http.StatusCreated)

	_, sn, _ := c.do("GET", vnet+"/subnets/a"+netVersion, "")
	etag := arm.Str(sn, "etag")
	r.Between(func(ctx context.Context) error { // another writer changes the subnet
		return r.Store.Update(ctx, func(tx store.Tx) error {
			rec, err := tx.Get(ctx, vnet)
			if err != nil {
				return err
			}
			o, err := arm.DecodeBody(rec.Body)
			if err != nil {
				return err
			}
			arm.Items(arm.EnsureField(o, "properties"), "subnets")[0]["etag"] = store.NewETag()
			raw, _ := json.Marshal(o)
			_, err = tx.Put(ctx, store.Record{ID: rec.ID, Type: rec.Type, Body: raw}, store.Condition{})
			return err
		})
	})
	check("a subnet whose etag changed before the retry", "PUT", vnet+"/subnets/a"+netVersion, `{"properties":{"addressPrefix":"10.0.2.0/24"}}`,
		http.StatusPreconditionFailed, "If-Match", etag)

	assignment := rg + "/providers/Microsoft.Authorization/roleAssignments/" + bobID
	if _, err := CreatePrincipal(ctx, c.st, "bob"); err != nil {
		t.Fatal(err)
	}
	ra := `{"properties":{"roleDefinitionId":"` + readerRole + `","principalId":"bob"}}`
	check("create the assignment", "PUT", assignment+authzVersion, ra, http.StatusCreated)
	deleting(assignment)
	check("an assignment gone before the retry", "PUT", assignment+authzVersion, ra, http.StatusCreated)

	lock := rg + "/providers/Microsoft.Authorization/locks/keep"
	check("create the lock", "PUT", lock+lockAPI, `{"properties":{"level":"CanNotDelete"}}`, http.StatusCreated)
	deleting(lock)
	check("a lock gone before the retry", "PUT", lock+lockAPI, `{"properties":{"level":"CanNotDelete"}}`, http.StatusCreated)
}
