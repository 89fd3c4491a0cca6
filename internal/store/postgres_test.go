package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"securetrain/internal/store"
	"securetrain/internal/store/storetest"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make and drop schemas
)

// postgresEnv names the PostgreSQL server the tests use: a postgres:// URL
// of a database in which they may create and drop schemas.
// scripts/with-postgres starts a throwaway cluster and sets it.
const postgresEnv = "SECURETRAIN_TEST_POSTGRES"

// postgresURL is the test server's URL. Without one the test does not
// run: in CI (CI=true) that fails, elsewhere it says how to run it.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(postgresEnv)
	switch {
	case u != "":
		return u
	case os.Getenv("CI") == "true":
		t.Fatalf("%s is not set: CI runs the PostgreSQL tests (.ci/run starts a cluster with scripts/with-postgres)", postgresEnv)
	default:
		t.Skipf("PostgreSQL tests not run: %s is not set; run them with: scripts/with-postgres go test ./internal/store", postgresEnv)
	}
	return ""
}

var schemas atomic.Int64

// postgresSchema makes an empty schema of its own for t (dropped when t
// ends) and returns the URL of the test server with it as search_path.
func postgresSchema(t testing.TB) string {
	t.Helper()
	base := postgresURL(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), schemas.Add(1))
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens a PostgreSQL store in a new, empty schema.
func openPostgres(t *testing.T) store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), postgresSchema(t))
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
