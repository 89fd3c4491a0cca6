package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options tune OpenSQLiteWith.
type Options struct {
	// Marker names a file of the data directory whose presence shows that
	// the directory has held a store (the API's admin token). Beside it a
	// missing or empty database is refused, never initialised: a new one
	// would silently drop every resource and, with them, the administrator.
	Marker string
	// CheckBudget bounds the integrity check at open; 0 means no limit. A
	// database whose check does not finish in time is refused, never
	// served unchecked.
	CheckBudget time.Duration
}

// DefaultCheckBudget is the integrity check's time limit at open. The
// check reads every page: on the standard machine a 454 MiB store took
// 1.4 s from the page cache and 19 s from a cold one, so a minute covers,
// cold, about three times that (docs/store.md).
const DefaultCheckBudget = time.Minute

// restoreHint tells how to recover from a database that cannot be used.
const restoreHint = `to recover, stop securetrain, move securetrain.db and any securetrain.db-wal and securetrain.db-shm out of the data directory, copy the last backup in as securetrain.db (mode 0600) and start again (docs/store.md, "Restore")`

// prepare checks the data directory and its database before the store
// uses them, creating both when new, and returns the database's path.
func prepare(dir string, o Options) (string, error) {
	path := filepath.Join(dir, DBFile)
	found, err := privateFiles(dir, path)
	if err != nil {
		return "", err
	}
	held, marker := false, ""
	if o.Marker != "" {
		marker = filepath.Join(dir, o.Marker)
		if _, err := os.Lstat(marker); err == nil {
			held = true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("store: %w", err)
		}
	}
	if !found {
		if held {
			return "", lostStore(path, "does not exist", marker)
		}
		if err := create(dir, path); err != nil {
			return "", err
		}
	}
	if err := canWrite(dir, path); err != nil {
		return "", err
	}
	db, err := checkHandle(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx := context.Background()
	empty, err := verify(ctx, db, path, o.CheckBudget)
	if err != nil {
		return "", err
	}
	if empty && held {
		return "", lostStore(path, "holds no tables", marker)
	}
	return path, writable(ctx, db, path)
}

// PrivateDir makes the data directory (0700) when it does not exist, and
// refuses one that group or others may use: beside a PostgreSQL store it
// still holds the TLS key and admin.token.
func PrivateDir(dir string) error {
	if _, err := privateFiles(dir, filepath.Join(dir, DBFile)); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: data directory: %w", err)
	}
	return nil
}

// privateFiles reports whether the database exists, after refusing a data
// directory or database files that group or others may use: they hold
// every resource, role assignment and token hash. SQLite gives the -wal
// and -shm files the database's own mode.
func privateFiles(dir, path string) (bool, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: data directory: %w", err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("store: data directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return false, fmt.Errorf("store: data directory %s has mode %04o: group and others must have no access to it; run: chmod 700 %s", dir, perm, dir)
	}
	found := false
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("store: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("store: %s is not a regular file (a link or a device is not used as a database)", p)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return false, fmt.Errorf("store: %s has mode %04o: group and others must have no access to it; run: chmod 600 %s", p, perm, p)
		}
		found = found || p == path
	}
	return found, nil
}

// create makes a new data directory (0700) and an empty database file
// (0600). Left to SQLite, the file would be 0644 less the umask, and its
// -wal and -shm files with it.
func create(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: create the database: %w", err)
	}
	return f.Close()
}

func lostStore(path, state, marker string) error {
	return fmt.Errorf("store: %s %s, but %s is there: this data directory has held a store, and a new, empty one would drop every resource and the administrator; "+
		"restore the last backup as %s (docs/store.md, \"Restore\"), or start afresh in a new data directory", path, state, marker, path)
}

// checkHandle opens the database on one connection, without the store's
// pragmas: setting WAL mode would write to a file that may yet be refused.
func checkHandle(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// verify reports whether the database holds no tables yet (a new one);
// otherwise it must carry securetrain's schema and pass the integrity
// check within budget (0: no limit).
func verify(ctx context.Context, db *sql.DB, path string, budget time.Duration) (empty bool, err error) {
	tables := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table'`)
	if err == nil {
		for rows.Next() {
			var name string
			if err = rows.Scan(&name); err != nil {
				break
			}
			tables[name] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		return false, fmt.Errorf("store: %s is damaged or not a database (%v): securetrain will not use it; %s", path, err, restoreHint)
	}
	if len(tables) == 0 {
		return true, nil
	}
	if !tables["schema_migrations"] {
		return false, fmt.Errorf("store: %s is not a securetrain database (it has tables but no schema_migrations): securetrain will not use it; check --data, or %s", path, restoreHint)
	}
	return false, integrity(ctx, db, path, budget, tables["resources"])
}

// integrity runs SQLite's integrity_check — every b-tree page, the free
// list, and each index against its table, which quick_check skips (about
// 1.4 times its time) — then checks that every resource body is JSON,
// as Put requires.
func integrity(ctx context.Context, db *sql.DB, path string, budget time.Duration, hasResources bool) error {
	if budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	problems, err := integrityProblems(ctx, db, hasResources)
	if err != nil && ctx.Err() == nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: %s is damaged (%s): securetrain will not use it; %s", path, strings.Join(problems, "; "), restoreHint)
	}
	if err != nil {
		size := int64(0)
		if fi, serr := os.Stat(path); serr == nil {
			size = fi.Size()
		}
		return fmt.Errorf("store: the integrity check of %s (%d MiB) did not finish within %v, and an unchecked database is not used: give it longer with --check-timeout (0: no limit)", path, size>>20, budget)
	}
	return nil
}

// integrityProblems lists the first problems the checks find.
func integrityProblems(ctx context.Context, db *sql.DB, hasResources bool) ([]string, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(5)`)
	if err != nil {
		return nil, err
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(problems) > 0 || !hasResources {
		return problems, err
	}
	var notJSON int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM resources WHERE NOT json_valid(CAST(body AS TEXT))`).Scan(&notJSON); err != nil {
		return nil, err
	}
	if notJSON > 0 {
		problems = append(problems, fmt.Sprintf("%d resource bodies are not JSON", notJSON))
	}
	return problems, nil
}

// canWrite refuses, before SQLite opens it, a database file or a data
// directory this process cannot write (mode, owner, read-only
// filesystem): SQLite would open the file read-only, failing every write
// later, or — a WAL database whose -shm it cannot create — not at all.
// The probe file is removed at once.
func canWrite(dir, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return readOnly(path, err)
	}
	f.Close()
	probe, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return readOnly(path, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// writable proves that SQLite itself can write the database (canWrite
// asked the OS; a -wal or -shm file SQLite cannot write still makes it
// fail every write) by changing the header in a transaction that is
// rolled back.
func writable(ctx context.Context, db *sql.DB, path string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return readOnly(path, err)
	}
	_, werr := conn.ExecContext(ctx, `PRAGMA user_version = 0`)
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		return fmt.Errorf("store: %s: rollback of the write check: %w", path, err)
	}
	if werr != nil {
		return readOnly(path, werr)
	}
	return nil
}

func readOnly(path string, err error) error {
	return fmt.Errorf("store: %s cannot be written (%v): securetrain writes its database, the -wal and -shm files beside it and so the data directory; "+
		"make them writable by this user (files 0600, directory 0700) on a writable filesystem", path, err)
}
