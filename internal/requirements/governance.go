package requirements

import (
	"fmt"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

const computeType = "Microsoft.MachineLearningServices/workspaces/computes"

// governanceFindings: locks and policies on the VNet's resource group break
// what Azure ML does there (spec §4.1, §10 #9); a policy refuses the
// compute itself, or what Azure ML creates for it, as the server's
// admission does (the same evaluator).
func governanceFindings(snap *resources.Snapshot, c *resources.Compute, sn *resources.Subnet) []Finding {
	var out []Finding
	vnetRG := arm.ID{Subscription: sn.ID.Subscription, ResourceGroup: sn.ID.ResourceGroup}
	pip := c.EnableNodePublicIP
	for _, l := range snap.Locks {
		if !sameGroup(l.ID, vnetRG) || !pip {
			continue
		}
		switch {
		case l.Level == resources.LockReadOnly:
			out = append(out, finding("lock-on-vnet-resource-group", c.Meta,
				"resource group %s of VNet %s has the ReadOnly lock %s: Azure ML cannot create the NSG, load balancer and public IP of %s there",
				vnetRG.ResourceGroup, vnetName(sn), l.ID.Leaf(), c.ID.Name()))
		case c.ComputeType == resources.ComputeAml:
			out = append(out, finding("lock-on-vnet-resource-group", c.Meta,
				"resource group %s of VNet %s has the CanNotDelete lock %s: cluster %s cannot scale to 0 nodes or be deleted (its NSG, load balancer and public IP cannot be removed; the cluster stays \"resizing\")",
				vnetRG.ResourceGroup, vnetName(sn), l.ID.Leaf(), c.ID.Name()))
		default:
			f := finding("lock-on-vnet-resource-group", c.Meta,
				"resource group %s of VNet %s has the CanNotDelete lock %s: deleting %s will fail (its NSG, load balancer and public IP cannot be removed)",
				vnetRG.ResourceGroup, vnetName(sn), l.ID.Leaf(), c.ID.Name())
			f.Severity = Warning
			out = append(out, f)
		}
	}
	for _, pa := range snap.PolicyAssignments {
		if denied, why := pa.Denies(c.ID, computeType, c.Body); denied {
			out = append(out, finding("policy-denies-network-resources", c.Meta,
				"policy assignment %s refuses %s (%s), so it cannot be created (RequestDisallowedByPolicy)",
				assignmentName(pa), c.ID.Name(), why))
		}
		if aml, ok := resources.AzureMLResourcesFor(c); ok {
			var refused []string
			for _, r := range aml.Bodies() {
				if denied, why := pa.Denies(r.ID, r.ID.Type(), r.Body); denied {
					refused = append(refused, fmt.Sprintf("%s %s (%s)", r.ID.Type(), r.ID.Name(), why))
				}
			}
			if len(refused) > 0 {
				out = append(out, finding("policy-denies-network-resources", c.Meta,
					"policy assignment %s refuses %s, which Azure ML creates in resource group %s for public-IP compute %s (RequestDisallowedByPolicy)",
					assignmentName(pa), strings.Join(refused, "; "), aml.NSG.ResourceGroup, c.ID.Name()))
			}
		}
	}
	return out
}

func sameGroup(id, rg arm.ID) bool {
	return strings.EqualFold(id.Subscription, rg.Subscription) && strings.EqualFold(id.ResourceGroup, rg.ResourceGroup)
}

func assignmentName(pa *resources.PolicyAssignment) string {
	if pa.DisplayName != "" {
		return fmt.Sprintf("%s (%q)", pa.ID.Leaf(), pa.DisplayName)
	}
	return pa.ID.Leaf()
}

func vnetName(sn *resources.Subnet) string {
	p, _ := sn.ID.Parent()
	return p.Name()
}
