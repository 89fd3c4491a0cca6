package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

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
	db *sql.DB
	// prepared caches statements: preparing (parsing SQL) was a fifth of
	// the cost of a small write.
	mu       sync.Mutex
	prepared map[string]*sql.Stmt
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
	s := &SQLite{db: db, prepared: map[string]*sql.Stmt{}}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this securetrain knows (%d): use a newer securetrain", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, v, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion is the number of migrations applied.
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// runner runs the store's statements on the database or in a transaction,
// each prepared once.
type runner struct {
	s  *SQLite
	tx *sql.Tx // nil outside a transaction
}

func (r runner) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	r.s.mu.Lock()
	st := r.s.prepared[query]
	r.s.mu.Unlock()
	if st == nil {
		var err error
		if st, err = r.s.db.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		r.s.mu.Lock()
		if prev := r.s.prepared[query]; prev != nil {
			st.Close()
			st = prev
		} else {
			r.s.prepared[query] = st
		}
		r.s.mu.Unlock()
	}
	if r.tx != nil {
		// database/sql reuses the statement when it was already prepared
		// on the transaction's connection.
		return r.tx.StmtContext(ctx, st), nil
	}
	return st, nil
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// Get reads one record.
func (s *SQLite) Get(ctx context.Context, id string) (Record, error) {
	return get(ctx, runner{s: s}, id)
}

// List reads one page of records.
func (s *SQLite) List(ctx context.Context, q Query) (Page, error) { return list(ctx, runner{s: s}, q) }

// Referrers lists the records that reference id or anything under it.
func (s *SQLite) Referrers(ctx context.Context, id string) ([]string, error) {
	return referrers(ctx, runner{s: s}, id)
}

// View runs fn in a read transaction: in WAL mode it sees the last
// commit before it began and does not hold up writers.
func (s *SQLite) View(ctx context.Context, fn func(Reader) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // a deferred BEGIN, not _txlock's immediate
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&sqliteTx{tx: tx, r: runner{s: s, tx: tx}})
}

// Update runs fn in one write transaction.
func (s *SQLite) Update(ctx context.Context, fn func(Tx) error) error {
	s.writer.Lock()
	defer s.writer.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	// A closure that panics must not leave its transaction open: it holds
	// the write lock, and every later write would wait for it, then fail.
	ended := false
	defer func() {
		if !ended {
			tx.Rollback()
		}
	}()
	err = fn(&sqliteTx{tx: tx, r: runner{s: s, tx: tx}})
	ended = true
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

const columns = `id, type, body, etag, created, updated`

func scan(row interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Type, &r.Body, &r.ETag, &created, &updated); err != nil {
		return Record{}, err
	}
	r.Created, r.Updated = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return r, nil
}

func get(ctx context.Context, q runner, id string) (Record, error) {
	rows, err := q.query(ctx, `SELECT `+columns+` FROM resources WHERE key = ?`, Key(id))
	if err != nil {
		return Record{}, fmt.Errorf("store: read %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Record{}, fmt.Errorf("store: read %s: %w", id, err)
		}
		return Record{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	r, err := scan(rows)
	if err != nil {
		return Record{}, fmt.Errorf("store: read %s: %w", id, err)
	}
	return r, nil
}

// scopeRange is the key range strictly under scope: keys starting with
// "scope/" sort from "scope/" up to (not including) "scope0", '0' being
// the byte after '/'.
func scopeRange(scope string) (lo, hi string) {
	k := Key(scope)
	return k + "/", k + "0"
}

func list(ctx context.Context, q runner, qu Query) (Page, error) {
	limit := qu.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	lo, hi := scopeRange(qu.Scope)
	if qu.After != "" {
		if a := Key(qu.After); a >= lo {
			lo = a + "\x00" // strictly after the previous page's last key
		}
	}
	query := `SELECT ` + columns + `, key FROM resources WHERE key >= ? AND key < ?`
	args := []any{lo, hi}
	if qu.Type != "" {
		query += ` AND type = ?`
		args = append(args, strings.ToLower(qu.Type))
	}
	query += ` ORDER BY key LIMIT ?`
	args = append(args, limit+1)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("store: list %s: %w", qu.Scope, err)
	}
	defer rows.Close()
	var p Page
	var lastKey string
	for rows.Next() {
		var r Record
		var created, updated int64
		var key string
		if err := rows.Scan(&r.ID, &r.Type, &r.Body, &r.ETag, &created, &updated, &key); err != nil {
			return Page{}, fmt.Errorf("store: list %s: %w", qu.Scope, err)
		}
		if len(p.Records) == limit {
			p.Next = lastKey
			break
		}
		r.Created, r.Updated = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
		p.Records = append(p.Records, r)
		lastKey = key
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: list %s: %w", qu.Scope, err)
	}
	return p, nil
}

type sqliteTx struct {
	tx *sql.Tx
	r  runner
}

func (t *sqliteTx) Get(ctx context.Context, id string) (Record, error) { return get(ctx, t.r, id) }

func (t *sqliteTx) List(ctx context.Context, q Query) (Page, error) { return list(ctx, t.r, q) }

// current reads the record for a precondition; exists is false when there
// is none.
func (t *sqliteTx) current(ctx context.Context, id string) (Record, bool, error) {
	cur, err := get(ctx, t.r, id)
	if errors.Is(err, ErrNotFound) {
		return Record{}, false, nil
	}
	return cur, err == nil, err
}

func (t *sqliteTx) Put(ctx context.Context, rec Record, cond Condition) (Record, error) {
	if rec.ID == "" || rec.Type == "" {
		return Record{}, fmt.Errorf("store: put: a record needs an id and a type (id %q, type %q)", rec.ID, rec.Type)
	}
	if !strings.HasPrefix(rec.ID, "/") {
		// Scopes are id prefixes: the empty scope lists the ids that begin with "/".
		return Record{}, fmt.Errorf("store: put %q: an id begins with /", rec.ID)
	}
	if !json.Valid(rec.Body) {
		// The integrity check at open refuses a store with such a body.
		return Record{}, fmt.Errorf("store: put %s: the body is not JSON", rec.ID)
	}
	cur, exists, err := t.current(ctx, rec.ID)
	if err != nil {
		return Record{}, err
	}
	if err := check(rec.ID, cur, exists, cond); err != nil {
		return Record{}, err
	}
	now := time.Now().UTC()
	if rec.ETag == "" {
		rec.ETag = NewETag()
	}
	rec.Created, rec.Updated = now, now
	if exists {
		rec.ID, rec.Created = cur.ID, cur.Created // the id keeps its first casing
	}
	_, err = t.r.exec(ctx, `INSERT INTO resources (key, id, type, body, etag, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET type = excluded.type, body = excluded.body, etag = excluded.etag, updated = excluded.updated`,
		Key(rec.ID), rec.ID, strings.ToLower(rec.Type), rec.Body, rec.ETag, rec.Created.UnixNano(), rec.Updated.UnixNano())
	if err != nil {
		return Record{}, fmt.Errorf("store: write %s: %w", rec.ID, err)
	}
	if err := t.setRefs(ctx, rec.ID, rec.Refs); err != nil {
		return Record{}, err
	}
	rec.Type = strings.ToLower(rec.Type)
	return rec, nil
}

// setRefs replaces the references recorded for the record from.
func (t *sqliteTx) setRefs(ctx context.Context, from string, refs []string) error {
	fk := Key(from)
	if _, err := t.r.exec(ctx, `DELETE FROM refs WHERE from_key = ?`, fk); err != nil {
		return fmt.Errorf("store: references of %s: %w", from, err)
	}
	for _, to := range refs {
		if _, err := t.r.exec(ctx, `INSERT OR IGNORE INTO refs (to_key, from_key) VALUES (?, ?)`, Key(to), fk); err != nil {
			return fmt.Errorf("store: references of %s: %w", from, err)
		}
	}
	return nil
}

// referrers lists the ids of records that reference id or anything under
// it, in id order.
func referrers(ctx context.Context, q runner, id string) ([]string, error) {
	k := Key(id)
	lo, hi := scopeRange(id)
	rows, err := q.query(ctx, `SELECT DISTINCT r.id FROM refs f JOIN resources r ON r.key = f.from_key
		WHERE f.to_key = ? OR (f.to_key >= ? AND f.to_key < ?) ORDER BY r.key`, k, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: referrers of %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var from string
		if err := rows.Scan(&from); err != nil {
			return nil, fmt.Errorf("store: referrers of %s: %w", id, err)
		}
		out = append(out, from)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: referrers of %s: %w", id, err)
	}
	return out, nil
}

func (t *sqliteTx) Referrers(ctx context.Context, id string) ([]string, error) {
	return referrers(ctx, t.r, id)
}

func (t *sqliteTx) Delete(ctx context.Context, id string, cond Condition) error {
	cur, exists, err := t.current(ctx, id)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err := check(id, cur, exists, cond); err != nil {
		return err
	}
	if _, err := t.r.exec(ctx, `DELETE FROM resources WHERE key = ?`, Key(id)); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	return t.setRefs(ctx, id, nil)
}

func (t *sqliteTx) DeleteUnder(ctx context.Context, scope string) (int, error) {
	lo, hi := scopeRange(scope)
	res, err := t.r.exec(ctx, `DELETE FROM resources WHERE key >= ? AND key < ?`, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("store: delete under %s: %w", scope, err)
	}
	if _, err := t.r.exec(ctx, `DELETE FROM refs WHERE from_key >= ? AND from_key < ?`, lo, hi); err != nil {
		return 0, fmt.Errorf("store: delete under %s: %w", scope, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// NewETag is a fresh ARM-style weak etag.
func NewETag() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error since Go 1.24)
	return `W/"` + hex.EncodeToString(b[:]) + `"`
}
