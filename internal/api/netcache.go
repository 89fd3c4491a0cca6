package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Compiled networks are cached per subscription: Network Watcher and
// provisioning ask the verifier far more often than the network changes.
// Every write goes through the server's store (invalidatingStore), which
// drops a subscription's network when a transaction puts or deletes a
// record of a kind the model holds. When several servers share the store,
// such a transaction also counts the change in the store (a counter per
// subscription, written in the same transaction), and a cached network
// is used only while its subscription's counter is what it was before
// the network was compiled: another server's write makes it stale.

// maxCachedNetworks bounds the subscriptions a cache keeps: a compiled
// network of a large subscription holds tens of megabytes.
const maxCachedNetworks = 32

// subscriptionCache holds a value derived from each subscription's
// records (its compiled network, its computes' index), dropped with the
// compiled network (invalidatingStore) and checked against the same
// change counter.
type subscriptionCache[T any] struct {
	mu      sync.Mutex
	entries map[string]*cachedValue[T] // by subscription, arm.FoldKey
}

// cachedValue is one subscription's value, or its derivation in
// progress (done open): concurrent requests wait for one derivation
// instead of each running their own.
type cachedValue[T any] struct {
	// version is the subscription's change counter read before the
	// derivation (0 when the store is this server's alone).
	version int64
	done    chan struct{}
	v       T
	err     error
}

func newSubscriptionCache[T any]() *subscriptionCache[T] {
	return &subscriptionCache[T]{entries: map[string]*cachedValue[T]{}}
}

// get returns the subscription's value, deriving it when it is not
// cached. A derivation that fails is not kept; one that a write
// invalidates while it runs is returned to the requests that waited for it
// (they began before the write ended) but not kept for later ones.
// An entry of another version than the one given is derived again.
func (c *subscriptionCache[T]) get(ctx context.Context, sub string, version int64, derive func(context.Context) (T, error)) (T, error) {
	key := arm.FoldKey(sub)
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && e.version != version {
		delete(c.entries, key)
		ok = false
	}
	if !ok {
		if len(c.entries) >= maxCachedNetworks {
			for k := range c.entries { // any one: a miss costs one derivation
				delete(c.entries, k)
				break
			}
		}
		e = &cachedValue[T]{version: version, done: make(chan struct{})}
		c.entries[key] = e
	}
	c.mu.Unlock()
	if !ok {
		// Others wait for this derivation: it must not stop when this
		// request goes away.
		e.v, e.err = derive(context.WithoutCancel(ctx))
		close(e.done)
		if e.err != nil {
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
		return e.v, e.err
	}
	select {
	case <-e.done:
		return e.v, e.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// invalidator is a subscriptionCache of any type.
type invalidator interface{ invalidate(sub string) }

// invalidate drops the subscription's value.
func (c *subscriptionCache[T]) invalidate(sub string) {
	c.mu.Lock()
	delete(c.entries, arm.FoldKey(sub))
	c.mu.Unlock()
}

// CompiledNetwork is a subscription's network as the verifier compiled
// it from the store (cached until a write): what a fabric realises.
func (s *Server) CompiledNetwork(ctx context.Context, sub string) (*netverify.Network, error) {
	return s.network(ctx, sub)
}

// network is the verifier's compiled model of a subscription, from the
// cache.
func (s *Server) network(ctx context.Context, sub string) (*netverify.Network, error) {
	version, err := s.cacheVersion(ctx, sub)
	if err != nil {
		return nil, err
	}
	return s.networks.get(ctx, sub, version, func(ctx context.Context) (*netverify.Network, error) {
		return s.compileSubscription(ctx, sub)
	})
}

// cacheVersion is the version a subscription's cached values must have:
// its change counter when other servers write the store too, else 0
// (this server's writes drop them). Read before a value is derived: a
// write committed after this read changes the counter, whether the
// derivation saw it or not.
func (s *Server) cacheVersion(ctx context.Context, sub string) (int64, error) {
	if st := s.store.(invalidatingStore); st.shared {
		return networkVersion(ctx, st.Store, sub)
	}
	return 0, nil
}

// invalidatingStore is the store every part of the server writes through:
// when a write transaction ends, committed or not, it drops the cached
// values (the compiled network, the computes' and the network lists'
// indexes) of each subscription in which it put or deleted a record of a
// kind the model holds. A committed write of the network that nodes run
// in (anything but a workspace's computes, jobs and assets, and not the
// engine's own writes: provision.OwnWrite) is counted in changes, and
// the engine re-probes the subscription's nodes.
type invalidatingStore struct {
	store.Store
	caches  []invalidator
	changes *networkChangeLog
	// shared: other servers write the store too, and the transaction
	// counts its changes in it.
	shared bool
}

func (s invalidatingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	written, nodeNet := map[string]bool{}, map[string]bool{}
	if provision.OwnWrite(ctx) {
		nodeNet = nil
	}
	defer func() {
		for sub := range written {
			for _, c := range s.caches {
				c.invalidate(sub)
			}
		}
	}()
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		clear(nodeNet) // counted after the commit: this attempt's only
		if err := fn(recordingTx{Tx: tx, written: written, nodeNet: nodeNet}); err != nil || !s.shared {
			return err
		}
		for sub := range written {
			if err := countChange(ctx, tx, networkChanges, sub); err != nil {
				return err
			}
		}
		for sub := range nodeNet {
			if err := countChange(ctx, tx, nodeNetworkChanges, sub); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && len(nodeNet) > 0 {
		s.changes.committed(nodeNet, !s.shared)
	}
	return err
}

// networkChangeLog counts the node-network changes of a server that has
// its store alone (a shared store counts them in the store), and wakes
// the engine for each.
type networkChangeLog struct {
	mu     sync.Mutex
	counts map[string]int64 // by subscription, arm.FoldKey
	wake   func()           // set once the engine exists
}

// committed notes the subscriptions a committed transaction changed
// (counting them when count is set) and wakes the engine.
func (l *networkChangeLog) committed(subs map[string]bool, count bool) {
	l.mu.Lock()
	if count {
		for sub := range subs {
			l.counts[sub]++
		}
	}
	wake := l.wake
	l.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// nodeNetworkChanges is the engine's signal (provision.Config): the
// change count of each subscription's node network.
func (s *Server) nodeNetworkChanges(ctx context.Context) (map[string]int64, error) {
	st := s.store.(invalidatingStore)
	if st.shared {
		return changeCounts(ctx, st.Store, nodeNetworkChanges, "")
	}
	st.changes.mu.Lock()
	defer st.changes.mu.Unlock()
	return maps.Clone(st.changes.counts), nil
}

// The change counters of each subscription (shared stores) are
// changeShards records per subscription and family, one chosen at random
// by each writing transaction, so that concurrent writers in a
// subscription rarely write the same record (which would make one of
// them retry); the subscription's version is their sum, which every
// commit increases. networkChanges counts every write of the model (the
// cache's version); nodeNetworkChanges those the engine re-probes nodes
// for.
const (
	networkChanges     = "/providers/securetrain/networkChanges/"
	nodeNetworkChanges = "/providers/securetrain/nodeNetworkChanges/"
	changeShards       = 16
)

// networkVersion reads a subscription's change count (0: never changed).
func networkVersion(ctx context.Context, rd store.Reader, sub string) (int64, error) {
	counts, err := changeCounts(ctx, rd, networkChanges, arm.FoldKey(sub))
	return counts[arm.FoldKey(sub)], err
}

// changeCounts sums a family's counters by subscription: of sub, or of
// every subscription when sub is "".
func changeCounts(ctx context.Context, rd store.Reader, family, sub string) (map[string]int64, error) {
	counts := map[string]int64{}
	err := store.Each(ctx, rd, store.Query{Scope: strings.TrimSuffix(family+sub, "/")}, func(rec store.Record) error {
		n, err := strconv.ParseInt(string(rec.Body), 10, 64)
		if err != nil {
			return fmt.Errorf("stored change counter %s: %w", rec.ID, err)
		}
		of, _, _ := strings.Cut(strings.TrimPrefix(arm.FoldKey(rec.ID), arm.FoldKey(family)+"/"), "/")
		counts[of] += n
		return nil
	})
	return counts, err
}

// countChange adds one to a counter of the subscription in the family in
// tx.
func countChange(ctx context.Context, tx store.Tx, family, sub string) error {
	id := family + arm.FoldKey(sub) + "/" + strconv.Itoa(rand.IntN(changeShards))
	var n int64
	rec, err := tx.Get(ctx, id)
	switch {
	case err == nil:
		if n, err = strconv.ParseInt(string(rec.Body), 10, 64); err != nil {
			return fmt.Errorf("stored change counter %s: %w", id, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	_, err = tx.Put(ctx, store.Record{ID: id, Type: "securetrain/networkChanges", Body: []byte(strconv.FormatInt(n+1, 10))}, store.Condition{})
	return err
}

// recordingTx notes the subscriptions whose network a transaction changes:
// written, every kind the model holds; nodeNet (nil: none), those whose
// change may change what nodes can reach.
type recordingTx struct {
	store.Tx
	written, nodeNet map[string]bool
}

func (t recordingTx) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if kindOf(rec.Type) != nil {
		t.note(rec.ID, rec.Type)
	}
	return t.Tx.Put(ctx, rec, cond)
}

func (t recordingTx) Delete(ctx context.Context, id string, cond store.Condition) error {
	parsed, err := arm.ParseID(id, "")
	if err != nil {
		t.note(id, "")
	} else if kindOf(parsed.Type()) != nil {
		t.note(id, parsed.Type())
	}
	return t.Tx.Delete(ctx, id, cond)
}

// DeleteUnder removes a resource group's or a resource's contents: the
// network changes.
func (t recordingTx) DeleteUnder(ctx context.Context, scope string) (int, error) {
	typ := ""
	if parsed, err := arm.ParseID(scope, ""); err == nil {
		typ = parsed.Type()
	}
	t.note(scope, typ)
	return t.Tx.DeleteUnder(ctx, scope)
}

// note records the subscription of an id or scope
// ("/subscriptions/{sub}/...") of type typ ("" when it is not one
// resource).
func (t recordingTx) note(id, typ string) {
	rest, ok := strings.CutPrefix(arm.FoldKey(id), "/subscriptions/")
	if !ok {
		return // tenant-level records (principals, role definitions) hold no network
	}
	sub, _, _ := strings.Cut(rest, "/")
	t.written[sub] = true
	if t.nodeNet != nil && !strings.HasPrefix(strings.ToLower(typ), workspaceChildren) {
		t.nodeNet[sub] = true
	}
}

// workspaceChildren prefixes the types of a workspace's computes, jobs
// and assets: their writes change no network. A compute's nodes are
// probed by its own operations.
var workspaceChildren = strings.ToLower(resources.TypeWorkspace) + "/"
