package requirements

import (
	"fmt"
	"strings"

	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// attachedFindings: Azure ML attaches Ubuntu VMs only and manages them over
// SSH from the AzureMachineLearning service tag (spec §4.6): inbound TCP 22
// must reach the VM's public IP.
func attachedFindings(n *netverify.Network, c *resources.Compute) []Finding {
	snap := n.Snapshot()
	if c.ComputeType == resources.ComputeHDInsight || c.ComputeType == resources.ComputeDatabricks {
		out := []Finding{finding("attached-compute-not-verified", c.Meta,
			"%s is an attached %s compute; securetrain does not model %s, so its network needs are not verified", c.ID.Name(), c.ComputeType, c.ResourceID.ID.Type())}
		// A Databricks workspace must share the ML workspace's subscription
		// (spec §4.6): the one rule its id alone decides.
		ws, _ := c.ID.Parent()
		if c.ComputeType == resources.ComputeDatabricks && !strings.EqualFold(c.ResourceID.ID.Subscription, ws.Subscription) {
			out = append(out, finding("databricks-other-subscription", c.Meta,
				"Databricks workspace %s is in subscription %s; the ML workspace %s is in subscription %s",
				c.ResourceID.ID.Name(), c.ResourceID.ID.Subscription, ws.Name(), ws.Subscription))
		}
		return out
	}
	if c.ComputeType != resources.ComputeVM {
		return nil
	}
	out := vmImageFindings(snap, c)
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
			res, err := n.Flow(netverify.Query{From: netverify.TagEndpoint("AzureMachineLearning"), To: netverify.AddressEndpoint(pip.Address),
				Protocol: netverify.TCP, Port: 22, MaxRanges: reportRanges})
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

// vmImageFindings: the attached VM must run Ubuntu. A VM outside the file,
// or from a custom image, cannot be told: that is said, not guessed.
func vmImageFindings(snap *resources.Snapshot, c *resources.Compute) []Finding {
	vm := snap.VirtualMachine(c.ResourceID.ID)
	if vm == nil {
		return []Finding{finding("attached-compute-not-verified", c.Meta,
			"virtual machine %s is not in the file, so its image (Azure ML attaches Ubuntu VMs only) is not verified", c.ResourceID.ID.Name())}
	}
	ubuntu, known := vm.IsUbuntu()
	switch {
	case !known:
		return []Finding{finding("attached-compute-not-verified", c.Meta,
			"virtual machine %s has no marketplace image reference, so whether it runs Ubuntu (Azure ML attaches Ubuntu VMs only) is not verified", vm.ID.Name())}
	case !ubuntu:
		image := strings.Trim(strings.Join([]string{vm.ImagePublisher, vm.ImageOffer, vm.ImageSKU}, "/"), "/")
		if image == "" {
			image = vm.OSType
		}
		f := finding("attached-vm-not-ubuntu", c.Meta, "virtual machine %s runs %s: Azure ML attaches Ubuntu VMs only", vm.ID.Name(), image)
		f.Fix = fmt.Sprintf("Attach an Ubuntu VM instead of %s (for example publisher Canonical, offer ubuntu-24_04-lts), or use a compute cluster.", vm.ID.Name())
		return []Finding{f}
	}
	return nil
}
