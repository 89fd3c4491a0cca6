package requirements

import (
	"strings"
	"testing"
)

// ubuntuImage is the storageProfile of an Ubuntu 24.04 marketplace VM.
const ubuntuImage = "{imageReference: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server, version: latest}, osDisk: {osType: Linux, createOption: FromImage}}"

// vmEnv: an attached VM compute, its NIC in subnet s with a public IP, and
// the subnet NSG's rules given by the test; the VM itself with the given
// storageProfile, or not in the file when it is empty.
func vmEnv(rules string, withPublicIP bool, storageProfile string) []byte {
	pip := ""
	if withPublicIP {
		pip = "\n            publicIPAddress: {id: /resourceGroups/netgroup/providers/Microsoft.Network/publicIPAddresses/vm-pip}"
	}
	extra := `
  - type: Microsoft.Network/networkSecurityGroups
    resourceGroup: netgroup
    name: nsg1
    location: westus2
    properties: {securityRules: [` + rules + `]}
  - type: Microsoft.Network/publicIPAddresses
    resourceGroup: netgroup
    name: vm-pip
    location: westus2
    properties: {ipAddress: 20.30.40.50}
  - type: Microsoft.Network/networkInterfaces
    resourceGroup: netgroup
    name: vm1-nic
    location: westus2
    properties:
      virtualMachine: {id: /resourceGroups/netgroup/providers/Microsoft.Compute/virtualMachines/vm1}
      ipConfigurations:
        - name: ipc
          properties:
            privateIPAddress: 10.0.0.10
            subnet: {id: /resourceGroups/netgroup/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/s}` + pip
	vm := `
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: mlgroup
    name: ws1/vm1
    location: westus2
    properties: {computeType: VirtualMachine, resourceId: /resourceGroups/netgroup/providers/Microsoft.Compute/virtualMachines/vm1}`
	if storageProfile != "" {
		vm += `
  - type: Microsoft.Compute/virtualMachines
    resourceGroup: netgroup
    name: vm1
    location: westus2
    properties: {hardwareProfile: {vmSize: Standard_D2s_v3}, storageProfile: ` + storageProfile + `}`
	}
	return build(map[string]string{"EXTRA": extra, "COMPUTES": vm,
		"SUBNET": "networkSecurityGroup: {id: /resourceGroups/netgroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}"})
}

func TestAttachedVMSSH(t *testing.T) { // spec §4.6: inbound 22 from AzureMachineLearning
	allow := `{name: AmlSsh, properties: {priority: 100, direction: Inbound, access: Allow, protocol: "*", sourceAddressPrefix: AzureMachineLearning, sourcePortRange: "*", destinationAddressPrefix: "*", destinationPortRange: "22"}}`
	if rep := checkData(t, "env.yaml", vmEnv(allow, true, ubuntuImage)); hasCode(rep, "attached-vm-ssh-blocked", Error) != nil {
		t.Errorf("allowed SSH reported: %v", codes(rep))
	}
	f := hasCode(checkData(t, "env.yaml", vmEnv("", true, ubuntuImage)), "attached-vm-ssh-blocked", Error)
	if f == nil || !strings.Contains(f.Message, "DenyAllInBound") || !strings.Contains(f.Message, "20.30.40.50") {
		t.Errorf("SSH denied by the default rule not reported: %+v", f)
	}
	if f := hasCode(checkData(t, "env.yaml", vmEnv(allow, false, ubuntuImage)), "attached-vm-ssh-blocked", Error); f == nil || !strings.Contains(f.Message, "no network interface with a public IP") {
		t.Errorf("VM without public IP not reported: %+v", f)
	}
}

func TestAttachedVMUbuntuOnly(t *testing.T) { // spec §4.6: Ubuntu only
	allow := `{name: AmlSsh, properties: {priority: 100, direction: Inbound, access: Allow, protocol: "*", sourceAddressPrefix: AzureMachineLearning, sourcePortRange: "*", destinationAddressPrefix: "*", destinationPortRange: "22"}}`
	rep := checkData(t, "env.yaml", vmEnv(allow, true, ubuntuImage))
	if rep.HasErrors() || hasCode(rep, "attached-compute-not-verified", Info) != nil {
		t.Errorf("an Ubuntu VM reachable over SSH is not clean: %v", codes(rep))
	}
	for _, tc := range []struct{ name, profile, want string }{
		{"windows marketplace", "{imageReference: {publisher: MicrosoftWindowsServer, offer: WindowsServer, sku: 2022-datacenter}, osDisk: {osType: Windows}}", "MicrosoftWindowsServer/WindowsServer/2022-datacenter"},
		{"other linux", "{imageReference: {publisher: RedHat, offer: RHEL, sku: 9-lvm-gen2}, osDisk: {osType: Linux}}", "RedHat/RHEL/9-lvm-gen2"},
		{"windows custom image", "{imageReference: {id: /subscriptions/s/resourceGroups/img/providers/Microsoft.Compute/images/win}, osDisk: {osType: Windows}}", "runs Windows"},
	} {
		f := hasCode(checkData(t, "env.yaml", vmEnv(allow, true, tc.profile)), "attached-vm-not-ubuntu", Error)
		if f == nil || !strings.Contains(f.Message, tc.want) || f.Fix == "" {
			t.Errorf("%s: not reported as non-Ubuntu: %+v", tc.name, f)
		}
	}
	// Not decidable: said as info, never guessed.
	custom := "{imageReference: {id: /subscriptions/s/resourceGroups/img/providers/Microsoft.Compute/images/golden}, osDisk: {osType: Linux}}"
	for name, profile := range map[string]string{"custom linux image": custom, "VM not in the file": ""} {
		rep := checkData(t, "env.yaml", vmEnv(allow, true, profile))
		if hasCode(rep, "attached-vm-not-ubuntu", Error) != nil || hasCode(rep, "attached-compute-not-verified", Info) == nil {
			t.Errorf("%s: want attached-compute-not-verified only, got %v", name, codes(rep))
		}
	}
}

func TestAttachedHDInsightNotVerified(t *testing.T) { // spec §4.6
	hdi := `
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: mlgroup
    name: ws1/hdi
    location: westus2
    properties: {computeType: HDInsight, resourceId: /resourceGroups/netgroup/providers/Microsoft.HDInsight/clusters/hdi1}`
	rep := checkData(t, "env.yaml", build(map[string]string{"COMPUTES": hdi}))
	if f := hasCode(rep, "attached-compute-not-verified", Info); f == nil || !strings.Contains(f.Message, "HDInsight") {
		t.Errorf("HDInsight not flagged as unverified: %v", codes(rep))
	}
	if rep.HasErrors() {
		t.Errorf("errors for an attached HDInsight compute: %v", codes(rep))
	}
}

func TestAttachedDatabricksSubscription(t *testing.T) { // spec §4.6: same subscription
	dbx := func(id string) []byte {
		return build(map[string]string{"COMPUTES": `
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: mlgroup
    name: ws1/dbx
    location: westus2
    properties: {computeType: Databricks, resourceId: ` + id + `}`})
	}
	same := checkData(t, "env.yaml", dbx("/resourceGroups/dbx/providers/Microsoft.Databricks/workspaces/dbx1"))
	if same.HasErrors() || hasCode(same, "attached-compute-not-verified", Info) == nil {
		t.Errorf("same-subscription Databricks: %v", codes(same))
	}
	other := checkData(t, "env.yaml", dbx("/subscriptions/99999999-0000-0000-0000-000000000009/resourceGroups/dbx/providers/Microsoft.Databricks/workspaces/dbx1"))
	if f := hasCode(other, "databricks-other-subscription", Error); f == nil || !strings.Contains(f.Message, "99999999-0000-0000-0000-000000000009") {
		t.Errorf("other-subscription Databricks not reported: %v", codes(other))
	}
}
