package resources

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

const testSub = "00000000-0000-0000-0000-000000000001"

// problems decodes src as file and returns the problems as strings.
func problems(t *testing.T, file, src string) []string {
	t.Helper()
	_, err := DecodeFile(file, []byte(src))
	if err == nil {
		return nil
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error is %T, not *FileError: %v", err, err)
	}
	out := make([]string, len(fe.Problems))
	for i, p := range fe.Problems {
		out[i] = p.String()
	}
	return out
}

func mustDecode(t *testing.T, file, src string) *Snapshot {
	t.Helper()
	s, err := DecodeFile(file, []byte(src))
	if err != nil {
		t.Fatalf("DecodeFile: %v", err)
	}
	return s
}

func mustLoad(t *testing.T, path string) *Snapshot {
	t.Helper()
	s, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	return s
}

// clearPos zeroes every exported Pos field reachable from v (addressable),
// so that snapshots of differently laid-out files compare equal.
func clearPos(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			clearPos(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			clearPos(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if !f.CanSet() {
				continue // Snapshot.byKey points at the values the slices hold
			}
			if v.Type().Field(i).Name == "Pos" && f.Kind() == reflect.String {
				f.SetString("")
				continue
			}
			clearPos(f)
		}
	}
}

func samePosFree(t *testing.T, what string, a, b any) {
	t.Helper()
	clearPos(reflect.ValueOf(a))
	clearPos(reflect.ValueOf(b))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s differ:\n%+v\n%+v", what, a, b)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	if g, ok := any(got).([]string); ok {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(g, "\n  "), strings.Join(any(want).([]string), "\n  "))
		return
	}
	t.Errorf("%s = %+v, want %+v", what, got, want)
}

func id(t *testing.T, s string) arm.ID {
	t.Helper()
	i, err := arm.ParseID(s, testSub)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestProblemString(t *testing.T) {
	for _, c := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "env.yaml", Line: 42, Resource: "subnet mynetwork/default", Message: `addressPrefix "10.0.0.0/33" is not a valid CIDR`},
			`env.yaml:42: subnet mynetwork/default: addressPrefix "10.0.0.0/33" is not a valid CIDR`},
		{Problem{File: "env.yaml", Resource: "subnet vn/s", Message: "m"}, "env.yaml: subnet vn/s: m"},
		{Problem{File: "env.yaml", Line: 3, Message: "m"}, "env.yaml:3: m"},
		{Problem{Message: "m"}, "m"},
	} {
		eq(t, "String", c.p.String(), c.want)
	}
	fe := &FileError{Problems: []Problem{{File: "f", Line: 1, Message: "a"}, {File: "f", Line: 2, Resource: "r", Message: "b"}}}
	eq(t, "Error", fe.Error(), "f:1: a\nf:2: r: b")
}

// TestDecodeEnvironment decodes one of every supported type.
func TestDecodeEnvironment(t *testing.T) {
	s := mustLoad(t, "testdata/env.yaml")
	const rg = "/resourceGroups/rg-ml/providers/"
	net := rg + "Microsoft.Network/"
	eq(t, "Subscription", s.Subscription, testSub)

	eq(t, "resource groups", len(s.ResourceGroups), 1)
	g := s.ResourceGroups[0]
	eq(t, "rg id", g.ID.String(), "/subscriptions/"+testSub+"/resourceGroups/rg-ml")
	eq(t, "rg tags", g.Tags, map[string]string{"owner": "ml-team", "cost": "42"})
	eq(t, "rg pos", g.Pos, "testdata/env.yaml:4")

	eq(t, "vnets", len(s.VirtualNetworks), 2)
	vn := s.VirtualNetworks[0]
	eq(t, "vnet space", vn.AddressSpace, pfx("10.0.0.0/16"))
	eq(t, "vnet dns", vn.DNSServers, []netip.Addr{netip.MustParseAddr("10.0.0.4")})
	eq(t, "hub space", s.VirtualNetworks[1].AddressSpace, pfx("10.1.0.0/16", "10.2.0.0/24"))
	eq(t, "subnets", len(vn.Subnets), 3)
	sn := vn.Subnets[0]
	eq(t, "subnet id", sn.ID, id(t, net+"virtualNetworks/vnet-ml/subnets/snet-compute"))
	eq(t, "subnet location", sn.Location, "westus2")
	eq(t, "subnet pos", sn.Pos, "testdata/env.yaml:19")
	eq(t, "subnet prefixes", sn.AddressPrefixes, pfx("10.0.1.0/24"))
	eq(t, "subnet nsg", sn.NetworkSecurityGroup.ID, id(t, net+"networkSecurityGroups/nsg-compute"))
	eq(t, "subnet nsg pos", sn.NetworkSecurityGroup.Pos, "testdata/env.yaml:22")
	eq(t, "subnet rt", sn.RouteTable.ID, id(t, net+"routeTables/rt-egress"))
	eq(t, "subnet nat", sn.NATGateway.ID, id(t, net+"natGateways/nat-egress"))
	eq(t, "subnet endpoints", sn.ServiceEndpoints, []ServiceEndpoint{{"Microsoft.Storage", []string{"westus2"}}})
	eq(t, "subnet seps", len(sn.ServiceEndpointPolicies), 1)
	eq(t, "subnet pe policies", sn.PrivateEndpointNetworkPolicies, "Disabled")
	eq(t, "subnet outbound", *sn.DefaultOutboundAccess, false)
	eq(t, "fw subnet outbound", vn.Subnets[1].DefaultOutboundAccess, (*bool)(nil))
	pe := vn.Subnets[2]
	eq(t, "pe subnet prefixes", pe.AddressPrefixes, pfx("10.0.3.0/24"))
	eq(t, "pe subnet policies", pe.PrivateEndpointNetworkPolicies, "Enabled")
	eq(t, "delegations", pe.Delegations, []Delegation{{"aci", "Microsoft.ContainerInstance/containerGroups"}})
	eq(t, "lookup subnet", s.Subnet(sn.ID), sn)
	eq(t, "VNetOf", s.VNetOf(sn), vn)
	peer := vn.Peerings[0]
	eq(t, "peering remote", peer.RemoteVirtualNetwork.ID, s.VirtualNetworks[1].ID)
	eq(t, "peering flags", [4]bool{peer.AllowVirtualNetworkAccess, peer.AllowForwardedTraffic, peer.AllowGatewayTransit, peer.UseRemoteGateways},
		[4]bool{true, true, false, false})
	eq(t, "lookup peering", s.Lookup(peer.ID), any(peer))

	nsg := s.NetworkSecurityGroups[0]
	eq(t, "rules", len(nsg.Rules), 3)
	r0, r1, r2 := nsg.Rules[0], nsg.Rules[1], nsg.Rules[2]
	eq(t, "rule0", *r0, SecurityRule{Meta: r0.Meta, Priority: 100, Direction: Inbound, Access: Allow, Protocol: ProtoTCP,
		SourcePrefixes: []string{"AzureMachineLearning"}, SourcePorts: []PortRange{{0, 65535}},
		DestinationPrefixes: []string{"VirtualNetwork"}, DestinationPorts: []PortRange{{44224, 44224}}})
	eq(t, "rule1 protocol (any)", r1.Protocol, ProtoAny)
	eq(t, "rule1 source ASGs", r1.SourceASGs[0].ID, s.ApplicationSecurityGroups[0].ID)
	eq(t, "rule1 source prefixes", r1.SourcePrefixes, []string(nil))
	eq(t, "rule1 destinations", r1.DestinationPrefixes, []string{"10.0.1.0/24", "10.0.3.5"})
	eq(t, "rule1 ports", r1.DestinationPorts, []PortRange{{29876, 29877}, {443, 443}})
	eq(t, "rule2 ports", r2.DestinationPorts, []PortRange{{22, 22}, {3389, 3390}})
	eq(t, "rule2", [2]any{r2.Direction, r2.Access}, [2]any{Outbound, Deny})
	eq(t, "lookup rule", s.Lookup(r2.ID), any(r2))

	rt := s.RouteTables[0]
	eq(t, "bgp", rt.DisableBgpRoutePropagation, true)
	eq(t, "route0", [3]any{rt.Routes[0].AddressPrefix, rt.Routes[0].NextHopType, rt.Routes[0].NextHopIP},
		[3]any{"0.0.0.0/0", NextHopVirtualAppliance, netip.MustParseAddr("10.0.2.4")})
	eq(t, "route1", [2]any{rt.Routes[1].AddressPrefix, rt.Routes[1].NextHopType}, [2]any{"AzureMachineLearning", NextHopInternet})
	eq(t, "lookup route", s.Lookup(rt.Routes[1].ID), any(rt.Routes[1]))

	nat := s.NATGateways[0]
	eq(t, "nat pips", nat.PublicIPAddresses[0].ID, s.PublicIPAddresses[0].ID)
	eq(t, "lookup nat", s.NATGateway(nat.ID), nat)
	pip := s.PublicIPAddresses[0]
	eq(t, "pip", [3]any{pip.SKU, pip.AllocationMethod, pip.Address}, [3]any{"Standard", "Static", netip.MustParseAddr("20.1.2.3")})
	eq(t, "lookup pip", s.PublicIPAddress(pip.ID), pip)

	lb := s.LoadBalancers[0]
	eq(t, "lb sku", lb.SKU, "Standard")
	eq(t, "lb frontend", [3]any{lb.Frontends[0].Name, lb.Frontends[0].Subnet.ID, lb.Frontends[0].PrivateIP},
		[3]any{"fe", sn.ID, netip.MustParseAddr("10.0.1.10")})
	eq(t, "lb pools", lb.BackendPools, []string{"be"})
	eq(t, "lb rules", lb.Rules, []LBRule{{Name: "https", Protocol: "Tcp", FrontendPort: 443, BackendPort: 443, Frontend: "fe", BackendPool: "be"}})
	eq(t, "lb nat rules", lb.InboundNATRules, []LBRule{{Name: "ssh", Protocol: "Tcp", FrontendPort: 50022, BackendPort: 22, Frontend: "fe"}})
	eq(t, "lb outbound", lb.OutboundRules, []LBOutboundRule{{Name: "out", BackendPool: "be", Frontends: []string{"fe"}}})

	nic := s.NetworkInterfaces[0]
	eq(t, "nic forwarding", nic.EnableIPForwarding, true)
	eq(t, "nic nsg", nic.NetworkSecurityGroup.ID, nsg.ID)
	ipc := nic.IPConfigurations[0]
	eq(t, "nic ipconfig", [3]any{ipc.Name, ipc.Subnet.ID, ipc.PrivateIP}, [3]any{"ipconfig1", sn.ID, netip.MustParseAddr("10.0.1.20")})
	eq(t, "nic pools", ipc.LoadBalancerBackendPools[0].ID, id(t, net+"loadBalancers/lb-internal/backendAddressPools/be"))
	eq(t, "nic asgs", len(ipc.ApplicationSecurityGroups), 1)

	ep := s.PrivateEndpoints[0]
	eq(t, "pe subnet", ep.Subnet.ID, pe.ID)
	eq(t, "pe connection", [3]any{ep.Connections[0].Name, ep.Connections[0].Target.ID, ep.Connections[0].GroupIDs},
		[3]any{"ws", id(t, rg+"Microsoft.MachineLearningServices/workspaces/mlw-secure"), []string{"amlworkspace"}})
	eq(t, "pe ipconfigs", ep.IPConfigurations, []PrivateEndpointIPConfiguration{{"api", "amlworkspace", "default", netip.MustParseAddr("10.0.3.4")}})

	z := s.PrivateDNSZones[0]
	eq(t, "zone name", z.ID.Name(), "privatelink.api.azureml.ms")
	eq(t, "zone A", z.A, map[string][]netip.Addr{"0000-guid.workspace.westus2": {netip.MustParseAddr("10.0.3.4")}})
	eq(t, "zone CNAME", z.CNAME, map[string]string{"alias": "0000-guid.workspace.westus2.privatelink.api.azureml.ms"})
	eq(t, "zone link", [2]any{z.Links[0].VirtualNetwork.ID, z.Links[0].RegistrationEnabled}, [2]any{vn.ID, false})
	eq(t, "lookup link", s.Lookup(z.Links[0].ID), any(z.Links[0]))

	fw := s.AzureFirewalls[0]
	eq(t, "fw subnet", fw.Subnet.ID, vn.Subnets[1].ID)
	eq(t, "fw private IP (network+4)", fw.PrivateIP, netip.MustParseAddr("10.0.2.4"))
	eq(t, "fw public IPs", fw.PublicIPs[0].ID, s.PublicIPAddresses[1].ID)
	eq(t, "fw dns", [2]any{fw.DNSProxy, fw.DNSServers}, [2]any{true, []netip.Addr{netip.MustParseAddr("168.63.129.16"), netip.MustParseAddr("10.0.0.4")}})
	eq(t, "fw collections", len(fw.RuleCollections), 3)
	nc := fw.RuleCollections[1]
	eq(t, "fw network collection", [4]any{nc.Name, nc.Kind, nc.Priority, nc.Action}, [4]any{"aml-network", FirewallNetwork, 200, "Allow"})
	eq(t, "fw network rule", nc.Rules[0], FirewallRule{Name: "aml-udp", Protocols: []string{"UDP"}, SourceAddresses: []string{"10.0.1.0/24"},
		DestinationAddresses: []string{"AzureMachineLearning"}, DestinationPorts: []PortRange{{5831, 5831}}})
	ac := fw.RuleCollections[2]
	eq(t, "fw app rule", ac.Rules[0], FirewallRule{Name: "pypi", SourceAddresses: []string{"10.0.1.0-10.0.1.255"},
		AppProtocols: []FirewallAppProtocol{{"Https", 443}}, TargetFqdns: []string{"pypi.org", "*.pythonhosted.org"}})
	dc := fw.RuleCollections[0]
	eq(t, "fw nat collection", [3]any{dc.Kind, dc.Action, dc.Rules[0].TranslatedAddress + ":" + dc.Rules[0].TranslatedPort},
		[3]any{FirewallNAT, "Dnat", "10.0.1.20:22"})

	pol := s.FirewallPolicies[0]
	eq(t, "policy dns", [2]any{pol.DNSProxy, pol.DNSServers}, [2]any{true, []netip.Addr{netip.MustParseAddr("10.0.0.4")}})
	eq(t, "policy collections", len(pol.RuleCollections), 3)
	for i, want := range []struct {
		name   string
		kind   FirewallRuleKind
		prio   int
		action string
	}{{"aml-net", FirewallNetwork, 1000, "Allow"}, {"aml-app", FirewallApplication, 1100, "Allow"}, {"dnat", FirewallNAT, 100, "Dnat"}} {
		c := pol.RuleCollections[i]
		eq(t, "policy collection", [6]any{c.Name, c.Kind, c.Priority, c.Action, c.Group, c.GroupPriority},
			[6]any{want.name, want.kind, want.prio, want.action, "aml", 500})
	}
	eq(t, "policy network rule", pol.RuleCollections[0].Rules[0].Protocols, []string{"TCP"})
	eq(t, "lookup policy", s.FirewallPolicy(pol.ID), pol)

	sep := s.ServiceEndpointPolicies[0]
	eq(t, "sep definitions", sep.Definitions, []ServiceEndpointPolicyDefinition{{"own-storage", "Microsoft.Storage",
		[]string{"/subscriptions/" + testSub + "/resourceGroups/rg-ml"}}})
	eq(t, "lookup sep", s.ServiceEndpointPolicy(sep.ID), sep)

	st := s.StorageAccounts[0]
	eq(t, "storage", [5]any{st.PublicNetworkAccess, *st.AllowSharedKeyAccess, st.DefaultAction, st.Bypass, st.IPRules},
		[5]any{"Enabled", false, "Deny", "AzureServices, Logging", []string{"203.0.113.0/24"}})
	eq(t, "storage vnet rules", st.VirtualNetworkRules[0].ID, sn.ID)
	eq(t, "lookup storage", s.StorageAccount(st.ID), st)

	ws := s.Workspaces[0]
	eq(t, "workspace storage", ws.StorageAccount.ID, st.ID)
	eq(t, "workspace kv", ws.KeyVault.ID, id(t, rg+"Microsoft.KeyVault/vaults/kv-ml"))
	eq(t, "workspace", [5]any{ws.PublicNetworkAccess, ws.HBIWorkspace, ws.WorkspaceID, ws.ManagedNetworkIsolation, ws.ContainerRegistry.IsSet()},
		[5]any{"Disabled", true, "0000-guid", "Disabled", true})
	eq(t, "lookup workspace", s.Workspace(ws.ID), ws)

	cl := s.Computes[0]
	eq(t, "cluster", *cl, Compute{Meta: cl.Meta, Workspace: ws.ID, ComputeType: ComputeAml, ComputeLocation: "westus2",
		Description: "training cluster", VMSize: "STANDARD_DS3_V2", VMPriority: "Dedicated", Subnet: cl.Subnet,
		EnableNodePublicIP: false, MinNodeCount: 0, MaxNodeCount: 4, NodeIdleTimeBeforeScaleDown: "PT120S",
		RemoteLoginPortPublicAccess: "Disabled", OSType: "Linux", Body: cl.Body})
	// The body as written, for policies: numbers kept as written.
	eq(t, "cluster body", arm.Field(arm.Field(arm.Field(cl.Body, "properties"), "properties"), "scaleSettings")["maxNodeCount"], any(json.Number("4")))
	eq(t, "cluster subnet", cl.Subnet.ID, sn.ID)
	ci := s.Computes[1]
	eq(t, "ci", [4]any{ci.ComputeType, ci.EnableNodePublicIP, ci.SSHPublicAccess, ci.ComputeLocation},
		[4]any{ComputeInstance, true, "Disabled", "westus2"})

	hub := s.VirtualNetworks[1]
	eq(t, "hub subnets", len(hub.Subnets), 2)
	dr := s.DNSResolvers[0]
	eq(t, "resolver vnet", dr.VirtualNetwork.ID, hub.ID)
	eq(t, "lookup resolver", s.Lookup(dr.ID), any(dr))
	in := dr.InboundEndpoints[0]
	eq(t, "inbound", [2]any{in.Subnet.ID, in.PrivateIP}, [2]any{hub.Subnets[0].ID, netip.MustParseAddr("10.1.0.10")})
	eq(t, "lookup inbound", s.Lookup(in.ID), any(in))
	out := dr.OutboundEndpoints[0]
	eq(t, "outbound subnet", out.Subnet.ID, hub.Subnets[1].ID)
	eq(t, "lookup outbound", s.Lookup(out.ID), any(out))
	frs := s.DNSForwardingRulesets[0]
	eq(t, "ruleset endpoints", frs.OutboundEndpoints[0].ID, out.ID)
	eq(t, "lookup ruleset", s.Lookup(frs.ID), any(frs))
	eq(t, "forwarding rules", len(frs.Rules), 2)
	onprem, all := frs.Rules[0], frs.Rules[1]
	eq(t, "rule onprem", [3]any{onprem.DomainName, onprem.Targets, onprem.Enabled}, [3]any{"corp.contoso.com",
		[]netip.AddrPort{netip.MustParseAddrPort("192.168.0.4:53"), netip.MustParseAddrPort("192.168.0.5:53")}, true})
	eq(t, "rule everything", [3]any{all.DomainName, all.Targets, all.Enabled},
		[3]any{"", []netip.AddrPort{netip.MustParseAddrPort("10.0.0.4:5353")}, false})
	eq(t, "lookup forwarding rule", s.Lookup(all.ID), any(all))
	eq(t, "ruleset link", frs.Links[0].VirtualNetwork.ID, vn.ID)
	eq(t, "lookup ruleset link", s.Lookup(frs.Links[0].ID), any(frs.Links[0]))

	eq(t, "locks", len(s.Locks), 1)
	lk := s.Locks[0]
	eq(t, "lock", *lk, ManagementLock{Meta: lk.Meta, Level: LockCanNotDelete, Notes: "protects the training network"})
	eq(t, "lock id", lk.ID, id(t, rg+"Microsoft.Authorization/locks/lock-rg-ml"))
	eq(t, "lookup lock", s.Lookup(lk.ID), any(lk))

	eq(t, "policy assignments", len(s.PolicyAssignments), 2)
	deny, locs := s.PolicyAssignments[0], s.PolicyAssignments[1]
	eq(t, "rg assignment", *deny, PolicyAssignment{Meta: deny.Meta, Scope: g.ID, DisplayName: "Not allowed resource types in rg-ml",
		PolicyDefinitionID: "/providers/Microsoft.Authorization/policyDefinitions/6C112D4E-5BC7-47AE-A041-EA2D9DCCD749",
		NotAllowedTypes:    []string{"Microsoft.Network/publicIPPrefixes", "microsoft.network/bastionHosts"},
		Enforced:           true, NotScopes: []arm.ID{id(t, net+"publicIPAddresses/pip-fw")}})
	eq(t, "rg assignment id", deny.ID, id(t, rg+"Microsoft.Authorization/policyAssignments/deny-types"))
	eq(t, "lookup rg assignment", s.Lookup(deny.ID), any(deny))
	eq(t, "subscription assignment", *locs, PolicyAssignment{Meta: locs.Meta, Scope: arm.ID{Subscription: testSub}, SubscriptionScope: true,
		PolicyDefinitionID: "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c"})
	eq(t, "subscription assignment id", locs.ID.String(), "/subscriptions/"+testSub+"/providers/Microsoft.Authorization/policyAssignments/allowed-locations")
	eq(t, "lookup subscription assignment", s.Lookup(locs.ID), any(locs))
}

// An inbound endpoint without an address gets the one Azure assigns, as a
// firewall does: its subnet's network address + 4.
func TestInboundEndpointAddress(t *testing.T) {
	s := mustDecode(t, "t.yaml", resolverFile(entry(TypeInboundEndpoint, "dr/in",
		"ipConfigurations: [{subnet: "+inRef+", privateIpAllocationMethod: Dynamic}]")))
	eq(t, "address", s.DNSResolvers[0].InboundEndpoints[0].PrivateIP, netip.MustParseAddr("10.0.4.4"))
}

// Locks and policy assignments with only their required fields take the
// defaults; an assignment without resourceGroup is at the subscription.
func TestLockAndPolicyAssignmentDefaults(t *testing.T) {
	s := mustDecode(t, "t.yaml", file(entry(TypeLock, "l", "level: readonly"), entry(TypePolicyAssignment, "a", assignmentBase...),
		"  - type: Microsoft.Authorization/policyAssignments\n    name: sub\n    properties: {policyDefinitionId: /providers/x}\n"))
	const authz = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Authorization/"
	lk := s.Locks[0]
	eq(t, "lock", [3]any{lk.ID.String(), lk.Level, lk.Notes}, [3]any{authz + "locks/l", LockReadOnly, ""})
	rga, suba := s.PolicyAssignments[0], s.PolicyAssignments[1]
	eq(t, "rg assignment", *rga, PolicyAssignment{Meta: rga.Meta, Scope: arm.ID{Subscription: "s1", ResourceGroup: "rg"},
		PolicyDefinitionID: NotAllowedResourceTypesPolicy, NotAllowedTypes: []string{TypePublicIP}, Enforced: true})
	eq(t, "rg assignment id", rga.ID.String(), authz+"policyAssignments/a")
	eq(t, "subscription assignment", *suba, PolicyAssignment{Meta: suba.Meta, Scope: arm.ID{Subscription: "s1"}, SubscriptionScope: true,
		PolicyDefinitionID: "/providers/x", Enforced: true})
	eq(t, "subscription assignment id", suba.ID.String(), "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/sub")
	eq(t, "lookup", s.Lookup(suba.ID), any(suba))
}

func TestJSONAndYAMLGiveTheSameSnapshot(t *testing.T) {
	y := mustLoad(t, "testdata/env.yaml")
	j := mustLoad(t, "testdata/env.json")
	samePosFree(t, "snapshots", y, j)
}

// Children may be written inside their parent or as list entries (§ ARM
// parent/child naming); both give the same snapshot.
func TestNestedAndStandaloneChildren(t *testing.T) {
	nested := `subscription: s1
resources:
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vn
    location: eastus
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: a
          properties: {addressPrefix: 10.0.1.0/24, networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n}}
      virtualNetworkPeerings:
        - name: p
          properties: {remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: n
    properties:
      securityRules:
        - name: r
          properties: {priority: 100, direction: Inbound, access: Deny, protocol: Udp, sourceAddressPrefixes: [10.1.0.0/16, 10.2.0.1], destinationAddressPrefix: "*", destinationPortRanges: ["53", "5000-5010"]}
  - type: Microsoft.Network/routeTables
    resourceGroup: rg
    name: t
    properties:
      routes:
        - name: d
          properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.1.4}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: hub
    location: eastus
    properties: {addressSpace: {addressPrefixes: [10.9.0.0/16]}}
`
	standalone := `subscription: s1
resources:
  - type: Microsoft.Network/virtualNetworks/subnets
    resourceGroup: rg
    name: vn/a
    properties: {addressPrefix: 10.0.1.0/24, networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n}}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vn
    location: eastus
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
  - type: Microsoft.Network/virtualNetworks/virtualNetworkPeerings
    resourceGroup: rg
    name: vn/p
    properties: {remoteVirtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub}}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: n
  - type: Microsoft.Network/networkSecurityGroups/securityRules
    resourceGroup: rg
    name: n/r
    properties: {priority: 100, direction: Inbound, access: Deny, protocol: Udp, sourceAddressPrefixes: [10.1.0.0/16, 10.2.0.1], destinationAddressPrefix: "*", destinationPortRanges: ["53", "5000-5010"]}
  - type: Microsoft.Network/routeTables
    resourceGroup: rg
    name: t
  - type: Microsoft.Network/routeTables/routes
    resourceGroup: rg
    name: t/d
    properties: {addressPrefix: 0.0.0.0/0, nextHopType: VirtualAppliance, nextHopIpAddress: 10.0.1.4}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: hub
    location: eastus
    properties: {addressSpace: {addressPrefixes: [10.9.0.0/16]}}
`
	a, b := mustDecode(t, "n.yaml", nested), mustDecode(t, "s.yaml", standalone)
	eq(t, "subnet location", a.VirtualNetworks[0].Subnets[0].Location, "eastus")
	samePosFree(t, "subnets", a.VirtualNetworks[0].Subnets, b.VirtualNetworks[0].Subnets)
	samePosFree(t, "peerings", a.VirtualNetworks[0].Peerings, b.VirtualNetworks[0].Peerings)
	samePosFree(t, "rules", a.NetworkSecurityGroups[0].Rules, b.NetworkSecurityGroups[0].Rules)
	samePosFree(t, "routes", a.RouteTables[0].Routes, b.RouteTables[0].Routes)
	samePosFree(t, "snapshots", a, b)
}

func TestTypesAndIDsAreCaseInsensitive(t *testing.T) {
	s := mustDecode(t, "c.yaml", `subscription: S1
resources:
  - type: microsoft.network/VIRTUALNETWORKS
    resourceGroup: RG
    name: VN
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: A
          properties:
            addressPrefix: 10.0.1.0/24
            networkSecurityGroup: {id: /SUBSCRIPTIONS/s1/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/n}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: N
  - type: MICROSOFT.NETWORK/virtualnetworks/SUBNETS
    resourceGroup: Rg
    name: vn/b
    id: /subscriptions/s1/resourcegroups/rg/providers/microsoft.network/virtualnetworks/vn/subnets/B
    properties: {addressPrefix: 10.0.2.0/24}
`)
	vn := s.VirtualNetworks[0]
	eq(t, "canonical type", vn.ID.Type(), "Microsoft.Network/virtualNetworks")
	eq(t, "spelling kept", vn.ID.Name(), "VN")
	eq(t, "standalone child attached", len(vn.Subnets), 2)
	eq(t, "child type", vn.Subnets[1].ID.Type(), "Microsoft.Network/virtualNetworks/subnets")
	eq(t, "resolves", s.NetworkSecurityGroup(vn.Subnets[0].NetworkSecurityGroup.ID), s.NetworkSecurityGroups[0])
}

func TestRelativeIDsTakeTheSubscription(t *testing.T) {
	s := mustDecode(t, "r.yaml", `subscription: s1
resources:
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: n
  - type: Microsoft.Network/networkSecurityGroups
    subscription: s2
    resourceGroup: rg
    name: n
  - type: Microsoft.Network/virtualNetworks
    subscription: s2
    resourceGroup: rg
    name: vn
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: rel
          properties: {addressPrefix: 10.0.1.0/24, networkSecurityGroup: {id: /resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n}}
        - name: abs
          properties: {addressPrefix: 10.0.2.0/24, networkSecurityGroup: {id: /subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n}}
`)
	eq(t, "file subscription", s.NetworkSecurityGroups[0].ID.Subscription, "s1")
	eq(t, "resource subscription", s.VirtualNetworks[0].ID.Subscription, "s2")
	eq(t, "relative id takes the resource's subscription", s.VirtualNetworks[0].Subnets[0].NetworkSecurityGroup.ID.Subscription, "s2")
	eq(t, "full id", s.VirtualNetworks[0].Subnets[1].NetworkSecurityGroup.ID.Subscription, "s1")

	eq(t, "relative id without a subscription", problems(t, "r.yaml", `resources:
  - type: Microsoft.Network/virtualNetworks
    subscription: s1
    resourceGroup: rg
    name: vn
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: n
`), []string{"r.yaml:8: network security group n: no subscription: set subscription at the top of the file or on the resource"})
}

// All problems of a file are reported at once, each with its line.
func TestEveryProblemIsReported(t *testing.T) {
	got := problems(t, "m.yaml", `subscription: s1
resources:
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vn
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: a
          properties: {adressPrefix: 10.0.1.0/24}
        - name: b
          properties: {addressPrefix: 10.0.0.1/24}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: rg
    name: n
    properties:
      securityRules:
        - name: r
          properties: {priority: 5000, direction: Inbound, access: Allow, protocol: Tcp, sourceAddressPrefix: "*", destinationAddressPrefix: "*", destinationPortRange: "80"}
  - type: Microsoft.Web/sites
    resourceGroup: rg
    name: vm
  - type: Microsoft.Network/routeTables/routes
    resourceGroup: rg
    name: t/r
    properties: {addressPrefix: 10.0.0.0/8, nextHopType: Internet}
`)
	eq(t, "problems", got, []string{
		`m.yaml:10: subnet vn/a: addressPrefix or addressPrefixes is required`,
		`m.yaml:10: subnet vn/a: unknown field "adressPrefix"; did you mean "addressPrefix"?`,
		`m.yaml:12: subnet vn/b: addressPrefix "10.0.0.1/24" has host bits set (did you mean 10.0.0.0/24?)`,
		`m.yaml:19: security rule n/r: priority must be between 100 and 4096, got 5000`,
		`m.yaml:20: resources[2]: unknown resource type "Microsoft.Web/sites"; supported providers: Microsoft.Resources, Microsoft.Network, Microsoft.Storage, Microsoft.MachineLearningServices, Microsoft.Compute, Microsoft.KeyVault, Microsoft.Insights, Microsoft.ContainerRegistry, Microsoft.Authorization`,
		`m.yaml:23: route t/r: route table t is not in the file; a child needs its parent`,
	})
}

func TestResourceLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"subscription": "s", "resources": [{"type": "Microsoft.Network/virtualNetworks", "properties": {"subnets": [`)
	for i := range maxResources {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("{}")
	}
	b.WriteString("]}}]}")
	eq(t, "problems", problems(t, "big.json", b.String()),
		[]string{"big.json:1: the file declares 200001 resources (nested children included); the limit is 200000"})
}

func TestProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("subscription: s\nresources:\n")
	for range maxProblems + 5 {
		b.WriteString("  - {type: Microsoft.Network/publicIPAddresses, resourceGroup: rg, properties: {}}\n")
	}
	got := problems(t, "many.yaml", b.String())
	eq(t, "count", len(got), maxProblems+1)
	eq(t, "last", got[len(got)-1], "many.yaml: 5 more problems not listed")
}

func TestLoadFile(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "load environment: open ") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, arm.MaxDocumentBytes+1); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(big)
	if err == nil || !strings.Contains(err.Error(), "larger than the limit of 67108864 bytes") {
		t.Errorf("large file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("resources: [\n  {a: 1},\n  b: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(bad)
	var fe *FileError
	if !errors.As(err, &fe) || len(fe.Problems) != 1 || fe.Problems[0].File != bad || fe.Problems[0].Line == 0 {
		t.Errorf("parse error: %#v", err)
	}
}

// TestARMShapedEntries: resources as Azure returns them — an id, the leaf
// name, no subscription or resourceGroup — are placed by their ids.
func TestARMShapedEntries(t *testing.T) {
	doc := `{"resources": [
  {"id": "/subscriptions/s1/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vn", "name": "vn", "type": "Microsoft.Network/virtualNetworks", "location": "eastus",
   "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [{"name": "a", "properties": {"addressPrefix": "10.0.1.0/24"}}]}},
  {"id": "/subscriptions/s1/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/ws1", "name": "ws1", "type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus", "properties": {}},
  {"id": "/subscriptions/s1/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/cpu", "name": "cpu", "type": "Microsoft.MachineLearningServices/workspaces/computes", "location": "eastus",
   "properties": {"computeType": "AmlCompute", "properties": {"subnet": {"id": "/subscriptions/s1/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vn/subnets/a"}, "scaleSettings": {"maxNodeCount": 2}}}}
]}`
	snap, err := DecodeFile("export.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Computes) != 1 || snap.Computes[0].ID.ResourceGroup != "ml" || snap.Computes[0].ID.Name() != "ws1/cpu" ||
		snap.Subnet(snap.Computes[0].Subnet.ID) == nil || len(snap.VirtualNetworks) != 1 || snap.VirtualNetworks[0].ID.ResourceGroup != "net" {
		t.Fatalf("placed: %+v", snap.Computes)
	}
}

// TestReadFileLargeAndPipes: a file large enough to be read as two halves
// is read exactly (including an odd size), and a pipe, which cannot be
// read at offsets, still reads whole.
func TestReadFileLargeAndPipes(t *testing.T) {
	for _, size := range []int{parallelReadMin, parallelReadMin + 7} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i*7 + i/4099)
		}
		path := filepath.Join(t.TempDir(), "large.json")
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: %d bytes, equal %v, err %v", size, len(got), bytes.Equal(got, want), err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), parallelReadMin/8)
	go func() {
		w.Write(want)
		w.Close()
	}()
	defer r.Close()
	got, err := ReadFile("/dev/fd/" + strconv.Itoa(int(r.Fd())))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("pipe: %d bytes of %d, err %v", len(got), len(want), err)
	}
}
