package resources

// Parsers for the string values inside resources: addresses, prefixes,
// ports, names. Each returns an error that starts with the quoted value, so
// callers write "<field> <error>".

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"securetrain/internal/lazyregexp"
)

// parseIPv4 parses an IPv4 address; securetrain models IPv4 networks only.
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not a valid IPv4 address", s)
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is IPv6; only IPv4 is supported", s)
	}
	return a, nil
}

// parseIPv4Prefix parses a CIDR that must be IPv4 and canonical: Azure
// rejects prefixes with host bits set, and so do we, with the fix.
func parseIPv4Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR", s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is IPv6; only IPv4 is supported", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

// isServiceTagName reports whether s has the shape of a service tag name
// ("Storage.WestUS2", "AzureMachineLearning"): a letter, then up to 127
// letters, digits, dots and hyphens. Whether the tag exists is the
// verifier's business. (Written out rather than as a regular expression:
// every address prefix of every NSG rule is tested.)
func isServiceTagName(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !('0' <= c && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// resourceTypeRE is the shape of a full resource type: a dotted namespace,
// then a type and any child types ("Microsoft.Network/virtualNetworks/subnets").
var resourceTypeRE = lazyregexp.New(`^[A-Za-z0-9]+(\.[A-Za-z0-9]+)+(/[A-Za-z0-9][A-Za-z0-9_\-]*)+$`)

// parseResourceType checks the shape of a resource type; whether Azure has
// the type is not checked.
func parseResourceType(s string) error {
	if !resourceTypeRE.MatchString(s) {
		return fmt.Errorf("%q is not a resource type ({namespace}/{type}[/{child}…], e.g. %s)", s, TypePublicIP)
	}
	return nil
}

// prefixKind classifies an NSG rule address prefix.
type prefixKind int

const (
	prefixAny prefixKind = iota // "*"
	prefixIP                    // an address or a CIDR
	prefixTag                   // a service tag name
)

// parseRulePrefix checks one NSG source or destination prefix (§8.1): "*",
// an IPv4 address, an IPv4 CIDR, or a service tag name.
func parseRulePrefix(s string) (prefixKind, error) {
	switch {
	case s == "*":
		return prefixAny, nil
	case isServiceTagName(s):
		return prefixTag, nil
	case strings.Contains(s, "/"):
		_, err := parseIPv4Prefix(s)
		return prefixIP, err
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return prefixIP, fmt.Errorf("%q is not \"*\", an IPv4 address, a CIDR or a service tag name", s)
	}
	_, err := parseIPv4(s)
	return prefixIP, err
}

// parseRoutePrefix checks a route's addressPrefix: a CIDR or a service tag.
func parseRoutePrefix(s string) error {
	if isServiceTagName(s) {
		return nil
	}
	if !strings.Contains(s, "/") {
		return fmt.Errorf("%q is neither a CIDR nor a service tag name", s)
	}
	_, err := parseIPv4Prefix(s)
	return err
}

// parseFirewallAddress checks an Azure Firewall rule address: "*", an IPv4
// address, a CIDR, a range "a-b", and a service tag where allowed (the
// destination of network rules).
func parseFirewallAddress(s string, tags bool) error {
	switch {
	case s == "*":
		return nil
	case isServiceTagName(s):
		if !tags {
			return fmt.Errorf("%q is a service tag name; only addresses, CIDRs and ranges are allowed here", s)
		}
		return nil
	case strings.Contains(s, "/"):
		_, err := parseIPv4Prefix(s)
		return err
	case strings.Contains(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		a, err1 := parseIPv4(lo)
		b, err2 := parseIPv4(hi)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%q is not a valid address range", s)
		}
		if b.Less(a) {
			return fmt.Errorf("%q is a range whose start is after its end", s)
		}
		return nil
	}
	_, err := parseIPv4(s)
	return err
}

// anyPort is "*".
var anyPort = PortRange{0, 65535}

// parsePorts parses an NSG port field: "*", "N", "N-M", or a comma list of
// those ("80,443-445"), appending to out; out is unchanged on error.
func parsePorts(out []PortRange, s string) ([]PortRange, error) {
	given := out
	for {
		// strings.Cut rather than an iterator: a large file has 200,000
		// port fields, nearly all of one part.
		part, rest, more := strings.Cut(s, ",")
		r, err := parsePortRange(strings.TrimSpace(part))
		if err != nil {
			return given, err
		}
		out = append(out, r)
		if !more {
			return out, nil
		}
		s = rest
	}
}

// parsePortRange parses "*", "N" or "N-M" with 0 ≤ N ≤ M ≤ 65535.
func parsePortRange(s string) (PortRange, error) {
	if s == "*" {
		return anyPort, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q is not a port or port range: %w", s, err)
	}
	b := a
	if isRange {
		if b, err = parsePort(hi); err != nil {
			return PortRange{}, fmt.Errorf("%q is not a port or port range: %w", s, err)
		}
		if a > b {
			return PortRange{}, fmt.Errorf("%q is a port range whose start is after its end", s)
		}
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range 0-65535", s)
	}
	return uint16(n), nil
}

// dnsLabelRE is one label of a DNS name; '_' appears in real private zones'
// record names (_tcp), so it is allowed.
var dnsLabelRE = lazyregexp.New(`^[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?$`)

// badLabel returns the first label of a dotted name that is not a DNS label.
func badLabel(name string) (string, bool) {
	for l := range strings.SplitSeq(name, ".") {
		if !dnsLabelRE.MatchString(l) {
			return l, true
		}
	}
	return "", false
}

// parseDomainName checks a forwarding rule's domain name. Azure writes it
// with the final dot ("contoso.com.", "." for every name); it is accepted
// without. The result is lower-cased without the final dot ("" for ".").
func parseDomainName(s string) (string, error) {
	if s == "." {
		return "", nil
	}
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return "", fmt.Errorf("%q is not a valid domain name: longer than 253 characters", s)
	}
	if l, bad := badLabel(name); bad {
		return "", fmt.Errorf("%q is not a valid domain name: label %q", s, l)
	}
	return strings.ToLower(name), nil
}
