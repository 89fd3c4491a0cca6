//go:build linux

package netns

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"securetrain/internal/fabric/netns/netnstest"
	"securetrain/internal/ipset"
)

// udrs adds to the seed instance a route table on its subnet: everything
// to None, except Azure ML's and Batch's ranges to the internet (longer
// prefixes win; the VNet's own /16 still beats the /0).
var udrs = []string{
	"  - type: Microsoft.Network/virtualNetworks\n",
	`  - type: Microsoft.Network/routeTables
    resourceGroup: mygroup
    name: rt1
    location: westus2
    properties:
      routes:
        - {name: NothingOut, properties: {addressPrefix: 0.0.0.0/0, nextHopType: None}}
        - {name: AzureML, properties: {addressPrefix: AzureMachineLearning, nextHopType: Internet}}
        - {name: Batch, properties: {addressPrefix: BatchNodeManagement.WestUS2, nextHopType: Internet}}

  - type: Microsoft.Network/virtualNetworks
`,
	"            natGateway:", "            routeTable: {id: /resourceGroups/mygroup/providers/Microsoft.Network/routeTables/rt1}\n            natGateway:",
}

// TestUserRoutesFromPackets: user-defined routes decide in the VNet's
// router by longest prefix as the verifier predicts: the flows to Azure
// ML and Batch leave by their routes to the internet, the ones to the
// workspace's private endpoint stay in the VNet, every other flow is
// dropped by the route to None — from packets, flow by flow as the
// verifier says; removing the route table lets them out again.
func TestUserRoutesFromPackets(t *testing.T) {
	nw := compileEdited(t, "instance-no-public-ip.yaml", udrs...)
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	probes := probeAll(t, f, n, fl)
	bad := agree(t, probes)
	for _, p := range probes {
		leaves := strings.Contains(p.Flow.Name, "AzureMachineLearning") || strings.Contains(p.Flow.Name, "BatchNodeManagement") || strings.Contains(p.Flow.Name, ".api.azureml.ms")
		switch {
		case leaves && !p.Passed:
			t.Errorf("%s: want it through: %s", p.Flow.Name, p.Detail)
		case !leaves && p.Passed:
			t.Errorf("%s: want it dropped by the route to None: %s", p.Flow.Name, p.Detail)
		case !leaves && (!strings.Contains(p.Detail, "no answer within") || !strings.Contains(p.Flow.Blocker, "route 0.0.0.0/0 -> None")):
			t.Errorf("%s: want it dropped, the verifier naming the route to None: %s; %s", p.Flow.Name, p.Detail, p.Flow.Blocker)
		}
	}
	if len(bad) < 5 {
		t.Errorf("only %d flows blocked by the route to None", len(bad))
	}

	nw = compile(t, "instance-no-public-ip.yaml")
	_, fl = flows(t, nw, "ws1/myinstance")
	if bad := agree(t, probeAll(t, f, n, fl)); len(bad) > 0 {
		t.Errorf("without the route table, %d flows fail: %v", len(bad), bad)
	}
}

// TestLargeSetsProgrammedWhole: a named set of thousands of ranges (a
// service tag's) reaches the kernel whole. One message's element list
// is a netlink attribute with a 16-bit length: sent at once, the list was
// cut short and addresses in the gaps matched (the differential test's
// seed 131: an inbound flow allowed by AllowVnetInBound).
func TestLargeSetsProgrammedWhole(t *testing.T) {
	netnstest.RequireRoot(t)
	name := fmt.Sprintf("%su%d-set", NamePrefix, time.Now().UnixNano()%1_000_000_000)
	netnstest.NoLeaks(t, name)
	ns, err := createNamespace(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.close()
		if err := deleteNamespace(name); err != nil {
			t.Error(err)
		}
	})
	var rgs []ipset.Range
	for i := range uint32(3000) {
		rgs = append(rgs, ipset.Range{Lo: 0x0a000000 + i*16, Hi: 0x0a000000 + i*16 + 7})
	}
	rs := newRuleset()
	fwd := rs.chain("forward", &nftables.Chain{Name: "forward", Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter, Policy: ptr(nftables.ChainPolicyAccept)})
	rs.rule().addr(offSaddr, ipset.FromRanges(rgs), "many").drop(fwd, "")
	if err := program(ns, rs); err != nil {
		t.Fatal(err)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.fd)), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		t.Fatal(err)
	}
	elems, err := conn.GetSetElements(rs.sets[0].set)
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) != len(rs.sets[0].elems) {
		t.Errorf("the kernel holds %d elements of %d", len(elems), len(rs.sets[0].elems))
	}
}
