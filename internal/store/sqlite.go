package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// migrations are applied in order, each in its own transaction, and
// recorded in schema_migrations; a database is never migrated backwards.
var migrations = []string{
	// 1: resources keyed by the lower-cased id. Listing a scope is a range
	// scan on key (binary collation: "scope/" <= key < "scope0").
	`CREATE TABLE resources (
		key     TEXT PRIMARY KEY,
		id      TEXT NOT NULL,
		type    TEXT NOT NULL,
		body    BLOB NOT NULL,
		etag    TEXT NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX resources_type ON resources (type, key);`,
	// 2: the references between records (a subnet's NSG, a compute's
	// subnet), so that "is this in use?" is an index lookup.
	`CREATE TABLE refs (
		to_key   TEXT NOT NULL,
		from_key TEXT NOT NULL,
		PRIMARY KEY (to_key, from_key)
	) WITHOUT ROWID;
	CREATE INDEX refs_from ON refs (from_key);`,
	// 3: resources in a rowid table. WITHOUT ROWID keeps whole rows in
	// the key's b-tree, where a body over ~1 KB spills to an overflow page
	// of its own: 100,000 NSGs took 465 MiB.
	`CREATE TABLE resources_v3 (
		key     TEXT NOT NULL UNIQUE,
		id      TEXT NOT NULL,
		type    TEXT NOT NULL,
		body    BLOB NOT NULL,
		etag    TEXT NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL
	);
	INSERT INTO resources_v3 (key, id, type, body, etag, created, updated)
		SELECT key, id, type, body, etag, created, updated FROM resources;
	DROP TABLE resources;
	ALTER TABLE resources_v3 RENAME TO resources;
	CREATE INDEX resources_type ON resources (type, key);`,
}

// SQLite is the Store on an embedded SQLite database (modernc.org/sqlite,
// pure Go) in one file of the data directory.
type SQLite struct {
	sqlDB
	// writer queues this process's write transactions. SQLite admits one
	// writer at a time; left to its busy handler, waiting writers poll
	// with growing sleeps and give up after busy_timeout, which a burst
	// of concurrent requests exceeded (500s). Other processes (the CLI's
	// admin commands) still meet the busy handler.
	writer sync.Mutex
}

// DBFile is the database's file name in the data directory.
const DBFile = "securetrain.db"

// OpenSQLite opens (creating when needed) the store in dir and brings its
// schema up to date, with the default integrity-check budget and no
// marker (see OpenSQLiteWith).
func OpenSQLite(dir string) (*SQLite, error) {
	return OpenSQLiteWith(dir, Options{CheckBudget: DefaultCheckBudget})
}

// OpenSQLiteWith opens the store in dir after the checks of verify: a data
// directory and files that others cannot read, a database that is
// securetrain's, whole and writable. A new directory (and database) is
// created 0700 (0600).
//
// Durability: WAL journal with synchronous=FULL, so a commit is on disk
// when Update returns — a kill -9 (or a power loss) after that loses
// nothing, and one before it leaves no trace of the transaction. Write
// transactions take the write lock when they begin (BEGIN IMMEDIATE), so
// two writers never deadlock upgrading a read lock.
func OpenSQLiteWith(dir string, o Options) (*SQLite, error) {
	path, err := prepare(dir, o)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &SQLite{sqlDB: newSQLDB(db, false)}
	if err := s.migrate(context.Background(), migrations, ""); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// View runs fn in a read transaction: in WAL mode it sees the last
// commit before it began and does not hold up writers.
func (s *SQLite) View(ctx context.Context, fn func(Reader) error) error {
	return s.view(ctx, &sql.TxOptions{ReadOnly: true}, fn) // a deferred BEGIN, not _txlock's immediate
}

// Update runs fn in one write transaction (BEGIN IMMEDIATE: SQLite's
// one writer at a time is serializable).
func (s *SQLite) Update(ctx context.Context, fn func(Tx) error) error {
	s.writer.Lock()
	defer s.writer.Unlock()
	return s.inTx(ctx, nil, func(tx *sqlTx) error { return fn(tx) })
}
