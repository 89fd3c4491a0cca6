package netverify

import "testing"

// FuzzFlowQuery: any query text gets an answer or an error, never a panic.
func FuzzFlowQuery(f *testing.F) {
	n := compileExample(f, "cluster-public-ip-firewall.yaml")
	for _, seed := range []struct {
		from, to, proto string
		port            int
	}{
		{"ws1/gpucluster", "Storage.WestUS2", "TCP", 443},
		{"AzureMachineLearning", "ws1/gpucluster", "TCP", 44224},
		{"10.0.0.4", "pypi.org", "Any", 443},
		{"mynetwork/default", "0.0.0.0/0", "UDP", 53},
		{"/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default", "10.0.1.4-10.0.1.9", "ICMP", 0},
	} {
		f.Add(seed.from, seed.to, seed.proto, seed.port)
	}
	f.Fuzz(func(t *testing.T, from, to, proto string, port int) {
		res, err := n.Flow(Query{From: from, To: to, Protocol: proto, Port: port})
		if err == nil && (res.Verdict == "" || len(res.Outcomes) == 0) {
			t.Fatalf("%q -> %q %s %d: empty answer %+v", from, to, proto, port, res)
		}
	})
}
