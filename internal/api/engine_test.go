package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/clock"
	"securetrain/internal/fabric"
)

// stallingFabric stalls the first Boot until the engine's context ends,
// then until the test releases it.
type stallingFabric struct {
	*fabric.Sim
	entered, canceled, release chan struct{}
	stalled                    bool
}

func (f *stallingFabric) Boot(ctx context.Context, n fabric.Node) error {
	if !f.stalled {
		f.stalled = true
		close(f.entered)
		<-ctx.Done()
		close(f.canceled)
		<-f.release
		return ctx.Err()
	}
	return f.Sim.Boot(ctx, n)
}

// Stop returns only after the pass it interrupts has ended (serve closes
// the store after it), the interrupted operation stays pending, and the
// next Run completes it. Issue 11: the engine has an owner.
func TestEngineStopWaitsForItsPass(t *testing.T) {
	fab := &stallingFabric{Sim: fabric.NewSim(), entered: make(chan struct{}), canceled: make(chan struct{}), release: make(chan struct{})}
	c := newClient(t, Options{Fabric: fab})
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
	st, out, hdr := c.do("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(1))
	if st != http.StatusAccepted {
		t.Fatalf("resize: %d %v", st, out)
	}
	op := strings.TrimPrefix(hdr.Get("Azure-AsyncOperation"), c.base)
	<-fab.entered
	engine := c.srv.Engine()
	if err := engine.Run(context.Background()); err == nil {
		t.Fatal("a second Run started beside the running one")
	}
	stopped := make(chan struct{})
	go func() { engine.Stop(); close(stopped) }()
	<-fab.canceled
	select {
	case <-stopped:
		t.Fatal("Stop returned while its pass was still in the fabric")
	default:
	}
	close(fab.release)
	<-stopped
	if _, status, _ := c.do("GET", op, ""); status["status"] != "InProgress" {
		t.Fatalf("the interrupted operation: %v", status)
	}
	// Planned, not recorded: the canceled boot did not make it unusable.
	if nodes := c.nodes("cpu"); len(nodes) != 1 || nodes[0]["nodeState"] != "preparing" {
		t.Fatalf("after the interrupted boot: %v", nodes)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- engine.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if status := c.wait(c.base + op); status["status"] != "Succeeded" {
		t.Fatalf("after Run again: %v", status)
	}
	if nodes := c.nodes("cpu"); len(nodes) != 1 || nodes[0]["nodeState"] != "idle" {
		t.Fatalf("nodes: %v", nodes)
	}
}

// After provisioning wrote a compute's runtime fields, its ETag header is
// its body's etag, so a read-modify-write with If-Match succeeds (issue
// 11: the header and the body disagreed, and such a PUT got 412).
func TestProvisionedComputeHasOneETag(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	path := wsML + "/computes/cpu" + mlVersion
	c.start("PUT", path, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted)
	_, body, hdr := c.do("GET", path, "")
	etag := arm.Str(body, "etag")
	if etag == "" || hdr.Get("ETag") != etag {
		t.Fatalf("ETag header %q, body etag %q", hdr.Get("ETag"), etag)
	}
	st, out, hdr := c.do("PUT", path, clusterBody("compute", 0, 5, "PT1H"), "If-Match", etag)
	if st != http.StatusOK || hdr.Get("ETag") != arm.Str(out, "etag") || arm.Str(out, "etag") == etag {
		t.Fatalf("PUT with If-Match of the body's etag: %d %v, ETag %q", st, out, hdr.Get("ETag"))
	}
	// The engine's next write changes the etag too: a stale one is refused.
	c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(1), http.StatusAccepted)
	_, body, hdr = c.do("GET", path, "")
	if arm.Str(body, "etag") == arm.Str(out, "etag") || hdr.Get("ETag") != arm.Str(body, "etag") {
		t.Fatalf("after a resize: body etag %q (was %q), header %q", arm.Str(body, "etag"), arm.Str(out, "etag"), hdr.Get("ETag"))
	}
	if st, _, _ := c.do("PUT", path, clusterBody("compute", 0, 5, "PT1H"), "If-Match", arm.Str(out, "etag")); st != http.StatusPreconditionFailed {
		t.Fatalf("PUT with a stale etag: %d", st)
	}
}

// A PATCH that lowers minNodeCount below the nodes a cluster has lets its
// idle nodes go: those idle long enough at once, the others when their
// time comes, and with the last node what Azure created for the cluster
// (issue 11: the PATCH started nothing and woke nothing).
func TestLoweredMinimumReleasesIdleNodes(t *testing.T) {
	clk := clock.NewFake(testEpoch)
	c := newClient(t, Options{Clock: clk})
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 2, 4, "PT120S"), http.StatusCreated)
	c.start("PUT", wsML+"/computes/gpu"+mlVersion, clusterBody("compute", 1, 4, "PT120S"), http.StatusCreated)
	clk.Advance(10 * time.Minute) // idle, but none above its minimum
	c.settle()
	if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(2) || len(c.created()) != 6 {
		t.Fatalf("before the PATCH: %v, created %v", inner, c.created())
	}
	lower := func(name string) {
		t.Helper()
		if st, out, _ := c.do("PATCH", wsML+"/computes/"+name+mlVersion, `{"properties":{"properties":{"scaleSettings":{"minNodeCount":0}}}}`); st != http.StatusOK {
			t.Fatalf("PATCH %s: %d %v", name, st, out)
		}
		c.settle()
	}
	lower("cpu") // idle for 10 minutes: they go now
	if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(0) || inner["allocationState"] != "Steady" || len(c.created()) != 3 {
		t.Fatalf("after lowering the minimum of cpu: %v, created %v", inner, c.created())
	}
	if _, inner := c.compute("gpu"); inner["currentNodeCount"] != float64(1) {
		t.Fatalf("gpu lost its node: %v", inner)
	}
	// gpu's node has been idle 10 minutes too; make it young again by
	// resizing up: the new node times out 120 s after it came up.
	c.start("POST", wsML+"/computes/gpu/resize"+mlVersion, resize(2), http.StatusAccepted)
	lower("gpu")
	if _, inner := c.compute("gpu"); inner["currentNodeCount"] != float64(1) {
		t.Fatalf("gpu after lowering its minimum: %v (the old node goes, the new one waits)", inner)
	}
	clk.Advance(120 * time.Second)
	c.settle()
	if _, inner := c.compute("gpu"); inner["currentNodeCount"] != float64(0) || len(c.created()) != 0 {
		t.Fatalf("gpu after the new node's idle time: %v, created %v", inner, c.created())
	}
}
