package netverify

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
	"securetrain/internal/resources"
)

// dnsCtx resolves names the way a VM in a VNet would (spec §7, §8): private
// DNS zones linked to the VNet answer (and shadow their whole suffix) when
// the query reaches Azure DNS at 168.63.129.16; everything else is public.
type dnsCtx struct {
	zones []*zoneCtx
	// privateLink maps a public name (lower-case) to the privatelink name
	// Azure's public DNS CNAMEs it to once the resource has a private endpoint.
	privateLink map[string]string
	// storage maps a storage account's name (lower-case) to the account:
	// its public names answer with its region's Storage tag, and flows to
	// them meet its network rules.
	storage map[string]*storageAccount
	// inbound maps the address of each DNS Private Resolver inbound endpoint
	// to the VNet whose Azure DNS answers there.
	inbound map[uint32]*inboundEndpoint
}

type inboundEndpoint struct {
	ep       *resources.DNSResolverInboundEndpoint
	resolver *resources.DNSResolver
	vnet     *vnetCtx
}

// forwardingRule is a rule of a ruleset linked to a VNet; from is the VNet
// of the ruleset's outbound endpoint, where forwarded queries leave.
type forwardingRule struct {
	rule    *resources.DNSForwardingRule
	ruleset *resources.DNSForwardingRuleset
	from    *vnetCtx
}

type zoneCtx struct {
	z     *resources.PrivateDNSZone
	name  string
	links map[string]*resources.VirtualNetworkLink // vnet key
	// a are the zone's A records: its record sets' and those private
	// endpoints' zone groups keep in it (ZoneGroupRecords).
	a map[string][]netip.Addr
}

// DNSStep is one step of a resolution.
type DNSStep struct {
	Name   string `json:"name"`
	Type   string `json:"type"` // CNAME, A, ServiceTag, External, NXDOMAIN, Forward
	Answer string `json:"answer,omitempty"`
	// Source says who answered: a private zone id, "public DNS", a DNS server.
	Source string `json:"source"`
	Pos    string `json:"position,omitempty"`
}

// dnsAnswer is the outcome of resolving a name.
type dnsAnswer struct {
	steps   []DNSStep
	set     ipset.Set
	tag     string // service tag the public answer stands for
	failure string
	// fix says how to mend a failure ("": the private zone's fix).
	fix string
	// server is the custom DNS server the VM asks, when it is not Azure
	// DNS: the query itself must be able to reach it.
	server uint32
}

// privateLinkSubdomains are the private endpoint group ids of storage and
// the public zone suffix each one serves.
var privateLinkSubdomains = map[string]string{
	"blob": "blob.core.windows.net", "file": "file.core.windows.net", "queue": "queue.core.windows.net",
	"table": "table.core.windows.net", "dfs": "dfs.core.windows.net", "web": "web.core.windows.net",
}

// PrivateLinkNames are the public names a private endpoint to target
// (with its group ids) serves, each mapped to the privatelink name it
// CNAMEs to once the endpoint exists (spec §7). ws is the target when it
// is a workspace, or nil: a workspace's names need its GUID and region.
func PrivateLinkNames(target arm.ID, groupIDs []string, ws *resources.Workspace) map[string]string {
	out := map[string]string{}
	name := strings.ToLower(target.Leaf())
	switch t := target.Type(); {
	case strings.EqualFold(t, resources.TypeStorageAccount):
		for _, g := range groupIDs {
			if suffix, ok := privateLinkSubdomains[strings.ToLower(g)]; ok {
				out[name+"."+suffix] = name + ".privatelink." + suffix
			}
		}
	case strings.EqualFold(t, resources.TypeWorkspace):
		if ws != nil {
			out = workspaceNames(ws)
		}
	case strings.EqualFold(t, resources.TypeKeyVault):
		out[name+".vault.azure.net"] = name + ".privatelink.vaultcore.azure.net"
	case strings.EqualFold(t, resources.TypeRegistry):
		out[name+".azurecr.io"] = name + ".privatelink.azurecr.io"
	}
	return out
}

func (n *Network) compileDNS() {
	d := &dnsCtx{privateLink: map[string]string{}, storage: map[string]*storageAccount{}, inbound: map[uint32]*inboundEndpoint{}}
	n.dns = d
	n.compileResolvers()
	zones := make(map[string]*resources.PrivateDNSZone, len(n.snap.PrivateDNSZones))
	for _, z := range n.snap.PrivateDNSZones {
		zones[z.ID.Key()] = z
	}
	grouped := n.zoneGroupRecords(zones)
	for _, z := range n.snap.PrivateDNSZones {
		zc := &zoneCtx{z: z, name: strings.ToLower(z.ID.Leaf()), links: map[string]*resources.VirtualNetworkLink{}, a: z.A}
		if extra := grouped[z]; extra != nil {
			zc.a = maps.Clone(z.A)
			for rel, addrs := range extra {
				zc.a[rel] = append(slices.Clone(zc.a[rel]), addrs...)
			}
		}
		for _, l := range z.Links {
			zc.links[l.VirtualNetwork.ID.Key()] = l
		}
		d.zones = append(d.zones, zc)
		for _, addrs := range zc.a {
			n.addCut(ipset.FromAddrs(addrs...))
		}
	}
	for _, sa := range n.snap.StorageAccounts {
		d.storage[strings.ToLower(sa.ID.Leaf())] = compileStorageAccount(sa)
	}
	for _, pe := range n.snap.PrivateEndpoints {
		for _, c := range pe.Connections {
			for public, private := range PrivateLinkNames(c.Target.ID, c.GroupIDs, n.snap.Workspace(c.Target.ID)) {
				d.privateLink[public] = private
			}
		}
	}
	for _, vc := range n.vnets {
		for _, zc := range d.zones {
			if zc.links[vc.v.ID.Key()] != nil {
				vc.zones = append(vc.zones, zc)
			}
		}
	}
	// FQDNs in firewall network rules are resolved by the firewall's DNS proxy.
	for _, fc := range n.firewalls {
		for _, col := range fc.network {
			for _, r := range col.rules {
				for _, name := range r.r.DestinationFqdns {
					ans := n.resolveVia(fc.subnet.vnet, name, fc.dnsServers, 0)
					r.dst = r.dst.Union(ans.set)
				}
			}
		}
	}
}

// compileResolvers registers DNS Private Resolver inbound endpoints and the
// forwarding rules of rulesets linked to each VNet.
func (n *Network) compileResolvers() {
	outboundVNet := map[string]*vnetCtx{}
	for _, r := range n.snap.DNSResolvers {
		vc := n.vnetByKey[r.VirtualNetwork.ID.Key()]
		if vc == nil {
			continue
		}
		for _, ep := range r.InboundEndpoints {
			u, ok := ipset.U32(ep.PrivateIP)
			if !ok {
				continue
			}
			n.dns.inbound[u] = &inboundEndpoint{ep: ep, resolver: r, vnet: vc}
			n.addHost(n.subnets[ep.Subnet.ID.Key()], ep.PrivateIP,
				&host{kind: hostDNSResolver, id: ep.ID, label: "DNS resolver inbound endpoint " + ep.ID.Name()}, ep.Pos)
		}
		for _, ep := range r.OutboundEndpoints {
			outboundVNet[ep.ID.Key()] = vc
		}
	}
	for _, rs := range n.snap.DNSForwardingRulesets {
		var from *vnetCtx
		for _, ref := range rs.OutboundEndpoints {
			if vc := outboundVNet[ref.ID.Key()]; vc != nil && from == nil {
				from = vc
			}
		}
		if from == nil {
			continue
		}
		for _, l := range rs.Links {
			vc := n.vnetByKey[l.VirtualNetwork.ID.Key()]
			if vc == nil {
				continue
			}
			for _, r := range rs.Rules {
				if r.Enabled && len(r.Targets) > 0 {
					vc.forwarding = append(vc.forwarding, &forwardingRule{rule: r, ruleset: rs, from: from})
				}
			}
		}
	}
}

// longestRule finds the forwarding rule with the longest domain that holds
// name ("" holds every name).
func longestRule(rules []*forwardingRule, name string) *forwardingRule {
	var best *forwardingRule
	for _, r := range rules {
		d := r.rule.DomainName
		if d == "" || name == d || strings.HasSuffix(name, "."+d) {
			if best == nil || len(d) > len(best.rule.DomainName) {
				best = r
			}
		}
	}
	return best
}

// WorkspaceID returns the GUID a workspace's names use: its workspaceId
// property, or a stable stand-in derived from its resource id.
func WorkspaceID(ws *resources.Workspace) string {
	if ws.WorkspaceID != "" {
		return strings.ToLower(ws.WorkspaceID)
	}
	h := sha256.Sum256([]byte(ws.ID.Key()))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// WorkspaceAPIName is the name of a workspace's API endpoint,
// <workspace-guid>.workspace.<region>.api.azureml.ms (spec §7).
func WorkspaceAPIName(ws *resources.Workspace) string {
	return WorkspaceID(ws) + ".workspace." + strings.ToLower(ws.Location) + ".api.azureml.ms"
}

// WorkspaceNotebooksName is the name of a workspace's notebooks endpoint,
// ml-<workspace-name, truncated>-<region>-<workspace-guid>.<region>.notebooks.azure.net,
// the name truncated to keep the first label at 63 characters (spec §7).
func WorkspaceNotebooksName(ws *resources.Workspace) string {
	id, region := WorkspaceID(ws), strings.ToLower(ws.Location)
	nb := "ml-" + strings.ToLower(ws.ID.Leaf())
	if prefix := nb + "-" + region + "-" + id; len(prefix) > 63 {
		nb = nb[:max(3, len(nb)-(len(prefix)-63))]
	}
	return nb + "-" + region + "-" + id + "." + region + ".notebooks.azure.net"
}

// workspaceNames are a workspace's public names and the privatelink names
// they CNAME to once it has a private endpoint (spec §7).
func workspaceNames(ws *resources.Workspace) map[string]string {
	id, region := WorkspaceID(ws), strings.ToLower(ws.Location)
	api, nb := WorkspaceAPIName(ws), WorkspaceNotebooksName(ws)
	return map[string]string{
		api: strings.Replace(api, ".api.azureml.ms", ".privatelink.api.azureml.ms", 1),
		id + ".workspace." + region + ".cert.api.azureml.ms": id + ".workspace." + region + ".cert.privatelink.api.azureml.ms",
		nb: strings.Replace(nb, ".notebooks.azure.net", ".privatelink.notebooks.azure.net", 1),
	}
}

// publicSuffixTags maps public names of Azure services to the service tag
// that holds their addresses.
var publicSuffixTags = []struct{ suffix, tag string }{
	{".blob.core.windows.net", "Storage"}, {".file.core.windows.net", "Storage"},
	{".queue.core.windows.net", "Storage"}, {".table.core.windows.net", "Storage"},
	{".dfs.core.windows.net", "Storage"}, {".web.core.windows.net", "Storage"},
	{".batch.azure.com", "BatchNodeManagement"},
	{".api.azureml.ms", "AzureMachineLearning"}, {".tundra.azureml.ms", "AzureMachineLearning"},
	{".instances.azureml.ms", "AzureMachineLearning"}, {".instances.azureml.net", "AzureMachineLearning"},
	{".azureml.ms", "AzureMachineLearning"}, {".azureml.net", "AzureMachineLearning"},
	{".notebooks.azure.net", "AzureMachineLearning"}, {".aznbcontent.net", "AzureMachineLearning"},
	{"login.microsoftonline.com", "AzureActiveDirectory"}, {"graph.windows.net", "AzureActiveDirectory"},
	{"graph.microsoft.com", "AzureActiveDirectory"},
	{"management.azure.com", "AzureResourceManager"},
	{"mcr.microsoft.com", "MicrosoftContainerRegistry"},
	{".vault.azure.net", "AzureKeyVault"}, {".vaultcore.azure.net", "AzureKeyVault"},
	{".azurecr.io", "AzureContainerRegistry"},
	{".applicationinsights.azure.com", "AzureMonitor"}, {"dc.services.visualstudio.com", "AzureMonitor"},
	{"ml.azure.com", "AzureFrontDoor.Frontend"}, {".azurefd.net", "AzureFrontDoor.Frontend"},
}

// publicTag returns the service tag a public name belongs to, made regional
// where the name or the file says the region.
func (n *Network) publicTag(name string) string {
	for _, m := range publicSuffixTags {
		if name != strings.TrimPrefix(m.suffix, ".") && !strings.HasSuffix(name, m.suffix) {
			continue
		}
		labels := strings.Split(name, ".")
		switch m.tag {
		case "Storage":
			if st := n.dns.storage[labels[0]]; st != nil && st.sa.Location != "" {
				if t, ok := n.tags.Lookup("Storage." + normLocation(st.sa.Location)); ok {
					return t.Name
				}
			}
		case "BatchNodeManagement":
			// <account>.<region>.batch.azure.com, <x>.<region>.service.batch.azure.com
			for i := len(labels) - 1; i > 0; i-- {
				if labels[i] == "batch" && i >= 1 {
					region := labels[i-1]
					if region == "service" && i >= 2 {
						region = labels[i-2]
					}
					if t, ok := n.tags.Lookup("BatchNodeManagement." + region); ok {
						return t.Name
					}
					break
				}
			}
		}
		return m.tag
	}
	return ""
}

// maxCNAMEs bounds CNAME chains and forwarding loops.
const maxCNAMEs = 8

// resolve answers a name for a VM in vnet vc through servers: its NIC's
// DNS servers, or else the VNet's ("DNS servers specified for a network
// interface … get precedence over DNS servers specified for the virtual
// network", Name resolution for resources in Azure virtual networks).
func (n *Network) resolve(vc *vnetCtx, nicServers []netip.Addr, name string) dnsAnswer {
	servers := vc.v.DNSServers
	if len(nicServers) > 0 {
		servers = nicServers
	}
	ans := n.resolveVia(vc, name, servers, 0)
	if server := QueriedDNSServer(servers); server != AzureDNS {
		ans.server, _ = ipset.U32(server)
	}
	return ans
}

// resolveVia resolves through a list of DNS servers (empty: Azure DNS),
// the one QueriedDNSServer picks.
func (n *Network) resolveVia(vc *vnetCtx, name string, servers []netip.Addr, depth int) dnsAnswer {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if depth > maxCNAMEs {
		return dnsAnswer{failure: name + ": DNS forwarding loop (more than 8 forwarders)"}
	}
	server := QueriedDNSServer(servers)
	u, _ := ipset.U32(server)
	if u == azurePlatformIP {
		return n.resolveAzure(vc, name, depth)
	}
	forward := func(answer, pos string, ans dnsAnswer) dnsAnswer {
		ans.steps = append([]DNSStep{{Name: name, Type: "Forward", Answer: answer, Source: "DNS server " + server.String(), Pos: pos}}, ans.steps...)
		return ans
	}
	for _, fc := range n.firewalls {
		if fc.privateIP == server && fc.dnsProxy {
			return forward("DNS proxy of Azure Firewall "+fc.fw.ID.Name(), fc.fw.Pos,
				n.resolveVia(fc.subnet.vnet, name, fc.dnsServers, depth+1))
		}
	}
	if in := n.dns.inbound[u]; in != nil {
		return forward("inbound endpoint "+in.ep.ID.Name()+" of Azure DNS Private Resolver: Azure DNS of VNet "+in.vnet.v.ID.Name(), in.ep.Pos,
			n.resolveAzure(in.vnet, name, depth+1))
	}
	if h := n.answersNoDNS(u); h != nil {
		return dnsAnswer{failure: fmt.Sprintf("%s: the DNS server %s is %s, which answers no DNS queries", name, server, h.label),
			fix:   "set the VNet's DNS servers (dhcpOptions.dnsServers) to a DNS server, Azure DNS (168.63.129.16, or none set) or a firewall with DNS proxy on (Azure: \"Name resolution for resources in Azure virtual networks\")",
			steps: []DNSStep{{Name: name, Type: "NXDOMAIN", Source: "DNS server " + server.String() + " (" + h.label + ")"}}}
	}
	// A DNS server securetrain cannot look inside: it resolves public names
	// only; private zones answer only queries that reach 168.63.129.16 from
	// a linked VNet (spec §7).
	return forward("public resolution (not Azure DNS, a firewall DNS proxy or a private resolver: private zones are not consulted)", "",
		n.resolvePublicChain(name, nil, true))
}

// resolveAzure is Azure DNS (168.63.129.16) answering a VM of vc: the
// forwarding rules of rulesets linked to the VNet first, then private zones
// linked to it, then public DNS.
func (n *Network) resolveAzure(vc *vnetCtx, name string, depth int) dnsAnswer {
	var ans dnsAnswer
	for hop := 0; hop <= maxCNAMEs; hop++ {
		if r := longestRule(vc.forwarding, name); r != nil {
			target := r.rule.Targets[0]
			ans.steps = append(ans.steps, DNSStep{Name: name, Type: "Forward", Answer: target.String(),
				Source: "forwarding rule " + r.rule.ID.Name() + " (linked to VNet " + vc.v.ID.Name() + ")", Pos: r.rule.Pos})
			sub := n.resolveVia(r.from, name, []netip.Addr{target.Addr()}, depth+1)
			sub.steps = append(ans.steps, sub.steps...)
			return sub
		}
		if zc := longestZone(vc.zones, name); zc != nil {
			rel := "@"
			if name != zc.name {
				rel = strings.TrimSuffix(name, "."+zc.name)
			}
			if addrs, ok := zc.a[rel]; ok {
				var text []string
				for _, a := range addrs {
					text = append(text, a.String())
				}
				ans.steps = append(ans.steps, DNSStep{Name: name, Type: "A", Answer: strings.Join(text, ","),
					Source: "private DNS zone " + zc.z.ID.String(), Pos: zc.z.Pos})
				ans.set = ipset.FromAddrs(addrs...)
				return ans
			}
			if target, ok := zc.z.CNAME[rel]; ok {
				ans.steps = append(ans.steps, DNSStep{Name: name, Type: "CNAME", Answer: target,
					Source: "private DNS zone " + zc.z.ID.String(), Pos: zc.z.Pos})
				name = strings.ToLower(strings.TrimSuffix(target, "."))
				continue
			}
			ans.steps = append(ans.steps, DNSStep{Name: name, Type: "NXDOMAIN",
				Source: "private DNS zone " + zc.z.ID.String(), Pos: zc.z.Pos})
			ans.failure = fmt.Sprintf("%s: private DNS zone %s is linked to VNet %s and shadows every name under it, but has no record %q",
				name, zc.name, vc.v.ID.Name(), rel)
			return ans
		}
		if target, ok := n.dns.privateLink[name]; ok {
			ans.steps = append(ans.steps, DNSStep{Name: name, Type: "CNAME", Answer: target, Source: "public DNS (private endpoint exists)"})
			name = target
			continue
		}
		return n.resolvePublicChain(name, ans.steps, false)
	}
	ans.failure = name + ": CNAME chain longer than 8"
	return ans
}

// resolvePublicChain follows public privatelink CNAMEs without private zones,
// then maps the final name to its service tag or the external stand-in.
// A reserved name, or one under no public suffix unless privateServer (a
// DNS server the verifier cannot look inside is asked), has no answer.
func (n *Network) resolvePublicChain(name string, steps []DNSStep, privateServer bool) dnsAnswer {
	ans := dnsAnswer{steps: steps}
	for hop := 0; hop < maxCNAMEs; hop++ {
		target, ok := n.dns.privateLink[name]
		if !ok {
			break
		}
		ans.steps = append(ans.steps, DNSStep{Name: name, Type: "CNAME", Answer: target, Source: "public DNS (private endpoint exists)"})
		name = target
	}
	if problem := publicNameProblem(name, privateServer); problem != "" {
		ans.steps = append(ans.steps, DNSStep{Name: name, Type: "NXDOMAIN", Source: "public DNS"})
		ans.failure = problem
		ans.fix = "use the name the service publishes, or add a private DNS zone linked to the VNet that holds it (Azure: \"What is a private endpoint?\", \"Private DNS zones\")"
		return ans
	}
	if tag := n.publicTag(name); tag != "" {
		if t, ok := n.tags.Lookup(tag); ok {
			ans.tag = t.Name
			ans.set = n.catalogTagSetRO(t)
			ans.steps = append(ans.steps, DNSStep{Name: name, Type: "ServiceTag", Answer: t.Name, Source: "public DNS"})
			return ans
		}
	}
	addr := externalStandIn(name)
	ans.set = ipset.Single(addr)
	ans.steps = append(ans.steps, DNSStep{Name: name, Type: "External", Answer: ipset.Addr(addr).String() + " (stand-in for this name's public address outside Azure's service tags)", Source: "public DNS"})
	return ans
}

// answersNoDNS is the host at address u when nothing answers DNS there —
// a private endpoint, a load balancer's frontend, a firewall without DNS
// proxy — else nil: a NIC may run a DNS server, and an address no
// resource of the file holds is a machine the file does not describe.
func (n *Network) answersNoDNS(u uint32) *host {
	for _, vc := range n.vnets {
		if h := vc.hosts[u]; h != nil {
			if h.kind == hostNIC || h.kind == hostDNSResolver || h.kind == hostFirewall && h.fw.dnsProxy {
				return nil
			}
			return h
		}
	}
	return nil
}

func longestZone(zones []*zoneCtx, name string) *zoneCtx {
	var best *zoneCtx
	for _, z := range zones {
		if (name == z.name || strings.HasSuffix(name, "."+z.name)) && (best == nil || len(z.name) > len(best.name)) {
			best = z
		}
	}
	return best
}
