package requirements

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"securetrain/internal/envgen"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// secEnv: VNet vnet1 (10.0.0.0/16) with subnet train (NSG nsg1) holding
// cluster ws1/cpu without public IP. Placeholders: RULES (nsg1's rules),
// SUBNET (more subnet properties), PUBLIC_IP (the cluster's
// enableNodePublicIp), EXTRA (more resources).
const secEnv = `subscription: 00000000-0000-0000-0000-000000000001
resources:
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: nsg1
    location: westus2
    properties:
      securityRules: [{{RULES}}]
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet1
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: train
          properties:
            addressPrefix: 10.0.1.0/24
            networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1}
            {{SUBNET}}
  - type: Microsoft.MachineLearningServices/workspaces
    resourceGroup: rg
    name: ws1
    location: westus2
    identity: {type: SystemAssigned}
    properties: {friendlyName: ws1}
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: rg
    name: ws1/cpu
    location: westus2
    properties:
      computeType: AmlCompute
      properties:
        vmSize: STANDARD_D2_V2
        enableNodePublicIp: {{PUBLIC_IP}}
        remoteLoginPortPublicAccess: Enabled
        scaleSettings: {minNodeCount: 0, maxNodeCount: 2}
        subnet: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/train}
{{EXTRA}}`

// secNAT is a NAT gateway for the train subnet (SUBNET: secNATRef).
const (
	secNAT = `
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: rg
    name: nat-pip
    location: westus2
    sku: {name: Standard}
    properties: {publicIPAllocationMethod: Static, ipAddress: 20.51.10.7}
  - type: Microsoft.Network/natGateways
    resourceGroup: rg
    name: nat1
    location: westus2
    sku: {name: Standard}
    properties:
      publicIpAddresses: [{id: /resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/nat-pip}]`
	secNATRef = `natGateway: {id: /resourceGroups/rg/providers/Microsoft.Network/natGateways/nat1}`
)

// secFindings builds secEnv with the placeholders filled and returns its
// environment findings.
func secFindings(t *testing.T, fill map[string]string) []Finding {
	t.Helper()
	fs := environmentFindings(secNetwork(t, fill))
	for _, f := range fs {
		if f.Resource == "" || f.Position == "" || f.Message == "" || f.Fix == "" || len(f.References) == 0 {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	return fs
}

// secNetwork compiles secEnv with the placeholders filled.
func secNetwork(t *testing.T, fill map[string]string) *netverify.Network {
	t.Helper()
	s := secEnv
	for _, k := range []string{"RULES", "SUBNET", "PUBLIC_IP", "EXTRA"} {
		v, ok := fill[k]
		if !ok && k == "PUBLIC_IP" {
			v = "false"
		}
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	snap, err := resources.DecodeFile("test.yaml", []byte(s))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	n, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return n
}

// secRule writes an NSG rule (source ports *).
func secRule(name string, prio int, dir, access, proto, src, dst, ports string) string {
	return `{name: ` + name + `, properties: {priority: ` + strconv.Itoa(prio) + `, direction: ` + dir + `, access: ` + access +
		`, protocol: "` + proto + `", sourceAddressPrefix: "` + src + `", sourcePortRange: "*", destinationAddressPrefix: "` + dst +
		`", destinationPortRange: "` + ports + `"}},`
}

// withCode returns the findings of one code.
func withCode(fs []Finding, code string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

// wantOne checks there is exactly one finding of the code, with the
// severity, on the resource whose id ends with suffix, mentioning every word.
func wantOne(t *testing.T, fs []Finding, code string, sev Severity, suffix string, mentions ...string) {
	t.Helper()
	got := withCode(fs, code)
	if len(got) != 1 {
		t.Fatalf("%d %s findings, want 1: %+v", len(got), code, got)
	}
	f := got[0]
	if f.Severity != sev || !strings.HasSuffix(f.Resource, suffix) {
		t.Errorf("finding %+v, want severity %s on …%s", f, sev, suffix)
	}
	for _, m := range mentions {
		if !strings.Contains(f.Message, m) && !strings.Contains(f.Fix, m) {
			t.Errorf("finding lacks %q: %s / %s", m, f.Message, f.Fix)
		}
	}
}

func wantNone(t *testing.T, fs []Finding, codes ...string) {
	t.Helper()
	for _, c := range codes {
		if got := withCode(fs, c); len(got) > 0 {
			t.Errorf("unexpected %s: %+v", c, got)
		}
	}
}

func TestPortOpenToInternet(t *testing.T) { // spec §8.1
	fs := secFindings(t, map[string]string{"RULES": secRule("AllowSSH", 110, "Inbound", "Allow", "Tcp", "Internet", "*", "22")})
	wantOne(t, fs, "port-open-to-internet", Error, "/securityRules/AllowSSH", "NSG nsg1 rule AllowSSH (110) allows TCP port 22 from Internet")
	if f := withCode(fs, "port-open-to-internet")[0]; f.Position != "test.yaml:8" || !slices.Equal(f.References, []string{articleNSG}) {
		t.Errorf("position %s references %v", f.Position, f.References)
	}

	// RDP inside an Any-protocol, all-ports rule from 0.0.0.0/0.
	fs = secFindings(t, map[string]string{"RULES": secRule("AllowAll", 100, "Inbound", "Allow", "*", "0.0.0.0/0", "*", "*")})
	wantOne(t, fs, "port-open-to-internet", Error, "/AllowAll", "TCP ports 22 and 3389 (rule ports *)")

	fs = secFindings(t, map[string]string{"RULES": secRule("AllowHTTPS", 120, "Inbound", "Allow", "Tcp", "*", "*", "443")})
	wantOne(t, fs, "port-open-to-internet", Warning, "/AllowHTTPS", "allows TCP port 443 from *")

	// UDP 22 is not SSH.
	fs = secFindings(t, map[string]string{"RULES": secRule("AllowUdp", 120, "Inbound", "Allow", "Udp", "any", "*", "22")})
	wantOne(t, fs, "port-open-to-internet", Warning, "/AllowUdp", "allows UDP port 22 from any")

	// Earlier denies already decide SSH and RDP: the broad allow opens the
	// other ports only, a warning; with RDP still open, an error naming it.
	fs = secFindings(t, map[string]string{"RULES": secRule("DenySSH", 100, "Inbound", "Deny", "Tcp", "*", "*", "22") +
		secRule("DenyRDP", 110, "Inbound", "Deny", "*", "*", "*", "3389") +
		secRule("AllowAll", 200, "Inbound", "Allow", "*", "Internet", "*", "*")})
	wantOne(t, fs, "port-open-to-internet", Warning, "/AllowAll", "allows any protocol on all ports from Internet")
	fs = secFindings(t, map[string]string{"RULES": secRule("DenySSH", 100, "Inbound", "Deny", "Tcp", "*", "*", "22") +
		secRule("AllowAll", 200, "Inbound", "Allow", "*", "Internet", "*", "*")})
	wantOne(t, fs, "port-open-to-internet", Error, "/AllowAll", "allows TCP port 3389 (rule ports *) from Internet")

	// Not reported: a source restricted to a CIDR, outbound rules, denies,
	// and an allow that never matches.
	fs = secFindings(t, map[string]string{"RULES": secRule("AllowSSHOffice", 110, "Inbound", "Allow", "Tcp", "203.0.113.0/24", "*", "22") +
		secRule("AllowOut", 120, "Outbound", "Allow", "Tcp", "*", "*", "22") +
		secRule("DenyIn", 130, "Inbound", "Deny", "Tcp", "Internet", "*", "3389")})
	wantNone(t, fs, "port-open-to-internet")
	fs = secFindings(t, map[string]string{"RULES": secRule("DenyAll", 100, "Inbound", "Deny", "*", "*", "*", "*") +
		secRule("AllowSSH", 110, "Inbound", "Allow", "Tcp", "Internet", "*", "22")})
	wantNone(t, fs, "port-open-to-internet")
	wantOne(t, fs, "nsg-rule-shadowed", Warning, "/AllowSSH", "DenyAll (100)")
}

func TestPortOpenSkipsAzureMLNSG(t *testing.T) { // spec §4.2: Azure ML's own NSG on a public-IP compute
	// The cluster has a public IP and public SSH: Azure ML creates an NSG
	// allowing SSH from *, which is not the user's rule.
	fill := map[string]string{"PUBLIC_IP": "true"}
	sshFromAnywhere := false
	for _, v := range secNetwork(t, fill).NSGs() {
		for _, r := range v.Inbound {
			sshFromAnywhere = sshFromAnywhere || (v.CreatedBy != "" && r.Allow && r.SourceText == "*" && r.DestinationPorts.Contains(22))
		}
	}
	if !sshFromAnywhere {
		t.Fatal("no Azure ML NSG allowing SSH from *: the test proves nothing")
	}
	wantNone(t, secFindings(t, fill), "port-open-to-internet", "nsg-rule-shadowed", "nsg-rule-duplicate")
}

func TestNSGRuleShadowed(t *testing.T) { // spec §8.1: first match wins
	// One broader earlier deny covers the rule on every dimension.
	fs := secFindings(t, map[string]string{"RULES": secRule("DenyTcp", 100, "Outbound", "Deny", "Tcp", "*", "*", "*") +
		secRule("AllowWeb", 200, "Outbound", "Allow", "Tcp", "10.0.1.0/24", "Internet", "443")})
	wantOne(t, fs, "nsg-rule-shadowed", Warning, "/securityRules/AllowWeb",
		"NSG nsg1 rule AllowWeb (200) can never match", "outbound", "rule DenyTcp (100)", "priority number below 100")
	wantNone(t, fs, "nsg-rule-duplicate")

	// Two earlier rules cover it together, on destination ports or on
	// sources.
	fs = secFindings(t, map[string]string{"RULES": secRule("Deny80", 100, "Inbound", "Deny", "Tcp", "*", "*", "80") +
		secRule("Deny443", 110, "Inbound", "Deny", "Tcp", "*", "*", "443") +
		secRule("AllowWeb", 120, "Inbound", "Allow", "Tcp", "10.0.0.0/8", "*", "80,443")})
	wantOne(t, fs, "nsg-rule-shadowed", Warning, "/AllowWeb", "rule Deny80 (100), rule Deny443 (110)")
	fs = secFindings(t, map[string]string{"RULES": secRule("DenyLow", 100, "Inbound", "Deny", "*", "10.0.0.0/9", "*", "*") +
		secRule("DenyHigh", 110, "Inbound", "Deny", "*", "10.128.0.0/9", "*", "*") +
		secRule("AllowTen", 120, "Inbound", "Allow", "Udp", "10.0.0.0/8", "*", "53")})
	wantOne(t, fs, "nsg-rule-shadowed", Warning, "/AllowTen", "DenyLow", "DenyHigh")

	// Partial overlaps are not shadowing: port 444, UDP, and sources
	// outside the earlier rule still reach the later one.
	for _, rules := range []string{
		secRule("Deny443", 100, "Inbound", "Deny", "Tcp", "*", "*", "443") + secRule("AllowRange", 110, "Inbound", "Allow", "Tcp", "*", "*", "443-444"),
		secRule("Deny443", 100, "Inbound", "Deny", "Tcp", "*", "*", "443") + secRule("AllowAny", 110, "Inbound", "Allow", "*", "10.0.0.0/8", "*", "443"),
		secRule("DenyLow", 100, "Inbound", "Deny", "*", "10.0.0.0/9", "*", "*") + secRule("AllowTen", 110, "Inbound", "Allow", "Tcp", "10.0.0.0/8", "*", "22"),
		// Only together on two dimensions at once: not detected (sound, not
		// complete), and indeed port 80 from 10.128.0.0/9 reaches it.
		secRule("DenyLow80", 100, "Inbound", "Deny", "Tcp", "10.0.0.0/9", "*", "80") +
			secRule("DenyHigh443", 110, "Inbound", "Deny", "Tcp", "10.128.0.0/9", "*", "443") +
			secRule("AllowTen", 120, "Inbound", "Allow", "Tcp", "10.0.0.0/8", "*", "80,443"),
	} {
		wantNone(t, secFindings(t, map[string]string{"RULES": rules}), "nsg-rule-shadowed", "nsg-rule-duplicate")
	}

	// Traffic to the platform addresses bypasses rules that name no
	// platform tag, so a deny-all does not shadow a DNS rule.
	fs = secFindings(t, map[string]string{"RULES": secRule("DenyAll", 100, "Outbound", "Deny", "*", "*", "*", "*") +
		secRule("AllowDNS", 110, "Outbound", "Allow", "Udp", "*", "AzurePlatformDNS", "53")})
	wantNone(t, fs, "nsg-rule-shadowed")
	fs = secFindings(t, map[string]string{"RULES": secRule("DenyDNS", 100, "Outbound", "Deny", "*", "*", "AzurePlatformDNS", "*") +
		secRule("AllowDNS", 110, "Outbound", "Allow", "Udp", "*", "AzurePlatformDNS", "53")})
	wantOne(t, fs, "nsg-rule-shadowed", Warning, "/AllowDNS", "DenyDNS")

	// Inbound and outbound rules do not shadow each other.
	fs = secFindings(t, map[string]string{"RULES": secRule("DenyOut", 100, "Outbound", "Deny", "*", "*", "*", "*") +
		secRule("AllowIn", 110, "Inbound", "Allow", "Tcp", "10.0.0.0/8", "*", "22")})
	wantNone(t, fs, "nsg-rule-shadowed")
}

func TestNSGRuleDuplicate(t *testing.T) { // spec §8.1
	fs := secFindings(t, map[string]string{"RULES": secRule("AllowA", 100, "Outbound", "Allow", "Tcp", "VirtualNetwork", "Storage", "443") +
		secRule("AllowB", 110, "Outbound", "Allow", "Tcp", "VirtualNetwork", "Storage", "443") +
		secRule("AllowC", 120, "Outbound", "Allow", "Tcp", "VirtualNetwork", "Storage", "443")})
	dups := withCode(fs, "nsg-rule-duplicate")
	if len(dups) != 2 || !strings.HasSuffix(dups[0].Resource, "/AllowB") || !strings.HasSuffix(dups[1].Resource, "/AllowC") {
		t.Fatalf("duplicates %+v", dups)
	}
	for _, f := range dups {
		if !strings.Contains(f.Message, "as rule AllowA (100)") || !strings.Contains(f.Fix, "Remove rule") {
			t.Errorf("duplicate %+v", f)
		}
	}
	wantNone(t, fs, "nsg-rule-shadowed")

	// The same flows with the other access: shadowed, not a duplicate.
	fs = secFindings(t, map[string]string{"RULES": secRule("AllowA", 100, "Outbound", "Allow", "Tcp", "VirtualNetwork", "Storage", "443") +
		secRule("DenyA", 110, "Outbound", "Deny", "Tcp", "VirtualNetwork", "Storage", "443")})
	wantNone(t, fs, "nsg-rule-duplicate")
	wantOne(t, fs, "nsg-rule-shadowed", Warning, "/DenyA", "AllowA")

	// Equal ports but different sources: neither.
	fs = secFindings(t, map[string]string{"RULES": secRule("AllowA", 100, "Outbound", "Allow", "Tcp", "10.0.1.0/25", "Storage", "443") +
		secRule("AllowB", 110, "Outbound", "Allow", "Tcp", "10.0.1.128/25", "Storage", "443")})
	wantNone(t, fs, "nsg-rule-duplicate", "nsg-rule-shadowed")
}

func TestStorageExfiltrationRisk(t *testing.T) { // spec §6
	// Default rules: AllowInternetOutBound lets both tags through.
	fs := secFindings(t, map[string]string{"EXTRA": secNAT, "SUBNET": secNATRef})
	got := withCode(fs, "storage-exfiltration-risk")
	if len(got) != 2 || !strings.Contains(got[0].Message+got[1].Message, "to Storage with no service endpoint policy") ||
		!strings.Contains(got[0].Message+got[1].Message, "AzureFrontDoor.Frontend") {
		t.Fatalf("exfiltration findings %+v", got)
	}
	for _, f := range got {
		if f.Severity != Warning || !strings.HasSuffix(f.Resource, "/subnets/train") || !slices.Equal(f.References, []string{articleExfiltration}) {
			t.Errorf("finding %+v", f)
		}
	}

	// Storage denied, Front Door only to part of it.
	fs = secFindings(t, map[string]string{"EXTRA": secNAT, "SUBNET": secNATRef,
		"RULES": secRule("DenyStorage", 100, "Outbound", "Deny", "Tcp", "*", "Storage", "443") +
			secRule("DenyFrontDoorPart", 110, "Outbound", "Deny", "Tcp", "*", "AzureFrontDoor.Frontend", "443") +
			secRule("AllowFrontDoorSome", 105, "Outbound", "Allow", "Tcp", "*", "13.107.246.0/24", "443")})
	wantOne(t, fs, "storage-exfiltration-risk", Warning, "/subnets/train", "to part of AzureFrontDoor.Frontend", "ml.azure.com")

	// With a service endpoint policy: not reported.
	sep := secNAT + `
  - type: Microsoft.Network/serviceEndpointPolicies
    resourceGroup: rg
    name: sep
    location: westus2
    properties:
      serviceEndpointPolicyDefinitions:
        - name: d
          properties: {service: Microsoft.Storage, serviceResources: [/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1]}`
	fs = secFindings(t, map[string]string{"EXTRA": sep, "SUBNET": secNATRef + `
            serviceEndpoints: [{service: Microsoft.Storage}]
            serviceEndpointPolicies: [{id: /resourceGroups/rg/providers/Microsoft.Network/serviceEndpointPolicies/sep}]`})
	wantNone(t, fs, "storage-exfiltration-risk")

	// No way out at all (private subnet, no NAT): nothing to exfiltrate through.
	fs = secFindings(t, map[string]string{"SUBNET": "defaultOutboundAccess: false"})
	wantNone(t, fs, "storage-exfiltration-risk", "default-outbound-access")
}

func TestDefaultOutboundAccess(t *testing.T) { // spec §8.3
	fs := secFindings(t, nil)
	wantOne(t, fs, "default-outbound-access", Warning, "/subnets/train", "subnet vnet1/train", "ws1/cpu", "NAT gateway")
	if f := withCode(fs, "default-outbound-access")[0]; f.Position != "test.yaml:16" || !slices.Equal(f.References, []string{articleDefaultOutbound}) {
		t.Errorf("position %s references %v", f.Position, f.References)
	}
	// A NAT gateway is explicit egress.
	wantNone(t, secFindings(t, map[string]string{"EXTRA": secNAT, "SUBNET": secNATRef}), "default-outbound-access")
	// A public-IP cluster leaves through the public IP Azure ML creates.
	wantNone(t, secFindings(t, map[string]string{"PUBLIC_IP": "true"}), "default-outbound-access")
	// Internet denied by the NSG: no default outbound in use.
	wantNone(t, secFindings(t, map[string]string{"RULES": secRule("DenyInternet", 100, "Outbound", "Deny", "*", "*", "Internet", "*")}),
		"default-outbound-access")
}

// secVNet is another VNet with the given space and peerings.
func secVNet(name, space, peerTo string) string {
	s := `
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: ` + name + `
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [` + space + `]}
      subnets: [{name: s, properties: {addressPrefix: ` + strings.Replace(space, "/16", "/24", 1) + `}}]`
	if peerTo != "" {
		s += `
      virtualNetworkPeerings:
        - name: to-` + peerTo + `
          properties:
            remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/` + peerTo + `}`
	}
	return s
}

func TestAddressSpaceOverlap(t *testing.T) { // spec §8.3
	// vnet2 peers to vnet1 (one direction is enough) and overlaps it.
	fs := secFindings(t, map[string]string{"EXTRA": secVNet("vnet2", "10.0.0.0/16", "vnet1")})
	wantOne(t, fs, "address-space-overlap", Error, "/virtualNetworks/vnet2", "VNets vnet1 and vnet2 are peered and overlap in 10.0.0.0/16", "Re-address")

	// Not peered: info.
	fs = secFindings(t, map[string]string{"EXTRA": secVNet("vnet2", "10.0.0.0/16", "")})
	wantOne(t, fs, "address-space-overlap", Info, "/virtualNetworks/vnet2", "VNets vnet1 and vnet2 overlap in 10.0.0.0/16")

	// Peered, disjoint; and a third VNet overlapping neither.
	fs = secFindings(t, map[string]string{"EXTRA": secVNet("vnet2", "10.1.0.0/16", "vnet1") + secVNet("vnet3", "10.2.0.0/16", "")})
	wantNone(t, fs, "address-space-overlap")
}

func TestEnvironmentFindingsOrder(t *testing.T) {
	fs := secFindings(t, map[string]string{"RULES": secRule("AllowHTTPS", 120, "Inbound", "Allow", "Tcp", "*", "*", "443") +
		secRule("AllowSSH", 110, "Inbound", "Allow", "Tcp", "Internet", "*", "22"),
		"EXTRA": secVNet("vnet2", "10.0.0.0/16", "vnet1")})
	if !slices.IsSortedFunc(fs, compareFindings) || len(fs) < 5 {
		t.Fatalf("findings not sorted: %+v", fs)
	}
	if compareFindings(Finding{Position: "a.yaml:9"}, Finding{Position: "a.yaml:10"}) >= 0 {
		t.Error("line 9 sorts after line 10")
	}
}

// nsgFindings analyses each NSG, with all its views, in one task: the
// findings do not depend on where the NSG's views stand among the other
// NSGs', and are listed in the order one pass over the views first meets
// their rules.
func TestNSGFindingsPerNSGKeepOnePassOrder(t *testing.T) {
	// Two NSGs over three VNets: nsg0 has a view in vnet0 and in vnet2.
	o := envgen.Options{Seed: 7, VNets: 3, SubnetsPerVNet: 2, NSGs: 2, RulesPerNSG: 120, RoutesPerVNet: 3, Computes: 4, Firewall: true}
	n, _ := compileData(t, "gen.json", envgen.Generate(o))
	views := n.NSGs()
	if len(views) < 3 || views[0].NSG.Key() != views[1].NSG.Key() || views[0].NSG.Key() == views[2].NSG.Key() {
		t.Fatalf("want nsg0's two views then nsg1's, got %d views", len(views))
	}
	flat := func(views []netverify.NSGView) []Finding { return slices.Concat(nsgFindings(views)...) }
	together := flat(views)
	// nsg1's view between nsg0's two.
	apart := flat([]netverify.NSGView{views[0], views[2], views[1]})
	if len(together) == 0 {
		t.Fatal("no NSG findings: the comparison would mean nothing")
	}
	byResource := func(fs []Finding) map[string][]Finding {
		m := map[string][]Finding{}
		for _, f := range fs {
			m[f.Resource] = append(m[f.Resource], f)
		}
		return m
	}
	if !reflect.DeepEqual(byResource(together), byResource(apart)) {
		t.Fatal("the findings depend on the order of the NSGs' views")
	}
	// One pass meets the rules of views[0] (inbound, then outbound), then
	// nsg1's, then only rules of nsg0 its first view lacks.
	first := map[string]int{}
	for _, v := range []netverify.NSGView{views[0], views[2], views[1]} {
		for _, rs := range [][]netverify.EffectiveRule{v.Inbound, v.Outbound} {
			for _, r := range rs {
				if _, ok := first[r.ID.String()]; !ok {
					first[r.ID.String()] = len(first)
				}
			}
		}
	}
	for i := 1; i < len(apart); i++ {
		if first[apart[i-1].Resource] > first[apart[i].Resource] {
			t.Fatalf("finding %d (%s) is listed before %s, which one pass meets first", i-1, apart[i-1].Resource, apart[i].Resource)
		}
	}
}
