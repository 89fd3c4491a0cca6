package requirements

import (
	"strings"
	"testing"
)

// vmEnv: an attached VM compute, its NIC in subnet s with a public IP, and
// the subnet NSG's rules given by the test.
func vmEnv(rules string, withPublicIP bool) []byte {
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
	return build(map[string]string{"EXTRA": extra, "COMPUTES": vm,
		"SUBNET": "networkSecurityGroup: {id: /resourceGroups/netgroup/providers/Microsoft.Network/networkSecurityGroups/nsg1}"})
}

func TestAttachedVMSSH(t *testing.T) { // spec §4.6: inbound 22 from AzureMachineLearning
	allow := `{name: AmlSsh, properties: {priority: 100, direction: Inbound, access: Allow, protocol: "*", sourceAddressPrefix: AzureMachineLearning, sourcePortRange: "*", destinationAddressPrefix: "*", destinationPortRange: "22"}}`
	if rep := checkData(t, "env.yaml", vmEnv(allow, true)); hasCode(rep, "attached-vm-ssh-blocked", Error) != nil {
		t.Errorf("allowed SSH reported: %v", codes(rep))
	}
	f := hasCode(checkData(t, "env.yaml", vmEnv("", true)), "attached-vm-ssh-blocked", Error)
	if f == nil || !strings.Contains(f.Message, "DenyAllInBound") || !strings.Contains(f.Message, "20.30.40.50") {
		t.Errorf("SSH denied by the default rule not reported: %+v", f)
	}
	if f := hasCode(checkData(t, "env.yaml", vmEnv(allow, false)), "attached-vm-ssh-blocked", Error); f == nil || !strings.Contains(f.Message, "no network interface with a public IP") {
		t.Errorf("VM without public IP not reported: %+v", f)
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
