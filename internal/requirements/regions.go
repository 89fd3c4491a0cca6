package requirements

import (
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// The region rules Azure enforces when a resource is created or linked
// (issue 18 point 7): Azure refuses the write, so `check` reports them as
// errors and the control plane refuses them the same way.

// sameRegion compares two ARM locations as ARM does ("West US 2" is
// westus2). An unset location is not compared: it is not known to differ.
func sameRegion(a, b string) bool {
	norm := func(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }
	return a == "" || b == "" || norm(a) == norm(b)
}

// computeRegion is where a compute's nodes are created: its
// computeLocation, else its workspace's region.
func computeRegion(c *resources.Compute, ws *resources.Workspace) string {
	if c.ComputeLocation == "" && ws != nil {
		return strings.ToLower(ws.Location)
	}
	return strings.ToLower(c.ComputeLocation)
}

// vnetRegionFindings: a compute's nodes are a Batch pool in the compute's
// region, and Azure Batch takes only a VNet of its own region (Azure's
// article "Create an Azure Batch pool in a virtual network": "The VNet
// must be in the same subscription and region as the Batch account").
// A cluster in another region than its workspace uses a VNet of the
// cluster's region (spec §4.4).
func vnetRegionFindings(snap *resources.Snapshot, c *resources.Compute, region string) []Finding {
	sn := snap.Subnet(c.Subnet.ID)
	if sn == nil {
		return nil
	}
	vnet := snap.VNetOf(sn)
	if vnet == nil || sameRegion(region, vnet.Location) {
		return nil
	}
	return []Finding{finding("vnet-other-region", c.Meta,
		"%s is in region %s, but its subnet %s is in VNet %s in region %s: the VNet must be in the compute's region",
		c.ID.Name(), region, sn.ID.Name(), vnet.ID.Name(), strings.ToLower(vnet.Location))}
}

// regionFindings are the region rules of resources other than computes,
// over the whole snapshot.
func regionFindings(snap *resources.Snapshot) []Finding {
	var out []Finding
	for _, rs := range snap.DNSForwardingRulesets {
		for _, l := range rs.Links {
			out = append(out, rulesetLinkFindings(snap, rs, l)...)
		}
	}
	for _, vnet := range snap.VirtualNetworks {
		for _, sn := range vnet.Subnets {
			out = append(out, subnetPolicyFindings(snap, vnet, sn)...)
		}
	}
	return out
}

// RegionAdmission returns the region rules a write of the record written
// breaks: on the resources it holds (a VNet's subnets, a ruleset's links)
// and on those that point at it (the subnets that use a service endpoint
// policy). The control plane refuses such a write; `check` reports the
// same findings.
func RegionAdmission(snap *resources.Snapshot, written arm.ID) []Finding {
	var out []Finding
	for _, f := range regionFindings(snap) {
		if arm.Within(f.Resource, written.String()) || pointsAt(snap, f.Resource, written) {
			out = append(out, f)
		}
	}
	return out
}

// pointsAt reports whether the subnet with id uses the service endpoint
// policy written.
func pointsAt(snap *resources.Snapshot, id string, written arm.ID) bool {
	pid, err := arm.ParseID(id, "")
	if err != nil {
		return false
	}
	sn := snap.Subnet(pid)
	if sn == nil {
		return false
	}
	for _, ref := range sn.ServiceEndpointPolicies {
		if ref.ID.Equal(written) {
			return true
		}
	}
	return false
}

// rulesetLinkFindings: Azure's article "Azure DNS Private Resolver
// endpoints and rulesets": "A ruleset can't be linked to a virtual network
// in another region."
func rulesetLinkFindings(snap *resources.Snapshot, rs *resources.DNSForwardingRuleset, l *resources.DNSForwardingRulesetLink) []Finding {
	vnet := snap.VirtualNetwork(l.VirtualNetwork.ID)
	if vnet == nil || sameRegion(rs.Location, vnet.Location) {
		return nil
	}
	return []Finding{finding("dns-ruleset-link-other-region", l.Meta,
		"link %s links forwarding ruleset %s in region %s to VNet %s in region %s: a ruleset can't be linked to a virtual network in another region",
		l.ID.Name(), rs.ID.Name(), strings.ToLower(rs.Location), vnet.ID.Name(), strings.ToLower(vnet.Location))}
}

// subnetPolicyFindings: Azure's article "Virtual network service endpoint
// policies for Azure Storage", Limitations: "Virtual networks must be in
// the same region as the service endpoint policy." and "You can only
// apply service endpoint policy on a subnet if service endpoints are
// configured for the Azure services listed in the policy."
func subnetPolicyFindings(snap *resources.Snapshot, vnet *resources.VirtualNetwork, sn *resources.Subnet) []Finding {
	var out []Finding
	for _, ref := range sn.ServiceEndpointPolicies {
		sep := snap.ServiceEndpointPolicy(ref.ID)
		if sep == nil {
			continue
		}
		if !sameRegion(sep.Location, vnet.Location) {
			out = append(out, finding("service-endpoint-policy-other-region", sn.Meta,
				"subnet %s uses service endpoint policy %s in region %s, but its VNet is in region %s: virtual networks must be in the same region as the service endpoint policy",
				sn.ID.Name(), sep.ID.Name(), strings.ToLower(sep.Location), strings.ToLower(vnet.Location)))
		}
		for _, service := range policyServices(sep) {
			if !hasServiceEndpoint(sn, service) {
				out = append(out, finding("service-endpoint-policy-without-endpoint", sn.Meta,
					"subnet %s uses service endpoint policy %s, which lists %s, but has no %s service endpoint: a policy applies only to a subnet with service endpoints for the services it lists",
					sn.ID.Name(), sep.ID.Name(), service, service))
			}
		}
	}
	return out
}

// policyServices lists the services whose endpoints a policy needs, each
// once. A definition of service Global holds aliases such as
// /services/Azure/MachineLearning, which filter storage traffic: it needs
// the Microsoft.Storage endpoint (spec §6).
func policyServices(sep *resources.ServiceEndpointPolicy) []string {
	var out []string
	for _, d := range sep.Definitions {
		service := d.Service
		if strings.EqualFold(service, "Global") {
			service = "Microsoft.Storage"
		}
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, service) }) {
			out = append(out, service)
		}
	}
	return out
}

// hasServiceEndpoint reports whether a subnet has a service endpoint for
// service; Microsoft.Storage.Global serves Microsoft.Storage.
func hasServiceEndpoint(sn *resources.Subnet, service string) bool {
	for _, se := range sn.ServiceEndpoints {
		if strings.EqualFold(se.Service, service) ||
			strings.EqualFold(service, "Microsoft.Storage") && strings.EqualFold(se.Service, "Microsoft.Storage.Global") {
			return true
		}
	}
	return false
}
