package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"securetrain/internal/store"
	"securetrain/internal/store/storetest"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make and drop schemas
)

// openPostgres opens a PostgreSQL store in a new, empty schema.
func openPostgres(t *testing.T) store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), storetest.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresConformance: the PostgreSQL store keeps the Store contract.
func TestPostgresConformance(t *testing.T) { storetest.Run(t, openPostgres) }

// TestPostgresIsolation: in the order that weak isolation gets wrong (two
// writers read, then each writes on what it read), READ COMMITTED loses
// every race — two NICs on one address, computes over quota, a lost
// update — and the store's SERIALIZABLE transactions win each, re-running
// the writer that PostgreSQL aborts.
func TestPostgresIsolation(t *testing.T) {
	ctx := context.Background()
	for _, r := range storetest.Races {
		t.Run(r.Name, func(t *testing.T) {
			weak := openPostgres(t).(*store.Postgres)
			store.ReadCommitted(weak)
			if err := storetest.Interleave(ctx, weak, r); err == nil {
				t.Error("READ COMMITTED: the race was won; the test no longer shows what SERIALIZABLE prevents")
			} else {
				t.Logf("READ COMMITTED: %v", err)
			}
			if err := storetest.Interleave(ctx, openPostgres(t), r); err != nil {
				t.Errorf("SERIALIZABLE: %v", err)
			}
		})
	}
}

// exec runs statements on the test server in the schema of url.
func exec(t *testing.T, url string, statements ...string) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range statements {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestPostgresRefusesANewerSchema: a database migrated by a newer
// securetrain is refused and left as it is.
func TestPostgresRefusesANewerSchema(t *testing.T) {
	ctx := context.Background()
	u := storetest.PostgresSchema(t)
	s, err := store.OpenPostgres(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := "/subscriptions/s/resourceGroups/rg"
	if err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, store.Record{ID: id, Type: "Microsoft.Resources/resourceGroups", Body: []byte(`{}`)}, store.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	exec(t, u, `INSERT INTO schema_migrations (version, applied) VALUES (99, 0)`)
	if s, err := store.OpenPostgres(ctx, u); err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a newer schema: %v", err)
	}
	exec(t, u, `DELETE FROM schema_migrations WHERE version = 99`)
	s, err = store.OpenPostgres(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Get(ctx, id); err != nil {
		t.Fatalf("after the refusal: %v", err)
	}
}

// TestPostgresRefusesAnotherProgramsDatabase: a schema with tables but no
// schema_migrations is not securetrain's; nothing is created in it.
func TestPostgresRefusesAnotherProgramsDatabase(t *testing.T) {
	u := storetest.PostgresSchema(t)
	exec(t, u, `CREATE TABLE invoices (n int)`)
	if s, err := store.OpenPostgres(context.Background(), u); err == nil || !strings.Contains(err.Error(), "not a securetrain database") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("another program's schema: %v", err)
	}
	exec(t, u, `DROP TABLE invoices`)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("tables left after the refusal: %d, %v", tables, err)
	}
}

// TestPostgresReplicasMigrateOnce: stores opened at once on a new
// database all start (the migration runs under a lock, once).
func TestPostgresReplicasMigrateOnce(t *testing.T) {
	u := storetest.PostgresSchema(t)
	const replicas = 4
	stores := make([]*store.Postgres, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = store.OpenPostgres(context.Background(), u) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if v, err := stores[0].SchemaVersion(context.Background()); err != nil || v != store.PostgresSchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
}

// TestPostgresConnectionErrorsHideThePassword: a URL that cannot be
// parsed, and a server that cannot be reached, are reported without the
// password.
func TestPostgresConnectionErrorsHideThePassword(t *testing.T) {
	const password = "pw-Zq81Tx"
	for _, u := range []string{
		"postgres://securetrain:" + password + "@127.0.0.1:notaport/db",
		"postgres://securetrain:" + password + "@127.0.0.1:1/db?connect_timeout=5&sslmode=disable",
		"host=127.0.0.1 port=1 user=securetrain password=" + password + " sslmode=disable connect_timeout=5",
	} {
		s, err := store.OpenPostgres(context.Background(), u)
		if err == nil {
			s.Close()
			t.Fatalf("%s: opened", u)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error shows the password: %v", err)
		}
		t.Log(err)
	}
}

// TestPostgresTakesPGVariables: what the URL leaves out comes from the
// standard PG* environment variables.
func TestPostgresTakesPGVariables(t *testing.T) {
	u, err := url.Parse(storetest.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	host, user := q.Get("host"), q.Get("user")
	if host == "" || user == "" {
		t.Fatalf("%s sets no host and user in its query: this test moves them to PGHOST and PGUSER", storetest.PostgresEnv)
	}
	q.Del("host")
	q.Del("user")
	u.RawQuery = q.Encode()
	t.Setenv("PGHOST", host)
	t.Setenv("PGUSER", user)
	s, err := store.OpenPostgres(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// benchBody is a 1 KB record body, as the SQLite benchmarks write.
var benchBody = []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 1000)))

// BenchmarkPostgresPut: one SERIALIZABLE write transaction of a 1 KB
// record, one writer (BenchmarkPut is SQLite's).
func BenchmarkPostgresPut(b *testing.B) {
	s := openPostgresBench(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		benchPut(b, ctx, s, i)
		i++
	}
}

// BenchmarkPostgresPutParallel: write transactions of 1 KB records, on
// distinct records, from GOMAXPROCS×4 writers at once (SQLite runs them
// one at a time; PostgreSQL side by side).
func BenchmarkPostgresPutParallel(b *testing.B) {
	s := openPostgresBench(b)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchPut(b, ctx, s, int(next.Add(1)))
		}
	})
}

// BenchmarkPostgresGet: a point read of a 1 KB record.
func BenchmarkPostgresGet(b *testing.B) {
	s := openPostgresBench(b)
	ctx := context.Background()
	benchPut(b, ctx, s, 0)
	id := benchID(0)
	for b.Loop() {
		if _, err := s.Get(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func benchID(i int) string {
	return fmt.Sprintf("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip%d", i%1000)
}

func benchPut(b *testing.B, ctx context.Context, s store.Store, i int) {
	err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, store.Record{ID: benchID(i), Type: "Microsoft.Network/publicIPAddresses", Body: benchBody}, store.Condition{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

func openPostgresBench(b *testing.B) store.Store {
	s, err := store.OpenPostgres(context.Background(), storetest.PostgresSchema(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresCloseReleasesConnections: a closed store holds no
// connection to the server (a replica that reopens its store, or tests
// that open many, would otherwise run the server out of connections).
func TestPostgresCloseReleasesConnections(t *testing.T) {
	ctx := context.Background()
	base := storetest.PostgresSchema(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	app := fmt.Sprintf("close-test-%d", time.Now().UnixNano())
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := store.OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		db, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.View(ctx, func(store.Reader) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := count(); n == 0 {
		t.Fatal("the open store holds no connection: the test cannot see its connections")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d connections left after Close", n)
	}
}
