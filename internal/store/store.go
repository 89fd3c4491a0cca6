// Package store keeps the control plane's resources: one record per ARM
// resource id, with its JSON body and an etag. Every API write runs in one
// transaction (Store.Update), so a request that writes several records — a
// resource and the ones it changes, or a resource group and everything in
// it — lands whole or not at all.
//
// Store is an interface so that the SQLite implementation (one process,
// data in a directory) can be joined by a PostgreSQL one for multi-replica
// deployments; the API layer depends only on this file.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"securetrain/internal/arm"
)

// Record is one stored resource.
type Record struct {
	// ID is the resource id as first written (ARM keeps the casing of the
	// create request); lookups ignore case.
	ID string
	// Type is the full resource type, e.g. Microsoft.Network/virtualNetworks.
	Type string
	// Body is the resource as the API returns it (JSON).
	Body []byte
	// ETag changes on every write of the record. Put uses the one given
	// (so that the body can carry it, as ARM bodies do), else a new one.
	ETag string
	// Refs are the ids the record references (written by Put, kept in an
	// index for Referrers; not read back by Get or List).
	Refs             []string
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
	// After continues a listing: the Next of the previous page.
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
)

// Reader reads records.
type Reader interface {
	Get(ctx context.Context, id string) (Record, error)
	List(ctx context.Context, q Query) (Page, error)
	// Referrers lists the ids of records whose Refs name id or anything
	// under it (a VNet's subnets), in id order.
	Referrers(ctx context.Context, id string) ([]string, error)
}

// Tx is one write transaction: reads see its own writes.
type Tx interface {
	Reader
	// Put creates or replaces a record and returns it with its new etag.
	Put(ctx context.Context, rec Record, cond Condition) (Record, error)
	// Delete removes a record (ErrNotFound if it does not exist).
	Delete(ctx context.Context, id string, cond Condition) error
	// DeleteUnder removes every record strictly under scope (a resource
	// group's resources, a VNet's subnets) and returns how many.
	DeleteUnder(ctx context.Context, scope string) (int, error)
}

// Store is the resource store.
type Store interface {
	Reader
	// Update runs fn in one transaction, committed when fn returns nil and
	// rolled back otherwise. A committed Update is durable when it returns.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn on one consistent snapshot of the store, without
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
