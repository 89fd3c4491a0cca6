package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"securetrain/internal/arm"
	"strings"
	"sync"
	"testing"

	"securetrain/internal/resources"
	"securetrain/internal/store"
)

const authzVersion = "?api-version=2022-04-01"

// as creates a principal with role at scope and returns a client that
// uses its token.
func (c *client) as(name, role, scope string) *client {
	c.t.Helper()
	tok, err := CreatePrincipal(context.Background(), c.st, name)
	if err != nil {
		c.t.Fatal(err)
	}
	if role != "" {
		if _, err := AssignRole(context.Background(), c.st, name, role, scope); err != nil {
			c.t.Fatal(err)
		}
	}
	other := *c
	other.token = tok
	return &other
}

func TestCustomRoleDefinitions(t *testing.T) { // issue 4 §5: custom roles with actions/notActions and wildcards
	c := newClient(t)
	probeEnvironment(t, c)
	subScope := "/subscriptions/" + sub
	roleID := "11111111-2222-3333-4444-555555555555"
	rolePath := subScope + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID + authzVersion
	body := `{"properties":{"roleName":"Subnet Tender","description":"reads networks and changes subnets, never NSGs",
		"permissions":[{"actions":["Microsoft.Network/*/read","Microsoft.Network/virtualNetworks/subnets/*"],"notActions":["Microsoft.Network/virtualNetworks/subnets/delete"]}],
		"assignableScopes":["` + subScope + `"]}}`
	if st, out, _ := c.do("PUT", rolePath, body); st != http.StatusCreated || arm.EnsureField(out, "properties")["type"] != "CustomRole" {
		t.Fatalf("create custom role: %d %v", st, out)
	}
	// Listed with the built-ins, filterable by name as the SDK does.
	st, list, _ := c.do("GET", subScope+"/providers/Microsoft.Authorization/roleDefinitions"+authzVersion+"&$filter=roleName%20eq%20'Subnet%20Tender'", "")
	if st != http.StatusOK || len(list["value"].([]any)) != 1 {
		t.Fatalf("list by name: %d %v", st, list)
	}
	// Bad definitions are refused, naming the problem.
	for _, bad := range []struct{ body, code string }{
		{`{"properties":{"roleName":"Owner","permissions":[{"actions":["*"]}]}}`, "RoleDefinitionWithSameNameExists"},
		{`{"properties":{"roleName":"X","permissions":[{"actions":["read everything"]}]}}`, "InvalidActionOrNotAction"},
		{`{"properties":{"roleName":"X","permissions":[{"actions":["*"]}],"assignableScopes":["/subscriptions/other"]}}`, "InvalidAssignableScope"},
		{`{"properties":{"roleName":"X","permissions":[]}}`, "InvalidRoleDefinition"},
	} {
		if st, code, msg := c.errorCode("PUT", subScope+"/providers/Microsoft.Authorization/roleDefinitions/99999999-2222-3333-4444-555555555555"+authzVersion, bad.body); code != bad.code {
			t.Errorf("%s: got %d %s %s; want %s", bad.body, st, code, msg, bad.code)
		}
	}
	if st, code, _ := c.errorCode("PUT", subScope+"/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"+authzVersion,
		`{"properties":{"roleName":"Mine","permissions":[{"actions":["*"]}]}}`); st != http.StatusConflict || code != "RoleDefinitionUpdateNotPermitted" {
		t.Errorf("overwriting Owner: %d %s", st, code)
	}

	tender := c.as("tender", "Subnet Tender", subScope) // assigned by name, as `securetrain role assign` does
	subnet := vnetProbe + "/subnets/extra" + netVersion
	if st, out, _ := tender.do("PUT", subnet, `{"properties":{"addressPrefix":"10.0.7.0/24"}}`); st != http.StatusCreated {
		t.Fatalf("custom role writes a subnet: %d %v", st, out)
	}
	if st, code, _ := tender.errorCode("DELETE", subnet, ""); st != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Fatalf("notActions: delete allowed? %d %s", st, code)
	}
	if st, code, _ := tender.errorCode("PUT", nsgProbe+"/securityRules/r9"+netVersion, `{"properties":{"priority":900,"direction":"Inbound","access":"Allow","protocol":"*","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"*"}}`); st != http.StatusForbidden || code != "AuthorizationFailed" {
		t.Fatalf("NSG write outside the role: %d %s", st, code)
	}
	// A role in use cannot be deleted.
	if st, code, _ := c.errorCode("DELETE", rolePath, ""); st != http.StatusConflict || code != "RoleDefinitionHasAssignments" {
		t.Fatalf("delete an assigned role: %d %s", st, code)
	}
}

func TestLinkedAuthorizationFailed(t *testing.T) { // spec §1, §10 #8: join actions on the subnet and the VNet
	c := newClient(t)
	probeEnvironment(t, c)
	subScope := "/subscriptions/" + sub
	// A data scientist at the workspace only: may write its computes, but
	// has no join action on the subnet or VNet.
	ds := c.as("ds", "Data Scientist", wsProbe)
	body := strings.Replace(fixture(t, "amlcompute"), `"enableNodePublicIp":false`, `"enableNodePublicIp":true`, 1)
	st, code, msg := ds.errorCode("PUT", wsProbe+"/computes/ds-cluster"+mlVersion, body)
	if st != http.StatusForbidden || code != "LinkedAuthorizationFailed" || !strings.Contains(msg, "Microsoft.Network/virtualNetworks/subnets/join/action") ||
		!strings.Contains(msg, vnetProbe+"/subnets/snet-compute") {
		t.Fatalf("without join: %d %s %q", st, code, msg)
	}
	// With the join actions on the subnet and VNet (a custom role), it works.
	joiner := `{"properties":{"roleName":"Subnet Joiner","permissions":[{"actions":["Microsoft.Network/virtualNetworks/join/action","Microsoft.Network/virtualNetworks/subnets/join/action"]}]}}`
	if st, out, _ := c.do("PUT", subScope+"/providers/Microsoft.Authorization/roleDefinitions/21111111-2222-3333-4444-555555555555"+authzVersion, joiner); st != http.StatusCreated {
		t.Fatalf("joiner role: %d %v", st, out)
	}
	// Only subnets/join on the subnet is still not enough: the VNet's join is checked on the VNet.
	if _, err := AssignRole(context.Background(), c.st, "ds", "Subnet Joiner", vnetProbe+"/subnets/snet-compute"); err != nil {
		t.Fatal(err)
	}
	if st, code, msg := ds.errorCode("PUT", wsProbe+"/computes/ds-cluster"+mlVersion, body); st != http.StatusForbidden || !strings.Contains(msg, "virtualNetworks/join/action") {
		t.Fatalf("subnet join only: %d %s %q", st, code, msg)
	}
	if _, err := AssignRole(context.Background(), c.st, "ds", "Subnet Joiner", vnetProbe); err != nil {
		t.Fatal(err)
	}
	if st, out, _ := ds.do("PUT", wsProbe+"/computes/ds-cluster"+mlVersion, body); st != http.StatusCreated {
		t.Fatalf("with join: %d %v", st, out)
	}
}

func TestPolicyAssignments(t *testing.T) { // spec §4.1, §10 #9: RequestDisallowedByPolicy
	c := newClient(t)
	probeEnvironment(t, c)
	pol := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/policyAssignments/"
	const polVersion = "?api-version=2023-04-01"
	noPIP := `{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
		"parameters":{"listOfResourceTypesNotAllowed":{"value":["Microsoft.Network/publicIPAddresses"]}}}}`
	if st, out, _ := c.do("PUT", pol+"no-public-ips"+polVersion, noPIP); st != http.StatusCreated {
		t.Fatalf("assign: %d %v", st, out)
	}
	st, code, msg := c.errorCode("PUT", netProbe+"publicIPAddresses/pip2"+netVersion, fixture(t, "publicip"))
	if st != http.StatusForbidden || code != "RequestDisallowedByPolicy" || !strings.Contains(msg, "no-public-ips") {
		t.Fatalf("public IP under the policy: %d %s %q", st, code, msg)
	}
	// Other types pass.
	if st, out, _ := c.do("PUT", netProbe+"routeTables/rt2"+netVersion, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("route table: %d %v", st, out)
	}
	// securetrain's deny-property-value: computes must be in a subnet.
	inSubnet := `{"properties":{"policyDefinitionId":"` + resources.DenyPropertyPolicy + `","parameters":{
		"resourceType":{"value":"Microsoft.MachineLearningServices/workspaces/computes"},
		"field":{"value":"properties.properties.subnet.id"},"exists":{"value":false}}}}`
	if st, out, _ := c.do("PUT", "/subscriptions/"+sub+"/resourceGroups/rg-probe/providers/Microsoft.Authorization/policyAssignments/computes-in-subnet"+polVersion, inSubnet); st != http.StatusCreated {
		t.Fatalf("assign at the group: %d %v", st, out)
	}
	noSubnet := `{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS3_V2","scaleSettings":{"maxNodeCount":1}}}}`
	if st, code, msg := c.errorCode("PUT", wsProbe+"/computes/loose"+mlVersion, noSubnet); st != http.StatusForbidden || code != "RequestDisallowedByPolicy" ||
		!strings.Contains(msg, "properties.properties.subnet.id must be set") {
		t.Fatalf("compute without subnet: %d %s %q", st, code, msg)
	}
	// No public IP on nodes: deny enableNodePublicIp == true.
	npip := `{"properties":{"policyDefinitionId":"` + resources.DenyPropertyPolicy + `","parameters":{
		"resourceType":{"value":"Microsoft.MachineLearningServices/workspaces/computes"},
		"field":{"value":"properties.properties.enableNodePublicIp"},"equals":{"value":true}}}}`
	if st, out, _ := c.do("PUT", pol+"no-node-public-ip"+polVersion, npip); st != http.StatusCreated {
		t.Fatalf("assign: %d %v", st, out)
	}
	pip := strings.Replace(fixture(t, "amlcompute"), `"enableNodePublicIp":false`, `"enableNodePublicIp":true`, 1)
	if st, code, _ := c.errorCode("PUT", wsProbe+"/computes/pipc"+mlVersion, pip); st != http.StatusForbidden || code != "RequestDisallowedByPolicy" {
		t.Fatalf("public-IP compute: %d %s", st, code)
	}
	if st, out, _ := c.do("PUT", wsProbe+"/computes/npipc"+mlVersion, fixture(t, "amlcompute")); st != http.StatusCreated {
		t.Fatalf("no-public-IP compute: %d %v", st, out)
	}
	// DoNotEnforce lets it through.
	if st, _, _ := c.do("PUT", pol+"no-public-ips"+polVersion, strings.Replace(noPIP, `"parameters"`, `"enforcementMode":"DoNotEnforce","parameters"`, 1)); st != http.StatusCreated {
		t.Fatalf("update assignment: %d", st)
	}
	if st, out, _ := c.do("PUT", netProbe+"publicIPAddresses/pip2"+netVersion, fixture(t, "publicip")); st != http.StatusCreated {
		t.Fatalf("public IP with DoNotEnforce: %d %v", st, out)
	}
}

func TestResourceLocks(t *testing.T) { // spec §10 #9: locks on individual resources
	c := newClient(t)
	probeEnvironment(t, c)
	lock := vnetProbe + "/providers/Microsoft.Authorization/locks/keep?api-version=2020-05-01"
	if st, out, _ := c.do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); st != http.StatusCreated {
		t.Fatalf("lock the VNet: %d %v", st, out)
	}
	st, code, msg := c.errorCode("DELETE", vnetProbe+"/subnets/snet-pe"+netVersion, "")
	if st != http.StatusConflict || code != "ScopeLocked" || !strings.Contains(msg, "keep") {
		t.Fatalf("delete a subnet of a locked VNet: %d %s %q", st, code, msg)
	}
	// CanNotDelete allows writes; other resources are unaffected.
	if st, out, _ := c.do("PUT", vnetProbe+"/subnets/more"+netVersion, `{"properties":{"addressPrefix":"10.0.8.0/24"}}`); st != http.StatusCreated {
		t.Fatalf("write under CanNotDelete: %d %v", st, out)
	}
	if st, _, _ := c.do("DELETE", netProbe+"loadBalancers/lb-internal"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete an unlocked resource: %d", st)
	}
	// ReadOnly refuses writes too.
	if st, _, _ := c.do("PUT", lock, `{"properties":{"level":"ReadOnly"}}`); st != http.StatusOK {
		t.Fatalf("relock: %d", st)
	}
	if st, code, _ := c.errorCode("PUT", vnetProbe+"/subnets/more2"+netVersion, `{"properties":{"addressPrefix":"10.0.9.0/24"}}`); st != http.StatusConflict || code != "ScopeLocked" {
		t.Fatalf("write under ReadOnly: %d %s", st, code)
	}
	if st, _, _ := c.do("DELETE", lock, ""); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	if st, out, _ := c.do("PUT", vnetProbe+"/subnets/more2"+netVersion, `{"properties":{"addressPrefix":"10.0.9.0/24"}}`); st != http.StatusCreated {
		t.Fatalf("write after unlocking: %d %v", st, out)
	}
}

func TestConcurrentWritersOnOneVNet(t *testing.T) { // issue 4 §8: etag conflicts answer 412, never a lost update
	c := newClient(t)
	probeEnvironment(t, c)
	const writers = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, conflicts := map[int]bool{}, 0
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Read-modify-write with If-Match: add one subnet of our own.
			for {
				st, vnet, hdr := c.do("GET", vnetProbe+netVersion, "")
				if st != http.StatusOK {
					t.Errorf("writer %d: GET %d", i, st)
					return
				}
				props := arm.EnsureField(vnet, "properties")
				props["subnets"] = append(props["subnets"].([]any), map[string]any{"name": fmt.Sprintf("w%d", i),
					"properties": map[string]any{"addressPrefix": fmt.Sprintf("10.0.%d.0/24", 100+i)}})
				raw, _ := json.Marshal(vnet)
				st, out, _ := c.do("PUT", vnetProbe+netVersion, string(raw), "If-Match", hdr.Get("ETag"))
				mu.Lock()
				switch st {
				case http.StatusOK:
					won[i] = true
				case http.StatusPreconditionFailed:
					conflicts++
				default:
					t.Errorf("writer %d: PUT %d %v", i, st, out)
				}
				mu.Unlock()
				if st != http.StatusPreconditionFailed {
					return
				}
			}
		}()
	}
	wg.Wait()
	_, vnet, _ := c.do("GET", vnetProbe+netVersion, "")
	names := map[string]bool{}
	for _, s := range arm.Items(arm.EnsureField(vnet, "properties"), "subnets") {
		names[arm.Str(s, "name")] = true
	}
	for i := range writers {
		if !won[i] || !names[fmt.Sprintf("w%d", i)] {
			t.Errorf("writer %d: acknowledged %v, subnet present %v", i, won[i], names[fmt.Sprintf("w%d", i)])
		}
	}
	if len(names) != writers+2 {
		t.Errorf("%d subnets, want %d", len(names), writers+2)
	}
	t.Logf("%d writers, %d etag conflicts answered 412", writers, conflicts)
	if conflicts == 0 {
		t.Error("50 concurrent read-modify-writes never conflicted: the test did not exercise If-Match")
	}
}

func TestRestartKeepsState(t *testing.T) { // issue 4 §8
	dir := filepath.Join(t.TempDir(), "data") // the store creates it 0700
	start := func() (*client, func()) {
		st, err := store.OpenSQLite(dir)
		if err != nil {
			t.Fatal(err)
		}
		tok := adminToken(t, st, dir)
		s := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
		stopBackground := startBackground(s)
		srv := httptest.NewServer(s)
		return &client{t: t, base: srv.URL, token: tok, st: st, srv: s}, func() { srv.Close(); stopBackground(); st.Close() }
	}
	c, stop := start()
	probeEnvironment(t, c)
	paths := []string{rgProbe + "?api-version=2021-04-01", vnetProbe + netVersion, nsgProbe + netVersion, wsProbe + "/computes/ci-probe" + mlVersion,
		netProbe + "privateEndpoints/pe-mlw" + netVersion}
	var before []string
	for _, p := range paths {
		_, body, hdr := c.do("GET", p, "")
		before = append(before, fmt.Sprint(body, hdr.Get("ETag")))
	}
	stop()
	c, stop = start()
	defer stop()
	for i, p := range paths {
		st, body, hdr := c.do("GET", p, "")
		if got := fmt.Sprint(body, hdr.Get("ETag")); st != http.StatusOK || got != before[i] {
			t.Errorf("%s after restart: %d\n%s\nwas\n%s", p, st, got, before[i])
		}
	}
	// The references index survived too: the subnet is still in use.
	if st, code, _ := c.errorCode("DELETE", vnetProbe+"/subnets/snet-compute"+netVersion, ""); st != http.StatusBadRequest || code != "InUseSubnetCannotBeDeleted" {
		t.Errorf("in-use subnet after restart: %d %s", st, code)
	}
}
