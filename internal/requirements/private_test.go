package requirements

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// flowAgrees asks `flow`'s question for a checked flow and reports whether
// it gives the same verdict; it returns the flow's answer.
func flowAgrees(t *testing.T, n *netverify.Network, c *resources.Compute, fc FlowCheck) *netverify.Result {
	t.Helper()
	from, to := netverify.ResourceEndpoint(c.ID), netverify.NameEndpoint(fc.To)
	if tag, ok := n.ServiceTags().Lookup(fc.To); ok {
		to = netverify.TagEndpoint(tag.Name)
	}
	if fc.Direction == netverify.DirectionInbound {
		from, to = netverify.TagEndpoint(fc.From), netverify.ResourceEndpoint(c.ID)
	}
	proto, err := netverify.ParseProtocol(fc.Protocol)
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Flow(netverify.Query{From: from, To: to, Protocol: proto, Port: uint16(fc.Port)})
	if err != nil {
		t.Fatalf("flow %s: %v", fc.Name, err)
	}
	if res.Verdict != fc.Verdict {
		t.Errorf("%s: check says %s, flow says %s", fc.Name, fc.Verdict, res.Verdict)
	}
	return res
}

// readinessCodes are the finding codes the provisioner refuses a compute
// with.
func readinessCodes(t *testing.T, n *netverify.Network, c *resources.Compute) []string {
	t.Helper()
	_, blocked, err := Readiness(n, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range blocked {
		out = append(out, f.Code)
	}
	return out
}

// TestRegionalAzureMLRoutes: a public-IP compute behind a firewall that
// routes only its region's and the paired region's AzureMachineLearning
// ranges to the internet works (issue 12 point 6). Azure's article
// "Configure inbound and outbound network traffic": "For the Azure Machine
// Learning service, you must add the IP address of both the primary and
// secondary regions", "search the file for BatchNodeManagement.<region>
// and AzureMachineLearning.<region>", "When creating the UDR, set the Next
// hop type to Internet". Before, check asked for the reply path of the
// whole global tag and reported AsymmetricRoute on 239 of its ranges.
func TestRegionalAzureMLRoutes(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join("..", "..", "examples", "cluster-public-ip-firewall.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const global = "{addressPrefix: AzureMachineLearning, nextHopType: Internet}"
	if !strings.Contains(string(seed), global) {
		t.Fatal("the example no longer routes AzureMachineLearning as this test expects")
	}
	regional := func(regions ...string) []byte {
		var routes []string
		for _, r := range regions {
			routes = append(routes, "{name: AzureML"+r+", properties: {addressPrefix: AzureMachineLearning."+r+", nextHopType: Internet}}")
		}
		// One route per line, indented as the example's routes.
		text := strings.Replace(string(seed), "        - name: AzureMLRoute\n          properties: "+global+"\n",
			"        - "+strings.Join(routes, "\n        - ")+"\n", 1)
		if text == string(seed) {
			t.Fatal("the example's AzureMLRoute was not replaced")
		}
		return []byte(text)
	}

	n, rep := compileData(t, "env.yaml", regional("WestUS2", "WestCentralUS"))
	cr := rep.Computes[0]
	if cr.Status == WillFail || hasCode(rep, "required-inbound-blocked", Error) != nil {
		t.Fatalf("a correct regional setup fails: %v", codes(rep))
	}
	var inbound []string
	for _, fc := range cr.Flows {
		if fc.Direction == netverify.DirectionInbound {
			inbound = append(inbound, fc.From)
			flowAgrees(t, n, n.Snapshot().Computes[0], fc)
		}
	}
	if !slices.Equal(inbound, []string{"AzureMachineLearning.WestUS2", "AzureMachineLearning.WestCentralUS"}) {
		t.Errorf("inbound flows from %v, want the region's and its pair's ranges", inbound)
	}
	// `flow` from the whole global tag still finds the other regions'
	// replies leaving through the firewall: that question is not the one
	// Azure ML's management traffic asks.
	res, err := n.Flow(netverify.Query{From: netverify.TagEndpoint("AzureMachineLearning"), To: netverify.ResourceEndpoint(n.Snapshot().Computes[0].ID), Protocol: netverify.TCP, Port: 44224})
	if err != nil || res.Verdict == netverify.Allowed || !slices.ContainsFunc(res.Outcomes, func(o netverify.Outcome) bool { return o.Verdict == netverify.AsymmetricRoute }) {
		t.Errorf("global tag: %v %v", res.Verdict, err)
	}

	// Forgetting the paired region breaks the compute, and says which.
	n, rep = compileData(t, "env.yaml", regional("WestUS2"))
	f := hasCode(rep, "required-inbound-blocked", Error)
	if f == nil || !strings.Contains(f.Message, "from AzureMachineLearning.WestCentralUS") || strings.Contains(f.Message, "from AzureMachineLearning.WestUS2") ||
		!strings.Contains(f.Message, "asymmetric") {
		t.Fatalf("missing paired-region route: %+v", f)
	}
	if got := readinessCodes(t, n, n.Snapshot().Computes[0]); !slices.Contains(got, "required-inbound-blocked") {
		t.Errorf("the provisioner does not refuse it: %v", got)
	}
}

// privateEnv: workspace ws1 with a private endpoint at 10.0.0.5 in subnet
// s and its zone linked; default storage st1 with blob and file private
// endpoints in vnet2 (10.1.0.0/16, peered both ways), their zones linked to
// vnet1; NSG nsg1 on s with {{RULES}}.
const privateEnv = `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: netgroup
    name: nsg1
    location: westus2
    properties:
      securityRules: [{{RULES}}]
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: netgroup
    name: vnet2
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.1.0.0/16]}
      subnets: [{name: pe, properties: {addressPrefix: 10.1.0.0/24}}]
      virtualNetworkPeerings:
        - {name: to-vnet1, properties: {remoteVirtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}, allowVirtualNetworkAccess: true}}
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: mlgroup
    name: st1
    location: westus2
    properties: {publicNetworkAccess: Disabled}
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: netgroup
    name: st1-blob
    location: westus2
    properties:
      subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet2/subnets/pe}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, groupIds: [blob]}}]
      ipConfigurations: [{name: ip, properties: {groupId: blob, memberName: blob, privateIPAddress: 10.1.0.4}}]
  - type: Microsoft.Network/privateEndpoints
    resourceGroup: netgroup
    name: st1-file
    location: westus2
    properties:
      subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet2/subnets/pe}
      privateLinkServiceConnections: [{name: c, properties: {privateLinkServiceId: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, groupIds: [file]}}]
      ipConfigurations: [{name: ip, properties: {groupId: file, memberName: file, privateIPAddress: 10.1.0.5}}]
  - {type: Microsoft.Network/privateDnsZones, resourceGroup: netgroup, name: privatelink.blob.core.windows.net, location: global}
  - {type: Microsoft.Network/privateDnsZones/A, resourceGroup: netgroup, name: privatelink.blob.core.windows.net/st1, properties: {aRecords: [{ipv4Address: 10.1.0.4}]}}
  - {type: Microsoft.Network/privateDnsZones/virtualNetworkLinks, resourceGroup: netgroup, name: privatelink.blob.core.windows.net/vnet1, location: global,
     properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}}}
  - {type: Microsoft.Network/privateDnsZones, resourceGroup: netgroup, name: privatelink.file.core.windows.net, location: global}
  - {type: Microsoft.Network/privateDnsZones/A, resourceGroup: netgroup, name: privatelink.file.core.windows.net/st1, properties: {aRecords: [{ipv4Address: 10.1.0.5}]}}
  - {type: Microsoft.Network/privateDnsZones/virtualNetworkLinks, resourceGroup: netgroup, name: privatelink.file.core.windows.net/vnet1, location: global,
     properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}}}
  - {type: Microsoft.Network/privateDnsZones, resourceGroup: netgroup, name: privatelink.api.azureml.ms, location: global}
  - {type: Microsoft.Network/privateDnsZones/A, resourceGroup: netgroup, name: privatelink.api.azureml.ms/11111111-2222-3333-4444-555555555555.workspace.westus2, properties: {aRecords: [{ipv4Address: 10.0.0.5}]}}
  - {type: Microsoft.Network/privateDnsZones/virtualNetworkLinks, resourceGroup: netgroup, name: privatelink.api.azureml.ms/vnet1, location: global,
     properties: {virtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1}}}` + workspacePE

// privateData builds privateEnv with NSG rules on subnet s and the
// workspace pointing at st1.
func privateData(rules ...string) []byte {
	data := string(build(map[string]string{
		"EXTRA":    strings.ReplaceAll(privateEnv, "{{RULES}}", strings.Join(rules, ", ")),
		"SUBNET":   "networkSecurityGroup: {id: /resourceGroups/netgroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}",
		"COMPUTES": compute("cluster1", "AmlCompute", false, ""),
	}))
	data = strings.Replace(data, "      subnets:\n        - name: s\n", `      virtualNetworkPeerings:
        - {name: to-vnet2, properties: {remoteVirtualNetwork: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet2}, allowVirtualNetworkAccess: true}}
      subnets:
        - name: s
`, 1)
	return []byte(strings.Replace(data, "properties: {workspaceId:", "properties: {storageAccount: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, workspaceId:", 1))
}

// TestPrivateFlowsChecked: check tests the flows a compute needs to the
// workspace's private endpoint and to the default storage's private
// endpoints, in its VNet or a peered one (issue 12 point 7). Azure's
// article "Configure inbound and outbound network traffic" lists outbound
// "VirtualNetwork 443 — required when private endpoints are present in
// the virtual network"; "Secure an Azure Machine Learning training
// environment with virtual networks": "don't block port 445 to the
// storage account VNet". Before, an NSG denying them left check saying
// "ok" while flow on the same file said Denied.
func TestPrivateFlowsChecked(t *testing.T) {
	n, rep := compileData(t, "env.yaml", privateData())
	if rep.HasErrors() {
		t.Fatalf("the private setup fails: %v", codes(rep))
	}
	c := n.Snapshot().Computes[0]
	want := map[string]bool{}
	for _, fc := range rep.Computes[0].Flows {
		if strings.HasSuffix(fc.To, ".windows.net") || strings.HasSuffix(fc.To, ".api.azureml.ms") {
			want[fc.Name] = true
			res := flowAgrees(t, n, c, fc)
			if fc.Verdict != netverify.Allowed || !strings.HasPrefix(res.Destination.Addresses[0], "10.") {
				t.Errorf("%s: %s to %v, want allowed to a private endpoint", fc.Name, fc.Verdict, res.Destination.Addresses)
			}
		}
	}
	for _, name := range []string{"outbound TCP 443 to 11111111-2222-3333-4444-555555555555.workspace.westus2.api.azureml.ms",
		"outbound TCP 18881 to 11111111-2222-3333-4444-555555555555.workspace.westus2.api.azureml.ms",
		"outbound TCP 443 to st1.blob.core.windows.net", "outbound TCP 443 to st1.file.core.windows.net", "outbound TCP 445 to st1.file.core.windows.net"} {
		if !want[name] {
			t.Errorf("check does not test %s: %v", name, want)
		}
	}

	for _, c := range []struct {
		rule, mention string
	}{
		{"{name: DenyVnet443, properties: {priority: 100, direction: Outbound, access: Deny, protocol: Tcp, sourceAddressPrefix: '*', sourcePortRange: '*', destinationAddressPrefix: VirtualNetwork, destinationPortRange: '443'}}",
			"outbound TCP 443 to 11111111-2222-3333-4444-555555555555.workspace.westus2.api.azureml.ms (the workspace through its private endpoint), outbound TCP 443 to st1.blob.core.windows.net"},
		{"{name: DenySmbToStorageVNet, properties: {priority: 100, direction: Outbound, access: Deny, protocol: Tcp, sourceAddressPrefix: '*', sourcePortRange: '*', destinationAddressPrefix: 10.1.0.0/16, destinationPortRange: '445'}}",
			"outbound TCP 445 to st1.file.core.windows.net (file share mounts of the default storage (SMB)) is denied by nsg1/DenySmbToStorageVNet (100)"},
	} {
		n, rep := compileData(t, "env.yaml", privateData(c.rule))
		f := hasCode(rep, "required-outbound-blocked", Error)
		if f == nil || !strings.Contains(f.Message, c.mention) {
			t.Errorf("%s: check reports %+v, want %q", c.rule, f, c.mention)
			continue
		}
		cmp := n.Snapshot().Computes[0]
		for _, fc := range rep.Computes[0].Flows {
			if fc.Verdict != netverify.Allowed {
				flowAgrees(t, n, cmp, fc)
			}
		}
		if got := readinessCodes(t, n, cmp); !slices.Contains(got, "required-outbound-blocked") {
			t.Errorf("%s: the provisioner does not refuse it: %v", c.rule, got)
		}
	}
}

// storageEnv: the default storage st1 of ws1 with {{ACCOUNT}} properties
// and no private endpoint; subnet s with {{SUBNET}}.
const storageRulesEnv = `
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: mlgroup
    name: st1
    location: westus2
    properties: {{ACCOUNT}}`

// TestStorageNetworkRulesInCheck: the default storage account's own rules
// decide whether the compute reaches it through its public endpoint
// (issue 12 point 8). Azure's article "Configure Azure Storage firewalls
// and virtual networks": "Turning on firewall rules for your storage
// account blocks incoming requests for data by default, unless the
// requests originate from a service operating within an Azure Virtual
// Network (VNet) or from allowed public IP addresses", and "IP network
// rules have no effect on requests originating from the same Azure region
// as the storage account". Before, an account that denies everything,
// with no private endpoint, passed check.
func TestStorageNetworkRulesInCheck(t *testing.T) {
	const vnetRule = "virtualNetworkRules: [{id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}]"
	for _, c := range []struct {
		name, account, subnet, mention string // mention: "" for no finding
	}{
		{"open account", "{}", "", ""},
		{"deny, no rule", "{networkAcls: {defaultAction: Deny, bypass: AzureServices}}", "",
			"storage account st1 refuses it: networkAcls.defaultAction is Deny and the request comes from its own region (westus2), where ipRules have no effect"},
		{"deny, the subnet listed without a service endpoint", "{networkAcls: {defaultAction: Deny, " + vnetRule + "}}", "", "where ipRules have no effect"},
		{"deny, a service endpoint without the subnet listed", "{networkAcls: {defaultAction: Deny}}", "serviceEndpoints: [{service: Microsoft.Storage}]",
			"virtualNetworkRules does not list subnet vnet1/s"},
		{"deny, the subnet listed with a service endpoint", "{networkAcls: {defaultAction: Deny, " + vnetRule + "}}", "serviceEndpoints: [{service: Microsoft.Storage}]", ""},
		{"public network access disabled", "{publicNetworkAccess: Disabled, networkAcls: {defaultAction: Deny, " + vnetRule + "}}", "serviceEndpoints: [{service: Microsoft.Storage}]",
			"publicNetworkAccess is Disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := string(build(map[string]string{"EXTRA": strings.ReplaceAll(storageRulesEnv, "{{ACCOUNT}}", c.account), "SUBNET": c.subnet}))
			data = strings.Replace(data, "properties: {workspaceId:", "properties: {storageAccount: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/st1, workspaceId:", 1)
			n, rep := compileData(t, "env.yaml", []byte(data))
			f := hasCode(rep, "storage-refuses-compute", Error)
			cmp := n.Snapshot().Computes[0]
			if c.mention == "" {
				if f != nil || rep.HasErrors() {
					t.Fatalf("refused: %v %+v", codes(rep), f)
				}
				return
			}
			if f == nil || !strings.Contains(f.Message, c.mention) || !strings.Contains(f.Message, "outbound TCP 443 to st1.blob.core.windows.net") ||
				f.Fix == "" || rep.Computes[0].Status != WillFail {
				t.Fatalf("check reports %+v in %v, want %q", f, codes(rep), c.mention)
			}
			for _, fc := range rep.Computes[0].Flows {
				if strings.HasPrefix(fc.To, "st1.") {
					flowAgrees(t, n, cmp, fc)
				}
			}
			if got := readinessCodes(t, n, cmp); !slices.Contains(got, "storage-refuses-compute") {
				t.Errorf("the provisioner does not refuse it: %v", got)
			}
		})
	}
}
