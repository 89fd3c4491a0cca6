package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"securetrain/internal/requirements"
)

// checkReport is the part of `check --format json` the tests read.
type checkReport struct {
	ServiceTags string
	Computes    []struct {
		Name     string
		ID       string
		Position string
		Type     string `json:"computeType"`
		PublicIP bool   `json:"enableNodePublicIp"`
		Status   string
		Summary  string
		Flows    []struct {
			Name, Direction, Protocol, Verdict string
			Port                               int
			Result                             struct {
				Verdict  string
				Outcomes []struct {
					Verdict string
					Hops    []struct{ Kind, Rule, Position string }
				}
			}
		}
		Findings []struct{ Code, Severity, Resource, Position, Message, Fix string }
	}
	Findings []struct{ Code, Severity string }
	Counts   struct{ Error, Warning, Info int }
}

func checkJSON(t *testing.T, args ...string) (int, checkReport) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"check", "--format", "json"}, args...)...)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", code, err, out, errs)
	}
	return code, rep
}

// The seed article's two working configurations pass every check (spec §2,
// §4, §5).
func TestCheckWorkingExamplesExitZero(t *testing.T) {
	for _, name := range []string{"cluster-public-ip.yaml", "instance-no-public-ip.yaml"} {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runCLI(t, "check", example(name))
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, "\n0 errors, ") {
				t.Errorf("totals line missing or not zero errors:\n%s", out)
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("colour written to a buffer:\n%q", out)
			}
			code, rep := checkJSON(t, example(name))
			if code != 0 || rep.Counts.Error != 0 || len(rep.Computes) == 0 {
				t.Fatalf("json: exit %d, %+v", code, rep.Counts)
			}
			for _, c := range rep.Computes {
				if c.Status == string(requirements.WillFail) || len(c.Flows) == 0 {
					t.Errorf("%s: status %q with %d flows", c.Name, c.Status, len(c.Flows))
				}
				if !strings.HasPrefix(out, c.Summary+"\n") && !strings.Contains(out, "\n"+c.Summary+"\n") {
					t.Errorf("text lacks the summary %q:\n%s", c.Summary, out)
				}
			}
		})
	}
}

// Spec §10 #6: an NSG denying outbound UDP 5831 makes the instance fail.
func TestCheckUDP5831BlockedText(t *testing.T) {
	file := example("broken/instance-udp-5831-blocked.yaml")
	code, out, errs := runCLI(t, "check", file)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	first, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, "ws1/myinstance: will fail — outbound UDP 5831 to AzureMachineLearning") ||
		!strings.Contains(first, "DenyAzureMachineLearningUdp") {
		t.Errorf("first line %q", first)
	}
	ruleLine := lineOf(t, file, "name: DenyAzureMachineLearningUdp")
	for _, want := range []string{
		"ws1/myinstance  will fail: ComputeInstance, no public IP, westus2, subnet mynetwork/default",
		"error   required-outbound-blocked: outbound UDP 5831 to AzureMachineLearning",
		"fix: ",
		"Denied   outbound UDP 5831 to AzureMachineLearning [error]",
		"rule DenyAzureMachineLearningUdp",
		"instance-udp-5831-blocked.yaml:" + strconv.Itoa(ruleLine) + "]",
		"Allowed  outbound TCP 443 to AzureActiveDirectory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "\n1 error, ") {
		t.Errorf("totals line:\n%s", out)
	}
}

func TestCheckJSONHasDeniedFlow(t *testing.T) {
	file := example("broken/instance-udp-5831-blocked.yaml")
	code, rep := checkJSON(t, file)
	if code != 1 || rep.Counts.Error < 1 || len(rep.Computes) != 1 {
		t.Fatalf("exit %d, counts %+v, %d computes", code, rep.Counts, len(rep.Computes))
	}
	if !strings.HasPrefix(rep.ServiceTags, "Public changeNumber 375") {
		t.Errorf("serviceTags %q", rep.ServiceTags)
	}
	c := rep.Computes[0]
	if c.Name != "ws1/myinstance" || c.Type != "ComputeInstance" || c.PublicIP || c.Status != "will fail" ||
		c.Position != file+":"+strconv.Itoa(lineOf(t, file, "type: Microsoft.MachineLearningServices/workspaces/computes")) {
		t.Errorf("compute %s %s publicIP=%v status %q at %q", c.Name, c.Type, c.PublicIP, c.Status, c.Position)
	}
	found := false
	for _, f := range c.Flows {
		if f.Direction != "outbound" || f.Protocol != "UDP" || f.Port != 5831 {
			continue
		}
		found = true
		if f.Verdict != "Denied" || f.Result.Verdict != "Denied" || len(f.Result.Outcomes) == 0 {
			t.Fatalf("flow %+v", f)
		}
		hops := f.Result.Outcomes[0].Hops
		if last := hops[len(hops)-1]; last.Kind != "nsg" || last.Rule != "DenyAzureMachineLearningUdp" || !strings.HasPrefix(last.Position, file+":") {
			t.Errorf("deciding hop %+v", last)
		}
	}
	if !found {
		t.Fatalf("no UDP 5831 flow in %+v", c.Flows)
	}
	var codes []string
	for _, f := range c.Findings {
		codes = append(codes, f.Code)
		if f.Code == "required-outbound-blocked" && (f.Severity != "error" || f.Fix == "" || f.Resource != c.ID) {
			t.Errorf("finding %+v", f)
		}
	}
	if !strings.Contains(strings.Join(codes, " "), "required-outbound-blocked") {
		t.Errorf("findings %v", codes)
	}
}

// sarifShape is the minimal SARIF 2.1.0 shape a consumer needs.
type sarifShape struct {
	Schema  string `json:"$schema"`
	Version string
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name, Version string
				Rules         []struct {
					ID                   string
					ShortDescription     struct{ Text string }
					FullDescription      struct{ Text string }
					Help                 struct{ Text string }
					DefaultConfiguration struct{ Level string }
					Properties           struct{ References string }
				}
			}
		}
		OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
		Results            []struct {
			RuleID    string
			RuleIndex *int
			Level     string
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct{ URI, URIBaseID string }
					Region           *struct{ StartLine int }
				}
			}
			LogicalLocations []struct{ FullyQualifiedName, Kind string }
		}
	}
}

func checkSARIF(t *testing.T, args ...string) (int, sarifShape) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"check", "--format", "sarif"}, args...)...)
	var log sarifShape
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", code, err, out, errs)
	}
	if log.Version != "2.1.0" || log.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || len(log.Runs) != 1 {
		t.Fatalf("version %q, schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "securetrain" || d.Version != version || len(d.Rules) != len(requirements.Rules) {
		t.Fatalf("driver %s %s with %d rules (requirements has %d)", d.Name, d.Version, len(d.Rules), len(requirements.Rules))
	}
	levels := map[string]bool{"error": true, "warning": true, "note": true}
	index := map[string]int{}
	for i, r := range d.Rules {
		rule := requirements.Rules[i]
		if r.ID != rule.Code || r.ShortDescription.Text != rule.Title || r.FullDescription.Text != rule.Meaning ||
			r.Help.Text != rule.Fix || r.Properties.References != strings.Join(rule.References, "; ") || !levels[r.DefaultConfiguration.Level] {
			t.Errorf("rule %d: %+v", i, r)
		}
		index[r.ID] = i
	}
	for _, r := range run.Results {
		i, ok := index[r.RuleID]
		if !ok || r.RuleIndex == nil || *r.RuleIndex != i {
			t.Errorf("result rule %q (index %v) is not in the driver's rules", r.RuleID, r.RuleIndex)
		}
		if !levels[r.Level] || r.Message.Text == "" || len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" {
			t.Errorf("result %+v", r)
		}
		if reg := r.Locations[0].PhysicalLocation.Region; reg != nil && reg.StartLine <= 0 {
			t.Errorf("result %s: startLine %d", r.RuleID, reg.StartLine)
		}
		if base := r.Locations[0].PhysicalLocation.ArtifactLocation.URIBaseID; base != "" && run.OriginalURIBaseIDs[base].URI == "" {
			t.Errorf("uriBaseId %q is not defined", base)
		}
	}
	return code, log
}

func TestCheckSARIF(t *testing.T) {
	file := example("broken/instance-udp-5831-blocked.yaml")
	code, log := checkSARIF(t, file)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	computeLine := lineOf(t, file, "type: Microsoft.MachineLearningServices/workspaces/computes")
	found := false
	for _, r := range log.Runs[0].Results {
		if r.RuleID != "required-outbound-blocked" || !strings.Contains(r.Message.Text, "UDP 5831") {
			continue
		}
		found = true
		loc := r.Locations[0].PhysicalLocation
		// The file is outside the current directory: an absolute file URI.
		if loc.ArtifactLocation.URI != "file://"+filepath.ToSlash(abs) || loc.ArtifactLocation.URIBaseID != "" {
			t.Errorf("artifact %+v, want file://%s", loc.ArtifactLocation, filepath.ToSlash(abs))
		}
		if loc.Region == nil || loc.Region.StartLine != computeLine {
			t.Errorf("region %+v, want line %d", loc.Region, computeLine)
		}
		if r.Level != "error" || !strings.Contains(r.Message.Text, " Fix: ") {
			t.Errorf("level %q, message %q", r.Level, r.Message.Text)
		}
		if len(r.LogicalLocations) != 1 || r.LogicalLocations[0].Kind != "resource" ||
			!strings.HasSuffix(r.LogicalLocations[0].FullyQualifiedName, "/workspaces/ws1/computes/myinstance") {
			t.Errorf("logical locations %+v", r.LogicalLocations)
		}
	}
	if !found {
		t.Fatalf("no UDP 5831 result in %+v", log.Runs[0].Results)
	}
}

// Run from the repository root, the artifact is relative to it.
func TestCheckSARIFRelativeURI(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	_, log := checkSARIF(t, filepath.Join("examples", "broken", "instance-udp-5831-blocked.yaml"))
	run := log.Runs[0]
	if len(run.Results) == 0 {
		t.Fatal("no results")
	}
	for _, r := range run.Results {
		a := r.Locations[0].PhysicalLocation.ArtifactLocation
		if a.URI != "examples/broken/instance-udp-5831-blocked.yaml" || a.URIBaseID != "%SRCROOT%" {
			t.Errorf("%s: artifact %+v", r.RuleID, a)
		}
	}
	if base := run.OriginalURIBaseIDs["%SRCROOT%"].URI; base != "file://"+filepath.ToSlash(root)+"/" {
		t.Errorf("%%SRCROOT%% = %q", base)
	}
}

func TestSARIFLocationHelpers(t *testing.T) {
	cwd := filepath.FromSlash("/work/repo")
	for path, want := range map[string]sarifArtifactLocation{
		"/work/repo/examples/a b.yaml": {URI: "examples/a%20b.yaml", URIBaseID: "%SRCROOT%"},
		"/work/other/env.yaml":         {URI: "file:///work/other/env.yaml"},
		"/work/repo/x:y/env.yaml":      {URI: "./x:y/env.yaml", URIBaseID: "%SRCROOT%"},
	} {
		if got := artifactLocation(filepath.FromSlash(path), cwd); got != want {
			t.Errorf("artifactLocation(%q) = %+v, want %+v", path, got, want)
		}
	}
}

func TestCheckOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.sarif")
	code, stdout, errs := runCLI(t, "check", example("broken/instance-udp-5831-blocked.yaml"), "--format", "sarif", "--output", out)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errs)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var log struct{ Version string }
	if err := json.Unmarshal(data, &log); err != nil || log.Version != "2.1.0" {
		t.Fatalf("%v: %s", err, data)
	}
	code, _, errs = runCLI(t, "check", "--output", out, example("instance-no-public-ip.yaml"))
	if data, _ := os.ReadFile(out); code != 0 || !strings.Contains(string(data), "myinstance: ") {
		t.Fatalf("exit %d (%s): %s", code, errs, data)
	}
	// The report is written under a temporary name and renamed: nothing
	// else is left beside it, and it is readable as os.WriteFile made it.
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || info.Mode().Perm() != 0o644 {
		t.Errorf("after --output: %d entries in the directory, mode %v", len(entries), info.Mode().Perm())
	}
}

func TestCheckBadInputExitTwo(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "env.yaml")
	if err := os.WriteFile(bad, []byte("subscription: 00000000-0000-0000-0000-000000000001\nresources:\n  - type: Microsoft.Network/bogus\n    resourceGroup: rg\n    name: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := example("cluster-public-ip.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", bad}, "env.yaml:3:"},
		{[]string{"check", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"check"}, "expected one environment file"},
		{[]string{"check", ok, ok}, "expected one environment file, got 2"},
		{[]string{"check", ok, "--format", "xml"}, "--format"},
		{[]string{"check", ok, "--nope"}, "nope"},
		{[]string{"check", ok, "--service-tags", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"check", ok, "--output", filepath.Join(dir, "no", "such", "dir", "r.txt")}, "--output"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", tc.args, code, errs, tc.want)
		}
		if out != "" {
			t.Errorf("%v: stdout %q", tc.args, out)
		}
	}
	if code, _, _ := runCLI(t, "check", "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// lineOf is the 1-based line of the first line of file containing s.
func lineOf(t *testing.T, file, s string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), s) {
			return n
		}
	}
	t.Fatalf("%s has no line containing %q", file, s)
	return 0
}

// docs/report.md's example decodes into the report's own types with no
// unknown field, and every field of those types is documented.
func TestReportDocMatchesStructs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	_, rest, ok := strings.Cut(doc, "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/report.md has no ```json example")
	}
	dec := json.NewDecoder(strings.NewReader(example))
	dec.DisallowUnknownFields()
	var rep requirements.Report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("the example does not decode into requirements.Report: %v", err)
	}
	if len(rep.Computes) != 1 || rep.Computes[0].Status != requirements.WillFail || rep.Counts.Errors != 1 ||
		len(rep.Computes[0].Flows) == 0 || rep.Computes[0].Flows[0].Result == nil {
		t.Errorf("example report %+v", rep)
	}
	for _, v := range []any{requirements.Report{}, requirements.ComputeReport{}, requirements.FlowCheck{}, requirements.Finding{}, requirements.Counts{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			if !typ.Field(i).IsExported() {
				continue
			}
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(doc, "| `"+name+"` |") && !strings.Contains(doc, "| `"+name+"`, ") && !strings.Contains(doc, ", `"+name+"` |") {
				t.Errorf("docs/report.md does not document %s.%s (%q)", typ.Name(), typ.Field(i).Name, name)
			}
		}
	}
	for _, s := range []requirements.Status{requirements.OK, requirements.Degraded, requirements.WillFail} {
		if !strings.Contains(doc, "| `"+string(s)+"` |") {
			t.Errorf("status %q is not documented", s)
		}
	}
}

// Colour follows the status; without colour there are no escapes.
func TestCheckTextColour(t *testing.T) {
	rep := &requirements.Report{Computes: []requirements.ComputeReport{
		{Name: "ws1/a", Status: requirements.OK, Summary: "a: ok"},
		{Name: "ws1/b", Status: requirements.Degraded, Summary: "b: works, with warnings"},
		{Name: "ws1/c", Status: requirements.WillFail, Summary: "c: will fail"},
	}}
	var b strings.Builder
	writeText := func(color bool) {
		t := textReport{color: color}
		for _, cr := range rep.Computes {
			t.add(cr)
		}
		t.finish(&b, rep)
	}
	writeText(true)
	for _, want := range []string{"\x1b[1;32ma: ok\x1b[0m\n", "\x1b[1;33mb: works, with warnings\x1b[0m\n", "\x1b[1;31mc: will fail\x1b[0m\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("coloured text lacks %q:\n%q", want, b.String())
		}
	}
	b.Reset()
	writeText(false)
	if strings.Contains(b.String(), "\x1b") || !strings.HasPrefix(b.String(), "a: ok\nb: works, with warnings\nc: will fail\n") {
		t.Errorf("plain text:\n%q", b.String())
	}
}

// `check --format json` writes the report one compute at a time as they
// are checked; the document must be byte for byte what encoding the whole
// report gives, with several computes, findings, and with none.
func TestCheckJSONStreamsTheSameDocument(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte(`{"subscription": "00000000-0000-0000-0000-000000000001", "resources": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{empty, example("cluster-public-ip-firewall.yaml"), example("broken/cluster-nsg-blocks-44224.yaml"), example("broken/instance-udp-5831-blocked.yaml")} {
		net, err := compileFile(file, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := requirements.Check(net, requirements.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var whole strings.Builder
		if err := writeJSON(&whole, rep); err != nil {
			t.Fatal(err)
		}
		_, streamed, errs := runCLI(t, "check", "--format", "json", file)
		if streamed != whole.String() {
			t.Errorf("%s: streamed JSON differs from the whole report's encoding (%s):\n%s\n---\n%s", file, errs, streamed, whole.String())
		}
	}
}
