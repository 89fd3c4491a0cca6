package requirements

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"securetrain/internal/netverify"
	"securetrain/internal/parallel"
	"securetrain/internal/resources"
)

// Check evaluates every compute instance and cluster of the network's
// snapshot, and the environment-wide rules.
func Check(n *netverify.Network, opts Options) (*Report, error) {
	var computes []ComputeReport
	rep, err := CheckEach(n, opts, func(cr ComputeReport) error {
		computes = append(computes, cr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Computes = append(rep.Computes, computes...)
	return rep, nil
}

// checkWindow is how many computes are checked and handed over together:
// a batch is emitted once all its computes are checked, while the next
// batch is being checked. Enough to keep every core busy, few enough that
// their reports (each holds its flows' explained answers) take little
// memory.
const checkWindow = 64

// CheckEach is Check for environments whose full report is too large to
// hold: each compute's report is handed to emit in file order as soon as
// it is ready, and not kept. The report returned has the environment-wide
// findings and the counts over everything, and no computes. An error from
// emit stops the check and is returned.
func CheckEach(n *netverify.Network, opts Options, emit func(ComputeReport) error) (*Report, error) {
	snap := n.Snapshot()
	rep := &Report{ServiceTags: n.ServiceTags().Version(), Computes: []ComputeReport{}, Findings: []Finding{}}
	lookup := tagLookup(n)
	usage := subnetUsage(snap)
	// The environment-wide rules are checked beside the computes, so that
	// neither leaves a core idle while the other ends (its NSG analysis
	// keeps only findings: see nsgFindings).
	envc := make(chan []Finding, 1)
	go func() { envc <- environmentFindings(n) }()
	computes := snap.Computes
	reports := make([]ComputeReport, len(computes))
	errs := make([]error, len(computes))
	err := parallel.Batches(len(computes), checkWindow, func(i int) {
		c := computes[i]
		if reports[i], errs[i] = checkCompute(n, c, opts, usage, lookup); errs[i] != nil {
			errs[i] = fmt.Errorf("compute %s: %w", c.ID.Name(), errs[i])
		}
	}, func(lo, hi int) error {
		if err := errors.Join(errs[lo:hi]...); err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			rep.Counts.add(reports[i].Findings)
			err := emit(reports[i])
			reports[i] = ComputeReport{} // emitted: not kept
			if err != nil {
				return err
			}
		}
		return nil
	})
	envFindings := <-envc
	if err != nil {
		return nil, err
	}
	rep.Findings = append(rep.Findings, envFindings...)
	rep.Counts.add(rep.Findings)
	return rep, nil
}

// tagLookup finds a service tag's canonical name in the network's catalog.
func tagLookup(n *netverify.Network) func(string) (string, bool) {
	return func(name string) (string, bool) {
		t, ok := n.ServiceTags().Lookup(name)
		if !ok {
			return "", false
		}
		return t.Name, true
	}
}

func (c *Counts) add(fs []Finding) {
	for _, f := range fs {
		switch f.Severity {
		case Error:
			c.Errors++
		case Warning:
			c.Warnings++
		default:
			c.Infos++
		}
	}
}

// context gathers what decides a compute's needs.
func context(snap *resources.Snapshot, c *resources.Compute, opts Options, usage map[string]subnetUse) computeContext {
	cc := computeContext{c: c, ws: snap.Workspace(c.Workspace), opts: opts, usage: usage}
	cc.region = computeRegion(c, cc.ws)
	if cc.ws != nil {
		cc.hbi = cc.ws.HBIWorkspace
		cc.wsPE = len(privateEndpointsOf(snap, cc.ws.ID.Key())) > 0
		if cc.storage = snap.StorageAccount(cc.ws.StorageAccount.ID); cc.storage != nil {
			cc.storageEndpoints = storageEndpoints(snap, cc.storage)
		}
		cc.aiPublic = cc.ws.ApplicationInsights.IsSet() && len(privateEndpointsOf(snap, cc.ws.ApplicationInsights.ID.Key())) == 0
	}
	return cc
}

// storageEndpoints lists a storage account's private endpoints by the
// group ids they serve (lower-case: blob, file, …).
func storageEndpoints(snap *resources.Snapshot, sa *resources.StorageAccount) map[string][]*resources.PrivateEndpoint {
	out := map[string][]*resources.PrivateEndpoint{}
	for _, pe := range privateEndpointsOf(snap, sa.ID.Key()) {
		for _, conn := range pe.Connections {
			if !conn.Target.ID.Equal(sa.ID) {
				continue
			}
			for _, g := range conn.GroupIDs {
				if g = strings.ToLower(g); !slices.Contains(out[g], pe) {
					out[g] = append(out[g], pe)
				}
			}
		}
	}
	return out
}

// privateEndpointsOf lists the private endpoints connected to a resource.
func privateEndpointsOf(snap *resources.Snapshot, key string) []*resources.PrivateEndpoint {
	var out []*resources.PrivateEndpoint
	for _, pe := range snap.PrivateEndpoints {
		if slices.ContainsFunc(pe.Connections, func(c resources.PrivateLinkConnection) bool { return c.Target.ID.Key() == key }) {
			out = append(out, pe)
		}
	}
	return out
}

func checkCompute(n *netverify.Network, c *resources.Compute, opts Options, usage map[string]subnetUse, lookup func(string) (string, bool)) (ComputeReport, error) {
	snap := n.Snapshot()
	cc := context(snap, c, opts, usage)
	cr := ComputeReport{Name: c.ID.Name(), ID: c.ID.String(), Position: c.Pos, Type: c.ComputeType,
		PublicIP: c.EnableNodePublicIP, Region: cc.region, Flows: []FlowCheck{}, Findings: []Finding{}}
	if sn := snap.Subnet(c.Subnet.ID); sn != nil {
		cr.Subnet = sn.ID.String()
	}
	cr.Findings = append(cr.Findings, prerequisites(snap, cc)...)
	cr.Findings = append(cr.Findings, attachedFindings(n, c)...)
	// Flows are checked for instances and clusters placed in a subnet of
	// the file; attached computes and managed-network computes have none.
	if (c.ComputeType == resources.ComputeAml || c.ComputeType == resources.ComputeInstance) && cr.Subnet != "" {
		var blocked []FlowCheck
		for _, nd := range needs(cc, lookup) {
			fc, err := evaluate(n, c, nd)
			if err != nil {
				return cr, err
			}
			cr.Flows = append(cr.Flows, fc)
			if fc.Verdict != netverify.Allowed {
				blocked = append(blocked, fc)
			}
		}
		for _, host := range packageHosts {
			fc, err := evaluate(n, c, need{dir: netverify.DirectionOutbound, target: netverify.NameEndpoint(host), proto: netverify.TCP, port: 443,
				severity: Warning, why: "package installation", refs: []string{articleNetworkTraffic}, code: "package-host-blocked"})
			if err != nil {
				return cr, err
			}
			cr.Flows = append(cr.Flows, fc)
			if fc.Verdict != netverify.Allowed {
				blocked = append(blocked, fc)
			}
		}
		cr.Findings = append(cr.Findings, flowFindings(c, blocked)...)
		cr.Findings = append(cr.Findings, dnsFindings(n, cc, cr.Flows)...)
	}
	cr.Status, cr.Summary = summarize(cr)
	return cr, nil
}

// flowFindings reports the needed flows that do not pass, one finding per
// cause: flows blocked by the same element with the same severity share
// one finding (a subnet with no way out blocks them all).
func flowFindings(c *resources.Compute, blocked []FlowCheck) []Finding {
	type group struct {
		f     Finding
		names []string
		cause string
	}
	var groups []*group
	index := map[string]*group{}
	for _, fc := range blocked {
		if fc.Verdict == netverify.DNSFailure && fc.dnsReported {
			continue // the name's DNS finding says why
		}
		cause := blocker(fc.Result)
		key := fc.code + "|" + string(fc.Severity) + "|" + cause
		g, ok := index[key]
		if !ok {
			g = &group{cause: cause, f: Finding{Code: fc.code, Severity: fc.Severity, Resource: c.ID.String(), Position: c.Pos, References: fc.References}}
			for _, o := range fc.Result.Outcomes {
				if o.Verdict != netverify.Allowed && o.Fix != "" {
					g.f.Fix = o.Fix
					break
				}
			}
			index[key] = g
			groups = append(groups, g)
		}
		g.names = append(g.names, fc.Name+" ("+fc.Why+")")
	}
	out := make([]Finding, 0, len(groups))
	for _, g := range groups {
		verb := "is"
		if len(g.names) > 1 {
			verb = "are"
		}
		g.f.Message = strings.Join(g.names, ", ") + " " + verb + " " + g.cause
		out = append(out, g.f)
	}
	return out
}

// summarize gives a compute its status and the one-line summary that
// leads the text report, naming it workspace/compute: computes of two
// workspaces may share a name.
func summarize(cr ComputeReport) (Status, string) {
	name := cr.Name
	var firstWarning *Finding
	for i, f := range cr.Findings {
		if f.Severity == Error {
			return WillFail, fmt.Sprintf("%s: will fail — %s", name, f.Message)
		}
		if f.Severity == Warning && firstWarning == nil {
			firstWarning = &cr.Findings[i]
		}
	}
	if firstWarning != nil {
		return Degraded, fmt.Sprintf("%s: works, with warnings — %s", name, firstWarning.Message)
	}
	return OK, fmt.Sprintf("%s: ok — all %d required flows pass", name, len(cr.Flows))
}

// Readiness evaluates the flows a compute's nodes require (error
// severity: spec §2, §4.3) and returns them with the ones blocked grouped
// into findings, one per cause, naming the deciding element and the fix.
// No findings means its nodes can work. The provisioner asks this before
// it brings nodes up; `check` reports the same findings.
func Readiness(n *netverify.Network, c *resources.Compute, opts Options) ([]FlowCheck, []Finding, error) {
	snap := n.Snapshot()
	if snap.Subnet(c.Subnet.ID) == nil {
		return nil, nil, nil // not in a subnet of the network: nothing to verify
	}
	cc := context(snap, c, opts, nil)
	lookup := tagLookup(n)
	var flows, blocked []FlowCheck
	for _, nd := range needs(cc, lookup) {
		if nd.severity != Error {
			continue
		}
		fc, err := evaluate(n, c, nd)
		if err != nil {
			return nil, nil, err
		}
		flows = append(flows, fc)
		if fc.Verdict != netverify.Allowed {
			blocked = append(blocked, fc)
		}
	}
	return flows, flowFindings(c, blocked), nil
}
