package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	rg   = "/subscriptions/s1/resourceGroups/RG1"
	vnet = rg + "/providers/Microsoft.Network/virtualNetworks/vnet1"
)

// newDir is a data directory that does not exist yet: the store creates
// it 0700 (t.TempDir's own is 0755, which the store refuses).
func newDir(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "data")
}

func open(t *testing.T, dir string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s Store, id, typ, body string, cond Condition) (Record, error) {
	t.Helper()
	var out Record
	err := s.Update(context.Background(), func(tx Tx) error {
		var err error
		out, err = tx.Put(context.Background(), Record{ID: id, Type: typ, Body: []byte(body)}, cond)
		return err
	})
	return out, err
}

func TestMigrationsReopen(t *testing.T) {
	dir := newDir(t)
	s := open(t, dir)
	if _, err := put(t, s, vnet, "Microsoft.Network/virtualNetworks", `{}`, Condition{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, dir)
	v, err := s2.SchemaVersion(context.Background())
	if err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := s2.Get(context.Background(), vnet); err != nil {
		t.Fatalf("record lost on reopen: %v", err)
	}
	// A database from a newer securetrain is refused, not damaged.
	if _, err := s2.db.Exec(`INSERT INTO schema_migrations (version, applied) VALUES (?, 0)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := OpenSQLite(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
}

// TestMigrationFromVersion2 upgrades a database that the previous schema
// (WITHOUT ROWID resources) wrote: its records and references survive.
func TestMigrationFromVersion2(t *testing.T) {
	dir := newDir(t)
	saved := migrations
	migrations = migrations[:2]
	old, err := OpenSQLite(dir)
	migrations = saved
	if err != nil {
		t.Fatal(err)
	}
	nsg := rg + "/providers/Microsoft.Network/networkSecurityGroups/nsg1"
	if err := old.Update(context.Background(), func(tx Tx) error {
		_, err := tx.Put(context.Background(), Record{ID: vnet, Type: "T", Body: []byte(`{"v":1}`), Refs: []string{nsg}}, Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s := open(t, dir)
	if v, _ := s.SchemaVersion(context.Background()); v != len(migrations) {
		t.Fatalf("schema version %d", v)
	}
	got, err := s.Get(context.Background(), vnet)
	if err != nil || string(got.Body) != `{"v":1}` || got.ID != vnet {
		t.Fatalf("record after migration: %+v %v", got, err)
	}
	if refs, err := s.Referrers(context.Background(), nsg); err != nil || len(refs) != 1 {
		t.Fatalf("references after migration: %v %v", refs, err)
	}
	// Upserts still find the unique key.
	if _, err := put(t, s, strings.ToUpper(vnet), "T", `{"v":2}`, Condition{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.List(context.Background(), Query{Scope: rg}); len(p.Records) != 1 || string(p.Records[0].Body) != `{"v":2}` {
		t.Fatalf("after upsert: %+v", p.Records)
	}
}

// TestKill9 runs a writer in a child process, kills it with SIGKILL in the
// middle of its writes, and checks the database: every write the child
// acknowledged is there, and every transaction is whole (each writes a pair
// of records).
func TestKill9(t *testing.T) {
	if os.Getenv("STORE_KILL9_DIR") != "" {
		kill9Writer(os.Getenv("STORE_KILL9_DIR"))
		return
	}
	dir := newDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "STORE_KILL9_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked, _ = strconv.Atoi(n)
			if acked >= 150 {
				break
			}
		}
	}
	// Let the child go on writing for a moment, then SIGKILL it mid-stream.
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()
	if acked < 150 {
		t.Fatalf("the writer acknowledged only %d writes", acked)
	}
	s := open(t, dir)
	ctx := context.Background()
	for i := 0; ; i++ {
		_, errA := s.Get(ctx, pairID("a", i))
		_, errB := s.Get(ctx, pairID("b", i))
		if (errA == nil) != (errB == nil) {
			t.Fatalf("transaction %d is half applied: a %v, b %v", i, errA, errB)
		}
		if errA != nil {
			if i <= acked {
				t.Fatalf("acknowledged write %d lost: %v", i, errA)
			}
			t.Logf("%d acknowledged when read, %d on disk after kill -9", acked+1, i)
			break
		}
	}
}

func pairID(side string, i int) string {
	return fmt.Sprintf("%s/providers/Microsoft.Network/publicIPAddresses/%s%06d", rg, side, i)
}

// kill9Writer writes pairs until it is killed, acknowledging each after
// its commit.
func kill9Writer(dir string) {
	s, err := OpenSQLite(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		err := s.Update(ctx, func(tx Tx) error {
			for _, side := range []string{"a", "b"} {
				body := []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 2000)))
				if _, err := tx.Put(ctx, Record{ID: pairID(side, i), Type: "Microsoft.Network/publicIPAddresses", Body: body}, Condition{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", i)
	}
}

// BenchmarkPut: one durable write transaction of a 1 KB record.
func BenchmarkPut(b *testing.B) {
	s, body := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		err := s.Update(ctx, func(tx Tx) error {
			_, err := tx.Put(ctx, Record{ID: pairID("a", i%1000), Type: "Microsoft.Network/publicIPAddresses", Body: body}, Condition{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGet: a point read of a 1 KB record.
func BenchmarkGet(b *testing.B) {
	s, body := benchStore(b)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx Tx) error {
		_, err := tx.Put(ctx, Record{ID: vnet, Type: "Microsoft.Network/virtualNetworks", Body: body}, Condition{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Get(ctx, vnet); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStore opens a store for a benchmark and gives a 1 KB body.
func benchStore(b *testing.B) (*SQLite, []byte) {
	s, err := OpenSQLite(newDir(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 1000)))
}
