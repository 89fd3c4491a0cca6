package api

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// peBody is a private endpoint to workspace ws1 in subnet sn of the
// provisioning environment; extra adds properties.
func peBody(sn, extra string) string {
	return `{"location":"eastus","properties":{"subnet":{"id":"` + vnetNet + `/subnets/` + sn + `"},` + extra +
		`"privateLinkServiceConnections":[{"name":"ws","properties":{"privateLinkServiceId":"` + wsML + `","groupIds":["amlworkspace"]}}]}}`
}

// putPE creates or replaces a private endpoint and returns its body.
func (c *client) putPE(name, body string) map[string]any {
	c.t.Helper()
	st, out, _ := c.do("PUT", netNet+"privateEndpoints/"+name+netVersion, body)
	if st != http.StatusCreated && st != http.StatusOK {
		c.t.Fatalf("PUT private endpoint %s: %d %v", name, st, out)
	}
	return out
}

// endpointNIC reads what a private endpoint body shows of its NIC: the
// NIC's id and the one address customDnsConfigs give every name.
func endpointNICOf(t *testing.T, pe map[string]any) (nic, addr string) {
	t.Helper()
	props := arm.EnsureField(pe, "properties")
	nics := arm.Items(props, "networkInterfaces")
	if len(nics) != 1 {
		t.Fatalf("networkInterfaces: %v", props["networkInterfaces"])
	}
	configs := arm.Items(props, "customDnsConfigs")
	if len(configs) == 0 {
		t.Fatalf("no customDnsConfigs: %v", props)
	}
	for _, cfg := range configs {
		ips, _ := cfg["ipAddresses"].([]any)
		if len(ips) != 1 || (addr != "" && ips[0] != addr) {
			t.Fatalf("customDnsConfigs: %v", configs)
		}
		addr, _ = ips[0].(string)
	}
	return arm.Str(nics[0], "id"), addr
}

// TestPrivateEndpointGetsNICAndAddress: a private endpoint created through
// the API gets what Azure creates with it (issue 11, defect 4): a NIC
// {pe}.nic.{guid} in its resource group, holding the lowest free address
// of its subnet after Azure's reserved ones (spec §8.3), shown in
// networkInterfaces and customDnsConfigs (with the workspace's names,
// spec §7). An update keeps both; a delete takes the NIC with it and frees
// the address; a full subnet is SubnetIsFull; the NIC cannot be deleted
// on its own.
func TestPrivateEndpointGetsNICAndAddress(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	_, ws, _ := c.do("GET", wsML+mlVersion, "")
	wsID := arm.Str(arm.EnsureField(ws, "properties"), "workspaceId")

	pe := c.putPE("pe1", peBody("tiny", ""))
	nic, addr := endpointNICOf(t, pe)
	if !regexp.MustCompile(`^`+regexp.QuoteMeta(netNet)+`networkInterfaces/pe1\.nic\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(nic) || addr != "10.0.3.4" {
		t.Fatalf("NIC %s, address %s; want %snetworkInterfaces/pe1.nic.{guid} and 10.0.3.4", nic, addr, netNet)
	}
	var fqdns []string
	for _, cfg := range arm.Items(arm.EnsureField(pe, "properties"), "customDnsConfigs") {
		fqdns = append(fqdns, arm.Str(cfg, "fqdn"))
	}
	if want := wsID + ".workspace.eastus.api.azureml.ms"; wsID == "" || !strings.Contains(strings.Join(fqdns, " "), want) {
		t.Errorf("customDnsConfigs %v lack %s", fqdns, want)
	}
	st, got, _ := c.do("GET", nic+netVersion, "")
	nicProps := arm.EnsureField(got, "properties")
	ipcs := arm.Items(nicProps, "ipConfigurations")
	if st != http.StatusOK || len(ipcs) != 1 || arm.Str(arm.EnsureField(ipcs[0], "properties"), "privateIPAddress") != addr ||
		!strings.EqualFold(arm.Str(arm.EnsureField(nicProps, "privateEndpoint"), "id"), netNet+"privateEndpoints/pe1") {
		t.Fatalf("GET NIC: %d %v", st, got)
	}

	// The next endpoint gets the next address; a replacing PUT without the
	// read-only fields keeps the NIC and the address.
	if _, next := endpointNICOf(t, c.putPE("pe2", peBody("tiny", ""))); next != "10.0.3.5" {
		t.Errorf("second endpoint: %s, want 10.0.3.5", next)
	}
	if again, againAddr := endpointNICOf(t, c.putPE("pe1", peBody("tiny", ""))); again != nic || againAddr != addr {
		t.Errorf("update: NIC %s address %s, want %s %s", again, againAddr, nic, addr)
	}

	// The NIC is held by its endpoint.
	if st, code, msg := c.errorCode("DELETE", nic+netVersion, ""); st != http.StatusBadRequest || code != "NicInUse" || !strings.Contains(msg, "pe1") {
		t.Errorf("delete the NIC alone: %d %s %s", st, code, msg)
	}

	// /29: three usable addresses (.4–.6); a fourth endpoint does not fit
	// and leaves nothing behind.
	c.putPE("pe3", peBody("tiny", ""))
	if st, code, msg := c.errorCode("PUT", netNet+"privateEndpoints/pe4"+netVersion, peBody("tiny", "")); st != http.StatusBadRequest || code != "SubnetIsFull" || !strings.Contains(msg, "10.0.3.0/29") {
		t.Errorf("full subnet: %d %s %s", st, code, msg)
	}
	if st, _, _ := c.do("GET", netNet+"privateEndpoints/pe4"+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("refused endpoint stored: %d", st)
	}

	// Deleting the endpoint deletes its NIC and frees the address.
	if st, out, _ := c.do("DELETE", netNet+"privateEndpoints/pe1"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete endpoint: %d %v", st, out)
	}
	if st, _, _ := c.do("GET", nic+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("NIC after its endpoint's delete: %d", st)
	}
	if _, reused := endpointNICOf(t, c.putPE("pe4", peBody("tiny", ""))); reused != addr {
		t.Errorf("freed address not reused: %s, want %s", reused, addr)
	}
}

// TestPrivateEndpointStaticAndNamedNIC: a static address in
// ipConfigurations is the NIC's (Azure: privateIPAllocationMethod
// Static), and customNetworkInterfaceName names the NIC.
func TestPrivateEndpointStaticAndNamedNIC(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	pe := c.putPE("pe1", peBody("small", `"customNetworkInterfaceName":"pe1-nic",
		"ipConfigurations":[{"name":"ip","properties":{"groupId":"amlworkspace","memberName":"default","privateIPAddress":"10.0.2.20"}}],`))
	nic, addr := endpointNICOf(t, pe)
	if nic != netNet+"networkInterfaces/pe1-nic" || addr != "10.0.2.20" {
		t.Errorf("NIC %s address %s", nic, addr)
	}
	_, got, _ := c.do("GET", nic+netVersion, "")
	ipc := arm.EnsureField(arm.Items(arm.EnsureField(got, "properties"), "ipConfigurations")[0], "properties")
	if ipc["privateIPAllocationMethod"] != "Static" || ipc["privateIPAddress"] != "10.0.2.20" {
		t.Errorf("NIC ip configuration %v", ipc)
	}
	// A dynamic endpoint in the same subnet skips the static address.
	c.putPE("pe2", peBody("small", ""))
	if st, code, _ := c.errorCode("PUT", netNet+"privateEndpoints/pe3"+netVersion, peBody("small", `"customNetworkInterfaceName":"pe1-nic",`)); st != http.StatusBadRequest || code != "InvalidRequestContent" {
		t.Errorf("a NIC name already taken: %d %s", st, code)
	}
}

// TestWorkspaceGetsIDAndDiscoveryURL: a workspace gets properties
// workspaceId, a GUID that updates keep, and discoveryUrl
// https://{region}.api.azureml.ms/discovery (issue 11, defect 4), as the
// armmachinelearning Workspace model reads them; a workspaceId that is
// not a GUID is refused and changes nothing.
func TestWorkspaceGetsIDAndDiscoveryURL(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	_, ws, _ := c.do("GET", wsML+mlVersion, "")
	props := arm.EnsureField(ws, "properties")
	id := arm.Str(props, "workspaceId")
	if !arm.IsGUID(id) || props["discoveryUrl"] != "https://eastus.api.azureml.ms/discovery" {
		t.Fatalf("workspace properties: %v", props)
	}
	for _, body := range []string{
		`{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"friendlyName":"renamed"}}`,
		`{"location":"eastus","properties":{"friendlyName":"again","workspaceId":"00000000-0000-0000-0000-000000000099"}}`,
	} {
		st, out, _ := c.do("PUT", wsML+mlVersion, body)
		if got := arm.Str(arm.EnsureField(out, "properties"), "workspaceId"); st != http.StatusOK || got != id {
			t.Errorf("PUT %s: %d workspaceId %s, want %s", body, st, got, id)
		}
	}
	st, out, _ := c.do("PATCH", wsML+mlVersion, `{"properties":{"description":"patched"}}`)
	if got := arm.Str(arm.EnsureField(out, "properties"), "workspaceId"); st != http.StatusOK || got != id {
		t.Errorf("PATCH: %d workspaceId %s, want %s", st, got, id)
	}

	// A new workspace keeps a GUID it is created with (an applied export)
	// and refuses one that is not.
	ws2 := rgML + "/providers/Microsoft.MachineLearningServices/workspaces/ws2"
	if st, code, msg := c.errorCode("PUT", ws2+mlVersion, `{"location":"westus2","properties":{"workspaceId":"not-a-guid"}}`); st != http.StatusBadRequest ||
		code != "InvalidRequestContent" || !strings.Contains(msg, "workspaceId") {
		t.Errorf("bad workspaceId: %d %s %s", st, code, msg)
	}
	if st, _, _ := c.do("GET", ws2+mlVersion, ""); st != http.StatusNotFound {
		t.Errorf("refused workspace stored: %d", st)
	}
	st, out, _ = c.do("PUT", ws2+mlVersion, `{"location":"westus2","properties":{"workspaceId":"6F8B2C1E-3A4D-4E5F-9A0B-1C2D3E4F5A6B"}}`)
	props = arm.EnsureField(out, "properties")
	if st != http.StatusOK || props["workspaceId"] != "6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b" || props["discoveryUrl"] != "https://westus2.api.azureml.ms/discovery" {
		t.Errorf("PUT ws2: %d %v", st, props)
	}
}
