package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"securetrain/internal/netverify"
	"securetrain/internal/store"
)

// clientOn is c with its requests served by a server of its own on st
// (which the test inspects, or whose store misbehaves).
func clientOn(t testing.TB, c *client, st store.Store) (*client, *Server) {
	t.Helper()
	s := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cc := *c
	cc.base = srv.URL
	return &cc, s
}

// TestNetworkCachedUntilAWrite: issue 11 — Network Watcher compiled the
// whole subscription on every request. The compiled network is kept until
// a write changes a record of a kind the model holds, in that
// subscription, through the API or the provisioning engine.
func TestNetworkCachedUntilAWrite(t *testing.T) {
	c := newClient(t)
	watcherEnvironment(t, c)
	c, s := clientOn(t, c, c.st)
	ctx := context.Background()
	network := func() *netverify.Network {
		t.Helper()
		n, err := s.network(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := network()
	if network() != n {
		t.Fatal("a second request compiled the network again")
	}
	inbound := flowParams(nicProbe, "Inbound", "TCP", "10.0.1.10", "8080", "10.0.3.10", "*")
	if st, out := c.watch("ipFlowVerify", inbound); st != http.StatusOK || out["access"] != "Deny" || network() != n {
		t.Fatalf("ipFlowVerify: %d %v (recompiled: %v)", st, out, network() != n)
	}
	// Writes that leave the network alone keep it: a resource group's tags,
	// a resource of another subscription, a role assignment.
	other := "/subscriptions/00000000-0000-0000-0000-0000000000ff/resourceGroups/rg-other"
	for _, w := range []struct{ path, body string }{
		{rgProbe + rgAPI, `{"location":"eastus","tags":{"team":"ml"}}`},
		{other + rgAPI, `{"location":"eastus"}`},
		{other + "/providers/Microsoft.Network/networkSecurityGroups/nsg-other" + netVersion, `{"location":"eastus"}`},
	} {
		if st, out, _ := c.do("PUT", w.path, w.body, "Content-Type", "application/json"); st != http.StatusOK && st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", w.path, st, out)
		}
		if network() != n {
			t.Fatalf("PUT %s recompiled the network of %s", w.path, sub)
		}
	}
	if _, err := CreatePrincipal(ctx, s.store, "reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := AssignRole(ctx, s.store, "reader", "Reader", "/subscriptions/"+sub); err != nil {
		t.Fatal(err)
	}
	if network() != n {
		t.Fatal("a principal and its role assignment recompiled the network")
	}
	// A write to an NSG in the subscription: the next answer sees it.
	if st, out, _ := c.do("DELETE", nsgNIC+"/securityRules/DenyWebInbound"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete rule: %d %v", st, out)
	}
	if network() == n {
		t.Fatal("deleting an NSG rule kept the old network")
	}
	if st, out := c.watch("ipFlowVerify", inbound); st != http.StatusOK || out["access"] != "Allow" {
		t.Fatalf("ipFlowVerify after the rule's deletion: %d %v", st, out)
	}
	// The server's store, which the engine writes through too
	// (NewWithOptions): a compute's record rewritten.
	n = network()
	if err := s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, clusterProbe)
		if err != nil {
			return err
		}
		_, err = tx.Put(ctx, rec, store.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if network() == n {
		t.Fatal("a compute written through the server's store kept the old network")
	}
}

// TestNetworkCacheRaces: a compilation a write overtakes is not kept; one
// compilation serves the requests that wait for it; failures are not kept.
func TestNetworkCacheRaces(t *testing.T) {
	ctx := context.Background()
	c := newSubscriptionCache[*netverify.Network]()
	var compiles atomic.Int32
	net := func(context.Context) (*netverify.Network, error) {
		compiles.Add(1)
		return &netverify.Network{}, nil
	}
	// A write ends while the network is being compiled.
	n1, err := c.get(ctx, sub, 0, func(ctx context.Context) (*netverify.Network, error) {
		c.invalidate(sub)
		return net(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n2, _ := c.get(ctx, sub, 0, net); n2 == n1 || compiles.Load() != 2 {
		t.Fatalf("a network compiled before a write was kept (%d compilations)", compiles.Load())
	}
	// Concurrent requests share one compilation.
	c.invalidate(sub)
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]*netverify.Network, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		got[0], _ = c.get(ctx, sub, 0, func(ctx context.Context) (*netverify.Network, error) {
			close(started)
			<-release
			return net(ctx)
		})
	}()
	<-started
	for i := 1; i < len(got); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.get(ctx, sub, 0, net)
		}()
	}
	close(release)
	wg.Wait()
	for _, n := range got {
		if n != got[0] || n == nil {
			t.Fatalf("waiting requests got different networks: %v", got)
		}
	}
	// A waiter whose request goes away stops waiting.
	c.invalidate(sub)
	block, compiling, compiled := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(compiled)
		_, _ = c.get(ctx, sub, 0, func(ctx context.Context) (*netverify.Network, error) {
			close(compiling)
			<-block
			return net(ctx)
		})
	}()
	<-compiling
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.get(gone, sub, 0, net); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled waiter: %v", err)
	}
	close(block)
	<-compiled // its compilation is counted before the counts below are read
	// A failed compilation is not kept.
	c.invalidate(sub)
	if _, err := c.get(ctx, sub, 0, func(context.Context) (*netverify.Network, error) { return nil, errDisk }); !errors.Is(err, errDisk) {
		t.Fatalf("failed compilation: %v", err)
	}
	if n, err := c.get(ctx, sub, 0, net); err != nil || n == nil {
		t.Fatalf("after a failure: %v %v", n, err)
	}
	// Another version of the subscription (another server's write) is
	// compiled again, and then cached.
	before := compiles.Load()
	for range 2 {
		if _, err := c.get(ctx, sub, 7, net); err != nil {
			t.Fatal(err)
		}
	}
	if n := compiles.Load() - before; n != 1 {
		t.Fatalf("a new version compiled %d times; want once", n)
	}
	// The cache holds a bounded number of networks.
	for i := range 2 * maxCachedNetworks {
		if _, err := c.get(ctx, string(rune('a'+i%26))+string(rune('a'+i/26)), 0, net); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.entries) > maxCachedNetworks {
		t.Fatalf("%d networks cached", len(c.entries))
	}
}
