package certs

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureLocal(t *testing.T) {
	dir := t.TempDir()
	cert, created, err := EnsureLocal(dir, []string{"10.1.2.3", "train.example"})
	if err != nil || !created {
		t.Fatalf("first call: %v %v", created, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, CAFile))
	block, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range []string{"localhost", "127.0.0.1", "10.1.2.3", "train.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("certificate not valid for %s under the CA: %v", name, err)
		}
	}
	// Every file of the data directory is 0600 (issue 10 §6).
	for _, name := range []string{KeyFile, CertFile, CAFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	again, created, err := EnsureLocal(dir, nil)
	if err != nil || created || string(again.Certificate[0]) != string(cert.Certificate[0]) {
		t.Errorf("second call must reuse the certificate: created %v, %v", created, err)
	}
}
