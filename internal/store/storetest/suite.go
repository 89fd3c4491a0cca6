// Package storetest proves a store.Store: Run is the conformance suite that
// every implementation passes unchanged (it holds each promise of the
// contract in package store), and Retrying is a store that re-runs
// transaction closures, as a store that retries serialization failures
// does, so that tests find the closures that cannot be re-run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"securetrain/internal/store"
)

// Run runs the conformance suite against the stores open gives: a new,
// empty store for each test, which open closes when its test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, store.Store)
	}{
		{"PutGet", testPutGet},
		{"KeyFolding", testKeyFolding},
		{"PutRefusesBadInput", testPutRefusesBadInput},
		{"ETags", testETags},
		{"Preconditions", testPreconditions},
		{"CommitOrRollback", testCommitOrRollback},
		{"ReadsOwnWrites", testReadsOwnWrites},
		{"PanicRollsBack", testPanicRollsBack},
		{"ContextEnds", testContextEnds},
		{"ListScopes", testListScopes},
		{"ListOrder", testListOrder},
		{"ListPages", testListPages},
		{"PagingWhileWriting", testPagingWhileWriting},
		{"Referrers", testReferrers},
		{"DeleteUnder", testDeleteUnder},
		{"ViewSnapshot", testViewSnapshot},
		{"ConcurrentIfMatch", testConcurrentIfMatch},
		{"NoLostUpdates", testNoLostUpdates},
		{"NoWriteSkew", testNoWriteSkew},
		{"Leases", testLeases},
		{"LeaseRace", testLeaseRace},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
	t.Run("Races", func(t *testing.T) { testRaces(t, open) })
}

const (
	sub  = "/subscriptions/00000000-0000-0000-0000-000000000001"
	rg   = sub + "/resourceGroups/RG1"
	vnet = rg + "/providers/Microsoft.Network/virtualNetworks/vnet1"
	// typ is a record type as callers spell it; stores keep it lower-cased.
	typ = "Microsoft.Network/virtualNetworks"
)

// waitLimit bounds a wait that only a broken store makes long (a write
// blocked by a reader, a lock left held): the test fails, not hangs.
const waitLimit = time.Minute

// put writes one record in its own transaction.
func put(s store.Store, rec store.Record, cond store.Condition) (store.Record, error) {
	ctx := context.Background()
	var out store.Record
	err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.Put(ctx, rec, cond)
		return err
	})
	return out, err
}

// mustPut writes records (with body {} unless given) in one transaction.
func mustPut(t *testing.T, s store.Store, recs ...store.Record) {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, r := range recs {
			if r.Type == "" {
				r.Type = typ
			}
			if r.Body == nil {
				r.Body = []byte(`{}`)
			}
			if _, err := tx.Put(ctx, r, store.Condition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustGet(t *testing.T, rd store.Reader, id string) store.Record {
	t.Helper()
	r, err := rd.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func absent(t *testing.T, rd store.Reader, id string) {
	t.Helper()
	if r, err := rd.Get(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: want ErrNotFound, got %+v, %v", id, r, err)
	}
}

// listAll lists q page by page and returns the ids.
func listAll(t *testing.T, rd store.Reader, q store.Query) []string {
	t.Helper()
	var ids []string
	if err := store.Each(context.Background(), rd, q, func(r store.Record) error {
		ids = append(ids, r.ID)
		return nil
	}); err != nil {
		t.Fatalf("list %+v: %v", q, err)
	}
	return ids
}

func sameRecord(a, b store.Record) bool {
	return a.ID == b.ID && a.Type == b.Type && string(a.Body) == string(b.Body) && a.ETag == b.ETag &&
		a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}

func testPutGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1, err := put(s, store.Record{ID: vnet, Type: typ, Body: []byte(`{"a":1}`)}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID != vnet || r1.Type != strings.ToLower(typ) || r1.ETag == "" || r1.Created.IsZero() || !r1.Created.Equal(r1.Updated) {
		t.Fatalf("Put returned %+v", r1)
	}
	// Put returns the record as Get reads it, by any casing of the id.
	if got := mustGet(t, s, strings.ToUpper(vnet)); !sameRecord(got, r1) {
		t.Fatalf("Get %+v, Put returned %+v", got, r1)
	}
	if got := mustGet(t, s, vnet+"/"); !sameRecord(got, r1) {
		t.Fatalf("Get with a trailing /: %+v", got)
	}
	// A second write by another casing keeps the first casing and the
	// creation time.
	r2, err := put(s, store.Record{ID: strings.ToLower(vnet), Type: strings.ToUpper(typ), Body: []byte(`{"a":2}`)}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.ID != vnet || r2.ETag == r1.ETag || !r2.Created.Equal(r1.Created) || r2.Updated.Before(r1.Updated) || r2.Type != strings.ToLower(typ) {
		t.Fatalf("second write returned %+v (first %+v)", r2, r1)
	}
	if got := mustGet(t, s, vnet); !sameRecord(got, r2) || got.Created.Location() != time.UTC {
		t.Fatalf("after the second write Get %+v, Put returned %+v", got, r2)
	}
	missing := rg + "/providers/Microsoft.Network/virtualNetworks/none"
	if _, err := s.Get(ctx, missing); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing record: %v (want ErrNotFound naming the id)", err)
	}
}

func testKeyFolding(t *testing.T, s store.Store) {
	accented := rg + "/providers/Microsoft.Network/virtualNetworks/caf\u00e9"
	upper := rg + "/providers/Microsoft.Network/virtualNetworks/caf\u00c9"
	mustPut(t, s, store.Record{ID: accented, Body: []byte(`{"v":"lower"}`)}, store.Record{ID: upper, Body: []byte(`{"v":"upper"}`)})
	if got := mustGet(t, s, accented); string(got.Body) != `{"v":"lower"}` {
		t.Fatalf("é: %s", got.Body)
	}
	if got := mustGet(t, s, strings.ToUpper(rg)+"/providers/Microsoft.Network/virtualNetworks/CAF\u00c9"); string(got.Body) != `{"v":"upper"}` || got.ID != upper {
		t.Fatalf("É by an ASCII-upper-cased id: %+v", got)
	}
	if ids := listAll(t, s, store.Query{Scope: rg}); len(ids) != 2 {
		t.Fatalf("É and é are two records: %v", ids)
	}
}

func testPutRefusesBadInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		rec  store.Record
		says string
	}{
		{"no id", store.Record{Type: typ, Body: []byte(`{}`)}, "id"},
		{"no type", store.Record{ID: vnet, Body: []byte(`{}`)}, vnet},
		{"an id without a leading /", store.Record{ID: "subscriptions/x", Type: typ, Body: []byte(`{}`)}, "subscriptions/x"},
		{"a body that is not JSON", store.Record{ID: vnet, Type: typ, Body: []byte(`{"a":`)}, vnet},
		// Text columns (PostgreSQL's) hold neither.
		{"an id with a NUL byte", store.Record{ID: vnet + "\x00", Type: typ, Body: []byte(`{}`)}, "NUL"},
		{"an id that is not UTF-8", store.Record{ID: vnet + "\xff", Type: typ, Body: []byte(`{}`)}, "UTF-8"},
		{"a reference that is not UTF-8", store.Record{ID: vnet, Type: typ, Body: []byte(`{}`), Refs: []string{vnet + "\xff"}}, "UTF-8"},
	} {
		err := s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Put(ctx, tc.rec, store.Condition{})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v (want an error naming %q)", tc.name, err, tc.says)
		}
	}
	if ids := listAll(t, s, store.Query{}); len(ids) != 0 {
		t.Fatalf("refused writes stored %v", ids)
	}
	// Reading such an id finds nothing rather than failing.
	for _, id := range []string{vnet + "\x00", vnet + "\xff"} {
		absent(t, s, id)
		if ids := listAll(t, s, store.Query{Scope: id}); len(ids) != 0 {
			t.Fatalf("listing %q: %v", id, ids)
		}
		if refs, err := s.Referrers(ctx, id); err != nil || len(refs) != 0 {
			t.Fatalf("referrers of %q: %v, %v", id, refs, err)
		}
	}
}

func testETags(t *testing.T, s store.Store) {
	seen := map[string]bool{}
	for i := range 10 {
		r, err := put(s, store.Record{ID: vnet, Type: typ, Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}, store.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		if r.ETag == "" || seen[r.ETag] {
			t.Fatalf("write %d: etag %q is empty or repeats an earlier one", i, r.ETag)
		}
		seen[r.ETag] = true
	}
	given := store.NewETag()
	if r, err := put(s, store.Record{ID: vnet, Type: typ, Body: []byte(`{}`), ETag: given}, store.Condition{}); err != nil || r.ETag != given {
		t.Fatalf("a given etag: %+v, %v", r, err)
	}
	if got := mustGet(t, s, vnet); got.ETag != given {
		t.Fatalf("a given etag reads back as %q", got.ETag)
	}
}

func testPreconditions(t *testing.T, s store.Store) {
	ctx := context.Background()
	fails := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrPreconditionFailed) {
			t.Fatalf("%s: %v (want ErrPreconditionFailed)", what, err)
		}
	}
	rec := func(body string) store.Record { return store.Record{ID: vnet, Type: typ, Body: []byte(body)} }
	del := func(cond store.Condition) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, vnet, cond) })
	}
	_, err := put(s, rec(`{}`), store.Condition{IfMatch: "*"})
	fails("If-Match * on a missing record", err)
	_, err = put(s, rec(`{}`), store.Condition{IfMatch: store.NewETag()})
	fails("If-Match an etag on a missing record", err)
	if err := del(store.Condition{IfMatch: "*"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a missing record with If-Match *: %v (want ErrNotFound)", err)
	}
	absent(t, s, vnet)

	r, err := put(s, rec(`{"v":1}`), store.Condition{IfNoneMatch: "*"})
	if err != nil {
		t.Fatalf("If-None-Match * on a missing record: %v", err)
	}
	_, err = put(s, rec(`{}`), store.Condition{IfNoneMatch: "*"})
	fails("If-None-Match * on an existing record", err)
	_, err = put(s, rec(`{}`), store.Condition{IfNoneMatch: r.ETag})
	fails("If-None-Match the current etag", err)
	_, err = put(s, rec(`{}`), store.Condition{IfMatch: store.NewETag()})
	fails("a stale If-Match", err)
	fails("delete with a stale If-Match", del(store.Condition{IfMatch: store.NewETag()}))
	fails("delete with If-None-Match *", del(store.Condition{IfNoneMatch: "*"}))
	if got := mustGet(t, s, vnet); !sameRecord(got, r) {
		t.Fatalf("failed preconditions changed the record: %+v, was %+v", got, r)
	}

	r2, err := put(s, rec(`{"v":2}`), store.Condition{IfMatch: r.ETag, IfNoneMatch: store.NewETag()})
	if err != nil {
		t.Fatalf("the current If-Match and another If-None-Match: %v", err)
	}
	if _, err := put(s, rec(`{"v":3}`), store.Condition{IfMatch: "*"}); err != nil {
		t.Fatalf("If-Match * on an existing record: %v", err)
	}
	fails("delete with the etag of an earlier write", del(store.Condition{IfMatch: r2.ETag}))
	if err := del(store.Condition{IfMatch: mustGet(t, s, vnet).ETag}); err != nil {
		t.Fatalf("delete with the current etag: %v", err)
	}
	absent(t, s, vnet)
}

func testCommitOrRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	other := vnet + "/subnets/a"
	mustPut(t, s, store.Record{ID: other, Body: []byte(`{"v":1}`)})
	boom := errors.New("validation failed")
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: []byte(`{}`)}, store.Condition{}); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, store.Record{ID: other, Type: typ, Body: []byte(`{"v":2}`)}, store.Condition{}); err != nil {
			return err
		}
		return fmt.Errorf("checking: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, not the closure's error", err)
	}
	absent(t, s, vnet)
	if got := mustGet(t, s, other); string(got.Body) != `{"v":1}` {
		t.Fatalf("a rolled-back write is visible: %s", got.Body)
	}
	mustPut(t, s, store.Record{ID: vnet}, store.Record{ID: other, Body: []byte(`{"v":3}`)})
	if got := mustGet(t, s, other); string(got.Body) != `{"v":3}` {
		t.Fatalf("a committed write is not visible: %s", got.Body)
	}
	mustGet(t, s, vnet)
}

func testReadsOwnWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	nic := rg + "/providers/Microsoft.Network/networkInterfaces/nic1"
	subnet := vnet + "/subnets/a"
	mustPut(t, s, store.Record{ID: rg + "/providers/Microsoft.Network/networkSecurityGroups/old"})
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: []byte(`{"v":1}`)}, store.Condition{}); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, store.Record{ID: subnet, Type: typ + "/subnets", Body: []byte(`{}`)}, store.Condition{}); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, store.Record{ID: nic, Type: "Microsoft.Network/networkInterfaces", Body: []byte(`{}`), Refs: []string{subnet}}, store.Condition{}); err != nil {
			return err
		}
		// The closure returns what it finds (a Retrying store may cut its
		// calls short), and the test judges it after Update.
		got, err := tx.Get(ctx, vnet)
		if err := judge("Get", err, string(got.Body) == `{"v":1}`); err != nil {
			return err
		}
		p, err := tx.List(ctx, store.Query{Scope: rg})
		if err := judge("List", err, len(p.Records) == 4); err != nil {
			return err
		}
		refs, err := tx.Referrers(ctx, vnet)
		if err := judge("Referrers", err, slices.Equal(refs, []string{nic})); err != nil {
			return err
		}
		if err := tx.Delete(ctx, nic, store.Condition{}); err != nil {
			return err
		}
		switch _, err := tx.Get(ctx, nic); {
		case err == nil:
			return errors.New("Get in the transaction finds the record it deleted")
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		refs, err = tx.Referrers(ctx, vnet)
		if err := judge("Referrers after Delete", err, len(refs) == 0); err != nil {
			return err
		}
		n, err := tx.DeleteUnder(ctx, vnet)
		if err := judge("DeleteUnder", err, n == 1); err != nil {
			return err
		}
		p, err = tx.List(ctx, store.Query{Scope: vnet})
		if err := judge("List after DeleteUnder", err, len(p.Records) == 0); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids := listAll(t, s, store.Query{Scope: rg}); len(ids) != 2 {
		t.Fatalf("after the commit: %v", ids)
	}
}

// judge is a read's verdict inside a transaction: its error, or whether
// it saw what it should.
func judge(read string, err error, saw bool) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s in the transaction: %w", read, err)
	case !saw:
		return fmt.Errorf("%s in the transaction does not see the transaction's writes", read)
	}
	return nil
}

func testPanicRollsBack(t *testing.T, s store.Store) {
	ctx := context.Background()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the closure's panic did not reach the caller")
			}
		}()
		s.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: []byte(`{}`)}, store.Condition{}); err != nil {
				return err
			}
			panic("a bug in the closure")
		})
	}()
	absent(t, s, vnet)
	// The store goes on taking writes.
	wctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	err := s.Update(wctx, func(tx store.Tx) error {
		_, err := tx.Put(wctx, store.Record{ID: vnet, Type: typ, Body: []byte(`{"after":true}`)}, store.Condition{})
		return err
	})
	if err != nil {
		t.Fatalf("a write after a closure panicked: %v", err)
	}
	if got := mustGet(t, s, vnet); string(got.Body) != `{"after":true}` {
		t.Fatalf("after the panic: %s", got.Body)
	}
}

func testContextEnds(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx store.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Update with an ended context: %v, closure ran: %v", err, ran)
	}
	ctx, cancel = context.WithCancel(context.Background())
	err = s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: []byte(`{}`)}, store.Condition{}); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatal("a transaction whose context ended before the commit committed")
	}
	absent(t, s, vnet)
}

func testListScopes(t *testing.T, s store.Store) {
	ctx := context.Background()
	rg10 := sub + "/resourceGroups/RG10"
	mustPut(t, s,
		store.Record{ID: rg, Type: "Microsoft.Resources/resourceGroups"},
		store.Record{ID: vnet},
		store.Record{ID: vnet + "/subnets/a", Type: typ + "/subnets"},
		store.Record{ID: rg + "/providers/Microsoft.Network/networkSecurityGroups/nsg", Type: "Microsoft.Network/networkSecurityGroups"},
		// RG10 shares RG1's prefix: it is not under RG1.
		store.Record{ID: rg10, Type: "Microsoft.Resources/resourceGroups"},
		store.Record{ID: rg10 + "/providers/Microsoft.Network/virtualNetworks/other"},
		store.Record{ID: "/providers/securetrain/principals/alice", Type: "securetrain/principals"},
	)
	for _, tc := range []struct {
		q    store.Query
		want int
	}{
		{store.Query{Scope: rg}, 3}, // strictly under: not RG1 itself, nor RG10's
		{store.Query{Scope: strings.ToUpper(rg) + "/"}, 3},
		{store.Query{Scope: vnet}, 1},
		{store.Query{Scope: sub}, 6},
		{store.Query{}, 7}, // the empty scope is every record
		{store.Query{Scope: sub, Type: strings.ToUpper(typ)}, 2},
		{store.Query{Scope: rg, Type: "Microsoft.Network/networkSecurityGroups"}, 1},
		{store.Query{Scope: rg + "/providers/Microsoft.Network/virtualNetworks/vnet"}, 0}, // a prefix of vnet1's name
	} {
		if ids := listAll(t, s, tc.q); len(ids) != tc.want {
			t.Errorf("List %+v: %d records %v, want %d", tc.q, len(ids), ids, tc.want)
		}
	}
	p, err := s.List(ctx, store.Query{Scope: rg})
	if err != nil || len(p.Records) != 3 || p.Next != "" {
		t.Fatalf("one page: %d records, next %q, %v", len(p.Records), p.Next, err)
	}
	if r := p.Records[0]; r.Type != "microsoft.network/networksecuritygroups" || string(r.Body) != `{}` || r.ETag == "" || r.Created.IsZero() {
		t.Fatalf("a listed record: %+v", r)
	}
}

func testListOrder(t *testing.T, s store.Store) {
	// Key order, byte by byte: '-' < '.' < digits < '_' < letters, and
	// case folded. A collation that ignores punctuation orders these
	// otherwise.
	names := []string{"b", "A-b", "a.b", "a0", "A_b", "ab", "a-B-c", "Z", "a"}
	var recs []store.Record
	for _, n := range names {
		recs = append(recs, store.Record{ID: rg + "/providers/Microsoft.Network/virtualNetworks/" + n})
	}
	mustPut(t, s, recs...)
	var got []string
	for _, id := range listAll(t, s, store.Query{Scope: rg, Limit: 2}) {
		got = append(got, id[strings.LastIndexByte(id, '/')+1:])
	}
	want := []string{"a", "A-b", "a-B-c", "a.b", "a0", "A_b", "ab", "b", "Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func testListPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	var recs []store.Record
	for i := range store.MaxPage + 1 {
		recs = append(recs, store.Record{ID: fmt.Sprintf("%s/subnets/s%04d", vnet, i), Type: typ + "/subnets"})
	}
	mustPut(t, s, recs...)
	for _, limit := range []int{0, -1, store.MaxPage + 1} {
		p, err := s.List(ctx, store.Query{Scope: vnet, Limit: limit})
		if err != nil || len(p.Records) != store.MaxPage || p.Next == "" {
			t.Fatalf("limit %d: %d records, next %q, %v (want a page of MaxPage)", limit, len(p.Records), p.Next, err)
		}
		last, err := s.List(ctx, store.Query{Scope: vnet, Limit: limit, After: p.Next})
		if err != nil || len(last.Records) != 1 || last.Next != "" || last.Records[0].ID != recs[store.MaxPage].ID {
			t.Fatalf("limit %d, the second page: %+v, %v", limit, last, err)
		}
	}
	// A listing that ends on a page boundary has no empty page after it.
	p, err := s.List(ctx, store.Query{Scope: vnet, Limit: 7, After: recs[store.MaxPage-7].ID})
	if err != nil || len(p.Records) != 7 || p.Next != "" {
		t.Fatalf("the last full page: %d records, next %q, %v", len(p.Records), p.Next, err)
	}
	// A continuation whose record is gone goes on after where it was.
	first, err := s.List(ctx, store.Query{Scope: vnet, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, recs[9].ID, store.Condition{}) }); err != nil {
		t.Fatal(err)
	}
	next, err := s.List(ctx, store.Query{Scope: vnet, Limit: 10, After: first.Next})
	if err != nil || len(next.Records) != 10 || next.Records[0].ID != recs[10].ID {
		t.Fatalf("after the cursor's record was deleted: %v, first %+v", err, next.Records[:min(1, len(next.Records))])
	}
}

// testPagingWhileWriting pages through a scope while records are added
// before and after the cursor, between pages and concurrently: every
// record that exists throughout is listed once, in order.
func testPagingWhileWriting(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := func(i int) string { return fmt.Sprintf("%s/subnets/s%04d", vnet, i) }
	var recs []store.Record
	for i := 0; i < 200; i += 2 {
		recs = append(recs, store.Record{ID: id(i), Type: typ + "/subnets"})
	}
	mustPut(t, s, recs...)

	stop := make(chan struct{})
	writer := make(chan error, 1)
	go func() { // odd records, concurrently, one transaction each
		for i := 1; ; i += 2 {
			select {
			case <-stop:
				writer <- nil
				return
			default:
			}
			if i >= 200 {
				i = 1
			}
			if _, err := put(s, store.Record{ID: id(i), Type: typ + "/subnets", Body: []byte(`{}`)}, store.Condition{}); err != nil {
				writer <- err
				return
			}
		}
	}()
	var listed []string
	q := store.Query{Scope: vnet, Limit: 9}
	for pages := 0; ; pages++ {
		p, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			listed = append(listed, r.ID)
		}
		if p.Next == "" {
			break
		}
		// Between pages: one record behind the cursor, one ahead.
		mustPut(t, s, store.Record{ID: fmt.Sprintf("%s/subnets/s%04d-behind%d", vnet, 2*pages, pages)},
			store.Record{ID: fmt.Sprintf("%s/subnets/s%04d-ahead%d", vnet, 2*pages+150, pages)})
		q.After = p.Next
	}
	close(stop)
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(listed); i++ {
		if store.Key(listed[i-1]) >= store.Key(listed[i]) {
			t.Fatalf("listed out of order or twice: %s then %s", listed[i-1], listed[i])
		}
	}
	for _, r := range recs {
		if !slices.Contains(listed, r.ID) {
			t.Fatalf("%s existed throughout and was not listed", r.ID)
		}
	}
}

func testReferrers(t *testing.T, s store.Store) {
	ctx := context.Background()
	nsg := rg + "/providers/Microsoft.Network/networkSecurityGroups/nsg1"
	nic := rg + "/providers/Microsoft.Network/networkInterfaces/nic1"
	nic2 := rg + "/providers/Microsoft.Network/networkInterfaces/nic2"
	vnet10 := vnet + "0"
	referrers := func(id string) string {
		t.Helper()
		got, err := s.Referrers(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ",")
	}
	// References are compared as keys, need not resolve, and name the
	// record that holds them once however many they are.
	mustPut(t, s, store.Record{ID: vnet, Refs: []string{strings.ToUpper(nsg)}},
		store.Record{ID: nic2, Refs: []string{vnet + "/subnets/a", vnet + "/subnets/b", nsg}},
		store.Record{ID: nic, Refs: []string{vnet + "/subnets/a"}},
		store.Record{ID: vnet10 + "/subnets/x", Refs: []string{vnet10}})
	if got := referrers(nsg); got != nic2+","+vnet {
		t.Fatalf("referrers of the NSG: %q (want in key order)", got)
	}
	// A reference to a subnet is one to its VNet; vnet10 is not under vnet1.
	if got := referrers(strings.ToUpper(vnet)); got != nic+","+nic2 {
		t.Fatalf("referrers of the VNet: %q", got)
	}
	if got := referrers(vnet + "/subnets/b"); got != nic2 {
		t.Fatalf("referrers of subnet b: %q", got)
	}
	if got := referrers(vnet + "/subnets/other"); got != "" {
		t.Fatalf("referrers of another subnet: %q", got)
	}
	// Put replaces the references; Delete drops the deleted record's.
	mustPut(t, s, store.Record{ID: vnet})
	if got := referrers(nsg); got != nic2 {
		t.Fatalf("after the VNet's rewrite: %q", got)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, nic2, store.Condition{}) }); err != nil {
		t.Fatal(err)
	}
	if got := referrers(nsg); got != "" {
		t.Fatalf("after the NIC's delete: %q", got)
	}
	if got := referrers(vnet); got != nic {
		t.Fatalf("the VNet after nic2's delete: %q", got)
	}
}

func testDeleteUnder(t *testing.T, s store.Store) {
	ctx := context.Background()
	rg10 := sub + "/resourceGroups/RG10"
	outside := rg10 + "/providers/Microsoft.Network/networkInterfaces/nic"
	inside := rg + "/providers/Microsoft.Network/networkInterfaces/nic"
	mustPut(t, s, store.Record{ID: rg}, store.Record{ID: vnet}, store.Record{ID: vnet + "/subnets/a"},
		store.Record{ID: inside, Refs: []string{vnet}},
		store.Record{ID: rg10}, store.Record{ID: outside, Refs: []string{vnet + "/subnets/a"}})
	var n int
	err := s.Update(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteUnder(ctx, strings.ToLower(rg))
		return err
	})
	if err != nil || n != 3 {
		t.Fatalf("DeleteUnder RG1: %d, %v (want 3)", n, err)
	}
	mustGet(t, s, rg) // the scope itself stays
	mustGet(t, s, outside)
	if ids := listAll(t, s, store.Query{Scope: sub}); len(ids) != 3 {
		t.Fatalf("after DeleteUnder: %v", ids)
	}
	// The deleted records' references are gone; those to them from
	// outside stay.
	refs, err := s.Referrers(ctx, vnet)
	if err != nil || len(refs) != 1 || refs[0] != outside {
		t.Fatalf("referrers of the deleted VNet: %v, %v (want only %s)", refs, err, outside)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteUnder(ctx, rg)
		return err
	})
	if err != nil || n != 0 {
		t.Fatalf("DeleteUnder an empty scope: %d, %v", n, err)
	}
}

// testViewSnapshot: a View sees one moment — a writer commits during it,
// without waiting for it, and the View goes on seeing the moment before.
func testViewSnapshot(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c := vnet+"/subnets/a", vnet+"/subnets/b", vnet+"/subnets/c"
	mustPut(t, s, store.Record{ID: a, Body: []byte(`{"v":1}`)}, store.Record{ID: b, Body: []byte(`{"v":1}`)})
	runs := 0
	err := s.View(ctx, func(rd store.Reader) error {
		runs++
		if got := mustGet(t, rd, a); string(got.Body) != `{"v":1}` {
			return fmt.Errorf("first read: %s", got.Body)
		}
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, waitLimit)
			defer cancel()
			done <- s.Update(wctx, func(tx store.Tx) error {
				for _, id := range []string{a, b, c} {
					if _, err := tx.Put(wctx, store.Record{ID: id, Type: typ, Body: []byte(`{"v":2}`)}, store.Condition{}); err != nil {
						return err
					}
				}
				return nil
			})
		}()
		if err := <-done; err != nil {
			return fmt.Errorf("a write during a View: %w", err)
		}
		for _, id := range []string{a, b} {
			if got := mustGet(t, rd, id); string(got.Body) != `{"v":1}` {
				return fmt.Errorf("the View saw %s of %s, committed after its first read", got.Body, id)
			}
		}
		absent(t, rd, c)
		if ids := listAll(t, rd, store.Query{Scope: vnet}); len(ids) != 2 {
			return fmt.Errorf("the View listed %v", ids)
		}
		return nil
	})
	if err != nil || runs != 1 {
		t.Fatalf("View: %v (ran %d times)", err, runs)
	}
	if got := mustGet(t, s, b); string(got.Body) != `{"v":2}` {
		t.Fatalf("after the View: %s", got.Body)
	}
}

// concurrently runs fn(i) for i in [0, n) at once and returns their errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// testConcurrentIfMatch: writers that all read one etag race to replace
// the record with If-Match: exactly one wins.
func testConcurrentIfMatch(t *testing.T, s store.Store) {
	r, err := put(s, store.Record{ID: vnet, Type: typ, Body: []byte(`{"writer":-1}`)}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	errs := concurrently(writers, func(i int) error {
		_, err := put(s, store.Record{ID: vnet, Type: typ, Body: []byte(fmt.Sprintf(`{"writer":%d}`, i))}, store.Condition{IfMatch: r.ETag})
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both replaced etag %s", winner, i, r.ETag)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrPreconditionFailed):
			t.Fatalf("writer %d: %v (want ErrPreconditionFailed)", i, err)
		}
	}
	if got := mustGet(t, s, vnet); winner < 0 || string(got.Body) != fmt.Sprintf(`{"writer":%d}`, winner) {
		t.Fatalf("winner %d, stored %s", winner, got.Body)
	}
}

// testNoLostUpdates: concurrent read-modify-write transactions on one
// record lose none of their increments.
func testNoLostUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut(t, s, store.Record{ID: vnet, Body: []byte(`0`)})
	const writers, each = 6, 10
	errs := concurrently(writers, func(int) error {
		for range each {
			err := s.Update(ctx, func(tx store.Tx) error {
				cur, err := tx.Get(ctx, vnet)
				if err != nil {
					return err
				}
				var n int
				if _, err := fmt.Sscan(string(cur.Body), &n); err != nil {
					return err
				}
				_, err = tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: []byte(fmt.Sprint(n + 1))}, store.Condition{})
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, vnet); string(got.Body) != fmt.Sprint(writers*each) {
		t.Fatalf("counter %s after %d increments", got.Body, writers*each)
	}
}

// testNoWriteSkew: each transaction reads every record of a set and takes
// its own out of service only while two or more are in service. Under
// snapshot isolation two such transactions can both see two and leave
// none; serializable transactions always leave exactly one.
func testNoWriteSkew(t *testing.T, s store.Store) {
	ctx := context.Background()
	const members = 6
	id := func(i int) string { return fmt.Sprintf("%s/subnets/m%d", vnet, i) }
	var recs []store.Record
	for i := range members {
		recs = append(recs, store.Record{ID: id(i), Body: []byte(`{"on":true}`)})
	}
	mustPut(t, s, recs...)
	errs := concurrently(members, func(i int) error {
		return s.Update(ctx, func(tx store.Tx) error {
			on := 0
			err := store.Each(ctx, tx, store.Query{Scope: vnet}, func(r store.Record) error {
				if string(r.Body) == `{"on":true}` {
					on++
				}
				return nil
			})
			if err != nil || on < 2 {
				return err
			}
			_, err = tx.Put(ctx, store.Record{ID: id(i), Type: typ, Body: []byte(`{"on":false}`)}, store.Condition{})
			return err
		})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	on := 0
	for i := range members {
		if string(mustGet(t, s, id(i)).Body) == `{"on":true}` {
			on++
		}
	}
	if on != 1 {
		t.Fatalf("%d of %d in service, want 1", on, members)
	}
}
