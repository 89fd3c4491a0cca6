//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsFailure is a name that did not resolve from a node: the DNS server's
// answer (NXDOMAIN and why) or that none came.
type dnsFailure struct {
	name   string
	server netip.Addr
	what   string
}

func (e *dnsFailure) Error() string {
	return fmt.Sprintf("DNS: %s did not resolve: the DNS server %s %s", e.name, e.server, e.what)
}

// ednsSize is the largest answer over UDP the node's resolver takes
// (EDNS0's buffer size; DNS Flag Day 2020's value).
const ednsSize = 1232

// resolveIn resolves name to its IPv4 addresses from inside namespace ns
// as a VM's stub resolver does: a query of type A to server over UDP 53,
// sent again every udpRetry until the answer or the deadline; a truncated
// answer is asked again over TCP.
func resolveIn(ns *namespace, server netip.Addr, name string, deadline time.Time) ([]netip.Addr, error) {
	budget := time.Until(deadline).Round(time.Millisecond)
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	q.SetEdns0(ednsSize, false)
	r, err := exchangeDNS(ns, "udp", server, q, deadline)
	if err == nil && r.Truncated {
		r, err = exchangeDNS(ns, "tcp", server, q, deadline)
	}
	if err != nil {
		return nil, &dnsFailure{name: name, server: server, what: failure(err, budget)}
	}
	if r.Rcode != dns.RcodeSuccess {
		what := "answered " + dns.RcodeToString[r.Rcode]
		if opt := r.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if ede, ok := o.(*dns.EDNS0_EDE); ok && ede.ExtraText != "" {
					what += " (" + ede.ExtraText + ")"
				}
			}
		}
		return nil, &dnsFailure{name: name, server: server, what: what}
	}
	var addrs []netip.Addr
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			if addr, ok := netip.AddrFromSlice(a.A.To4()); ok {
				addrs = append(addrs, addr)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, &dnsFailure{name: name, server: server, what: "answered no IPv4 address"}
	}
	return addrs, nil
}

// exchangeDNS sends q to server:53 over proto from inside ns and reads
// the answer to it.
func exchangeDNS(ns *namespace, proto string, server netip.Addr, q *dns.Msg, deadline time.Time) (*dns.Msg, error) {
	var conn net.Conn
	err := inNamespace(ns.fd, func() error {
		d := net.Dialer{Deadline: deadline}
		var err error
		conn, err = d.Dial(proto+"4", addrPort(server, 53))
		return err
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	co := &dns.Conn{Conn: conn, UDPSize: ednsSize}
	for {
		if err := conn.SetWriteDeadline(deadline); err != nil {
			return nil, err
		}
		if err := co.WriteMsg(q); err != nil {
			return nil, err
		}
		wait := deadline
		if proto == "udp" {
			if wait = time.Now().Add(udpRetry); wait.After(deadline) {
				wait = deadline
			}
		}
		if err := conn.SetReadDeadline(wait); err != nil {
			return nil, err
		}
		for {
			r, err := co.ReadMsg()
			var ne net.Error
			switch {
			case err == nil && r.Id != q.Id:
				continue // a late answer to an earlier query
			case err == nil:
				return r, nil
			case errors.As(err, &ne) && ne.Timeout() && wait.Before(deadline):
			default:
				return nil, err
			}
			break // send again
		}
	}
}

// resolveFlowDestination resolves the flow's name from the node through
// its nameserver and returns where to send: the verifier's sample address
// when the answer holds it (a private zone's records), else the answer's
// first.
func (nd *node) resolveFlowDestination(name string, sample netip.Addr, deadline time.Time) (netip.Addr, error) {
	server, err := nd.nameserver()
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := resolveIn(nd.ns, server, strings.TrimSuffix(name, "."), deadline)
	if err != nil {
		return netip.Addr{}, err
	}
	if slices.Contains(addrs, sample) {
		return sample, nil
	}
	return addrs[0], nil
}
