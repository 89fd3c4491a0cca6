package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// errDisk stands for a store that cannot read (a disk or database error).
var errDisk = errors.New("disk I/O error")

// failingStore fails every read of one record.
type failingStore struct {
	store.Store
	fail string
}

func (s failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(failingTx{tx, s.fail}) })
}

func (s failingStore) View(ctx context.Context, fn func(store.Reader) error) error {
	return s.Store.View(ctx, func(rd store.Reader) error { return fn(failingReader{rd, s.fail}) })
}

type failingTx struct {
	store.Tx
	fail string
}

func (t failingTx) Get(ctx context.Context, id string) (store.Record, error) {
	return readFailing(ctx, id, t.fail, t.Tx.Get)
}

type failingReader struct {
	store.Reader
	fail string
}

func (r failingReader) Get(ctx context.Context, id string) (store.Record, error) {
	return readFailing(ctx, id, r.fail, r.Reader.Get)
}

// readFailing is get, failing for the record fail.
func readFailing(ctx context.Context, id, fail string, get func(context.Context, string) (store.Record, error)) (store.Record, error) {
	if strings.EqualFold(id, fail) {
		return store.Record{}, errDisk
	}
	return get(ctx, id)
}

// TestStoreFailureIsNotNotFound: issue 11 — the decoder's existence
// callbacks turned a store failure into "not found": what referenced a
// resource the store could not read was left out of the model as broken
// (or, for the written record, refused with 400 InvalidResourceReference).
// The failure is the server's: a 500, and nothing is written.
func TestStoreFailureIsNotNotFound(t *testing.T) {
	c := newClient(t)
	probeEnvironment(t, c)
	failing, _ := clientOn(t, c, failingStore{Store: c.st, fail: nsgProbe})
	before, err := c.st.Get(context.Background(), vnetProbe)
	if err != nil {
		t.Fatal(err)
	}
	// snet-pe lives in the VNet's record, whose snet-compute references
	// nsg-aml: writing it checks that nsg-aml exists.
	subnet := vnetProbe + "/subnets/snet-pe"
	body := fixture(t, "subnet")
	if st, out, _ := failing.do("PUT", subnet+netVersion, body, "Content-Type", "application/json"); st != http.StatusInternalServerError || errCode(out) == "InvalidResourceReference" {
		t.Fatalf("PUT with the NSG unreadable: %d %v; want 500", st, out)
	}
	if after, err := c.st.Get(context.Background(), vnetProbe); err != nil || after.ETag != before.ETag {
		t.Fatalf("the failed write changed the VNet: %v", err)
	}
	// The same write, the store healthy, succeeds.
	if st, out, _ := c.do("PUT", subnet+netVersion, body, "Content-Type", "application/json"); st != http.StatusOK {
		t.Fatalf("PUT with the store healthy: %d %v", st, out)
	}
	// The write path reads the records it references before it decodes,
	// so the callback is reached from decodeStored (references of the
	// records around the written one, or outside the subscription): it
	// must fail rather than leave out, as broken, what it could not read.
	vnet, err := arm.ParseID(vnetProbe, "")
	if err != nil {
		t.Fatal(err)
	}
	unreadable := func(arm.ID) (bool, error) { return false, errDisk }
	if snap, err := decodeStored([]storedBody{{vnet, before.Body}}, unreadable, arm.ID{}); !errors.Is(err, errDisk) {
		t.Fatalf("decoding with the references unreadable: %v (left out: %v)", err, snap)
	}
}
