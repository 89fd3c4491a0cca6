package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/store"
)

// storeUsage describes the --store flag of serve and the admin commands.
const storeUsage = "PostgreSQL `connection` string (postgres://USER@HOST/DB?sslmode=verify-full), with the PG* variables for what it leaves out, such as PGPASSWORD (docs/store.md); default: the embedded store in --data"

// openStore opens the store for serve and the admin commands: the
// PostgreSQL database at storeURL when it is set, else the embedded store
// in dataDir. The admin token marks a directory that has held a store:
// beside it a missing or empty database is refused, not initialised
// afresh (a new administrator, every resource gone).
func openStore(dataDir, storeURL string, checkBudget time.Duration) (store.Store, error) {
	if storeURL == "" {
		st, err := store.OpenSQLiteWith(dataDir, store.Options{Marker: api.AdminTokenFile, CheckBudget: checkBudget})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	// A mistake in the connection string leaves nothing behind.
	if err := checkPostgres(storeURL); err != nil {
		return nil, err
	}
	// The data directory keeps the TLS material and admin.token.
	if err := store.PrivateDir(dataDir); err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, storeURL)
	if err != nil {
		return nil, err
	}
	// A database without the administrator beside an admin.token is not
	// the one this directory served: serving it would make a new
	// administrator and overwrite the token.
	has, err := api.HasAdmin(ctx, st)
	if err == nil && !has {
		token := filepath.Join(dataDir, api.AdminTokenFile)
		if _, serr := os.Lstat(token); serr == nil {
			err = fmt.Errorf("the PostgreSQL store has no administrator, but %s is there: this data directory belongs to another store; "+
				"move an embedded store with securetrain migrate (docs/store.md), or give this store a new --data directory", token)
		} else if !errors.Is(serr, fs.ErrNotExist) {
			err = serr
		}
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

// checkPostgres refuses a connection string that cannot be parsed or that
// holds a password, before anything is created or connected to.
func checkPostgres(conn string) error {
	if err := store.CheckPostgres(conn); err != nil {
		return err
	}
	if passwordIn(conn) {
		return errors.New("the connection string holds a password, which every local user can read in the process list: give it in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass) instead (docs/store.md)")
	}
	return nil
}

// passwordIn says whether a connection string (a URL or key=value pairs)
// holds a password.
func passwordIn(conn string) bool {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return keyValuePassword.MatchString(conn)
}

var keyValuePassword = lazyregexp.New(`(^|\s)password\s*=`)

// checkTimeoutUsage describes the --check-timeout flag of serve and backup.
const checkTimeoutUsage = "time allowed for the store's integrity check; a store not checked in time is refused (0: no limit)"
