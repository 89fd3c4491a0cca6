package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// sqlDB is what the SQLite and PostgreSQL stores share: the statements
// that read and write records, on database/sql. Each store brings its
// schema, its transactions and how they are retried.
type sqlDB struct {
	db *sql.DB
	// pgx says the driver is PostgreSQL's pgx: it takes $1, $2… where
	// the statements are written with ? (SQLite's), and caches prepared
	// statements per connection itself — preparing on the database would
	// wait for a free connection while the transaction holds one.
	pgx bool
	// prepared caches SQLite's statements: preparing (parsing SQL) was a
	// fifth of the cost of a small write.
	mu       sync.Mutex
	prepared map[string]*sql.Stmt
}

func newSQLDB(db *sql.DB, pgx bool) sqlDB {
	return sqlDB{db: db, pgx: pgx, prepared: map[string]*sql.Stmt{}}
}

// bind writes the ? placeholders of query as the driver takes them (no
// statement here has a ? inside a string literal).
func (d *sqlDB) bind(query string) string {
	if !d.pgx {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Close closes the database.
func (d *sqlDB) Close() error { return d.db.Close() }

// inTx runs fn in one transaction begun with opts: committed when fn
// returns nil, rolled back when it returns an error or panics (a
// transaction left open would hold its locks for every later writer).
func (d *sqlDB) inTx(ctx context.Context, opts *sql.TxOptions, fn func(*sqlTx) error) error {
	tx, err := d.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	ended := false
	defer func() {
		if !ended {
			tx.Rollback()
		}
	}()
	err = fn(&sqlTx{r: runner{s: d, tx: tx}})
	ended = true
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// view runs fn in a read-only transaction begun with opts.
func (d *sqlDB) view(ctx context.Context, opts *sql.TxOptions, fn func(Reader) error) error {
	tx, err := d.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&sqlTx{r: runner{s: d, tx: tx}})
}

// migrate brings the schema up to date with steps, numbered from 1, one
// transaction each, recorded in schema_migrations. lock, when set, is run
// first in each of them, so that processes starting together on one
// database migrate it once. A schema newer than steps is refused and
// left as it is.
func (d *sqlDB) migrate(ctx context.Context, steps []string, lock string) error {
	for {
		done, err := d.migrateStep(ctx, steps, lock)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the first step the schema lacks; done when none.
func (d *sqlDB) migrateStep(ctx context.Context, steps []string, lock string) (done bool, err error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("schema: %w", err)
	}
	defer tx.Rollback()
	if lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return false, fmt.Errorf("schema lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return false, fmt.Errorf("schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return false, fmt.Errorf("schema version: %w", err)
	}
	if have > len(steps) {
		return false, fmt.Errorf("schema version %d is newer than this securetrain knows (%d): use a newer securetrain", have, len(steps))
	}
	if have < len(steps) {
		v := have + 1
		if _, err := tx.ExecContext(ctx, steps[v-1]); err != nil {
			return false, fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, d.bind(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`), v, time.Now().UnixNano()); err != nil {
			return false, fmt.Errorf("migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %d: %w", have+1, err)
	}
	return have == len(steps), nil
}

// SchemaVersion is the number of migrations applied.
func (d *sqlDB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// runner runs the store's statements on the database or in a transaction,
// each prepared once.
type runner struct {
	s  *sqlDB
	tx *sql.Tx // nil outside a transaction
}

func (r runner) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	r.s.mu.Lock()
	st := r.s.prepared[query]
	r.s.mu.Unlock()
	if st == nil {
		var err error
		if st, err = r.s.db.PrepareContext(ctx, r.s.bind(query)); err != nil {
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

// conn is where a statement runs: the transaction, or the database.
func (r runner) conn() interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	ExecContext(context.Context, string, ...any) (sql.Result, error)
} {
	if r.tx != nil {
		return r.tx
	}
	return r.s.db
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if r.s.pgx {
		return r.conn().QueryContext(ctx, r.s.bind(query), args...)
	}
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if r.s.pgx {
		return r.conn().ExecContext(ctx, r.s.bind(query), args...)
	}
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// Get reads one record.
func (d *sqlDB) Get(ctx context.Context, id string) (Record, error) {
	return get(ctx, runner{s: d}, id)
}

// List reads one page of records.
func (d *sqlDB) List(ctx context.Context, q Query) (Page, error) { return list(ctx, runner{s: d}, q) }

// Referrers lists the records that reference id or anything under it.
func (d *sqlDB) Referrers(ctx context.Context, id string) ([]string, error) {
	return referrers(ctx, runner{s: d}, id)
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
	if textOnly(id) != nil {
		return Record{}, fmt.Errorf("%s: %w", id, ErrNotFound) // Put stores no such id
	}
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
	if textOnly(qu.Scope, qu.After, qu.Type) != nil {
		return Page{}, nil // Put stores no such id or type
	}
	limit := qu.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	lo, hi := scopeRange(qu.Scope)
	from := `key >= ?`
	if qu.After != "" {
		if a := Key(qu.After); a >= lo {
			from, lo = `key > ?`, a // strictly after the previous page's last key
		}
	}
	query := `SELECT ` + columns + `, key FROM resources WHERE ` + from + ` AND key < ?`
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

// sqlTx is a transaction of either store: Update's Tx, View's Reader.
type sqlTx struct {
	r runner
}

func (t *sqlTx) Get(ctx context.Context, id string) (Record, error) { return get(ctx, t.r, id) }

func (t *sqlTx) List(ctx context.Context, q Query) (Page, error) { return list(ctx, t.r, q) }

// current reads the record for a precondition; exists is false when there
// is none.
func (t *sqlTx) current(ctx context.Context, id string) (Record, bool, error) {
	cur, err := get(ctx, t.r, id)
	if errors.Is(err, ErrNotFound) {
		return Record{}, false, nil
	}
	return cur, err == nil, err
}

func (t *sqlTx) Put(ctx context.Context, rec Record, cond Condition) (Record, error) {
	if rec.ID == "" || rec.Type == "" {
		return Record{}, fmt.Errorf("store: put: a record needs an id and a type (id %q, type %q)", rec.ID, rec.Type)
	}
	if err := textOnly(append([]string{rec.ID, rec.Type}, rec.Refs...)...); err != nil {
		return Record{}, fmt.Errorf("store: put %q: %w", rec.ID, err)
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
func (t *sqlTx) setRefs(ctx context.Context, from string, refs []string) error {
	fk := Key(from)
	if _, err := t.r.exec(ctx, `DELETE FROM refs WHERE from_key = ?`, fk); err != nil {
		return fmt.Errorf("store: references of %s: %w", from, err)
	}
	for _, to := range refs {
		if _, err := t.r.exec(ctx, `INSERT INTO refs (to_key, from_key) VALUES (?, ?) ON CONFLICT DO NOTHING`, Key(to), fk); err != nil {
			return fmt.Errorf("store: references of %s: %w", from, err)
		}
	}
	return nil
}

// referrers lists the ids of records that reference id or anything under
// it, in id order.
func referrers(ctx context.Context, q runner, id string) ([]string, error) {
	if textOnly(id) != nil {
		return nil, nil // Put stores no such reference
	}
	k := Key(id)
	lo, hi := scopeRange(id)
	// DISTINCT lists the key too: PostgreSQL orders a DISTINCT only by
	// what it selects.
	rows, err := q.query(ctx, `SELECT DISTINCT r.key, r.id FROM refs f JOIN resources r ON r.key = f.from_key
		WHERE f.to_key = ? OR (f.to_key >= ? AND f.to_key < ?) ORDER BY r.key`, k, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: referrers of %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var key, from string
		if err := rows.Scan(&key, &from); err != nil {
			return nil, fmt.Errorf("store: referrers of %s: %w", id, err)
		}
		out = append(out, from)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: referrers of %s: %w", id, err)
	}
	return out, nil
}

func (t *sqlTx) Referrers(ctx context.Context, id string) ([]string, error) {
	return referrers(ctx, t.r, id)
}

func (t *sqlTx) Delete(ctx context.Context, id string, cond Condition) error {
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

func (t *sqlTx) DeleteUnder(ctx context.Context, scope string) (int, error) {
	if textOnly(scope) != nil {
		return 0, nil // Put stores no such id
	}
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

// textOnly refuses ids and types that a text column cannot hold in every
// store: PostgreSQL's text is UTF-8 without NUL bytes.
func textOnly(fields ...string) error {
	for _, f := range fields {
		if !utf8.ValidString(f) {
			return errors.New("ids and types are UTF-8 text")
		}
		if strings.ContainsRune(f, 0) {
			return errors.New("ids and types contain no NUL byte")
		}
	}
	return nil
}
