package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/certs"
)

// Issue 16: a wrong flag prints the error first, then one line pointing
// at --help, not the whole usage with the error buried under it.
func TestBadFlagErrorFirstThenHelpLine(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
		says string
	}{
		{"compute create", []string{"cpu", "--bogus"}, "flag provided but not defined: -bogus"},
		{"compute create", []string{"cpu", "--min-nodes", "zero"}, `invalid value "zero" for flag -min-nodes`},
		{"compute create", []string{"-g", "g", "-w", "w", "--subscription", "s"}, "expected one compute NAME, got 0 arguments"},
		{"check", nil, "expected one environment file, got 0 arguments"},
		{"apply", nil, "expected -f ENV and no other arguments"},
	} {
		code, out, errs := runCLI(t, append(strings.Fields(tc.cmd), tc.args...)...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != exitBadInput || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "securetrain "+tc.cmd+": "+tc.says) ||
			lines[1] != "Run 'securetrain "+tc.cmd+" --help' for its usage." {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant %q then the --help line", tc.args, code, errs, tc.says)
		}
	}
	// -h still prints the usage, and succeeds.
	if code, _, errs := runCLI(t, "compute", "create", "-h"); code != 0 || !strings.Contains(errs, "-min-nodes") {
		t.Errorf("-h: exit %d, %s", code, errs)
	}
}

// A server that is not running is named with its URL and how to start it.
func TestUnreachableServerSaysStartServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, errs := runCLI(t, "get", "/subscriptions/"+testSub, "--url", url, "--token", "t")
	if code != 1 || !strings.Contains(errs, "cannot reach the server at "+url) || !strings.Contains(errs, "securetrain serve") {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
}

// A shell that does not trust the server's CA is told which file to trust
// and how; --ca then works.
func TestUnknownCANamesTheCAFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	serveOn(t, serveConfig{dataDir: dir})
	code, _, errs := runCLI(t, "get", "/subscriptions/"+testSub+"/resourceGroups")
	for _, want := range []string{"signed by a CA this shell does not trust", "securetrain-data/ca.pem", "--ca", "SSL_CERT_FILE"} {
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errs)
		}
	}
	if code, out, errs := runCLI(t, "list", "/subscriptions/"+testSub+"/resourceGroups", "--ca", filepath.Join(dir, certs.CAFile)); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("with --ca: exit %d, %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "list", "/subscriptions/"+testSub+"/resourceGroups", "--ca", filepath.Join(dir, "admin.token")); code != exitBadInput || !strings.Contains(errs, "holds no PEM certificate") {
		t.Errorf("--ca of a non-PEM file: exit %d, %s", code, errs)
	}
}

// Deleting a resource group lists what goes with it and asks on a
// terminal; without one, --yes must say so; deleting nothing says "not
// found".
func TestDeleteResourceGroupConfirms(t *testing.T) {
	srv := startServer(t)
	rg := "/subscriptions/" + testSub + "/resourceGroups/rg"
	vnet := rg + "/providers/Microsoft.Network/virtualNetworks/vnet"
	// In order: the VNet needs its group (a map's order made this flaky).
	for _, put := range []struct{ path, body string }{{rg, `{"location":"westus2"}`},
		{vnet, `{"location":"westus2","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`}} {
		if _, err := srv.do("PUT", put.path, []byte(put.body)); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(text string, terminal bool) {
		old := askUser
		askUser = func() (io.Reader, bool) { return strings.NewReader(text), terminal }
		t.Cleanup(func() { askUser = old })
	}
	stillThere := func(what string) {
		t.Helper()
		if _, err := srv.do("GET", vnet, nil); err != nil {
			t.Fatalf("%s deleted the group's VNet: %v", what, err)
		}
	}
	answer("", false)
	code, out, errs := runCLI(t, "delete", rg)
	if code != exitBadInput || out != "" || !strings.Contains(errs, "deletes the 1 resource in it") || !strings.Contains(errs, "--yes") {
		t.Errorf("no terminal, no --yes: exit %d, %s%s", code, out, errs)
	}
	stillThere("no terminal, no --yes")
	answer("n\n", true)
	code, _, errs = runCLI(t, "delete", rg)
	if code != 1 || !strings.Contains(errs, vnet) || !strings.Contains(errs, "[y/N]") || !strings.Contains(errs, "nothing was deleted") {
		t.Errorf("answered no: exit %d, %s", code, errs)
	}
	stillThere("answering no")
	answer("y\n", true)
	code, out, errs = runCLI(t, "delete", rg)
	if code != 0 || !strings.Contains(out, "Deleted resource group rg and 1 resource in it\n  "+vnet) {
		t.Errorf("answered yes: exit %d, %s%s", code, out, errs)
	}
	if _, err := srv.do("GET", rg, nil); err == nil {
		t.Error("the group is still there")
	}
	for _, id := range []string{rg, vnet} {
		code, out, errs = runCLI(t, "delete", "--yes", id)
		if code != 1 || out != "" || !strings.Contains(errs, id+" not found") || !strings.Contains(errs, "nothing was deleted") {
			t.Errorf("delete of nothing (%s): exit %d, %s%s", id, code, out, errs)
		}
	}
}

// serve checks every flag before it creates the data directory, the store
// or the admin token.
func TestServeValidatesFlagsBeforeCreating(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		says string
		code int
	}{
		{[]string{"--listen", "127.0.0.1:70000"}, `--listen "127.0.0.1:70000" is not a host:port address`, exitBadInput},
		{[]string{"--listen", "127.0.0.1"}, `--listen "127.0.0.1" is not a host:port address`, exitBadInput},
		{[]string{"--tls-cert", "nope.pem", "--tls-key", "nope.key"}, "--tls-cert nope.pem, --tls-key nope.key", exitBadInput},
		{[]string{"--insecure-http", "--tls-cert", "a", "--tls-key", "b"}, "--insecure-http serves no TLS", exitBadInput},
		{[]string{"--check-timeout", "-1s"}, "--check-timeout -1s must not be negative", exitBadInput},
		{[]string{"--lease", "1s"}, "--lease 1s is too short: at least 3s", exitBadInput},
		{[]string{"--listen", busy.Addr().String()}, "--listen", 1},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		code, _, errs := runCLI(t, append([]string{"serve", "--data", dir}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.says) {
			t.Errorf("%v: exit %d, %s", tc.args, code, errs)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%v: the data directory was created (%v)", tc.args, err)
		}
	}
}

// Issue 16: an indentation mistake deep in a file is reported at its own
// line and column, not at the start of the enclosing block.
func TestCheckYAMLErrorAtTheMistake(t *testing.T) {
	file := writeFile(t, "env.yaml", `subscription: 00000000-0000-0000-0000-000000000001
resources:
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: rg
    name: vnet
    location: westus2
    properties:
      addressSpace:
        addressPrefixes: [10.0.0.0/16]
      subnets:
        - name: a
          properties:
            addressPrefix: 10.0.0.0/24
           routeTable: {id: x}
`)
	code, out, errs := runCLI(t, "check", file)
	if code != exitBadInput || out != "" || errs != file+":14:12: did not find expected key\n" {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// Issue 16: long work shows its stages on stderr when stderr is a
// terminal, and the report on stdout stays pure JSON; elsewhere stderr
// stays silent.
func TestProgressOnlyOnATerminal(t *testing.T) {
	for _, terminal := range []bool{true, false} {
		old := interactive
		interactive = func(io.Writer) bool { return terminal }
		code, out, errs := runCLI(t, "check", example("cluster-public-ip.yaml"), "--format", "json")
		interactive = old
		var rep map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
			t.Fatalf("terminal %v: exit %d, stdout is not the JSON report:\n%s", terminal, code, out)
		}
		stages := []string{"decoding ", "compiling ", "checking 1 compute", "writing the json report", "\r\x1b[K"}
		for _, s := range stages {
			if strings.Contains(errs, s) != terminal {
				t.Errorf("terminal %v: stderr %q; want %q shown only on a terminal", terminal, errs, s)
			}
		}
		if terminal && !strings.HasSuffix(errs, "\r\x1b[K") {
			t.Errorf("the progress line is not cleared before the result: %q", errs)
		}
	}
}
