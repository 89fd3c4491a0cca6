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
	nsgBlocked = "/subscriptions/" + sub + "/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-blocked"
	rtBlocked  = "/subscriptions/" + sub + "/resourceGroups/rg-net/providers/Microsoft.Network/routeTables/rt-blocked"
)

// rowOfPage is the HTML of the table row whose attribute attr is value.
func rowOfPage(t *testing.T, page, attr, value string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr ` + attr + `="` + regexp.QuoteMeta(value) + `"[^>]*>.*?</tr>`).FindString(page)
	if m == "" {
		t.Fatalf("no row %s=%q in the page", attr, value)
	}
	return m
}

func TestNetworkPageListsVNetsSubnetsAndTheirParts(t *testing.T) { // issue 14 item 3: network views
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	resp, page := b.get("/studio/network?sub=" + sub)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("network page: %d %s", resp.StatusCode, page)
	}
	// Subnet compute: 251 usable, less the private endpoint (10.0.1.5) and
	// the seed cluster's two nodes at its maximum... as the verifier counts.
	compute := rowOfPage(t, page, "data-subnet", "compute")
	for _, want := range []string{"10.0.1.0/24", "<td>251</td>", "nsg-compute", "none"} {
		if !strings.Contains(compute, want) {
			t.Errorf("subnet compute's row lacks %q: %s", want, compute)
		}
	}
	if free := regexp.MustCompile(`class="free">(\d+)<`).FindStringSubmatch(compute); free == nil || free[1] == "251" {
		t.Errorf("subnet compute's free addresses are not the verifier's (less the endpoint and nodes): %s", compute)
	}
	blocked := rowOfPage(t, page, "data-subnet", "blocked")
	if !strings.Contains(blocked, "rt-blocked") || !strings.Contains(blocked, "nsg-blocked") {
		t.Errorf("subnet blocked's row: %s", blocked)
	}
	if delegated := rowOfPage(t, page, "data-subnet", "delegated"); !strings.Contains(delegated, "Microsoft.ContainerInstance/containerGroups") {
		t.Errorf("subnet delegated's row: %s", delegated)
	}
	for _, want := range []string{"ws1-pe", "10.0.1.5 (amlworkspace)", "privatelink.api.azureml.ms", "vnet-link → vnet",
		"6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b.workspace.eastus A 10.0.1.5", "onprem-none: 192.168.0.0/16 → None"} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the network page lacks %q", want)
		}
	}
}

func TestSubnetPageShowsEffectiveRulesAndRoutes(t *testing.T) { // issue 14 item 3
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	resp, page := b.get("/studio/network/subnet?id=" + url.QueryEscape(subnetsOf+"blocked"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subnet page: %d %s", resp.StatusCode, page)
	}
	// Outbound in evaluation order: the NSG's rule (200), then Azure's
	// three defaults (65000, 65001, 65500).
	out := page[strings.Index(page, `id="rules-outbound"`):]
	order := regexp.MustCompile(`data-rule="([^"]+)"`).FindAllStringSubmatch(out, -1)
	var names []string
	for _, m := range order {
		names = append(names, m[1])
	}
	want := "securityRules/DenyUDP5831 defaultSecurityRules/AllowVnetOutBound defaultSecurityRules/AllowInternetOutBound defaultSecurityRules/DenyAllOutBound"
	if strings.Join(names, " ") != want {
		t.Fatalf("outbound rules in order: %v, want %s", names, want)
	}
	if !strings.Contains(page, `data-rule="defaultSecurityRules/AllowAzureLoadBalancerInBound"`) {
		t.Error("the inbound defaults are missing")
	}
	// Effective routes: the user route wins 10.0.0.0/16 and the VNet's
	// system route for it is Invalid; the endpoint's /32 is there.
	for _, want := range []string{
		`<tr data-prefix="10.0.0.0/16" data-state="Invalid"><td>Default</td><td>Invalid</td><td>10.0.0.0/16</td><td>VnetLocal</td>`,
		`<tr data-prefix="10.0.0.0/16" data-state="Active"><td>User</td><td>Active</td><td>10.0.0.0/16</td><td>None</td>`,
		`<tr data-prefix="0.0.0.0/0" data-state="Active"><td>Default</td><td>Active</td><td>0.0.0.0/0</td><td>Internet</td>`,
		`<tr data-prefix="10.0.1.5/32" data-state="Active"><td>Default</td><td>Active</td><td>10.0.1.5/32</td><td>InterfaceEndpoint</td><td></td><td>private endpoint ws1-pe</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the routes lack %s", want)
		}
	}
}

func TestNSGPageShowsRulesInEvaluationOrder(t *testing.T) { // issue 14 item 3
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	resp, page := b.get("/studio/network/nsg?id=" + url.QueryEscape(nsgBlocked))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("NSG page: %d %s", resp.StatusCode, page)
	}
	in := page[strings.Index(page, `id="rules-inbound"`):strings.Index(page, `id="rules-outbound"`)]
	first := regexp.MustCompile(`data-rule="([^"]+)"`).FindAllStringSubmatch(in, -1)
	if len(first) != 4 || first[0][1] != "securityRules/AllowAzureML" || first[3][1] != "defaultSecurityRules/DenyAllInBound" {
		t.Fatalf("inbound rules: %v", first)
	}
	resp, page = b.get("/studio/network/routetable?id=" + url.QueryEscape(rtBlocked))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "vnet-override: 10.0.0.0/16 → None") || !strings.Contains(page, ">vnet/blocked</a>") {
		t.Fatalf("route table page: %d %s", resp.StatusCode, page)
	}
}

func TestFlowExplorerAnswersAsSecuretrainFlow(t *testing.T) { // issue 14 item 3: the flow explorer
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	q := url.Values{"sub": {sub}, "from": {subnetsOf + "blocked"}, "to": {"AzureMachineLearning"}, "protocol": {"UDP"}, "port": {"5831"}}
	resp, page := b.get("/studio/network/flow?" + q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("flow: %d %s", resp.StatusCode, page)
	}
	text := html.UnescapeString(page)
	if !strings.Contains(page, `id="verdict" class="verdict-Denied">Denied:`) || !strings.Contains(page, `data-rule="DenyUDP5831"`) ||
		!strings.Contains(text, "Blocked:") || !strings.Contains(text, "Fix:") {
		t.Fatalf("the blocked flow's answer: %s", page)
	}
	q.Set("from", subnetsOf+"compute")
	if _, page := b.get("/studio/network/flow?" + q.Encode()); !strings.Contains(page, `class="verdict-Allowed">Allowed:`) {
		t.Fatalf("the allowed flow's answer: %s", page)
	}
	// Bad input names the field and changes nothing.
	for name, c := range map[string]struct{ field, value, want string }{
		"unknown source": {"from", "nowhere/nothing", "Field &#39;from&#39;"},
		"no port":        {"port", "", "a destination port is required"},
		"bad port":       {"port", "http", "a port is a whole number"},
		"port too big":   {"port", "70000", "70000 is outside 0-65535"},
	} {
		bad := url.Values{"sub": {sub}, "from": {subnetsOf + "compute"}, "to": {"Internet"}, "protocol": {"TCP"}, "port": {"443"}}
		bad.Set(c.field, c.value)
		resp, page := b.get("/studio/network/flow?" + bad.Encode())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, c.want) {
			t.Errorf("%s: %d, want %q in %s", name, resp.StatusCode, c.want, page)
		}
	}
}

func TestNetworkViewsNeedReadAccess(t *testing.T) { // one authority: the API's RBAC
	e := newEnv(t)
	nobody, err := api.CreatePrincipal(context.Background(), e.st, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	b := e.signIn(nobody)
	for _, path := range []string{
		"/studio/network/subnet?id=" + url.QueryEscape(subnetsOf+"blocked"),
		"/studio/network/nsg?id=" + url.QueryEscape(nsgBlocked),
		"/studio/network/flow?sub=" + sub + "&from=" + url.QueryEscape(subnetsOf+"blocked") + "&to=Internet&protocol=TCP&port=443",
	} {
		if resp, page := b.get(path); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") {
			t.Errorf("%s for a principal without a role: %d %s", path, resp.StatusCode, page)
		}
	}
	if resp, page := b.get("/studio/network?sub=" + sub); resp.StatusCode != http.StatusForbidden || strings.Contains(page, "nsg-blocked") {
		t.Errorf("the network page for a principal without a role: %d %s", resp.StatusCode, page)
	}
}

func TestResourceTagsAreEscaped(t *testing.T) { // an XSS attempt through a tag
	e := newEnv(t)
	body := `{"location":"eastus","tags":{"owner":"<script>alert(1)</script>"},"properties":{"securityRules":[]}}`
	if status, out := e.armDo("PUT", "/subscriptions/"+sub+"/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-xss?api-version=2025-01-01", body); status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, out)
	}
	b := e.signIn(e.readerToken)
	nsg := "/subscriptions/" + sub + "/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-xss"
	for _, path := range []string{"/studio/network/nsg?id=" + url.QueryEscape(nsg), "/studio/resource?id=" + url.QueryEscape(nsg)} {
		_, page := b.get(path)
		if strings.Contains(page, "<script>alert") || !strings.Contains(page, "alert(1)") {
			t.Fatalf("%s: the tag is not escaped: %s", path, page)
		}
	}
	if _, page := b.get("/studio/network/nsg?id=" + url.QueryEscape(nsg)); !strings.Contains(page, "owner = &lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("the NSG page's tags: %s", page)
	}
	if _, page := b.get("/studio/network?sub=" + sub); !strings.Contains(page, ">nsg-xss</a>") {
		t.Fatalf("the NSG is not listed: %s", page)
	}
}

func TestVNetDiagramDrawsSubnetsAndWhatIsInThem(t *testing.T) { // the diagram, SVG drawn by the server
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	vnet := strings.TrimSuffix(subnetsOf, "/subnets/")
	resp, page := b.get("/studio/network/diagram?id=" + url.QueryEscape(vnet))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<svg id="diagram"`) {
		t.Fatalf("diagram: %d %s", resp.StatusCode, page)
	}
	svg := html.UnescapeString(page[strings.Index(page, "<svg"):strings.Index(page, "</svg>")])
	for _, want := range []string{"vnet · 10.0.0.0/16", "compute 10.0.1.0/24", "blocked 10.0.2.0/24", "delegated 10.0.4.0/24",
		">NSG nsg-blocked<", ">route table rt-blocked<", "delegated to Microsoft.ContainerInstance/containerGroups",
		"private endpoint ws1-pe 10.0.1.5", "compute ws1/cpu-cluster, public IP (AmlCompute)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the diagram lacks %q", want)
		}
	}
	if strings.Contains(page, " style=") {
		t.Error("the diagram has a style attribute")
	}
}

// tableOfPage is the HTML of the table whose id is id.
func tableOfPage(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<table [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</table>`).FindString(page)
	if m == "" {
		t.Fatalf("no table %q in the page", id)
	}
	return m
}

func TestNetworkPageCountsWhatAzureMLCreated(t *testing.T) { // each page's cost independent of the computes' resources
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	resp, page := b.get("/studio/network?sub=" + sub)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("network page: %d %s", resp.StatusCode, page)
	}
	// The seed cluster (public IP, a node) has Azure ML's NSG, load
	// balancer and public IP: counted in their tables, not listed; the
	// users' NSGs are listed.
	for _, table := range []string{"nsgs", "loadbalancers", "publicips"} {
		got := tableOfPage(t, page, table)
		if strings.Contains(got, "aml-cpu-cluster") || !strings.Contains(got, "and 1 that Azure ML created") {
			t.Errorf("table %s lists or does not count Azure ML's resource: %s", table, got)
		}
	}
	for _, name := range []string{"nsg-compute", "nsg-blocked"} {
		if !strings.Contains(rowOfPage(t, tableOfPage(t, page, "nsgs"), "data-name", name), "/studio/network/nsg?id=") {
			t.Errorf("the NSG %s is not linked", name)
		}
	}
	// Each is reachable from its compute's row.
	_, clusters := b.get("/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters")
	row := rowOfPage(t, clusters, "data-name", "cpu-cluster")
	for _, want := range []string{"/studio/network/nsg?id=", "/studio/network/loadbalancer?id=", "/studio/network/publicip?id="} {
		if !strings.Contains(row, want) || !strings.Contains(row, "aml-cpu-cluster") {
			t.Errorf("the seed cluster's row lacks a link %s to Azure ML's resource: %s", want, row)
		}
	}
	// A Reader of one resource group learns no count of the
	// subscription's: the network page is the subscription's lists, which
	// it may not read.
	for _, rg := range []string{"rg-ml", "rg-net"} {
		name := "reader-" + rg
		tok, err := api.CreatePrincipal(context.Background(), e.st, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.AssignRole(context.Background(), e.st, name, "Reader", "/subscriptions/"+sub+"/resourceGroups/"+rg); err != nil {
			t.Fatal(err)
		}
		resp, page := e.signIn(tok).get("/studio/network?sub=" + sub)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(page, "Azure ML created") || strings.Contains(page, "nsg-") {
			t.Errorf("the network page for a Reader of %s only: %d %s", rg, resp.StatusCode, page)
		}
	}
}
