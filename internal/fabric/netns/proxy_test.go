//go:build linux

package netns

import "testing"

// TestRequestedName: the proxy reads the name a client's first bytes
// ask for — a TLS ClientHello's SNI (as crypto/tls writes it), an HTTP
// request's Host without its port — and knows when they are complete:
// a ClientHello cut short is not, and bytes that are neither TLS nor
// HTTP name nothing.
func TestRequestedName(t *testing.T) {
	tlsHello := hello("files.pythonhosted.org", 443)
	cases := []struct {
		first    []byte
		name     string
		complete bool
	}{
		{tlsHello, "files.pythonhosted.org", true},
		{tlsHello[:len(tlsHello)-1], "", false},
		{hello("pypi.org", 80), "pypi.org", true},
		{[]byte("GET / HTTP/1.1\r\nHost: pypi.org:8080\r\n\r\n"), "pypi.org", true},
		{[]byte("GET / HTTP/1.1\r\nHost: pypi.org\r\n"), "pypi.org", false},
		{[]byte("securetrain probe\n"), "", true},
	}
	for i, c := range cases {
		if got := helloComplete(c.first); got != c.complete {
			t.Errorf("case %d: complete %v, want %v", i, got, c.complete)
		}
		if !c.complete {
			continue
		}
		if got := requestedName(c.first); got != c.name {
			t.Errorf("case %d: name %q, want %q", i, got, c.name)
		}
	}
}
