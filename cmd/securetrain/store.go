package main

import (
	"time"

	"securetrain/internal/api"
	"securetrain/internal/store"
)

// openStore opens the data directory's store for serve and the admin
// commands. The admin token marks a directory that has held a store:
// beside it a missing or empty database is refused, not initialised
// afresh (a new administrator, every resource gone).
func openStore(dataDir string, checkBudget time.Duration) (*store.SQLite, error) {
	return store.OpenSQLiteWith(dataDir, store.Options{Marker: api.AdminTokenFile, CheckBudget: checkBudget})
}

// checkTimeoutUsage describes the --check-timeout flag of serve and backup.
const checkTimeoutUsage = "time allowed for the store's integrity check; a store not checked in time is refused (0: no limit)"
