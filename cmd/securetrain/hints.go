package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"securetrain/internal/certs"
)

// defaultDataDir is where serve keeps its store, CA and admin token
// unless --data says otherwise.
const defaultDataDir = "./securetrain-data"

// explainTransport turns a request that never got an answer into what to
// do next: start the server, or trust its CA.
func explainTransport(err error, base *url.URL) error {
	var unknownCA x509.UnknownAuthorityError
	var opErr *net.OpError
	switch {
	case errors.As(err, &unknownCA):
		ca := filepath.Join(defaultDataDir, certs.CAFile)
		return fmt.Errorf("the certificate of %s is signed by a CA this shell does not trust; securetrain serve's CA is %s in its data directory (here %s): pass --ca %s, or export SSL_CERT_FILE=%s (%w)",
			base, certs.CAFile, ca, ca, ca, err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach the server at %s: is it running? Start it with `securetrain serve`, or point --url or SECURETRAIN_URL at it (%w)", base, err)
	}
	return err
}

// httpClientTrusting is the client's HTTP client; caFile, when set, is
// the only CA it trusts (the system's otherwise, which SSL_CERT_FILE sets).
func httpClientTrusting(caFile string) (*http.Client, error) {
	client := &http.Client{Timeout: clientTimeout}
	if caFile == "" {
		return client, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s holds no PEM certificate", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	client.Transport = transport
	return client, nil
}
