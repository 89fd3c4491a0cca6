package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"securetrain/internal/arm"
	"strings"
	"sync"
	"testing"
	"time"

	"securetrain/internal/clock"
	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// The provisioning environment: the workspace in rg-ml, the network in
// rg-net (another team's, spec §1): subnet "compute" 10.0.1.0/24 with an
// NSG that lets Azure Machine Learning in on TCP 44224 (spec §4.2) and
// Azure's default outbound access; subnet "small" 10.0.2.0/26.
const (
	rgML      = "/subscriptions/" + sub + "/resourceGroups/rg-ml"
	rgNet     = "/subscriptions/" + sub + "/resourceGroups/rg-net"
	netNet    = rgNet + "/providers/Microsoft.Network/"
	vnetNet   = netNet + "virtualNetworks/vnet"
	wsML      = rgML + "/providers/Microsoft.MachineLearningServices/workspaces/ws1"
	rgVersion = "?api-version=2021-04-01"
)

func provisionEnv(t testing.TB, c *client, nsgRules string) {
	t.Helper()
	for _, rg := range []string{rgML, rgNet} {
		if st, out, _ := c.do("PUT", rg+rgVersion, `{"location":"eastus"}`); st != http.StatusCreated {
			t.Fatalf("resource group: %d %v", st, out)
		}
	}
	for _, p := range []struct{ path, body string }{
		{netNet + "networkSecurityGroups/nsg-compute", computeNSG(nsgRules)},
		{vnetNet, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[
			{"name":"compute","properties":{"addressPrefix":"10.0.1.0/24","defaultOutboundAccess":true,"networkSecurityGroup":{"id":"` + netNet + `networkSecurityGroups/nsg-compute"}}},
			{"name":"small","properties":{"addressPrefix":"10.0.2.0/26","defaultOutboundAccess":true}},
			{"name":"tiny","properties":{"addressPrefix":"10.0.3.0/29","defaultOutboundAccess":true}},
			{"name":"large","properties":{"addressPrefix":"10.0.16.0/20","defaultOutboundAccess":true}},
			{"name":"delegated","properties":{"addressPrefix":"10.0.4.0/24","defaultOutboundAccess":true,
				"delegations":[{"name":"aci","properties":{"serviceName":"Microsoft.ContainerInstance/containerGroups"}}]}}]}}`},
		{wsML, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"friendlyName":"ws1"}}`},
	} {
		if st, out, _ := c.do("PUT", p.path+versionFor(p.path), p.body); st != http.StatusCreated && st != http.StatusOK {
			t.Fatalf("PUT %s: %d %v", p.path, st, out)
		}
	}
}

// computeNSG is the body of the compute subnet's NSG: Azure ML's inbound
// 44224, then rules (JSON, "" for none).
func computeNSG(rules string) string {
	all := `{"name":"AllowAzureML","properties":{"priority":300,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"AzureMachineLearning","sourcePortRange":"*","destinationAddressPrefix":"VirtualNetwork","destinationPortRange":"44224"}}`
	if rules != "" {
		all += "," + rules
	}
	return `{"location":"eastus","properties":{"securityRules":[` + all + `]}}`
}

func versionFor(path string) string {
	if strings.Contains(path, "MachineLearningServices") {
		return mlVersion
	}
	return netVersion
}

func clusterBody(subnet string, minN, maxN int, idle string) string {
	return fmt.Sprintf(`{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS3_v2","enableNodePublicIp":true,
		"subnet":{"id":"%s"},"scaleSettings":{"minNodeCount":%d,"maxNodeCount":%d,"nodeIdleTimeBeforeScaleDown":"%s"}}}}`, vnetNet+"/subnets/"+subnet, minN, maxN, idle)
}

const instanceBody = `{"location":"eastus","properties":{"computeType":"ComputeInstance","properties":{"vmSize":"Standard_DS3_v2",
	"subnet":{"id":"` + vnetNet + `/subnets/compute"},"sshSettings":{"sshPublicAccess":"Disabled"}}}}`

// start sends a request that begins an operation and waits for it.
func (c *client) start(method, path, body string, want int) map[string]any {
	c.t.Helper()
	return c.wait(c.begin(method, path, body, want))
}

// begin sends a request that begins an operation and returns the path of
// the operation's status.
func (c *client) begin(method, path, body string, want int) string {
	c.t.Helper()
	st, out, hdr := c.do(method, path, body)
	if st != want {
		c.t.Fatalf("%s %s: %d %v", method, path, st, out)
	}
	op := hdr.Get("Azure-AsyncOperation")
	if op == "" {
		c.t.Fatalf("%s %s: no Azure-AsyncOperation", method, path)
	}
	return strings.TrimPrefix(op, c.base)
}

func (c *client) compute(name string) (props, inner map[string]any) {
	c.t.Helper()
	st, body, _ := c.do("GET", wsML+"/computes/"+name+mlVersion, "")
	if st != http.StatusOK {
		c.t.Fatalf("GET compute %s: %d %v", name, st, body)
	}
	props = arm.EnsureField(body, "properties")
	return props, arm.EnsureField(props, "properties")
}

func (c *client) nodes(name string) []map[string]any {
	c.t.Helper()
	return c.nodesAt(wsML + "/computes/" + name)
}

func (c *client) nodesAt(compute string) []map[string]any {
	c.t.Helper()
	st, out, _ := c.do("POST", compute+"/listNodes"+mlVersion, "")
	if st != http.StatusOK {
		c.t.Fatalf("listNodes %s: %d %v", compute, st, out)
	}
	return arm.Items(out, "nodes")
}

// created lists the resources Azure ML created in the VNet's group.
func (c *client) created() []string {
	c.t.Helper()
	var out []string
	for _, typ := range []string{"networkSecurityGroups", "loadBalancers", "publicIPAddresses"} {
		_, list, _ := c.do("GET", netNet+typ+netVersion, "")
		for _, r := range arm.Items(list, "value") {
			if strings.HasPrefix(arm.Str(r, "name"), "aml-") {
				out = append(out, typ+"/"+arm.Str(r, "name"))
			}
		}
	}
	return out
}

func resize(n int) string { return fmt.Sprintf(`{"targetNodeCount":%d}`, n) }

func TestPublicIPClusterScale(t *testing.T) { // issue 5 §3, §4; spec §4.2, §8.3
	c := newClient(t)
	provisionEnv(t, c, "")
	if op := c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT120S"), http.StatusCreated); op["status"] != "Succeeded" {
		t.Fatalf("create: %v", op)
	}
	props, inner := c.compute("cpu")
	if props["provisioningState"] != "Succeeded" || inner["allocationState"] != "Steady" || inner["currentNodeCount"] != float64(0) {
		t.Fatalf("after create: %v", props)
	}
	if got := c.created(); len(got) != 0 {
		t.Fatalf("a cluster at 0 nodes has created %v", got)
	}
	// 0 → 3: three nodes, each an address of the subnet (not the 5 Azure keeps), and the NSG, LB and public IP.
	if op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(3), http.StatusAccepted); op["status"] != "Succeeded" {
		t.Fatalf("resize to 3: %v", op)
	}
	_, inner = c.compute("cpu")
	if inner["currentNodeCount"] != float64(3) || arm.EnsureField(inner, "nodeStateCounts")["idleNodeCount"] != float64(3) {
		t.Fatalf("after resize: %v", inner)
	}
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	seen := map[string]bool{}
	ports := map[any]bool{}
	for _, n := range c.nodes("cpu") {
		a, err := netip.ParseAddr(arm.Str(n, "privateIpAddress"))
		if err != nil || !subnet.Contains(a) || a.As4()[3] < 4 || a.As4()[3] == 255 || seen[a.String()] || n["nodeState"] != "idle" {
			t.Fatalf("node %v", n)
		}
		seen[a.String()] = true
		if arm.Str(n, "publicIpAddress") == "" || ports[n["port"]] {
			t.Fatalf("node without its own public endpoint: %v", n)
		}
		ports[n["port"]] = true
	}
	got := c.created()
	if len(got) != 3 {
		t.Fatalf("created resources: %v", got)
	}
	// The NSG lets Azure Machine Learning reach the nodes on 44224 (spec §4.2).
	_, nsg, _ := c.do("GET", netNet+strings.Replace(got[0], "networkSecurityGroups/", "networkSecurityGroups/", 1)+netVersion, "")
	rule := arm.Items(arm.EnsureField(nsg, "properties"), "securityRules")[0]
	if rp := arm.EnsureField(rule, "properties"); rp["sourceAddressPrefix"] != "AzureMachineLearning" || rp["destinationPortRange"] != "44224" || rp["access"] != "Allow" {
		t.Fatalf("created NSG rule: %v", rule)
	}
	// 3 → 0: the nodes and what Azure created go.
	if op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(0), http.StatusAccepted); op["status"] != "Succeeded" {
		t.Fatalf("resize to 0: %v", op)
	}
	if got := c.created(); len(got) != 0 || len(c.nodes("cpu")) != 0 {
		t.Fatalf("after scale to 0: created %v, nodes %v", got, c.nodes("cpu"))
	}
	// And again on the way up.
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(1), http.StatusAccepted)
	if got := c.created(); len(got) != 3 {
		t.Fatalf("after scale to 1 again: %v", got)
	}
	// Outside the scale settings: refused.
	if st, code, _ := c.errorCode("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(5)); st != http.StatusBadRequest || code != "BadRequest" {
		t.Fatalf("resize beyond max: %d %s", st, code)
	}
}

func TestLockHoldsScaleDown(t *testing.T) { // spec §10 #9: "stuck at resizing (0 → 0)"; issue 5 §3
	clk := clock.NewFake(testEpoch)
	c := newClient(t, Options{Clock: clk})
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT120S"), http.StatusCreated)
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted)
	lock := rgNet + "/providers/Microsoft.Authorization/locks/keep?api-version=2020-05-01"
	if st, _, _ := c.do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); st != http.StatusCreated {
		t.Fatal("lock")
	}
	// Deleting the compute would delete the locked resources: refused at once.
	if st, code, _ := c.errorCode("DELETE", wsML+"/computes/cpu"+mlVersion+"&underlyingResourceAction=Delete", ""); st != http.StatusConflict || code != "ScopeLocked" {
		t.Fatalf("delete under a lock: %d %s", st, code)
	}
	op := c.begin("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(0), http.StatusAccepted)
	c.settle()
	_, status, _ := c.do("GET", op, "")
	_, inner := c.compute("cpu")
	if status["status"] != "InProgress" || arm.EnsureField(status, "error")["code"] != "ScopeLocked" ||
		inner["allocationState"] != "Resizing" || inner["currentNodeCount"] != float64(0) {
		t.Fatalf("the lock did not hold the scale-down: %v; compute %v", status, inner)
	}
	if got := c.created(); len(got) != 3 {
		t.Fatalf("locked resources: %v", got)
	}
	// Still held when its retry comes while the lock stands.
	clk.Advance(time.Second)
	c.settle()
	if _, status, _ := c.do("GET", op, ""); status["status"] != "InProgress" || len(c.created()) != 3 {
		t.Fatalf("retried under the lock: %v, created %v", status, c.created())
	}
	if st, _, _ := c.do("DELETE", lock, ""); st != http.StatusOK {
		t.Fatal("unlock")
	}
	clk.Advance(time.Second) // the next retry
	c.settle()
	if _, status, _ := c.do("GET", op, ""); status["status"] != "Succeeded" {
		t.Fatalf("after unlocking: %v", status)
	}
	if _, inner := c.compute("cpu"); inner["allocationState"] != "Steady" || len(c.created()) != 0 {
		t.Fatalf("after unlocking: %v, created %v", inner, c.created())
	}
}

// testEpoch is when fake clocks start.
var testEpoch = time.Date(2025, 11, 6, 9, 0, 0, 0, time.UTC)

func TestConcurrentResizesNeverOverAllocate(t *testing.T) { // issue 5 §6: 100 resizes on one /26
	c := newClient(t, Options{Quotas: provision.Quotas{CoresPerFamily: 1 << 20, TotalCores: 1 << 20}})
	provisionEnv(t, c, "")
	const clusters = 100
	for i := range clusters {
		if st, out, _ := c.do("PUT", fmt.Sprintf("%s/computes/c%d%s", wsML, i, mlVersion), clusterBody("small", 0, 2, "PT1H")); st != http.StatusCreated {
			t.Fatalf("create c%d: %d %v", i, st, out)
		}
	}
	c.settle()
	for i := range clusters {
		if props, _ := c.compute(fmt.Sprintf("c%d", i)); props["provisioningState"] != "Succeeded" {
			t.Fatalf("c%d: %v", i, props)
		}
	}
	var wg sync.WaitGroup
	ops := make([]map[string]any, clusters)
	for i := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops[i] = c.start("POST", fmt.Sprintf("%s/computes/c%d/resize%s", wsML, i, mlVersion), resize(2), http.StatusAccepted)
		}()
	}
	wg.Wait()
	subnet := netip.MustParsePrefix("10.0.2.0/26")
	seen := map[string]string{}
	short := 0
	for i := range clusters {
		if ops[i]["status"] != "Succeeded" {
			if arm.EnsureField(ops[i], "error")["code"] != "AllocationFailed" {
				t.Fatalf("c%d: %v", i, ops[i])
			}
			short++
		}
		for _, n := range c.nodes(fmt.Sprintf("c%d", i)) {
			a := netip.MustParseAddr(arm.Str(n, "privateIpAddress"))
			if !subnet.Contains(a) || a.As4()[3]%64 < 4 || a.As4()[3]%64 == 63 {
				t.Fatalf("c%d: address %s outside the subnet's usable range", i, a)
			}
			if other, dup := seen[a.String()]; dup {
				t.Fatalf("address %s given to c%d and %s", a, i, other)
			}
			seen[a.String()] = fmt.Sprintf("c%d", i)
		}
	}
	if len(seen) != 64-5 {
		t.Fatalf("%d addresses allocated; a /26 has %d usable and 200 were asked for", len(seen), 64-5)
	}
	t.Logf("59 addresses given to 100 clusters asking 200; %d operations reported AllocationFailed", short)
}

func TestNSGDenyingUDP5831FailsCreate(t *testing.T) { // issue 5 §6; spec §10 #6, §2
	c := newClient(t)
	provisionEnv(t, c, `{"name":"DenyUDP5831","properties":{"priority":200,"direction":"Outbound","access":"Deny","protocol":"Udp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"AzureMachineLearning","destinationPortRange":"5831"}}`)
	op := c.start("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody, http.StatusCreated)
	e := arm.EnsureField(op, "error")
	if op["status"] != "Failed" || e["code"] != "ComputeUnusable" || !strings.Contains(arm.Str(e, "message"), "UDP 5831") || !strings.Contains(arm.Str(e, "message"), "DenyUDP5831") {
		t.Fatalf("operation: %v", op)
	}
	props, inner := c.compute("ci1")
	if props["provisioningState"] != "Failed" || inner["state"] != "CreateFailed" || len(props["provisioningErrors"].([]any)) != 1 {
		t.Fatalf("compute: %v", props)
	}
	if len(c.nodes("ci1")) != 0 {
		t.Fatal("a refused compute has nodes")
	}
	// Issue 16: applying it again (after fixing the NSG or not) answers
	// with the original failure and Azure's way out, not a bare "Failed".
	status, body, _ := c.do("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody)
	e = arm.EnsureField(body, "error")
	details, _ := e["details"].([]any)
	msg := arm.Str(e, "message")
	if status != http.StatusBadRequest || !strings.Contains(msg, "state Failed: ComputeUnusable:") || !strings.Contains(msg, "DenyUDP5831") ||
		!strings.Contains(msg, "delete it and create it again") || len(details) != 1 || arm.Str(details[0].(map[string]any), "code") != "ComputeUnusable" {
		t.Fatalf("PUT on the failed compute: %d %v", status, body)
	}
}

// Azure ML checks the subnet NSG's rules when a compute is created and
// refuses, listing the missing rules, one that denies outbound Storage 445
// before allowing it (spec §10 #2); UDP 5831 is not pre-checked, and fails
// the creation instead (TestNSGDenyingUDP5831FailsCreate).
func TestNSGDenyingStorageRefusesCompute(t *testing.T) {
	c := newClient(t)
	deny := `{"name":"DenySmb","properties":{"priority":200,"direction":"Outbound","access":"Deny","protocol":"Tcp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"Storage","destinationPortRange":"445"}}`
	provisionEnv(t, c, deny)
	for name, body := range map[string]string{"ci1": instanceBody, "cpu": clusterBody("compute", 0, 2, "PT120S")} {
		st, code, msg := c.errorCode("PUT", wsML+"/computes/"+name+mlVersion, body)
		if st != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "network security group (nsg-compute) that is missing the following rules") ||
			!strings.Contains(msg, `"Outbound Storage 445": protocol TCP, source VirtualNetwork port *, destination Storage OR Internet OR Storage.eastus port 445, priority higher than 200 (DenySmb denies it now)`) ||
			strings.Contains(msg, "Outbound Storage 443") {
			t.Fatalf("%s behind an NSG denying Storage 445: %d %s %q", name, st, code, msg)
		}
		if st, _, _ := c.do("GET", wsML+"/computes/"+name+mlVersion, ""); st != http.StatusNotFound {
			t.Errorf("%s was stored: GET %d", name, st)
		}
	}
	// An allow above the deny, as Azure's message asks: the compute is created.
	allow := `{"name":"AllowStorage","properties":{"priority":150,"direction":"Outbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"VirtualNetwork","sourcePortRange":"*","destinationAddressPrefix":"Storage.EastUS","destinationPortRanges":["443","445"]}}`
	inbound := `{"name":"AllowAzureML","properties":{"priority":300,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"AzureMachineLearning","sourcePortRange":"*","destinationAddressPrefix":"VirtualNetwork","destinationPortRange":"44224"}}`
	if st, out, _ := c.do("PUT", netNet+"networkSecurityGroups/nsg-compute"+netVersion, `{"location":"eastus","properties":{"securityRules":[`+inbound+","+deny+","+allow+`]}}`); st != http.StatusOK {
		t.Fatalf("NSG: %d %v", st, out)
	}
	if op := c.start("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody, http.StatusCreated); op["status"] != "Succeeded" {
		t.Fatalf("create after the fix: %v", op)
	}
}

func TestInstanceLifecycle(t *testing.T) { // issue 5 §2, §3: stop keeps the created resources
	c := newClient(t)
	provisionEnv(t, c, "")
	if op := c.start("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody, http.StatusCreated); op["status"] != "Succeeded" {
		t.Fatalf("create: %v", op)
	}
	if _, inner := c.compute("ci1"); inner["state"] != "Running" || len(c.created()) != 3 || len(c.nodes("ci1")) != 1 {
		t.Fatalf("after create: %v, created %v", inner, c.created())
	}
	for _, step := range []struct{ action, state string }{{"stop", "Stopped"}, {"start", "Running"}, {"restart", "Running"}} {
		if op := c.start("POST", wsML+"/computes/ci1/"+step.action+mlVersion, "", http.StatusAccepted); op["status"] != "Succeeded" {
			t.Fatalf("%s: %v", step.action, op)
		}
		if _, inner := c.compute("ci1"); inner["state"] != step.state || len(c.created()) != 3 {
			t.Fatalf("after %s: %v, created %v", step.action, inner, c.created())
		}
	}
	if st, code, _ := c.errorCode("POST", wsML+"/computes/ci1/resize"+mlVersion, resize(2)); st != http.StatusBadRequest || code != "BadRequest" {
		t.Fatalf("resizing an instance: %d %s", st, code)
	}
	// Delete: nodes, addresses and created resources go, then the compute.
	if op := c.start("DELETE", wsML+"/computes/ci1"+mlVersion+"&underlyingResourceAction=Delete", "", http.StatusAccepted); op["status"] != "Succeeded" {
		t.Fatalf("delete: %v", op)
	}
	if st, _, _ := c.do("GET", wsML+"/computes/ci1"+mlVersion, ""); st != http.StatusNotFound || len(c.created()) != 0 {
		t.Fatalf("after delete: %d, created %v", st, c.created())
	}
	if n := countRecords(t, c.st, vnetNet+"/subnets/compute/addresses"); n != 0 {
		t.Fatalf("%d addresses still allocated after delete", n)
	}
}

func countRecords(t *testing.T, st store.Store, scope string) int {
	t.Helper()
	n := 0
	if err := store.Each(context.Background(), st, store.Query{Scope: scope}, func(store.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNoPublicIPComputesCreateNothing(t *testing.T) { // issue 5 §3; spec §4.2
	c := newClient(t)
	probeEnvironment(t, c)
	c.start("POST", wsProbe+"/computes/cpu-cluster/resize"+mlVersion, resize(2), http.StatusAccepted)
	for _, typ := range []string{"networkSecurityGroups", "loadBalancers", "publicIPAddresses"} {
		_, list, _ := c.do("GET", netProbe+typ+netVersion, "")
		for _, r := range arm.Items(list, "value") {
			if strings.HasPrefix(arm.Str(r, "name"), "aml-") {
				t.Fatalf("a no-public-IP compute created %s", arm.Str(r, "id"))
			}
		}
	}
	nodes := c.nodesAt(wsProbe + "/computes/cpu-cluster")
	if len(nodes) != 2 {
		t.Fatalf("nodes: %v", nodes)
	}
	for _, n := range nodes {
		if arm.Str(n, "publicIpAddress") != "" {
			t.Fatalf("a node without public IP has one: %v", n)
		}
	}
}

func TestQuotasAndPolicy(t *testing.T) { // issue 5 §3: quotas; spec §10 #9: RequestDisallowedByPolicy
	c := newClient(t, Options{Quotas: provision.Quotas{Families: map[string]int{"standardDSv2Family": 8}}})
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT120S"), http.StatusCreated)
	op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(3), http.StatusAccepted)
	if e := arm.EnsureField(op, "error"); op["status"] != "Failed" || e["code"] != "QuotaExceeded" || !strings.Contains(arm.Str(e, "message"), "standardDSv2Family") {
		t.Fatalf("over the family quota: %v", op)
	}
	if len(c.nodes("cpu")) != 0 {
		t.Fatal("nodes created over quota")
	}
	if op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted); op["status"] != "Succeeded" {
		t.Fatalf("within quota: %v", op)
	}
	// A policy that forbids public IPs refuses a public-IP compute.
	pol := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/policyAssignments/no-pip?api-version=2023-04-01"
	if st, _, _ := c.do("PUT", pol, `{"properties":{"policyDefinitionId":"/providers/Microsoft.Authorization/policyDefinitions/6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
		"parameters":{"listOfResourceTypesNotAllowed":{"value":["Microsoft.Network/publicIPAddresses"]}}}}`); st != http.StatusCreated {
		t.Fatal("policy")
	}
	op = c.start("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody, http.StatusCreated)
	if e := arm.EnsureField(op, "error"); op["status"] != "Failed" || e["code"] != "RequestDisallowedByPolicy" {
		t.Fatalf("public-IP instance under the policy: %v", op)
	}
}

func TestFullSubnetAllocatesWhatFits(t *testing.T) { // spec §8.3, §10 #10
	c := newClient(t)
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("tiny", 0, 5, "PT120S"), http.StatusCreated)
	op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(5), http.StatusAccepted)
	if e := arm.EnsureField(op, "error"); op["status"] != "Failed" || e["code"] != "AllocationFailed" || !strings.Contains(arm.Str(e, "message"), "3 of 5") {
		t.Fatalf("a /29 asked for 5 nodes: %v", op)
	}
	if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(3) {
		t.Fatalf("nodes on a /29: %v", inner)
	}
}

func TestIdleNodesScaleDown(t *testing.T) { // issue 5 §4: nodeIdleTimeBeforeScaleDown
	clk := clock.NewFake(testEpoch)
	c := newClient(t, Options{Clock: clk})
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT1S"), http.StatusCreated)
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted)
	clk.Advance(time.Second - time.Nanosecond)
	c.settle()
	if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(2) || len(c.created()) != 3 {
		t.Fatalf("nodes removed before their idle time: %v", inner)
	}
	clk.Advance(time.Nanosecond)
	c.settle()
	if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(0) || inner["allocationState"] != "Steady" || len(c.created()) != 0 {
		t.Fatalf("idle nodes were not removed: %v, created %v", inner, c.created())
	}
}

func TestProvisioningRefusals(t *testing.T) { // spec §10 #3, #13
	c := newClient(t)
	provisionEnv(t, c, "")
	// A delegated subnet: refused when the compute is created (issue 16),
	// with Azure's reason, an instance and a cluster at zero nodes alike
	// (which would otherwise fail only at its first job).
	for name, body := range map[string]string{
		"ci1": strings.Replace(instanceBody, "/subnets/compute", "/subnets/delegated", 1),
		"cpu": strings.Replace(clusterBody("compute", 0, 2, "PT120S"), "/subnets/compute", "/subnets/delegated", 1),
	} {
		st, code, msg := c.errorCode("PUT", wsML+"/computes/"+name+mlVersion, body)
		if st != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "is delegated to") || !strings.Contains(msg, "delegation to external resources") {
			t.Fatalf("%s in a delegated subnet: %d %s %q", name, st, code, msg)
		}
		if st, _, _ := c.do("GET", wsML+"/computes/"+name+mlVersion, ""); st != http.StatusNotFound {
			t.Errorf("%s was stored: GET %d", name, st)
		}
	}
	// An instance in another region than its workspace is refused at once.
	other := strings.Replace(instanceBody, `"location":"eastus"`, `"location":"westus"`, 1)
	st, code, msg := c.errorCode("PUT", wsML+"/computes/ci2"+mlVersion, other)
	if st != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "only clusters may use another region") {
		t.Fatalf("instance in another region: %d %s %q", st, code, msg)
	}
	// A cluster may, in a VNet of its own region (issue 18 point 7; Azure's
	// article "Create an Azure Batch pool in a virtual network": "The VNet
	// must be in the same subscription and region as the Batch account").
	far := strings.Replace(clusterBody("compute", 0, 2, "PT120S"), `"location":"eastus"`, `"location":"westus"`, 1)
	st, code, msg = c.errorCode("PUT", wsML+"/computes/far"+mlVersion, far)
	if st != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "ws1/far is in region westus, but its subnet vnet/compute is in VNet vnet in region eastus") {
		t.Fatalf("cluster in another region than its VNet: %d %s %q", st, code, msg)
	}
	vnetFar := netNet + "virtualNetworks/vnet-far"
	if st, out, _ := c.do("PUT", vnetFar+netVersion, `{"location":"westus","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"subnets":[{"name":"compute","properties":{"addressPrefix":"10.1.1.0/24","defaultOutboundAccess":true}}]}}`); st != http.StatusCreated {
		t.Fatalf("VNet in westus: %d %v", st, out)
	}
	if op := c.start("PUT", wsML+"/computes/far"+mlVersion, strings.Replace(far, vnetNet+"/", vnetFar+"/", 1), http.StatusCreated); op["status"] != "Succeeded" {
		t.Fatalf("cluster in another region, in a VNet of its region: %v", op)
	}
}

func TestNSGDenying44224FailsPublicIPCompute(t *testing.T) { // spec §10 #5, §4.2
	c := newClient(t)
	provisionEnv(t, c, `{"name":"DenyAzureMLInbound","properties":{"priority":150,"direction":"Inbound","access":"Deny","protocol":"Tcp","sourceAddressPrefix":"AzureMachineLearning","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"44224"}}`)
	op := c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 2, "PT120S"), http.StatusCreated)
	e := arm.EnsureField(op, "error")
	details := arm.Items(e, "details")
	if op["status"] != "Failed" || e["code"] != "ComputeUnusable" || len(details) != 1 ||
		details[0]["code"] != "required-inbound-blocked" || !strings.Contains(arm.Str(details[0], "message"), "DenyAzureMLInbound") {
		t.Fatalf("operation: %v", op)
	}
}

func TestNodesBecomeUnusable(t *testing.T) { // issue 5 §1: the compute reports which flows and which rules
	c := newClient(t)
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
	// The network changes after the cluster was created: UDP 5831 is denied.
	rule := `{"properties":{"priority":200,"direction":"Outbound","access":"Deny","protocol":"Udp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"AzureMachineLearning","destinationPortRange":"5831"}}`
	if st, out, _ := c.do("PUT", netNet+"networkSecurityGroups/nsg-compute/securityRules/DenyUDP5831"+netVersion, rule); st != http.StatusCreated {
		t.Fatalf("rule: %d %v", st, out)
	}
	op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted)
	if e := arm.EnsureField(op, "error"); op["status"] != "Failed" || e["code"] != "NodeUnusable" || !strings.Contains(arm.Str(e, "message"), "DenyUDP5831") {
		t.Fatalf("resize into a broken network: %v", op)
	}
	_, inner := c.compute("cpu")
	if arm.EnsureField(inner, "nodeStateCounts")["unusableNodeCount"] != float64(2) {
		t.Fatalf("node states: %v", inner["nodeStateCounts"])
	}
	for _, n := range c.nodes("cpu") {
		errs, _ := n["errors"].([]any)
		if n["nodeState"] != "unusable" || len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), "UDP 5831") {
			t.Fatalf("node %v", n)
		}
	}
	// Fixed network: a new node comes up idle; the unusable ones leave first on the way down.
	if st, _, _ := c.do("DELETE", netNet+"networkSecurityGroups/nsg-compute/securityRules/DenyUDP5831"+netVersion, ""); st != http.StatusOK {
		t.Fatal("delete rule")
	}
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(3), http.StatusAccepted)
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(1), http.StatusAccepted)
	if nodes := c.nodes("cpu"); len(nodes) != 1 || nodes[0]["nodeState"] != "idle" {
		t.Fatalf("after fixing and scaling down: %v", nodes)
	}
}
