package main

import (
	"context"
	"fmt"
	"io"

	"securetrain/internal/store"
)

// runBackup: `backup --data DIR FILE` writes a consistent copy of the
// store to FILE (new, mode 0600), while the server runs or not. Restore:
// docs/store.md.
func runBackup(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backup", "[--data DIR] FILE", stderr)
	dataDir := fs.String("data", defaultDataDir, "data directory of the server")
	checkBudget := fs.Duration("check-timeout", store.DefaultCheckBudget, checkTimeoutUsage)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 {
		return badUsage(fs, "expected one backup FILE, got %d arguments", len(rest))
	}
	if err := store.BackupSQLite(context.Background(), *dataDir, rest[0], *checkBudget); err != nil {
		fmt.Fprintf(stderr, "securetrain backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "backed up the store of %s to %s (mode 0600); to restore it, see docs/store.md\n", *dataDir, rest[0])
	return 0
}
