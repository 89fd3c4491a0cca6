package provision

import (
	"net/netip"

	"securetrain/internal/fabric"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
)

// FabricFlow is a required flow as a fabric probes it: a packet of the
// part the verifier blocks, when it blocks one, else of the allowed whole.
func FabricFlow(fc requirements.FlowCheck) fabric.Flow {
	f := fabric.Flow{Name: fc.Name, Inbound: fc.Direction == netverify.DirectionInbound, Protocol: fc.Protocol, Remote: fc.To,
		Predicted: fc.Verdict == netverify.Allowed}
	if f.Inbound {
		f.Remote = fc.From
	} else if fc.Result != nil && fc.Result.Destination.Kind == netverify.EndpointDNSName {
		f.DNSName = fc.To
	}
	outs := fc.Result.Outcomes
	if len(outs) == 0 {
		return f
	}
	o := outs[0]
	for _, x := range outs {
		if x.Verdict != netverify.Allowed {
			o, f.Blocker = x, x.Reason
			if x.Fix != "" {
				f.Blocker += "; fix: " + x.Fix
			}
			break
		}
	}
	p := o.Sample // none for a name that does not resolve
	f.Source, f.Destination, f.SourcePort, f.DestinationPort = p.Source, p.Destination, p.SourcePort, p.DestinationPort
	if o.Verdict == netverify.DNSFailure {
		// The sample is the DNS query's packet, if any: a fabric that
		// resolves the name itself sends the flow to the answer, on the
		// flow's own port.
		f.Destination, f.SourcePort, f.DestinationPort = netip.Addr{}, netverify.DefaultSourcePort, uint16(fc.Port)
	}
	return f
}
