package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// onData runs administrative commands on data directory dir (principal,
// role): each must succeed, and its trimmed output is returned.
func onData(t *testing.T, dir string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		code, out, errb := runCLI(t, append(args, "--data", dir)...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errb)
		}
		return strings.TrimSpace(out)
	}
}

// TestPrincipalTokenCommandsWhileServing rotates and revokes tokens with
// the CLI while the server runs on the same data directory: each change
// holds from the very next request, on the same kept-alive connection.
func TestPrincipalTokenCommandsWhileServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // private: serve refuses a directory others can read
	srv := startServerAt(t, dir)
	httpClient := &http.Client{} // one client: its connection is kept alive across the changes
	status := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.base.String()+"/subscriptions/"+testSub+"/resourceGroups?api-version=2021-04-01", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) // read to the end: the connection is reused
		resp.Body.Close()
		return resp.StatusCode
	}
	cli := onData(t, dir)
	alice := cli("principal", "create", "alice")
	cli("role", "assign", "--principal", "alice", "--role", "Reader", "--scope", "/subscriptions/"+testSub)
	if st := status(alice); st != http.StatusOK {
		t.Fatalf("alice's first token: %d", st)
	}
	rotated := cli("principal", "token", "rotate", "alice")
	if !strings.HasPrefix(rotated, "st_") || rotated == alice {
		t.Fatalf("rotate printed %q", rotated)
	}
	if st := status(alice); st != http.StatusUnauthorized {
		t.Errorf("old token after rotate: %d", st)
	}
	if st := status(rotated); st != http.StatusOK {
		t.Errorf("new token after rotate: %d", st)
	}
	if out := cli("principal", "token", "revoke", "alice"); out != "revoked 1 token(s) of alice" {
		t.Errorf("revoke printed %q", out)
	}
	if st := status(rotated); st != http.StatusUnauthorized {
		t.Errorf("token after revoke: %d", st)
	}

	// The admin's rotation rewrites admin.token, which the old token no
	// longer matches.
	oldAdmin := srv.token
	newAdmin := cli("principal", "token", "rotate", "admin")
	file, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil || strings.TrimSpace(string(file)) != newAdmin {
		t.Fatalf("admin.token after rotate: %q %v; printed %q", file, err, newAdmin)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "admin.token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v", fi.Mode().Perm())
	}
	if st := status(oldAdmin); st != http.StatusUnauthorized {
		t.Errorf("old admin token: %d", st)
	}
	if st := status(newAdmin); st != http.StatusOK {
		t.Errorf("new admin token: %d", st)
	}

	for _, args := range [][]string{
		{"principal", "token", "rotate", "nobody"},
		{"principal", "token", "revoke"},
		{"principal", "token", "renew", "alice"},
		{"principal", "rotate", "alice"},
	} {
		code, _, errb := runCLI(t, append(args, "--data", dir)...)
		if code != exitBadInput || errb == "" {
			t.Errorf("%v: %d %q", args, code, errb)
		}
	}
	if _, _, errb := runCLI(t, "principal", "token", "rotate", "nobody", "--data", dir); !strings.Contains(errb, "nobody does not exist") {
		t.Errorf("unknown principal: %q", errb)
	}
}
