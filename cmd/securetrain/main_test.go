package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"securetrain/internal/servicetags"
)

func runCLI(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func example(name string) string { return filepath.Join("..", "..", "examples", name) }

func TestFlowAllowedExitZero(t *testing.T) {
	code, out, errs := runCLI(t, "flow", example("cluster-public-ip.yaml"), "--from", "ws1/cpucluster", "--to", "Storage.westus2", "--protocol", "TCP", "--port", "443")
	if code != 0 || !strings.HasPrefix(out, "Allowed: ws1/cpucluster -> Storage.westus2") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"AllowInternetOutBound", "0.0.0.0/0 -> Internet", "Public changeNumber 375 (2025-11-06)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFlowBlockedNamesRuleExitOne(t *testing.T) {
	code, out, _ := runCLI(t, "flow", "--from", "AzureMachineLearning", "--to", "ws1/cpucluster", "--protocol", "TCP", "--port", "44224",
		example("broken/cluster-nsg-blocks-44224.yaml"))
	if code != 1 || !strings.HasPrefix(out, "Denied") || !strings.Contains(out, "DenyInternetInbound") || !strings.Contains(out, "fix:") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "cluster-nsg-blocks-44224.yaml:") {
		t.Errorf("the blocking rule's file and line are missing:\n%s", out)
	}
}

func TestFlowJSON(t *testing.T) {
	code, out, errs := runCLI(t, "flow", example("broken/cluster-firewall-asymmetric.yaml"), "--from", "AzureMachineLearning",
		"--to", "ws1/gpucluster", "--protocol", "TCP", "--port", "44224", "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Verdict  string
		Query    struct{ Direction string }
		Outcomes []struct {
			Verdict string
			Hops    []struct{ Kind, Rule, NextHopType, NextHopIP string }
			Fix     string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Verdict != "AsymmetricRoute" || res.Query.Direction != "inbound" || len(res.Outcomes) != 1 {
		t.Fatalf("%+v", res)
	}
	hops := res.Outcomes[0].Hops
	last := hops[len(hops)-1]
	if last.Kind != "returnRoute" || last.Rule != "ToFirewall" || last.NextHopType != "VirtualAppliance" || last.NextHopIP != "10.0.1.4" {
		t.Errorf("last hop %+v", last)
	}
	if !strings.Contains(res.Outcomes[0].Fix, "AzureMachineLearning -> Internet") {
		t.Errorf("fix %q", res.Outcomes[0].Fix)
	}
}

func TestFlowBadInputExitTwo(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "env.yaml")
	if err := os.WriteFile(bad, []byte(`subscription: 00000000-0000-0000-0000-000000000001
resources:
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: v
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: default
          properties: {addressPrefix: 10.0.0.0/33}
  - type: Microsoft.Network/bogus
    resourceGroup: rg
    name: b
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "flow", bad, "--from", "10.0.0.4", "--to", "8.8.8.8", "--protocol", "TCP", "--port", "443")
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"env.yaml:11: subnet v/default:", `"10.0.0.0/33"`, "env.yaml:12:", "Microsoft.Network/bogus"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	for _, args := range [][]string{
		{"flow", example("cluster-public-ip.yaml"), "--from", "ws1/cpucluster", "--to", "Storage", "--protocol", "TCP"},
		{"flow", example("cluster-public-ip.yaml"), "--from", "ws1/nope", "--to", "Storage", "--protocol", "TCP", "--port", "1"},
		{"flow", example("cluster-public-ip.yaml"), "--from", "ws1/cpucluster", "--to", "Storage", "--protocol", "GRE", "--port", "1"},
		{"flow", example("cluster-public-ip.yaml"), "--from", "ws1/cpucluster", "--to", "Storage", "--port", "1", "--direction", "inbound"},
		{"flow", filepath.Join(dir, "missing.yaml"), "--from", "a", "--to", "b", "--port", "1"},
		{"flow", "--from", "a"},
		{"nosuchcommand"},
	} {
		if code, _, errs := runCLI(t, args...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestVersion: --version names the embedded catalog as it is (a catalog
// refresh changes the numbers, not the test).
func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	tags := servicetags.Default()
	want := fmt.Sprintf("embedded service tags: %s, %d tags, %d prefixes", tags.Version(), tags.Len(), tags.PrefixCount())
	if code != 0 || !strings.HasPrefix(out, "securetrain ") || !strings.Contains(out, want) || tags.Len() == 0 || tags.PrefixCount() == 0 {
		t.Fatalf("exit %d: %s\nwant a line with %q", code, out, want)
	}
}

// Issue 16: version says which build this is, from the build info Go
// records, not "dev".
func TestBuildVersion(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		linked string
		info   *debug.BuildInfo
		want   string
	}{
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"(devel), revision 0123456789ab with uncommitted changes, committed 2026-12-01T10:00:00Z"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"v2.0.0", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs[:2]}, "v2.0.0, revision 0123456789ab"},
		{"dev", nil, "dev"},
	} {
		if got := buildVersion(tc.linked, tc.info); got != tc.want {
			t.Errorf("buildVersion(%q, %+v) = %q, want %q", tc.linked, tc.info, got, tc.want)
		}
	}
}

// TestGenThenFlow: a generated environment (seed 1) is read by flow, which
// allows c0's HTTPS to Storage.WestUS2 by the default rule of both NSGs on
// the way — the UDR to AzureCloud.westus2 makes Storage part of
// VirtualNetwork (spec §8.1) — and exits 0.
func TestGenThenFlow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gen.json")
	if code, _, errs := runCLI(t, "gen", "--seed", "1", "--vnets", "3", "--subnets", "2", "--nsgs", "3", "--rules", "50", "--computes", "4", "-o", file); code != 0 {
		t.Fatalf("gen: %s", errs)
	}
	code, out, errs := runCLI(t, "flow", file, "--from", "mlws/c0", "--to", "Storage.WestUS2", "--protocol", "TCP", "--port", "443", "--format", "json")
	var res struct {
		Verdict  string
		Outcomes []struct {
			Verdict string
			Hops    []struct{ Detail string }
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s%s", err, out, errs)
	}
	if code != 0 || res.Verdict != "Allowed" || len(res.Outcomes) != 1 {
		t.Fatalf("exit %d, verdict %s, %d outcomes; want 0, Allowed, 1\n%s", code, res.Verdict, len(res.Outcomes), out)
	}
	var hops []string
	for _, h := range res.Outcomes[0].Hops {
		hops = append(hops, h.Detail)
	}
	path := strings.Join(hops, "\n")
	// AllowVnetOutBound matches Storage.WestUS2 because the route table of
	// c0's own subnet (vnet0/s0 uses rt-vnet0) routes AzureCloud.westus2,
	// which covers it: UDR prefixes widen VirtualNetwork only for the NICs
	// of the subnets whose route table holds them.
	for _, want := range []string{"NSG nsg0 default rule AllowVnetOutBound", "route rt-vnet0/route4 AzureCloud.westus2 -> Internet"} {
		if !strings.Contains(path, want) {
			t.Errorf("the path lacks %q:\n%s", want, path)
		}
	}
}

// specCitation matches what cites a document users do not have: the
// requirements digest's sections and paths, and issue numbers.
var specCitation = regexp.MustCompile(`§|spec/|shared/|azure-requirements|(?i)\bissue \d+`)

// TestUserTextCitesNoSpec: messages users see — every string literal of
// the non-test Go code (errors, finding texts, hop details, descriptions
// of created resources) and the docs — cite docs/ pages or Azure's
// article titles, never the internal digest (issue 11). Comments and
// tests may cite it.
func TestUserTextCitesNoSpec(t *testing.T) {
	eachStringLiteral(t, func(path string, lit *ast.BasicLit) {
		if specCitation.MatchString(lit.Value) {
			t.Errorf("%s: a string cites the spec: %s", path, lit.Value)
		}
	})
	root := filepath.Join("..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs: %v %v", docs, err)
	}
	for _, path := range append(docs, filepath.Join(root, "README.md")) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if specCitation.MatchString(line) {
				t.Errorf("%s:%d cites the spec: %s", path, i+1, line)
			}
		}
	}
}

// Issue 16: what the README's commands write into the working tree (the
// data directory with admin.token, reports, exports, backups) is ignored
// by git, so that it is not committed by accident.
func TestGitignoreCoversREADMEOutputs(t *testing.T) {
	readme := string(readFile(t, filepath.Join("..", "..", "README.md")))
	ignored := map[string]bool{}
	for _, line := range strings.Split(string(readFile(t, filepath.Join("..", "..", ".gitignore"))), "\n") {
		ignored[strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "/"), "/")] = true
	}
	written := regexp.MustCompile(`(?:-o|--output|--data) ([a-z0-9][A-Za-z0-9._-]*)|backup --data \S+ ([A-Za-z0-9._-]+)`)
	var outputs []string
	for _, m := range written.FindAllStringSubmatch(readme, -1) {
		outputs = append(outputs, m[1]+m[2])
	}
	for _, want := range []string{"securetrain-data", "check.sarif", "env.json", "securetrain-backup.db"} {
		if !slices.Contains(outputs, want) {
			t.Errorf("the README no longer writes %s; outputs found: %v", want, outputs)
		}
	}
	for _, out := range outputs {
		if !ignored[out] {
			t.Errorf("README writes %s, which .gitignore does not cover", out)
		}
	}
}
