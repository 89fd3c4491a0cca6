package netverify

import (
	"sync"
	"testing"

	"securetrain/internal/ipset"
)

// FuzzFlowQuery: any query text, read by the caller-neutral resolver,
// gets an answer or an error, never a panic.
func FuzzFlowQuery(f *testing.F) {
	n := compileExample(f, "cluster-public-ip-firewall.yaml")
	for _, seed := range []struct {
		from, to, proto string
		port            uint16
	}{
		{"ws1/gpucluster", "Storage.WestUS2", "TCP", 443},
		{"AzureMachineLearning", "ws1/gpucluster", "TCP", 44224},
		{"10.0.0.4", "pypi.org", "Any", 443},
		{"mynetwork/default", "0.0.0.0/0", "UDP", 53},
		{"/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default", "10.0.1.4-10.0.1.9", "ICMP", 0},
	} {
		f.Add(seed.from, seed.to, seed.proto, seed.port)
	}
	f.Fuzz(func(t *testing.T, from, to, proto string, port uint16) {
		q, err := textQuery{From: from, To: to, Protocol: proto, Port: port}.parse(n)
		if err != nil {
			return
		}
		res, err := n.Flow(q)
		if err == nil && (res.Verdict == "" || len(res.Outcomes) == 0) {
			t.Fatalf("%q -> %q %s %d: empty answer %+v", from, to, proto, port, res)
		}
	})
}

// fuzzNetworks caches the random networks FuzzRandomNetworkFlow queries:
// compiling one per input would leave little time for queries.
var fuzzNetworks struct {
	sync.Mutex
	m map[uint64]*Network
}

func fuzzNetwork(t testing.TB, seed uint64) *Network {
	fuzzNetworks.Lock()
	defer fuzzNetworks.Unlock()
	if fuzzNetworks.m == nil {
		fuzzNetworks.m = map[uint64]*Network{}
	}
	n := fuzzNetworks.m[seed]
	if n == nil {
		n = randomNetwork(t, seed)
		fuzzNetworks.m[seed] = n
	}
	return n
}

// fuzzTargets are the destinations FuzzRandomNetworkFlow names when it does
// not use an address: service tags (set queries) and names that firewall
// application and FQDN rules of the random networks match.
var fuzzTargets = []string{"pypi.org", "files.pythonhosted.org", "ntp.ubuntu.com", "example.com", "Storage.WestUS2",
	"AzureMachineLearning", "mcr.microsoft.com", "Internet"}

// FuzzRandomNetworkFlow: point and set flows over the random networks of
// the differential test, every firewall shape included (issue 18: an
// application-rule-only firewall crashed): never a panic, never an empty
// answer, and the indexed evaluator agrees with the reference.
func FuzzRandomNetworkFlow(f *testing.F) {
	for seed := range uint8(16) {
		f.Add(seed, uint32(10<<24|uint32(seed%4)<<16|10), uint32(0x08080808), uint8(seed), uint16(443), uint8(255))
	}
	f.Fuzz(func(t *testing.T, seed uint8, src, dst uint32, proto uint8, port uint16, target uint8) {
		n := fuzzNetwork(t, 1+uint64(seed%16))
		q := Query{From: AddressEndpoint(ipset.Addr(src)), To: AddressEndpoint(ipset.Addr(dst)), Port: port,
			Protocol: []Protocol{TCP, UDP, ICMP, AnyProtocol, ESP, AH}[int(proto)%6]}
		if int(target) < len(fuzzTargets) {
			to, err := n.ParseEndpoint(fuzzTargets[target])
			if err != nil {
				t.Fatal(err)
			}
			q.To = to
		}
		res, err := n.Flow(q)
		if err != nil {
			return // e.g. a source straddling subnets: refused, not crashed
		}
		if res.Verdict == "" || len(res.Outcomes) == 0 {
			t.Fatalf("%+v: empty answer %+v", q, res)
		}
		ref, err := n.flow(q, true)
		if err != nil {
			t.Fatalf("%+v: the reference refuses what the indexed evaluator answered: %v", q, err)
		}
		if res.Verdict != ref.Verdict {
			t.Fatalf("network %d %+v: indexed %s, reference %s\n%s\nreference:\n%s", 1+seed%16, q, res.Verdict, ref.Verdict, explain(res), explain(ref))
		}
		// A point flow of one protocol is also the oracle's to answer.
		if int(target) >= len(fuzzTargets) && q.Protocol != AnyProtocol && res.DNS == nil {
			f := pointFlow{src: src, dst: dst, proto: q.Protocol}
			if f.proto.hasPorts() {
				f.sport, f.dport = DefaultSourcePort, port
			}
			if ov := newOracle(n).eval(f, nil); ov != res.Verdict {
				t.Fatalf("network %d %+v: walk %s, oracle %s\n%s", 1+seed%16, q, res.Verdict, ov, explain(res))
			}
		}
	})
}
