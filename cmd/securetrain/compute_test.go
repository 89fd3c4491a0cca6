package main

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// computeEnv is the seed article's network: VNet mynetwork in mygroup,
// workspace ws1 in mlgroup (so the computes name --vnet-resource-group).
// Subnet default lets Azure ML in (TCP 44224, for public-IP computes) and
// has default outbound access; subnet blocked's NSG denies outbound UDP
// 5831 to AzureMachineLearning, which compute creation needs (spec §4.3).
// The workspace has no private endpoint.
const computeEnv = `subscription: 00000000-0000-0000-0000-000000000001
resources:
  - type: Microsoft.Resources/resourceGroups
    name: mygroup
    location: westus2
  - type: Microsoft.Resources/resourceGroups
    name: mlgroup
    location: westus2
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: mygroup
    name: nsg1
    location: westus2
    properties:
      securityRules:
        - name: AllowAzureMLInbound
          properties: {priority: 100, direction: Inbound, access: Allow, protocol: Tcp,
                       sourceAddressPrefix: AzureMachineLearning, sourcePortRange: "*",
                       destinationAddressPrefix: VirtualNetwork, destinationPortRange: "44224"}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: mygroup
    name: nsg-blocked
    location: westus2
    properties:
      securityRules:
        - name: AllowAzureMLInbound
          properties: {priority: 100, direction: Inbound, access: Allow, protocol: Tcp,
                       sourceAddressPrefix: AzureMachineLearning, sourcePortRange: "*",
                       destinationAddressPrefix: VirtualNetwork, destinationPortRange: "44224"}
        - name: DenyAzureMLUdp
          properties: {priority: 100, direction: Outbound, access: Deny, protocol: Udp,
                       sourceAddressPrefix: VirtualNetwork, sourcePortRange: "*",
                       destinationAddressPrefix: AzureMachineLearning, destinationPortRange: "5831"}
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: mygroup
    name: nsg-no-storage
    location: westus2
    properties:
      securityRules:
        - name: DenyAllOutbound
          properties: {priority: 4096, direction: Outbound, access: Deny, protocol: "*",
                       sourceAddressPrefix: "*", sourcePortRange: "*",
                       destinationAddressPrefix: "*", destinationPortRange: "*"}
  - type: Microsoft.Network/virtualNetworks
    resourceGroup: mygroup
    name: mynetwork
    location: westus2
    properties:
      addressSpace: {addressPrefixes: [10.0.0.0/16]}
      subnets:
        - name: default
          properties:
            addressPrefix: 10.0.0.0/24
            networkSecurityGroup: {id: /resourceGroups/mygroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}
        - name: blocked
          properties:
            addressPrefix: 10.0.1.0/24
            networkSecurityGroup: {id: /resourceGroups/mygroup/providers/Microsoft.Network/networkSecurityGroups/nsg-blocked}
        - name: delegated
          properties:
            addressPrefix: 10.0.2.0/24
            networkSecurityGroup: {id: /resourceGroups/mygroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}
            delegations: [{name: aci, properties: {serviceName: Microsoft.ContainerInstance/containerGroups}}]
        - name: no-storage
          properties:
            addressPrefix: 10.0.3.0/24
            networkSecurityGroup: {id: /resourceGroups/mygroup/providers/Microsoft.Network/networkSecurityGroups/nsg-no-storage}
  - type: Microsoft.MachineLearningServices/workspaces
    resourceGroup: mlgroup
    name: ws1
    location: westus2
    identity: {type: SystemAssigned}
    properties:
      friendlyName: ws1
      workspaceId: 6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b
`

// startComputeServer starts a server and applies computeEnv to it.
func startComputeServer(t *testing.T) *serverClient {
	t.Helper()
	srv := startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "env.yaml", computeEnv)); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	return srv
}

// computeCLI runs `securetrain compute ARGS…` in workspace ws1 (the
// workspace flags go last, as flags may follow the NAME).
func computeCLI(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(append([]string{"compute"}, args...), "--subscription", testSub, "-g", "mlgroup", "-w", "ws1")...)
}

// inSubnet is the seed sample's network placement, in the VNet's own group.
var inSubnet = []string{"--vnet-resource-group", "mygroup", "--vnet", "mynetwork", "--subnet", "default"}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// TestComputeSeedSamples runs the seed article's two SDK v1 samples as
// commands — a public-IP cluster (min 0, max 4) and a compute instance
// without public SSH, both in mygroup/mynetwork/default — and then the
// lifecycle: create again (found), list, resize and nodes, stop and
// start, delete.
func TestComputeSeedSamples(t *testing.T) {
	startComputeServer(t)

	code, out, errs := computeCLI(t, append([]string{"create", "cpucluster", "--type", "amlcompute", "--vm-size", "STANDARD_D2_V2",
		"--min-nodes", "0", "--max-nodes", "4"}, inSubnet...)...)
	if code != 0 {
		t.Fatalf("create cluster: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "create cluster", out, "Creating\n", "Succeeded\n", "AmlCompute wait for completion finished\n",
		"Minimum number of nodes requested have been provisioned\n", "provisioningState: Succeeded",
		"allocationState:   Steady", "0 current, 0 target (min 0, max 4)",
		"/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default")
	if strings.Index(out, "Creating") > strings.Index(out, "Succeeded") {
		t.Errorf("progress out of order:\n%s", out)
	}

	// The SDK sample's "Found existing cluster, use it.".
	code, out, errs = computeCLI(t, append([]string{"create", "cpucluster", "--type", "amlcompute"}, inSubnet...)...)
	if code != 0 || !strings.HasPrefix(out, "Found existing compute target cpucluster, using it.\n") || strings.Contains(out, "Creating") {
		t.Fatalf("create again: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "create again", out, "provisioningState: Succeeded")
	// Asking for another kind under the same name is refused, not reused.
	if code, out, errs := computeCLI(t, "create", "cpucluster", "--type", "computeinstance"); code != 1 || !strings.Contains(errs, "is a AmlCompute, not a ComputeInstance") {
		t.Errorf("create instance over a cluster: exit %d\n%s%s", code, out, errs)
	}

	code, out, errs = computeCLI(t, append([]string{"create", "myinstance", "--type", "computeinstance"}, inSubnet...)...)
	if code != 0 {
		t.Fatalf("create instance: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "create instance", out, "Creating\n", "Succeeded\n", "Running\n", "state:             Running")

	// The instance's body is the SDK's: SSH closed, in the subnet, with a
	// public IP (the sample does not turn it off).
	code, out, errs = computeCLI(t, "show", "myinstance")
	if code != 0 {
		t.Fatalf("show: exit %d\n%s%s", code, out, errs)
	}
	var shown computeBody
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show prints no compute: %v\n%s", err, out)
	}
	_ = json.Unmarshal([]byte(out), &raw)
	inner := raw["properties"].(map[string]any)["properties"].(map[string]any)
	if shown.Properties.ComputeType != "ComputeInstance" || !strings.EqualFold(shown.Location, "westus2") ||
		!reflect.DeepEqual(inner["sshSettings"], map[string]any{"sshPublicAccess": "Disabled"}) || inner["enableNodePublicIp"] != true {
		t.Errorf("show myinstance:\n%s", out)
	}

	code, out, errs = computeCLI(t, "list")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	for _, row := range []string{
		`(?m)^NAME\s+TYPE\s+VM SIZE\s+PROVISIONING\s+STATE\s+NODES$`,
		`(?m)^cpucluster\s+AmlCompute\s+STANDARD_D2_V2\s+Succeeded\s+Steady\s+0/0 \(min 0, max 4\)$`,
		`(?m)^myinstance\s+ComputeInstance\s+Standard_DS3_v2\s+Succeeded\s+Running\s+-$`,
	} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("list lacks a row matching %s:\n%s", row, out)
		}
	}

	code, out, errs = computeCLI(t, "resize", "cpucluster", "--nodes", "3")
	if code != 0 {
		t.Fatalf("resize: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "resize", out, "Resizing cpucluster to 3 nodes", "3 current, 3 target (min 0, max 4)", "allocationState:   Steady")

	code, out, errs = computeCLI(t, "nodes", "cpucluster")
	if code != 0 {
		t.Fatalf("nodes: exit %d\n%s%s", code, out, errs)
	}
	subnet := netip.MustParsePrefix("10.0.0.0/24")
	rows := regexp.MustCompile(`(?m)^(tvm-\d+)\s+(\S+)\s+(\S+):(\d+)\s+(\S+)$`).FindAllStringSubmatch(out, -1)
	if len(rows) != 3 {
		t.Fatalf("nodes: want 3 rows with a public IP:port, got %d:\n%s", len(rows), out)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		private, err := netip.ParseAddr(r[2])
		if err != nil || !subnet.Contains(private) || seen[r[2]] {
			t.Errorf("node %s: private IP %s is not a new address in %s", r[1], r[2], subnet)
		}
		seen[r[2]] = true
		if _, err := netip.ParseAddr(r[3]); err != nil {
			t.Errorf("node %s: public IP %q: %v", r[1], r[3], err)
		}
		if r[5] != "idle" {
			t.Errorf("node %s is %s, want idle", r[1], r[5])
		}
	}

	code, out, errs = computeCLI(t, "stop", "myinstance")
	if code != 0 {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "stop", out, "Stopping myinstance", "state:             Stopped")
	code, out, errs = computeCLI(t, "start", "myinstance")
	if code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "start", out, "Starting myinstance", "state:             Running")
	// stop and start are an instance's; a cluster resizes.
	if code, out, errs := computeCLI(t, "stop", "cpucluster"); code != 1 || !strings.Contains(errs, "BadRequest") {
		t.Errorf("stop a cluster: exit %d\n%s%s", code, out, errs)
	}

	code, out, errs = computeCLI(t, "delete", "myinstance")
	if code != 0 {
		t.Fatalf("delete: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "delete", out, "Deleting myinstance", "Deleted compute target myinstance")
	// Issue 16: deleting what is gone says so, rather than "Deleted".
	if code, out, errs := computeCLI(t, "delete", "myinstance"); code != 1 || strings.Contains(out, "Deleted") ||
		!strings.Contains(errs, "compute myinstance not found in workspace ws1: nothing was deleted") {
		t.Errorf("delete again: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := computeCLI(t, "show", "myinstance"); code != 1 || !strings.Contains(errs, "ResourceNotFound") {
		t.Errorf("show after delete: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := computeCLI(t, "list"); code != 0 || strings.Contains(out, "myinstance") || !strings.Contains(out, "cpucluster") {
		t.Errorf("list after delete: exit %d\n%s%s", code, out, errs)
	}
}

// TestComputeNoWaitAndSSH: --no-wait returns with the operation's URL
// and the compute finishes on its own; an instance with public SSH takes
// its key from @FILE into sshSettings; restart ends Running.
func TestComputeNoWaitAndSSH(t *testing.T) {
	srv := startComputeServer(t)
	code, out, errs := computeCLI(t, "create", "quickcluster", "--type", "amlcompute", "--no-wait")
	op, ok := strings.CutPrefix(strings.TrimSpace(out), "Creating\nnot waiting; the operation: ")
	if code != 0 || !ok || !strings.HasPrefix(op, "http") {
		t.Fatalf("create --no-wait: exit %d\n%s%s", code, out, errs)
	}
	// Found before it finishes, it is not waited for: its state is shown.
	if code, out, errs := computeCLI(t, "create", "quickcluster", "--type", "amlcompute"); code != 0 || !strings.Contains(out, "Found existing compute target quickcluster") {
		t.Errorf("create again: exit %d\n%s%s", code, out, errs)
	}
	// The operation URL printed is one a client can follow to the end.
	started := &response{header: http.Header{}}
	started.header.Set("Azure-AsyncOperation", op)
	started.header.Set("Retry-After-Ms", "10") // what the server sent with it
	if err := srv.await(started, "quickcluster"); err != nil {
		t.Fatalf("following %s: %v", op, err)
	}
	if code, out, errs = computeCLI(t, "show", "quickcluster"); code != 0 || !strings.Contains(out, `"provisioningState": "Succeeded"`) {
		t.Fatalf("quickcluster did not finish: exit %d\n%s%s", code, out, errs)
	}

	key := writeFile(t, "id.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA test@example\n")
	code, out, errs = computeCLI(t, append([]string{"create", "sshinstance", "--type", "computeinstance", "--ssh-public-access", "--admin-ssh-key", "@" + key}, inSubnet...)...)
	if code != 0 {
		t.Fatalf("create with SSH: exit %d\n%s%s", code, out, errs)
	}
	_, out, _ = computeCLI(t, "show", "sshinstance")
	mustContain(t, "show sshinstance", out, `"adminPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA test@example"`, `"sshPublicAccess": "Enabled"`)
	code, out, errs = computeCLI(t, "restart", "sshinstance")
	if code != 0 {
		t.Fatalf("restart: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "restart", out, "Restarting sshinstance", "state:             Running")
}

// TestComputeCreateBlockedFlowFails creates a cluster in a subnet whose
// NSG denies outbound UDP 5831 to AzureMachineLearning: the operation
// fails, and its details name the flow and the denying rule.
func TestComputeCreateBlockedFlowFails(t *testing.T) {
	startComputeServer(t)
	code, out, errs := computeCLI(t, "create", "blockedcluster", "--type", "amlcompute",
		"--vnet-resource-group", "mygroup", "--vnet", "mynetwork", "--subnet", "blocked")
	if code != 1 {
		t.Fatalf("create in a blocked subnet: exit %d, want 1\n%s%s", code, out, errs)
	}
	mustContain(t, "stdout", out, "Creating\n", "Failed\n", "provisioningState: Failed")
	mustContain(t, "stderr", errs, "securetrain compute create blockedcluster: ComputeUnusable: ")
	// One detail a line: the UDP 5831 flow and the rule that denies it.
	var detail string
	for _, line := range strings.Split(errs, "\n") {
		if strings.HasPrefix(line, "  - ") && strings.Contains(line, "5831") {
			detail = line
		}
	}
	if detail == "" || !strings.Contains(detail, "UDP") || !strings.Contains(detail, "DenyAzureMLUdp") {
		t.Errorf("no detail line names the UDP 5831 flow and rule DenyAzureMLUdp:\n%s", errs)
	}
	// The failed compute stays, as in Azure; create again says so.
	code, out, errs = computeCLI(t, "create", "blockedcluster", "--type", "amlcompute")
	if code != 1 || !strings.Contains(out, "Found existing compute target blockedcluster") || !strings.Contains(errs, "Failed") {
		t.Errorf("create a failed compute again: exit %d\n%s%s", code, out, errs)
	}
}

// TestComputeNoPublicIPNeedsPrivateEndpoint: Azure refuses a compute
// without public IP in a workspace without a private endpoint; the PUT's
// error is printed and nothing waits.
func TestComputeNoPublicIPNeedsPrivateEndpoint(t *testing.T) {
	startComputeServer(t)
	code, out, errs := computeCLI(t, append([]string{"create", "npipcluster", "--type", "amlcompute", "--no-public-ip"}, inSubnet...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	mustContain(t, "stderr", errs, "EnableNodePublicIp 'False' requires workspace private endpoint")
	if strings.Contains(out, "Creating") {
		t.Errorf("a refused PUT shows progress:\n%s", out)
	}
	if code, _, errs := computeCLI(t, "show", "npipcluster"); code != 1 || !strings.Contains(errs, "ResourceNotFound") {
		t.Errorf("the refused compute exists: exit %d %s", code, errs)
	}
}

// TestComputeNoPublicIPWithPrivateEndpoint: in the seed's no-public-IP
// network (workspace private endpoint, NAT gateway), a cluster without
// public IP gets nodes with a private address only.
func TestComputeNoPublicIPWithPrivateEndpoint(t *testing.T) {
	startServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", example("instance-no-public-ip.yaml")); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	code, out, errs := computeCLI(t, append([]string{"create", "npipcluster", "--type", "amlcompute", "--no-public-ip", "--min-nodes", "1", "--max-nodes", "2"}, inSubnet...)...)
	if code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errs)
	}
	mustContain(t, "create", out, "Minimum number of nodes requested have been provisioned", "1 current, 1 target (min 1, max 2)")
	code, out, errs = computeCLI(t, "nodes", "npipcluster")
	if code != 0 || !regexp.MustCompile(`(?m)^tvm-0000\s+10\.0\.0\.\d+\s+-\s+idle$`).MatchString(out) {
		t.Errorf("nodes: exit %d, want one idle node with a private IP only\n%s%s", code, out, errs)
	}
}

// TestComputeBadInput: unusable flags exit 2 naming the flag, before any
// request (no server runs here).
func TestComputeBadInput(t *testing.T) {
	t.Setenv("SECURETRAIN_TOKEN", "")
	t.Setenv("SECURETRAIN_SUBSCRIPTION", "")
	ws := []string{"--subscription", testSub, "-g", "mlgroup", "-w", "ws1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "c1", "--type", "kubernetes"}, `--type "kubernetes" must be amlcompute or computeinstance`},
		{[]string{"create", "c1"}, "--type is required"},
		{[]string{"create", "c1", "--type", "amlcompute", "--subnet", "default"}, "--subnet needs --vnet"},
		{[]string{"create", "c1", "--type", "amlcompute", "--vnet", "mynetwork"}, "--vnet needs --subnet"},
		{[]string{"create", "c1", "--type", "amlcompute", "--min-nodes", "3", "--max-nodes", "2"}, "--max-nodes 2 must be at least --min-nodes 3"},
		{[]string{"create", "c1", "--type", "amlcompute", "--min-nodes", "-1"}, "--min-nodes -1 must be 0 or more"},
		{[]string{"create", "c1", "--type", "computeinstance", "--max-nodes", "2"}, "--max-nodes applies to --type amlcompute only"},
		{[]string{"create", "c1", "--type", "amlcompute", "--no-public-ip"}, "--no-public-ip needs --vnet and --subnet"},
		{[]string{"create", "c1", "--type", "amlcompute", "--ssh-public-access"}, "--ssh-public-access needs --admin-ssh-key"},
		{[]string{"create", "c1", "--type", "computeinstance", "--admin-ssh-key", "@/nonexistent/key.pub"}, "--admin-ssh-key: reading the key"},
		{[]string{"create", "1c", "--type", "amlcompute"}, `compute name "1c" must start with a letter`},
		{[]string{"create", "a/b", "--type", "amlcompute"}, "only letters, digits and hyphens"},
		{[]string{"resize", "c1"}, "--nodes is required"},
		{[]string{"show"}, "expected one compute NAME"},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
	} {
		code, out, errs := runCLI(t, append(append([]string{"compute"}, tc.args...), ws...)...)
		if code != exitBadInput || !strings.Contains(errs, tc.want) {
			t.Errorf("compute %s: exit %d, want 2 and %q\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errs)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compute", "list", "-g", "g", "-w", "w"}, "--subscription is required"},
		{[]string{"compute", "list", "--subscription", "s", "-w", "w"}, "--resource-group (-g) is required"},
		{[]string{"compute", "list", "--subscription", "s", "-g", "g"}, "--workspace (-w) is required"},
		{[]string{"compute", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"compute"}, "usage: securetrain compute"},
	} {
		if code, out, errs := runCLI(t, tc.args...); code != exitBadInput || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, want 2 and %q\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errs)
		}
	}
	if code, _, _ := runCLI(t, "compute", "create", "-h"); code != 0 {
		t.Errorf("compute create -h: exit %d, want 0", code)
	}
}

// TestComputeCreateBody: the PUT bodies are the Azure SDK for Go's
// (shared/fixtures/arm-requests/amlcompute.put.json and
// computeinstance.put.json, with this command's values).
func TestComputeCreateBody(t *testing.T) {
	subnet := "/subscriptions/" + testSub + "/resourceGroups/rg-probe/providers/Microsoft.Network/virtualNetworks/vnet-aml/subnets/snet-compute"
	for _, tc := range []struct {
		kind string
		spec computeSpec
		want string
	}{
		{typeAmlCompute, computeSpec{location: "eastus", vmSize: "STANDARD_DS3_V2", subnetID: subnet, minNodes: 0, maxNodes: 4, idleSeconds: 120},
			`{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"enableNodePublicIp":false,"osType":"Linux","remoteLoginPortPublicAccess":"Disabled","scaleSettings":{"maxNodeCount":4,"minNodeCount":0,"nodeIdleTimeBeforeScaleDown":"PT120S"},"subnet":{"id":"` + subnet + `"},"vmPriority":"Dedicated","vmSize":"STANDARD_DS3_V2"}}}`},
		{typeComputeInstance, computeSpec{location: "eastus", vmSize: "STANDARD_DS3_V2", subnetID: subnet, sshKey: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== probe@example"},
			`{"location":"eastus","properties":{"computeType":"ComputeInstance","properties":{"enableNodePublicIp":false,"sshSettings":{"adminPublicKey":"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== probe@example","sshPublicAccess":"Disabled"},"subnet":{"id":"` + subnet + `"},"vmSize":"STANDARD_DS3_V2"}}}`},
		{typeAmlCompute, computeSpec{location: "westus2", vmSize: "Standard_DS3_v2", publicIP: true, sshPublic: true, sshKey: "ssh-ed25519 AAAA k", maxNodes: 2, idleSeconds: 1800},
			`{"location":"westus2","properties":{"computeType":"AmlCompute","properties":{"enableNodePublicIp":true,"osType":"Linux","remoteLoginPortPublicAccess":"Enabled","scaleSettings":{"maxNodeCount":2,"minNodeCount":0,"nodeIdleTimeBeforeScaleDown":"PT1800S"},"userAccountCredentials":{"adminUserName":"azureuser","adminUserSshPublicKey":"ssh-ed25519 AAAA k"},"vmPriority":"Dedicated","vmSize":"Standard_DS3_v2"}}}`},
	} {
		got, err := json.Marshal(computeCreateBody(tc.kind, tc.spec))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%s body:\n got %s\nwant %s", tc.kind, got, tc.want)
		}
	}
}

// Issue 16: compute create refuses, before any operation starts, what
// Azure refuses at create time and check reports: a cluster at zero nodes
// in a delegated subnet, a bad name, a VNet in another region, a subnet
// whose NSG denies Storage 443 and 445 (Azure lists the missing rules).
func TestComputeCreateRefusedAtCreateTime(t *testing.T) {
	startComputeServer(t)
	cluster := []string{"--type", "amlcompute", "--vm-size", "Standard_DS3_v2", "--min-nodes", "0", "--max-nodes", "4", "--vnet-resource-group", "mygroup", "--vnet", "mynetwork"}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{append([]string{"create", "cpu-delegated", "--subnet", "delegated"}, cluster...), "is delegated to Microsoft.ContainerInstance/containerGroups"},
		{append([]string{"create", "cluster-name-too-long-for-azure", "--subnet", "default"}, cluster...), "must be 2–16 letters, digits and hyphens"},
		{append([]string{"create", "cpu-far", "--subnet", "default", "--location", "eastus"}, cluster...), "is in region eastus, but its subnet"},
		{append([]string{"create", "cpu-no-storage", "--subnet", "no-storage"}, cluster...),
			`network security group (nsg-no-storage) that is missing the following rules; add them, or give the existing ones a higher priority (a lower number) to allow the traffic: "Outbound Storage 443"`},
		{[]string{"create", "ci-no-storage", "--type", "computeinstance", "--vm-size", "Standard_DS3_v2", "--vnet-resource-group", "mygroup", "--vnet", "mynetwork", "--subnet", "no-storage"},
			"Storage OR Internet OR Storage.westus2 port 445, priority higher than 4096"},
	} {
		code, out, errs := computeCLI(t, tc.args...)
		if code != 1 || !strings.Contains(errs, tc.says) || strings.Contains(out, "Succeeded") {
			t.Errorf("%v: exit %d\n%s%s", tc.args[1], code, out, errs)
		}
		if code, _, _ := computeCLI(t, "show", tc.args[1]); code != 1 {
			t.Errorf("%s was created", tc.args[1])
		}
	}
}
