package requirements

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"securetrain/internal/resources"
)

// nsgEnv is the test environment with the subnet's NSG holding rules.
func nsgEnv(rules ...string) []byte {
	nsg := `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: netgroup
    name: nsg1
    location: westus2
    properties:
      securityRules:`
	for _, r := range rules {
		nsg += "\n        - " + r
	}
	if len(rules) == 0 {
		nsg += " []"
	}
	return build(map[string]string{"EXTRA": nsg,
		"SUBNET": "networkSecurityGroup: {id: /resourceGroups/netgroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}"})
}

func nsgRuleYAML(name string, priority int, access, proto, src, dst, port string) string {
	return `{name: ` + name + `, properties: {priority: ` + strconv.Itoa(priority) + `, direction: Outbound, access: ` + access + `, protocol: "` + proto +
		`", sourceAddressPrefix: "` + src + `", sourcePortRange: "*", destinationAddressPrefix: "` + dst + `", destinationPortRange: "` + port + `"}}`
}

// Azure ML checks the subnet NSG's rules when a compute is created, and
// refuses one that denies outbound Storage 443 or 445 before allowing it,
// listing the missing rules as Azure does (spec §10 #2: "missing the
// following rules … Outbound Storage 445 … Storage OR Internet OR
// Storage.<region> … priority higher than 4096").
func TestNSGPrecheck(t *testing.T) {
	denyAll := nsgRuleYAML("DenyAllOutbound", 4096, "Deny", "*", "*", "*", "*")
	cases := []struct {
		name    string
		rules   []string
		missing []string // the ports reported missing; none: no finding
	}{
		{"no custom rules: the default rules allow Internet", nil, nil},
		{"a deny-all at 4096", []string{denyAll}, []string{"443", "445"}},
		{"allowed above the deny, regional tag", []string{denyAll, nsgRuleYAML("AllowStorage", 200, "Allow", "Tcp", "VirtualNetwork", "Storage.westus2", "*")}, nil},
		{"allowed above the deny, Internet", []string{denyAll, nsgRuleYAML("AllowWeb", 200, "Allow", "*", "*", "Internet", "*")}, nil},
		{"allowed below the deny", []string{nsgRuleYAML("DenyAll", 300, "Deny", "*", "*", "*", "*"), nsgRuleYAML("AllowStorage", 400, "Allow", "Tcp", "VirtualNetwork", "Storage", "*")}, []string{"443", "445"}},
		{"allowed for 445 only", []string{denyAll, nsgRuleYAML("AllowSmb", 200, "Allow", "Tcp", "VirtualNetwork", "Storage", "445")}, []string{"443"}},
		{"allowed from part of the subnet only", []string{denyAll, nsgRuleYAML("AllowOne", 200, "Allow", "Tcp", "10.0.0.4", "Storage", "*")}, []string{"443", "445"}},
		{"denied from part of the subnet", []string{nsgRuleYAML("DenySmb", 300, "Deny", "Tcp", "10.0.0.0/28", "Storage", "445")}, []string{"445"}},
		{"denied from another subnet", []string{nsgRuleYAML("DenySmb", 300, "Deny", "Tcp", "10.0.9.0/24", "Storage", "445")}, nil},
		{"denied for UDP only", []string{nsgRuleYAML("DenyUdp", 300, "Deny", "Udp", "*", "*", "*")}, nil},
		{"denied to another region's storage", []string{nsgRuleYAML("DenyEast", 300, "Deny", "Tcp", "*", "Storage.eastus", "*")}, nil},
		{"UDP 5831 is not pre-checked", []string{nsgRuleYAML("DenyUdp5831", 300, "Deny", "Udp", "*", "AzureMachineLearning", "5831")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap, err := resources.DecodeFile("env.yaml", nsgEnv(c.rules...))
			if err != nil {
				t.Fatal(err)
			}
			var fs []Finding
			for _, f := range Admission(snap, snap.Computes[0]) {
				if f.Code == "nsg-missing-required-rules" {
					fs = append(fs, f)
				}
			}
			if len(c.missing) == 0 {
				if len(fs) > 0 {
					t.Fatalf("refused: %s", fs[0].Message)
				}
				return
			}
			if len(fs) != 1 || fs[0].Severity != Error {
				t.Fatalf("want one error finding, got %+v", fs)
			}
			msg := fs[0].Message
			for _, want := range []string{"subnet vnet1/s of ws1/cluster1 has a network security group (nsg1) that is missing the following rules",
				"destination Storage OR Internet OR Storage.westus2"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			for _, port := range []string{"443", "445"} {
				if listed := strings.Contains(msg, `"Outbound Storage `+port+`"`); listed != slices.Contains(c.missing, port) {
					t.Errorf("Storage %s listed %v, want %v:\n%s", port, listed, !listed, msg)
				}
			}
			// The same finding is in check's report, which Azure would refuse.
			if hasCode(checkData(t, "env.yaml", nsgEnv(c.rules...)), "nsg-missing-required-rules", Error) == nil {
				t.Error("check does not report it")
			}
		})
	}
	// The deny named is the first that applies, with its priority.
	snap, err := resources.DecodeFile("env.yaml", nsgEnv(denyAll))
	if err != nil {
		t.Fatal(err)
	}
	if msg := Admission(snap, snap.Computes[0])[0].Message; !strings.Contains(msg, "priority higher than 4096 (DenyAllOutbound denies it now)") {
		t.Errorf("the deny is not named: %s", msg)
	}
}
