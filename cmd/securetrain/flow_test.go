package main

import (
	"strings"
	"testing"
)

// TestFlowErrorsNameFlags: the verifier's errors name values; the CLI puts
// its flags on them (issue 11), so a user sees which flag to change.
func TestFlowErrorsNameFlags(t *testing.T) {
	env := example("cluster-public-ip.yaml")
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--from", "ws1/nope", "--to", "Storage"}, `--from: "ws1/nope" is neither a compute`},
		{[]string{"--from", "ws1/cpucluster", "--to", "10.0.0.0/33"}, `--to: "10.0.0.0/33" is not a valid CIDR`},
		{[]string{"--from", "pypi.org", "--to", "ws1/cpucluster"}, "--from pypi.org is a DNS name, which can only be a destination"},
		{[]string{"--from", "ws1/cpucluster", "--to", "2001:db8::1"}, "--to 2001:db8::1 is not IPv4"},
		{[]string{"--from", "ws1/cpucluster", "--to", "Storage", "--direction", "inbound"}, "--direction inbound does not fit"},
		{[]string{"--from", "ws1/cpucluster", "--to", "Storage", "--direction", "up"}, `--direction "up" must be one of outbound, inbound`},
		{[]string{"--from", "ws1/cpucluster", "--to", "Storage", "--protocol", "GRE"}, `--protocol: protocol "GRE" is not one of`},
		{[]string{"--from", "ws1/cpucluster", "--to", "Storage", "--port", "70000"}, "--port 70000 is outside 0-65535"},
		// Issue 16: a mistyped tag is not a DNS name answered "Allowed".
		{[]string{"--from", "ws1/cpucluster", "--to", "Storge.westus2"}, `--to: "Storge.westus2" is not a service tag of catalog Public changeNumber 375 (2025-11-06); did you mean Storage.WestUS2?`},
		{[]string{"--from", "ws1/cpucluster", "--to", "build.corp"}, ".corp is not a public top-level domain"},
	} {
		args := append([]string{"flow", env, "--port", "443"}, tc.args...)
		code, _, errs := runCLI(t, args...)
		if code != 2 || !strings.Contains(errs, tc.says) {
			t.Errorf("%v: exit %d, stderr %q; want it to say %q", tc.args, code, errs, tc.says)
		}
	}
}
