package studio

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"securetrain/internal/api"
)

const (
	netOf      = "/subscriptions/" + sub + "/resourceGroups/rg-net/providers/Microsoft.Network/"
	netVersion = "?api-version=2025-01-01"
	vnetID     = netOf + "virtualNetworks/vnet"
)

// withNetworkParts adds to the seed a firewall (in AzureFirewallSubnet,
// with a public IP and a policy of two rule collection groups), a NAT
// gateway on a new subnet egress, and a second VNet peered both ways.
func withNetworkParts(t testing.TB, e *env) {
	t.Helper()
	policy := netOf + "firewallPolicies/fwp"
	for _, step := range []struct{ path, body string }{
		{vnetID + "/subnets/AzureFirewallSubnet", `{"properties":{"addressPrefix":"10.0.3.0/26"}}`},
		{netOf + "publicIPAddresses/pip-fw", `{"location":"eastus","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`},
		{netOf + "publicIPAddresses/pip-nosku", `{"location":"eastus","properties":{"publicIPAllocationMethod":"Static"}}`},
		{netOf + "publicIPAddresses/pip-nat", `{"location":"eastus","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`},
		{netOf + "natGateways/nat-egress", `{"location":"eastus","sku":{"name":"Standard"},"properties":{"publicIpAddresses":[{"id":"` + netOf + `publicIPAddresses/pip-nat"}]}}`},
		{vnetID + "/subnets/egress", `{"properties":{"addressPrefix":"10.0.5.0/24","natGateway":{"id":"` + netOf + `natGateways/nat-egress"}}}`},
		{policy, `{"location":"eastus","properties":{}}`},
		{policy + "/ruleCollectionGroups/apps", `{"properties":{"priority":200,"ruleCollections":[{"ruleCollectionType":"FirewallPolicyFilterRuleCollection",
			"name":"web","priority":100,"action":{"type":"Allow"},"rules":[{"ruleType":"ApplicationRule","name":"pypi","sourceAddresses":["10.0.1.0/24"],
			"protocols":[{"protocolType":"Https","port":443}],"targetFqdns":["pypi.org"]}]}]}}`},
		{policy + "/ruleCollectionGroups/net", `{"properties":{"priority":300,"ruleCollections":[{"ruleCollectionType":"FirewallPolicyFilterRuleCollection",
			"name":"aml","priority":100,"action":{"type":"Allow"},"rules":[{"ruleType":"NetworkRule","name":"to-aml","sourceAddresses":["10.0.1.0/24"],
			"ipProtocols":["TCP"],"destinationAddresses":["AzureMachineLearning"],"destinationPorts":["443"]}]}]}}`},
		{netOf + "azureFirewalls/fw", `{"location":"eastus","properties":{"firewallPolicy":{"id":"` + policy + `"},
			"ipConfigurations":[{"name":"c","properties":{"privateIPAddress":"10.0.3.4","subnet":{"id":"` + vnetID + `/subnets/AzureFirewallSubnet"},
			"publicIPAddress":{"id":"` + netOf + `publicIPAddresses/pip-fw"}}}]}}`},
		{netOf + "virtualNetworks/vnet2", `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
			"virtualNetworkPeerings":[{"name":"to-vnet","properties":{"remoteVirtualNetwork":{"id":"` + vnetID + `"},"allowForwardedTraffic":true}}]}}`},
		{vnetID + "/virtualNetworkPeerings/to-vnet2", `{"properties":{"remoteVirtualNetwork":{"id":"` + netOf + `virtualNetworks/vnet2"},"allowVirtualNetworkAccess":true}}`},
	} {
		if status, out := e.armDo("PUT", step.path+netVersion, step.body); status != http.StatusOK && status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", step.path, status, out)
		}
	}
	e.settle()
}

// hrefTo finds the link to a page of the studio's (path, "?id=") in page.
func hrefTo(t testing.TB, page, path string) string {
	t.Helper()
	m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(path) + `\?id=[^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link to %s in the page: %s", path, page)
	}
	return html.UnescapeString(m[1])
}

// Firewalls, load balancers, public IPs, NAT gateways and peerings have
// pages of their own, linked from the network page and a compute's
// created resources, and readable as the API lets the principal read.
func TestNetworkResourcePages(t *testing.T) { // issue 14 item 3
	e := newEnv(t)
	withNetworkParts(t, e)
	b := e.signIn(e.readerToken)
	q := url.QueryEscape
	_, network := b.get("/studio/network?sub=" + sub)
	for _, want := range []string{`data-peering="to-vnet2"`, `/studio/network/natgateway?id=` + q(netOf+"natGateways/nat-egress"),
		`/studio/network/firewall?id=` + q(netOf+"azureFirewalls/fw"), `/studio/network/publicip?id=` + q(netOf+"publicIPAddresses/pip-fw"),
		"subnet AzureFirewallSubnet · 10.0.3.4 · policy fwp", "and 1 that Azure ML created for computes"} {
		if !strings.Contains(network, want) {
			t.Errorf("the network page lacks %q", want)
		}
	}

	// The firewall: its collections in processing order (network rules
	// before application rules, whatever the groups' priorities).
	resp, page := b.get("/studio/network/firewall?id=" + q(netOf+"azureFirewalls/fw"))
	text := html.UnescapeString(page)
	if resp.StatusCode != http.StatusOK || !strings.Contains(text, `id="private-ip">10.0.3.4<`) || !strings.Contains(text, ">fwp</a>") ||
		!strings.Contains(text, ">pip-fw</a>") || !strings.Contains(text, ">AzureFirewallSubnet</a>") {
		t.Fatalf("the firewall's page: %d %s", resp.StatusCode, text)
	}
	aml, web := strings.Index(text, `data-collection="aml"`), strings.Index(text, `data-collection="web"`)
	if aml < 0 || web < 0 || aml > web {
		t.Errorf("the collections: aml at %d, web at %d (network rules first): %s", aml, web, text)
	}
	for _, want := range []string{"Network · Allow · priority 100 · group net (priority 300)", "<td>to-aml</td><td>TCP</td><td>10.0.1.0/24</td><td>AzureMachineLearning</td><td>443</td>",
		"Application · Allow · priority 100 · group apps (priority 200)", "<td>pypi</td><td>Https:443</td><td>10.0.1.0/24</td><td>pypi.org</td>"} {
		if !strings.Contains(text, want) {
			t.Errorf("the firewall's page lacks %q", want)
		}
	}

	// A public IP says what it is attached to.
	if _, page = b.get("/studio/network/publicip?id=" + q(netOf+"publicIPAddresses/pip-fw")); !strings.Contains(page, `id="sku">Standard<`) ||
		!strings.Contains(page, `<li data-ref="fw"><a href="/studio/network/firewall?id=`+q(netOf+"azureFirewalls/fw")+`">fw</a>`) {
		t.Errorf("pip-fw's page: %s", page)
	}

	// A public IP written without a SKU is Standard, as the verifier reads
	// it (Basic ones can no longer be created).
	if _, page = b.get("/studio/network/publicip?id=" + q(netOf+"publicIPAddresses/pip-nosku")); !strings.Contains(page, `id="sku">Standard<`) {
		t.Errorf("pip-nosku's page: %s", page)
	}

	// The NAT gateway: its public IP and the subnet it serves.
	if _, page = b.get("/studio/network/natgateway?id=" + q(netOf+"natGateways/nat-egress")); !strings.Contains(page, `>pip-nat</a>`) ||
		!strings.Contains(page, `>vnet/egress</a>`) {
		t.Errorf("nat-egress's page: %s", page)
	}

	// The peering, its flags, and the peering back.
	_, page = b.get("/studio/network/peering?id=" + q(vnetID+"/virtualNetworkPeerings/to-vnet2"))
	text = html.UnescapeString(page)
	for _, want := range []string{`>vnet2</a>`, `id="access">allowed<`, `id="forwarded">not allowed<`, `>to-vnet</a> · `, `id="state">`} {
		if !strings.Contains(text, want) {
			t.Errorf("the peering's page lacks %q: %s", want, text)
		}
	}

	// The seed cluster's load balancer and public IP, from its Compute
	// page's links to what Azure ML created.
	_, compute := b.get("/studio/compute?ws=" + q(wsID) + "&tab=clusters")
	lbPath := hrefTo(t, compute, "/studio/network/loadbalancer")
	resp, page = b.get(lbPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="frontends"`) || !strings.Contains(page, "/studio/network/publicip?id=") {
		t.Fatalf("the seed cluster's load balancer: %d %s", resp.StatusCode, page)
	}
	if _, pip := b.get(hrefTo(t, page, "/studio/network/publicip")); !strings.Contains(pip, `href="`+html.EscapeString(lbPath)+`"`) {
		t.Errorf("the load balancer's public IP is not attached to it (%s): %s", lbPath, pip)
	}

	// Without a role, every page is the API's refusal.
	nobody, err := api.CreatePrincipal(context.Background(), e.st, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	n := e.signIn(nobody)
	for _, path := range []string{
		"/studio/network/firewall?id=" + q(netOf+"azureFirewalls/fw"), lbPath, "/studio/network/publicip?id=" + q(netOf+"publicIPAddresses/pip-fw"),
		"/studio/network/natgateway?id=" + q(netOf+"natGateways/nat-egress"), "/studio/network/peering?id=" + q(vnetID+"/virtualNetworkPeerings/to-vnet2"),
	} {
		if resp, page := n.get(path); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") || strings.Contains(page, "10.0.3.4") {
			t.Errorf("%s for a principal without a role: %d %s", path, resp.StatusCode, page)
		}
	}
	// The wrong type of id is refused naming it.
	if resp, page := b.get("/studio/network/firewall?id=" + q(netOf+"natGateways/nat-egress")); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(page, "the id of a Microsoft.Network/azureFirewalls is needed") {
		t.Errorf("a NAT gateway's id on the firewall page: %d %s", resp.StatusCode, page)
	}
}
