//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"securetrain/internal/fabric"
	"securetrain/internal/fabric/netns/netnstest"
	"securetrain/internal/netverify"
)

// nodeNS is the namespace of a booted node.
func nodeNS(t *testing.T, f *Fabric, n fabric.Node) *namespace {
	t.Helper()
	nd := f.nodes[nodeKey(n)]
	if nd == nil {
		t.Fatalf("node %s is not booted", n.Name)
	}
	return nd.ns
}

// lookupFrom resolves name from namespace ns through server over real
// packets.
func lookupFrom(ns *namespace, server netip.Addr, name string) ([]netip.Addr, error) {
	return resolveIn(ns, server, name, time.Now().Add(2*time.Second))
}

// verifierDestination is where the verifier says a flow from the compute
// to name goes: its first outcome's packet.
func verifierDestination(t *testing.T, nw *netverify.Network, compute, name string) netip.Addr {
	t.Helper()
	res, err := nw.Flow(netverify.Query{From: computeID(t, nw, compute), To: netverify.NameEndpoint(name),
		Protocol: netverify.TCP, Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outcomes) == 0 || !res.Outcomes[0].Sample.Destination.IsValid() {
		t.Fatalf("the verifier resolves %s nowhere: %+v", name, res)
	}
	return res.Outcomes[0].Sample.Destination
}

func computeID(t *testing.T, nw *netverify.Network, compute string) netverify.Endpoint {
	t.Helper()
	for _, c := range nw.Snapshot().Computes {
		if c.ID.Name() == compute {
			return netverify.ResourceEndpoint(c.ID)
		}
	}
	t.Fatalf("no compute %s", compute)
	return netverify.Endpoint{}
}

// TestAzureDNSFromNodeNamespace: real queries from a node's namespace to
// 168.63.129.16 reach its VNet's Azure DNS, which answers as the verifier
// resolves: a storage name through its privatelink CNAME to the private
// endpoint's record in the linked zone, other public names with the
// verifier's addresses, reserved names NXDOMAIN; over UDP and TCP.
func TestAzureDNSFromNodeNamespace(t *testing.T) {
	nw := compile(t, "instance-private-storage.yaml")
	f, n, _ := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	ns := nodeNS(t, f, n)

	addrs, err := lookupFrom(ns, netverify.AzureDNS, "st1.blob.core.windows.net")
	if err != nil || !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("10.0.0.7")}) {
		t.Errorf("st1.blob.core.windows.net: %v, %v; want the private endpoint 10.0.0.7", addrs, err)
	}
	// The answer carries the privatelink CNAME, over TCP as over UDP.
	q := new(dns.Msg)
	q.SetQuestion("st1.blob.core.windows.net.", dns.TypeA)
	for _, proto := range []string{"udp", "tcp"} {
		r, err := exchangeDNS(ns, proto, netverify.AzureDNS, q, time.Now().Add(2*time.Second))
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if len(r.Answer) != 2 || r.Answer[0].String() != "st1.blob.core.windows.net.\t10\tIN\tCNAME\tst1.privatelink.blob.core.windows.net." ||
			r.Answer[1].String() != "st1.privatelink.blob.core.windows.net.\t10\tIN\tA\t10.0.0.7" {
			t.Errorf("%s answer: %v", proto, r.Answer)
		}
	}

	for _, name := range []string{"pypi.org", "other.blob.core.windows.net", "6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms"} {
		want := verifierDestination(t, nw, "ws1/myinstance", name)
		if addrs, err := lookupFrom(ns, netverify.AzureDNS, name); err != nil || !slices.Contains(addrs, want) {
			t.Errorf("%s: %v, %v; the verifier sends the flow to %s", name, addrs, err, want)
		}
	}
	// The public name of an account the file does not hold: the Storage
	// tag (its region unknown).
	tag, _ := nw.ServiceTags().Lookup("Storage")
	if addrs, err := lookupFrom(ns, netverify.AzureDNS, "other.blob.core.windows.net"); err != nil ||
		!slices.ContainsFunc(tag.Prefixes, func(p netip.Prefix) bool { return p.Contains(addrs[0]) }) {
		t.Errorf("other.blob.core.windows.net: %v, %v; want an address of Storage", addrs, err)
	}

	_, err = lookupFrom(ns, netverify.AzureDNS, "build.example")
	var df *dnsFailure
	if !errors.As(err, &df) || !strings.Contains(err.Error(), "answered NXDOMAIN") {
		t.Errorf("build.example: %v; want NXDOMAIN", err)
	}

	// A process run in the node (ip netns exec) resolves through the
	// node's resolv.conf: the C library's resolver, not the fabric's.
	out, err := exec.Command("ip", "netns", "exec", ns.name, "getent", "ahostsv4", "st1.blob.core.windows.net").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "10.0.0.7 ") || !strings.Contains(string(out), "st1.privatelink.blob.core.windows.net") {
		t.Errorf("getent in the node: %v\n%s", err, out)
	}
}

// resolvConf reads a namespace's resolv.conf ("" when it has none).
func resolvConf(name string) string {
	data, _ := os.ReadFile(filepath.Join(netnsEtc, name, "resolv.conf"))
	return string(data)
}

// TestDNSRecordMissingFromPackets: the workspace's privatelink zone is
// linked but lacks its record: Azure DNS answers the node NXDOMAIN, with
// the verifier's reason, and every flow to the name fails from packets.
func TestDNSRecordMissingFromPackets(t *testing.T) {
	nw := compile(t, "instance-dns-record-missing.yaml")
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	const name = "6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.westus2.api.azureml.ms"
	_, err := lookupFrom(nodeNS(t, f, n), netverify.AzureDNS, name)
	if err == nil || !strings.Contains(err.Error(), "answered NXDOMAIN (") || !strings.Contains(err.Error(), "has no record") {
		t.Errorf("%s: %v; want NXDOMAIN naming the missing record", name, err)
	}
	bad := agree(t, probeAll(t, f, n, fl))
	for _, port := range []string{"443", "18881"} {
		if p, ok := bad["outbound TCP "+port+" to "+name]; !ok || !strings.Contains(p.Detail, "DNS: "+name+" did not resolve: the DNS server 168.63.129.16 answered NXDOMAIN") {
			t.Errorf("TCP %s to the workspace: %+v", port, p)
		}
	}
}

// zoneGroupFile replaces the file zone's A record with the endpoint's DNS
// zone group, which keeps the record in the zone.
var zoneGroupFile = []string{
	"  - {type: Microsoft.Network/privateDnsZones/A, resourceGroup: mygroup, name: privatelink.file.core.windows.net/st1, properties: {aRecords: [{ipv4Address: 10.0.0.8}]}}\n",
	`  - type: Microsoft.Network/privateEndpoints/privateDnsZoneGroups
    resourceGroup: mygroup
    name: st1-file/default
    properties:
      privateDnsZoneConfigs: [{name: file, properties: {privateDnsZoneId: /resourceGroups/mygroup/providers/Microsoft.Network/privateDnsZones/privatelink.file.core.windows.net}}]
`,
}

// TestDNSZoneGroupFromPackets: a record a private endpoint's DNS zone
// group keeps answers from Azure DNS like one written in the zone.
func TestDNSZoneGroupFromPackets(t *testing.T) {
	nw := compileEdited(t, "instance-private-storage.yaml", zoneGroupFile...)
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	if addrs, err := lookupFrom(nodeNS(t, f, n), netverify.AzureDNS, "st1.file.core.windows.net"); err != nil ||
		!slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("10.0.0.8")}) {
		t.Errorf("st1.file.core.windows.net: %v, %v; want 10.0.0.8 from the zone group", addrs, err)
	}
	if bad := agree(t, probeAll(t, f, n, fl)); len(bad) > 0 {
		t.Errorf("%d flows failed: %v", len(bad), bad)
	}
}

// customDNS sets the VNet's DNS servers, and opens the storage account to
// public access (the emulated Storage service does not enforce its
// network rules: flows resolved publicly would disagree).
func customDNS(server string) []string {
	return []string{"      addressSpace: {addressPrefixes: [10.0.0.0/16]}\n",
		"      addressSpace: {addressPrefixes: [10.0.0.0/16]}\n      dhcpOptions: {dnsServers: [" + server + "]}\n",
		"    properties: {publicNetworkAccess: Disabled}\n  - type: Microsoft.Network/privateEndpoints\n",
		"    properties: {publicNetworkAccess: Enabled}\n  - type: Microsoft.Network/privateEndpoints\n"}
}

// TestCustomDNSServerFromPackets: with a custom DNS server on the VNet the
// node asks it, not Azure DNS. A server the file does not describe
// resolves public names only (no private zone: the storage name leads to
// the Storage tag); the subnet's NSG applies to the queries; a server
// address that is a private endpoint answers nothing. Each time the
// packets agree with the verifier, flow by flow.
func TestCustomDNSServerFromPackets(t *testing.T) {
	server := netip.MustParseAddr("10.0.0.10")
	nw := compileEdited(t, "instance-private-storage.yaml", customDNS(server.String())...)
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	ns := nodeNS(t, f, n)
	if got, err := f.nodes[nodeKey(n)].nameserver(); err != nil || got != server {
		t.Errorf("the node asks %v (%v), want %s", got, err, server)
	}
	if got := resolvConf(ns.name); !strings.HasSuffix(got, "\nnameserver 10.0.0.10\n") {
		t.Errorf("the node's resolv.conf: %q", got)
	}
	tag, _ := nw.ServiceTags().Lookup("Storage.WestUS2")
	if addrs, err := lookupFrom(ns, server, "st1.blob.core.windows.net"); err != nil ||
		!slices.ContainsFunc(tag.Prefixes, func(p netip.Prefix) bool { return p.Contains(addrs[0]) }) {
		t.Errorf("st1.blob.core.windows.net from %s: %v, %v; want an address of Storage.WestUS2 (public resolution)", server, addrs, err)
	}
	if got := countNamespaces(t, f.Prefix()); got != 7 {
		t.Errorf("%d namespaces, want 7 (the cloud, the router, the node, three endpoints, the DNS server)", got)
	}
	agree(t, probeAll(t, f, n, fl))

	// The subnet's NSG denies DNS to the server: every flow to a name
	// fails, as the verifier says.
	deny := `      securityRules:
        - name: DenyDns
          properties: {priority: 100, direction: Inbound, access: Deny, protocol: Udp,
                       sourceAddressPrefix: "*", sourcePortRange: "*",
                       destinationAddressPrefix: 10.0.0.10, destinationPortRange: "53"}
`
	nw = compileEdited(t, "instance-private-storage.yaml", append(customDNS(server.String()), "      securityRules:\n", deny)...)
	_, fl = flows(t, nw, "ws1/myinstance")
	bad := agree(t, probeAll(t, f, n, fl))
	if p, ok := bad["outbound TCP 443 to st1.blob.core.windows.net"]; !ok || !strings.Contains(p.Detail, "no answer within") {
		t.Errorf("DNS denied: want the storage flow to fail, the query unanswered: %+v", p)
	}

	// The server's address is the blob endpoint's: nothing answers DNS
	// there; the DNS server's namespace is gone.
	nw = compileEdited(t, "instance-private-storage.yaml", customDNS("10.0.0.7")...)
	_, fl = flows(t, nw, "ws1/myinstance")
	bad = agree(t, probeAll(t, f, n, fl))
	if p, ok := bad["outbound TCP 443 to st1.blob.core.windows.net"]; !ok || !strings.Contains(p.Detail, "DNS server 10.0.0.7 refused") {
		t.Errorf("DNS server on a private endpoint: want the storage flow to fail, refused: %+v", p)
	}
	if got := countNamespaces(t, f.Prefix()); got != 6 {
		t.Errorf("%d namespaces, want 6: the DNS server's removed", got)
	}
}

// resolverYAML is a DNS Private Resolver in VNet vnet with its inbound
// endpoint at address addr of subnet subnet.
func resolverYAML(vnet, subnet, addr string) string {
	id := "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/" + vnet
	return `  - type: Microsoft.Network/dnsResolvers
    resourceGroup: mygroup
    name: resolver
    location: westus2
    properties: {virtualNetwork: {id: ` + id + `}}
  - type: Microsoft.Network/dnsResolvers/inboundEndpoints
    resourceGroup: mygroup
    name: resolver/in
    location: westus2
    properties:
      ipConfigurations: [{subnet: {id: ` + id + `/subnets/` + subnet + `}, privateIpAllocationMethod: Static, privateIpAddress: ` + addr + `}]
`
}

// resolverInbound adds a DNS Private Resolver to the VNet, its inbound
// endpoint at 10.0.1.4, and makes it the VNet's DNS server.
var resolverInbound = append(customDNS("10.0.1.4"), "  - type: Microsoft.MachineLearningServices/workspaces\n", `  - type: Microsoft.Network/virtualNetworks/subnets
    resourceGroup: mygroup
    name: mynetwork/dns-in
    properties: {addressPrefix: 10.0.1.0/28}
`+resolverYAML("mynetwork", "dns-in", "10.0.1.4")+`  - type: Microsoft.MachineLearningServices/workspaces
`)

// TestPrivateResolverFromPackets: the VNet's DNS server is a DNS Private
// Resolver's inbound endpoint, in another subnet: the node's queries
// cross the router to it and it answers as the VNet's Azure DNS — the
// private zones' records — so every flow passes as the verifier says.
func TestPrivateResolverFromPackets(t *testing.T) {
	nw := compileEdited(t, "instance-private-storage.yaml", resolverInbound...)
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	if addrs, err := lookupFrom(nodeNS(t, f, n), netip.MustParseAddr("10.0.1.4"), "st1.blob.core.windows.net"); err != nil ||
		!slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("10.0.0.7")}) {
		t.Errorf("st1.blob.core.windows.net from the resolver: %v, %v; want the private endpoint 10.0.0.7", addrs, err)
	}
	if bad := agree(t, probeAll(t, f, n, fl)); len(bad) > 0 {
		t.Errorf("%d flows failed: %v", len(bad), bad)
	}
	// Removing the node removes the router, and the resolver with it, and
	// the node's resolv.conf.
	name := nodeNS(t, f, n).name
	if got := resolvConf(name); !strings.HasSuffix(got, "\nnameserver 10.0.1.4\n") {
		t.Errorf("the node's resolv.conf: %q", got)
	}
	if err := f.Remove(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got := countNamespaces(t, f.Prefix()); got != 1 {
		t.Errorf("%d namespaces, want the cloud alone", got)
	}
	if _, err := os.Stat(filepath.Join(netnsEtc, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the node's /etc files stay: %v", err)
	}
}

// hubResolver puts a DNS Private Resolver in the peered VNet storage-net
// (inbound endpoint 10.1.0.10), links the storage zones there too and
// makes the resolver the instance's VNet's DNS server: the hub-and-spoke
// pattern of Azure's "Azure Private Endpoint DNS integration".
var hubResolver = []string{
	"      addressSpace: {addressPrefixes: [10.0.0.0/16]}\n",
	"      addressSpace: {addressPrefixes: [10.0.0.0/16]}\n      dhcpOptions: {dnsServers: [10.1.0.10]}\n",
	"  - type: Microsoft.Network/virtualNetworks\n    resourceGroup: mygroup\n    name: storage-net\n",
	resolverYAML("storage-net", "pe", "10.1.0.10") +
		`  - {type: Microsoft.Network/privateDnsZones/virtualNetworkLinks, resourceGroup: mygroup, name: privatelink.blob.core.windows.net/hub-link, location: global,
     properties: {virtualNetwork: {id: /resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/storage-net}}}
  - {type: Microsoft.Network/privateDnsZones/virtualNetworkLinks, resourceGroup: mygroup, name: privatelink.file.core.windows.net/hub-link, location: global,
     properties: {virtualNetwork: {id: /resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/storage-net}}}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: mygroup
    name: storage-net
`,
}

// TestHubResolverFromPackets: the node's queries cross the peering to
// the resolver in the hub VNet (a VNet without nodes, whose router the
// peering brings up), which answers from the zones linked to the hub: the
// storage names lead to the private endpoints in the hub, and every flow
// agrees with the verifier.
func TestHubResolverFromPackets(t *testing.T) {
	nw := compileEdited(t, "instance-peered-storage.yaml", hubResolver...)
	f, n, fl := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	if addrs, err := lookupFrom(nodeNS(t, f, n), netip.MustParseAddr("10.1.0.10"), "st1.file.core.windows.net"); err != nil ||
		!slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("10.1.0.5")}) {
		t.Errorf("st1.file.core.windows.net from the hub's resolver: %v, %v; want the private endpoint 10.1.0.5", addrs, err)
	}
	probes := probeAll(t, f, n, fl)
	if bad := agree(t, probes); len(bad) > 0 {
		t.Errorf("%d flows failed: %v", len(bad), bad)
	}
	i := slices.IndexFunc(probes, func(p fabric.Probe) bool { return p.Flow.Name == "outbound TCP 443 to st1.blob.core.windows.net" })
	if i < 0 || !strings.Contains(probes[i].Detail, "TCP 10.1.0.4:443 answered by the emulated st1 (blob)") {
		t.Errorf("the blob flow did not reach the hub's blob endpoint: %v", probes)
	}
}

// BenchmarkAzureDNSQuery: one query of type A from a node's namespace to
// its VNet's Azure DNS over UDP, answered through the verifier's
// resolver (the privatelink CNAME and the zone's record).
func BenchmarkAzureDNSQuery(b *testing.B) {
	nw := compile(b, "instance-private-storage.yaml")
	f := newFabric(b, &nw)
	n := nodeOf(nw.Snapshot().Computes[0], "tvm-0000", "10.0.0.4")
	if err := f.Boot(context.Background(), n); err != nil {
		b.Fatal(err)
	}
	ns := f.nodes[nodeKey(n)].ns
	for b.Loop() {
		addrs, err := resolveIn(ns, netverify.AzureDNS, "st1.blob.core.windows.net", time.Now().Add(2*time.Second))
		if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("10.0.0.7") {
			b.Fatalf("%v, %v", addrs, err)
		}
	}
}

// TestCleanupRemovesNetnsEtc: a node's resolv.conf that outlived its
// namespace (removed by hand, or a kill -9 between the two) goes with the
// fabric's cleanup; another prefix's stays.
func TestCleanupRemovesNetnsEtc(t *testing.T) {
	netnstest.RequireRoot(t)
	prefix := fmt.Sprintf("%su%d-", NamePrefix, time.Now().UnixNano()%1_000_000_000)
	other := prefix[:len(prefix)-1] + "x-n-kept"
	for _, name := range []string{prefix + "n-left", other} {
		if err := writeResolvConf(name, netverify.AzureDNS); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(netnsEtc, other)) })
	if _, err := Cleanup(prefix); err != nil {
		t.Fatal(err)
	}
	if got := resolvConf(prefix + "n-left"); got != "" {
		t.Errorf("left: %q", got)
	}
	if got := resolvConf(other); !strings.HasSuffix(got, "nameserver 168.63.129.16\n") {
		t.Errorf("another prefix's resolv.conf: %q", got)
	}
}

// TestUpdateOnlyOnChange: a probe brings the node's VNet up to date only
// when the network or the fabric changed since the last update; then it
// does (the node's resolv.conf follows a new DNS server).
func TestUpdateOnlyOnChange(t *testing.T) {
	nw := compileEdited(t, "instance-private-storage.yaml")
	f, n, _ := bootOne(t, &nw, "ws1/myinstance", "10.0.0.4")
	name := nodeNS(t, f, n).name
	if got := resolvConf(name); !strings.HasSuffix(got, "\nnameserver 168.63.129.16\n") {
		t.Fatalf("the node's resolv.conf: %q", got)
	}
	// A mark the fabric would overwrite if it updated the VNet again.
	path := filepath.Join(netnsEtc, name, "resolv.conf")
	if err := os.WriteFile(path, []byte("mark\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Probe(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	if got := resolvConf(name); got != "mark\n" {
		t.Errorf("nothing changed, yet the probe updated the VNet: resolv.conf %q", got)
	}
	nw = compileEdited(t, "instance-private-storage.yaml", customDNS("10.0.0.10")...)
	if _, err := f.Probe(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	if got := resolvConf(name); !strings.HasSuffix(got, "\nnameserver 10.0.0.10\n") {
		t.Errorf("after the VNet's DNS server changed, resolv.conf: %q", got)
	}
}
