package studio

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPreflight is one answer of the pre-flight panel on the seed
// subscription: the form read, the workspace read through the API, the
// subscription compiled with the proposed compute, check's rules on it.
func BenchmarkPreflight(b *testing.B) {
	e := newEnv(b)
	br := e.signIn(e.adminToken)
	form := computeFormValues("cluster", "gpu", "compute")
	form.Set("csrf", br.csrf)
	for b.Loop() {
		resp := e.post("/studio/api/preflight", form, br.cookie)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("pre-flight: %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// BenchmarkPages1000Computes is every page of the studio in a workspace
// with 1,000 compute clusters (at most 100 ms of server time a page):
// the Compute page's first and last page (the 21st: 1,001 clusters with
// the seed's), and each other page on the seed's resources, a finished
// job, and a firewall, NAT gateway and peering added to the seed (the
// load balancer is the seed cluster's).
func BenchmarkPages1000Computes(b *testing.B) {
	e := newEnv(b)
	e.addClusters(1000)
	e.submitJob("shown", "a job", "echo shown")
	e.waitJob("shown", func(st string) bool { return st == "Completed" })
	withNetworkParts(b, e)
	br := e.signIn(e.adminToken)
	ws, q := url.QueryEscape(wsID), url.QueryEscape
	_, clusters := br.get("/studio/compute?ws=" + ws + "&tab=clusters&page=21")
	lb := hrefTo(b, clusters, "/studio/network/loadbalancer")
	for _, c := range []struct{ name, path, want string }{
		{"workspaces", "/?sub=" + sub, `id="workspaces"`},
		{"compute-first", "/studio/compute?ws=" + ws + "&tab=clusters", `data-name="c0"`},
		{"compute-last", "/studio/compute?ws=" + ws + "&tab=clusters&page=21", `data-name="cpu-cluster"`},
		{"new-compute", "/studio/compute/new?ws=" + ws + "&kind=cluster", `id="compute-form"`},
		{"a-compute", "/studio/compute/view?id=" + q(wsID+"/computes/cpu-cluster"), `id="flows"`},
		{"a-resource", "/studio/resource?id=" + q(nsgBlocked), "DenyUDP5831"},
		{"network", "/studio/network?sub=" + sub, `data-subnet="blocked"`},
		{"diagram", "/studio/network/diagram?id=" + q(strings.TrimSuffix(subnetsOf, "/subnets/")), `id="diagram"`},
		{"subnet", "/studio/network/subnet?id=" + q(subnetsOf+"blocked"), `data-prefix="10.0.1.5/32"`},
		{"nsg", "/studio/network/nsg?id=" + q(nsgBlocked), `data-rule="securityRules/DenyUDP5831"`},
		{"route-table", "/studio/network/routetable?id=" + q(rtBlocked), "blocked"},
		{"flow", "/studio/network/flow?" + url.Values{"sub": {sub}, "from": {subnetsOf + "blocked"}, "to": {"AzureMachineLearning"},
			"protocol": {"UDP"}, "port": {"5831"}}.Encode(), `data-rule="DenyUDP5831"`},
		{"jobs", "/studio/jobs?ws=" + ws, `data-name="shown"`},
		{"a-job", "/studio/jobs/view?id=" + q(jobID("shown")), "shown"},
		{"submit", "/studio/jobs/new?ws=" + ws, `id="job-form"`},
		{"firewall", "/studio/network/firewall?id=" + q(netOf+"azureFirewalls/fw"), `data-collection="aml"`},
		{"load-balancer", lb, `id="frontends"`},
		{"public-ip", "/studio/network/publicip?id=" + q(netOf+"publicIPAddresses/pip-fw"), `data-ref="fw"`},
		{"nat-gateway", "/studio/network/natgateway?id=" + q(netOf+"natGateways/nat-egress"), "vnet/egress"},
		{"peering", "/studio/network/peering?id=" + q(vnetID+"/virtualNetworkPeerings/to-vnet2"), `id="back"`},
	} {
		b.Run(c.name, func(b *testing.B) { benchPage(b, br, c.path, c.want) })
	}
}

// withVNets adds n virtual networks of two subnets each (one with the
// seed's blocking NSG) to the seed subscription, through the API.
func withVNets(b *testing.B, e *env, n int) {
	b.Helper()
	for i := range n {
		body := fmt.Sprintf(`{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.%d.0.0/16"]},"subnets":[
			{"name":"a","properties":{"addressPrefix":"10.%d.1.0/24","networkSecurityGroup":{"id":%q}}},
			{"name":"b","properties":{"addressPrefix":"10.%d.2.0/24"}}]}}`, i+1, i+1, nsgBlocked, i+1)
		if status, out := e.armDo("PUT", fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/v%d?api-version=2025-01-01", sub, i), body); status != http.StatusCreated {
			b.Fatalf("PUT v%d: %d %s", i, status, out)
		}
	}
	e.settle()
}

// BenchmarkNetworkPage100VNets is the network page of a subscription with
// 101 VNets (203 subnets): the lists read through the API, the
// verifier's free addresses for every subnet (the compiled network is
// cached: the first request compiles it).
func BenchmarkNetworkPage100VNets(b *testing.B) {
	e := newEnv(b)
	withVNets(b, e, 100)
	br := e.signIn(e.adminToken)
	benchPage(b, br, "/studio/network?sub="+sub, `data-vnet="v99"`)
}

// BenchmarkSubnetPage100VNets is a subnet's page (effective rules and
// routes) in that subscription.
func BenchmarkSubnetPage100VNets(b *testing.B) {
	e := newEnv(b)
	withVNets(b, e, 100)
	br := e.signIn(e.adminToken)
	benchPage(b, br, "/studio/network/subnet?id="+url.QueryEscape(subnetsOf+"blocked"), `data-prefix="10.0.1.5/32"`)
}

// BenchmarkFlowExplorer100VNets is the flow explorer's answer to a blocked
// flow in that subscription.
func BenchmarkFlowExplorer100VNets(b *testing.B) {
	e := newEnv(b)
	withVNets(b, e, 100)
	br := e.signIn(e.adminToken)
	q := url.Values{"sub": {sub}, "from": {subnetsOf + "blocked"}, "to": {"AzureMachineLearning"}, "protocol": {"UDP"}, "port": {"5831"}}
	benchPage(b, br, "/studio/network/flow?"+q.Encode(), `data-rule="DenyUDP5831"`)
}

// BenchmarkJobsPage100 is the Jobs page of a workspace with 100 jobs.
func BenchmarkJobsPage100(b *testing.B) {
	e := newEnv(b)
	for i := range 100 {
		e.submitJob("j"+strconv.Itoa(i), "job "+strconv.Itoa(i), "true")
	}
	e.waitJob("j99", func(st string) bool { return st == "Completed" })
	br := e.signIn(e.adminToken)
	benchPage(b, br, "/studio/jobs?ws="+url.QueryEscape(wsID), `data-name="j99"`)
}

// benchPage loads path as b's loop, checking that the page holds want,
// and reports beside the wall time the client sees the handler's time a
// page (server-ms/op: wall time, which a loaded machine stretches) and
// the process's CPU time a page (cpu-ms/op: the server's work and the
// client's, TLS included, and whatever runs in the background — an
// upper bound of the page's own work, which the load does not stretch).
func benchPage(b *testing.B, br *browser, path, want string) {
	b.Helper()
	before, cpu := br.e.served.Load(), cpuTime(b)
	for b.Loop() {
		resp, page := br.get(path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	b.ReportMetric(float64(br.e.served.Load()-before)/float64(b.N)/1e6, "server-ms/op")
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNetworkPage1000LoadBalancers is the network page of the seed
// subscription with the 1,000 NSGs, load balancers and public IPs that
// 1,000 public-IP computes with nodes have Azure ML create (tagged as it
// tags them): counted from the API's index, not listed.
func BenchmarkNetworkPage1000LoadBalancers(b *testing.B) {
	e := newEnv(b)
	for i := range 1000 {
		pip := fmt.Sprintf("%spublicIPAddresses/aml-c%d-pip", netOf, i)
		tags := fmt.Sprintf(`"tags":{"createdBy":"AzureML","computeId":"%s/computes/c%d"}`, wsID, i)
		for _, put := range []struct{ path, body string }{
			{fmt.Sprintf("%snetworkSecurityGroups/aml-c%d-nsg", netOf, i), `{"location":"eastus",` + tags + `,"properties":{"securityRules":[
				{"name":"AzureMachineLearning","properties":{"priority":1000,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"AzureMachineLearning","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"44224"}}]}}`},
			{pip, `{"location":"eastus",` + tags + `,"sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`},
			{fmt.Sprintf("%sloadBalancers/aml-c%d-lb", netOf, i), `{"location":"eastus",` + tags + `,"sku":{"name":"Standard"},"properties":{
				"frontendIPConfigurations":[{"name":"fe","properties":{"publicIPAddress":{"id":"` + pip + `"}}}],"backendAddressPools":[{"name":"pool"}]}}`},
		} {
			if status, out := e.armDo("PUT", put.path+netVersion, put.body); status != http.StatusCreated {
				b.Fatalf("PUT %s: %d %s", put.path, status, out)
			}
		}
	}
	e.settle()
	br := e.signIn(e.adminToken)
	benchPage(b, br, "/studio/network?sub="+sub, "and 1001 that Azure ML created")
}
