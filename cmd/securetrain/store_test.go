package main

// serve and the admin commands refuse a store they cannot trust; backup
// and restore (issue 10 §5, §6).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/store"
)

// serveTimeout bounds the wait for serve to start or stop: one that hangs
// fails the test instead of hanging it.
const serveTimeout = 30 * time.Second

// launch runs serve with cfg on a free loopback port in the background.
func launch(cfg serveConfig) (ready <-chan string, done <-chan error, cancel context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	readyc, donec := make(chan string, 1), make(chan error, 1)
	cfg.listen, cfg.ready = "127.0.0.1:0", readyc
	go func() { donec <- serve(ctx, cfg, io.Discard, io.Discard) }()
	return readyc, donec, cancel
}

// serveOn runs serve with cfg, points the client commands at it
// (SECURETRAIN_URL, SECURETRAIN_TOKEN) and returns the function that stops
// it, which cleanup also runs.
func serveOn(t testing.TB, cfg serveConfig) (stop func()) {
	t.Helper()
	ready, done, cancel := launch(cfg)
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(serveTimeout):
		cancel()
		t.Fatalf("serve did not start within %v", serveTimeout)
	}
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(serveTimeout):
			t.Errorf("serve did not stop within %v of its context's end", serveTimeout)
		}
	})
	t.Cleanup(stop)
	scheme := "https"
	if cfg.insecure {
		scheme = "http"
	}
	t.Setenv("SECURETRAIN_URL", scheme+"://"+addr)
	t.Setenv("SECURETRAIN_TOKEN", strings.TrimSpace(string(readFile(t, filepath.Join(cfg.dataDir, api.AdminTokenFile)))))
	return stop
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// refusedToStart runs serve on dir and checks that it fails saying each of
// wants.
func refusedToStart(t *testing.T, dir string, wants ...string) {
	t.Helper()
	ready, done, cancel := launch(serveConfig{dataDir: dir, insecure: true})
	defer cancel()
	select {
	case <-ready:
		cancel()
		<-done
		t.Fatal("serve started")
	case err := <-done:
		if err == nil {
			t.Fatal("serve returned without an error")
		}
		mustContain(t, "serve's refusal", err.Error(), wants...)
	}
}

// TestServeRefusesDamagedStore: garbage in the middle of the database
// file; the server started and answered 500 on listing. Now serve, the
// admin commands and backup refuse it, saying how to recover.
func TestServeRefusesDamagedStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error {
		for i := range 300 {
			id := fmt.Sprintf("/subscriptions/%s/resourceGroups/rg%03d", testSub, i)
			body := fmt.Sprintf(`{"location":"eastus","tags":{"pad":%q}}`, strings.Repeat("x", 1000))
			if _, err := tx.Put(ctx, store.Record{ID: id, Type: "Microsoft.Resources/resourceGroups", Body: []byte(body)}, store.Condition{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(dir, store.DBFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), fi.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()

	recovery := "copy the last backup in as securetrain.db"
	refusedToStart(t, dir, "is damaged", recovery, "docs/store.md")
	code, _, errs := runCLI(t, "principal", "create", "alice", "--data", dir)
	if code == 0 {
		t.Fatal("principal create ran on the damaged store")
	}
	mustContain(t, "principal create's refusal", errs, "is damaged", recovery)
	code, _, errs = runCLI(t, "backup", "--data", dir, filepath.Join(t.TempDir(), "b.db"))
	if code == 0 {
		t.Fatal("backup copied the damaged store")
	}
	mustContain(t, "backup's refusal", errs, "is damaged")
}

// TestServeRefusesEmptyDatabaseBesideToken: a zero-byte database beside
// admin.token was taken for a new store — a new administrator, the token
// file overwritten. Now serve and the admin commands refuse it and leave
// the token file and the database as they were.
func TestServeRefusesEmptyDatabaseBesideToken(t *testing.T) {
	// The store and admin.token as serve leaves them (a server stopped in
	// this process may still hold the database open: its goroutines outlive
	// serve's return).
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.EnsureAdmin(context.Background(), st, dir); err != nil {
		t.Fatal(err)
	}
	st.Close()
	tokenFile, db := filepath.Join(dir, api.AdminTokenFile), filepath.Join(dir, store.DBFile)
	token := readFile(t, tokenFile)
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	refusedToStart(t, dir, "securetrain.db holds no tables", "admin.token is there", "restore the last backup")
	if code, _, errs := runCLI(t, "principal", "create", "alice", "--data", dir); code == 0 || !strings.Contains(errs, "holds no tables") {
		t.Errorf("principal create on the emptied store: %d %s", code, errs)
	}
	if got := readFile(t, tokenFile); !bytes.Equal(got, token) {
		t.Error("admin.token was rewritten")
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("the empty database was written: %v", err)
	}
}

// TestServeRefusesOpenDataDirectory: an existing 0755 data directory was
// used as it was, every resource and token hash world-readable.
func TestServeRefusesOpenDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	refusedToStart(t, dir, "has mode 0755", "run: chmod 700 "+dir)
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("the refused directory was written: %v", des)
	}
}

// TestServeFileModes: the database, -wal and -shm were created 0644. Now,
// even under a umask of 0, every file serve writes in the data directory
// is 0600 and every directory (the data directory, blobs/) 0700.
func TestServeFileModes(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0))
	dir := filepath.Join(t.TempDir(), "data")
	stop := serveOn(t, serveConfig{dataDir: dir}) // TLS: the certificates too
	defer stop()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %04o, want 0700", fi.Mode().Perm())
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, de.Name())
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", de.Name(), fi.Mode().Perm(), want)
		}
	}
	mustContain(t, "the data directory", strings.Join(names, " "), "securetrain.db ", "securetrain.db-wal", "securetrain.db-shm", "admin.token", "ca.pem", "key.pem")
}

// TestBackupRestoreEndToEnd backs up a running server's store, restores
// it as docs/store.md says into a new data directory, starts serve on it
// and reads every resource back through the API.
func TestBackupRestoreEndToEnd(t *testing.T) {
	dirA := filepath.Join(t.TempDir(), "a")
	stopA := serveOn(t, serveConfig{dataDir: dirA, insecure: true})
	if code, out, errs := runCLI(t, "apply", "-f", example("instance-no-public-ip.yaml")); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	before := readFile(t, exportTo(t))

	backup := filepath.Join(t.TempDir(), "securetrain-backup.db")
	code, out, errs := runCLI(t, "backup", "--data", dirA, backup) // while the server runs
	if code != 0 || !strings.Contains(out, "docs/store.md") {
		t.Fatalf("backup: %d %s %s", code, out, errs)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if code, _, errs := runCLI(t, "backup", "--data", dirA, backup); code == 0 || !strings.Contains(errs, "already exists") {
		t.Errorf("a second backup to the same file: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, "backup", "--data", dirA); code != exitBadInput {
		t.Errorf("backup without FILE: exit %d", code)
	}
	stopA()

	// Restore: a 0700 directory, the backup as securetrain.db (0600), the
	// original admin.token.
	dirB := filepath.Join(t.TempDir(), "b")
	if err := os.Mkdir(dirB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ from, to string }{
		{backup, filepath.Join(dirB, store.DBFile)},
		{filepath.Join(dirA, api.AdminTokenFile), filepath.Join(dirB, api.AdminTokenFile)},
	} {
		if err := os.WriteFile(f.to, readFile(t, f.from), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serveOn(t, serveConfig{dataDir: dirB, insecure: true})
	after := readFile(t, exportTo(t))
	if !bytes.Equal(after, before) {
		t.Errorf("the restored server exports other resources:\n%s\nbefore the backup:\n%s", after, before)
	}
	if strings.Count(string(before), `"id"`) < 10 {
		t.Errorf("the export holds few resources; the test proves little:\n%s", before)
	}
}
