package resources

// Decoders of Azure Firewall (classic rules) and firewall policies with
// their rule collection groups. Both flatten into FirewallRuleCollection.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

const (
	// azureFirewallSubnet is the subnet name Azure requires for a firewall.
	azureFirewallSubnet = "AzureFirewallSubnet"
	ipGroupsUnsupported = "IP groups are not modeled; list the addresses"
	// Threat intelligence and IDPS deny on Microsoft's feed and signatures,
	// which securetrain does not have (docs/environment.md).
	threatIntelDenyUnsupported = "threat intelligence in Deny mode blocks what Microsoft's feed lists, which securetrain does not have; " +
		"write Alert or Off to have flows judged by the rules alone"
	idpsDenyUnsupported = "IDPS in Deny mode blocks what its signatures match, which securetrain does not have; " +
		"write Alert or Off to have flows judged by the rules alone"
)

// threatIntelMode reads a firewall's or policy's threatIntelMode, refusing Deny.
func threatIntelMode(p *obj) {
	if p.enum("threatIntelMode", false, "Alert", "Deny", "Off") == "Deny" {
		p.refuse("threatIntelMode", "Deny", threatIntelDenyUnsupported)
	}
}

var (
	firewallNetProtocols = []string{"TCP", "UDP", "ICMP", "Any"}
	firewallAppProtocols = []string{"Http", "Https", "Mssql"}
)

func decodeFirewall(r *res) *AzureFirewall {
	p := r.props
	// The management configuration carries Azure's own traffic in forced
	// tunnelling; hubIPAddresses and ipGroups are read-only; autoscaling
	// changes capacity, not verdicts (docs/environment.md).
	p.ignore("managementIpConfiguration", "hubIPAddresses", "ipGroups", "autoscaleConfiguration", "provisioningState")
	p.unsupported("virtualHub", "firewalls in a Virtual WAN hub are not modeled; place the firewall in a VNet's AzureFirewallSubnet")
	sku := p.child("sku")
	sku.enum("name", false, "AZFW_VNet", "AZFW_Hub")
	sku.enum("tier", false, "Basic", "Standard", "Premium")
	threatIntelMode(p)
	fw := &AzureFirewall{Meta: r.meta(), Policy: p.ref("firewallPolicy", TypeFirewallPolicy)}
	p.required("ipConfigurations")
	for i, it := range p.items("ipConfigurations") {
		it.ignore("id", "etag", "type")
		it.needStr("name")
		ip := it.child("properties")
		ip.ignore("provisioningState")
		if pip := ip.ref("publicIPAddress", TypePublicIP); pip.IsSet() {
			fw.PublicIPs = append(fw.PublicIPs, pip)
		}
		subnet, addr := ip.ref("subnet", TypeSubnet), ip.ipv4("privateIPAddress", false)
		if i > 0 {
			continue
		}
		// The first configuration places the firewall.
		fw.Subnet, fw.PrivateIP = subnet, addr
		switch {
		case !subnet.IsSet():
			ip.required("subnet")
		case !strings.EqualFold(subnet.ID.Leaf(), azureFirewallSubnet):
			ip.errf(ip.lineOf("subnet"), "subnet %s: a firewall must be in a subnet named %s", subnet.ID.Name(), azureFirewallSubnet)
		}
	}
	for _, c := range []struct {
		key     string
		kind    FirewallRuleKind
		actions []string
	}{
		{"natRuleCollections", FirewallNAT, []string{"Dnat"}},
		{"networkRuleCollections", FirewallNetwork, []string{"Allow", "Deny"}},
		{"applicationRuleCollections", FirewallApplication, []string{"Allow", "Deny"}},
	} {
		for _, it := range p.items(c.key) {
			it.ignore("id", "etag")
			cp := it.child("properties")
			cp.ignore("provisioningState")
			coll := FirewallRuleCollection{Name: it.needStr("name"), Kind: c.kind, Pos: r.d.pos(int(it.line))}
			coll.Priority, _ = cp.integer("priority", 100, 65000, true)
			coll.Action = cp.child("action").enum("type", true, c.actions...)
			for _, ru := range cp.items("rules") {
				coll.Rules = append(coll.Rules, firewallRule(ru, c.kind, false))
			}
			fw.RuleCollections = append(fw.RuleCollections, coll)
		}
	}
	ap := p.child("additionalProperties")
	// The other documented keys tune SNAT learning, FTP and threat
	// intelligence (docs/environment.md says why they change no verdict).
	ap.ignore("Network.SNAT.AutoLearnPrivateRanges", "Network.FTP.AllowActiveFTP",
		"ThreatIntel.Whitelist.FQDNs", "ThreatIntel.Whitelist.IpAddresses")
	fw.SNATPrivateRanges = commaList(ap, "Network.SNAT.PrivateRanges", parseSNATRange)
	if v := ap.text("Network.DNS.EnableProxy"); !v.IsZero() {
		b, err := strconv.ParseBool(v.Str())
		if err != nil {
			ap.errf(v.Line(), "additionalProperties.Network.DNS.EnableProxy must be \"true\" or \"false\", got %q", v.Str())
		}
		fw.DNSProxy = b
	}
	fw.DNSServers = commaList(ap, "Network.DNS.Servers", func(s string) ([]netip.Addr, error) {
		a, err := parseIPv4(s)
		return []netip.Addr{a}, err
	})
	return fw
}

func decodeFirewallPolicy(r *res) *FirewallPolicy {
	p := r.props
	// firewalls, childPolicies and size are read-only; the allow list only
	// narrows threat intelligence, insights only log, transportSecurity only
	// holds the TLS inspection certificate (docs/environment.md).
	p.ignore("firewalls", "childPolicies", "threatIntelWhitelist", "insights", "transportSecurity", "size", "provisioningState")
	threatIntelMode(p)
	idps := p.child("intrusionDetection")
	// Bypass rules and private ranges matter only where IDPS denies.
	idps.ignore("profile")
	if idps.enum("mode", false, "Off", "Alert", "Deny") == "Deny" {
		idps.refuse("mode", "Deny", idpsDenyUnsupported)
	}
	idpsConf := idps.child("configuration")
	idpsConf.ignore("bypassTrafficSettings", "privateRanges")
	for _, o := range idpsConf.items("signatureOverrides") {
		o.ignore("id")
		if o.enum("mode", false, "Off", "Alert", "Deny") == "Deny" {
			o.refuse("mode", "Deny", idpsDenyUnsupported)
		}
	}
	proxy := p.child("explicitProxy")
	proxy.ignore("httpPort", "httpsPort", "enablePacFile", "pacFilePort", "pacFile")
	if proxy.boolean("enableExplicitProxy", false) {
		proxy.refuse("enableExplicitProxy", "true", "the explicit proxy is not modeled: securetrain judges flows routed through the firewall, not flows addressed to it as a proxy")
	}
	if sql := p.child("sql"); sql.boolean("allowSqlRedirect", false) {
		sql.refuse("allowSqlRedirect", "true", "SQL redirect is not modeled: it lets SQL clients reach database nodes on ports 11000-11999 after the gateway's 1433")
	}
	p.child("sku").enum("tier", false, "Basic", "Standard", "Premium")
	pol := &FirewallPolicy{Meta: r.meta(), BasePolicy: p.ref("basePolicy", TypeFirewallPolicy)}
	dns := p.child("dnsSettings")
	dns.ignore("requireProxyForNetworkRules")
	pol.DNSProxy = dns.boolean("enableProxy", false)
	pol.DNSServers = dns.ipv4s("servers")
	snat := p.child("snat")
	// Learning needs an Azure Route Server, which a file cannot hold.
	snat.enum("autoLearnPrivateRanges", false, "Enabled", "Disabled")
	for _, v := range snat.list("privateRanges", false, false) {
		ps, err := parseSNATRange(v.Str())
		if err != nil {
			snat.errf(v.Line(), "%s %v", snat.name("privateRanges"), err)
			continue
		}
		pol.SNATPrivateRanges = append(pol.SNATPrivateRanges, ps...)
	}
	// Azure reports the policy's groups here as ids; ARM has no inline form.
	for _, it := range p.items("ruleCollectionGroups") {
		if it.v.Len() != 1 || it.v.Key(0) != "id" {
			it.errf(int(it.line), "ruleCollectionGroups only lists the ids Azure reports; declare each group as a %s resource named policy/group", TypeRuleGroup)
			it.ignoreRest()
			continue
		}
		it.ignore("id")
	}
	return pol
}

// ruleGroup is a decoded rule collection group, flattened into its policy.
type ruleGroup struct{ collections []FirewallRuleCollection }

func attachRuleGroup(_ *decoder, p *FirewallPolicy, g *ruleGroup) {
	p.RuleCollections = append(p.RuleCollections, g.collections...)
}

const (
	filterCollection = "FirewallPolicyFilterRuleCollection"
	natCollection    = "FirewallPolicyNatRuleCollection"
)

var policyRuleKinds = map[string]FirewallRuleKind{
	"NetworkRule": FirewallNetwork, "ApplicationRule": FirewallApplication, "NatRule": FirewallNAT,
}

func decodeRuleGroup(r *res) *ruleGroup {
	p := r.props
	p.ignore("size", "provisioningState")
	prio, _ := p.integer("priority", 100, 65000, true)
	g := &ruleGroup{}
	for _, it := range p.items("ruleCollections") {
		c := FirewallRuleCollection{Name: it.needStr("name"), Group: r.leaf(), GroupPriority: prio, Pos: r.d.pos(int(it.line))}
		c.Priority, _ = it.integer("priority", 100, 65000, true)
		action := it.child("action")
		switch it.enum("ruleCollectionType", true, filterCollection, natCollection) {
		case filterCollection:
			// The first rule decides between network and application.
			c.Kind, c.Action = "", action.enum("type", true, "Allow", "Deny")
		case natCollection:
			c.Kind, c.Action = FirewallNAT, action.enum("type", true, "Dnat")
		default:
			it.ignoreRest()
			action.ignoreRest()
			continue
		}
		for _, ru := range it.items("rules") {
			rt := ru.enum("ruleType", true, "NetworkRule", "ApplicationRule", "NatRule")
			kind := policyRuleKinds[rt]
			switch {
			case rt == "":
				ru.ignoreRest()
				continue
			case (c.Kind == FirewallNAT) != (kind == FirewallNAT):
				ru.errf(ru.lineOf("ruleType"), "a %s cannot hold a %s", it.str("ruleCollectionType"), rt)
				ru.ignoreRest()
				continue
			case c.Kind == "":
				c.Kind = kind
			case c.Kind != kind:
				ru.errf(ru.lineOf("ruleType"), "rule collection %s mixes network and application rules; Azure allows one kind per collection", c.Name)
			}
			c.Rules = append(c.Rules, firewallRule(ru, kind, true))
		}
		if c.Kind == "" {
			// An empty filter collection matches nothing; file it with network rules.
			c.Kind = FirewallNetwork
		}
		g.collections = append(g.collections, c)
	}
	return g
}

// firewallRule reads a classic or policy rule of one kind. Policy rules
// name their network protocols ipProtocols; classic rules, protocols.
func firewallRule(o *obj, kind FirewallRuleKind, policy bool) FirewallRule {
	o.ignore("description")
	rule := FirewallRule{Name: o.needStr("name"),
		SourceAddresses: firewallAddresses(o, "sourceAddresses", false, !o.present("sourceIpGroups"))}
	o.unsupported("sourceIpGroups", ipGroupsUnsupported)
	if kind == FirewallApplication {
		for _, pr := range o.items("protocols") {
			port, _ := pr.integer("port", 0, 64000, true)
			rule.AppProtocols = append(rule.AppProtocols, FirewallAppProtocol{Type: pr.enum("protocolType", true, firewallAppProtocols...), Port: port})
		}
		rule.TargetFqdns = o.strings("targetFqdns")
		// A tag stands for FQDN lists Microsoft maintains and changes; a
		// rule that silently matched nothing would deny what Azure allows.
		o.unsupported("fqdnTags", "FQDN tags are not modeled; list the FQDNs the tag stands for in targetFqdns "+
			"(for AzureKubernetesService, Azure's article \"Control egress traffic using Azure Firewall in AKS\" lists them)")
		if len(rule.TargetFqdns) == 0 && !o.present("fqdnTags") {
			o.missing(o.name("targetFqdns"))
		}
		if policy {
			o.ignore("terminateTLS", "httpHeadersToInsert")
			rule.DestinationAddresses = firewallAddresses(o, "destinationAddresses", false, false)
			o.unsupported("webCategories", "web categories are not modeled; list the FQDNs")
			o.unsupported("targetUrls", "URL filtering is not modeled; use targetFqdns")
		}
		return rule
	}
	protocols := "protocols"
	if policy {
		protocols = "ipProtocols"
	}
	rule.Protocols = o.enums(protocols, true, firewallNetProtocols...)
	rule.DestinationAddresses = firewallAddresses(o, "destinationAddresses", kind == FirewallNetwork, kind == FirewallNAT)
	for _, v := range o.list("destinationPorts", true, true) {
		pr, err := parsePortRange(v.Str())
		if err != nil {
			o.errf(v.Line(), "%s %v", o.name("destinationPorts"), err)
			continue
		}
		rule.DestinationPorts = append(rule.DestinationPorts, pr)
	}
	if kind == FirewallNetwork {
		refused := false
		for _, v := range o.list("destinationFqdns", false, false) {
			if strings.Contains(v.Str(), "*") {
				refused = true
				// "FQDN filtering in network rules doesn't support wildcards
				// by design" (Use FQDN filtering in network rules).
				o.errf(v.Line(), "%s %q: network rules match the addresses a name resolves to and take no wildcards; list the names, or use an application rule for HTTP/S", o.name("destinationFqdns"), v.Str())
				continue
			}
			rule.DestinationFqdns = append(rule.DestinationFqdns, v.Str())
		}
		o.unsupported("destinationIpGroups", ipGroupsUnsupported)
		if len(rule.DestinationAddresses) == 0 && len(rule.DestinationFqdns) == 0 && !refused && !o.present("destinationAddresses") {
			o.missing(o.name("destinationAddresses") + " or destinationFqdns")
		}
		return rule
	}
	o.unsupported("translatedFqdn", "translate to an address (translatedAddress)")
	if a := o.ipv4("translatedAddress", true); a.IsValid() {
		rule.TranslatedAddress = a.String()
	}
	if v := o.text("translatedPort"); v.IsZero() {
		o.missing(o.name("translatedPort"))
	} else if _, err := parsePort(v.Str()); err != nil {
		o.errf(v.Line(), "%s %v", o.name("translatedPort"), err)
	} else {
		rule.TranslatedPort = v.Str()
	}
	return rule
}

// firewallAddresses reads a list of firewall rule addresses.
func firewallAddresses(o *obj, key string, tags, required bool) []string {
	var out []string
	for _, v := range o.list(key, required, false) {
		if err := parseFirewallAddress(v.Str(), tags); err != nil {
			o.errf(v.Line(), "%s %v", o.name(key), err)
			continue
		}
		out = append(out, v.Str())
	}
	return out
}

// commaList reads a comma-separated string of additionalProperties (the
// classic firewall's only list form), parsing each entry.
func commaList[T any](ap *obj, key string, parse func(string) ([]T, error)) []T {
	v := ap.text(key)
	if v.IsZero() {
		return nil
	}
	var out []T
	for s := range strings.SplitSeq(v.Str(), ",") {
		items, err := parse(strings.TrimSpace(s))
		if err != nil {
			ap.errf(v.Line(), "additionalProperties.%s %v", key, err)
			continue
		}
		out = append(out, items...)
	}
	return out
}

// parseSNATRange reads one of a firewall's SNAT private ranges: an IPv4
// address, a CIDR, or IANAPrivateRanges (Azure's defaults).
func parseSNATRange(s string) ([]netip.Prefix, error) {
	if strings.EqualFold(s, "IANAPrivateRanges") {
		return IANAPrivateRanges, nil
	}
	if !strings.Contains(s, "/") {
		a, err := parseIPv4(s)
		if err != nil {
			return nil, fmt.Errorf("%w (want an address, a CIDR or IANAPrivateRanges)", err)
		}
		return []netip.Prefix{netip.PrefixFrom(a, 32)}, nil
	}
	p, err := parseIPv4Prefix(s)
	if err != nil {
		return nil, fmt.Errorf("%w (want an address, a CIDR or IANAPrivateRanges)", err)
	}
	return []netip.Prefix{p}, nil
}
