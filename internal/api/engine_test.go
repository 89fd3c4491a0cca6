package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

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
