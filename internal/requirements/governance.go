package requirements

import (
	"fmt"
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// createdTypes are the types Azure ML creates in the VNet's resource group
// for a compute with a public IP (spec §4.2).
var createdTypes = []string{"Microsoft.Network/networkSecurityGroups", "Microsoft.Network/loadBalancers", "Microsoft.Network/publicIPAddresses"}

// governanceFindings: locks and policies on the VNet's resource group break
// what Azure ML does there (spec §4.1, §10 #9).
func governanceFindings(snap *resources.Snapshot, c *resources.Compute, sn *resources.Subnet) []Finding {
	var out []Finding
	vnetRG := arm.ID{Subscription: sn.ID.Subscription, ResourceGroup: sn.ID.ResourceGroup}
	wsRG := arm.ID{Subscription: c.Workspace.Subscription, ResourceGroup: c.Workspace.ResourceGroup}
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
		if !pa.Enforced || !strings.EqualFold(pa.PolicyDefinitionID, resources.NotAllowedResourceTypesPolicy) {
			continue
		}
		if pip && applies(pa, vnetRG) {
			if denied := deniedTypes(pa, createdTypes); len(denied) > 0 {
				out = append(out, finding("policy-denies-network-resources", c.Meta,
					"policy assignment %s forbids %s in resource group %s, which Azure ML creates there for public-IP compute %s (RequestDisallowedByPolicy)",
					assignmentName(pa), strings.Join(denied, ", "), vnetRG.ResourceGroup, c.ID.Name()))
			}
		}
		if applies(pa, wsRG) {
			if denied := deniedTypes(pa, []string{"Microsoft.MachineLearningServices/workspaces/computes"}); len(denied) > 0 {
				out = append(out, finding("policy-denies-network-resources", c.Meta,
					"policy assignment %s forbids %s in resource group %s, so %s cannot be created (RequestDisallowedByPolicy)",
					assignmentName(pa), denied[0], wsRG.ResourceGroup, c.ID.Name()))
			}
		}
	}
	return out
}

func sameGroup(id, rg arm.ID) bool {
	return strings.EqualFold(id.Subscription, rg.Subscription) && strings.EqualFold(id.ResourceGroup, rg.ResourceGroup)
}

// applies reports whether an assignment covers a resource group: assigned
// to it or to its subscription, and the group not excluded.
func applies(pa *resources.PolicyAssignment, rg arm.ID) bool {
	if !strings.EqualFold(pa.Scope.Subscription, rg.Subscription) {
		return false
	}
	if !pa.SubscriptionScope && !strings.EqualFold(pa.Scope.ResourceGroup, rg.ResourceGroup) {
		return false
	}
	return !slices.ContainsFunc(pa.NotScopes, func(ns arm.ID) bool { return ns.Provider == "" && sameGroup(ns, rg) })
}

func deniedTypes(pa *resources.PolicyAssignment, types []string) []string {
	var out []string
	for _, t := range types {
		if slices.ContainsFunc(pa.NotAllowedTypes, func(n string) bool { return strings.EqualFold(n, t) }) {
			out = append(out, t)
		}
	}
	return out
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
