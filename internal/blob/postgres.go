package blob

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"securetrain/internal/store"
)

// Postgres keeps the blobs in the PostgreSQL database of the store, in
// the tables the store's schema has for them (blob_containers, blobs,
// blob_blocks, blob_data, blob_chunks), so that a blob uploaded through
// one replica of the control plane is read through any other.
//
// A blob's content is a list of data — the one upload of a Put Blob, or
// the blocks of a Put Block List in its order, not copied — and each data
// is a run of chunks of ChunkBytes. An upload streams into a new data
// chunk by chunk (memory holds one chunk), outside any transaction; the
// commit that makes it a blob's is one serializable transaction. Data no
// blob or block refers to any more is marked released, and removed once
// it has been released for longer than any download may last (retention),
// so a download in progress keeps reading the version it began with.
type Postgres struct {
	st *store.Postgres
	// chunk is the size of the chunks written (ChunkBytes; tests use
	// smaller ones). Each data records its own, so reads need not know.
	chunk int
	// lastSweep is when this process last removed released data
	// (UnixNano): at most once a minute.
	lastSweep atomic.Int64
}

// ChunkBytes is the size of the chunks a blob's data is stored in: one
// row each, so that a read or a write holds one chunk in memory.
const ChunkBytes = 1 << 20

// retention is how long released data stays readable: longer than an
// authenticated transfer may last (transferTime), so that neither an
// upload being received nor a download in progress loses its data.
const retention = 2 * transferTime

// OpenPostgres serves the blobs from st's database.
func OpenPostgres(st *store.Postgres) *Postgres { return &Postgres{st: st, chunk: ChunkBytes} }

// accountKey: account ids compare case-insensitively, as ARM's do.
func accountKey(account string) string { return strings.ToLower(account) }

func (b *Postgres) createContainer(ctx context.Context, account, container string, now time.Time) (containerProps, error) {
	cp := containerProps{Name: container, ETag: newETag(), Modified: now}
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blob_containers (account, name, etag, modified) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			accountKey(account), container, cp.ETag, now.UnixNano())
		if err != nil {
			return fmt.Errorf("create container %s: %w", container, err)
		}
		return affected(res, newError(http.StatusConflict, "ContainerAlreadyExists", "The specified container already exists."))
	})
	return cp, err
}

var _ Backend = (*Postgres)(nil)

// querier is a transaction or the database.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (b *Postgres) container(ctx context.Context, account, container string) (containerProps, error) {
	return readPGContainer(ctx, b.st.DB(), account, container)
}

func readPGContainer(ctx context.Context, q querier, account, container string) (containerProps, error) {
	cp := containerProps{Name: container}
	var modified int64
	err := q.QueryRowContext(ctx, `SELECT etag, modified FROM blob_containers WHERE account = $1 AND name = $2`, accountKey(account), container).Scan(&cp.ETag, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, errContainerNotFound
	}
	if err != nil {
		return cp, fmt.Errorf("read container %s: %w", container, err)
	}
	cp.Modified = time.Unix(0, modified).UTC()
	return cp, nil
}

// releasing marks released, at now, the data of the blobs and blocks
// that where selects (a condition on account, container and name, with
// args), which are about to be deleted or replaced.
func releasing(ctx context.Context, tx *sql.Tx, now time.Time, where string, args ...any) error {
	n := len(args) + 1
	args = append(args, now.UnixNano())
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE blob_data SET released = $%d WHERE id IN (
		SELECT (e->>0)::bigint FROM blobs, jsonb_array_elements(parts::jsonb) e WHERE %s
		UNION ALL SELECT data FROM blob_blocks WHERE %s)`, n, where, where), args...)
	if err != nil {
		return fmt.Errorf("release blob data: %w", err)
	}
	return nil
}

// removeWhere deletes the blobs and blocks that where selects, releasing
// their data.
func removeWhere(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	if err := releasing(ctx, tx, time.Now(), where, args...); err != nil {
		return err
	}
	for _, table := range []string{"blobs", "blob_blocks"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
			return fmt.Errorf("delete from %s: %w", table, err)
		}
	}
	return nil
}

func (b *Postgres) deleteContainer(ctx context.Context, account, container string) error {
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM blob_containers WHERE account = $1 AND name = $2`, accountKey(account), container)
		if err != nil {
			return fmt.Errorf("delete container %s: %w", container, err)
		}
		if err := affected(res, errContainerNotFound); err != nil {
			return err
		}
		return removeWhere(ctx, tx, `account = $1 AND container = $2`, accountKey(account), container)
	})
	b.sweep(ctx)
	return err
}

func (b *Postgres) removeAccount(ctx context.Context, account string) error {
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_containers WHERE account = $1`, accountKey(account)); err != nil {
			return fmt.Errorf("remove the blobs of %s: %w", account, err)
		}
		return removeWhere(ctx, tx, `account = $1`, accountKey(account))
	})
	b.sweep(ctx)
	return err
}

// stage writes body into a new data, released from the start: a commit
// or putBlock claims it, and one that never comes leaves it to the sweep.
func (b *Postgres) stage(ctx context.Context, body io.Reader, size int64) (staged, error) {
	db := b.st.DB()
	var id int64
	if err := db.QueryRowContext(ctx, `INSERT INTO blob_data (size, chunk, released) VALUES ($1, $2, $3) RETURNING id`,
		size, b.chunk, time.Now().UnixNano()).Scan(&id); err != nil {
		return staged{}, fmt.Errorf("stage an upload: %w", err)
	}
	s := staged{data: id, size: size}
	h := md5.New()
	buf := make([]byte, b.chunk)
	var got int64
	for seq := 0; got < size; seq++ {
		n, err := io.ReadFull(body, buf[:min(int64(b.chunk), size-got)])
		got += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = newError(http.StatusBadRequest, "InvalidInput", "The request body holds %d bytes, fewer than its Content-Length (%d).", got, size)
		}
		if err == nil {
			h.Write(buf[:n])
			err = insertChunk(ctx, db, id, seq, buf[:n])
		}
		if err != nil {
			b.discard(s)
			var be *Error
			if errors.As(err, &be) {
				return staged{}, be
			}
			return staged{}, fmt.Errorf("receive an upload: %w", err)
		}
	}
	s.md5 = h.Sum(nil)
	return s, nil
}

// insertChunk writes one chunk of a staged data in a transaction of its
// own that does not wait for the disk: the commit that makes the data a
// blob's waits for it, and PostgreSQL makes every earlier commit durable
// with it (its log is written in order). A crash before leaves chunks of
// a data still released, which the sweep removes.
func insertChunk(ctx context.Context, db *sql.DB, data int64, seq int, b []byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("receive an upload: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
		return fmt.Errorf("receive an upload: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_chunks (data, seq, bytes) VALUES ($1, $2, $3)`, data, seq, b); err != nil {
		return fmt.Errorf("receive an upload: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("receive an upload: %w", err)
	}
	return nil
}

// discard removes a staged data now rather than at the sweep. It runs
// when a request failed, maybe for its context: it has one of its own.
func (b *Postgres) discard(s staged) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := b.st.DB()
	if _, err := db.ExecContext(ctx, `DELETE FROM blob_chunks WHERE data = $1`, s.data); err == nil {
		db.ExecContext(ctx, `DELETE FROM blob_data WHERE id = $1 AND released IS NOT NULL`, s.data)
	} // else the sweep removes it
}

// claim makes a staged data referenced (no longer released), in tx.
func claim(ctx context.Context, tx *sql.Tx, s staged) error {
	res, err := tx.ExecContext(ctx, `UPDATE blob_data SET released = NULL WHERE id = $1 AND released IS NOT NULL`, s.data)
	if err != nil {
		return fmt.Errorf("commit an upload: %w", err)
	}
	return affected(res, fmt.Errorf("commit an upload: its data was removed (received more than %v ago)", retention))
}

// affected returns none when a statement changed no row.
func affected(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return fmt.Errorf("rows changed: %w", err)
	case n == 0:
		return none
	}
	return nil
}

// part is one data of a blob's content.
type part struct {
	data, size int64
}

// pgBlob is a blob's row.
type pgBlob struct {
	Props
	parts []part
}

const blobColumns = `name, size, etag, created, modified, content_type, content_md5, metadata, parts`

func scanBlob(row interface{ Scan(...any) error }) (pgBlob, error) {
	var bl pgBlob
	var created, modified int64
	var metadata, parts string
	if err := row.Scan(&bl.Name, &bl.Size, &bl.ETag, &created, &modified, &bl.ContentType, &bl.ContentMD5, &metadata, &parts); err != nil {
		return bl, err
	}
	bl.Created, bl.Modified = time.Unix(0, created).UTC(), time.Unix(0, modified).UTC()
	var pairs [][2]int64
	if err := errors.Join(json.Unmarshal([]byte(metadata), &bl.Metadata), json.Unmarshal([]byte(parts), &pairs)); err != nil {
		return bl, fmt.Errorf("stored blob %s: %w", bl.Name, err)
	}
	for _, p := range pairs {
		bl.parts = append(bl.parts, part{data: p[0], size: p[1]})
	}
	return bl, nil
}

// readBlob reads a blob's row; errBlobNotFound or errContainerNotFound
// when there is none.
func readBlob(ctx context.Context, q querier, account, container, name string) (pgBlob, error) {
	bl, err := scanBlob(q.QueryRowContext(ctx, `SELECT `+blobColumns+` FROM blobs WHERE account = $1 AND container = $2 AND name = $3`,
		accountKey(account), container, name))
	if errors.Is(err, sql.ErrNoRows) {
		if _, cerr := readPGContainer(ctx, q, account, container); cerr != nil {
			return bl, cerr
		}
		return bl, errBlobNotFound
	}
	if err != nil {
		return bl, fmt.Errorf("read blob %s: %w", name, err)
	}
	return bl, nil
}

// put replaces the blob props.Name with parts, in tx, after check and
// with the data of the blob it replaces released.
func put(ctx context.Context, tx *sql.Tx, account, container string, props Props, parts []part, now time.Time, check func(*Props) error) (Props, error) {
	if _, err := readPGContainer(ctx, tx, account, container); err != nil {
		return Props{}, err
	}
	cur, err := readBlob(ctx, tx, account, container, props.Name)
	var curProps *Props
	switch {
	case err == nil:
		curProps = &cur.Props
	case !errors.Is(err, errBlobNotFound):
		return Props{}, err
	}
	if check != nil {
		if err := check(curProps); err != nil {
			return Props{}, err
		}
	}
	props.Size, props.ETag, props.Modified, props.Created = 0, newETag(), now, now
	if curProps != nil {
		props.Created = curProps.Created
		if err := releaseParts(ctx, tx, cur.parts, now); err != nil {
			return Props{}, err
		}
	}
	pairs := make([][2]int64, len(parts))
	for i, p := range parts {
		pairs[i] = [2]int64{p.data, p.size}
		props.Size += p.size
	}
	metadata, err := json.Marshal(props.Metadata)
	if err != nil {
		return Props{}, fmt.Errorf("encode the metadata of %s: %w", props.Name, err)
	}
	encoded, err := json.Marshal(pairs)
	if err != nil {
		return Props{}, fmt.Errorf("encode the parts of %s: %w", props.Name, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO blobs (account, container, `+blobColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (account, container, name) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, created = EXCLUDED.created,
		modified = EXCLUDED.modified, content_type = EXCLUDED.content_type, content_md5 = EXCLUDED.content_md5,
		metadata = EXCLUDED.metadata, parts = EXCLUDED.parts`,
		accountKey(account), container, props.Name, props.Size, props.ETag, props.Created.UnixNano(), now.UnixNano(),
		props.ContentType, props.ContentMD5, string(metadata), string(encoded))
	if err != nil {
		return Props{}, fmt.Errorf("store blob %s: %w", props.Name, err)
	}
	return props, nil
}

// releaseParts marks the data of parts released at now.
func releaseParts(ctx context.Context, tx *sql.Tx, parts []part, now time.Time) error {
	ids := make([]int64, len(parts))
	for i, p := range parts {
		ids[i] = p.data
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("release blob data: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE blob_data SET released = $2 WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb))`,
		string(list), now.UnixNano()); err != nil {
		return fmt.Errorf("release blob data: %w", err)
	}
	return nil
}

func (b *Postgres) commit(ctx context.Context, account, container string, s staged, props Props, now time.Time, check func(*Props) error) (Props, error) {
	var out Props
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		if err := claim(ctx, tx, s); err != nil {
			return err
		}
		var err error
		out, err = put(ctx, tx, account, container, props, []part{{data: s.data, size: s.size}}, now, check)
		return err
	})
	if err != nil {
		b.discard(s)
		return Props{}, err
	}
	b.sweep(ctx)
	return out, nil
}

func (b *Postgres) putBlock(ctx context.Context, account, container, name string, id []byte, s staged) error {
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		if _, err := readPGContainer(ctx, tx, account, container); err != nil {
			return err
		}
		if err := claim(ctx, tx, s); err != nil {
			return err
		}
		// A block uploaded again under its id replaces the earlier one.
		if _, err := tx.ExecContext(ctx, `UPDATE blob_data SET released = $5 WHERE id IN (
			SELECT data FROM blob_blocks WHERE account = $1 AND container = $2 AND name = $3 AND block = $4)`,
			accountKey(account), container, name, id, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("keep a block of %s: %w", name, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO blob_blocks (account, container, name, block, data) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (account, container, name, block) DO UPDATE SET data = EXCLUDED.data`, accountKey(account), container, name, id, s.data)
		if err != nil {
			return fmt.Errorf("keep a block of %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		b.discard(s)
	}
	return err
}

func (b *Postgres) commitBlocks(ctx context.Context, account, container string, ids [][]byte, props Props, now time.Time, check func(*Props) error) (Props, error) {
	var out Props
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		blocks, err := b.blocks(ctx, tx, account, container, props.Name)
		if err != nil {
			return err
		}
		parts := make([]part, len(ids))
		used := map[int64]bool{}
		for i, id := range ids {
			p, ok := blocks[string(id)]
			if !ok {
				return errBlockNotUploaded(id)
			}
			parts[i], used[p.data] = p, true
		}
		if out, err = put(ctx, tx, account, container, props, parts, now, check); err != nil {
			return err
		}
		// Azure discards a blob's uncommitted blocks when a list commits.
		var unused []part
		for _, p := range blocks {
			if !used[p.data] {
				unused = append(unused, p)
			}
		}
		if err := releaseParts(ctx, tx, unused, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_blocks WHERE account = $1 AND container = $2 AND name = $3`,
			accountKey(account), container, props.Name); err != nil {
			return fmt.Errorf("commit the blocks of %s: %w", props.Name, err)
		}
		return nil
	})
	if err != nil {
		return Props{}, err
	}
	b.sweep(ctx)
	return out, nil
}

// blocks are the uncommitted blocks of a blob, by id.
func (b *Postgres) blocks(ctx context.Context, tx *sql.Tx, account, container, name string) (map[string]part, error) {
	if _, err := readPGContainer(ctx, tx, account, container); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT k.block, d.id, d.size FROM blob_blocks k JOIN blob_data d ON d.id = k.data
		WHERE k.account = $1 AND k.container = $2 AND k.name = $3`, accountKey(account), container, name)
	if err != nil {
		return nil, fmt.Errorf("read the blocks of %s: %w", name, err)
	}
	defer rows.Close()
	out := map[string]part{}
	for rows.Next() {
		var id []byte
		var p part
		if err := rows.Scan(&id, &p.data, &p.size); err != nil {
			return nil, fmt.Errorf("read the blocks of %s: %w", name, err)
		}
		out[string(id)] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the blocks of %s: %w", name, err)
	}
	return out, nil
}

func (b *Postgres) stat(ctx context.Context, account, container, name string) (Props, error) {
	bl, err := readBlob(ctx, b.st.DB(), account, container, name)
	return bl.Props, err
}

func (b *Postgres) open(ctx context.Context, account, container, name string) (Props, content, error) {
	bl, err := readBlob(ctx, b.st.DB(), account, container, name)
	if err != nil {
		return Props{}, nil, err
	}
	return bl.Props, pgContent{ctx: ctx, db: b.st.DB(), name: name, parts: bl.parts}, nil
}

// pgContent reads a blob's data, which stays at least retention after
// the blob is replaced or deleted.
type pgContent struct {
	ctx   context.Context
	db    *sql.DB
	name  string
	parts []part
}

func (c pgContent) Close() error { return nil }

func (c pgContent) section(off, n int64) io.Reader {
	return &pgReader{c: c, off: off, left: n}
}

// pgReader reads a section of a blob, one chunk at a time.
type pgReader struct {
	c         pgContent
	i         int   // the part at off
	off, left int64 // within the blob, from the part's start
	buf       []byte
}

func (r *pgReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	for len(r.buf) == 0 {
		if r.i == len(r.c.parts) {
			return 0, fmt.Errorf("blob %s: its data ends before its size", r.c.name)
		}
		pt := r.c.parts[r.i]
		if r.off >= pt.size {
			r.off -= pt.size
			r.i++
			continue
		}
		var chunk int64
		var bytes []byte
		err := r.c.db.QueryRowContext(r.c.ctx, `SELECT d.chunk, c.bytes FROM blob_data d JOIN blob_chunks c ON c.data = d.id
			WHERE d.id = $1 AND c.seq = (($2::bigint) / d.chunk)`, pt.data, r.off).Scan(&chunk, &bytes)
		if err != nil {
			return 0, fmt.Errorf("read blob %s: %w", r.c.name, err)
		}
		skip := r.off % chunk
		if skip >= int64(len(bytes)) {
			return 0, fmt.Errorf("read blob %s: a chunk is shorter than its data says", r.c.name)
		}
		r.buf = bytes[skip:]
	}
	n := copy(p[:min(int64(len(p)), r.left)], r.buf)
	r.buf, r.off, r.left = r.buf[n:], r.off+int64(n), r.left-int64(n)
	return n, nil
}

func (b *Postgres) deleteBlob(ctx context.Context, account, container, name string, check func(*Props) error) error {
	err := b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		cur, err := readBlob(ctx, tx, account, container, name)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(&cur.Props); err != nil {
				return err
			}
		}
		return removeWhere(ctx, tx, `account = $1 AND container = $2 AND name = $3`, accountKey(account), container, name)
	})
	b.sweep(ctx)
	return err
}

func (b *Postgres) list(ctx context.Context, account, container string) ([]Props, error) {
	db := b.st.DB()
	if _, err := readPGContainer(ctx, db, account, container); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT `+blobColumns+` FROM blobs WHERE account = $1 AND container = $2 ORDER BY name`, accountKey(account), container)
	if err != nil {
		return nil, fmt.Errorf("list container %s: %w", container, err)
	}
	defer rows.Close()
	var out []Props
	for rows.Next() {
		bl, err := scanBlob(rows)
		if err != nil {
			return nil, fmt.Errorf("list container %s: %w", container, err)
		}
		out = append(out, bl.Props)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list container %s: %w", container, err)
	}
	return out, nil
}

// sweep removes the data released longer than retention ago — replaced
// and deleted blobs, discarded blocks, uploads never committed — at most
// once a minute per process, after a write. A failure is left to the
// next sweep: the data is not visible meanwhile.
func (b *Postgres) sweep(ctx context.Context) {
	now := time.Now()
	last := b.lastSweep.Load()
	if now.UnixNano()-last < int64(time.Minute) || !b.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	b.st.UpdateSQL(ctx, func(tx *sql.Tx) error {
		before := now.Add(-retention).UnixNano()
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_chunks WHERE data IN (SELECT id FROM blob_data WHERE released < $1)`, before); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM blob_data WHERE released < $1`, before)
		return err
	})
}
