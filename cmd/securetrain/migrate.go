package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"securetrain/internal/blob"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// runMigrate: `migrate --from DIR --to CONN` copies the embedded store of
// a data directory into an empty PostgreSQL database, records as they are
// (ids, etags, times, references, principals and role assignments).
func runMigrate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("migrate", "--from DIR --to CONN", stderr)
	from := fs.String("from", "", "data directory of the embedded store to copy (stop its server first)")
	to := fs.String("to", "", "PostgreSQL `connection` string of an empty database (postgres://USER@HOST/DB?sslmode=verify-full; the password in PGPASSWORD or a password file)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 0 || *from == "" || *to == "" {
		return badUsage(fs, "expected --from DIR and --to CONN and nothing else")
	}
	if err := checkPostgres(*to); err != nil {
		return badUsage(fs, "--to: %v", err)
	}
	// Opening would make a new, empty store where there is none.
	if _, err := os.Stat(filepath.Join(*from, store.DBFile)); err != nil {
		return badUsage(fs, "--from %s holds no embedded store (%s): %v", *from, store.DBFile, err)
	}
	src, err := openStore(*from, "", store.DefaultCheckBudget)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain migrate: --from: %v\n", err)
		return 1
	}
	defer src.Close()
	embedded, ok := src.(*store.SQLite)
	if !ok {
		fmt.Fprintf(stderr, "securetrain migrate: --from %s is not an embedded store\n", *from)
		return 1
	}
	ctx := context.Background()
	dst, err := store.OpenPostgres(ctx, *to)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain migrate: --to: %v\n", err)
		return 1
	}
	defer dst.Close()
	n, err := embedded.CopyTo(ctx, dst)
	if errors.Is(err, store.ErrNotEmpty) {
		fmt.Fprintf(stderr, "securetrain migrate: --to: the PostgreSQL database already holds records: migrate into an empty database (or schema); nothing was copied\n")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "securetrain migrate: %v (nothing was copied)\n", err)
		return 1
	}
	blobs, err := copyBlobs(ctx, *from, embedded, dst)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain migrate: the records were copied, not every blob: %v (migrate again into a new, empty database)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d records and %d blobs from %s; serve them with: securetrain serve --store CONN --data %s (its admin.token and TLS material stay there)\n", n, blobs, *from, *from)
	return 0
}

// copyBlobs copies the blobs of the storage accounts in src from the data
// directory dir (none when it has no blobs/) into dst's database.
func copyBlobs(ctx context.Context, dir string, src store.Store, dst *store.Postgres) (int, error) {
	root := filepath.Join(dir, "blobs")
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	disk, err := blob.Open(root)
	if err != nil {
		return 0, err
	}
	var accounts []string
	if err := store.Each(ctx, src, store.Query{Scope: "/subscriptions", Type: resources.TypeStorageAccount}, func(rec store.Record) error {
		accounts = append(accounts, rec.ID)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("list the storage accounts: %w", err)
	}
	return blob.CopyAccounts(ctx, disk, blob.OpenPostgres(dst), accounts)
}
