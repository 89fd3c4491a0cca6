package resources

import "securetrain/internal/arm"

// defaultSecurityRules are the rules Azure puts at the end of every network
// security group, below any priority a user may give (Network security
// groups overview, "Default security rules"). The one table the verifier
// evaluates and the API shows.
var defaultSecurityRules = []struct {
	name, description string
	priority          int
	direction         Direction
	access            Access
	src, dst          string
}{
	{"AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", 65000, Inbound, Allow, "VirtualNetwork", "VirtualNetwork"},
	{"AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", 65001, Inbound, Allow, "AzureLoadBalancer", "*"},
	{"DenyAllInBound", "Deny all inbound traffic", 65500, Inbound, Deny, "*", "*"},
	{"AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", 65000, Outbound, Allow, "VirtualNetwork", "VirtualNetwork"},
	{"AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", 65001, Outbound, Allow, "*", "Internet"},
	{"DenyAllOutBound", "Deny all outbound traffic", 65500, Outbound, Deny, "*", "*"},
}

// DefaultSecurityRules returns the default rules of the NSG nsg, each with
// its id under defaultSecurityRules and the position pos; no ports
// means every port.
func DefaultSecurityRules(nsg arm.ID, pos string) []*SecurityRule {
	out := make([]*SecurityRule, len(defaultSecurityRules))
	for i, d := range defaultSecurityRules {
		out[i] = &SecurityRule{Meta: Meta{ID: nsg.Child("defaultSecurityRules", d.name), Pos: pos},
			Priority: d.priority, Direction: d.direction, Access: d.access, Protocol: ProtoAny,
			SourcePrefixes: []string{d.src}, DestinationPrefixes: []string{d.dst},
			Description: d.description}
	}
	return out
}
