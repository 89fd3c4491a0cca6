package requirements

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/envgen"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

func checkData(t *testing.T, file string, data []byte) *Report {
	t.Helper()
	_, rep := compileData(t, file, data)
	return rep
}

// compileData decodes and compiles an environment and checks it; the
// network lets a test put `check` beside `flow` and Readiness.
func compileData(t *testing.T, file string, data []byte) (*netverify.Network, *Report) {
	t.Helper()
	snap, err := resources.DecodeFile(file, data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	n, err := netverify.Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	rep, err := Check(n, Options{})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return n, rep
}

func checkExample(t *testing.T, name string) *Report {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return checkData(t, path, data)
}

// codes lists "code/severity" of every finding of a report.
func codes(rep *Report) []string {
	var out []string
	for _, cr := range rep.Computes {
		for _, f := range cr.Findings {
			out = append(out, f.Code+"/"+string(f.Severity))
		}
	}
	for _, f := range rep.Findings {
		out = append(out, f.Code+"/"+string(f.Severity))
	}
	return out
}

func hasCode(rep *Report, code string, sev Severity) *Finding {
	for i := range rep.Computes {
		for j, f := range rep.Computes[i].Findings {
			if f.Code == code && f.Severity == sev {
				return &rep.Computes[i].Findings[j]
			}
		}
	}
	for i, f := range rep.Findings {
		if f.Code == code && f.Severity == sev {
			return &rep.Findings[i]
		}
	}
	return nil
}

func TestSeedConfigurationsPass(t *testing.T) { // issue 3: the seed's two configurations pass clean
	for _, name := range []string{"cluster-public-ip.yaml", "instance-no-public-ip.yaml", "cluster-public-ip-firewall.yaml"} {
		rep := checkExample(t, name)
		if rep.HasErrors() {
			t.Errorf("%s: errors %v", name, codes(rep))
		}
		for _, cr := range rep.Computes {
			if cr.Status == WillFail || len(cr.Flows) < 10 {
				t.Errorf("%s: %s status %s with %d flows", name, cr.Name, cr.Status, len(cr.Flows))
			}
		}
	}
}

func TestBrokenExamplesNameTheBlocker(t *testing.T) { // spec §10 #4, #5, #6, #7; §4.2, §8.3
	for _, c := range []struct {
		file, code, mention string
	}{
		{"broken/cluster-nsg-blocks-44224.yaml", "required-inbound-blocked", "nsg1/DenyInternetInbound (100)"},
		{"broken/instance-udp-5831-blocked.yaml", "required-outbound-blocked", "UDP 5831 to AzureMachineLearning"},
		{"broken/instance-private-subnet-no-egress.yaml", "required-outbound-blocked", "NoOutboundConnectivity"},
		{"broken/instance-dns-record-missing.yaml", "workspace-dns-not-private", "NXDOMAIN"},
		{"broken/cluster-firewall-asymmetric.yaml", "required-inbound-blocked", "asymmetric"},
	} {
		rep := checkExample(t, c.file)
		f := hasCode(rep, c.code, Error)
		if f == nil {
			t.Errorf("%s: no %s error in %v", c.file, c.code, codes(rep))
			continue
		}
		if !strings.Contains(f.Message, c.mention) || f.Fix == "" || f.Position == "" {
			t.Errorf("%s: finding %+v lacks %q, a fix or a position", c.file, f, c.mention)
		}
		if rep.Computes[0].Status != WillFail || !strings.Contains(rep.Computes[0].Summary, "will fail — ") {
			t.Errorf("%s: summary %q", c.file, rep.Computes[0].Summary)
		}
	}
}

func TestUDP5831SummaryNamesRule(t *testing.T) { // issue 3 §4: "will fail — outbound UDP 5831 … denied by NSG/rule (priority)"
	rep := checkExample(t, "broken/instance-udp-5831-blocked.yaml")
	want := "ws1/myinstance: will fail — outbound UDP 5831 to AzureMachineLearning (compute create, update and delete) is denied by nsg1/DenyAzureMachineLearningUdp (100)"
	if rep.Computes[0].Summary != want {
		t.Errorf("summary\n%q, want\n%q", rep.Computes[0].Summary, want)
	}
}

// env is a small environment: workspace ws1 (westus2) in mlgroup, VNet
// vnet1 10.0.0.0/16 in netgroup with subnet s (10.0.0.0/24) and any extra
// resources; {{COMPUTES}} and {{SUBNET}} are filled by each test.
const env = `subscription: 00000000-0000-0000-0000-000000000001
resources:
  - type: Microsoft.MachineLearningServices/workspaces
    resourceGroup: mlgroup
    name: ws1
    location: westus2
    properties: {workspaceId: 11111111-2222-3333-4444-555555555555}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: netgroup
    name: vnet1
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [{{SPACE}}]}
      subnets:
        - name: s
          properties:
            addressPrefix: {{PREFIX}}
            {{SUBNET}}
{{EXTRA}}
{{COMPUTES}}
`

func compute(name, typ string, publicIP bool, extra string) string {
	pip := "true"
	if !publicIP {
		pip = "false"
	}
	scale := ""
	if typ == "AmlCompute" {
		scale = "scaleSettings: {minNodeCount: 0, maxNodeCount: 4},"
	}
	return `
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: mlgroup
    name: ws1/` + name + `
    location: westus2
    properties: {computeType: ` + typ + `, properties: {vmSize: STANDARD_DS3_V2, enableNodePublicIp: ` + pip + `, ` + scale + extra + `
      subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}}}`
}

const workspacePE = `
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: netgroup
    name: ws1-pe
    location: westus2
    properties:
      subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/mlgroup/providers/Microsoft.MachineLearningServices/workspaces/ws1, groupIds: [amlworkspace]}}]
      ipConfigurations: [{name: ip, properties: {groupId: amlworkspace, memberName: default, privateIPAddress: 10.0.0.5}}]`

func build(fill map[string]string) []byte {
	def := map[string]string{"SPACE": "10.0.0.0/16", "PREFIX": "10.0.0.0/24", "SUBNET": "", "EXTRA": "", "COMPUTES": compute("cluster1", "AmlCompute", true, "")}
	for k, v := range fill {
		def[k] = v
	}
	s := env
	for k, v := range def {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return []byte(s)
}

func TestPrerequisites(t *testing.T) { // spec §4.1, §8.3, §9, §10
	cases := []struct {
		name   string
		fill   map[string]string
		code   string
		sev    Severity
		absent map[string]string // a close environment that must not raise it
	}{
		{"delegated subnet", map[string]string{"SUBNET": "delegations: [{name: d, properties: {serviceName: Microsoft.ContainerInstance/containerGroups}}]"},
			"subnet-delegated", Error, map[string]string{}},
		{"subnet too small for an instance", map[string]string{"PREFIX": "10.0.0.0/29", "COMPUTES": compute("cluster1", "AmlCompute", true, "") + compute("ci1", "ComputeInstance", true, "")},
			"subnet-too-small", Error, map[string]string{"PREFIX": "10.0.0.0/28", "COMPUTES": compute("cluster1", "AmlCompute", true, "") + compute("ci1", "ComputeInstance", true, "")}},
		{"subnet too small for a cluster", map[string]string{"PREFIX": "10.0.0.0/29", "COMPUTES": compute("cluster1", "AmlCompute", true, "")},
			"subnet-too-small", Warning, map[string]string{"PREFIX": "10.0.0.0/29", "COMPUTES": compute("ci1", "ComputeInstance", true, "")}},
		{"no public IP without workspace private endpoint", map[string]string{"COMPUTES": compute("ci1", "ComputeInstance", false, "")},
			"no-public-ip-needs-private-endpoint", Error, map[string]string{"COMPUTES": compute("ci1", "ComputeInstance", false, ""), "EXTRA": workspacePE}},
		{"invalid instance name", map[string]string{"COMPUTES": compute("ci-1", "ComputeInstance", true, "")},
			"compute-name-invalid", Error, map[string]string{"COMPUTES": compute("ci-a1", "ComputeInstance", true, "")}},
		{"invalid cluster name", map[string]string{"COMPUTES": compute("averyveryverylongcluster", "AmlCompute", true, "")},
			"compute-name-invalid", Error, map[string]string{"COMPUTES": compute("cluster-16-chars", "AmlCompute", true, "")}},
		{"docker bridge in the compute subnet", map[string]string{"SPACE": "172.17.0.0/16", "PREFIX": "172.17.1.0/24"},
			"docker-bridge-overlap", Error, map[string]string{"SPACE": "172.18.0.0/16", "PREFIX": "172.18.1.0/24"}},
		{"docker bridge elsewhere in the VNet", map[string]string{"SPACE": "172.16.0.0/12", "PREFIX": "172.16.1.0/24"},
			"docker-bridge-overlap", Warning, map[string]string{"SPACE": "172.16.0.0/16", "PREFIX": "172.16.1.0/24"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := checkData(t, "env.yaml", build(c.fill))
			f := hasCode(rep, c.code, c.sev)
			if f == nil {
				t.Fatalf("no %s/%s in %v", c.code, c.sev, codes(rep))
			}
			if f.Message == "" || f.Fix == "" || len(f.References) == 0 || !strings.HasPrefix(f.Position, "env.yaml:") {
				t.Errorf("incomplete finding %+v", f)
			}
			if c.absent != nil {
				if rep := checkData(t, "env.yaml", build(c.absent)); hasCode(rep, c.code, c.sev) != nil {
					t.Errorf("raised in the close environment too: %v", codes(rep))
				}
			}
		})
	}
}

func TestInstanceNameUniqueInRegion(t *testing.T) { // spec §9
	two := strings.ReplaceAll(compute("ci1", "ComputeInstance", true, ""), "ws1/ci1", "ws1/ci1") +
		strings.ReplaceAll(compute("ci1", "ComputeInstance", true, ""), "ws1/ci1", "ws2/ci1")
	rep := checkData(t, "env.yaml", build(map[string]string{"COMPUTES": two}))
	if hasCode(rep, "instance-name-not-unique", Error) == nil {
		t.Errorf("duplicate instance names not reported: %v", codes(rep))
	}
}

func TestVNetInOtherSubscription(t *testing.T) { // spec §4.1
	data := build(nil)
	data = []byte(strings.Replace(string(data), "  - type: Microsoft.Network/virtualNetworks\n", "  - type: Microsoft.Network/virtualNetworks\n    subscription: 00000000-0000-0000-0000-000000000002\n", 1))
	data = []byte(strings.ReplaceAll(string(data), "subnet: {id: /resourceGroups/netgroup", "subnet: {id: /subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/netgroup"))
	rep := checkData(t, "env.yaml", data)
	if hasCode(rep, "vnet-other-subscription", Error) == nil {
		t.Errorf("not reported: %v", codes(rep))
	}
	if rep := checkData(t, "env.yaml", build(nil)); hasCode(rep, "vnet-other-subscription", Error) != nil {
		t.Error("reported for the same subscription")
	}
}

func TestInstanceLocationMismatch(t *testing.T) { // spec §4.1, §10 #13
	ci := strings.Replace(compute("ci1", "ComputeInstance", true, ""), "location: westus2", "location: eastus", 1)
	rep := checkData(t, "env.yaml", build(map[string]string{"COMPUTES": ci}))
	if f := hasCode(rep, "instance-location-mismatch", Error); f == nil || !strings.Contains(f.Message, "eastus") {
		t.Errorf("not reported: %v", codes(rep))
	}
	// A cluster may be elsewhere.
	cl := strings.Replace(compute("cluster1", "AmlCompute", true, ""), "location: westus2", "location: eastus", 1)
	if rep := checkData(t, "env.yaml", build(map[string]string{"COMPUTES": cl})); hasCode(rep, "instance-location-mismatch", Error) != nil {
		t.Error("reported for a cluster")
	}
}

func TestEveryCodeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "findings.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		_, section, ok := strings.Cut(string(doc), "### `"+r.Code+"`")
		if !ok {
			t.Errorf("docs/findings.md lacks %s", r.Code)
			continue
		}
		section, _, _ = strings.Cut(section, "\n### ")
		for _, ref := range r.References {
			if cite := "“" + ref + "”"; !strings.Contains(section, cite) && (ref != docSemantics || !strings.Contains(section, "(semantics.md)")) {
				t.Errorf("docs/findings.md: %s does not cite %s", r.Code, cite)
			}
		}
	}
}

// TestRulesCiteArticlesNotSpec: what a user reads of a rule — its text,
// fix and references, in reports and SARIF — cites Azure's articles by
// title or securetrain's docs, never a document users do not have (issue
// 11: findings cited "§2, §4.3" of an internal digest).
func TestRulesCiteArticlesNotSpec(t *testing.T) {
	for _, r := range Rules {
		if len(r.References) == 0 {
			t.Errorf("%s has no references", r.Code)
		}
		for _, text := range append([]string{r.Title, r.Meaning, r.Fix}, r.References...) {
			if strings.Contains(text, "§") || strings.Contains(strings.ToLower(text), "spec") || strings.Contains(text, "azure-requirements") {
				t.Errorf("%s cites the spec: %q", r.Code, text)
			}
		}
	}
}

func TestPackageHosts(t *testing.T) { // spec §2: package hosts are warnings
	rep := checkExample(t, "cluster-public-ip-firewall.yaml")
	f := hasCode(rep, "package-host-blocked", Warning)
	if f == nil || !strings.Contains(f.Message, "cloud.r-project.org") {
		t.Fatalf("no warning for cloud.r-project.org behind the firewall: %v", codes(rep))
	}
	for _, fl := range rep.Computes[0].Flows {
		if fl.To == "pypi.org" && fl.Verdict != netverify.Allowed {
			t.Errorf("pypi.org is allowed by an application rule, got %s", fl.Verdict)
		}
	}
	if rep := checkExample(t, "cluster-public-ip.yaml"); hasCode(rep, "package-host-blocked", Warning) != nil {
		t.Errorf("package hosts reported without a firewall: %v", codes(rep))
	}
}

func TestStorageDNS(t *testing.T) { // spec §7: storage names resolve to the storage private endpoint
	storage := func(linked bool) string {
		s := `
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: mlgroup
    name: st1
    location: westus2
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: netgroup
    name: st1-blob
    location: westus2
    properties:
      subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, groupIds: [blob]}}]
      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.0.0.9}}]
  - type: Microsoft.Network/privateDnsZones
    resourceGroup: netgroup
    name: privatelink.blob.core.windows.net
    location: global
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: netgroup
    name: privatelink.blob.core.windows.net/st1
    properties: {aRecords: [{ipv4Address: 10.0.0.9}]}`
		if linked {
			s += `
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: netgroup
    name: privatelink.blob.core.windows.net/vnet1
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}}`
		}
		return s
	}
	withStorage := func(linked bool, account string) []byte {
		data := string(build(map[string]string{"EXTRA": strings.Replace(storage(linked), "    location: westus2\n  - type: Microsoft.Network/privateEndpoints",
			"    location: westus2\n    properties: "+account+"\n  - type: Microsoft.Network/privateEndpoints", 1)}))
		return []byte(strings.Replace(data, "properties: {workspaceId:", "properties: {storageAccount: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, workspaceId:", 1))
	}
	// Issue 12 point 8: not resolving to the private endpoint is an error
	// only when the account refuses the compute's public path.
	for _, account := range []string{"{networkAcls: {defaultAction: Deny}}", "{publicNetworkAccess: Disabled}"} {
		rep := checkData(t, "env.yaml", withStorage(false, account))
		f := hasCode(rep, "storage-dns-not-private", Error)
		if f == nil || !strings.Contains(f.Message, "st1.blob.core.windows.net") {
			t.Fatalf("%s: unlinked zone not reported: %v", account, codes(rep))
		}
		if rep := checkData(t, "env.yaml", withStorage(true, account)); hasCode(rep, "storage-dns-not-private", Error) != nil || hasCode(rep, "storage-dns-not-private", Warning) != nil {
			t.Errorf("%s: linked zone reported: %v", account, codes(rep))
		}
	}
	rep := checkData(t, "env.yaml", withStorage(false, "{}"))
	f := hasCode(rep, "storage-dns-not-private", Warning)
	if f == nil || hasCode(rep, "storage-dns-not-private", Error) != nil || !strings.Contains(f.Message, "accepts the compute through its public endpoint") {
		t.Errorf("an open account with an unlinked zone: %v %+v", codes(rep), f)
	}
}

func TestStorage445BlockedSpec10Case1(t *testing.T) { // spec §10 #1: StorageMountError, outbound 445 to Storage blocked
	nsg := `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: netgroup
    name: nsg1
    location: westus2
    properties:
      securityRules:
        - {name: DenySmb, properties: {priority: 100, direction: Outbound, access: Deny, protocol: Tcp, sourceAddressPrefix: "*", sourcePortRange: "*", destinationAddressPrefix: Storage, destinationPortRange: "445"}}
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: mlgroup
    name: st1
    location: westus2
    properties: {networkAcls: {defaultAction: {{ACTION}}}}`
	withNSG := func(action string) []byte {
		data := string(build(map[string]string{"EXTRA": strings.ReplaceAll(nsg, "{{ACTION}}", action),
			"SUBNET": "networkSecurityGroup: {id: /resourceGroups/netgroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}"}))
		return []byte(strings.Replace(data, "properties: {workspaceId:", "properties: {storageAccount: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, workspaceId:", 1))
	}
	// Storage behind a firewall: 445 is required, the compute fails.
	f := hasCode(checkData(t, "env.yaml", withNSG("Deny")), "required-outbound-blocked", Error)
	if f == nil || !strings.Contains(f.Message, "TCP 445 to st1.file.core.windows.net") || !strings.Contains(f.Message, "nsg1/DenySmb (100)") {
		t.Fatalf("445 blocked with storage behind a firewall: %+v", f)
	}
	// Open storage: the flow only loses file mounts, a warning; but Azure
	// refuses the compute when it is created, as the subnet NSG denies
	// Storage 445 (spec §10 #2; TestNSGPrecheck).
	rep := checkData(t, "env.yaml", withNSG("Allow"))
	if hasCode(rep, "required-outbound-blocked", Error) != nil || hasCode(rep, "required-outbound-blocked", Warning) == nil ||
		hasCode(rep, "nsg-missing-required-rules", Error) == nil {
		t.Errorf("445 blocked with open storage: %v", codes(rep))
	}
}

// appOnlyFirewall routes the subnet through an Azure Firewall whose policy
// has application rules only (issue 18 point 1: check panicked on it).
const appOnlyFirewall = `
  - type: Microsoft.Network/routeTables
    resourceGroup: netgroup
    name: rt
    location: westus2
    properties:
      routes: [{name: all, properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.1.4}}]
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: netgroup
    name: fwip
    location: westus2
    properties: {ipAddress: 20.9.9.9}
  - type: Microsoft.Network/azureFirewalls
    resourceGroup: netgroup
    name: fw
    location: westus2
    properties:
      ipConfigurations:
        - name: c
          properties:
            subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/AzureFirewallSubnet}
            publicIPAddress: {id: /resourceGroups/netgroup/providers/Microsoft.Network/publicIPAddresses/fwip}
      firewallPolicy: {id: /resourceGroups/netgroup/providers/Microsoft.Network/firewallPolicies/pol}
  - type: Microsoft.Network/firewallPolicies
    resourceGroup: netgroup
    name: pol
    location: westus2
  - type: Microsoft.Network/firewallPolicies/ruleCollectionGroups
    resourceGroup: netgroup
    name: pol/apps
    properties:
      priority: 200
      ruleCollections:
        - ruleCollectionType: FirewallPolicyFilterRuleCollection
          name: web
          priority: 100
          action: {type: Allow}
          rules:
            - {ruleType: ApplicationRule, name: pypi, sourceAddresses: ["*"], protocols: [{protocolType: Https, port: 443}], targetFqdns: [pypi.org]}`

func TestCheckBehindFirewallWithoutNetworkRules(t *testing.T) { // issue 18 point 1: no panic, the blocked flow is named
	data := string(build(map[string]string{"EXTRA": appOnlyFirewall,
		"SUBNET":   "routeTable: {id: /resourceGroups/netgroup/providers/Microsoft.Network/routeTables/rt}",
		"COMPUTES": compute("cluster1", "AmlCompute", false, "") + compute("ci1", "ComputeInstance", false, "")}))
	// The firewall lives in vnet1 itself, beside s.
	data = strings.Replace(data, "      subnets:\n        - name: s\n", "      subnets:\n        - {name: AzureFirewallSubnet, properties: {addressPrefix: 10.0.1.0/26}}\n        - name: s\n", 1)
	rep := checkData(t, "env.yaml", []byte(data))
	if len(rep.Computes) != 2 {
		t.Fatalf("computes %d, want 2", len(rep.Computes))
	}
	for _, cr := range rep.Computes {
		var blocked *Finding
		for i, f := range cr.Findings {
			if f.Code == "required-outbound-blocked" && f.Severity == Error && strings.Contains(f.Message, "TCP 443 to AzureActiveDirectory") {
				blocked = &cr.Findings[i]
			}
		}
		if blocked == nil || !strings.Contains(blocked.Message, "Azure Firewall fw: no network or application rule matches, denied by default") {
			t.Errorf("%s: no blocked AzureActiveDirectory flow naming the firewall's default deny in %+v", cr.Name, cr.Findings)
		}
		if cr.Status != WillFail {
			t.Errorf("%s: status %s, want %s", cr.Name, cr.Status, WillFail)
		}
	}
}

// TestCheckRandomNetworksEveryFirewallShape: check answers for every compute
// of random networks whose firewall holds its rules in each shape, the
// empty ones included (issue 18 point 1).
func TestCheckRandomNetworksEveryFirewallShape(t *testing.T) {
	for shape := range envgen.FirewallShapes {
		o := envgen.Options{Seed: uint64(shape) + 1, VNets: 2, SubnetsPerVNet: 2, NSGs: 2, RulesPerNSG: 20, RoutesPerVNet: 4,
			Computes: 4, Firewall: true, FirewallRules: shape}
		rep := checkData(t, "random.json", envgen.Generate(o))
		if len(rep.Computes) != o.Computes {
			t.Fatalf("shape %d: %d compute reports, want %d", shape, len(rep.Computes), o.Computes)
		}
		for _, cr := range rep.Computes {
			if len(cr.Flows) < 10 || cr.Status == "" {
				t.Errorf("shape %d: %s has %d flows, status %q", shape, cr.Name, len(cr.Flows), cr.Status)
			}
		}
	}
}

// dynamicWorkspacePE is the workspace's private endpoint as Azure returns
// it when it allocated the address itself: no ipConfigurations, the
// address on the NIC created for it ({pe}.nic.{guid}) and in
// customDnsConfigs. {{NIC}} is the NIC, or nothing.
const dynamicWorkspacePE = `
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: netgroup
    name: ws1-pe
    location: westus2
    properties:
      subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/mlgroup/providers/Microsoft.MachineLearningServices/workspaces/ws1, groupIds: [amlworkspace]}}]
      networkInterfaces: [{id: /resourceGroups/netgroup/providers/Microsoft.Network/networkInterfaces/ws1-pe.nic.0c5e2b8a-1f3d-4c6e-9a7b-2d4f6e8a0c1e}]
      customDnsConfigs: [{fqdn: 11111111-2222-3333-4444-555555555555.workspace.westus2.api.azureml.ms, ipAddresses: [10.0.0.4]}]
{{NIC}}
  - type: Microsoft.Network/privateDnsZones
    resourceGroup: netgroup
    name: privatelink.api.azureml.ms
    location: global
  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: netgroup
    name: privatelink.api.azureml.ms/vnet1-link
    location: global
    properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}}
  - type: Microsoft.Network/privateDnsZones/A
    resourceGroup: netgroup
    name: privatelink.api.azureml.ms/11111111-2222-3333-4444-555555555555.workspace.westus2
    properties: {ttl: 10, aRecords: [{ipv4Address: {{RECORD}}}]}`

const dynamicPENIC = `
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: netgroup
    name: ws1-pe.nic.0c5e2b8a-1f3d-4c6e-9a7b-2d4f6e8a0c1e
    location: westus2
    properties:
      privateEndpoint: {id: /resourceGroups/netgroup/providers/Microsoft.Network/privateEndpoints/ws1-pe}
      ipConfigurations: [{name: privateEndpointIpConfig.1, properties: {privateIPAllocationMethod: Dynamic, privateIPAddress: 10.0.0.4,
        subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}}}]`

// TestDynamicEndpointAddressIsChecked: a private endpoint whose address
// Azure allocated (on its NIC, or listed only in customDnsConfigs) is the
// address the workspace's name must resolve to (spec §7, §10 #7). Before,
// such an endpoint had no address, so a record pointing elsewhere passed.
func TestDynamicEndpointAddressIsChecked(t *testing.T) {
	for _, nic := range []string{dynamicPENIC, ""} {
		for _, c := range []struct {
			record string
			raised bool
		}{{"10.0.0.9", true}, {"10.0.0.4", false}} {
			pe := strings.NewReplacer("{{NIC}}", nic, "{{RECORD}}", c.record).Replace(dynamicWorkspacePE)
			rep := checkData(t, "env.yaml", build(map[string]string{"EXTRA": pe, "COMPUTES": compute("ci1", "ComputeInstance", false, "")}))
			f := hasCode(rep, "workspace-dns-not-private", Error)
			if (f != nil) != c.raised {
				t.Errorf("NIC %t, record %s: workspace-dns-not-private raised %t, want %t (%v)", nic != "", c.record, f != nil, c.raised, codes(rep))
			}
			if f != nil && !strings.Contains(f.Message, "10.0.0.4") {
				t.Errorf("the finding does not name the endpoint's address: %s", f.Message)
			}
			for _, code := range []string{"subnet-too-small", "no-public-ip-needs-private-endpoint"} {
				if hasCode(rep, code, Error) != nil {
					t.Errorf("NIC %t: %s raised: %v", nic != "", code, codes(rep))
				}
			}
		}
	}
}

// TestNotebooksDNSForInstances: a compute instance of a workspace with
// public network access disabled reaches the workspace's notebooks through
// its private endpoint, so privatelink.notebooks.azure.net must be linked
// like privatelink.api.azureml.ms (issue 18 point 8; spec §7). Azure's
// article "How to use your workspace with a custom DNS server" lists
// "ml-<workspace-name, truncated>-<region>-<per-workspace globally-unique
// identifier>.<region>.notebooks.azure.net" among the workspace FQDNs and
// says "The Fully Qualified Domains resolve to the following Canonical
// Names (CNAMEs) called the workspace Private Link FQDNs", among them
// "….<region>.privatelink.notebooks.azure.net".
func TestNotebooksDNSForInstances(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join("..", "..", "examples", "instance-no-public-ip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const link = `  - type: Microsoft.Network/privateDnsZones/virtualNetworkLinks
    resourceGroup: mygroup
    name: privatelink.notebooks.azure.net/mynetwork-link
    location: global
    properties:
      virtualNetwork: {id: /resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork}
      registrationEnabled: false
`
	if !strings.Contains(string(seed), link) {
		t.Fatal("the example no longer links privatelink.notebooks.azure.net as this test expects")
	}
	unlinked := strings.Replace(string(seed), link, "", 1)
	const notebooks = "ml-ws1-westus2-6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.westus2.notebooks.azure.net"

	rep := checkData(t, "env.yaml", []byte(unlinked))
	f := hasCode(rep, "workspace-dns-not-private", Error)
	if f == nil || !strings.Contains(f.Message, notebooks) || !strings.Contains(f.Fix, "privatelink.notebooks.azure.net") {
		t.Fatalf("unlinked notebooks zone not reported: %v %+v", codes(rep), f)
	}
	if rep.Computes[0].Status != WillFail {
		t.Errorf("status %s, want %s", rep.Computes[0].Status, WillFail)
	}
	// The linked zone passes; so does the unlinked one when the workspace
	// is open to the public, where the public name answers.
	if rep := checkData(t, "env.yaml", seed); hasCode(rep, "workspace-dns-not-private", Error) != nil {
		t.Errorf("reported with the zone linked: %v", codes(rep))
	}
	public := strings.Replace(unlinked, "publicNetworkAccess: Disabled", "publicNetworkAccess: Enabled", 1)
	if rep := checkData(t, "env.yaml", []byte(public)); hasCode(rep, "workspace-dns-not-private", Error) != nil {
		t.Errorf("reported for a workspace with public network access: %v", codes(rep))
	}
}

// A network shares what its queries resolve and render (endpoints, hops)
// across queries: a report must not depend on what was asked before it.
// Each environment's report on a fresh network is compared, byte for
// byte as JSON, with the report on a network that first answered another
// check (RStudio adds queries) and the same check.
func TestCheckReportDoesNotDependOnEarlierQueries(t *testing.T) {
	envs := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	broken, _ := filepath.Glob(filepath.Join("..", "..", "examples", "broken", "*.yaml"))
	for _, p := range append(paths, broken...) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		envs[p] = data
	}
	for seed := uint64(1); seed <= 3; seed++ {
		o := envgen.Options{Seed: seed, VNets: 3, SubnetsPerVNet: 3, NSGs: 2, RulesPerNSG: 60, RoutesPerVNet: 5,
			Computes: 12, Firewall: seed != 3, Hosts: seed == 2, Peerings: seed == 2}
		envs[fmt.Sprintf("gen-seed%d.json", seed)] = envgen.Generate(o)
	}
	if len(envs) < 8 {
		t.Fatalf("only %d environments", len(envs))
	}
	for name, data := range envs {
		fresh, want := compileData(t, name, data)
		again, err := Check(fresh, Options{})
		if err != nil {
			t.Fatal(err)
		}
		warm, _ := compileData(t, name, data)
		if _, err := Check(warm, Options{RStudio: true}); err != nil {
			t.Fatal(err)
		}
		got, err := Check(warm, Options{})
		if err != nil {
			t.Fatal(err)
		}
		wantJSON := reportJSON(t, want)
		if len(want.Computes) == 0 {
			t.Fatalf("%s: no computes checked", name)
		}
		for what, rep := range map[string]*Report{"the same network again": again, "a network that answered another check": got} {
			if g := reportJSON(t, rep); !bytes.Equal(g, wantJSON) {
				t.Errorf("%s: the report on %s differs from the report on a fresh network", name, what)
			}
		}
	}
}

func reportJSON(t *testing.T, rep *Report) []byte {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
