//go:build linux

package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"securetrain/internal/fabric/netns"
	"securetrain/internal/fabric/netns/netnstest"
	"securetrain/internal/netverify"
)

// netnsFabric is a netns fabric of its own (instance PREFIX and a number)
// for a server the caller stores in the pointer it returns, its nodes
// probed by agent processes when agent is set; it is
// removed, and checked to leave nothing, when the test ends.
func netnsFabric(tb testing.TB, prefix string, agent *netns.Agent) (*netns.Fabric, *atomic.Pointer[Server]) {
	tb.Helper()
	netnstest.RequireRoot(tb)
	instance := fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1_000_000_000)
	netnstest.NoLeaks(tb, netns.NamePrefix+instance+"-")
	server := &atomic.Pointer[Server]{}
	nf, err := netns.New(netns.Config{Instance: instance, Agent: agent, Network: func(ctx context.Context, sub string) (*netverify.Network, error) {
		return server.Load().CompiledNetwork(ctx, sub)
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := nf.Close(); err != nil {
			tb.Error(err)
		}
	})
	return nf, server
}

// BenchmarkNetnsClusterReady100: a public-IP cluster from 0 to 100 nodes
// on the netns fabric, through the API: each node a namespace, each of
// its required flows probed as real packets (44224 in through the load
// balancer from Azure ML's regional ranges), until the resize succeeds
// with every node idle.
// Sub-benchmarks: "agent", each node's outbound flows sent by its node
// agent process (as serve does); "server", from the server's threads.
func BenchmarkNetnsClusterReady100(b *testing.B) {
	b.Run("agent", func(b *testing.B) { benchmarkClusterReady100(b, &netns.Agent{Env: []string{testAgentEnv + "=1"}}) })
	b.Run("server", func(b *testing.B) { benchmarkClusterReady100(b, nil) })
}

func benchmarkClusterReady100(b *testing.B, agent *netns.Agent) {
	const nodes = 100
	nf, server := netnsFabric(b, "b", agent)
	opts := bigQuotas
	opts.Fabric = nf
	c, _ := benchServer(b, opts)
	server.Store(c.srv)
	provisionEnv(b, c, "")
	mustDo(b, c, "PUT", wsML+"/computes/big"+mlVersion, clusterBody("large", 0, nodes, "PT1H"), http.StatusCreated)
	poll(b, "cluster big created", time.Millisecond, func() (bool, any) {
		props, _ := c.compute("big")
		return props["provisioningState"] == "Succeeded", props
	})
	scale := func(n int) {
		st, out, hdr := c.do("POST", wsML+"/computes/big/resize"+mlVersion, resize(n))
		if st != http.StatusAccepted {
			b.Fatalf("resize: %d %v", st, out)
		}
		if s := waitOp(b, c, hdr.Get("Azure-AsyncOperation")); s != "Succeeded" {
			props, _ := c.compute("big")
			b.Fatalf("scale to %d: %s: %v", n, s, props)
		}
	}
	var slab int64 // kernel memory the nodes took, summed over iterations
	for b.Loop() {
		b.StopTimer()
		before := slabKiB(b)
		b.StartTimer()
		scale(nodes)
		b.StopTimer()
		slab += slabKiB(b) - before
		props, _ := c.compute("big")
		inner, _ := props["properties"].(map[string]any)
		counts, _ := inner["nodeStateCounts"].(map[string]any)
		if got := fmt.Sprint(counts["idleNodeCount"]); got != fmt.Sprint(nodes) {
			b.Fatalf("idle nodes %s, want %d: %v", got, nodes, props)
		}
		scale(0)
		b.StartTimer()
	}
	b.ReportMetric(float64(slab)/1024/float64(b.N*nodes), "slab-MiB/node")
}

// testAgentEnv makes this test binary a node agent (TestMain).
const testAgentEnv = "SECURETRAIN_TEST_NODE_AGENT"

// TestMain lets the netns benchmark's fabric start this test binary as
// its node agents.
func TestMain(m *testing.M) {
	if os.Getenv(testAgentEnv) == "1" {
		if err := netns.AgentMain(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// slabKiB is the kernel's slab memory (namespaces, links and rules live
// there): other processes move it too, so it is a rough measure.
func slabKiB(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "Slab:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("/proc/meminfo has no Slab line")
	return 0
}
