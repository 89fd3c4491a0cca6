package resources

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"securetrain/internal/envgen"
)

// decodeBoth decodes data in one pass and, with every file counting as
// large, in chunks on every core.
func decodeBoth(t testing.TB, data []byte) (seq, par *Snapshot, seqErr, parErr error) {
	t.Helper()
	defer func(m int) { parallelMin = m }(parallelMin)
	parallelMin = 1 << 30
	seq, seqErr = DecodeFile("f.json", data)
	parallelMin = 1
	par, parErr = DecodeFile("f.json", data)
	return seq, par, seqErr, parErr
}

// errText is an error's message, "" for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestParallelDecodeMatchesOnePass: a decode in chunks gives the snapshot
// and the problems (messages, lines, order) of a decode in one pass, for
// valid files and for files with problems in any chunk.
func TestParallelDecodeMatchesOnePass(t *testing.T) {
	gen := envgen.Generate(envgen.Options{Seed: 3, VNets: 6, SubnetsPerVNet: 3, NSGs: 4, RulesPerNSG: 40,
		RoutesPerVNet: 3, Computes: 30, Firewall: true, Region: "westus2"})
	inputs := map[string][]byte{"generated": gen}
	for _, p := range []string{"testdata/env.json", "testdata/env.yaml", "testdata/export.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[p] = b
	}
	// Problems early, late, and between chunks: an unknown field in a
	// rule, a duplicate declaration, a reference to nothing, two rules of
	// one priority.
	text := string(gen)
	inputs["unknown field"] = []byte(strings.Replace(text, `"priority":`, `"priorty": 1, "priority":`, 1))
	last := strings.LastIndex(text, `"priority":`)
	inputs["late unknown field"] = []byte(text[:last] + `"priorty": 1, ` + text[last:])
	inputs["duplicate"] = []byte(strings.Replace(text, `"name": "mlws/c1"`, `"name": "mlws/c0"`, 1))
	inputs["dangling reference"] = []byte(strings.Replace(text, `networkSecurityGroups/nsg1"`, `networkSecurityGroups/nsg99"`, 1))
	// Found after decoding, through the declarations by id: the second
	// inbound rule takes the first one's priority.
	inbound := regexp.MustCompile(`"direction": "Inbound",\s*"priority": (\d+),`).FindAllStringSubmatchIndex(text, 2)
	if len(inbound) < 2 {
		t.Fatal("the generated file has fewer than two inbound rules")
	}
	second := inbound[1]
	inputs["priority conflict"] = []byte(text[:second[2]] + text[inbound[0][2]:inbound[0][3]] + text[second[3]:])
	for name, data := range inputs {
		seq, par, seqErr, parErr := decodeBoth(t, data)
		if errText(seqErr) != errText(parErr) {
			t.Errorf("%s: one pass gives\n%v\nin chunks\n%v", name, seqErr, parErr)
		}
		if !reflect.DeepEqual(seq, par) {
			t.Errorf("%s: the snapshots differ", name)
		}
		if strings.HasPrefix(name, "testdata/") || name == "generated" {
			if seqErr != nil || par == nil || len(par.NetworkSecurityGroups) == 0 && name == "generated" {
				t.Errorf("%s: %v", name, seqErr)
			}
		} else if seqErr == nil {
			t.Errorf("%s: the broken file decoded", name)
		}
	}
}

// FuzzDecodeParallel: whatever the input, a decode in chunks answers as a
// decode in one pass does.
func FuzzDecodeParallel(f *testing.F) {
	addSeedFiles(f)
	f.Add([]byte(`{"subscription": "s", "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "resourceGroup": "r", "name": "n",` +
		` "properties": {"securityRules": [{"name": "a", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "*",` +
		` "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "*", "destinationPortRange": "80"}}]}},` +
		` {"type": "Microsoft.Network/networkSecurityGroups", "resourceGroup": "r", "name": "n"}, 7]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, par, seqErr, parErr := decodeBoth(t, data)
		if errText(seqErr) != errText(parErr) || !reflect.DeepEqual(seq, par) {
			t.Fatalf("one pass: %v\nin chunks: %v", seqErr, parErr)
		}
	})
}
