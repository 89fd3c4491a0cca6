package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
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
	op := c.begin("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(1), http.StatusAccepted)
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
	if status := c.wait(op); status["status"] != "Succeeded" {
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

// denyUDP5831 is a rule that makes nodes unusable: compute nodes need UDP
// 5831 to Azure Machine Learning (spec §10 #6).
const denyUDP5831 = `{"properties":{"priority":200,"direction":"Outbound","access":"Deny","protocol":"Udp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"AzureMachineLearning","destinationPortRange":"5831"}}`

// Once the NSG that made nodes unusable is fixed, an operation on the
// cluster — even a resize to the count it has — probes them again, and
// they become idle (issue 11: they stayed unusable, and the resize
// reported Succeeded with NodeUnusable).
func TestFixedNetworkRecoversUnusableNodes(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
	rule := netNet + "networkSecurityGroups/nsg-compute/securityRules/DenyUDP5831" + netVersion
	if st, out, _ := c.do("PUT", rule, denyUDP5831); st != http.StatusCreated {
		t.Fatalf("rule: %d %v", st, out)
	}
	if op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted); arm.EnsureField(op, "error")["code"] != "NodeUnusable" {
		t.Fatalf("resize into the broken network: %v", op)
	}
	// Still broken: the same resize probes again and fails again.
	if op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted); op["status"] != "Failed" || arm.EnsureField(op, "error")["code"] != "NodeUnusable" {
		t.Fatalf("resize to the same count, network still broken: %v", op)
	}
	if st, _, _ := c.do("DELETE", rule, ""); st != http.StatusOK {
		t.Fatal("delete rule")
	}
	if op := c.start("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(2), http.StatusAccepted); op["status"] != "Succeeded" {
		t.Fatalf("resize to the same count after the fix: %v", op)
	}
	props, inner := c.compute("cpu")
	if errs, _ := props["provisioningErrors"].([]any); len(errs) != 0 || arm.EnsureField(inner, "nodeStateCounts")["idleNodeCount"] != float64(2) {
		t.Fatalf("after the fix: errors %v, node states %v", props["provisioningErrors"], inner["nodeStateCounts"])
	}
	for _, n := range c.nodes("cpu") {
		if n["nodeState"] != "idle" || n["errors"] != nil {
			t.Fatalf("node after the fix: %v", n)
		}
	}
}

// faultyFabric fails the methods a test names, and can disagree with the
// verifier: the probe of a flow whose name contains flip answers the
// opposite of its prediction.
type faultyFabric struct {
	*fabric.Sim
	mu   sync.Mutex
	fail map[string]error // by method: boot, start, stop, remove, probe
	flip string
}

func newFaultyFabric() *faultyFabric {
	return &faultyFabric{Sim: fabric.NewSim(), fail: map[string]error{}}
}

func (f *faultyFabric) set(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

func (f *faultyFabric) setFlip(flow string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flip = flow
}

func (f *faultyFabric) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[method]
}

// or fails method with the error the test set for it, else runs it.
func (f *faultyFabric) or(method string, run func() error) error {
	if err := f.err(method); err != nil {
		return err
	}
	return run()
}

func (f *faultyFabric) Boot(ctx context.Context, n fabric.Node) error {
	return f.or("boot", func() error { return f.Sim.Boot(ctx, n) })
}

func (f *faultyFabric) Start(ctx context.Context, n fabric.Node) error {
	return f.or("start", func() error { return f.Sim.Start(ctx, n) })
}

func (f *faultyFabric) Stop(ctx context.Context, n fabric.Node) error {
	return f.or("stop", func() error { return f.Sim.Stop(ctx, n) })
}

func (f *faultyFabric) Remove(ctx context.Context, n fabric.Node) error {
	return f.or("remove", func() error { return f.Sim.Remove(ctx, n) })
}

func (f *faultyFabric) Probe(ctx context.Context, n fabric.Node, flows []fabric.Flow) ([]fabric.Probe, error) {
	if err := f.err("probe"); err != nil {
		return nil, err
	}
	probes, err := f.Sim.Probe(ctx, n, flows)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range probes {
		if f.flip != "" && strings.Contains(p.Flow.Name, f.flip) {
			probes[i].Passed, probes[i].Detail = !p.Flow.Predicted, "the test fabric answers against the prediction"
		}
	}
	return probes, err
}

// faultyEnv is a client whose server runs on a faulty fabric and a fake
// clock, with the provisioning environment.
func faultyEnv(t *testing.T) (*client, *faultyFabric, *clock.Fake) {
	fab, clk := newFaultyFabric(), clock.NewFake(testEpoch)
	c := newClient(t, Options{Fabric: fab, Clock: clk})
	provisionEnv(t, c, "")
	return c, fab, clk
}

// nodeErrors are the error codes of a compute's nodes, and their messages.
func nodeErrors(c *client, name string) (codes []string, messages string) {
	for _, n := range c.nodes(name) {
		errs, _ := n["errors"].([]any)
		for _, e := range errs {
			codes = append(codes, arm.Str(e.(map[string]any), "code"))
			messages += arm.Str(e.(map[string]any), "message") + "\n"
		}
	}
	return codes, messages
}

func opError(op map[string]any) string { return arm.Str(arm.EnsureField(op, "error"), "code") }

// removeAgain lets the fabric remove machines, lets the held operation's
// retry come, and expects it to succeed.
func removeAgain(c *client, fab *faultyFabric, clk *clock.Fake, op string) {
	c.t.Helper()
	fab.set("remove", nil)
	clk.Advance(time.Second)
	c.settle()
	if _, status, _ := c.do("GET", op, ""); status["status"] != "Succeeded" {
		c.t.Fatalf("once the fabric removes: %v", status)
	}
}

// Every way the fabric can fail an operation, and how the compute shows
// it (issue 11: a test fabric drives every fabric error path).
func TestFabricFailures(t *testing.T) {
	cluster := wsML + "/computes/cpu"
	inst := wsML + "/computes/ci1"
	// A node the fabric could not boot or probe is unusable, and comes up
	// when an operation brings it up again with the fabric mended.
	for _, tc := range []struct {
		method, code string
		nodes        int
	}{{"boot", "NodeBootFailed", 2}, {"probe", "NodeProbeFailed", 1}} {
		t.Run(tc.method, func(t *testing.T) {
			c, fab, _ := faultyEnv(t)
			c.start("PUT", cluster+mlVersion, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
			fab.set(tc.method, errors.New("the test fabric fails "+tc.method))
			if op := c.start("POST", cluster+"/resize"+mlVersion, resize(tc.nodes), http.StatusAccepted); op["status"] != "Failed" || opError(op) != "NodeUnusable" {
				t.Fatalf("resize: %v", op)
			}
			if codes, msgs := nodeErrors(c, "cpu"); !slices.Equal(codes, slices.Repeat([]string{tc.code}, tc.nodes)) || !strings.Contains(msgs, "the test fabric fails") {
				t.Fatalf("node errors %v %s", codes, msgs)
			}
			fab.set(tc.method, nil)
			if op := c.start("POST", cluster+"/resize"+mlVersion, resize(tc.nodes), http.StatusAccepted); op["status"] != "Succeeded" {
				t.Fatalf("resize with the fabric mended: %v", op)
			}
			if codes, _ := nodeErrors(c, "cpu"); len(codes) != 0 {
				t.Fatalf("node errors with the fabric mended: %v", codes)
			}
		})
	}
	t.Run("the fabric blocks a flow the verifier allows", func(t *testing.T) {
		c, fab, _ := faultyEnv(t)
		fab.setFlip("UDP 5831")
		op := c.start("PUT", inst+mlVersion, instanceBody, http.StatusCreated)
		if op["status"] != "Failed" || opError(op) != "NodeUnusable" || !strings.Contains(arm.Str(arm.EnsureField(op, "error"), "message"), "UDP 5831") {
			t.Fatalf("create: %v", op)
		}
		if _, inner := c.compute("ci1"); inner["state"] != "Unusable" {
			t.Fatalf("instance state %v", inner["state"])
		}
		if codes, msgs := nodeErrors(c, "ci1"); !slices.Equal(codes, []string{"FlowFailedOnNode"}) || !strings.Contains(msgs, "against the prediction") {
			t.Fatalf("node errors %v %s", codes, msgs)
		}
	})
	t.Run("the fabric passes a flow the verifier blocks", func(t *testing.T) {
		c, fab, _ := faultyEnv(t)
		c.start("PUT", cluster+mlVersion, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
		if st, out, _ := c.do("PUT", netNet+"networkSecurityGroups/nsg-compute/securityRules/DenyUDP5831"+netVersion, denyUDP5831); st != http.StatusCreated {
			t.Fatalf("rule: %d %v", st, out)
		}
		fab.setFlip("UDP 5831")
		// The packets are the truth of a node: it works (and the server logs the disagreement).
		if op := c.start("POST", cluster+"/resize"+mlVersion, resize(1), http.StatusAccepted); op["status"] != "Succeeded" {
			t.Fatalf("resize: %v", op)
		}
		if nodes := c.nodes("cpu"); len(nodes) != 1 || nodes[0]["nodeState"] != "idle" {
			t.Fatalf("nodes %v", nodes)
		}
	})
	t.Run("start", func(t *testing.T) {
		c, fab, _ := faultyEnv(t)
		c.start("PUT", inst+mlVersion, instanceBody, http.StatusCreated)
		c.start("POST", inst+"/stop"+mlVersion, "", http.StatusAccepted)
		fab.set("start", errors.New("disk detached"))
		if op := c.start("POST", inst+"/start"+mlVersion, "", http.StatusAccepted); op["status"] != "Failed" || opError(op) != "NodeUnusable" {
			t.Fatalf("start: %v", op)
		}
		if props, inner := c.compute("ci1"); inner["state"] != "Unusable" || props["provisioningState"] != "Succeeded" {
			t.Fatalf("instance: %v", props)
		}
		if codes, msgs := nodeErrors(c, "ci1"); !slices.Equal(codes, []string{"NodeStartFailed"}) || !strings.Contains(msgs, "disk detached") {
			t.Fatalf("node errors %v %s", codes, msgs)
		}
		fab.set("start", nil)
		if op := c.start("POST", inst+"/start"+mlVersion, "", http.StatusAccepted); op["status"] != "Succeeded" {
			t.Fatalf("start once the fabric starts: %v", op)
		}
		if _, inner := c.compute("ci1"); inner["state"] != "Running" {
			t.Fatalf("instance state %v", inner["state"])
		}
	})
	t.Run("stop", func(t *testing.T) {
		c, fab, _ := faultyEnv(t)
		c.start("PUT", inst+mlVersion, instanceBody, http.StatusCreated)
		fab.set("stop", errors.New("guest ignores shutdown"))
		op := c.start("POST", inst+"/stop"+mlVersion, "", http.StatusAccepted)
		if op["status"] != "Failed" || opError(op) != "NodeStopFailed" || !strings.Contains(arm.Str(arm.EnsureField(op, "error"), "message"), "guest ignores shutdown") {
			t.Fatalf("stop: %v", op)
		}
		if _, inner := c.compute("ci1"); inner["state"] != "Running" || fab.Machines()["running"] != 1 {
			t.Fatalf("instance state %v, machines %v", inner["state"], fab.Machines())
		}
		if nodes := c.nodes("ci1"); nodes[0]["nodeState"] != "idle" {
			t.Fatalf("node %v", nodes[0])
		}
	})
	t.Run("remove in a resize", func(t *testing.T) {
		c, fab, clk := faultyEnv(t)
		c.start("PUT", cluster+mlVersion, clusterBody("compute", 0, 4, "PT1H"), http.StatusCreated)
		c.start("POST", cluster+"/resize"+mlVersion, resize(2), http.StatusAccepted)
		fab.set("remove", errors.New("hypervisor busy"))
		op := c.begin("POST", cluster+"/resize"+mlVersion, resize(0), http.StatusAccepted)
		c.settle()
		_, status, _ := c.do("GET", op, "")
		_, inner := c.compute("cpu")
		if status["status"] != "InProgress" || opError(status) != "NodeRemoveFailed" || inner["allocationState"] != "Resizing" ||
			arm.EnsureField(inner, "nodeStateCounts")["leavingNodeCount"] != float64(2) || len(c.created()) != 3 {
			t.Fatalf("held by the fabric: %v; compute %v; created %v", status, inner, c.created())
		}
		if n := countRecords(t, c.st, vnetNet+"/subnets/compute/addresses"); n != 2 {
			t.Fatalf("%d addresses held while the machines live, want 2", n)
		}
		removeAgain(c, fab, clk, op)
		if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(0) || inner["allocationState"] != "Steady" || len(c.created()) != 0 {
			t.Fatalf("after: %v, created %v", inner, c.created())
		}
		if n := countRecords(t, c.st, vnetNet+"/subnets/compute/addresses"); n != 0 || fab.Machines()["running"] != 0 {
			t.Fatalf("%d addresses, machines %v", n, fab.Machines())
		}
	})
	t.Run("remove in a delete", func(t *testing.T) {
		c, fab, clk := faultyEnv(t)
		c.start("PUT", inst+mlVersion, instanceBody, http.StatusCreated)
		fab.set("remove", errors.New("hypervisor busy"))
		op := c.begin("DELETE", inst+mlVersion+"&underlyingResourceAction=Delete", "", http.StatusAccepted)
		c.settle()
		if _, status, _ := c.do("GET", op, ""); status["status"] != "InProgress" || opError(status) != "NodeRemoveFailed" {
			t.Fatalf("held by the fabric: %v", status)
		}
		if props, _ := c.compute("ci1"); props["provisioningState"] != "Deleting" {
			t.Fatalf("compute: %v", props)
		}
		removeAgain(c, fab, clk, op)
		if st, _, _ := c.do("GET", inst+mlVersion, ""); st != http.StatusNotFound || len(c.created()) != 0 || fab.Machines()["running"] != 0 {
			t.Fatalf("after: %d, created %v, machines %v", st, c.created(), fab.Machines())
		}
	})
}
