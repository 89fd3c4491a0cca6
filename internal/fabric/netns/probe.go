//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"securetrain/internal/fabric"
)

// probe sends one flow for real: outbound from the node's namespace to the
// service in the cloud, inbound from the cloud (from an address of the
// flow's source tag) through the node's public frontend to its agent.
func (f *Fabric) probe(ctx context.Context, nd *node, fl fabric.Flow) fabric.Probe {
	p := fabric.Probe{Flow: fl}
	p.Passed, p.Detail = f.send(ctx, nd, fl)
	return p
}

func (f *Fabric) send(ctx context.Context, nd *node, fl fabric.Flow) (bool, string) {
	proto := strings.ToLower(fl.Protocol)
	if proto != "tcp" && proto != "udp" {
		return false, fmt.Sprintf("the netns fabric does not probe %s flows yet", fl.Protocol)
	}
	deadline := time.Now().Add(f.dialTimeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if fl.DNSName != "" && !fl.Inbound {
		dst, err := nd.resolveFlowDestination(fl.DNSName, fl.Destination, deadline)
		if err != nil {
			return false, err.Error()
		}
		fl.Destination = dst
	}
	if !fl.Destination.Is4() || !fl.Source.Is4() {
		return false, "no IPv4 address to send the flow to"
	}
	if fl.Inbound {
		return f.sendInbound(nd, fl, proto, deadline)
	}
	target := addrPort(fl.Destination, fl.DestinationPort)
	line, err := "", error(nil)
	if proto == "tcp" && fl.DNSName != "" {
		// Named in its first bytes (TLS SNI, HTTP Host), as a client
		// does: a firewall's application rules match the name.
		line, err = exchangeNamed(nd.ns, netip.AddrPortFrom(fl.Destination, fl.DestinationPort), fl.DNSName, deadline)
	} else {
		line, err = exchange(nd.ns, proto, target, deadline, true)
	}
	failed := ""
	if err != nil {
		failed = failure(err, f.dialTimeout())
	}
	return outboundVerdict(fl, line, failed)
}

// outboundVerdict reads an outbound probe's answer: the line the service
// sent, or what the probe saw instead (failed, non-empty).
func outboundVerdict(fl fabric.Flow, line, failed string) (bool, string) {
	proto := strings.ToLower(fl.Protocol)
	target := addrPort(fl.Destination, fl.DestinationPort)
	if failed != "" {
		return false, fmt.Sprintf("%s %s from %s: %s", strings.ToUpper(proto), target, fl.Source, failed)
	}
	svc, seen, ok := parseBanner(line)
	if !ok {
		return false, fmt.Sprintf("%s %s answered %q, not an emulated service", strings.ToUpper(proto), target, line)
	}
	return true, fmt.Sprintf("%s %s answered by the emulated %s, which saw the node as %s", strings.ToUpper(proto), target, svc, seen)
}

// udpRetry is how long a UDP probe waits for an answer before it sends
// its datagram again: one datagram can be lost on a path that works (a
// neighbour still being resolved), and UDP clients retransmit.
const udpRetry = 250 * time.Millisecond

// askUDP sends the probe's datagram until an answer or an error comes, or
// the deadline passes.
func askUDP(conn net.Conn, deadline time.Time) (string, error) {
	for {
		if _, err := conn.Write([]byte("securetrain probe\n")); err != nil {
			return "", err
		}
		wait := time.Now().Add(udpRetry)
		if wait.After(deadline) {
			wait = deadline
		}
		line, err := readLine(conn, wait)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || !wait.Before(deadline) {
			return line, err
		}
	}
}

// sendInbound connects from the cloud, as an address of the flow's
// source, to the node through its public frontend.
func (f *Fabric) sendInbound(nd *node, fl fabric.Flow, proto string, deadline time.Time) (bool, string) {
	if proto != "tcp" || fl.DestinationPort != agentPort {
		return false, fmt.Sprintf("the netns fabric probes inbound TCP %d only (Azure ML's management traffic)", agentPort)
	}
	if !nd.n.PublicIP.IsValid() {
		return false, "the node has no public IP: nothing reaches it from outside its network"
	}
	if !f.cloud.serves(fl.Source) {
		return false, fmt.Sprintf("the emulated cloud holds no address %s of %s to send from", fl.Source, fl.Remote)
	}
	target := addrPort(nd.n.PublicIP, frontendPort(nd.n.Name))
	line, err := f.lineFromCloud(fl.Source, target, deadline)
	if err != nil {
		return false, fmt.Sprintf("TCP %s (load balancer frontend of the node's %d) from %s: %s", target, agentPort, fl.Source, failure(err, f.dialTimeout()))
	}
	want := "securetrain-node " + nd.n.Compute + "/" + nd.n.Name
	if line != want {
		return false, fmt.Sprintf("TCP %s from %s reached %q, not node %s", target, fl.Source, line, nd.n.Name)
	}
	return true, fmt.Sprintf("TCP %s from %s reached node %s on port %d through the load balancer", target, fl.Source, nd.n.Name, agentPort)
}

// exchange connects from namespace ns to target over proto ("tcp" or
// "udp") and returns the answer's line: for UDP the probe's datagram is
// sent until an answer comes; for TCP the line is read when read is set
// (else the connection alone is the answer).
func exchange(ns *namespace, proto, target string, deadline time.Time, read bool) (string, error) {
	var line string
	err := inNamespace(ns.fd, func() error {
		var err error
		line, err = dial(proto, target, deadline, read)
		return err
	})
	return line, err
}

// dial is exchange from the namespace the calling thread is in: the
// server's thread in the node's namespace, or the node agent.
func dial(proto, target string, deadline time.Time, read bool) (string, error) {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial(proto+"4", target)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	switch {
	case proto == "udp":
		return askUDP(conn, deadline)
	case read:
		return readLine(conn, deadline)
	}
	return "", nil
}

// lineFromCloud connects from the cloud, as its address src, to target
// over TCP and returns the answer's line.
func (f *Fabric) lineFromCloud(src netip.Addr, target string, deadline time.Time) (string, error) {
	var line string
	err := inNamespace(f.cloud.ns.fd, func() error {
		d := net.Dialer{Deadline: deadline, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		conn, err := d.Dial("tcp4", target)
		if err != nil {
			return err
		}
		defer conn.Close()
		line, err = readLine(conn, deadline)
		return err
	})
	return line, err
}

// parseBanner reads "securetrain-cloud SERVICE saw ADDRESS".
func parseBanner(line string) (service, seen string, ok bool) {
	fields := strings.Fields(line)
	if len(fields) != 4 || fields[0] != "securetrain-cloud" || fields[2] != "saw" {
		return "", "", false
	}
	return strings.ReplaceAll(fields[1], "_", " "), fields[3], true
}

// failure says what a failed probe saw.
func failure(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s (dropped on the way)", timeout)
	case strings.Contains(err.Error(), "connection refused"):
		return "refused: nothing answers there"
	case errors.Is(err, io.EOF):
		return "closed without an answer: no service on that address and port"
	}
	return err.Error()
}
