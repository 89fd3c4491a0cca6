package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNotEmpty is CopyTo's refusal of a destination that holds records.
var ErrNotEmpty = errors.New("the destination store is not empty")

// CopyTo copies every record of s — id, type, body, etag, times and
// references, as they are — into dst, which must hold none, and returns
// how many records it copied. It reads one snapshot of s and writes dst
// in one transaction: a failure leaves dst empty. Writes to s after the
// snapshot are not copied (stop the server first).
func (s *SQLite) CopyTo(ctx context.Context, dst *Postgres) (int, error) {
	src, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("store: read the embedded store: %w", err)
	}
	defer src.Rollback()
	n := 0
	err = dst.Update(ctx, func(tx Tx) error {
		n = 0
		w := tx.(*sqlTx).r
		var held bool
		rows, err := w.query(ctx, `SELECT EXISTS (SELECT 1 FROM resources)`)
		if err != nil {
			return fmt.Errorf("store: read the PostgreSQL store: %w", err)
		}
		for rows.Next() {
			err = rows.Scan(&held)
		}
		if err := errors.Join(err, rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("store: read the PostgreSQL store: %w", err)
		}
		if held {
			return ErrNotEmpty
		}
		if n, err = copyRows(ctx, src, w, `SELECT key, id, type, body, etag, created, updated FROM resources ORDER BY key`,
			`INSERT INTO resources (key, id, type, body, etag, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`, 7); err != nil {
			return fmt.Errorf("store: copy resources: %w", err)
		}
		if _, err := copyRows(ctx, src, w, `SELECT to_key, from_key FROM refs ORDER BY to_key, from_key`,
			`INSERT INTO refs (to_key, from_key) VALUES (?, ?)`, 2); err != nil {
			return fmt.Errorf("store: copy references: %w", err)
		}
		return nil
	})
	return n, err
}

// copyRows inserts each row that read selects from src (of width
// columns) with insert, and returns how many.
func copyRows(ctx context.Context, src *sql.Tx, dst runner, read, insert string, width int) (int, error) {
	rows, err := src.QueryContext(ctx, read)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	values := make([]any, width)
	ptrs := make([]any, width)
	for i := range values {
		ptrs[i] = &values[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if _, err := dst.exec(ctx, insert, values...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
