package netverify

import (
	"errors"
	"fmt"
	"net/netip"

	"securetrain/internal/arm"
	"securetrain/internal/ipset"
)

// Direction of a flow query, relative to the environment.
type Direction string

// Directions. A Query with no direction has it inferred from its source.
const (
	DirectionOutbound Direction = "outbound"
	DirectionInbound  Direction = "inbound"
)

// endpointForm says what an Endpoint names.
type endpointForm uint8

const (
	formNone endpointForm = iota
	formResource
	formPrefix
	formRange
	formTag
	formDNSName
)

// Endpoint is one side of a flow query: a resource of the network, a set
// of addresses, a service tag or (as a destination) a DNS name. Build it
// with the constructors; the zero Endpoint names nothing and is refused.
type Endpoint struct {
	form   endpointForm
	id     arm.ID
	prefix netip.Prefix
	lo, hi netip.Addr
	name   string
	// label is how the caller named the endpoint, echoed in the result.
	label string
}

// ResourceEndpoint is a compute (its node addresses), a subnet (its
// usable addresses), a network interface or a private endpoint (its
// private addresses).
func ResourceEndpoint(id arm.ID) Endpoint { return Endpoint{form: formResource, id: id} }

// AddressEndpoint is one IPv4 address.
func AddressEndpoint(a netip.Addr) Endpoint {
	return Endpoint{form: formPrefix, prefix: netip.PrefixFrom(a, a.BitLen())}
}

// PrefixEndpoint is the IPv4 addresses of a CIDR.
func PrefixEndpoint(p netip.Prefix) Endpoint { return Endpoint{form: formPrefix, prefix: p.Masked()} }

// RangeEndpoint is the IPv4 addresses lo to hi, both included.
func RangeEndpoint(lo, hi netip.Addr) Endpoint { return Endpoint{form: formRange, lo: lo, hi: hi} }

// TagEndpoint is a service tag of the network's catalog, or one of the
// tags computed per network (Internet, AzureLoadBalancer).
func TagEndpoint(name string) Endpoint { return Endpoint{form: formTag, name: name} }

// NameEndpoint is a DNS name, resolved from the source's virtual network
// (private zones, custom DNS servers) or publicly; a destination only.
func NameEndpoint(name string) Endpoint { return Endpoint{form: formDNSName, name: name} }

// Labelled returns e with the text a caller named it by, which the result
// echoes instead of the canonical form.
func (e Endpoint) Labelled(text string) Endpoint {
	e.label = text
	return e
}

// String is the endpoint's canonical text (or its label).
func (e Endpoint) String() string {
	switch {
	case e.label != "":
		return e.label
	case e.form == formResource:
		return e.id.String()
	case e.form == formPrefix && e.prefix.IsSingleIP():
		return e.prefix.Addr().String()
	case e.form == formPrefix:
		return e.prefix.String()
	case e.form == formRange:
		return e.lo.String() + "-" + e.hi.String()
	}
	return e.name
}

// addresses is the set an address endpoint stands for.
func (e Endpoint) addresses() (ipset.Set, error) {
	if e.form == formPrefix {
		r, ok := ipset.PrefixRange(e.prefix)
		if !ok {
			return ipset.Set{}, errors.New("is not IPv4; the verifier is IPv4-only")
		}
		return ipset.FromRanges([]ipset.Range{r}), nil
	}
	lo, ok1 := ipset.U32(e.lo)
	hi, ok2 := ipset.U32(e.hi)
	switch {
	case !ok1 || !ok2:
		return ipset.Set{}, errors.New("is not IPv4; the verifier is IPv4-only")
	case lo > hi:
		return ipset.Set{}, errors.New("is a range that ends before it starts")
	}
	return ipset.FromRanges([]ipset.Range{{Lo: lo, Hi: hi}}), nil
}

// AnyProtocol stands, in a Query, for TCP, UDP and ICMP: each is
// evaluated and has its own outcomes.
const AnyProtocol = numProtocols

// Query asks whether traffic from From to To is allowed.
type Query struct {
	From, To Endpoint
	// Protocol of the flows (the zero value is TCP); AnyProtocol for TCP,
	// UDP and ICMP.
	Protocol Protocol
	// Port is the destination port (TCP and UDP).
	Port uint16
	// SourcePort 0 stands for an ephemeral port (DefaultSourcePort).
	SourcePort uint16
	// Direction is outbound (From is inside the environment), inbound (To
	// is inside and From outside) or "" to infer.
	Direction Direction
	// MaxRanges caps the ranges each outcome lists (0: all); the counts
	// are always complete.
	MaxRanges int
	// VerdictOnly asks for the verdict alone: the result has no outcomes
	// (nothing is explained), which is most of the cost of a query whose
	// answer only decides whether to say more.
	VerdictOnly bool
}

// Packet is one packet of a flow: its 5-tuple.
type Packet struct {
	Protocol        Protocol
	Source          netip.Addr
	Destination     netip.Addr
	SourcePort      uint16
	DestinationPort uint16
}

// pointFlow is the packet as the walk evaluates it.
func (p Packet) pointFlow() (pointFlow, error) {
	if p.Protocol >= numProtocols {
		return pointFlow{}, fmt.Errorf("a packet has one protocol, not %s", p.Protocol)
	}
	src, ok1 := ipset.U32(p.Source)
	dst, ok2 := ipset.U32(p.Destination)
	if !ok1 || !ok2 {
		return pointFlow{}, fmt.Errorf("packet %s -> %s is not IPv4; the verifier is IPv4-only", p.Source, p.Destination)
	}
	f := pointFlow{src: src, dst: dst, proto: p.Protocol}
	if p.Protocol.hasPorts() {
		f.sport, f.dport = p.SourcePort, p.DestinationPort
	}
	return f, nil
}
