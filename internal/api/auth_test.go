package api

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/store"
)

// Issue 10 §3: tokens can be rotated and revoked, and fail at once.

func TestTokenRotationAndRevocation(t *testing.T) {
	c := rbacFixture(t)
	ctx := context.Background()
	alice := c.as("alice", "Reader", subPath)
	bob := c.as("bob", "Reader", subPath)
	read := func(cl *client) int {
		st, _, _ := cl.do("GET", mlGroup+rgAPI, "")
		return st
	}
	old := alice.token
	fresh, err := RotateToken(ctx, c.st, "alice", t.TempDir())
	if err != nil || fresh == old || !strings.HasPrefix(fresh, "st_") {
		t.Fatalf("rotate: %q %v", fresh, err)
	}
	if st := read(alice); st != http.StatusUnauthorized {
		t.Errorf("old token after rotation: %d", st)
	}
	alice.token = fresh
	if st := read(alice); st != http.StatusOK {
		t.Errorf("new token: %d", st)
	}
	if n, err := RevokeTokens(ctx, c.st, "alice", t.TempDir()); n != 1 || err != nil {
		t.Errorf("revoke: %d %v", n, err)
	}
	if st := read(alice); st != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", st)
	}
	if st := read(bob); st != http.StatusOK {
		t.Errorf("another principal after alice's revocation: %d", st)
	}
	for _, name := range []string{"carol", "../admin", ""} {
		if _, err := RotateToken(ctx, c.st, name, t.TempDir()); err == nil {
			t.Errorf("rotate %q: no error", name)
		}
		if _, err := RevokeTokens(ctx, c.st, name, t.TempDir()); err == nil {
			t.Errorf("revoke %q: no error", name)
		}
	}
}

func TestAdminTokenRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A leftover temporary file with a wide mode must not carry a token.
	if err := os.WriteFile(filepath.Join(dir, AdminTokenFile+".tmp"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureAdmin(context.Background(), st, dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, AdminTokenFile)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token made over a leftover 0644 admin.token.tmp: %v %v", fi.Mode(), err)
	}
	before, _ := os.ReadFile(file)
	if err := os.WriteFile(file+".tmp", []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := RotateToken(context.Background(), st, AdminName, dir)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(file)
	if strings.TrimSpace(string(after)) != tok || string(after) == string(before) {
		t.Errorf("admin.token after rotation: %q, token %q", after, tok)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode: %v %v", fi, err)
	}
	if _, err := st.Get(context.Background(), tokenID(strings.TrimSpace(string(before)))); err == nil {
		t.Error("the old admin token is still stored")
	}
	if _, err := RevokeTokens(context.Background(), st, AdminName, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("admin.token after revocation: %v", err)
	}
}
