package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"securetrain/internal/store"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make and drop schemas
)

// PostgresEnv names the PostgreSQL server the tests use: a postgres:// URL
// of a database in which they may create and drop schemas.
// scripts/with-postgres starts a throwaway cluster and sets it.
const PostgresEnv = "SECURETRAIN_TEST_POSTGRES"

// postgresURL is the test server's URL. Without one the test does not
// run: in CI (CI=true) that fails, elsewhere it says how to run it.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresEnv)
	switch {
	case u != "":
		return u
	case os.Getenv("CI") == "true":
		t.Fatalf("%s is not set: CI runs the PostgreSQL tests (.ci/run starts a cluster with scripts/with-postgres)", PostgresEnv)
	default:
		t.Skipf("PostgreSQL tests not run: %s is not set; run them with: scripts/with-postgres go test ./...", PostgresEnv)
	}
	return ""
}

var schemas atomic.Int64

// PostgresSchema makes an empty schema of its own for t (dropped when t
// ends) and returns the URL of the test server with it as search_path.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := postgresURL(t)
	ctx := context.Background()
	// One connection at a time, held only while it is used: many tests
	// run at once against one server's max_connections.
	exec := func(stmt string) error {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.ExecContext(ctx, stmt)
		return err
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), schemas.Add(1))
	if err := exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
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

// StoreEnv chooses the store that server tests (the API's, the SDK
// suite's) run on: "postgres" for a schema of their own on the server of
// PostgresEnv; "postgres-replicas" the same, and the SDK suite runs two
// servers on it behind a round-robin balancer (Replicas); anything else
// the embedded store.
const StoreEnv = "SECURETRAIN_TEST_STORE"

// Replicas says whether StoreEnv asks for two server replicas.
func Replicas() bool { return os.Getenv(StoreEnv) == "postgres-replicas" }

// OpenReplicas opens n stores on one new, empty PostgreSQL schema, for n
// servers whose data directory is dir; each is closed when tb ends.
func OpenReplicas(tb testing.TB, dir string, n int) []store.Store {
	tb.Helper()
	u := PostgresSchema(tb)
	if err := store.PrivateDir(dir); err != nil {
		tb.Fatal(err)
	}
	sts := make([]store.Store, n)
	for i := range sts {
		st, err := store.OpenPostgres(context.Background(), u)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		sts[i] = st
	}
	return sts
}

// Open opens a new, empty store for a server whose data directory is dir
// (made 0700: it holds admin.token and the TLS material whatever the
// store), closed when tb ends.
func Open(tb testing.TB, dir string) store.Store {
	tb.Helper()
	if os.Getenv(StoreEnv) == "postgres" || Replicas() {
		return OpenReplicas(tb, dir, 1)[0]
	}
	st, err := store.OpenSQLite(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
