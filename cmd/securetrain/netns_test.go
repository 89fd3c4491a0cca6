//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"securetrain/internal/fabric/netns"
	"securetrain/internal/fabric/netns/netnstest"
)

// startNetnsServer runs serve with --fabric netns under a fresh instance
// name, and checks at the end that the server removed everything it
// created and touched nothing on the host (namespaces, links, nftables
// tables counted before and after).
func startNetnsServer(t *testing.T) string {
	t.Helper()
	netnstest.RequireRoot(t)
	instance := fmt.Sprintf("t%d", time.Now().UnixNano()%1_000_000_000)
	netnstest.NoLeaks(t, netns.NamePrefix+instance+"-") // registered first: checked after serve stops
	serveOn(t, serveConfig{dataDir: filepath.Join(t.TempDir(), "data"), insecure: true, fabric: "netns", fabricInstance: instance})
	t.Setenv("SECURETRAIN_SUBSCRIPTION", "")
	return instance
}

// TestNetnsSeedCluster: the seed's public-IP cluster comes up on the netns
// fabric: its nodes are idle because every required flow passed as real
// packets (TCP and UDP 5831 to the emulated services, 44224 in through the
// load balancer), and `fabric status` shows their namespaces.
func TestNetnsSeedCluster(t *testing.T) {
	instance := startNetnsServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", example("cluster-public-ip.yaml")); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	start := time.Now()
	code, out, errs := computeCLI(t, "resize", "cpucluster", "--nodes", "2")
	if code != 0 {
		t.Fatalf("resize: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("2 nodes from 0 to ready with real probes in %v", time.Since(start))
	mustContain(t, "resize", out, "2 current, 2 target")
	code, out, errs = computeCLI(t, "nodes", "cpucluster")
	if rows := regexp.MustCompile(`(?m)^tvm-\d+\s+10\.0\.0\.\d+\s+\S+:\d+\s+idle$`).FindAllString(out, -1); code != 0 || len(rows) != 2 {
		t.Fatalf("nodes: exit %d, want 2 idle nodes\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "fabric", "status", "--instance", instance)
	if code != 0 || !strings.Contains(out, "4 namespaces") || !strings.Contains(out, "st-uplink 169.254.0.2/32") {
		t.Errorf("fabric status: want the cloud, a router and 2 nodes… exit %d\n%s%s", code, out, errs)
	}
}

// TestNetnsInstanceNSGBreaksAndHeals: the seed's no-public-IP instance
// reaches its services through the NAT gateway. An NSG rule denying UDP
// 5831, written through the API, makes it unusable without any other
// operation: the engine learns of the write and probes the node again;
// the node's errors name the flow and the rule. Restoring the rule brings
// it back to idle, again by itself.
func TestNetnsInstanceNSGBreaksAndHeals(t *testing.T) {
	startNetnsServer(t)
	env := example("instance-no-public-ip.yaml")
	if code, out, errs := runCLI(t, "apply", "-f", env); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	code, out, errs := computeCLI(t, "show", "myinstance")
	if code != 0 || !strings.Contains(out, `"state": "Running"`) {
		t.Fatalf("show: exit %d\n%s%s", code, out, errs)
	}
	data, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	// The rule that allows UDP 5831 to AzureMachineLearning, turned into
	// a deny.
	allow := "AllowAzureMachineLearningUdp\n          properties: {priority: 100, direction: Outbound, access: Allow"
	broken := strings.Replace(string(data), allow, strings.Replace(allow, "access: Allow", "access: Deny", 1), 1)
	if broken == string(data) {
		t.Fatal("the example's NSG has no securityRules to add to")
	}
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "broken.yaml", broken)); code != 0 {
		t.Fatalf("apply broken: %d\n%s%s", code, out, errs)
	}
	out = waitNodes(t, "myinstance", "unusable")
	mustContain(t, "nodes with UDP 5831 denied", out, "UDP 5831", "AllowAzureMachineLearningUdp")
	code, out, errs = computeCLI(t, "show", "myinstance")
	if code != 0 || !strings.Contains(out, `"state": "Unusable"`) || !strings.Contains(out, "UDP 5831") {
		t.Errorf("show with UDP 5831 denied: exit %d, want Unusable naming the flow\n%s%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "apply", "-f", env); code != 0 {
		t.Fatalf("apply fixed: %d\n%s%s", code, out, errs)
	}
	waitNodes(t, "myinstance", "idle")
	code, out, errs = computeCLI(t, "show", "myinstance")
	if code != 0 || !strings.Contains(out, `"state": "Running"`) || strings.Contains(out, "UDP 5831") {
		t.Errorf("show after the fix: exit %d, want Running without errors\n%s%s", code, out, errs)
	}
}

// waitNodes lists a compute's nodes until one is in state, and returns
// the listing. The engine re-probes by itself, a moment after the write.
func waitNodes(t *testing.T, compute, state string) string {
	t.Helper()
	row := regexp.MustCompile(`(?m)^tvm-\d+\s.*\b` + state + `\b`)
	var out, errs string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var code int
		code, out, errs = computeCLI(t, "nodes", compute)
		if code == 0 && row.MatchString(out) {
			return out
		}
	}
	t.Fatalf("no node of %s became %s within a minute:\n%s%s", compute, state, out, errs)
	return ""
}

// TestServeFabricFlag: an unknown fabric is refused before anything starts.
func TestServeFabricFlag(t *testing.T) {
	code, out, errs := runCLI(t, "serve", "--fabric", "kubernetes", "--data", filepath.Join(t.TempDir(), "data"))
	if code != exitBadInput || !strings.Contains(errs, `--fabric "kubernetes": use sim or netns`) {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}
