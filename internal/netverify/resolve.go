package netverify

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/arm"
)

// ParseEndpoint reads the text a person names a flow endpoint by: a
// resource id, an IP, a CIDR, a range "a-b", a compute ("workspace/compute",
// or its name when unambiguous), a service tag, a DNS name or a subnet
// ("vnet/subnet"). It only reads text: errors name the text, and callers
// add where it came from (a command-line flag, a request field).
func (n *Network) ParseEndpoint(text string) (Endpoint, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return Endpoint{}, errors.New("an endpoint is empty")
	case strings.HasPrefix(text, "/"):
		id, err := arm.ParseID(text, n.snap.Subscription)
		if err != nil {
			return Endpoint{}, err
		}
		return ResourceEndpoint(id).Labelled(text), nil
	case looksLikeAddress(text):
		e, err := parseAddresses(text)
		return e.Labelled(text), err
	}
	if cc := n.findCompute(text); cc != nil {
		return ResourceEndpoint(cc.c.ID).Labelled(text), nil
	}
	if _, ok := n.computedTag(text); ok {
		return TagEndpoint(text), nil
	}
	if t, ok := n.tags.Lookup(text); ok {
		return TagEndpoint(t.Name).Labelled(text), nil
	}
	if isDNSName(text) {
		if err := n.acceptName(text); err != nil {
			return Endpoint{}, err
		}
		return NameEndpoint(text), nil
	}
	if sc := n.findSubnet(text); sc != nil {
		return ResourceEndpoint(sc.s.ID).Labelled(text), nil
	}
	if strings.Contains(text, "/") {
		return Endpoint{}, fmt.Errorf("%q is neither a compute (workspace/compute) nor a subnet (vnet/subnet) of the environment", text)
	}
	err := fmt.Errorf("%q is neither a compute, an address, a service tag of catalog %s, nor a DNS name", text, n.tags.Version())
	if suggestion := n.tagLookAlike(strings.ToLower(text)); suggestion != "" {
		err = fmt.Errorf("%w; did you mean %s?", err, suggestion)
	}
	return Endpoint{}, err
}

// parseAddresses reads "10.0.0.4", "10.0.0.0/24" or "10.0.0.4-10.0.0.9".
func parseAddresses(text string) (Endpoint, error) {
	if lo, hi, ok := strings.Cut(text, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil {
			return Endpoint{}, fmt.Errorf("%q is not a range of IP addresses (a.b.c.d-e.f.g.h)", text)
		}
		return RangeEndpoint(a, b), nil
	}
	if strings.Contains(text, "/") {
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%q is not a valid CIDR", text)
		}
		return PrefixEndpoint(p), nil
	}
	a, err := netip.ParseAddr(text)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%q is not a valid IP address", text)
	}
	return AddressEndpoint(a), nil
}

// looksLikeAddress tells addresses from names: IPv4 has digits only,
// IPv6 (refused later, by name) colons.
func looksLikeAddress(s string) bool {
	c := s[0]
	return strings.Contains(s, ":") ||
		c >= '0' && c <= '9' && !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
}

// findSubnet finds a subnet by "vnet/subnet" when exactly one matches.
func (n *Network) findSubnet(text string) *subnetCtx {
	var found *subnetCtx
	for _, vc := range n.vnets {
		for _, sc := range vc.subnets {
			if strings.EqualFold(sc.s.ID.Name(), text) {
				if found != nil {
					return nil
				}
				found = sc
			}
		}
	}
	return found
}

// findCompute finds a compute by "workspace/compute" or by its own name
// when that is unambiguous.
func (n *Network) findCompute(text string) *computeCtx {
	key := strings.ToLower(text)
	if cc := n.computeByName[key]; cc != nil {
		return cc
	}
	if ccs := n.computeByLeaf[key]; len(ccs) == 1 {
		return ccs[0]
	}
	return nil
}
