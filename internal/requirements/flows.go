package requirements

import (
	"fmt"
	"strings"

	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// need is one flow a compute needs, before evaluation.
type need struct {
	dir      netverify.Direction
	target   netverify.Endpoint // service tag or DNS name (outbound destination, inbound source)
	proto    netverify.Protocol
	port     uint16
	severity Severity
	why      string
	refs     []string // Azure articles the need comes from
	// fqdns are the names a firewall may allow instead of the tag (spec
	// §4.3, §5.1): the flow passes if one of them does.
	fqdns []string
	// code is the finding raised when the flow is blocked; by default
	// required-outbound-blocked or required-inbound-blocked.
	code string
	// dnsReported: the target is a name dnsFindings checks resolves to a
	// private endpoint, which reports it when it does not resolve at all.
	dnsReported bool
}

// computeContext is what decides a compute's needs (spec §2, §4).
type computeContext struct {
	c       *resources.Compute
	ws      *resources.Workspace // nil when the workspace is not in the file
	region  string               // lower-case
	wsPE    bool                 // the workspace has a private endpoint
	hbi     bool
	storage *resources.StorageAccount // the workspace's default storage, when in the file
	// storageEndpoints are the default storage's private endpoints by
	// group id (blob, file).
	storageEndpoints map[string][]*resources.PrivateEndpoint
	aiPublic         bool // Application Insights is not private-linked
	opts             Options
	usage            map[string]subnetUse // by subnet key, shared by all computes
}

// Options are the workspace choices an environment file does not record.
type Options struct {
	// RStudio: computes run RStudio (outbound TCP 8787 to AzureMachineLearning).
	RStudio bool
}

// needs lists the flows a compute needs (spec §2, §4.3, §5.1).
func needs(cc computeContext, lookup func(string) (string, bool)) []need {
	r := cc.region
	tag := func(base string) string {
		if name, ok := lookup(base + "." + r); ok {
			return name
		}
		return base
	}
	out := func(tag string, proto netverify.Protocol, port uint16, sev Severity, why string, refs []string, fqdns ...string) need {
		return need{dir: netverify.DirectionOutbound, target: netverify.TagEndpoint(tag), proto: proto, port: port, severity: sev, why: why, refs: refs, fqdns: fqdns}
	}
	batch := []string{"x." + r + ".batch.azure.com", "x." + r + ".service.batch.azure.com"}
	storage := []string{"x.blob.core.windows.net", "x.queue.core.windows.net", "x.table.core.windows.net"}
	ns := []need{
		out("AzureActiveDirectory", netverify.TCP, 443, Error, "Entra ID authentication", []string{articleNetworkTraffic}, "login.microsoftonline.com", "graph.windows.net"),
		out("AzureActiveDirectory", netverify.TCP, 80, Warning, "Entra ID over HTTP, certificate revocation", []string{articleNetworkTraffic}, "login.microsoftonline.com"),
		out("AzureMachineLearning", netverify.TCP, 443, Error, "Azure Machine Learning service", []string{articleNetworkTraffic, articleTrainingVNet}, "x.instances.azureml.ms", "x.instances.azureml.net", "ml.azure.com"),
		out("AzureMachineLearning", netverify.UDP, 5831, Error, "compute create, update and delete", []string{articleNetworkTraffic, articleTrainingVNet}, r+".tundra.azureml.ms", "x.tundra."+r+".api.azureml.ms"),
		out(tag("BatchNodeManagement"), netverify.TCP, 443, Error, "Azure Batch back end of instances and clusters", []string{articleNetworkTraffic, articleTrainingVNet}, batch...),
		out("AzureResourceManager", netverify.TCP, 443, Error, "resource creation", []string{articleNetworkTraffic}, "management.azure.com"),
		out(tag("Storage"), netverify.TCP, 443, Error, "storage for the compute", []string{articleNetworkTraffic, articleTrainingVNet}, storage...),
		out("AzureFrontDoor.Frontend", netverify.TCP, 443, Error, "studio entry point and AutoML assets", []string{articleNetworkTraffic}, "ml.azure.com"),
		out(tag("MicrosoftContainerRegistry"), netverify.TCP, 443, Error, "Microsoft container images", []string{articleNetworkTraffic}, "mcr.microsoft.com", "x.data.mcr.microsoft.com"),
		out("AzureFrontDoor.FirstParty", netverify.TCP, 443, Error, "container registry content, which MicrosoftContainerRegistry depends on", []string{articleNetworkTraffic, articleExfiltration}, "x.data.mcr.microsoft.com"),
	}
	if cc.wsPE {
		ns = append(ns, out("AzureMachineLearning", netverify.TCP, 18881, Error, "notebook IntelliSense, needed with a workspace private endpoint", []string{articleNetworkTraffic, docSemantics}, "x.instances.azureml.ms"))
	} else {
		ns = append(ns, out("AzureMachineLearning", netverify.TCP, 18881, Warning, "notebook IntelliSense", []string{articleNetworkTraffic, docSemantics}, "x.instances.azureml.ms"))
	}
	if cc.opts.RStudio {
		ns = append(ns, out("AzureMachineLearning", netverify.TCP, 8787, Error, "RStudio", []string{articleNetworkTraffic}, "x.instances.azureml.ms"))
	}
	// File share mounts of the default storage are checked by its name
	// below when it is in the file; the tag form covers other accounts.
	ns = append(ns, out(tag("Storage"), netverify.TCP, 445, Warning, "file share mounts", []string{articleNetworkTraffic, articleTrainingVNet}, "x.file.core.windows.net"))
	if cc.hbi {
		ns = append(ns, out(tag("AzureKeyVault"), netverify.TCP, 443, Error, "key vault of a high-business-impact workspace", []string{articleNetworkTraffic}, "x.vault.azure.net"))
	}
	if cc.aiPublic {
		ns = append(ns, out("AzureMonitor", netverify.TCP, 443, Warning, "monitoring and support logs, as Application Insights is not private-linked", []string{articleNetworkTraffic}, "dc.applicationinsights.azure.com"))
	}
	ns = append(ns, privateNeeds(cc)...)
	if cc.c.EnableNodePublicIP {
		for _, t := range managementTags(r, lookup) {
			ns = append(ns, need{dir: netverify.DirectionInbound, target: netverify.TagEndpoint(t), proto: netverify.TCP, port: 44224, severity: Error,
				why: "Azure ML manages public-IP computes through it, reply included", refs: []string{articleNetworkTraffic, articleTrainingVNet}})
		}
	}
	return ns
}

// managementTags are the AzureMachineLearning ranges Azure ML manages a
// public-IP compute from: those of its region and of the region's pair
// ("you must add the IP address of both the primary and secondary
// regions", Azure's "Configure inbound and outbound network traffic");
// the global tag when the catalog has no tag for the region.
func managementTags(region string, lookup func(string) (string, bool)) []string {
	primary, ok := lookup("AzureMachineLearning." + region)
	if !ok {
		return []string{"AzureMachineLearning"}
	}
	out := []string{primary}
	if pair, ok := netverify.PairedRegion(region); ok {
		if name, ok := lookup("AzureMachineLearning." + pair); ok {
			out = append(out, name)
		}
	}
	return out
}

// privateNeeds are the flows to the workspace's private endpoint and to
// the default storage account, by the names the compute resolves: to a
// private endpoint in its VNet or a peered one where DNS says so, else to
// the public endpoint, where the storage account's network rules apply.
func privateNeeds(cc computeContext) []need {
	var ns []need
	byName := func(name string, port uint16, why string, dnsReported bool) need {
		return need{dir: netverify.DirectionOutbound, target: netverify.NameEndpoint(name), proto: netverify.TCP, port: port, severity: Error,
			why: why, refs: []string{articleNetworkTraffic, articleTrainingVNet}, dnsReported: dnsReported}
	}
	if cc.ws != nil && cc.wsPE {
		// "VirtualNetwork 443 — required when private endpoints are present";
		// the compute's own names (*.instances.azureml.ms) resolve to the
		// same endpoint, which serves IntelliSense and RStudio.
		api := netverify.WorkspaceAPIName(cc.ws)
		ns = append(ns, byName(api, 443, "the workspace through its private endpoint", true),
			byName(api, 18881, "notebook IntelliSense through the workspace's private endpoint", true))
		if cc.opts.RStudio {
			ns = append(ns, byName(api, 8787, "RStudio through the workspace's private endpoint", true))
		}
	}
	if sa := cc.storage; sa != nil {
		acct := strings.ToLower(sa.ID.Leaf())
		blob, file := len(cc.storageEndpoints["blob"]) > 0, len(cc.storageEndpoints["file"]) > 0
		// SMB to the default storage is required behind a firewall — a
		// private endpoint ("don't block port 445 to the storage account
		// VNet") or network rules — and loses only file mounts otherwise.
		smb := byName(acct+".file.core.windows.net", 445, "file share mounts of the default storage (SMB)", file)
		if !file && !strings.EqualFold(sa.DefaultAction, "Deny") && (sa.PublicNetworkAccess == "" || strings.EqualFold(sa.PublicNetworkAccess, "Enabled")) {
			smb.severity = Warning
		}
		ns = append(ns, byName(acct+".blob.core.windows.net", 443, "the workspace's default storage (blob)", blob),
			byName(acct+".file.core.windows.net", 443, "the default storage's file shares", file), smb)
	}
	return ns
}

// packageHosts are hosts training needs to install packages: without them
// a compute works but cannot install (spec §2).
var packageHosts = []string{"pypi.org", "files.pythonhosted.org", "conda.anaconda.org", "repo.anaconda.com", "cloud.r-project.org", "download.pytorch.org"}

// reportRanges caps the address ranges a report lists per flow outcome;
// the counts stay complete.
const reportRanges = 8

// evaluate runs a need through the verifier. A need blocked by a firewall's
// default deny passes if one of its FQDN forms passes (application rules
// match names, spec §5.1).
func evaluate(n *netverify.Network, c *resources.Compute, nd need) (FlowCheck, error) {
	compute := netverify.ResourceEndpoint(c.ID)
	q := netverify.Query{From: compute, To: nd.target, Protocol: nd.proto, Port: nd.port, MaxRanges: reportRanges}
	name := fmt.Sprintf("outbound %s %d to %s", nd.proto, nd.port, nd.target)
	if nd.dir == netverify.DirectionInbound {
		q.From, q.To = nd.target, compute
		name = fmt.Sprintf("inbound %s %d from %s", nd.proto, nd.port, nd.target)
	}
	res, err := n.Flow(q)
	if err != nil {
		return FlowCheck{}, fmt.Errorf("%s: %w", name, err)
	}
	fc := FlowCheck{Name: name, Direction: nd.dir, From: q.From.String(), To: q.To.String(), Protocol: nd.proto.String(), Port: int(nd.port),
		Severity: nd.severity, Why: nd.why, References: nd.refs, Verdict: res.Verdict, Result: res, code: nd.code, dnsReported: nd.dnsReported}
	if decidedBy(res, netverify.HopStorage) {
		fc.code = "storage-refuses-compute"
	}
	if fc.code == "" {
		fc.code = "required-outbound-blocked"
		if nd.dir == netverify.DirectionInbound {
			fc.code = "required-inbound-blocked"
		}
	}
	if res.Verdict == netverify.Allowed || !decidedBy(res, netverify.HopFirewall) {
		return fc, nil
	}
	for _, fqdn := range nd.fqdns {
		// Most forms are denied as well: only the one that passes is
		// explained.
		aq := netverify.Query{From: compute, To: netverify.NameEndpoint(fqdn), Protocol: nd.proto, Port: nd.port, MaxRanges: reportRanges, VerdictOnly: true}
		if v, err := n.Flow(aq); err != nil || v.Verdict != netverify.Allowed {
			continue
		}
		aq.VerdictOnly = false
		alt, err := n.Flow(aq)
		if err == nil && alt.Verdict == netverify.Allowed {
			fc.Verdict, fc.Result, fc.To = alt.Verdict, alt, fqdn
			fc.Name += " (as " + fqdn + ")"
			return fc, nil
		}
	}
	return fc, nil
}

// decidedBy reports whether a hop of the kind denied some piece: an Azure
// Firewall, or a storage account's network rules.
func decidedBy(res *netverify.Result, kind netverify.HopKind) bool {
	for _, o := range res.Outcomes {
		if o.Verdict == netverify.Denied && len(o.Hops) > 0 && o.Hops[len(o.Hops)-1].Kind == kind {
			return true
		}
	}
	return false
}

// blocker names what blocked a flow, for one-line summaries:
// "nsg1/DenyAllOutBound (65500)" or the deciding hop's sentence.
func blocker(res *netverify.Result) string {
	for _, o := range res.Outcomes {
		if o.Verdict == netverify.Allowed || len(o.Hops) == 0 {
			continue
		}
		h := o.Hops[len(o.Hops)-1]
		if h.Kind == netverify.HopNSG {
			nsg := h.Resource[strings.LastIndex(h.Resource, "/")+1:]
			return fmt.Sprintf("%s by %s/%s (%d)", strings.ToLower(string(o.Verdict)), nsg, h.Rule, h.Priority)
		}
		return fmt.Sprintf("%s: %s", o.Verdict, h.Detail)
	}
	if len(res.Outcomes) > 0 {
		return string(res.Outcomes[0].Verdict) + ": " + res.Outcomes[0].Reason
	}
	return string(res.Verdict)
}
