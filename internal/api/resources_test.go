package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"strings"
	"testing"
	"time"
)

const (
	rgProbe    = "/subscriptions/" + sub + "/resourceGroups/rg-probe"
	netProbe   = rgProbe + "/providers/Microsoft.Network/"
	vnetProbe  = netProbe + "virtualNetworks/vnet-aml"
	nsgProbe   = netProbe + "networkSecurityGroups/nsg-aml"
	wsProbe    = rgProbe + "/providers/Microsoft.MachineLearningServices/workspaces/mlw-probe"
	netVersion = "?api-version=2025-01-01"
	mlVersion  = "?api-version=2024-04-01"
)

// versionOf is the api-version query the Azure SDK for Go sends for the
// resource at path: each type accepts the versions published for it.
func versionOf(t testing.TB, path string) string {
	t.Helper()
	id, err := arm.ParseID(path, "")
	if err != nil {
		t.Fatalf("versionOf(%s): %v", path, err)
	}
	return "?api-version=" + resources.SDKAPIVersion(id.Type())
}

// fixture is a request body the Azure SDK for Go sent (shared/fixtures).
func fixture(t *testing.T, name string) string {
	t.Helper()
	// The SDK's request bodies are kept once, with the decoder's tests.
	data, err := os.ReadFile(filepath.Join("..", "resources", "testdata", "arm-requests", name+".put.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// probeEnvironment creates, from the SDK's own request bodies, the probe's
// resource group, network, workspace, private endpoint and computes; it
// checks each answer's status and long-running-operation header.
func probeEnvironment(t *testing.T, c *client) {
	t.Helper()
	if st, body, _ := c.do("PUT", rgProbe+"?api-version=2021-04-01", fixture(t, "resourcegroup")); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, body)
	}
	for _, step := range []struct{ path, fixture string }{
		{nsgProbe, "nsg"},
		{netProbe + "routeTables/rt-egress", "routetable"},
		{netProbe + "publicIPAddresses/pip-nat", "publicip"},
		{netProbe + "natGateways/nat-egress", "natgateway"},
		{netProbe + "serviceEndpointPolicies/sep-storage", "serviceendpointpolicy"},
		{vnetProbe, "vnet"},
		{vnetProbe + "/subnets/snet-pe", "subnet"},
		{nsgProbe + "/securityRules/AllowBatchNodeManagement", "securityrule"},
		{netProbe + "loadBalancers/lb-internal", "loadbalancer"},
		{wsProbe, "ml-workspace"},
		{netProbe + "privateEndpoints/pe-mlw", "privateendpoint"},
		{wsProbe + "/computes/cpu-cluster", "amlcompute"},
		{wsProbe + "/computes/ci-probe", "computeinstance"},
	} {
		version := netVersion
		want := http.StatusCreated
		if strings.Contains(step.path, "MachineLearningServices") {
			version = mlVersion
			if !strings.Contains(step.path, "/computes/") {
				want = http.StatusOK // the SDK refuses 201 for a workspace
			}
		}
		reqBody := fixture(t, step.fixture)
		if step.fixture == "vnet" {
			// The compute subnet needs a way out (spec §8.3): the NAT
			// gateway, as the SDK probe's egress subnet has.
			reqBody = strings.Replace(reqBody, `"defaultOutboundAccess":false,`,
				`"defaultOutboundAccess":false,"natGateway":{"id":"`+netProbe+`natGateways/nat-egress"},`, 1)
		}
		st, body, hdr := c.do("PUT", step.path+version, reqBody, "Content-Type", "application/json")
		if st != want {
			t.Fatalf("PUT %s: %d %v", step.fixture, st, body)
		}
		// Computes are provisioned by the worker; the rest finish in the request.
		state, retry := "Succeeded", "0"
		if strings.Contains(step.path, "/computes/") {
			state, retry = "Creating", "10"
		}
		if body["id"] != step.path || arm.EnsureField(body, "properties")["provisioningState"] != state {
			t.Errorf("PUT %s: body %v", step.fixture, body)
		}
		op := hdr.Get("Azure-AsyncOperation")
		if !strings.HasPrefix(op, c.base+"/subscriptions/"+sub+"/providers/") || hdr.Get("Retry-After-Ms") != retry {
			t.Fatalf("PUT %s: Azure-AsyncOperation %q, retry-after-ms %q", step.fixture, op, hdr.Get("Retry-After-Ms"))
		}
		if status := c.wait(op); status["status"] != "Succeeded" {
			t.Fatalf("operation of %s: %v", step.fixture, status)
		}
	}
}

// wait polls an Azure-AsyncOperation URL until the operation ends, and
// returns its last status body; an operation still running at the poll
// deadline fails the test.
func (c *client) wait(op string) map[string]any {
	c.t.Helper()
	// An in-process server's engine is done with the operation when it is
	// quiet; a server in another process is polled.
	c.settle()
	var status map[string]any
	poll(c.t, "operation "+op, patient, func() (bool, any) {
		st, out, _ := c.do("GET", strings.TrimPrefix(op, c.base), "")
		if st != http.StatusOK {
			c.t.Fatalf("poll %s: %d %v", op, st, out)
		}
		status = out
		return status["status"] != "InProgress", status
	})
	return status
}

// pollTimeout bounds every wait of these tests: a server that never gets
// there fails the test instead of hanging it (-race on 2 cores is slow).
const pollTimeout = 120 * time.Second

// patient is the longest pause between polls of a test: many waiters
// must not starve the provisioning worker.
const patient = 250 * time.Millisecond

// poll calls check until it reports done, pausing from 1 ms up to
// maxPause between calls; when pollTimeout passes first it fails tb,
// naming what it waited for and the last state check returned.
func poll(tb testing.TB, what string, maxPause time.Duration, check func() (done bool, state any)) {
	tb.Helper()
	deadline := time.Now().Add(pollTimeout)
	pause := min(time.Millisecond, maxPause)
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not done after %v; last state %v", what, pollTimeout, state)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPause)
	}
}

func TestResourcesFromSDKRequests(t *testing.T) { // arm-api-notes.md: status codes, LROs, field names
	c := newClient(t)
	probeEnvironment(t, c)

	// A standalone subnet and rule land inside their parent, with ids and etags.
	st, vnet, _ := c.do("GET", vnetProbe+netVersion, "")
	if st != http.StatusOK {
		t.Fatalf("GET vnet: %d %v", st, vnet)
	}
	subnets := arm.Items(arm.EnsureField(vnet, "properties"), "subnets")
	if len(subnets) != 2 || subnets[1]["id"] != vnetProbe+"/subnets/snet-pe" || subnets[1]["etag"] == "" ||
		subnets[1]["type"] != "Microsoft.Network/virtualNetworks/subnets" {
		t.Fatalf("subnets: %v", subnets)
	}
	st, sn, hdr := c.do("GET", strings.ToUpper(vnetProbe)+"/SUBNETS/snet-compute"+netVersion, "")
	if st != http.StatusOK || sn["name"] != "snet-compute" || hdr.Get("ETag") != sn["etag"] {
		t.Fatalf("GET subnet (upper case path): %d %v etag %q", st, sn, hdr.Get("ETag"))
	}
	st, list, _ := c.do("GET", vnetProbe+"/subnets"+netVersion, "")
	if st != http.StatusOK || len(list["value"].([]any)) != 2 {
		t.Fatalf("list subnets: %d %v", st, list)
	}
	// Azure's default rules are filled in (spec §8.1).
	_, nsg, _ := c.do("GET", nsgProbe+netVersion, "")
	props := arm.EnsureField(nsg, "properties")
	if d := arm.Items(props, "defaultSecurityRules"); len(d) != 6 || d[2]["name"] != "DenyAllInBound" {
		t.Fatalf("defaultSecurityRules: %v", d)
	}
	if r := arm.Items(props, "securityRules"); len(r) != 3 {
		t.Fatalf("securityRules: %v", r)
	}
	// Computes come back with their type (the SDK's polymorphism).
	_, ci, _ := c.do("GET", wsProbe+"/computes/ci-probe"+mlVersion, "")
	if arm.EnsureField(ci, "properties")["computeType"] != "ComputeInstance" {
		t.Fatalf("compute instance: %v", ci)
	}
	st, computes, _ := c.do("GET", wsProbe+"/computes"+mlVersion, "")
	if st != http.StatusOK || len(computes["value"].([]any)) != 2 {
		t.Fatalf("list computes: %d %v", st, computes)
	}
	// Subscription-wide list.
	st, vnets, _ := c.do("GET", "/subscriptions/"+sub+"/providers/Microsoft.Network/virtualNetworks"+netVersion, "")
	if st != http.StatusOK || len(vnets["value"].([]any)) != 1 {
		t.Fatalf("list VNets in the subscription: %d %v", st, vnets)
	}
}

// errorCode sends a request and returns its status and ARM error code.
func (c *client) errorCode(method, path, body string) (int, string, string) {
	c.t.Helper()
	st, out, hdr := c.do(method, path, body, "Content-Type", "application/json")
	e := arm.EnsureField(out, "error")
	if hdr.Get("x-ms-error-code") != arm.Str(e, "code") {
		c.t.Errorf("%s %s: x-ms-error-code %q, body code %q", method, path, hdr.Get("x-ms-error-code"), arm.Str(e, "code"))
	}
	return st, arm.Str(e, "code"), arm.Str(e, "message")
}

func TestWriteTimeRules(t *testing.T) { // issue 4 §4; spec §8.1, §8.3
	c := newClient(t)
	probeEnvironment(t, c)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, says               string
	}{
		{"duplicate NSG priority", "PUT", nsgProbe + "/securityRules/dup" + netVersion,
			`{"properties":{"priority":100,"direction":"Inbound","access":"Deny","protocol":"*","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"*"}}`,
			400, "SecurityRuleConflict", "priority 100 is already used by inbound rule AllowAzureMLInbound"},
		{"subnet outside the address space", "PUT", vnetProbe + "/subnets/far" + netVersion, `{"properties":{"addressPrefix":"10.9.0.0/24"}}`,
			400, "NetcfgSubnetRangeOutsideVnet", "outside the address space"},
		{"overlapping subnets", "PUT", vnetProbe + "/subnets/over" + netVersion, `{"properties":{"addressPrefix":"10.0.1.128/25"}}`,
			400, "NetcfgSubnetRangesOverlap", "overlaps subnet vnet-aml/snet-compute (10.0.1.0/24)"},
		{"missing NSG", "PUT", vnetProbe + "/subnets/x" + netVersion,
			`{"properties":{"addressPrefix":"10.0.9.0/24","networkSecurityGroup":{"id":"` + netProbe + `networkSecurityGroups/nope"}}}`,
			400, "InvalidResourceReference", "networkSecurityGroups/nope not found"},
		{"invalid CIDR", "PUT", vnetProbe + "/subnets/x" + netVersion, `{"properties":{"addressPrefix":"10.0.9.0/33"}}`,
			400, "InvalidRequestContent", "10.0.9.0/33"},
		{"unknown field", "PUT", netProbe + "routeTables/rt2" + netVersion, `{"location":"eastus","properties":{"routez":[]}}`,
			400, "InvalidRequestContent", `unknown field "routez"; did you mean "routes"?`},
		{"subnet in use", "DELETE", vnetProbe + "/subnets/snet-compute" + netVersion, "",
			400, "InUseSubnetCannotBeDeleted", "privateEndpoints/pe-mlw"},
		{"VNet with a subnet in use", "DELETE", vnetProbe + netVersion, "",
			400, "InUseSubnetCannotBeDeleted", "computes/cpu-cluster"},
		{"VNet PUT leaving out a subnet in use", "PUT", vnetProbe + netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`,
			400, "InUseSubnetCannotBeDeleted", "snet-compute"},
		{"NSG attached to a subnet", "DELETE", nsgProbe + netVersion, "",
			400, "InUseNetworkSecurityGroupCannotBeDeleted", "virtualNetworks/vnet-aml"},
		{"route table attached to a subnet", "DELETE", netProbe + "routeTables/rt-egress" + netVersion, "",
			400, "InUseRouteTableCannotBeDeleted", "virtualNetworks/vnet-aml"},
		{"compute name too long for a cluster", "PUT", wsProbe + "/computes/cluster-name-far-too-long" + mlVersion,
			`{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS3_V2","scaleSettings":{"maxNodeCount":1}}}}`,
			400, "BadRequest", "2–16 letters"},
		{"parent missing", "PUT", netProbe + "virtualNetworks/nope/subnets/a" + netVersion, `{"properties":{"addressPrefix":"10.0.0.0/24"}}`,
			404, "ParentResourceNotFound", "nope"},
		{"resource group missing", "PUT", "/subscriptions/" + sub + "/resourceGroups/nope/providers/Microsoft.Network/routeTables/r" + netVersion,
			`{"location":"eastus"}`, 404, "ResourceGroupNotFound", "nope"},
		{"location missing", "PUT", netProbe + "routeTables/r" + netVersion, `{}`, 400, "LocationRequired", "location"},
		{"location change", "PUT", netProbe + "routeTables/rt-egress" + netVersion, `{"location":"westus"}`, 409, "InvalidResourceLocation", "eastus"},
		{"unknown type", "GET", netProbe + "virtualRouters/x" + netVersion, "", 404, "InvalidResourceType", "virtualRouters"},
		{"network api-version", "GET", vnetProbe + "?api-version=2019-01-01", "", 400, "NoRegisteredProviderFound",
			"No registered resource provider found for location 'eastus' and API version '2019-01-01' for type 'virtualNetworks'."},
		{"network api-version at the subscription", "GET", "/subscriptions/" + sub + "/providers/Microsoft.Network/virtualNetworks?api-version=2019-01-01", "", 400, "InvalidResourceType",
			"The resource type 'virtualNetworks' could not be found in the namespace 'Microsoft.Network' for api version '2019-01-01'. The supported api-versions are '2014-12-01-preview, "},
		{"escaped slash in a name", "PUT", netProbe + "routeTables/a%2F..%2Fb" + netVersion, `{"location":"eastus"}`, 400, "InvalidResourceName", "a/../b"},
		{"dot-dot name", "GET", netProbe + "routeTables/.." + netVersion, "", 400, "InvalidResourceName", ".."},
		{"not JSON", "PUT", netProbe + "routeTables/r" + netVersion, `{"location":`, 400, "InvalidRequestContent", "deserialized"},
		{"oversized body", "PUT", netProbe + "routeTables/r" + netVersion, `{"location":"eastus","tags":{"x":"` + strings.Repeat("a", MaxBody) + `"}}`,
			413, "RequestEntityTooLarge", "larger than"},
		{"array body", "PUT", netProbe + "routeTables/r" + netVersion, `[]`, 400, "InvalidRequestContent", "object"},
		{"compute delete without underlyingResourceAction", "DELETE", wsProbe + "/computes/ci-probe" + mlVersion, "",
			400, "MissingRequiredParameter", "underlyingResourceAction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _, _ := c.do("GET", vnetProbe+netVersion, "")
			st, code, msg := c.errorCode(tc.method, tc.path, tc.body)
			if st != tc.status || code != tc.code || !strings.Contains(msg, tc.says) {
				t.Fatalf("got %d %s %q; want %d %s saying %q", st, code, msg, tc.status, tc.code, tc.says)
			}
			if after, _, _ := c.do("GET", vnetProbe+netVersion, ""); after != before {
				t.Fatalf("the VNet changed: %d → %d", before, after)
			}
		})
	}
	// Wrong content type.
	st, out, _ := c.do("PUT", netProbe+"routeTables/r"+netVersion, `{"location":"eastus"}`, "Content-Type", "text/plain")
	if st != http.StatusUnsupportedMediaType || arm.Str(arm.EnsureField(out, "error"), "code") != "UnsupportedMediaType" {
		t.Fatalf("text/plain: %d %v", st, out)
	}
}

func TestNoPublicIPComputeNeedsWorkspacePrivateEndpoint(t *testing.T) { // issue 4 §4; spec §4.1, §10 #7
	c := newClient(t)
	probeEnvironment(t, c)
	// Without the private endpoint the no-public-IP cluster is refused with Azure's words.
	if st, code, msg := c.errorCode("DELETE", netProbe+"privateEndpoints/pe-mlw"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete the private endpoint: %d %s %s", st, code, msg)
	}
	st, code, msg := c.errorCode("PUT", wsProbe+"/computes/cpu2"+mlVersion, fixture(t, "amlcompute"))
	if st != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "EnableNodePublicIp 'False' requires workspace private endpoint") {
		t.Fatalf("got %d %s %q", st, code, msg)
	}
	// With a public IP it is accepted.
	body := strings.Replace(fixture(t, "amlcompute"), `"enableNodePublicIp":false`, `"enableNodePublicIp":true`, 1)
	if st, out, _ := c.do("PUT", wsProbe+"/computes/cpu2"+mlVersion, body); st != http.StatusCreated {
		t.Fatalf("public-IP cluster: %d %v", st, out)
	}
}

func TestDeleteAndETags(t *testing.T) { // issue 4 §2, §3
	c := newClient(t)
	probeEnvironment(t, c)
	// If-Match on an inline child compares the child's own etag.
	_, sn, _ := c.do("GET", vnetProbe+"/subnets/snet-pe"+netVersion, "")
	etag := arm.Str(sn, "etag")
	body := `{"properties":{"addressPrefix":"10.0.3.0/24","defaultOutboundAccess":false}}`
	if st, out, _ := c.do("PUT", vnetProbe+"/subnets/snet-pe"+netVersion, body, "If-Match", `W/"stale"`); st != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %v", st, out)
	}
	st, out, _ := c.do("PUT", vnetProbe+"/subnets/snet-pe"+netVersion, body, "If-Match", etag)
	if st != http.StatusOK || arm.Str(out, "etag") == etag {
		t.Fatalf("If-Match: %d %v", st, out)
	}
	// A VNet PUT that repeats a subnet as it is keeps that subnet's etag.
	_, vnet, _ := c.do("GET", vnetProbe+netVersion, "")
	before := arm.Items(arm.EnsureField(vnet, "properties"), "subnets")[0]["etag"]
	raw, _ := json.Marshal(vnet)
	if st, out, _ := c.do("PUT", vnetProbe+netVersion, string(raw)); st != http.StatusOK {
		t.Fatalf("re-PUT of the VNet: %d %v", st, out)
	}
	_, vnet, _ = c.do("GET", vnetProbe+netVersion, "")
	if after := arm.Items(arm.EnsureField(vnet, "properties"), "subnets")[0]["etag"]; after != before {
		t.Fatalf("unchanged subnet's etag %v → %v", before, after)
	}
	// The same PUT again changes nothing, not even the etag.
	rt := fixture(t, "routetable")
	_, first, _ := c.do("PUT", netProbe+"routeTables/rt-egress"+netVersion, rt)
	_, second, _ := c.do("PUT", netProbe+"routeTables/rt-egress"+netVersion, rt)
	if first["etag"] != second["etag"] || first["etag"] == nil {
		t.Fatalf("repeated PUT changed the etag: %v → %v", first["etag"], second["etag"])
	}
	// Deleting: 200, then 204 for what is gone; children go with their parent.
	if st, _, _ := c.do("DELETE", vnetProbe+"/subnets/snet-pe"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete subnet: %d", st)
	}
	if st, _, _ := c.do("DELETE", vnetProbe+"/subnets/snet-pe"+netVersion, ""); st != http.StatusNoContent {
		t.Fatalf("delete again: %d", st)
	}
	// Now the service endpoint policy is free (the NAT gateway still serves the compute subnet).
	for _, p := range []string{"serviceEndpointPolicies/sep-storage"} {
		if st, out, _ := c.do("DELETE", netProbe+p+netVersion, ""); st != http.StatusOK {
			t.Fatalf("delete %s: %d %v", p, st, out)
		}
	}
	if st, _, _ := c.do("DELETE", wsProbe+"?api-version=2024-04-01", ""); st != http.StatusOK {
		t.Fatalf("delete workspace: %d", st)
	}
	if st, _, _ := c.do("GET", wsProbe+"/computes/ci-probe"+mlVersion, ""); st != http.StatusNotFound {
		t.Fatalf("compute outlived its workspace: %d", st)
	}
	// PATCH merges (tags), keeps the rest.
	st, out, _ = c.do("PATCH", netProbe+"routeTables/rt-egress"+netVersion, `{"tags":{"team":"ml"}}`)
	if st != http.StatusOK || arm.EnsureField(out, "tags")["team"] != "ml" || len(arm.Items(arm.EnsureField(out, "properties"), "routes")) == 0 {
		t.Fatalf("PATCH: %d %v", st, out)
	}
}

func TestSweepOperations(t *testing.T) { // finished operations do not pile up forever
	c := newClient(t)
	probeEnvironment(t, c)
	_, _, hdr := c.do("PUT", netProbe+"routeTables/rt9"+netVersion, `{"location":"eastus"}`)
	op := strings.TrimPrefix(hdr.Get("Azure-AsyncOperation"), c.base)
	srv := New(c.st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n, err := srv.SweepOperations(context.Background(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("recent operations swept: %d %v", n, err)
	}
	n, err := srv.SweepOperations(context.Background(), time.Now().Add(time.Second))
	if err != nil || n != 14 { // the probe's 13 resource PUTs and this one
		t.Fatalf("swept %d, %v", n, err)
	}
	if st, _, _ := c.do("GET", op, ""); st != http.StatusNotFound {
		t.Fatalf("swept operation still answers: %d", st)
	}
}
