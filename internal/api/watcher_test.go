package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"securetrain/internal/arm"
	"strings"
	"testing"

	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

const (
	watcherProbe = rgProbe + "/providers/Microsoft.Network/networkWatchers/NetworkWatcher_eastus/"
	snetCompute  = vnetProbe + "/subnets/snet-compute"
	snetPE       = vnetProbe + "/subnets/snet-pe"
	clusterProbe = wsProbe + "/computes/cpu-cluster"
	nicProbe     = netProbe + "networkInterfaces/nic-probe"
	nsgNIC       = netProbe + "networkSecurityGroups/nsg-nic"
)

// watch POSTs a Network Watcher action and returns the status and body.
func (c *client) watch(action string, params map[string]any) (int, map[string]any) {
	c.t.Helper()
	data, err := json.Marshal(params)
	if err != nil {
		c.t.Fatal(err)
	}
	st, out, hdr := c.do("POST", watcherProbe+action+netVersion, string(data), "Content-Type", "application/json")
	// A 200 without polling headers completes the SDK's long-running
	// operation at once.
	if st == http.StatusOK && (hdr.Get("Azure-AsyncOperation") != "" || hdr.Get("Location") != "") {
		c.t.Errorf("%s answered with polling headers: %v", action, hdr)
	}
	return st, out
}

// tagPrefix is the first IPv4 prefix of a service tag of the embedded
// catalog.
func tagPrefix(t *testing.T, tag string) netip.Prefix {
	t.Helper()
	tg, ok := servicetags.Default().Lookup(tag)
	if !ok {
		t.Fatalf("no tag %s in the embedded catalog", tag)
	}
	for _, p := range tg.Prefixes {
		if p.Addr().Is4() {
			return p
		}
	}
	t.Fatalf("tag %s has no IPv4 prefix", tag)
	return netip.Prefix{}
}

// tagAddress is an address of a service tag of the embedded catalog.
func tagAddress(t *testing.T, tag string) string {
	t.Helper()
	return tagPrefix(t, tag).Addr().Next().String()
}

// watcherEnvironment is the probe environment plus a NIC at 10.0.1.10 in
// snet-compute with its own NSG: inbound TCP 8080 denied, outbound to
// snet-pe denied. The workspace's private endpoint, created before the
// computes, holds 10.0.1.4, so the cluster's first node is 10.0.1.5.
func watcherEnvironment(t *testing.T, c *client) {
	t.Helper()
	probeEnvironment(t, c)
	for _, step := range []struct{ path, body string }{
		{nsgNIC, `{"location":"eastus","properties":{"securityRules":[
			{"name":"DenyWebInbound","properties":{"access":"Deny","direction":"Inbound","priority":100,"protocol":"Tcp",
				"sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"8080"}},
			{"name":"DenyPEOutbound","properties":{"access":"Deny","direction":"Outbound","priority":200,"protocol":"*",
				"sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"10.0.3.0/24","destinationPortRange":"*"}}]}}`},
		{nicProbe, `{"location":"eastus","properties":{"networkSecurityGroup":{"id":"` + nsgNIC + `"},
			"ipConfigurations":[{"name":"ipconfig1","properties":{"privateIPAllocationMethod":"Static","privateIPAddress":"10.0.1.10",
				"subnet":{"id":"` + snetCompute + `"}}}]}}`},
	} {
		if st, out, _ := c.do("PUT", step.path+netVersion, step.body, "Content-Type", "application/json"); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", step.path, st, out)
		}
	}
}

func flowParams(target, dir, proto, localIP, localPort, remoteIP, remotePort string) map[string]any {
	return map[string]any{"targetResourceId": target, "direction": dir, "protocol": proto,
		"localIPAddress": localIP, "localPort": localPort, "remoteIPAddress": remoteIP, "remotePort": remotePort}
}

func TestIPFlowVerify(t *testing.T) { // spec §8.1 (NSG order, defaults, VirtualNetwork tag), §4.2
	c := newClient(t)
	watcherEnvironment(t, c)
	aml, batch := tagAddress(t, "AzureMachineLearning"), tagAddress(t, "BatchNodeManagement")
	type flowCase struct {
		name         string
		params       map[string]any
		access, rule string
	}
	check := func(cases []flowCase) {
		t.Helper()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				st, out := c.watch("ipFlowVerify", tc.params)
				if st != http.StatusOK || out["access"] != tc.access || arm.Str(out, "ruleName") != tc.rule {
					t.Fatalf("got %d %v; want %s by %q", st, out, tc.access, tc.rule)
				}
				if _, ok := out["ruleName"]; ok != (tc.rule != "") {
					t.Fatalf("ruleName presence: %v", out)
				}
			})
		}
	}
	check([]flowCase{
		// The subnet NSG nsg-aml allows Azure ML's inbound port from its tag.
		{"AzureMachineLearning to 44224", flowParams(clusterProbe, "Inbound", "TCP", "10.0.1.5", "44224", aml, "*"),
			"Allow", "securityRules/AllowAzureMLInbound"},
		{"same flow, subnet target", flowParams(snetCompute, "Inbound", "TCP", "10.0.1.5", "44224", aml, "50123"),
			"Allow", "securityRules/AllowAzureMLInbound"},
		{"SSH from the internet", flowParams(clusterProbe, "Inbound", "TCP", "10.0.1.5", "22", "8.8.8.8", "*"),
			"Deny", "securityRules/DenySSHFromInternet"},
		{"RDP range from the internet", flowParams(clusterProbe, "inbound", "udp", "10.0.1.5", "3390", "8.8.8.8", "40000"),
			"Deny", "securityRules/DenySSHFromInternet"},
		// A rule for protocol * matches UDP.
		{"Batch node management over UDP", flowParams(clusterProbe, "Inbound", "UDP", "10.0.1.5", "29877", batch, "*"),
			"Allow", "securityRules/AllowBatchNodeManagement"},
		// rt-egress (on snet-pe) routes 0.0.0.0/0, and the prefixes of the
		// UDRs in the route table of the NIC's own subnet are part of
		// VirtualNetwork (issue 12 point 5): AllowVnetInBound matches the
		// internet in snet-pe, not in snet-compute, which has no route table.
		{"HTTPS from the internet, 0.0.0.0/0 UDR of another subnet", flowParams(clusterProbe, "Inbound", "TCP", "10.0.1.5", "443", "8.8.8.8", "*"),
			"Deny", "defaultSecurityRules/DenyAllInBound"},
		{"HTTPS from the internet, 0.0.0.0/0 UDR of its own subnet", flowParams(snetPE, "Inbound", "TCP", "10.0.3.10", "443", "8.8.8.8", "*"),
			"Allow", "defaultSecurityRules/AllowVnetInBound"},
		{"from snet-pe inside the VNet", flowParams(clusterProbe, "Inbound", "TCP", "10.0.1.5", "8080", "10.0.3.10", "*"),
			"Allow", "defaultSecurityRules/AllowVnetInBound"},
		{"outbound to the internet, 0.0.0.0/0 UDR of another subnet", flowParams(clusterProbe, "Outbound", "TCP", "10.0.1.5", "*", "8.8.8.8", "443"),
			"Allow", "defaultSecurityRules/AllowInternetOutBound"},
		{"outbound to the internet, 0.0.0.0/0 UDR of its own subnet", flowParams(snetPE, "Outbound", "TCP", "10.0.3.10", "*", "8.8.8.8", "443"),
			"Allow", "defaultSecurityRules/AllowVnetOutBound"},
		// Azure DNS bypasses NSGs: allowed, no rule decided.
		{"outbound to Azure DNS", flowParams(clusterProbe, "Outbound", "UDP", "10.0.1.5", "*", "168.63.129.16", "53"), "Allow", ""},
		// Inbound: the subnet NSG allows, then the NIC NSG denies.
		{"NIC NSG denies after the subnet NSG allows", flowParams(nicProbe, "Inbound", "TCP", "10.0.1.10", "8080", "10.0.3.10", "*"),
			"Deny", "securityRules/DenyWebInbound"},
		// Outbound: the NIC NSG first.
		{"NIC NSG denies outbound", flowParams(nicProbe, "Outbound", "TCP", "10.0.1.10", "*", "10.0.3.10", "443"),
			"Deny", "securityRules/DenyPEOutbound"},
		{"NIC and subnet NSG allow outbound", flowParams(nicProbe, "Outbound", "TCP", "10.0.1.10", "*", "10.0.1.20", "443"),
			"Allow", "defaultSecurityRules/AllowVnetOutBound"},
		// A subnet target's address owned by a NIC is filtered by that NIC's NSG too.
		{"subnet target, NIC address", flowParams(snetCompute, "Inbound", "TCP", "10.0.1.10", "8080", "10.0.3.10", "*"),
			"Deny", "securityRules/DenyWebInbound"},
	})
	// Without the 0.0.0.0/0 UDR, the internet is no longer VirtualNetwork.
	if st, out, _ := c.do("DELETE", netProbe+"routeTables/rt-egress/routes/default-to-fw"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete route: %d %v", st, out)
	}
	check([]flowCase{
		{"HTTPS from the internet", flowParams(snetPE, "Inbound", "TCP", "10.0.3.10", "443", "8.8.8.8", "*"),
			"Deny", "defaultSecurityRules/DenyAllInBound"},
		{"outbound to the internet", flowParams(clusterProbe, "Outbound", "TCP", "10.0.1.5", "*", "8.8.8.8", "443"),
			"Allow", "defaultSecurityRules/AllowInternetOutBound"},
		// Both NSGs must allow: the subnet NSG allows Batch, the NIC NSG's defaults deny it.
		{"NIC NSG defaults deny what the subnet allows", flowParams(nicProbe, "Inbound", "TCP", "10.0.1.10", "29876", batch, "*"),
			"Deny", "defaultSecurityRules/DenyAllInBound"},
		// The AzureMachineLearning route still puts Azure ML's prefixes in
		// VirtualNetwork for snet-pe, whose route table holds it, not for a
		// NIC of snet-compute.
		{"AzureMachineLearning is VirtualNetwork through its UDR", flowParams(snetPE, "Inbound", "TCP", "10.0.3.10", "8443", aml, "*"),
			"Allow", "defaultSecurityRules/AllowVnetInBound"},
		{"AzureMachineLearning is not VirtualNetwork in another subnet", flowParams(nicProbe, "Inbound", "TCP", "10.0.1.10", "8443", aml, "*"),
			"Deny", "defaultSecurityRules/DenyAllInBound"},
	})
}

// TestIPFlowVerifyAgreesWithFlow holds the watcher's NSG verdicts against
// the verifier's own walk, where the walk reaches the target's NSGs:
// outbound from the target (its NSGs come first) and inbound from inside
// the VNet (delivery ends with them). spec §8.1
func TestIPFlowVerifyAgreesWithFlow(t *testing.T) {
	c := newClient(t)
	watcherEnvironment(t, c)
	n, err := New(c.st, slog.New(slog.NewTextHandler(io.Discard, nil))).network(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	// query is the flow between two addresses, as the verifier takes it.
	query := func(from, to, proto string, port int) netverify.Query {
		p, err := netverify.ParseProtocol(proto)
		if err != nil {
			t.Fatal(err)
		}
		return netverify.Query{From: netverify.AddressEndpoint(netip.MustParseAddr(from)), To: netverify.AddressEndpoint(netip.MustParseAddr(to)),
			Protocol: p, Port: uint16(port), SourcePort: 50001}
	}
	remotes := []string{"8.8.8.8", "10.0.3.10", "10.0.1.20", "10.0.1.10", tagAddress(t, "AzureMachineLearning"), tagAddress(t, "Storage"), "192.168.1.1"}
	compared := 0
	for _, local := range []string{"10.0.1.10", "10.0.1.5"} {
		target := nicProbe
		if local == "10.0.1.5" {
			target = clusterProbe
		}
		for _, proto := range []string{"TCP", "UDP"} {
			for _, port := range []int{22, 443, 445, 8080, 44224, 29876} {
				for _, remote := range remotes {
					if remote == local {
						continue
					}
					// Outbound: the flow's NSG hops before its route are the target's.
					res, err := n.Flow(query(local, remote, proto, port))
					if err != nil {
						t.Fatal(err)
					}
					compared += compareNSGHops(t, c, res, resources.Outbound,
						flowParams(target, "Outbound", proto, local, "50001", remote, fmt.Sprint(port)))
					// Inbound from inside the VNet: the NSG hops after the route are the target's.
					if !strings.HasPrefix(remote, "10.0.") {
						continue
					}
					res, err = n.Flow(query(remote, local, proto, port))
					if err != nil {
						t.Fatal(err)
					}
					compared += compareNSGHops(t, c, res, resources.Inbound,
						flowParams(target, "Inbound", proto, local, fmt.Sprint(port), remote, "50001"))
				}
			}
		}
	}
	if compared < 100 {
		t.Fatalf("only %d flows reached the target's NSGs", compared)
	}
}

// compareNSGHops checks the watcher's answer against the NSG hops of a
// flow in direction dir: a deny decides, else the last allow. It returns
// 1 if the walk reached the NSGs (0: not comparable).
func compareNSGHops(t *testing.T, c *client, res *netverify.Result, dir resources.Direction, params map[string]any) int {
	t.Helper()
	if len(res.Outcomes) != 1 {
		t.Fatalf("%v: %d outcomes", params, len(res.Outcomes))
	}
	var decided *netverify.Hop
	afterRoute := false
	for i, h := range res.Outcomes[0].Hops {
		switch {
		case h.Kind == "route":
			afterRoute = true
		case h.Kind == "nsg" && h.Direction == string(dir) && afterRoute == (dir == resources.Inbound):
			decided = &res.Outcomes[0].Hops[i]
		}
	}
	if decided == nil {
		return 0 // the walk never reached the target's NSGs (e.g. the source's NSG denied)
	}
	st, out := c.watch("ipFlowVerify", params)
	rule := arm.Str(out, "ruleName")
	if st != http.StatusOK || out["access"] != decided.Action || rule[strings.LastIndex(rule, "/")+1:] != decided.Rule {
		t.Errorf("%v: watcher %d %v; verifier walk %s by %s", params, st, out, decided.Action, decided.Rule)
	}
	return 1
}

func TestIPFlowVerifyPublicIPCompute(t *testing.T) { // spec §4.2: the NSG Azure ML creates on the node NICs; §8.1 order
	c := newClient(t)
	probeEnvironment(t, c)
	body := strings.Replace(fixture(t, "amlcompute"), `"enableNodePublicIp":false`, `"enableNodePublicIp":true`, 1)
	body = strings.Replace(body, `"remoteLoginPortPublicAccess":"Disabled"`, `"remoteLoginPortPublicAccess":"Enabled"`, 1)
	pip := wsProbe + "/computes/cpu-pip"
	if st, out, _ := c.do("PUT", pip+mlVersion, body, "Content-Type", "application/json"); st != http.StatusCreated {
		t.Fatalf("public-IP cluster: %d %v", st, out)
	}
	// Without the 0.0.0.0/0 UDR, VirtualNetwork is no longer every address.
	if st, out, _ := c.do("DELETE", netProbe+"routeTables/rt-egress/routes/default-to-fw"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete route: %d %v", st, out)
	}
	aml := tagAddress(t, "AzureMachineLearning")
	for _, tc := range []struct {
		params       map[string]any
		access, rule string
	}{
		// Subnet NSG allows, then the created NSG's own rule: the last allow.
		{flowParams(pip, "Inbound", "TCP", "10.0.1.5", "44224", aml, "*"), "Allow", "securityRules/AzureMachineLearning"},
		// The subnet NSG denies SSH before the created NSG's SSH rule is reached.
		{flowParams(pip, "Inbound", "TCP", "10.0.1.5", "22", "8.8.8.8", "*"), "Deny", "securityRules/DenySSHFromInternet"},
		// Batch's port: the subnet allows, the created NSG's defaults deny.
		{flowParams(pip, "Inbound", "TCP", "10.0.1.5", "29876", tagAddress(t, "BatchNodeManagement"), "*"), "Deny", "defaultSecurityRules/DenyAllInBound"},
	} {
		if st, out := c.watch("ipFlowVerify", tc.params); st != http.StatusOK || out["access"] != tc.access || out["ruleName"] != tc.rule {
			t.Errorf("%v: got %d %v; want %s by %s", tc.params, st, out, tc.access, tc.rule)
		}
	}
	// The security group view shows the created NSG on the node NICs.
	st, out := c.watch("securityGroupView", map[string]any{"targetResourceId": pip})
	if st != http.StatusOK {
		t.Fatalf("securityGroupView: %d %v", st, out)
	}
	a := arm.EnsureField(arm.Items(out, "networkInterfaces")[0], "securityRuleAssociations")
	nicA := arm.EnsureField(a, "networkInterfaceAssociation")
	var names []string
	for _, r := range arm.Items(nicA, "securityRules") {
		names = append(names, arm.Str(r, "name"))
	}
	if nicA["id"] != pip || strings.Join(names, ",") != "AzureMachineLearning,SSH" {
		t.Fatalf("networkInterfaceAssociation: %v", nicA)
	}
}

func TestWatcherBadRequests(t *testing.T) { // spec §8.1; ARM error shape (arm-api-notes.md)
	c := newClient(t)
	watcherEnvironment(t, c)
	valid := func() map[string]any {
		return flowParams(clusterProbe, "Inbound", "TCP", "10.0.1.5", "44224", "8.8.8.8", "*")
	}
	// Every required field, missing, is named.
	for _, field := range []string{"targetResourceId", "direction", "protocol", "localPort", "remotePort", "localIPAddress", "remoteIPAddress"} {
		p := valid()
		delete(p, field)
		st, out := c.watch("ipFlowVerify", p)
		if msg := arm.Str(arm.EnsureField(out, "error"), "message"); st != http.StatusBadRequest || errCode(out) != "InvalidRequestFormat" || !strings.Contains(msg, "'"+field+"'") {
			t.Errorf("without %s: %d %v", field, st, out)
		}
	}
	with := func(k string, v any) map[string]any {
		p := valid()
		p[k] = v
		return p
	}
	otherSub := strings.Replace(clusterProbe, sub, "00000000-0000-0000-0000-000000000002", 1)
	for _, tc := range []struct {
		name, action string
		params       map[string]any
		status       int
		code, says   string
	}{
		{"bad direction", "ipFlowVerify", with("direction", "Sideways"), 400, "InvalidRequestFormat", "'direction'"},
		{"ICMP", "ipFlowVerify", with("protocol", "ICMP"), 400, "InvalidRequestFormat", "'protocol'"},
		{"IPv6", "ipFlowVerify", with("remoteIPAddress", "2001:db8::1"), 400, "InvalidRequestFormat", "IPv4"},
		{"not an address", "ipFlowVerify", with("localIPAddress", "10.0.1"), 400, "InvalidRequestFormat", "'localIPAddress'"},
		{"port out of range", "ipFlowVerify", with("localPort", "70000"), 400, "InvalidRequestFormat", "'localPort'"},
		{"* for the destination port", "ipFlowVerify", with("localPort", "*"), 400, "InvalidRequestFormat", "'localPort'"},
		{"port as a number", "ipFlowVerify", with("localPort", 44224), 400, "InvalidRequestFormat", "'localPort'"},
		{"unknown field", "ipFlowVerify", with("localPorts", "1"), 400, "InvalidRequestFormat", "localPorts"},
		{"address not on the target", "ipFlowVerify", with("localIPAddress", "10.0.3.4"), 400, "InvalidRequestFormat", "'localIPAddress'"},
		// 10.0.1.10 is the NIC's, not a node of the cluster.
		{"NIC address is not a node", "ipFlowVerify", with("localIPAddress", "10.0.1.10"), 400, "InvalidRequestFormat", "10.0.1.10"},
		{"reserved address is not a node", "ipFlowVerify", with("localIPAddress", "10.0.1.1"), 400, "InvalidRequestFormat", "10.0.1.5-10.0.1.9"},
		{"unknown compute", "ipFlowVerify", with("targetResourceId", wsProbe+"/computes/nope"), 404, "NotFound", "computes/nope"},
		{"unknown NIC", "securityGroupView", map[string]any{"targetResourceId": netProbe + "networkInterfaces/nope"}, 404, "NotFound", "nope"},
		{"target type", "ipFlowVerify", with("targetResourceId", netProbe+"routeTables/rt-egress"), 400, "InvalidRequestFormat", "routeTables"},
		{"target in another subscription", "ipFlowVerify", with("targetResourceId", otherSub), 400, "InvalidRequestFormat", "subscription"},
		{"target not an id", "nextHop", map[string]any{"targetResourceId": "cpu-cluster", "sourceIPAddress": "10.0.1.5", "destinationIPAddress": "8.8.8.8"},
			400, "InvalidRequestFormat", "'targetResourceId'"},
		{"targetNicResourceId on a compute", "ipFlowVerify", with("targetNicResourceId", nicProbe), 400, "InvalidRequestFormat", "'targetNicResourceId'"},
		{"next hop without destination", "nextHop", map[string]any{"targetResourceId": clusterProbe, "sourceIPAddress": "10.0.1.5"},
			400, "InvalidRequestFormat", "'destinationIPAddress'"},
		{"next hop source not on the target", "nextHop", map[string]any{"targetResourceId": snetPE, "sourceIPAddress": "10.0.1.5", "destinationIPAddress": "8.8.8.8"},
			400, "InvalidRequestFormat", "'sourceIPAddress'"},
		{"next hop to Azure DNS", "nextHop", map[string]any{"targetResourceId": clusterProbe, "sourceIPAddress": "10.0.1.5", "destinationIPAddress": "168.63.129.16"},
			400, "InvalidRequestFormat", "'destinationIPAddress'"},
		{"view without target", "securityGroupView", map[string]any{}, 400, "InvalidRequestFormat", "'targetResourceId'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := c.watch(tc.action, tc.params)
			if msg := arm.Str(arm.EnsureField(out, "error"), "message"); st != tc.status || errCode(out) != tc.code || !strings.Contains(msg, tc.says) {
				t.Fatalf("got %d %v; want %d %s saying %q", st, out, tc.status, tc.code, tc.says)
			}
		})
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"GET", "GET", watcherProbe + "ipFlowVerify" + netVersion, "", 405, "MethodNotAllowed"},
		{"unknown action", "POST", watcherProbe + "connectivityCheck" + netVersion, "{}", 404, "InvalidResourceType"},
		{"no api-version", "POST", watcherProbe + "nextHop", "{}", 400, "MissingApiVersionParameter"},
		{"resource group missing", "POST", "/subscriptions/" + sub + "/resourceGroups/nope/providers/Microsoft.Network/networkWatchers/nw/nextHop" + netVersion,
			"{}", 404, "ResourceGroupNotFound"},
		{"not JSON", "POST", watcherProbe + "nextHop" + netVersion, `{"targetResourceId":`, 400, "InvalidRequestContent"},
		{"array body", "POST", watcherProbe + "securityGroupView" + netVersion, `[]`, 400, "InvalidRequestContent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, code, msg := c.errorCode(tc.method, tc.path, tc.body); st != tc.status || code != tc.code {
				t.Fatalf("got %d %s %q; want %d %s", st, code, msg, tc.status, tc.code)
			}
		})
	}
}

func TestNextHop(t *testing.T) { // spec §8.2: longest prefix, UDR over system route, system routes
	c := newClient(t)
	watcherEnvironment(t, c)
	rt := netProbe + "routeTables/rt-egress"
	aml := tagAddress(t, "AzureMachineLearning")
	for _, tc := range []struct {
		name, target, src, dst string
		hopType, hopIP, table  string
	}{
		// rt-egress on snet-pe: 0.0.0.0/0 -> VirtualAppliance 10.0.2.4.
		{"default route to the appliance", snetPE, "10.0.3.4", "8.8.8.8", "VirtualAppliance", "10.0.2.4", rt},
		// ... and AzureMachineLearning -> Internet, more specific than 0.0.0.0/0.
		{"service tag route", snetPE, "10.0.3.4", aml, "Internet", "", rt},
		// The VNet's own prefix is a system route, longer than 0.0.0.0/0.
		{"VNet-local from snet-pe", snetPE, "10.0.3.4", "10.0.1.5", "VnetLocal", "", "System Route"},
		{"VNet-local from the cluster", clusterProbe, "10.0.1.5", "10.0.3.20", "VnetLocal", "", "System Route"},
		// snet-compute has no route table: Azure's defaults.
		{"internet from the cluster", clusterProbe, "10.0.1.5", "8.8.8.8", "Internet", "", "System Route"},
		{"private range outside the VNet", clusterProbe, "10.0.1.5", "10.9.0.1", "None", "", "System Route"},
		{"192.168/16 outside the VNet", snetCompute, "10.0.1.200", "192.168.1.1", "None", "", "System Route"},
		// The NIC's NSG denies outbound to snet-pe; next hop ignores NSGs.
		{"NSG does not change the next hop", nicProbe, "10.0.1.10", "10.0.3.20", "VnetLocal", "", "System Route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := c.watch("nextHop", map[string]any{"targetResourceId": tc.target, "sourceIPAddress": tc.src, "destinationIPAddress": tc.dst})
			if st != http.StatusOK || out["nextHopType"] != tc.hopType || arm.Str(out, "nextHopIpAddress") != tc.hopIP || out["routeTableId"] != tc.table {
				t.Fatalf("got %d %v; want %s %q via %s", st, out, tc.hopType, tc.hopIP, tc.table)
			}
		})
	}
}

func TestSecurityGroupView(t *testing.T) { // spec §8.1: six defaults; inbound subnet then NIC, outbound NIC then subnet
	c := newClient(t)
	watcherEnvironment(t, c)
	st, out := c.watch("securityGroupView", map[string]any{"targetResourceId": clusterProbe})
	if st != http.StatusOK {
		t.Fatalf("compute: %d %v", st, out)
	}
	nics := arm.Items(out, "networkInterfaces")
	if len(nics) != 1 || nics[0]["id"] != clusterProbe {
		t.Fatalf("networkInterfaces: %v", out)
	}
	a := arm.EnsureField(nics[0], "securityRuleAssociations")
	subnetA := arm.EnsureField(a, "subnetAssociation")
	if subnetA["id"] != snetCompute || len(arm.Items(subnetA, "securityRules")) != 3 {
		t.Fatalf("subnetAssociation: %v", subnetA)
	}
	if _, ok := a["networkInterfaceAssociation"]; ok {
		t.Errorf("a no-public-IP compute has no NIC NSG: %v", a["networkInterfaceAssociation"])
	}
	if d := arm.Items(a, "defaultSecurityRules"); len(d) != 6 || d[2]["name"] != "DenyAllInBound" || d[2]["id"] != nsgProbe+"/defaultSecurityRules/DenyAllInBound" {
		t.Fatalf("defaultSecurityRules: %v", d)
	}
	eff := arm.Items(a, "effectiveSecurityRules")
	var order []string
	for _, r := range eff {
		order = append(order, fmt.Sprintf("%s:%s:%v", r["direction"], r["name"], r["priority"]))
	}
	want := "Inbound:securityRules/AllowAzureMLInbound:100,Inbound:securityRules/AllowBatchNodeManagement:110," +
		"Inbound:securityRules/DenySSHFromInternet:200,Inbound:defaultSecurityRules/AllowVnetInBound:65000," +
		"Inbound:defaultSecurityRules/AllowAzureLoadBalancerInBound:65001,Inbound:defaultSecurityRules/DenyAllInBound:65500," +
		"Outbound:defaultSecurityRules/AllowVnetOutBound:65000,Outbound:defaultSecurityRules/AllowInternetOutBound:65001," +
		"Outbound:defaultSecurityRules/DenyAllOutBound:65500"
	if strings.Join(order, ",") != want {
		t.Fatalf("effective rules:\n got %s\nwant %s", strings.Join(order, ","), want)
	}
	// Effective rules are resolved: the tag with its prefixes, ports as ranges.
	aml := eff[0]
	if aml["protocol"] != "Tcp" || aml["access"] != "Allow" || aml["sourceAddressPrefix"] != "AzureMachineLearning" ||
		aml["destinationPortRange"] != "44224-44224" || aml["sourcePortRange"] != "0-65535" ||
		!strings.Contains(fmt.Sprint(aml["expandedSourceAddressPrefix"]), tagPrefix(t, "AzureMachineLearning").String()) {
		t.Errorf("AllowAzureMLInbound: %v", aml)
	}
	ssh := eff[2]
	if fmt.Sprint(ssh["destinationPortRanges"]) != "[22-22 3389-3390]" || ssh["sourceAddressPrefix"] != "0.0.0.0/0" || ssh["protocol"] != "All" ||
		ssh["destinationAddressPrefix"] != "10.0.1.0/24" || ssh["expandedDestinationAddressPrefix"] != nil {
		t.Errorf("DenySSHFromInternet: %v", ssh)
	}
	// VirtualNetwork as seen from snet-compute leaves out the 0.0.0.0/0 UDR
	// of rt-egress, which only snet-pe uses (issue 12 point 5).
	if vnet := eff[3]; fmt.Sprint(vnet["expandedSourceAddressPrefix"]) != "[10.0.0.0/16 168.63.129.16/32]" {
		t.Errorf("AllowVnetInBound: %v", vnet)
	}
	st, out = c.watch("securityGroupView", map[string]any{"targetResourceId": snetPE})
	if st != http.StatusOK {
		t.Fatalf("snet-pe: %d %v", st, out)
	}
	peEff := arm.Items(arm.EnsureField(arm.Items(out, "networkInterfaces")[0], "securityRuleAssociations"), "effectiveSecurityRules")
	if vnet := peEff[3]; vnet["name"] != "defaultSecurityRules/AllowVnetInBound" || fmt.Sprint(vnet["expandedSourceAddressPrefix"]) != "[0.0.0.0/0]" {
		t.Errorf("snet-pe AllowVnetInBound: %v", vnet)
	}

	// A NIC: both NSGs, in evaluation order per direction.
	st, out = c.watch("securityGroupView", map[string]any{"targetResourceId": nicProbe})
	if st != http.StatusOK {
		t.Fatalf("NIC: %d %v", st, out)
	}
	a = arm.EnsureField(arm.Items(out, "networkInterfaces")[0], "securityRuleAssociations")
	nicA := arm.EnsureField(a, "networkInterfaceAssociation")
	if nicA["id"] != nicProbe || len(arm.Items(nicA, "securityRules")) != 2 || arm.Items(nicA, "securityRules")[0]["name"] != "DenyWebInbound" {
		t.Fatalf("networkInterfaceAssociation: %v", nicA)
	}
	if d := arm.Items(a, "defaultSecurityRules"); len(d) != 6 || !strings.HasPrefix(arm.Str(d[0], "id"), nsgNIC+"/") {
		t.Fatalf("defaults come from the NIC's NSG: %v", d)
	}
	order = order[:0]
	for _, r := range arm.Items(a, "effectiveSecurityRules") {
		order = append(order, fmt.Sprintf("%s:%s", r["direction"], r["name"]))
	}
	got := strings.Join(order, ",")
	if len(order) != 6+4+4+3 || !strings.Contains(got, "Inbound:defaultSecurityRules/DenyAllInBound,Inbound:securityRules/DenyWebInbound") ||
		!strings.Contains(got, "Outbound:defaultSecurityRules/DenyAllOutBound,Outbound:defaultSecurityRules/AllowVnetOutBound") ||
		!strings.HasPrefix(got, "Inbound:securityRules/AllowAzureMLInbound") || !strings.Contains(got, "Inbound:defaultSecurityRules/DenyAllInBound,Outbound:securityRules/DenyPEOutbound") {
		t.Fatalf("NIC effective rules: %s", got)
	}

	// A subnet without NSG (snet-pe's NSG removed): empty lists, not null.
	if st, body, _ := c.do("PUT", snetPE+netVersion, `{"properties":{"addressPrefix":"10.0.3.0/24","defaultOutboundAccess":false}}`,
		"Content-Type", "application/json"); st != http.StatusOK {
		t.Fatalf("snet-pe without NSG: %d %v", st, body)
	}
	st, out = c.watch("securityGroupView", map[string]any{"targetResourceId": snetPE})
	a = arm.EnsureField(arm.Items(out, "networkInterfaces")[0], "securityRuleAssociations")
	if st != http.StatusOK || fmt.Sprint(a["effectiveSecurityRules"]) != "[]" || fmt.Sprint(a["defaultSecurityRules"]) != "[]" ||
		fmt.Sprint(arm.EnsureField(a, "subnetAssociation")["securityRules"]) != "[]" {
		t.Fatalf("subnet without NSG: %d %v", st, out)
	}
	// ... and no NSG allows.
	if st, out := c.watch("ipFlowVerify", flowParams(snetPE, "Inbound", "TCP", "10.0.3.4", "22", "8.8.8.8", "*")); st != http.StatusOK ||
		out["access"] != "Allow" || out["ruleName"] != nil {
		t.Fatalf("no NSG: %d %v", st, out)
	}
}

func TestWatcherRBAC(t *testing.T) { // spec §1: actions are checked on the watcher, reads on the target
	c := newClient(t)
	watcherEnvironment(t, c)
	ctx := context.Background()
	admin := c.token
	as := func(name, role, scope string) string {
		tok, err := CreatePrincipal(ctx, c.st, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := AssignRole(ctx, c.st, name, role, scope); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	reader := as("reader", "Reader", "/subscriptions/"+sub)
	netContrib := as("netcontrib", "Network Contributor", rgProbe)
	inbound := flowParams(snetCompute, "Inbound", "TCP", "10.0.1.5", "44224", tagAddress(t, "AzureMachineLearning"), "*")
	for _, tc := range []struct {
		name, token, action string
		params              map[string]any
		status              int
	}{
		// Reader may read the network but not run the watcher's actions.
		{"reader ipFlowVerify", reader, "ipFlowVerify", inbound, 403},
		{"reader nextHop", reader, "nextHop", map[string]any{"targetResourceId": snetCompute, "sourceIPAddress": "10.0.1.5", "destinationIPAddress": "8.8.8.8"}, 403},
		{"reader securityGroupView", reader, "securityGroupView", map[string]any{"targetResourceId": snetCompute}, 403},
		// Network Contributor runs them on network targets ...
		{"network contributor on a subnet", netContrib, "ipFlowVerify", inbound, 200},
		{"network contributor on a NIC", netContrib, "securityGroupView", map[string]any{"targetResourceId": nicProbe}, 200},
		// ... but may not read an Azure ML compute.
		{"network contributor on a compute", netContrib, "securityGroupView", map[string]any{"targetResourceId": clusterProbe}, 403},
		{"admin on a compute", admin, "securityGroupView", map[string]any{"targetResourceId": clusterProbe}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.token = tc.token
			defer func() { c.token = admin }()
			st, out := c.watch(tc.action, tc.params)
			if st != tc.status || st == http.StatusForbidden && errCode(out) != "AuthorizationFailed" {
				t.Fatalf("got %d %v; want %d", st, out, tc.status)
			}
		})
	}
}

func TestWatcherVMTarget(t *testing.T) { // spec §8.1, §8.2: a VM is looked at through its NICs
	c := newClient(t)
	watcherEnvironment(t, c)
	nic2 := netProbe + "networkInterfaces/nic-probe2"
	vm := rgProbe + "/providers/Microsoft.Compute/virtualMachines/vm-probe"
	for _, step := range []struct{ path, version, body string }{
		{nic2, netVersion, `{"location":"eastus","properties":{"ipConfigurations":[{"name":"ipconfig1","properties":{
			"privateIPAllocationMethod":"Static","privateIPAddress":"10.0.3.30","subnet":{"id":"` + snetPE + `"}}}]}}`},
		{vm, "?api-version=2024-07-01", `{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},
			"networkProfile":{"networkInterfaces":[{"id":"` + nicProbe + `","properties":{"primary":true}},{"id":"` + nic2 + `","properties":{"primary":false}}]},
			"storageProfile":{"imageReference":{"publisher":"Canonical","offer":"ubuntu-24_04-lts","sku":"server","version":"latest"},
				"osDisk":{"createOption":"FromImage","osType":"Linux"}}}}`},
	} {
		if st, out, _ := c.do("PUT", step.path+step.version, step.body, "Content-Type", "application/json"); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", step.path, st, out)
		}
	}
	// One entry per NIC of the VM.
	st, out := c.watch("securityGroupView", map[string]any{"targetResourceId": vm})
	nics := arm.Items(out, "networkInterfaces")
	if st != http.StatusOK || len(nics) != 2 || nics[0]["id"] != nicProbe || nics[1]["id"] != nic2 ||
		arm.EnsureField(arm.EnsureField(nics[1], "securityRuleAssociations"), "subnetAssociation")["id"] != snetPE {
		t.Fatalf("VM view: %d %v", st, out)
	}
	// The NIC that holds the local address decides which NSGs apply.
	if st, out := c.watch("ipFlowVerify", flowParams(vm, "Inbound", "TCP", "10.0.1.10", "8080", "10.0.3.10", "*")); st != http.StatusOK ||
		out["access"] != "Deny" || out["ruleName"] != "securityRules/DenyWebInbound" {
		t.Fatalf("VM, first NIC: %d %v", st, out)
	}
	p := flowParams(vm, "Inbound", "TCP", "10.0.1.10", "8080", "10.0.3.10", "*")
	p["targetNicResourceId"] = nic2
	if st, out := c.watch("ipFlowVerify", p); st != http.StatusBadRequest || !strings.Contains(arm.Str(arm.EnsureField(out, "error"), "message"), "'localIPAddress'") {
		t.Fatalf("VM, other NIC named: %d %v", st, out)
	}
	// The second NIC's subnet routes through rt-egress.
	if st, out := c.watch("nextHop", map[string]any{"targetResourceId": vm, "sourceIPAddress": "10.0.3.30", "destinationIPAddress": "8.8.8.8"}); st != http.StatusOK ||
		out["nextHopType"] != "VirtualAppliance" || out["routeTableId"] != netProbe+"routeTables/rt-egress" {
		t.Fatalf("VM next hop: %d %v", st, out)
	}
}

// TestNextHopThroughFirewallWithoutNetworkRules: issue 18 point 1. Next hop
// evaluates the flow through rt-egress's appliance; an Azure Firewall there
// whose policy holds application rules only crashed that evaluation.
func TestNextHopThroughFirewallWithoutNetworkRules(t *testing.T) {
	c := newClient(t)
	watcherEnvironment(t, c)
	policy := netProbe + "firewallPolicies/fwp-apps"
	for _, step := range []struct{ path, body string }{
		{vnetProbe + "/subnets/AzureFirewallSubnet", `{"properties":{"addressPrefix":"10.0.2.0/26"}}`},
		{policy, `{"location":"eastus","properties":{}}`},
		{policy + "/ruleCollectionGroups/apps", `{"properties":{"priority":200,"ruleCollections":[{"ruleCollectionType":"FirewallPolicyFilterRuleCollection",
			"name":"web","priority":100,"action":{"type":"Allow"},"rules":[{"ruleType":"ApplicationRule","name":"pypi","sourceAddresses":["*"],
			"protocols":[{"protocolType":"Https","port":443}],"targetFqdns":["pypi.org"]}]}]}}`},
		{netProbe + "azureFirewalls/fw-egress", `{"location":"eastus","properties":{"firewallPolicy":{"id":"` + policy + `"},
			"ipConfigurations":[{"name":"c","properties":{"privateIPAddress":"10.0.2.4","subnet":{"id":"` + vnetProbe + `/subnets/AzureFirewallSubnet"}}}]}}`},
	} {
		if st, out, _ := c.do("PUT", step.path+netVersion, step.body, "Content-Type", "application/json"); st != http.StatusCreated && st != http.StatusOK {
			t.Fatalf("PUT %s: %d %v", step.path, st, out)
		}
	}
	st, out := c.watch("nextHop", map[string]any{"targetResourceId": snetPE, "sourceIPAddress": "10.0.3.4", "destinationIPAddress": "8.8.8.8"})
	if st != http.StatusOK || out["nextHopType"] != "VirtualAppliance" || arm.Str(out, "nextHopIpAddress") != "10.0.2.4" {
		t.Fatalf("next hop through the firewall: %d %v", st, out)
	}
}
