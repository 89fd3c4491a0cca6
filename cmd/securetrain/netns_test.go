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
	serveOn(t, serveConfig{dataDir: filepath.Join(t.TempDir(), "data"), insecure: true, fabric: "netns", fabricInstance: instance, nodeDir: jobNodeDir(t)})
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

// TestNetnsJobStorageBlocked: on the seed's no-public-IP instance,
// `compute exec` runs in the node's namespace (its eth0 has the node's
// private address) with the command's exit code; an NSG rule denying
// storage added after the instance came up fails the next job in
// Preparing the way Azure's does (StorageMountError), naming the flow and
// the rule; nothing of the job ran.
func TestNetnsJobStorageBlocked(t *testing.T) {
	startNetnsServer(t)
	env := example("instance-no-public-ip.yaml")
	if code, out, errs := runCLI(t, "apply", "-f", env); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	code, out, errs := runCLI(t, "compute", "exec", "ws1/myinstance", "--subscription", testSub, "-g", "mlgroup", "--",
		"sh", "-c", "ip -4 -o addr show dev eth0; exit 3")
	if code != 3 || !regexp.MustCompile(`eth0\s+inet 10\.0\.0\.\d+/32`).MatchString(out) {
		t.Fatalf("exec in the instance's node: exit %d, want 3 and eth0 with the node's address\n%s%s", code, out, errs)
	}
	data, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "        - name: AllowStorage\n"
	deny := `        - name: DenyStorage
          properties: {priority: 115, direction: Outbound, access: Deny, protocol: Tcp,
                       sourceAddressPrefix: VirtualNetwork, sourcePortRange: "*",
                       destinationAddressPrefix: Storage.WestUS2, destinationPortRanges: ["443", "445"]}
`
	// Only the NSG is applied again: Azure checks a subnet's NSG when a
	// compute is created in it, not when the NSG changes later.
	var nsg string
	for _, part := range strings.Split(string(data), "\n  - type: ") {
		if strings.HasPrefix(part, "Microsoft.Network/networkSecurityGroups\n") {
			nsg = "subscription: 00000000-0000-0000-0000-000000000001\nresources:\n  - type: " + part
		}
	}
	broken := strings.Replace(nsg, anchor, deny+anchor, 1)
	if broken == nsg {
		t.Fatal("the example's NSG has no AllowStorage rule to put a deny before")
	}
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "broken.yaml", broken)); code != 0 {
		t.Fatalf("apply broken: %d\n%s%s", code, out, errs)
	}
	job := writeFile(t, "job.yml", "command: echo never runs\nenvironment: azureml:sklearn:1\ncompute: azureml:myinstance\n")
	code, out, errs = jobCLI(t, "create", "-f", job, "--name", "mount1", "--stream")
	if code != 1 || !strings.Contains(out, "status: Failed") {
		t.Fatalf("job create: exit %d, want 1 and Failed\n%s%s", code, out, errs)
	}
	mustContain(t, "the failure", errs, "StorageMountError", "Failed to mount storage", "to Storage.WestUS2", "DenyStorage")
	if strings.Contains(out, "never runs") {
		t.Errorf("the job ran: %s", out)
	}
}

// TestServeFabricFlag: an unknown fabric is refused before anything starts.
func TestServeFabricFlag(t *testing.T) {
	code, out, errs := runCLI(t, "serve", "--fabric", "kubernetes", "--data", filepath.Join(t.TempDir(), "data"))
	if code != exitBadInput || !strings.Contains(errs, `--fabric "kubernetes": use sim or netns`) {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// TestNetnsJobNamesRefusedFlow: behind the example's Azure Firewall, a
// node's processes resolve through its VNet's Azure DNS — `compute exec`
// sees nameserver 168.63.129.16 and getent answers the verifier's
// address for pypi.org — and a job that reaches pypi.org (allowed by the
// firewall's application rule) and then cloud.r-project.org (no rule)
// fails, its failure naming the refused flow and the firewall's default
// deny as the verifier explains it.
func TestNetnsJobNamesRefusedFlow(t *testing.T) {
	startNetnsServer(t)
	env := example("cluster-public-ip-firewall.yaml")
	for _, file := range []string{example("cluster-public-ip.yaml"), env} {
		if code, out, errs := runCLI(t, "apply", "-f", file); code != 0 {
			t.Fatalf("apply %s: %d\n%s%s", file, code, out, errs)
		}
	}
	if code, out, errs := computeCLI(t, "resize", "gpucluster", "--nodes", "1"); code != 0 {
		t.Fatalf("resize: exit %d\n%s%s", code, out, errs)
	}
	waitNodes(t, "gpucluster", "idle")
	_, flow, _ := runCLI(t, "flow", env, "--from", "ws1/gpucluster", "--to", "pypi.org", "--protocol", "TCP", "--port", "443")
	m := regexp.MustCompile(`dnsName pypi\.org: (\S+) `).FindStringSubmatch(flow)
	if m == nil {
		t.Fatalf("the verifier gives pypi.org no address:\n%s", flow)
	}
	code, out, errs := runCLI(t, "compute", "exec", "ws1/gpucluster", "--subscription", testSub, "-g", "mlgroup", "--",
		"sh", "-c", "grep nameserver /etc/resolv.conf; getent ahostsv4 pypi.org")
	if code != 0 || !strings.HasPrefix(out, "nameserver 168.63.129.16\n"+m[1]+" ") {
		t.Fatalf("exec in the node: exit %d, want Azure DNS and pypi.org at %s\n%s%s", code, m[1], out, errs)
	}

	// The job writes the client itself: local code would need the
	// workspace's storage account, which the example leaves out.
	indent := func(text string) string { return "  " + strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n  ") }
	job := writeFile(t, "job.yml", "command: |\n"+indent("cat > client.py <<'EOF'\n"+netnstest.TLSClient+"EOF\n"+
		"/usr/bin/python3 client.py pypi.org && /usr/bin/python3 client.py cloud.r-project.org")+
		"\nenvironment: azureml:sklearn:1\ncompute: azureml:gpucluster\n")
	code, out, errs = jobCLI(t, "create", "-f", job, "--name", "pkgs1", "--stream")
	if code != 1 || !strings.Contains(out, "status: Failed") {
		t.Fatalf("job create: exit %d, want 1 and Failed\n%s%s", code, out, errs)
	}
	mustContain(t, "the job's log", out, "pypi.org: securetrain-cloud public_site saw", "ConnectionResetError")
	t.Logf("the failure:\n%s", errs)
	mustContain(t, "the failure", errs, "UserError", "A firewall refused the flow TCP 10.0.0.", "-> cloud.r-project.org:443",
		"Azure Firewall fw1: no network or application rule matches, denied by default", "fix: add an application rule for cloud.r-project.org")
	if strings.Contains(errs, "-> pypi.org") {
		t.Errorf("the failure names the allowed flow to pypi.org:\n%s", errs)
	}
}
