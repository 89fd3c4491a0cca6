package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresMigrations are PostgreSQL's schema steps, numbered as SQLite's
// are and applied the same way. Keys and types are compared byte by byte
// (COLLATE "C"), as the contract orders them; bodies are kept as given
// (bytea, not jsonb, which would re-format them).
var postgresMigrations = []string{
	// 1: resources and the references between them (SQLite's 1 to 3).
	`CREATE TABLE resources (
		key     TEXT COLLATE "C" PRIMARY KEY,
		id      TEXT NOT NULL,
		type    TEXT COLLATE "C" NOT NULL,
		body    BYTEA NOT NULL,
		etag    TEXT NOT NULL,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL
	);
	CREATE INDEX resources_type ON resources (type, key);
	CREATE TABLE refs (
		to_key   TEXT COLLATE "C" NOT NULL,
		from_key TEXT COLLATE "C" NOT NULL,
		PRIMARY KEY (to_key, from_key)
	);
	CREATE INDEX refs_from ON refs (from_key);`,
	// 2: the Blob service's containers and blobs (internal/blob), so that
	// every replica serves every blob. A blob's content is a list of data
	// (one for Put Blob, one per block for Put Block List), each data a
	// run of chunks of at most 1 MiB. Data no blob or block refers to has
	// released set, and is removed an upload's time after (a download in
	// progress keeps reading the version it began with). Chunks are not
	// compressed: blobs are mostly compressed already.
	`CREATE TABLE blob_containers (
		account  TEXT COLLATE "C" NOT NULL,
		name     TEXT COLLATE "C" NOT NULL,
		etag     TEXT NOT NULL,
		modified BIGINT NOT NULL,
		PRIMARY KEY (account, name)
	);
	CREATE TABLE blob_data (
		id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		size     BIGINT NOT NULL,
		chunk    INTEGER NOT NULL,
		released BIGINT
	);
	CREATE INDEX blob_data_released ON blob_data (released) WHERE released IS NOT NULL;
	CREATE TABLE blob_chunks (
		data  BIGINT NOT NULL,
		seq   INTEGER NOT NULL,
		bytes BYTEA NOT NULL,
		PRIMARY KEY (data, seq)
	);
	ALTER TABLE blob_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
	CREATE TABLE blobs (
		account      TEXT COLLATE "C" NOT NULL,
		container    TEXT COLLATE "C" NOT NULL,
		name         TEXT COLLATE "C" NOT NULL,
		size         BIGINT NOT NULL,
		etag         TEXT NOT NULL,
		created      BIGINT NOT NULL,
		modified     BIGINT NOT NULL,
		content_type TEXT NOT NULL,
		content_md5  BYTEA,
		metadata     TEXT NOT NULL,
		parts        TEXT NOT NULL,
		PRIMARY KEY (account, container, name)
	);
	CREATE TABLE blob_blocks (
		account   TEXT COLLATE "C" NOT NULL,
		container TEXT COLLATE "C" NOT NULL,
		name      TEXT COLLATE "C" NOT NULL,
		block     BYTEA NOT NULL,
		data      BIGINT NOT NULL,
		PRIMARY KEY (account, container, name, block)
	);`,
}

// postgresMigrationLock is taken by each migration transaction, so that
// replicas starting together on one database migrate it once (an
// arbitrary key: the bytes of "secureTr").
const postgresMigrationLock = `SELECT pg_advisory_xact_lock(8315168291659047538)`

// maxSerializationRetries bounds how often Update re-runs a transaction
// that PostgreSQL aborted for a serialization failure. Each round of
// conflicting transactions lets at least one commit (a retried transaction
// does not fail again on the conflict that aborted it), so a hundred
// rounds cover a hundred writers on one record.
const maxSerializationRetries = 100

// Postgres is the Store on a PostgreSQL database shared by the replicas of
// the control plane. Update runs SERIALIZABLE transactions and re-runs a
// closure that fails with a serialization failure; View reads one snapshot
// (REPEATABLE READ, read only).
type Postgres struct {
	sqlDB
	// pool holds the connections: closing database/sql's handle on it
	// does not close it (pgx's stdlib.OpenDBFromPool).
	pool *pgxpool.Pool
	// isolation is SERIALIZABLE; tests lower it to show what it prevents.
	isolation sql.IsolationLevel
}

// Close closes the store and its connections.
func (s *Postgres) Close() error {
	err := s.sqlDB.Close()
	s.pool.Close()
	return err
}

// OpenPostgres connects to the database at url and brings its schema up
// to date. url is a postgres:// URL or a libpq key=value string; what it
// leaves out comes from the standard PG* environment variables (PGHOST,
// PGUSER, PGPASSWORD, PGPASSFILE, PGSSLMODE, PGSSLROOTCERT…), so that a
// password need not appear on a command line. Pool limits are pgx's URL
// parameters: pool_max_conns (default: the larger of 4 and the number of
// CPUs), pool_min_conns, pool_max_conn_lifetime, pool_max_conn_idle_time.
//
// Errors name the host and database, never the password or the URL.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := parsePostgres(url)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("PostgreSQL database %q on %s", cfg.ConnConfig.Database, cfg.ConnConfig.Host)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	// database/sql's own idle connections come from the pool: keep none
	// idle beyond it, so pool_max_conns is the one limit.
	db.SetMaxOpenConns(int(cfg.MaxConns))
	s := &Postgres{sqlDB: newSQLDB(db, true), pool: pool, isolation: sql.LevelSerializable}
	if err := s.open(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	return s, nil
}

// CheckPostgres says whether url is a connection string OpenPostgres can
// use, without connecting.
func CheckPostgres(url string) error {
	_, err := parsePostgres(url)
	return err
}

func parsePostgres(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors repeat the string, its password masked only
		// as well as it can be found: say what is wrong without it.
		return nil, errors.New("store: the PostgreSQL connection string cannot be parsed: use postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full, or key=value pairs (docs/store.md)")
	}
	return cfg, nil
}

// open checks that the database is securetrain's (or empty) and migrates
// it.
func (s *Postgres) open(ctx context.Context) error {
	var encoding string
	if err := s.db.QueryRowContext(ctx, `SHOW server_encoding`).Scan(&encoding); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("the database's encoding is %s, not UTF8: create it with ENCODING 'UTF8'", encoding)
	}
	var others int
	var ours bool
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE tablename <> 'schema_migrations'), COALESCE(bool_or(tablename = 'schema_migrations'), false)
		FROM pg_tables WHERE schemaname = current_schema()`).Scan(&others, &ours)
	if err != nil {
		return fmt.Errorf("read its tables: %w", err)
	}
	if others > 0 && !ours {
		return fmt.Errorf("its schema has %d tables and no schema_migrations: it is not a securetrain database (give securetrain a database or schema of its own)", others)
	}
	return s.migrate(ctx, postgresMigrations, postgresMigrationLock)
}

// Get reads one record.
func (s *Postgres) Get(ctx context.Context, id string) (Record, error) {
	r, err := s.sqlDB.Get(ctx, id)
	return r, unavailable(err)
}

// List reads one page of records.
func (s *Postgres) List(ctx context.Context, q Query) (Page, error) {
	p, err := s.sqlDB.List(ctx, q)
	return p, unavailable(err)
}

// Referrers lists the records that reference id or anything under it.
func (s *Postgres) Referrers(ctx context.Context, id string) ([]string, error) {
	ids, err := s.sqlDB.Referrers(ctx, id)
	return ids, unavailable(err)
}

// unavailable marks err ErrUnavailable when it says the database cannot
// be reached, so that the API answers 503 rather than 500.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !connectionLost(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// connectionLost says whether err is a failure to reach the server or a
// connection it dropped, rather than an answer to the statement.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down, crashed, or not yet accepting connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err)
}

// View runs fn on one snapshot: a read-only REPEATABLE READ transaction
// takes its snapshot at its first read and never blocks writers.
func (s *Postgres) View(ctx context.Context, fn func(Reader) error) error {
	return unavailable(s.view(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, fn))
}

// Update runs fn in a SERIALIZABLE transaction, and again (after a short,
// random pause) when PostgreSQL aborts it for a serialization failure or a
// deadlock, which the contract allows: closures may be re-run.
func (s *Postgres) Update(ctx context.Context, fn func(Tx) error) error {
	return s.serializable(ctx, func(tx *sqlTx) error { return fn(tx) })
}

// UpdateSQL runs fn in a SERIALIZABLE transaction, re-run as Update's
// closures are (the same rules apply), for the tables beside the records
// that the store's schema holds for others (the Blob service's).
func (s *Postgres) UpdateSQL(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.serializable(ctx, func(tx *sqlTx) error { return fn(tx.r.tx) })
}

// DB is the database, for statements that need no transaction of their
// own (reading a blob's chunks, which are never changed once written).
func (s *Postgres) DB() *sql.DB { return s.db }

// serializable runs fn in a transaction at the store's isolation, and
// again when it fails with a serialization failure or a deadlock.
func (s *Postgres) serializable(ctx context.Context, fn func(*sqlTx) error) error {
	pause := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.inTx(ctx, &sql.TxOptions{Isolation: s.isolation}, fn)
		if err == nil || !retryable(err) {
			return unavailable(err)
		}
		if attempt == maxSerializationRetries {
			// Too busy to commit now: the client is told to retry (503).
			return fmt.Errorf("store: gave up after %d serialization failures: %w: %w", attempt, ErrUnavailable, err)
		}
		// Jitter spreads the transactions that conflicted, so that they
		// do not meet again.
		select {
		case <-time.After(pause/2 + rand.N(pause)):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// retryable says whether err is PostgreSQL's word that the transaction
// conflicted with another and may succeed if run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", // serialization_failure
		"40P01": // deadlock_detected
		return true
	}
	return false
}
