package netverify

import (
	"fmt"
	"testing"
)

// The seed article's configurations work (issue 2 "Done when"), and each
// broken variant names its blocking element.

func TestExampleClusterPublicIPReachesStorage(t *testing.T) {
	n := compileExample(t, "cluster-public-ip.yaml")
	res := flow(t, n, textQuery{From: "ws1/cpucluster", To: "Storage.westus2", Protocol: "TCP", Port: 443})
	expect(t, res, Allowed, "AllowInternetOutBound", "0.0.0.0/0 -> Internet", "public IP aml-cpucluster-3285c141-pip", "load balancer aml-cpucluster-3285c141-lb, which Azure ML creates")
	if res.Source.Count != 251 {
		t.Errorf("cluster nodes: %d addresses, want 251 (a /24 minus Azure's 5 reserved)", res.Source.Count)
	}
}

func TestExampleClusterPublicIPInbound44224(t *testing.T) {
	n := compileExample(t, "cluster-public-ip.yaml")
	res := flow(t, n, textQuery{From: "AzureMachineLearning", To: "ws1/cpucluster", Protocol: "TCP", Port: 44224})
	expect(t, res, Allowed, "AllowAzureMLInbound", "created by Azure ML", "reply from subnet mynetwork/default")
	if res.Query.Direction != DirectionInbound {
		t.Errorf("direction %s, want inbound", res.Query.Direction)
	}
}

func TestExampleInstanceNoPublicIP(t *testing.T) {
	n := compileExample(t, "instance-no-public-ip.yaml")
	expect(t, flow(t, n, textQuery{From: "ws1/myinstance", To: "Storage.westus2", Protocol: "TCP", Port: 443}),
		Allowed, "AllowStorage", "NAT gateway nat1", "20.51.10.7")
	expect(t, flow(t, n, textQuery{From: "ws1/myinstance", To: "AzureMachineLearning", Protocol: "UDP", Port: 5831}),
		Allowed, "AllowAzureMachineLearningUdp")
	res := flow(t, n, textQuery{From: "ws1/myinstance", To: "6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms", Protocol: "TCP", Port: 443})
	expect(t, res, Allowed, "CNAME", "10.0.0.5", "privateEndpointNetworkPolicies")
	// No public IP: Azure ML's inbound cannot reach it from outside (spec §4.2).
	expect(t, flow(t, n, textQuery{From: "AzureMachineLearning", To: "ws1/myinstance", Protocol: "TCP", Port: 44224}),
		NoRoute, "enableNodePublicIp=false")
}

func TestExampleBrokenNSGBlocks44224(t *testing.T) { // spec §10 #5
	n := compileExample(t, "broken/cluster-nsg-blocks-44224.yaml")
	res := flow(t, n, textQuery{From: "AzureMachineLearning", To: "ws1/cpucluster", Protocol: "TCP", Port: 44224})
	expect(t, res, Denied, "DenyInternetInbound", "(100, denies)")
	if res.Outcomes[0].Fix == "" {
		t.Error("no fix suggested")
	}
}

func TestExampleBrokenUDP5831(t *testing.T) { // spec §10 #6
	n := compileExample(t, "broken/instance-udp-5831-blocked.yaml")
	expect(t, flow(t, n, textQuery{From: "ws1/myinstance", To: "AzureMachineLearning", Protocol: "UDP", Port: 5831}),
		Denied, "DenyAzureMachineLearningUdp", "nsg1")
}

func TestExampleBrokenPrivateSubnetNoEgress(t *testing.T) { // spec §4.2, §8.3
	n := compileExample(t, "broken/instance-private-subnet-no-egress.yaml")
	expect(t, flow(t, n, textQuery{From: "ws1/myinstance", To: "Storage.westus2", Protocol: "TCP", Port: 443}),
		NoOutboundConnectivity, "defaultOutboundAccess is false", "NAT gateway")
}

func TestExampleBrokenDNSRecordMissing(t *testing.T) { // spec §7
	n := compileExample(t, "broken/instance-dns-record-missing.yaml")
	expect(t, flow(t, n, textQuery{From: "ws1/myinstance", To: "6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms", Protocol: "TCP", Port: 443}),
		DNSFailure, "NXDOMAIN", "shadows")
}

func TestExampleFirewall(t *testing.T) { // spec §5
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	expect(t, flow(t, n, textQuery{From: "AzureMachineLearning", To: "ws1/gpucluster", Protocol: "TCP", Port: 44224}),
		Allowed, "AzureMLRoute", "-> Internet")
	expect(t, flow(t, n, textQuery{From: "ws1/gpucluster", To: "pypi.org", Protocol: "TCP", Port: 443}),
		Allowed, "application rule python", "20.51.20.30")
	expect(t, flow(t, n, textQuery{From: "ws1/gpucluster", To: "Storage.WestUS2", Protocol: "TCP", Port: 445}),
		Allowed, "network rule storage")
	expect(t, flow(t, n, textQuery{From: "ws1/gpucluster", To: "example.com", Protocol: "TCP", Port: 443}),
		Denied, "denied by default")
	// UDP 5831 to AzureMachineLearning goes straight out by the AzureMLRoute
	// (more specific than 0.0.0.0/0), through the cluster's public IP.
	expect(t, flow(t, n, textQuery{From: "ws1/gpucluster", To: "AzureMachineLearning", Protocol: "UDP", Port: 5831}),
		Allowed, "AzureMLRoute")
}

func TestExampleBrokenAsymmetric(t *testing.T) { // spec §5.2, §10 #4
	n := compileExample(t, "broken/cluster-firewall-asymmetric.yaml")
	expect(t, flow(t, n, textQuery{From: "AzureMachineLearning", To: "ws1/gpucluster", Protocol: "TCP", Port: 44224}),
		AsymmetricRoute, "ToFirewall", "asymmetric")
}

// TestConcurrentQueries: a compiled network is read-only, so queries may
// run in parallel (run with -race in CI) and give the serial answers.
func TestConcurrentQueries(t *testing.T) {
	n := compileExample(t, "cluster-public-ip-firewall.yaml")
	queries := []textQuery{
		{From: "AzureMachineLearning", To: "ws1/gpucluster", Protocol: "TCP", Port: 44224},
		{From: "ws1/gpucluster", To: "pypi.org", Protocol: "TCP", Port: 443},
		{From: "ws1/gpucluster", To: "Storage.WestUS2", Protocol: "Any", Port: 445},
		{From: "ws1/gpucluster", To: "example.com", Protocol: "TCP", Port: 443},
	}
	want := make([]Verdict, len(queries))
	parsed := make([]Query, len(queries))
	for i, q := range queries {
		want[i], parsed[i] = flow(t, n, q).Verdict, q.mustParse(t, n)
	}
	errs := make(chan error, 8*len(queries))
	for g := 0; g < 8; g++ {
		go func() {
			for i, q := range parsed {
				res, err := n.Flow(q)
				switch {
				case err != nil:
					errs <- err
				case res.Verdict != want[i]:
					errs <- fmt.Errorf("%+v: %s in parallel, %s serially", q, res.Verdict, want[i])
				default:
					errs <- nil
				}
			}
		}()
	}
	for range 8 * len(queries) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
