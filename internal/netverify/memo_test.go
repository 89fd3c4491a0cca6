package netverify

import (
	"reflect"
	"testing"
)

// Memoised NSG lookups (walker.nsgMatch) give the answers the reference
// evaluator gives, when a query meets lookups that earlier queries from
// other computes and subnets of the same NSGs remembered, and when it is
// asked again.
func TestMemoisedNSGLookupsMatchReference(t *testing.T) {
	hits := 0
	for seed := uint64(1); seed <= 4; seed++ {
		n := randomNetwork(t, seed)
		var froms []Endpoint
		for _, cc := range n.computeList {
			if cc.subnet != nil {
				froms = append(froms, ResourceEndpoint(cc.c.ID))
			}
		}
		for i, k := range sortedKeys(n.subnets) {
			if i < 4 {
				froms = append(froms, ResourceEndpoint(n.subnets[k].s.ID))
			}
		}
		for _, to := range []Endpoint{TagEndpoint("Storage.WestUS2"), TagEndpoint("AzureMachineLearning"), TagEndpoint("AzureCloud.westus2")} {
			for _, proto := range []Protocol{TCP, UDP} {
				for _, from := range froms {
					q := Query{From: from, To: to, Protocol: proto, Port: 443}
					first, err := n.Flow(q)
					if err != nil {
						t.Fatalf("seed %d %s -> %s: %v", seed, from, to, err)
					}
					w := walkers.Get().(*walker)
					before := len(w.memo)
					walkers.Put(w)
					again, err := n.Flow(q)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(first, again) {
						t.Fatalf("seed %d %s -> %s %s: asked again, the answer differs:\n%+v\n%+v", seed, from, to, proto, first, again)
					}
					if before > 0 {
						hits++
					}
					ref, err := n.flow(q, true)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := coverage(t, first), coverage(t, ref); !reflect.DeepEqual(got, want) {
						t.Fatalf("seed %d %s -> %s %s: memoised and reference answers differ:\nfast %v\nref  %v", seed, from, to, proto, got, want)
					}
				}
			}
		}
	}
	// The comparison means something only if the memo was in use.
	if hits == 0 {
		t.Fatal("no query met a memoised lookup")
	}
}
