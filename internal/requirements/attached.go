package requirements

import (
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// attachedFindings: Azure ML manages an attached VM over SSH from the
// AzureMachineLearning service tag (spec §4.6): inbound TCP 22 must reach
// the VM's public IP. The VM's OS (Ubuntu only) is not in the file.
func attachedFindings(n *netverify.Network, c *resources.Compute) []Finding {
	snap := n.Snapshot()
	if c.ComputeType == resources.ComputeHDInsight || c.ComputeType == resources.ComputeDatabricks {
		return []Finding{finding("attached-compute-not-verified", c.Meta,
			"%s is an attached %s compute; securetrain does not model %s, so its network needs are not verified", c.ID.Name(), c.ComputeType, c.ResourceID.ID.Type())}
	}
	if c.ComputeType != resources.ComputeVM {
		return nil
	}
	var out []Finding
	found := false
	for _, nic := range snap.NetworkInterfaces {
		if !nic.VirtualMachine.IsSet() || !nic.VirtualMachine.ID.Equal(c.ResourceID.ID) {
			continue
		}
		for _, ipc := range nic.IPConfigurations {
			if !ipc.PublicIP.IsSet() {
				continue
			}
			found = true
			pip := snap.PublicIPAddress(ipc.PublicIP.ID)
			if pip == nil || !pip.Address.IsValid() {
				out = append(out, finding("attached-compute-not-verified", c.Meta,
					"the address of public IP %s of %s is not in the file, so inbound SSH from AzureMachineLearning is not verified", ipc.PublicIP.ID.Name(), nic.ID.Name()))
				continue
			}
			res, err := n.Flow(netverify.Query{From: "AzureMachineLearning", To: pip.Address.String(), Protocol: "TCP", Port: 22, MaxRanges: reportRanges})
			if err != nil || res.Verdict == netverify.Allowed {
				continue
			}
			f := finding("attached-vm-ssh-blocked", c.Meta, "inbound TCP 22 from AzureMachineLearning to %s (%s) is %s",
				pip.Address, nic.ID.Name(), blocker(res))
			for _, o := range res.Outcomes {
				if o.Verdict != netverify.Allowed && o.Fix != "" {
					f.Fix = o.Fix
					break
				}
			}
			out = append(out, f)
		}
	}
	if !found {
		out = append(out, finding("attached-vm-ssh-blocked", c.Meta,
			"attached VM %s has no network interface with a public IP in the file (a NIC whose virtualMachine is %s): Azure ML reaches attached VMs over SSH from the AzureMachineLearning service tag",
			c.ID.Name(), c.ResourceID.ID.Name()))
	}
	return out
}
