package store_test

import (
	"path/filepath"
	"testing"

	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// openSQLite opens a new SQLite store in a data directory of its own.
func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSQLiteConformance: the SQLite store keeps the Store contract.
func TestSQLiteConformance(t *testing.T) { storetest.Run(t, openSQLite) }
