package requirements

import (
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/ipset"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// finding builds a finding of a code with the rule's default severity,
// spec and fix.
func finding(code string, meta resources.Meta, format string, args ...any) Finding {
	r, _ := RuleFor(code)
	return Finding{Code: code, Severity: r.Severity, Resource: meta.ID.String(), Position: meta.Pos,
		Message: fmt.Sprintf(format, args...), Fix: r.Fix, References: r.References}
}

var (
	// instanceName: 3–24 letters, digits and hyphens, starting with a
	// letter; each hyphen must be followed later by a letter (spec §9).
	instanceName = lazyregexp.New(`^[A-Za-z][A-Za-z0-9-]{2,23}$`)
	// clusterName: ARM's naming rule for workspaces/computes, 2–16 letters,
	// digits and hyphens (spec §9, §11: the ARM table is the stricter one
	// that Azure enforces on create).
	clusterName  = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9-]{1,15}$`)
	dockerBridge = ipset.FromPrefixes([]netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")})
)

// prerequisites are the rules Azure applies before it creates a compute
// (spec §4.1, §8.3, §9).
func prerequisites(snap *resources.Snapshot, cc computeContext) []Finding {
	c := cc.c
	var out []Finding
	out = append(out, nameFindings(snap, c)...)
	out = append(out, privateEndpointFindings(c, cc.wsPE)...)
	sn := snap.Subnet(c.Subnet.ID)
	if sn == nil {
		return out
	}
	vnet := snap.VNetOf(sn)
	if !strings.EqualFold(sn.ID.Subscription, c.Workspace.Subscription) {
		out = append(out, finding("vnet-other-subscription", c.Meta, "%s uses VNet %s in subscription %s; the workspace is in subscription %s",
			c.ID.Name(), vnet.ID.Name(), sn.ID.Subscription, c.Workspace.Subscription))
	}
	out = append(out, delegationFindings(snap, c)...)
	out = append(out, vnetRegionFindings(snap, c, cc.region)...)
	out = append(out, nsgPrecheckFindings(snap, c, cc.region)...)
	out = append(out, capacityFindings(cc, sn)...)
	out = append(out, governanceFindings(snap, c, sn)...)
	if c.ComputeType == resources.ComputeInstance && cc.ws != nil {
		if !strings.EqualFold(cc.region, cc.ws.Location) {
			out = append(out, finding("instance-location-mismatch", c.Meta, "compute instance %s is in %s, the workspace in %s: only clusters may use another region",
				c.ID.Name(), cc.region, cc.ws.Location))
		}
		if pes := privateEndpointsOf(snap, cc.ws.ID.Key()); len(pes) > 0 && !inVNetOf(snap, pes, vnet) {
			out = append(out, finding("instance-location-mismatch", c.Meta, "compute instance %s is in VNet %s, but the workspace's private endpoint %s is in another VNet: only clusters may use another VNet",
				c.ID.Name(), vnet.ID.Name(), pes[0].ID.Name()))
		}
	}
	subnetSet := ipset.FromPrefixes(sn.AddressPrefixes)
	switch {
	case subnetSet.Overlaps(dockerBridge):
		out = append(out, finding("docker-bridge-overlap", c.Meta, "subnet %s of %s (%s) overlaps Docker's bridge 172.17.0.0/16, which every node uses",
			sn.ID.Name(), c.ID.Name(), subnetSet))
	case ipset.FromPrefixes(vnet.AddressSpace).Overlaps(dockerBridge):
		f := finding("docker-bridge-overlap", c.Meta, "VNet %s of %s overlaps Docker's bridge 172.17.0.0/16; traffic from the nodes to that part of the VNet is captured by the bridge",
			vnet.ID.Name(), c.ID.Name())
		f.Severity = Warning
		out = append(out, f)
	}
	return out
}

func inVNetOf(snap *resources.Snapshot, pes []*resources.PrivateEndpoint, vnet *resources.VirtualNetwork) bool {
	for _, pe := range pes {
		if sn := snap.Subnet(pe.Subnet.ID); sn != nil && snap.VNetOf(sn) == vnet {
			return true
		}
	}
	return false
}

// Admission returns what Azure refuses when a compute is created, before
// any flow is looked at: the naming rules (spec §9), a compute without
// public IP in a workspace without private endpoint (§4.1), a delegated
// subnet (§10 #3, refused up front since issue 16), a subnet NSG that
// denies Storage 443 or 445 before allowing it (§10 #2), an instance
// outside its workspace's region (§10 #13), a VNet in another region than
// the compute (§4.4). The control plane refuses a compute with any of
// these; `check` reports the same findings.
func Admission(snap *resources.Snapshot, c *resources.Compute) []Finding {
	ws := snap.Workspace(c.Workspace)
	wsPE := ws != nil && len(privateEndpointsOf(snap, ws.ID.Key())) > 0
	out := append(nameFindings(snap, c), privateEndpointFindings(c, wsPE)...)
	out = append(out, delegationFindings(snap, c)...)
	out = append(out, vnetRegionFindings(snap, c, computeRegion(c, ws))...)
	out = append(out, nsgPrecheckFindings(snap, c, computeRegion(c, ws))...)
	// Only clusters may live in another region than their workspace
	// (spec §4.1, §10 #13).
	if c.ComputeType == resources.ComputeInstance && ws != nil && c.ComputeLocation != "" && !strings.EqualFold(c.ComputeLocation, ws.Location) {
		out = append(out, finding("instance-location-mismatch", c.Meta, "compute instance %s is in %s, the workspace in %s: only clusters may use another region",
			c.ID.Name(), strings.ToLower(c.ComputeLocation), ws.Location))
	}
	return out
}

// delegationFindings: a delegated subnet cannot hold Azure ML computes
// (spec §10 #3); refused when the compute is created, so that a cluster
// at zero nodes does not wait for its first job to fail.
func delegationFindings(snap *resources.Snapshot, c *resources.Compute) []Finding {
	sn := snap.Subnet(c.Subnet.ID)
	if sn == nil {
		return nil
	}
	var out []Finding
	for _, d := range sn.Delegations {
		out = append(out, finding("subnet-delegated", c.Meta, "subnet %s of %s is delegated to %s (Azure: AllocationFailed, \"subnet has delegation to external resources\"): remove the delegation or use another subnet",
			sn.ID.Name(), c.ID.Name(), d.ServiceName))
	}
	return out
}

// privateEndpointFindings: a compute without public IP needs a workspace
// private endpoint (spec §4.1, §10 #7).
func privateEndpointFindings(c *resources.Compute, wsPE bool) []Finding {
	if c.EnableNodePublicIP || wsPE || (c.ComputeType != resources.ComputeAml && c.ComputeType != resources.ComputeInstance) {
		return nil
	}
	return []Finding{finding("no-public-ip-needs-private-endpoint", c.Meta,
		"%s has enableNodePublicIp false, but workspace %s has no private endpoint (Azure: \"EnableNodePublicIp 'False' requires workspace private endpoint\")",
		c.ID.Name(), c.Workspace.Name())}
}

// nameFindings applies the naming rules of spec §9.
func nameFindings(snap *resources.Snapshot, c *resources.Compute) []Finding {
	name := c.ID.Leaf()
	switch c.ComputeType {
	case resources.ComputeInstance:
		var out []Finding
		if !instanceName.MatchString(name) || !hyphensFollowedByLetter(name) {
			out = append(out, finding("compute-name-invalid", c.Meta,
				"compute instance name %q must be 3–24 letters, digits and hyphens, start with a letter, and have a letter after every hyphen", name))
		}
		for _, o := range snap.Computes {
			if o != c && o.ComputeType == resources.ComputeInstance && strings.EqualFold(o.ID.Leaf(), name) &&
				strings.EqualFold(o.ComputeLocation, c.ComputeLocation) {
				out = append(out, finding("instance-name-not-unique", c.Meta, "compute instance name %q is also used by %s (%s) in region %s",
					name, o.ID.Name(), o.Pos, c.ComputeLocation))
			}
		}
		return out
	case resources.ComputeAml:
		if !clusterName.MatchString(name) {
			return []Finding{finding("compute-name-invalid", c.Meta, "cluster name %q must be 2–16 letters, digits and hyphens", name)}
		}
	}
	return nil
}

func hyphensFollowedByLetter(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return true
	}
	return strings.IndexFunc(name[i+1:], func(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }) >= 0
}

// capacityFindings: one address per instance and per cluster node at
// maxNodeCount, over every compute in the subnet (spec §4.1, §8.3).
func capacityFindings(cc computeContext, sn *resources.Subnet) []Finding {
	c := cc.c
	usable := UsableAddresses(sn)
	u := cc.usage[sn.ID.Key()]
	usable -= u.inUse
	if u.demand <= usable {
		return nil
	}
	f := finding("subnet-too-small", c.Meta, "subnet %s has %d free addresses; its computes need %d (one per instance, one per cluster node at maxNodeCount)",
		sn.ID.Name(), max(usable, 0), u.demand)
	if c.ComputeType == resources.ComputeAml {
		f.Severity = Warning
		f.Message += fmt.Sprintf("; %s may be only partly allocated", c.ID.Name())
	}
	return []Finding{f}
}

// subnetUse is what a subnet's addresses are taken by.
type subnetUse struct {
	demand int // addresses the subnet's computes need
	inUse  int // addresses held by NICs, private endpoints, firewalls, load balancer frontends
}

// subnetUsage counts, per subnet key, the addresses computes need and the
// addresses other resources of the file hold.
func subnetUsage(snap *resources.Snapshot) map[string]subnetUse {
	use := map[string]subnetUse{}
	add := func(id string, demand, inUse int) {
		u := use[id]
		u.demand += demand
		u.inUse += inUse
		use[id] = u
	}
	for _, c := range snap.Computes {
		if c.Subnet.IsSet() {
			add(c.Subnet.ID.Key(), addressesOf(c), 0)
		}
	}
	for _, nic := range snap.NetworkInterfaces {
		if snap.EndpointNIC(nic) {
			continue // counted with its endpoint
		}
		for _, ipc := range nic.IPConfigurations {
			add(ipc.Subnet.ID.Key(), 0, 1)
		}
	}
	for _, pe := range snap.PrivateEndpoints {
		add(pe.Subnet.ID.Key(), 0, max(len(pe.IPConfigurations), 1))
	}
	for _, fw := range snap.AzureFirewalls {
		add(fw.Subnet.ID.Key(), 0, 1)
	}
	for _, lb := range snap.LoadBalancers {
		for _, fe := range lb.Frontends {
			if fe.Subnet.IsSet() {
				add(fe.Subnet.ID.Key(), 0, 1)
			}
		}
	}
	return use
}

func addressesOf(c *resources.Compute) int {
	switch c.ComputeType {
	case resources.ComputeInstance:
		return 1
	case resources.ComputeAml:
		return c.MaxNodeCount
	}
	return 0
}

// resolvesWithin reports whether every resolved range lies in want.
func resolvesWithin(ranges []string, want ipset.Set) bool {
	if len(ranges) == 0 {
		return false
	}
	for _, r := range ranges {
		s, err := ipset.ParseAddrOrPrefix(r)
		if err != nil || !s.Subtract(want).IsEmpty() {
			return false
		}
	}
	return true
}

// dnsFindings: where the workspace and its default storage have private
// endpoints, their names must resolve to them from the compute: the
// workspace's API name, for a compute instance of a workspace closed to
// the public its notebooks name too, and the storage's blob and file names
// (spec §7). A storage name that resolves to the public endpoint is only a
// warning when the account accepts the compute there: flows holds the
// compute's checked flows, those to the account's names among them.
func dnsFindings(n *netverify.Network, cc computeContext, flows []FlowCheck) []Finding {
	if cc.ws == nil {
		return nil
	}
	snap := n.Snapshot()
	var out []Finding
	check := func(code, name string, pes []*resources.PrivateEndpoint) *Finding {
		want := ipset.Set{}
		for _, pe := range pes {
			for _, ipc := range pe.IPConfigurations {
				want = want.Union(ipset.FromAddrs(ipc.PrivateIP))
			}
		}
		if want.IsEmpty() {
			return nil
		}
		res, err := n.Flow(netverify.Query{From: netverify.ResourceEndpoint(cc.c.ID), To: netverify.NameEndpoint(name), Protocol: netverify.TCP, Port: 443})
		if err != nil {
			return nil
		}
		var got []string
		for _, s := range res.DNS {
			step := strings.TrimSpace(s.Type + " " + s.Answer)
			if zone, ok := strings.CutPrefix(s.Source, "private DNS zone "); ok {
				step += " in zone " + zone[strings.LastIndexByte(zone, '/')+1:]
			}
			got = append(got, step)
		}
		if res.Verdict == netverify.DNSFailure || !resolvesWithin(res.Destination.Addresses, want) {
			out = append(out, finding(code, cc.c.Meta, "from %s, %s does not resolve to its private endpoint (%s): %s",
				cc.c.ID.Name(), name, want, strings.Join(got, "; ")))
			return &out[len(out)-1]
		}
		return nil
	}
	wsPEs := privateEndpointsOf(snap, cc.ws.ID.Key())
	check("workspace-dns-not-private", netverify.WorkspaceAPIName(cc.ws), wsPEs)
	// A compute instance serves notebooks through the workspace's notebooks
	// name; with public network access disabled only its private endpoint
	// answers it (spec §7).
	if cc.c.ComputeType == resources.ComputeInstance && strings.EqualFold(cc.ws.PublicNetworkAccess, "Disabled") {
		check("workspace-dns-not-private", netverify.WorkspaceNotebooksName(cc.ws), wsPEs)
	}
	if cc.storage != nil {
		for _, group := range []string{"blob", "file"} {
			name := strings.ToLower(cc.storage.ID.Leaf()) + "." + group + ".core.windows.net"
			f := check("storage-dns-not-private", name, cc.storageEndpoints[group])
			if f != nil && reachedByName(flows, name) {
				f.Severity = Warning
				f.Message += fmt.Sprintf("; storage account %s accepts the compute through its public endpoint, so the compute still works", cc.storage.ID.Name())
			}
		}
	}
	return out
}

// reachedByName reports whether every checked flow to name is allowed (and
// there is one).
func reachedByName(flows []FlowCheck, name string) bool {
	seen := false
	for _, fc := range flows {
		if fc.To == name {
			if fc.Verdict != netverify.Allowed {
				return false
			}
			seen = true
		}
	}
	return seen
}
