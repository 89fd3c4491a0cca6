package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// The backends keep the same promises (Backend): each test here runs on
// the disk and on PostgreSQL (SECURETRAIN_TEST_POSTGRES, as the store's
// tests: scripts/with-postgres go test ./internal/blob).

const testAccount = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct1"

// testChunk is the PostgreSQL backend's chunk size in tests: small, so
// that reads cross chunk boundaries within a few bytes.
const testChunk = 7

// eachBackend runs test on a new disk backend and a new PostgreSQL one.
func eachBackend(t *testing.T, test func(*testing.T, Backend)) {
	t.Run("disk", func(t *testing.T) {
		d, err := Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		test(t, d)
		if info, err := os.Stat(d.root); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("blob storage directory: %v %v", info.Mode(), err)
		}
	})
	t.Run("postgres", func(t *testing.T) { test(t, testPostgres(t)) })
}

func testPostgres(t *testing.T) *Postgres {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), storetest.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := OpenPostgres(st)
	b.chunk = testChunk
	return b
}

// liveData counts the data blobs and blocks refer to: data files on
// disk (private), data not released in PostgreSQL.
func liveData(t *testing.T, b Backend) int {
	t.Helper()
	n := 0
	switch b := b.(type) {
	case *Disk:
		filepath.WalkDir(filepath.Join(b.root, "accounts"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data := strings.HasSuffix(p, ".data") && filepath.Base(filepath.Dir(p)) == "blobs"
			block := filepath.Base(filepath.Dir(filepath.Dir(p))) == "blocks"
			if data || block {
				if info, err := d.Info(); err != nil || info.Mode().Perm() != 0o600 {
					t.Errorf("data file %s: %v", p, err)
				}
				n++
			}
			return nil
		})
	case *Postgres:
		if err := b.st.DB().QueryRow(`SELECT count(*) FROM blob_data WHERE released IS NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func isDisk(b Backend) bool {
	_, ok := b.(*Disk)
	return ok
}

func stageString(t *testing.T, b Backend, s string) staged {
	t.Helper()
	st, err := b.stage(context.Background(), strings.NewReader(s), int64(len(s)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func readAll(t *testing.T, b Backend, name string, off, n int64) string {
	t.Helper()
	p, c, err := b.open(context.Background(), testAccount, "data", name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer c.Close()
	if n < 0 {
		n = p.Size - off
	}
	got, err := io.ReadAll(c.section(off, n))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(got)
}

// Blocks: a list commits the named blocks in its order (a block uploaded
// again under its id is the later upload); reads of any range cross the
// blocks' and chunks' boundaries; the blob's other blocks are discarded,
// and a list naming one is refused.
func TestBackendBlocks(t *testing.T) { eachBackend(t, testBackendBlocks) }

func testBackendBlocks(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := b.createContainer(ctx, testAccount, "data", now); err != nil {
		t.Fatal(err)
	}
	for _, blk := range [][2]string{{"A", "replaced"}, {"B", "second-"}, {"C", "unused"}, {"A", "first-block-"}} {
		if err := b.putBlock(ctx, testAccount, "data", "big", []byte(blk[0]), stageString(t, b, blk[1])); err != nil {
			t.Fatal(err)
		}
	}
	if n := liveData(t, b); n != 3 {
		t.Errorf("%d data referenced by three blocks", n)
	}
	p, err := b.commitBlocks(ctx, testAccount, "data", [][]byte{[]byte("B"), []byte("A"), []byte("B")}, Props{Name: "big", ContentType: "text/plain"}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = "second-first-block-second-"
	if p.Size != int64(len(want)) {
		t.Fatalf("size %d, want %d", p.Size, len(want))
	}
	for off := range int64(len(want)) {
		for n := int64(0); off+n <= int64(len(want)); n += 3 {
			if got := readAll(t, b, "big", off, n); got != want[off:off+n] {
				t.Fatalf("bytes %d+%d: %q, want %q", off, n, got, want[off:off+n])
			}
		}
	}
	if _, err := b.commitBlocks(ctx, testAccount, "data", [][]byte{[]byte("C")}, Props{Name: "big"}, now, nil); !isCode(err, "InvalidBlockList") {
		t.Errorf("a list naming a discarded block: %v", err)
	}
	if got := readAll(t, b, "big", 0, -1); got != want {
		t.Errorf("after the refused list: %q", got)
	}
	// The disk joins the blocks into one file; PostgreSQL refers to them.
	wantData := map[bool]int{true: 1, false: 2}[isDisk(b)]
	if n := liveData(t, b); n != wantData {
		t.Errorf("%d data referenced by one blob of two blocks, the others discarded; want %d", n, wantData)
	}
}

// A download in progress keeps the content it began with while the blob
// is replaced and then deleted.
func TestBackendDownloadKeepsItsVersion(t *testing.T) {
	eachBackend(t, testBackendDownloadKeepsItsVersion)
}

func testBackendDownloadKeepsItsVersion(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := b.createContainer(ctx, testAccount, "data", now); err != nil {
		t.Fatal(err)
	}
	const old = "the version a download began with"
	if _, err := b.commit(ctx, testAccount, "data", stageString(t, b, old), Props{Name: "f"}, now, nil); err != nil {
		t.Fatal(err)
	}
	_, c, err := b.open(ctx, testAccount, "data", "f")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.section(0, int64(len(old)))
	head := make([]byte, 5)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if _, err := b.commit(ctx, testAccount, "data", stageString(t, b, "new"), Props{Name: "f"}, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.deleteBlob(ctx, testAccount, "data", "f", nil); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(head)+string(rest) != old {
		t.Errorf("the download read %q%q, %v", head, rest, err)
	}
	if _, _, err := b.open(ctx, testAccount, "data", "f"); !errors.Is(err, errBlobNotFound) {
		t.Errorf("the deleted blob: %v", err)
	}
}

// Conditions see the blob a write would replace; a deleted container and
// a removed account are gone at once, with their blobs and blocks; a
// container created again starts empty.
func TestBackendDeletes(t *testing.T) { eachBackend(t, testBackendDeletes) }

func testBackendDeletes(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for _, c := range []string{"data", "other"} {
		if _, err := b.createContainer(ctx, testAccount, c, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.createContainer(ctx, testAccount, "data", now); !isCode(err, "ContainerAlreadyExists") {
		t.Errorf("the container again: %v", err)
	}
	refuse := errors.New("refused")
	if _, err := b.commit(ctx, testAccount, "data", stageString(t, b, "x"), Props{Name: "a"}, now, func(cur *Props) error {
		if cur != nil {
			t.Errorf("a new blob's condition saw %v", cur)
		}
		return refuse
	}); !errors.Is(err, refuse) {
		t.Errorf("a refused commit: %v", err)
	}
	if _, _, err := b.open(ctx, testAccount, "data", "a"); !errors.Is(err, errBlobNotFound) {
		t.Errorf("a refused commit left a blob: %v", err)
	}
	for _, c := range []string{"data", "other"} {
		if _, err := b.commit(ctx, testAccount, c, stageString(t, b, "content"), Props{Name: "a"}, now, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.putBlock(ctx, testAccount, c, "pending", []byte("1"), stageString(t, b, "block")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.deleteContainer(ctx, testAccount, "data"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.open(ctx, testAccount, "data", "a"); !errors.Is(err, errContainerNotFound) {
		t.Errorf("a blob of the deleted container: %v", err)
	}
	if err := b.deleteContainer(ctx, testAccount, "data"); !errors.Is(err, errContainerNotFound) {
		t.Errorf("the container deleted twice: %v", err)
	}
	if _, err := b.createContainer(ctx, testAccount, "data", now); err != nil {
		t.Fatal(err)
	}
	if blobs, err := b.list(ctx, testAccount, "data"); err != nil || len(blobs) != 0 {
		t.Errorf("the container created again: %v %v", blobs, err)
	}
	if _, err := b.commitBlocks(ctx, testAccount, "data", [][]byte{[]byte("1")}, Props{Name: "pending"}, now, nil); !isCode(err, "InvalidBlockList") {
		t.Errorf("a block of the deleted container was committed: %v", err)
	}
	if blobs, err := b.list(ctx, testAccount, "other"); err != nil || len(blobs) != 1 || blobs[0].Name != "a" || blobs[0].Size != 7 {
		t.Errorf("the other container: %v %v", blobs, err)
	}
	if err := b.removeAccount(ctx, testAccount); err != nil {
		t.Fatal(err)
	}
	if _, err := b.list(ctx, testAccount, "other"); !errors.Is(err, errContainerNotFound) {
		t.Errorf("a container of the removed account: %v", err)
	}
	if n := liveData(t, b); n != 0 {
		t.Errorf("%d data referenced after the account was removed", n)
	}
}

// PostgreSQL: released data (a replaced blob's, an upload never
// committed) stays until it has been released longer than retention,
// then the sweep removes it; a commit of an upload swept meanwhile is
// refused and leaves the blob as it was.
func TestPostgresSweep(t *testing.T) {
	b := testPostgres(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := b.createContainer(ctx, testAccount, "data", now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.commit(ctx, testAccount, "data", stageString(t, b, "version one"), Props{Name: "f"}, now, nil); err != nil {
		t.Fatal(err)
	}
	b.lastSweep.Store(0)
	if _, err := b.commit(ctx, testAccount, "data", stageString(t, b, "version two"), Props{Name: "f"}, now, nil); err != nil {
		t.Fatal(err)
	}
	abandoned := stageString(t, b, "never committed")
	chunks := func() (n int) {
		if err := b.st.DB().QueryRow(`SELECT count(*) FROM blob_chunks`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Two chunks of each version, three of the abandoned upload: the sweep
	// after the second commit kept what was released just now.
	if n := chunks(); n != 7 {
		t.Fatalf("%d chunks before the retention passed", n)
	}
	if _, err := b.st.DB().Exec(`UPDATE blob_data SET released = released - $1 WHERE released IS NOT NULL`, int64(retention+time.Second)); err != nil {
		t.Fatal(err)
	}
	b.lastSweep.Store(0)
	b.sweep(ctx)
	if n := chunks(); n != 2 {
		t.Errorf("%d chunks after the sweep, want the current version's 2", n)
	}
	if got := readAll(t, b, "f", 0, -1); got != "version two" {
		t.Errorf("after the sweep: %q", got)
	}
	if _, err := b.commit(ctx, testAccount, "data", abandoned, Props{Name: "f"}, now, nil); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Errorf("a swept upload was committed: %v", err)
	}
	if got := readAll(t, b, "f", 0, -1); got != "version two" {
		t.Errorf("after the refused commit: %q", got)
	}
}

// stat gives a blob's stored properties, its size among them, as the
// commit returned them; a missing blob and a missing container are
// told apart.
func TestBackendStat(t *testing.T) { eachBackend(t, testBackendStat) }

func testBackendStat(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := b.createContainer(ctx, testAccount, "data", now); err != nil {
		t.Fatal(err)
	}
	const text = "longer than one chunk of the tests"
	committed, err := b.commit(ctx, testAccount, "data", stageString(t, b, text), Props{Name: "f", ContentType: "text/plain"}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.stat(ctx, testAccount, "data", "f")
	if err != nil || got.Name != "f" || got.Size != int64(len(text)) || got.ETag != committed.ETag || got.ContentType != "text/plain" {
		t.Errorf("stat: %+v %v; want size %d, etag %s", got, err, len(text), committed.ETag)
	}
	if _, err := b.stat(ctx, testAccount, "data", "none"); !errors.Is(err, errBlobNotFound) {
		t.Errorf("stat of a missing blob: %v", err)
	}
	if _, err := b.stat(ctx, testAccount, "nocontainer", "f"); !errors.Is(err, errContainerNotFound) {
		t.Errorf("stat of a blob of a missing container: %v", err)
	}
}
