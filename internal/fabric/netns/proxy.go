//go:build linux

package netns

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The firewall's application rules: TCP that no network rule matched, on
// an application rule's port, is redirected to a transparent proxy in the
// firewall's namespace (sockets opened there, served by the server
// process). It reads the client's first bytes — a TLS ClientHello's
// server name, or an HTTP request's Host — and lets the connection
// through to its original destination, from the firewall (application
// rules always SNAT), only when the first matching application rule
// allows it; otherwise it resets the connection (Azure Firewall's
// default deny).

// helloTimeout bounds the wait for the client's first bytes.
const helloTimeout = 2 * time.Second

func (fw *firewall) serveProxy() {
	for {
		conn, err := fw.proxy.Accept()
		if err != nil {
			return
		}
		go fw.relay(conn.(*net.TCPConn))
	}
}

// relay decides one connection and, when allowed, joins it to its
// destination.
func (fw *firewall) relay(client *net.TCPConn) {
	defer client.Close()
	dst, err := originalDestination(client)
	if err != nil {
		reset(client)
		return
	}
	src := client.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	first := readHello(client)
	if name := requestedName(first); !fw.appVerdict(src, dst.Port(), name) {
		fw.noteRefusal(src, dst, name)
		reset(client)
		return
	}
	var upstream net.Conn
	err = inNamespace(fw.ns.fd, func() error {
		d := net.Dialer{Timeout: helloTimeout}
		var err error
		upstream, err = d.Dial("tcp4", dst.String())
		return err
	})
	if err != nil {
		reset(client) // the destination refused or did not answer
		return
	}
	defer upstream.Close()
	if _, err := upstream.Write(first); err != nil {
		reset(client)
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(upstream, client)
		upstream.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(client, upstream)
	client.CloseWrite()
	<-done
}

// readHello reads the client's first bytes: a whole TLS record (a
// ClientHello may take several segments) or an HTTP request's headers,
// within helloTimeout and 16 KiB.
func readHello(c net.Conn) []byte {
	c.SetReadDeadline(time.Now().Add(helloTimeout))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 16<<10)
	for len(buf) < cap(buf) {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil || helloComplete(buf) {
			break
		}
	}
	return buf
}

// helloComplete reports whether b holds a whole TLS record or HTTP
// request headers — or is neither, so that waiting longer cannot help.
func helloComplete(b []byte) bool {
	switch {
	case len(b) == 0:
		return false
	case b[0] == 0x16: // TLS: 5-byte header with the record's length
		return len(b) >= 5 && len(b) >= 5+(int(b[3])<<8|int(b[4]))
	case bytes.IndexByte(b, '\n') < 0:
		return false // the request line is not there yet
	case !bytes.Contains(b[:bytes.IndexByte(b, '\n')], []byte(" HTTP/")):
		return true // not HTTP: nothing more will name a host
	}
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// reset closes the connection with a reset: the client sees it refused
// after the handshake, not answered.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// originalDestination is where the client sent the connection before the
// redirect (SO_ORIGINAL_DST).
func originalDestination(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var dst netip.AddrPort
	var serr error
	err = raw.Control(func(fd uintptr) {
		// sockaddr_in read through the IPv6 mreq getter: 16 bytes, the
		// size of struct sockaddr_in (the usual way from Go).
		const soOriginalDst = 80
		m, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, soOriginalDst)
		if err != nil {
			serr = err
			return
		}
		port := uint16(m.Multiaddr[2])<<8 | uint16(m.Multiaddr[3])
		dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m.Multiaddr[4:8])), port)
	})
	return dst, errors.Join(err, serr)
}

// requestedName is the name a connection's first bytes ask for: a TLS
// ClientHello's server name, or an HTTP request's Host (without port);
// "" when they carry none.
func requestedName(first []byte) string {
	if len(first) > 0 && first[0] == 0x16 { // a TLS handshake record
		return serverName(first)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(first)))
	if err != nil {
		return ""
	}
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host
}

// serverName reads the SNI of a ClientHello by letting crypto/tls parse
// it: the handshake stops at the hello.
func serverName(hello []byte) string {
	var name string
	stop := errors.New("hello read")
	srv := tls.Server(&replay{r: bytes.NewReader(hello)}, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name = h.ServerName
		return nil, stop
	}})
	srv.Handshake()
	return name
}

// clientHello is the ClientHello a TLS client sends for name (crypto/tls
// writes it; the handshake stops there).
func clientHello(name string) []byte {
	rp := &replay{r: bytes.NewReader(nil)}
	c := tls.Client(rp, &tls.Config{ServerName: name, CurvePreferences: []tls.CurveID{tls.X25519}, MinVersion: tls.VersionTLS12})
	c.Handshake()
	return rp.w.Bytes()
}

// hello is what a client sends first to name on port: an HTTP request
// naming its Host on 80, a TLS ClientHello naming it elsewhere — what a
// firewall's application rules see.
func hello(name string, port uint16) []byte {
	if port == 80 {
		return fmt.Appendf(nil, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: securetrain-probe\r\n\r\n", name)
	}
	return clientHello(name)
}

// replay is a net.Conn that reads r and records what is written.
type replay struct {
	r io.Reader
	w bytes.Buffer
}

func (c *replay) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *replay) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *replay) Close() error                { return nil }
func (c *replay) LocalAddr() net.Addr         { return &net.TCPAddr{} }
func (c *replay) RemoteAddr() net.Addr        { return &net.TCPAddr{} }
func (c *replay) SetDeadline(time.Time) error { return nil }
func (c *replay) SetReadDeadline(time.Time) error {
	return nil
}
func (c *replay) SetWriteDeadline(time.Time) error { return nil }

// exchangeNamed connects from namespace ns to target over TCP as a
// client of name does and returns the answer's line (dialNamed).
func exchangeNamed(ns *namespace, target netip.AddrPort, name string, deadline time.Time) (string, error) {
	var line string
	err := inNamespace(ns.fd, func() (err error) {
		line, err = dialNamed(target, name, deadline)
		return err
	})
	return line, err
}

// dialNamed connects to target over TCP from the namespace the calling
// thread is in (a node agent's own) as a client of name does — its first
// bytes name it (HTTP Host, TLS SNI) — and returns the answer's line.
func dialNamed(target netip.AddrPort, name string, deadline time.Time) (string, error) {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp4", target.String())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetWriteDeadline(deadline)
	if _, err := conn.Write(hello(name, target.Port())); err != nil {
		return "", err
	}
	line, err := readLine(conn, deadline)
	if err != nil && strings.Contains(err.Error(), "connection reset") && line == "" {
		return "", fmt.Errorf("reset after the connection was accepted (a firewall's proxy refused it): %w", err)
	}
	return line, err
}
