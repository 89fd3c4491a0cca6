package provision

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/fabric"
	"securetrain/internal/ipset"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// TestFabricFlowsCarryPackets: issue 11 — a fabric got a flow's name and
// the verifier's prediction only. It gets a packet to send (of the blocked
// part when the verifier predicts a block) and what the remote end stands
// for, and At puts each node in its place.
func TestFabricFlowsCarryPackets(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "broken", "cluster-nsg-blocks-44224.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := resources.DecodeFile(path, data)
	if err != nil {
		t.Fatal(err)
	}
	n, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatal(err)
	}
	c := snap.Computes[0]
	checks, _, err := requirements.Readiness(n, c, requirements.Options{})
	if err != nil {
		t.Fatal(err)
	}
	subnet := ipset.FromPrefixes(snap.Subnet(c.Subnet.ID).AddressPrefixes)
	in := func(tag string, a netip.Addr) bool {
		tg, ok := n.ServiceTags().Lookup(tag)
		u, _ := ipset.U32(a)
		return ok && ipset.FromPrefixes(tg.Prefixes).Contains(u)
	}
	node := fabric.Node{PrivateIP: netip.MustParseAddr("10.0.0.77")}
	seen := map[bool]bool{}
	for _, fc := range checks {
		f := FabricFlow(fc)
		local, remote := f.Source, f.Destination
		if f.Inbound {
			local, remote = remote, local
		}
		lu, _ := ipset.U32(local)
		if f.Protocol != fc.Protocol || f.DestinationPort != uint16(fc.Port) || f.SourcePort != netverify.DefaultSourcePort ||
			!subnet.Contains(lu) || !in(f.Remote, remote) {
			t.Errorf("%s: %+v", fc.Name, f)
		}
		if f.Predicted != (fc.Verdict == netverify.Allowed) || f.Predicted != (f.Blocker == "") {
			t.Errorf("%s: predicted %v, blocker %q, verdict %s", fc.Name, f.Predicted, f.Blocker, fc.Verdict)
		}
		at := f.At(node)
		if own := map[bool]netip.Addr{false: at.Source, true: at.Destination}[f.Inbound]; own != node.PrivateIP {
			t.Errorf("%s at node: %+v", fc.Name, at)
		}
		seen[f.Inbound] = true
	}
	// The NSG blocks Azure ML's inbound 44224 from the compute's region
	// and its pair: that flow's packet is one the NSG denies.
	for _, fc := range checks {
		if f := FabricFlow(fc); f.Inbound {
			if f.Predicted || (f.Remote != "AzureMachineLearning.WestUS2" && f.Remote != "AzureMachineLearning.WestCentralUS") || f.DestinationPort != 44224 {
				t.Errorf("inbound flow %+v", f)
			}
		}
	}
	if !seen[true] || !seen[false] {
		t.Fatalf("flows in both directions expected, got %v", seen)
	}
}

// TestFabricFlowOfAnUnresolvedName: a flow to a name the verifier does
// not resolve (its VNet's DNS server is a private endpoint, which answers
// no DNS) names the name for the fabric to resolve, on the flow's own
// port, and no destination: the verifier's sample is the DNS query's.
func TestFabricFlowOfAnUnresolvedName(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "instance-no-public-ip.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const space = "      addressSpace: {addressPrefixes: [10.0.0.0/16]}\n"
	text := strings.Replace(string(data), space, space+"      dhcpOptions: {dnsServers: [10.0.0.5]}\n", 1)
	snap, err := resources.DecodeFile(path, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	n, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatal(err)
	}
	checks, _, err := requirements.Readiness(n, snap.Computes[0], requirements.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := 0
	for _, fc := range checks {
		f := FabricFlow(fc)
		if fc.Result == nil || fc.Result.Destination.Kind != netverify.EndpointDNSName {
			if f.DNSName != "" {
				t.Errorf("%s is to no name, yet names %q", fc.Name, f.DNSName)
			}
			continue
		}
		names++
		if f.DNSName != fc.To || f.Predicted || f.Destination.IsValid() || f.DestinationPort != uint16(fc.Port) ||
			!strings.Contains(f.Blocker, "which answers no DNS queries") {
			t.Errorf("%s: %+v", fc.Name, f)
		}
	}
	if names == 0 {
		t.Error("no flow to a name")
	}
}
