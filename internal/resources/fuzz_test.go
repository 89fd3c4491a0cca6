package resources

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

// addSeedFiles adds the environment files in testdata as fuzz seeds.
func addSeedFiles(f *testing.F) {
	for _, p := range []string{"testdata/env.yaml", "testdata/env.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeFile(f *testing.F) {
	addSeedFiles(f)
	// An entry in ARM's own shape, placed by its id.
	f.Add([]byte(`{"resources":[{"id":"/subscriptions/s1/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/c","name":"c",` +
		`"type":"Microsoft.MachineLearningServices/workspaces/computes","properties":{"computeType":"AmlCompute","properties":{"scaleSettings":{"maxNodeCount":1}}}}]}`))
	for _, s := range []string{
		subnet("addressPrefix: 10.0.0.1/24"),
		rule("sourceAddressPrefixes: [10.0.0.0/8, Internet]", `destinationPortRange: "90-80"`),
		firewall("networkRuleCollections: [{name: c, properties: {priority: 100, action: {type: Allow}, rules: [" + netRule + "]}}]"),
		ruleGroupFile(filterColl + "\nrules:\n  - {ruleType: NatRule, name: n}"),
		compute(amlBase...),
		rulesetFile(entry(TypeInboundEndpoint, "dr/in", "ipConfigurations: [{subnet: "+inRef+"}]"), entry(TypeForwardingRule, "rs/r", fwdRuleBase...),
			entry(TypeRulesetLink, "rs/l", "virtualNetwork: {id: /resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/w}")),
		file(entry(TypeLock, "l", "level: CanNotDelete", "notes: n"), entry(TypePolicyAssignment, "a", edit(assignmentBase, "enforcementMode: DoNotEnforce",
			"notScopes: [/resourceGroups/rg/providers/Microsoft.Authorization/locks/l]")...),
			"  - {type: Microsoft.Authorization/policyAssignments, name: s, properties: {policyDefinitionId: /providers/x, parameters: {p: {value: 1}}}}\n"),
		`{"resources": [{"type": 1}], "x": [`,
		"resources: [{type: Microsoft.Network/virtualNetworks/subnets, name: a/b, resourceGroup: r}]",
		"subscription: s\nresources: [{type: microsoft.network/loadbalancers, resourceGroup: r, name: l, properties: {outboundRules: [{}]}}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeFile("f.yaml", data)
		if (s == nil) == (err == nil) {
			t.Fatalf("snapshot %v with error %v", s, err)
		}
		var fe *FileError
		if err != nil && (!errors.As(err, &fe) || len(fe.Problems) == 0) {
			t.Fatalf("error %#v", err)
		}
	})
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"*", "80", "80,443-445", "0-65535", "65536", "1-", "-", ",", " 80 , 443", "99999999999999999999", "+1", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := parsePorts(nil, s)
		if err != nil {
			if rs != nil {
				t.Fatalf("%q: ranges %v with error %v", s, rs, err)
			}
			return
		}
		parts := make([]string, len(rs))
		for i, r := range rs {
			if r.From > r.To {
				t.Fatalf("%q: range %v", s, r)
			}
			parts[i] = fmt.Sprintf("%d-%d", r.From, r.To)
		}
		// What was accepted parses back to the same ranges.
		again, err := parsePorts(nil, strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, rs) {
			t.Fatalf("%q: %v reparsed as %v, %v", s, rs, again, err)
		}
	})
}

func FuzzParseRulePrefix(f *testing.F) {
	for _, s := range []string{"*", "10.0.0.1", "10.0.0.0/8", "10.0.0.1/8", "Storage.WestUS2", "::1", "fd00::/8", "1.2.3.4-1.2.3.5", "a b", "10.0.0.300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, err := parseRulePrefix(s)
		if err != nil {
			return
		}
		switch kind {
		case prefixAny:
			if s != "*" {
				t.Fatalf("%q accepted as *", s)
			}
		case prefixTag:
			if !isServiceTagName(s) {
				t.Fatalf("%q accepted as a tag", s)
			}
		case prefixIP:
			if p, err := netip.ParsePrefix(s); err == nil {
				if !p.Addr().Is4() || p.Masked() != p {
					t.Fatalf("%q accepted as a CIDR", s)
				}
			} else if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
				t.Fatalf("%q accepted as an address", s)
			}
		}
		// Whatever an NSG rule accepts, a firewall network rule's destination accepts.
		if err := parseFirewallAddress(s, true); err != nil {
			t.Fatalf("%q: rule prefix but not a firewall address: %v", s, err)
		}
	})
}
