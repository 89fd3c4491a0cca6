package api

import (
	"context"
	"strings"
	"sync"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/store"
)

// Compiled networks are cached per subscription: Network Watcher and
// provisioning ask the verifier far more often than the network changes.
// Every write goes through the server's store (invalidatingStore), which
// drops a subscription's network when a transaction puts or deletes a
// record of a kind the model holds. The cache lives in this process: a
// store shared by several server processes would need a change counter
// of its own.

// maxCachedNetworks bounds the networks kept: a compiled network of a
// large subscription holds tens of megabytes.
const maxCachedNetworks = 32

// networkCache holds the compiled network of each subscription.
type networkCache struct {
	mu      sync.Mutex
	entries map[string]*cachedNetwork // by subscription, arm.FoldKey
}

// cachedNetwork is one subscription's network, or its compilation in
// progress (done open): concurrent requests wait for one compilation
// instead of each running their own.
type cachedNetwork struct {
	done chan struct{}
	n    *netverify.Network
	err  error
}

func newNetworkCache() *networkCache {
	return &networkCache{entries: map[string]*cachedNetwork{}}
}

// get returns the subscription's network, compiling it when it is not
// cached. A compilation that fails is not kept; one that a write
// invalidates while it runs is returned to the requests that waited for it
// (they began before the write ended) but not kept for later ones.
func (c *networkCache) get(ctx context.Context, sub string, compile func(context.Context) (*netverify.Network, error)) (*netverify.Network, error) {
	key := arm.FoldKey(sub)
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		if len(c.entries) >= maxCachedNetworks {
			for k := range c.entries { // any one: a miss costs one compilation
				delete(c.entries, k)
				break
			}
		}
		e = &cachedNetwork{done: make(chan struct{})}
		c.entries[key] = e
	}
	c.mu.Unlock()
	if !ok {
		// Others wait for this compilation: it must not stop when this
		// request goes away.
		e.n, e.err = compile(context.WithoutCancel(ctx))
		close(e.done)
		if e.err != nil {
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
		return e.n, e.err
	}
	select {
	case <-e.done:
		return e.n, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// invalidate drops the subscription's network.
func (c *networkCache) invalidate(sub string) {
	c.mu.Lock()
	delete(c.entries, arm.FoldKey(sub))
	c.mu.Unlock()
}

// network is the verifier's compiled model of a subscription, from the
// cache.
// CompiledNetwork is a subscription's network as the verifier compiled
// it from the store (cached until a write): what a fabric realises.
func (s *Server) CompiledNetwork(ctx context.Context, sub string) (*netverify.Network, error) {
	return s.network(ctx, sub)
}

func (s *Server) network(ctx context.Context, sub string) (*netverify.Network, error) {
	return s.networks.get(ctx, sub, func(ctx context.Context) (*netverify.Network, error) {
		return s.compileSubscription(ctx, sub)
	})
}

// invalidatingStore is the store every part of the server writes through:
// when a write transaction ends, committed or not, it drops the cached
// network of each subscription in which it put or deleted a record of a
// kind the model holds.
type invalidatingStore struct {
	store.Store
	networks *networkCache
}

func (s invalidatingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	written := map[string]bool{}
	defer func() {
		for sub := range written {
			s.networks.invalidate(sub)
		}
	}()
	return s.Store.Update(ctx, func(tx store.Tx) error {
		return fn(recordingTx{Tx: tx, written: written})
	})
}

// recordingTx notes the subscriptions whose network a transaction changes.
type recordingTx struct {
	store.Tx
	written map[string]bool
}

func (t recordingTx) Put(ctx context.Context, rec store.Record, cond store.Condition) (store.Record, error) {
	if kindOf(rec.Type) != nil {
		t.note(rec.ID)
	}
	return t.Tx.Put(ctx, rec, cond)
}

func (t recordingTx) Delete(ctx context.Context, id string, cond store.Condition) error {
	if parsed, err := arm.ParseID(id, ""); err != nil || kindOf(parsed.Type()) != nil {
		t.note(id)
	}
	return t.Tx.Delete(ctx, id, cond)
}

// DeleteUnder removes a resource group's or a resource's contents: the
// network changes.
func (t recordingTx) DeleteUnder(ctx context.Context, scope string) (int, error) {
	t.note(scope)
	return t.Tx.DeleteUnder(ctx, scope)
}

// note records the subscription of an id or scope
// ("/subscriptions/{sub}/...").
func (t recordingTx) note(id string) {
	rest, ok := strings.CutPrefix(arm.FoldKey(id), "/subscriptions/")
	if !ok {
		return // tenant-level records (principals, role definitions) hold no network
	}
	sub, _, _ := strings.Cut(rest, "/")
	t.written[sub] = true
}
