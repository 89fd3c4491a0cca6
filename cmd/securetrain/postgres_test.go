package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/blob"
	"securetrain/internal/resources"
	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// startServe runs serve with cfg (on a free port, plain HTTP) until the
// test ends, and returns its address.
func startServe(t *testing.T, cfg serveConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	cfg.listen, cfg.insecure, cfg.ready = "127.0.0.1:0", true, ready
	go func() { done <- serve(ctx, cfg, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		done <- err
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	return ""
}

// request sends method to the server at addr with the token and returns
// the status.
func request(t *testing.T, method, addr, path, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServePostgres: two serve replicas on one PostgreSQL database, each
// with its own data directory; the first creates the administrator, whose
// token the operator copies to the second, which reads what the first
// wrote. The admin commands take --store too.
func TestServePostgres(t *testing.T) {
	url := storetest.PostgresSchema(t)
	first := filepath.Join(t.TempDir(), "data")
	addr1 := startServe(t, serveConfig{dataDir: first, storeURL: url})
	if _, err := os.Stat(filepath.Join(first, "securetrain.db")); err == nil {
		t.Error("serve --store made an embedded database too")
	}
	token, err := os.ReadFile(filepath.Join(first, api.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	rg := "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg1?api-version=2021-04-01"
	if code := request(t, "PUT", addr1, rg, strings.TrimSpace(string(token)), `{"location":"eastus"}`); code != 201 {
		t.Fatalf("create through the first replica: %d", code)
	}
	second := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(second, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, api.AdminTokenFile), token, 0o600); err != nil {
		t.Fatal(err)
	}
	addr2 := startServe(t, serveConfig{dataDir: second, storeURL: url})
	if code := request(t, "GET", addr2, rg, strings.TrimSpace(string(token)), ""); code != 200 {
		t.Fatalf("read through the second replica: %d", code)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"principal", "create", "alice", "--data", second, "--store", url}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "st_") {
		t.Fatalf("principal create --store: %d %q %q", code, out.String(), errb.String())
	}
	if code := request(t, "GET", addr1, rg, strings.TrimSpace(out.String()), ""); code != 403 {
		t.Fatalf("alice, with no role, through the first replica: %d (want 403: her token is known, she may not read)", code)
	}
}

// TestServePostgresRefusesAnotherDirectory: a data directory whose
// admin.token belongs to another store (here an embedded one) is refused
// beside a PostgreSQL store without an administrator, and the token is
// left as it was.
func TestServePostgresRefusesAnotherDirectory(t *testing.T) {
	url := storetest.PostgresSchema(t)
	dir := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	if code := run([]string{"principal", "create", "alice", "--data", dir}, &out, &errb); code != 0 {
		t.Fatalf("principal create: %d %q", code, errb.String())
	}
	token := filepath.Join(dir, api.AdminTokenFile)
	if err := os.WriteFile(token, []byte("st_old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := serve(context.Background(), serveConfig{dataDir: dir, storeURL: url, listen: "127.0.0.1:0", insecure: true}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "belongs to another store") {
		t.Fatalf("serve: %v", err)
	}
	if b, _ := os.ReadFile(token); string(b) != "st_old\n" {
		t.Fatalf("admin.token was rewritten: %q", b)
	}
}

// TestStoreRefusesAPasswordOnTheCommandLine: a connection string with a
// password is refused before anything is created or connected to.
func TestStoreRefusesAPasswordOnTheCommandLine(t *testing.T) {
	for _, conn := range []string{
		"postgres://securetrain:pw@db.example/securetrain",
		"postgres://securetrain@db.example/securetrain?password=pw",
		"host=db.example user=securetrain password=pw",
	} {
		dir := filepath.Join(t.TempDir(), "data")
		var out, errb bytes.Buffer
		code := run([]string{"principal", "create", "alice", "--data", dir, "--store", conn}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "PGPASSWORD") || strings.Contains(errb.String(), "pw@") {
			t.Errorf("%s: %d %q", conn, code, errb.String())
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: the data directory was created", conn)
		}
	}
}

// TestMigrateToPostgres: migrate copies every record of an embedded store
// as it is — etags, times, references — into an empty PostgreSQL
// database, refuses one that holds records, and refuses a --from without
// a store, creating nothing.
func TestMigrateToPostgres(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresSchema(t)
	dir := filepath.Join(t.TempDir(), "data")
	src, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	sub := "/subscriptions/00000000-0000-0000-0000-000000000001"
	nsg := sub + "/resourceGroups/RG/providers/Microsoft.Network/networkSecurityGroups/nsg"
	subnet := sub + "/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
	account := sub + "/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/stmig"
	if err := src.Update(ctx, func(tx store.Tx) error {
		for _, r := range []store.Record{
			{ID: account, Type: resources.TypeStorageAccount, Body: []byte(`{}`)},
			{ID: nsg, Type: "Microsoft.Network/networkSecurityGroups", Body: []byte(`{"a": 1}`)},
			{ID: subnet, Type: "Microsoft.Network/virtualNetworks/subnets", Body: []byte(`{}`), Refs: []string{nsg}},
		} {
			if _, err := tx.Put(ctx, r, store.Condition{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want []store.Record
	if err := store.Each(ctx, src, store.Query{}, func(r store.Record) error { want = append(want, r); return nil }); err != nil {
		t.Fatal(err)
	}
	src.Close()

	var out, errb bytes.Buffer
	disk, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := blob.NewService(disk, nil, quiet).Put(ctx, account, "data", "a/b.txt", strings.NewReader("kept"), 4); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"migrate", "--from", dir, "--to", url}, &out, &errb); code != 0 || !strings.Contains(out.String(), "copied 3 records and 1 blobs") {
		t.Fatalf("migrate: %d %q %q", code, out.String(), errb.String())
	}
	dst, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var got []store.Record
	if err := store.Each(ctx, dst, store.Query{}, func(r store.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("copied %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.Type != w.Type || string(g.Body) != string(w.Body) || g.ETag != w.ETag || !g.Created.Equal(w.Created) || !g.Updated.Equal(w.Updated) {
			t.Errorf("copied %+v, want %+v", g, w)
		}
	}
	if refs, err := dst.Referrers(ctx, nsg); err != nil || len(refs) != 1 || refs[0] != subnet {
		t.Errorf("referrers of the NSG after the copy: %v, %v", refs, err)
	}
	var blobs []string
	if _, err := blob.NewService(blob.OpenPostgres(dst), nil, quiet).Files(ctx, account, "data", "a", func(rel string, r io.Reader) error {
		b, err := io.ReadAll(r)
		blobs = append(blobs, rel+"="+string(b))
		return err
	}); err != nil || strings.Join(blobs, ",") != "b.txt=kept" {
		t.Errorf("the blobs in the database after the copy: %v %v", blobs, err)
	}

	errb.Reset()
	if code := run([]string{"migrate", "--from", dir, "--to", url}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "already holds records") {
		t.Errorf("a second migrate: %d %q", code, errb.String())
	}
	missing := filepath.Join(t.TempDir(), "none")
	errb.Reset()
	if code := run([]string{"migrate", "--from", missing, "--to", url}, &out, &errb); code != exitBadInput || !strings.Contains(errb.String(), "holds no embedded store") {
		t.Errorf("--from without a store: %d %q", code, errb.String())
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("migrate created the --from directory")
	}
}
