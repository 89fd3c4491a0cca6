package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// BackupSQLite writes a consistent copy of the store in dir to file, while
// a server may be writing to it. SQLite's VACUUM INTO copies one read
// snapshot (in WAL mode writers carry on meanwhile) into a new, compact
// database. The store is checked first as OpenSQLiteWith checks it, within
// checkBudget (0: no limit), so that a damaged store is not backed up as if
// it were whole; nothing in the store is written. file must not exist: it
// is created 0600 and synced to disk before BackupSQLite returns.
func BackupSQLite(ctx context.Context, dir, file string, checkBudget time.Duration) error {
	path := filepath.Join(dir, DBFile)
	found, err := privateFiles(dir, path)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("store: no store in %s (%s does not exist)", dir, path)
	}
	// An absolute path: SQLite would read a name starting "file:" as a URI.
	dest, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("store: backup file: %w", err)
	}
	// Created first, exclusively: an existing file is never overwritten
	// (and is found before a long check), and the copy gets 0600, not
	// SQLite's 0644; VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store: backup file %s already exists: a backup never overwrites a file; choose a new name", dest)
	}
	if err != nil {
		return fmt.Errorf("store: backup file: %w", err)
	}
	f.Close()
	if err := backupInto(ctx, path, dest, checkBudget); err != nil {
		os.Remove(dest)
		return err
	}
	return nil
}

// backupInto checks the database at path and copies it into dest.
func backupInto(ctx context.Context, path, dest string, checkBudget time.Duration) error {
	db, err := checkHandle(path)
	if err != nil {
		return err
	}
	defer db.Close()
	empty, err := verify(ctx, db, path, checkBudget)
	if err != nil {
		return err
	}
	if empty {
		return fmt.Errorf("store: %s holds no tables: nothing to back up", path)
	}
	if err := copyInto(ctx, db, dest); err != nil {
		return fmt.Errorf("store: back up %s to %s: %w", path, dest, err)
	}
	return nil
}

// copyInto runs VACUUM INTO dest and makes the copy durable: SQLite does
// not sync the file VACUUM INTO writes.
func copyInto(ctx context.Context, db *sql.DB, dest string) error {
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		return err
	}
	for _, p := range []string{dest, filepath.Dir(dest)} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
	}
	return nil
}
