package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Leases let several processes on one store agree on which of them does a
// piece of work (runs the provisioning engine, sweeps old operations): a
// lease is a record naming its holder, a token and when it expires. It is
// built on the Store contract alone — a read and a write in one
// serializable transaction — so every store has it and no store needs a
// primitive of its own.
//
// A holder renews its lease well before it expires; a lease that expires
// is taken over by the next process that asks. Expiry compares times of
// the processes' own clocks, so they must agree to well within a lease's
// length (NTP does). A holder that was paused past its expiry and lost the
// lease cannot write over its successor: every transaction of the work
// checks its token first (CheckLease), and the successor's taking of the
// lease conflicts with it.

// LeaseType is the store type of lease records.
const LeaseType = "securetrain/leases"

// leaseScope holds the leases: outside every subscription, where no API
// request reads or lists.
const leaseScope = "/providers/securetrain/leases"

// Lease errors, wrapped with the lease's name and holder.
var (
	// ErrLeaseHeld: another holder has the lease and it has not expired.
	ErrLeaseHeld = errors.New("the lease is held by another process")
	// ErrLeaseLost: the lease a holder had is now another's (it expired
	// and was taken over) or was released.
	ErrLeaseLost = errors.New("the lease was lost")
)

// Lease is one holder's claim on a named piece of work until Expires.
type Lease struct {
	Name   string `json:"name"`
	Holder string `json:"holder"`
	// Token is new at every acquisition: the same holder's later lease is
	// a different one.
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

func leaseID(name string) string { return leaseScope + "/" + name }

// readLease reads the lease name; ok is false when there is none.
func readLease(ctx context.Context, rd Reader, name string) (l Lease, ok bool, err error) {
	rec, err := rd.Get(ctx, leaseID(name))
	if errors.Is(err, ErrNotFound) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, err
	}
	if err := json.Unmarshal(rec.Body, &l); err != nil {
		return Lease{}, false, fmt.Errorf("stored lease %s: %w", name, err)
	}
	return l, true, nil
}

func writeLease(ctx context.Context, tx Tx, l Lease) error {
	body, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode lease %s: %w", l.Name, err)
	}
	_, err = tx.Put(ctx, Record{ID: leaseID(l.Name), Type: LeaseType, Body: body}, Condition{})
	return err
}

// AcquireLease gives holder the lease name until now+ttl, with a new token,
// when no one holds it or its holder's time ran out. When another holds it
// the error is ErrLeaseHeld and the lease returned is theirs (its Expires
// says when to ask again).
func AcquireLease(ctx context.Context, st Store, name, holder string, now time.Time, ttl time.Duration) (Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("store: lease %q for %q for %v: a lease needs a name, a holder and a positive length", name, holder, ttl)
	}
	var got Lease
	err := st.Update(ctx, func(tx Tx) error {
		cur, ok, err := readLease(ctx, tx, name)
		if err != nil {
			return err
		}
		if ok && cur.Holder != holder && now.Before(cur.Expires) {
			got = cur
			return fmt.Errorf("lease %s: held by %s until %s: %w", name, cur.Holder, cur.Expires.Format(time.RFC3339Nano), ErrLeaseHeld)
		}
		got = Lease{Name: name, Holder: holder, Token: NewETag(), Expires: now.Add(ttl).UTC()}
		return writeLease(ctx, tx, got)
	})
	return got, err
}

// RenewLease extends l until now+ttl while it is still l (ErrLeaseLost
// when it is not), and returns it renewed.
func RenewLease(ctx context.Context, st Store, l Lease, now time.Time, ttl time.Duration) (Lease, error) {
	renewed := l
	renewed.Expires = now.Add(ttl).UTC()
	err := st.Update(ctx, func(tx Tx) error {
		if err := CheckLease(ctx, tx, l); err != nil {
			return err
		}
		return writeLease(ctx, tx, renewed)
	})
	if err != nil {
		return l, err
	}
	return renewed, nil
}

// ReleaseLease gives l up, so that another process need not wait for it
// to expire; a lease already lost is left to its new holder.
func ReleaseLease(ctx context.Context, st Store, l Lease) error {
	err := st.Update(ctx, func(tx Tx) error {
		if err := CheckLease(ctx, tx, l); err != nil {
			return err
		}
		return tx.Delete(ctx, leaseID(l.Name), Condition{})
	})
	if errors.Is(err, ErrLeaseLost) {
		return nil
	}
	return err
}

// CheckLease fails with ErrLeaseLost unless the stored lease is still l
// (same token). Work done under a lease calls it first in each of its
// transactions: one that a successor's acquisition overtook then commits
// nothing.
func CheckLease(ctx context.Context, rd Reader, l Lease) error {
	cur, ok, err := readLease(ctx, rd, l.Name)
	if err != nil {
		return err
	}
	if !ok || cur.Token != l.Token {
		return fmt.Errorf("lease %s of %s: %w", l.Name, l.Holder, ErrLeaseLost)
	}
	return nil
}
