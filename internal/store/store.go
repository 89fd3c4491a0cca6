// Package store keeps the control plane's resources: one record per ARM
// resource id, with its JSON body and an etag. Every API write runs in one
// transaction (Store.Update), so a request that writes several records — a
// resource and the ones it changes, or a resource group and everything in
// it — lands whole or not at all.
//
// Store is an interface with two implementations: SQLite (one process,
// data in a directory; OpenSQLite) and PostgreSQL (a database that several
// processes can share; OpenPostgres). The API layer depends only on this
// file.
//
// # The contract
//
// Every implementation keeps the promises below, and proves it by passing
// the conformance suite in package storetest (storetest.Run) unchanged.
//
// Ids and keys. An id is an ARM id: it begins with "/" and its segments
// are separated by "/". Ids compare case-insensitively with ASCII folding
// only, and without a trailing "/" (Key): ids that differ only in ASCII
// case name one record, "É" and "é" name two. A record keeps the casing of the id it was first written
// with. Record types compare case-insensitively and are kept in lower case.
//
// Transactions. Update runs its closure in a serializable transaction: the
// committed Updates have the effect of running one at a time, in an order
// that agrees with the order in which they returned. Reads inside the
// transaction (Get, List, Referrers, also through Each) see its own writes.
// The transaction commits when the closure returns nil and is rolled back
// when it returns an error (which Update returns, wrapped or as is), when
// it panics (the panic goes on), or when ctx ends first. A committed Update
// is durable when it returns: a crash afterwards loses nothing, a crash
// before leaves no trace of it. A closure must not call Update or View on
// the same store (SQLite admits one writer at a time), and reads through
// its Tx, not the Store (PostgreSQL's store would take a second pooled
// connection while the transaction holds one, and wait until its context
// ends once every connection is so held; what it read would not be its
// transaction's either).
//
// Closures may be re-run. A store may run an Update closure more than once
// (PostgreSQL retries a transaction that fails with a serialization
// failure, and such a failure can come from any call on the Tx or from the
// commit); only the last run commits. So a closure must depend only on
// its transaction and on values that no run changes:
//   - no effects outside the transaction: waking a worker, writing a
//     file, filling a cache or sending a request happen after Update
//     returns nil;
//   - every variable the closure assigns and the caller reads afterwards
//     (a status, an output record, an operation URL) is assigned from
//     the start on every run — reset it at the top of the closure or
//     return it out — never left as a first run set it; slices are not
//     appended to across runs;
//   - a value decoded before Update (a request body) is not edited in
//     place by the closure: a second run must start from what the first
//     started from;
//   - an error from a Tx method that the closure does not handle
//     (ErrNotFound, ErrPreconditionFailed) is returned, wrapped or as is,
//     never turned into another answer: the store recognises its own
//     failure by it and retries.
//
// storetest.Retrying runs every closure twice (or three times, the middle
// run cut short at a random call) so that tests find closures that break
// these rules.
//
// Snapshots. View runs its closure once, on one consistent snapshot: the
// store as it was at one moment between the call to View and the
// closure's first read. Commits made after that moment are not seen, and a
// View never holds up writers. Get, List and Referrers on the Store read
// the latest committed state, each on its own.
//
// Listing. List returns the records strictly under Query.Scope (an empty
// scope is every record), of Query.Type when it is set, in ascending order
// of Key compared byte by byte, a page of at most Limit (MaxPage when Limit
// is 0, negative or larger). Page.Next is empty on the last page, and is
// otherwise passed as Query.After to continue. A listing continued page by
// page returns every record that exists throughout it exactly once and in
// order, never one twice, whatever is written meanwhile (records added or
// removed during it may or may not appear); each page on its own is a
// consistent read.
//
// References. Put replaces the references of a record with Record.Refs.
// Referrers(id) lists, once each and in Key order, the ids of the records
// whose references name id or an id strictly under it (a reference to a
// subnet is one to its VNet), compared as keys. A reference need not name
// a record that exists. Delete and DeleteUnder drop the references of the
// records they delete; references to them from records that remain stay
// (the caller checks Referrers before it deletes).
//
// Preconditions. Put and Delete apply a Condition to the record as the
// transaction sees it; when it fails they return ErrPreconditionFailed
// and write nothing. Delete of a record that does not exist is
// ErrNotFound, whatever the condition. A Put refused for its input (no id,
// no type, an id that does not begin with "/", a body that is not JSON)
// writes nothing either.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"securetrain/internal/arm"
)

// Record is one stored resource. Put returns it as a later Get reads it
// (Refs aside).
type Record struct {
	// ID is the resource id as first written (ARM keeps the casing of the
	// create request); lookups ignore case.
	ID string
	// Type is the full resource type, e.g. Microsoft.Network/virtualNetworks.
	Type string
	// Body is the resource as the API returns it (JSON).
	Body []byte
	// ETag changes on every write of the record. Put uses the one given
	// (so that the body can carry it, as ARM bodies do), else a new one
	// (NewETag) that no earlier write of the store has had.
	ETag string
	// Refs are the ids the record references (written by Put, kept in an
	// index for Referrers; not read back by Get or List).
	Refs []string
	// Created is when the record was first written, Updated when it was
	// last written (UTC, at least to the microsecond).
	Created, Updated time.Time
}

// Condition is a write's precondition, from If-Match / If-None-Match.
type Condition struct {
	// IfMatch: "" no condition; "*" the record must exist; else its etag
	// must equal this.
	IfMatch string
	// IfNoneMatch: "" no condition; "*" the record must not exist.
	IfNoneMatch string
}

// Query selects records for List.
type Query struct {
	// Scope is an id prefix: a subscription, a resource group or a resource
	// (to list its children). Records strictly under it are returned.
	Scope string
	// Type, when set, keeps records of this full type (case-insensitive).
	Type string
	// Limit is the page size (at most MaxPage; 0 means MaxPage).
	Limit int
	// After continues a listing: the Next of the previous page. Records
	// whose key sorts after it are listed.
	After string
}

// MaxPage is the largest page List returns.
const MaxPage = 1000

// Page is one page of a listing, in id order (case-insensitive).
type Page struct {
	Records []Record
	// Next continues the listing; empty on the last page.
	Next string
}

// Errors, wrapped with the id they concern; test with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrUnavailable: the database cannot be reached (a server stopped or
	// unreachable, a connection lost), or is too busy to commit the
	// transaction (it conflicted with others more often than the store
	// re-runs it). Nothing was committed by the call that returns it,
	// unless it was lost in a commit's reply; the store reconnects by
	// itself when the database is back.
	ErrUnavailable = errors.New("the database is unavailable")
)

// Reader reads records.
type Reader interface {
	Get(ctx context.Context, id string) (Record, error)
	List(ctx context.Context, q Query) (Page, error)
	// Referrers lists the ids of records whose Refs name id or anything
	// under it (a VNet's subnets), in id order.
	Referrers(ctx context.Context, id string) ([]string, error)
}

// Tx is one write transaction: reads see its own writes. A Tx is used only
// inside the closure it was given to, by one goroutine.
type Tx interface {
	Reader
	// Put creates or replaces a record and returns it with its new etag.
	Put(ctx context.Context, rec Record, cond Condition) (Record, error)
	// Delete removes a record (ErrNotFound if it does not exist).
	Delete(ctx context.Context, id string, cond Condition) error
	// DeleteUnder removes every record strictly under scope (a resource
	// group's resources, a VNet's subnets) — not scope itself, nor the
	// records of a scope it is a prefix of (RG1 is not under RG10) — and
	// returns how many.
	DeleteUnder(ctx context.Context, scope string) (int, error)
}

// Store is the resource store.
type Store interface {
	Reader
	// Update runs fn in one serializable transaction, committed when fn
	// returns nil and rolled back otherwise; durable when it returns. fn
	// may be run more than once (see the package documentation).
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn once, on one consistent snapshot of the store, without
	// blocking writers.
	View(ctx context.Context, fn func(Reader) error) error
	Close() error
}

// Key is the case-insensitive form of an id that records are kept under
// (ASCII folding only: see arm.FoldKey).
func Key(id string) string { return arm.FoldKey(id) }

// check applies cond to the current record (exists says whether there is
// one).
func check(id string, cur Record, exists bool, cond Condition) error {
	switch {
	case cond.IfNoneMatch == "*" && exists:
		return fmt.Errorf("%s already exists (If-None-Match: *): %w", id, ErrPreconditionFailed)
	case cond.IfNoneMatch != "" && cond.IfNoneMatch != "*" && exists && cond.IfNoneMatch == cur.ETag:
		return fmt.Errorf("%s has etag %s (If-None-Match): %w", id, cur.ETag, ErrPreconditionFailed)
	case cond.IfMatch == "":
		return nil
	case !exists:
		return fmt.Errorf("%s does not exist (If-Match: %s): %w", id, cond.IfMatch, ErrPreconditionFailed)
	case cond.IfMatch != "*" && cond.IfMatch != cur.ETag:
		return fmt.Errorf("%s has etag %s, not %s (If-Match): %w", id, cur.ETag, cond.IfMatch, ErrPreconditionFailed)
	}
	return nil
}

// Each calls fn for every record q selects, a page at a time, stopping at
// the first error.
func Each(ctx context.Context, rd Reader, q Query, fn func(Record) error) error {
	for {
		page, err := rd.List(ctx, q)
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.After = page.Next
	}
}
