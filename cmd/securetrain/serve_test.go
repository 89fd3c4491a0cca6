package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securetrain/internal/certs"
)

// TestServeTLSEndToEnd starts `serve` on a free port with generated TLS
// material, trusts only the CA it wrote, creates a resource group with the
// admin token, and shuts down gracefully on cancel.
func TestServeTLSEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // serve creates it 0700
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveConfig{dataDir: dir, listen: "127.0.0.1:0", ready: ready}, &stdout, &stderr)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	token, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", "https://"+addr+"/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg1?api-version=2021-04-01",
		strings.NewReader(`{"location":"eastus"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("TLS request trusting only the generated CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("create over TLS: %d", resp.StatusCode)
	}
	// serve's TLS configuration is internal/serving's: no CBC suites.
	cbcOnly := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}
	if c, err := tls.Dial("tcp", addr, cbcOnly); err == nil {
		c.Close()
		t.Error("a client offering only TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA connected")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	out := stdout.String()
	for _, want := range []string{"admin.token", "SSL_CERT_FILE=" + filepath.Join(dir, certs.CAFile), "serving on https://", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(stderr.String(), strings.TrimSpace(string(token))) {
		t.Error("the token appears in the server log")
	}
}

func TestPrincipalAndRoleCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // the store creates it 0700
	var out, errb bytes.Buffer
	if code := run([]string{"principal", "create", "alice", "--data", dir}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "st_") {
		t.Fatalf("principal create: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"role", "assign", "--principal", "alice", "--role", "Reader", "--scope", "/subscriptions/00000000-0000-0000-0000-000000000001", "--data", dir}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "/providers/Microsoft.Authorization/roleAssignments/") {
		t.Fatalf("role assign: %d %q %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"role", "assign", "--principal", "bob", "--role", "Reader", "--scope", "/", "--data", dir}, &out, &errb); code != exitBadInput || !strings.Contains(errb.String(), "does not exist") {
		t.Errorf("unknown principal: %d %q", code, errb.String())
	}
}

// TestClientCommands drives get/list/delete against a running server
// (plain HTTP here; TLS is TestServeTLSEndToEnd's).
func TestClientCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // serve creates it 0700
	serveOn(t, serveConfig{dataDir: dir, insecure: true})
	addr := strings.TrimPrefix(os.Getenv("SECURETRAIN_URL"), "http://")
	token := readFile(t, filepath.Join(dir, "admin.token"))
	sub := "/subscriptions/00000000-0000-0000-0000-000000000001"
	for i := range 3 {
		req, _ := http.NewRequest("PUT", "http://"+addr+sub+"/resourceGroups/rg"+string(rune('a'+i))+"?api-version=2021-04-01", strings.NewReader(`{"location":"eastus"}`))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	var out, errb bytes.Buffer
	if code := run([]string{"list", sub + "/resourceGroups?$top=2"}, &out, &errb); code != 0 ||
		strings.Count(out.String(), `"name": "rg`) != 3 {
		t.Fatalf("list: %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"get", sub + "/resourceGroups/rgb"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"location": "eastus"`) {
		t.Fatalf("get: %d %s %s", code, out.String(), errb.String())
	}
	if code := run([]string{"delete", "--yes", sub + "/resourceGroups/rgb"}, &out, &errb); code != 0 {
		t.Fatalf("delete: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"get", sub + "/resourceGroups/rgb"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "ResourceGroupNotFound") {
		t.Errorf("get after delete: %d %s", code, errb.String())
	}
	errb.Reset()
	t.Setenv("SECURETRAIN_TOKEN", "")
	if code := run([]string{"get", sub + "/resourceGroups/rga"}, &out, &errb); code != exitBadInput || !strings.Contains(errb.String(), "SECURETRAIN_TOKEN") {
		t.Errorf("without a token: %d %s", code, errb.String())
	}
}
