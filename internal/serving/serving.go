// Package serving builds the HTTP server and TLS configuration that
// `securetrain serve` runs with: connection timeouts, a cap on
// simultaneous connections, and TLS 1.2+ with AEAD ECDHE suites only.
// Everything is decided here so that the command and the tests that hold
// it to account use one configuration (docs/api.md, "Connections and TLS").
package serving

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Settings are the connection limits of the server. Every field must be
// set: a zero timeout means none to net/http.
type Settings struct {
	// ReadHeaderTimeout bounds the TLS handshake and the request line and
	// headers (a header slowloris).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, body included (a body
	// slowloris): bodies are at most 4 MiB.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling and writing one response (a client that
	// never reads): the largest is a list page.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxConns caps simultaneous connections (TLS handshakes included);
	// one over the cap is closed at once.
	MaxConns int
}

// Defaults are the settings `securetrain serve` runs with.
func Defaults() Settings {
	return Settings{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		MaxConns:          1000,
	}
}

// aeadSuites are the TLS 1.2 suites offered: forward-secret (ECDHE) and
// authenticated encryption only, so no CBC and no SHA-1 MAC. Both key
// types are listed: the generated certificate is ECDSA P-256, a
// certificate given with --tls-cert may be RSA. TLS 1.3 suites are all
// AEAD and not configurable.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the server's TLS configuration for cert.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: aeadSuites,
		// HTTP/1.1 only: the timeouts above are HTTP/1's; HTTP/2 is not
		// offered.
		NextProtos: []string{"http/1.1"},
	}
}

// New builds the server for handler under s, and the listener to serve it
// on: ln capped at s.MaxConns, then TLS when cert is not nil (plain HTTP
// otherwise).
func New(handler http.Handler, ln net.Listener, cert *tls.Certificate, s Settings) (*http.Server, net.Listener) {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
	}
	ln = &capListener{Listener: ln, slots: make(chan struct{}, s.MaxConns)}
	if cert != nil {
		srv.TLSConfig = TLSConfig(*cert)
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	return srv, ln
}

// capListener holds at most cap(slots) connections open. One over the cap
// is closed as soon as it is accepted rather than left in the kernel's
// queue: the client fails at once (and may retry), and the queue stays
// short.
type capListener struct {
	net.Listener
	slots chan struct{}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, slots: l.slots}, nil
		default:
			c.Close()
		}
	}
}

// slotConn gives its slot back when closed (once, however often Close is
// called).
type slotConn struct {
	net.Conn
	slots   chan struct{}
	release sync.Once
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.release.Do(func() { <-c.slots })
	return err
}

// CloseWrite keeps the TCP half-close net/http uses on plain HTTP to let
// an error response reach the client before the connection is closed.
func (c *slotConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
