package store

// The store refuses what it cannot trust (issue 10 §5, §6): each test
// replays one way an attacker or an accident left the data directory.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/sandbox"
)

// filled is a closed store in a new data directory with n records of about
// 1 KB, each body starting with a marker that names it.
func filled(t *testing.T, n int) string {
	t.Helper()
	dir := newDir(t)
	s := open(t, dir)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx Tx) error {
		for i := range n {
			body := fmt.Sprintf(`{"marker":"record-%06d","pad":%q}`, i, strings.Repeat("x", 1000))
			if _, err := tx.Put(ctx, Record{ID: pairID("f", i), Type: "T", Body: []byte(body)}, Condition{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return dir
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeAt overwrites the file at off with data.
func writeAt(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

// wantRefused checks that err is a refusal saying each of wants.
func wantRefused(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want a refusal saying %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the refusal does not say %q:\n%v", w, err)
		}
	}
}

// TestOpenRefusesGarbageInTheMiddle: a page of garbage in the middle of
// the file was served until a listing met it (500). Now open refuses it,
// says how to recover, and writes nothing; a backup refuses it too.
func TestOpenRefusesGarbageInTheMiddle(t *testing.T) {
	dir := filled(t, 300)
	path := filepath.Join(dir, DBFile)
	size := int64(len(readFile(t, path)))
	const page = 4096
	writeAt(t, path, size/2/page*page, bytes.Repeat([]byte{0xA5}, page))
	before := readFile(t, path)

	_, err := OpenSQLite(dir)
	wantRefused(t, err, "is damaged", "copy the last backup in as securetrain.db", "docs/store.md")
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("the refused database was changed")
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	wantRefused(t, BackupSQLite(context.Background(), dir, backup, 0), "is damaged")
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup left its file: %v", err)
	}
}

// TestOpenRefusesABodyThatIsNotJSON: garbage inside one record's body
// leaves every b-tree whole, so SQLite's own check passes; the store's
// bodies are JSON (Put refuses others), and the check says which are not.
func TestOpenRefusesABodyThatIsNotJSON(t *testing.T) {
	dir := filled(t, 50)
	path := filepath.Join(dir, DBFile)
	data := readFile(t, path)
	at := bytes.Index(data, []byte(`{"marker":"record-000025"`))
	if at < 0 {
		t.Fatal("record 25 is not in the file")
	}
	writeAt(t, path, int64(at), []byte("\x00\xff"))
	_, err := OpenSQLite(dir)
	wantRefused(t, err, "is damaged", "1 resource bodies are not JSON")

	s := open(t, newDir(t))
	_, err = put(t, s, vnet, "T", `{"unterminated":`, Condition{})
	wantRefused(t, err, "the body is not JSON")
}

// TestMarkerGuardsAgainstANewStore: a zero-byte database beside the admin
// token was initialised afresh (a new administrator, the token file
// overwritten). With the marker there, a missing or empty database is
// refused and nothing is written; without it, a new store is made as before.
func TestMarkerGuardsAgainstANewStore(t *testing.T) {
	opts := Options{Marker: "admin.token"}
	prepareDir := func(t *testing.T, marker bool) string {
		t.Helper()
		dir := newDir(t)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if marker {
			if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("st_secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	entries := func(t *testing.T, dir string) string {
		t.Helper()
		des, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, de := range des {
			fi, _ := de.Info()
			out = append(out, fmt.Sprintf("%s:%d", de.Name(), fi.Size()))
		}
		return strings.Join(out, " ")
	}
	t.Run("zero bytes beside the marker", func(t *testing.T) {
		dir := prepareDir(t, true)
		if err := os.WriteFile(filepath.Join(dir, DBFile), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenSQLiteWith(dir, opts)
		wantRefused(t, err, "holds no tables", "admin.token is there", "restore the last backup")
		if got := entries(t, dir); got != "admin.token:10 securetrain.db:0" {
			t.Errorf("the refusal changed the directory: %s", got)
		}
	})
	t.Run("missing beside the marker", func(t *testing.T) {
		dir := prepareDir(t, true)
		_, err := OpenSQLiteWith(dir, opts)
		wantRefused(t, err, "does not exist", "admin.token is there")
		if got := entries(t, dir); got != "admin.token:10" {
			t.Errorf("the refusal changed the directory: %s", got)
		}
	})
	t.Run("zero bytes, no marker: a new store", func(t *testing.T) {
		dir := prepareDir(t, false)
		if err := os.WriteFile(filepath.Join(dir, DBFile), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSQLiteWith(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v, err := s.SchemaVersion(context.Background()); err != nil || v != len(migrations) {
			t.Fatalf("schema version %d, %v", v, err)
		}
	})
	t.Run("another program's database", func(t *testing.T) {
		for _, marker := range []bool{true, false} {
			dir := prepareDir(t, marker)
			if err := os.WriteFile(filepath.Join(dir, DBFile), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := checkHandle(filepath.Join(dir, DBFile))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE notes (text TEXT)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			before := readFile(t, filepath.Join(dir, DBFile))
			_, err = OpenSQLiteWith(dir, opts)
			wantRefused(t, err, "is not a securetrain database")
			if !bytes.Equal(readFile(t, filepath.Join(dir, DBFile)), before) {
				t.Error("the refused database was changed")
			}
		}
	})
}

// TestCheckBudget: a check that cannot finish within its budget refuses
// the store and says how to give it longer; without a budget it passes.
func TestCheckBudget(t *testing.T) {
	dir := filled(t, 3000)
	_, err := OpenSQLiteWith(dir, Options{CheckBudget: time.Nanosecond})
	wantRefused(t, err, "did not finish within 1ns", "MiB", "--check-timeout")
	s, err := OpenSQLiteWith(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestFileModes: the data directory is created 0700 and the database,
// -wal and -shm 0600, even under a umask of 0; a directory or a database
// file open to group or others, or a link in its place, is refused with
// the command that fixes it.
func TestFileModes(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0))
	dir := newDir(t)
	s := open(t, dir)
	if _, err := put(t, s, vnet, "T", `{}`, Condition{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, DBFile)
	modes := map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for p, want := range modes {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err) // the -wal and -shm files exist while the store is open
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
	}
	s.Close()

	for _, tc := range []struct {
		path string
		mode os.FileMode
		fix  string
	}{
		{dir, 0o755, "run: chmod 700 " + dir},
		{dir, 0o710, "run: chmod 700 " + dir},
		{path, 0o644, "run: chmod 600 " + path},
		{path, 0o660, "run: chmod 600 " + path},
	} {
		if err := os.Chmod(tc.path, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, err := OpenSQLite(dir)
		wantRefused(t, err, fmt.Sprintf("has mode %04o: group and others must have no access", tc.mode), tc.fix)
		if err := os.Chmod(tc.path, modes[tc.path]); err != nil {
			t.Fatal(err)
		}
	}
	// A -wal file left by an older securetrain with the old mode.
	if err := os.WriteFile(path+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSQLite(dir)
	wantRefused(t, err, "run: chmod 600 "+path+"-wal")
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	// A link in the database's place (to a file the attacker can read).
	if err := os.Rename(path, path+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path+".real", path); err != nil {
		t.Fatal(err)
	}
	_, err = OpenSQLite(dir)
	wantRefused(t, err, "is not a regular file")
}

// TestOpenRefusesReadOnlyDatabase: a database SQLite can only read was
// served until the first write failed (500). Whether the file, the
// directory (where -wal and -shm go) or a -shm file left read-only is
// what cannot be written, open refuses it and leaves the database as it
// was. Root writes whatever the mode says, so under root each check runs
// in a child process as an unprivileged user, as a server would.
func TestOpenRefusesReadOnlyDatabase(t *testing.T) {
	const env = "STORE_READONLY_DIR"
	if dir := os.Getenv(env); dir != "" {
		_, err := OpenSQLite(dir)
		fmt.Printf("open: %v\n", err)
		return
	}
	for _, tc := range []struct {
		name      string
		readOnly  func(dir string) error
		becauseOf string
	}{
		{"database file 0400", func(dir string) error { return os.Chmod(filepath.Join(dir, DBFile), 0o400) }, "permission denied"},
		{"data directory 0500", func(dir string) error { return os.Chmod(dir, 0o500) }, "permission denied"},
		{"-shm file 0400", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, DBFile+"-shm"), make([]byte, 32<<10), 0o400)
		}, "attempt to write a readonly database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filled(t, 10)
			path := filepath.Join(dir, DBFile)
			before := readFile(t, path)
			if err := tc.readOnly(dir); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o700) }) // for TempDir's removal
			cmd := exec.Command(os.Args[0], "-test.run=^TestOpenRefusesReadOnlyDatabase$")
			cmd.Env = append(os.Environ(), env+"="+dir)
			if os.Geteuid() == 0 {
				cmd.Path = unprivileged(t, cmd, dir)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "cannot be written") || !strings.Contains(string(out), tc.becauseOf) {
				t.Fatalf("a read-only database was not refused for %q:\n%s", tc.becauseOf, out)
			}
			if !bytes.Equal(readFile(t, path), before) {
				t.Error("the refused database was changed")
			}
		})
	}
}

// unprivileged makes cmd run as nobody (uid and gid 65534): it gets dir,
// a way to it, and a copy of the test binary it may run, whose path it
// returns.
func unprivileged(t *testing.T, cmd *exec.Cmd, dir string) string {
	t.Helper()
	const nobody = sandbox.Nobody
	cmd.SysProcAttr = sandbox.Unprivileged(nobody)
	// dir is TempDir/NNN/data, and TempDir is 0700: let nobody pass.
	if err := os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o711); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	})
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(dir), "store.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestBackupWhileWriting: a backup taken while a writer commits pairs of
// records (one transaction each) holds every pair committed before it
// began, only whole pairs, and opens as a store; it is 0600 and never
// overwrites a file.
func TestBackupWhileWriting(t *testing.T) {
	dir := filled(t, 3000) // some MB: the copy takes a while
	s := open(t, dir)
	ctx := context.Background()
	var mu sync.Mutex
	committed := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := s.Update(ctx, func(tx Tx) error {
				for _, side := range []string{"a", "b"} {
					if _, err := tx.Put(ctx, Record{ID: pairID(side, i), Type: "T", Body: []byte(`{}`)}, Condition{}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			committed = i + 1
			mu.Unlock()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return committed
	}
	for count() < 20 {
		time.Sleep(time.Millisecond)
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	before := count()
	err := BackupSQLite(ctx, dir, file, DefaultCheckBudget)
	after := count()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatal("no write committed during the backup: the test proved nothing")
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %04o, want 0600", fi.Mode().Perm())
	}

	// Restore it as docs/store.md says, and read it.
	restored := newDir(t)
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, DBFile), readFile(t, file), 0o600); err != nil {
		t.Fatal(err)
	}
	b := open(t, restored)
	pairs := 0
	for ; ; pairs++ {
		_, errA := b.Get(ctx, pairID("a", pairs))
		_, errB := b.Get(ctx, pairID("b", pairs))
		if (errA == nil) != (errB == nil) {
			t.Fatalf("pair %d is half in the backup: a %v, b %v", pairs, errA, errB)
		}
		if errors.Is(errA, ErrNotFound) {
			break
		}
		if errA != nil {
			t.Fatal(errA)
		}
	}
	if pairs < before || pairs > after {
		t.Errorf("the backup holds %d pairs; %d were committed when it began, %d when it ended", pairs, before, after)
	}
	for i := range 3000 {
		if _, err := b.Get(ctx, pairID("f", i)); err != nil {
			t.Fatalf("seeded record %d: %v", i, err)
		}
	}
	t.Logf("%d pairs committed before the backup, %d in it, %d after", before, pairs, after)

	// Never over an existing file.
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, BackupSQLite(ctx, dir, file, 0), "already exists")
	if got := readFile(t, file); string(got) != "keep me" {
		t.Errorf("the existing file was changed: %q", got)
	}
	wantRefused(t, BackupSQLite(ctx, newDir(t), file+"2", 0), "no store in")
}
