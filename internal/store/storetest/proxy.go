package storetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy stands between a store and the test's PostgreSQL server, so that
// a test can take the database away (Cut: connections dropped, new ones
// refused, as when the server or the network fails) and give it back
// (Restore).
type Proxy struct {
	t             testing.TB
	network, addr string // the server
	listen        string // the proxy's loopback address, kept across Restore
	mu            sync.Mutex
	ln            net.Listener
	conns         map[net.Conn]bool
	wg            sync.WaitGroup
}

// NewProxy forwards to the server of url (a postgres:// URL whose host is
// a Unix socket directory or a TCP host) and returns the proxy and the URL
// that reaches the server through it. It is closed when t ends.
func NewProxy(t testing.TB, pgURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	host, port := q.Get("host"), q.Get("port")
	if host == "" {
		host, port = u.Hostname(), u.Port()
	}
	if port == "" {
		port = "5432"
	}
	p := &Proxy{t: t, network: "tcp", addr: net.JoinHostPort(host, port), listen: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	if len(host) > 0 && host[0] == '/' {
		p.network, p.addr = "unix", host+"/.s.PGSQL."+port
	}
	p.Restore()
	p.listen = p.ln.Addr().String()
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	h, pt, _ := net.SplitHostPort(p.listen)
	q.Set("host", h)
	q.Set("port", pt)
	u.Host, u.RawQuery = "", q.Encode()
	return p, u.String()
}

// Cut drops every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Restore accepts connections again, on the same address.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	ln, err := net.Listen("tcp", p.listen)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
}

// forward copies between c and a new connection to the server.
func (p *Proxy) forward(c net.Conn) {
	s, err := net.Dial(p.network, p.addr)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	p.wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}
	go pipe(c, s)
	go pipe(s, c)
}
