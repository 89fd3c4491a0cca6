//go:build linux

package netns

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"securetrain/internal/ipset"
)

// servedTag is one service at its addresses.
type servedTag struct {
	name     string
	set      ipset.Set
	tcp, udp []uint16
}

// responder answers in a namespace for the services it serves: it listens
// on every served port, and answers a connection or datagram only on an
// address and port one of its services has, with the service's name and
// the source it saw. The emulated cloud and every private endpoint are
// one.
type responder struct {
	ns *namespace

	mu     sync.Mutex
	served []servedTag

	listeners []net.Listener
	udp       []*net.UDPConn
}

// newResponder listens in ns on the TCP and UDP ports; it answers nothing
// until it is given what it serves.
func newResponder(ns *namespace, tcp, udp []uint16) (*responder, error) {
	rp := &responder{ns: ns}
	for _, p := range uniquePorts(tcp) {
		ln, err := listenIn(ns, "tcp4", fmt.Sprintf(":%d", p))
		if err != nil {
			rp.stop()
			return nil, fmt.Errorf("%s: listen on TCP %d: %w", ns.name, p, err)
		}
		rp.listeners = append(rp.listeners, ln)
		go rp.serveTCP(ln, p)
	}
	for _, p := range uniquePorts(udp) {
		var conn net.PacketConn
		err := inNamespace(ns.fd, func() error {
			var err error
			conn, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", p))
			return err
		})
		if err != nil {
			rp.stop()
			return nil, fmt.Errorf("%s: listen on UDP %d: %w", ns.name, p, err)
		}
		rp.udp = append(rp.udp, conn.(*net.UDPConn))
		go rp.serveUDP(conn.(*net.UDPConn), p)
	}
	return rp, nil
}

func uniquePorts(ps []uint16) []uint16 {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return slices.Compact(ps)
}

// stop stops listening.
func (rp *responder) stop() {
	for _, ln := range rp.listeners {
		ln.Close()
	}
	for _, u := range rp.udp {
		u.Close()
	}
}

// close stops listening and closes the namespace's handles.
func (rp *responder) close() {
	rp.stop()
	rp.ns.close()
}

func (rp *responder) setServed(served []servedTag) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.served = served
}

// answerFor names the service that answers on address a, port p of
// protocol proto, or "" when none does.
func (rp *responder) answerFor(a netip.Addr, proto string, p uint16) string {
	u, ok := ipset.U32(a)
	if !ok {
		return ""
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, s := range rp.served {
		ports := s.tcp
		if proto == "udp" {
			ports = s.udp
		}
		if slices.Contains(ports, p) && s.set.Contains(u) {
			return s.name
		}
	}
	return ""
}

// serves reports whether address a is one of the responder's services'.
func (rp *responder) serves(a netip.Addr) bool {
	u, ok := ipset.U32(a)
	if !ok {
		return false
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, s := range rp.served {
		if s.set.Contains(u) {
			return true
		}
	}
	return false
}

// banner is what a service says: who it is and whom it saw (the source
// address after SNAT, the address Azure would present).
func banner(service string, client netip.Addr) string {
	return fmt.Sprintf("securetrain-cloud %s saw %s\n", strings.ReplaceAll(service, " ", "_"), client)
}

func (rp *responder) serveTCP(ln net.Listener, port uint16) {
	answerEach(ln, func(conn net.Conn) string {
		local := conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		remote := conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if name := rp.answerFor(local, "tcp", port); name != "" {
			return banner(name, remote)
		}
		return "" // no service there: closed without an answer
	})
}

// answerEach serves each connection of ln with one line (none when
// answer returns "") and closes it.
func answerEach(ln net.Listener, answer func(net.Conn) string) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			if line := answer(conn); line != "" {
				conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				conn.Write([]byte(line))
			}
			// What the client sent first (a TLS hello, an HTTP request)
			// is read before closing: closing over unread data would
			// reset the connection, and the answer could be lost.
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.CloseWrite()
				tc.SetReadDeadline(time.Now().Add(2 * time.Second))
				io.Copy(io.Discard, tc)
			}
		}()
	}
}

// serveUDP answers each datagram from the address it was sent to (the
// socket listens on every address of the namespace).
func (rp *responder) serveUDP(conn *net.UDPConn, port uint16) {
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		return
	}
	buf := make([]byte, 1500)
	for {
		_, cm, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if cm == nil {
			continue
		}
		dst, _ := netip.AddrFromSlice(cm.Dst.To4())
		src := from.(*net.UDPAddr).AddrPort().Addr().Unmap()
		if name := rp.answerFor(dst, "udp", port); name != "" {
			pc.WriteTo([]byte(banner(name, src)), &ipv4.ControlMessage{Src: cm.Dst}, from)
		}
	}
}
