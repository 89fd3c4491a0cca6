package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/blob"
	"securetrain/internal/procusers"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// Tests of several servers (replicas) on one PostgreSQL database, each
// with its own store connections, engine and listener.

// replicaLease is the tests' lease: short, so that a take-over after a
// kill is quick, and a fast poll, so that an operation begun on the
// replica that does not work is taken up at once.
func replicaLease(holder string) *provision.Lease {
	return &provision.Lease{Holder: holder, TTL: 3 * time.Second, Poll: 100 * time.Millisecond}
}

// replicaDatabase makes an empty database (schema) for a test's
// replicas and the data directory they share.
func replicaDatabase(t testing.TB) (url, dir string) {
	t.Helper()
	url = storetest.PostgresSchema(t)
	dir = filepath.Join(t.TempDir(), "data")
	if err := store.PrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	return url, dir
}

// replica starts a server on the database of url with data directory dir
// (shared by the replicas of a test: it holds only admin.token, which the
// first creates) and returns a client of it.
func replica(t testing.TB, url, dir, holder string) *client {
	t.Helper()
	return replicaWith(t, url, dir, holder, Options{})
}

// engineLease is the record of the provisioning engine's lease.
const engineLease = "/providers/securetrain/leases/" + provision.EngineLease

// awaitEngineLease polls st until holder holds the provisioning engine's
// lease.
func awaitEngineLease(t testing.TB, st store.Store, holder string) {
	t.Helper()
	poll(t, holder+" holding the engine's lease", patient, func() (bool, any) {
		rec, err := st.Get(context.Background(), engineLease)
		return err == nil && strings.Contains(string(rec.Body), `"holder":"`+holder+`"`), err
	})
}

// provisionedReplicas starts a replica for each of holders on a new
// database, in that order, and provisions the test environment
// (provisionEnv) through the first.
func provisionedReplicas(t testing.TB, holders ...string) []*client {
	t.Helper()
	url, dir := replicaDatabase(t)
	cs := make([]*client, len(holders))
	for i, h := range holders {
		cs[i] = replica(t, url, dir, h)
	}
	provisionEnv(t, cs[0], "")
	return cs
}

// replicaWith is replica with opts (its quotas and lease are the tests').
func replicaWith(t testing.TB, url, dir, holder string, opts Options) *client {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tok := adminToken(t, st, dir)
	opts.Quotas, opts.Replica = provision.Quotas{CoresPerFamily: 1 << 20, TotalCores: 1 << 20}, replicaLease(holder)
	return serveTest(t, NewWithOptions(st, slog.New(slog.NewTextHandler(io.Discard, nil)), opts), st, dir, tok)
}

// TestReplicasShareOneSubnet: two replicas take 100 resizes of ten
// clusters in one /26 (59 usable addresses, fewer than asked for), half
// through each, all at once. Each operation's status is read through the
// other replica. When all have ended, no address is allocated twice, every
// allocation belongs to a node, and every node is in the subnet.
func TestReplicasShareOneSubnet(t *testing.T) {
	rs := provisionedReplicas(t, "a", "b")
	a, b := rs[0], rs[1]
	const clusters, resizes = 10, 100
	for i := range clusters {
		c := []*client{a, b}[i%2]
		if st, out, _ := c.do("PUT", fmt.Sprintf("%s/computes/c%d%s", wsML, i, mlVersion), clusterBody("small", 0, 10, "PT1H")); st != http.StatusCreated {
			t.Fatalf("cluster c%d: %d %v", i, st, out)
		}
	}
	var (
		mu       sync.Mutex
		accepted = map[*client]int{}
		ops      []string
		wg       sync.WaitGroup
	)
	for i := range resizes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*client{a, b}[i%2]
			path := fmt.Sprintf("%s/computes/c%d/resize%s", wsML, i%clusters, mlVersion)
			// A cluster takes one operation at a time: a resize refused
			// as Conflict is asked again.
			for {
				st, out, hdr := c.do("POST", path, resize(1+(i*7)%10))
				if st == http.StatusConflict {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if st != http.StatusAccepted {
					t.Errorf("resize %d: %d %v", i, st, out)
					return
				}
				mu.Lock()
				accepted[c]++
				ops = append(ops, strings.TrimPrefix(hdr.Get("Azure-AsyncOperation"), c.base)+"|"+fmt.Sprint(i%2))
				mu.Unlock()
				return
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if accepted[a] != resizes/2 || accepted[b] != resizes/2 {
		t.Fatalf("accepted %d through a, %d through b; want %d each", accepted[a], accepted[b], resizes/2)
	}
	for _, op := range ops {
		path, side, _ := strings.Cut(op, "|")
		other := map[string]*client{"0": b, "1": a}[side]
		status := other.wait(path) // answered by the replica that did not begin it
		if status["status"] != "Succeeded" && opError(status) != "AllocationFailed" {
			t.Errorf("operation %s: %v", path, status)
		}
	}
	subnet := netip.MustParsePrefix("10.0.2.0/26")
	seen := map[string]string{}
	total := 0
	for i := range clusters {
		name := fmt.Sprintf("c%d", i)
		for _, n := range a.nodes(name) {
			ip := arm.Str(n, "privateIpAddress")
			addr, err := netip.ParseAddr(ip)
			if err != nil || !subnet.Contains(addr) {
				t.Errorf("node %s/%s has address %q, not in %s", name, arm.Str(n, "nodeId"), ip, subnet)
			}
			if other, dup := seen[ip]; dup {
				t.Errorf("address %s given to %s and %s/%s", ip, other, name, arm.Str(n, "nodeId"))
			}
			seen[ip] = name + "/" + arm.Str(n, "nodeId")
			total++
		}
	}
	if n := countRecords(t, a.st, vnetNet+"/subnets/small/addresses"); n != total {
		t.Errorf("%d addresses allocated for %d nodes", n, total)
	}
	if total == 0 || total > 59 {
		t.Errorf("%d nodes in a /26", total)
	}
	t.Logf("%d nodes with distinct addresses after %d resizes through two replicas", total, resizes)
}

// TestReplicaLosesItsDatabase: a replica whose database goes away answers
// 503 with Retry-After (not 500), and answers again when it is back.
func TestReplicaLosesItsDatabase(t *testing.T) {
	direct, dir := replicaDatabase(t)
	proxy, url := storetest.NewProxy(t, direct)
	c := replica(t, url, dir, "a")
	if st, out, _ := c.do("PUT", rgML+rgVersion, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d %v", st, out)
	}
	proxy.Cut()
	for _, req := range []struct{ method, path, body string }{
		{"GET", rgML + rgVersion, ""},
		{"PUT", rgNet + rgVersion, `{"location":"eastus"}`},
	} {
		st, out, hdr := c.do(req.method, req.path, req.body)
		if st != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || errCode(out) != "ServiceUnavailable" {
			t.Errorf("%s without a database: %d, Retry-After %q, %v; want 503 with Retry-After", req.method, st, hdr.Get("Retry-After"), out)
		}
	}
	proxy.Restore()
	// The pool may hand out a connection the cut closed once more: the
	// client retries a 503, as told.
	poll(t, "the replica answering again", patient, func() (bool, any) {
		st, out, _ := c.do("GET", rgML+rgVersion, "")
		if st != http.StatusOK && st != http.StatusServiceUnavailable {
			t.Fatalf("after the database came back: %d %v", st, out)
		}
		return st == http.StatusOK, st
	})
	if st, out, _ := c.do("PUT", rgNet+rgVersion, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("write after the database came back: %d %v", st, out)
	}
}

// TestKill9ReplicaMidResize: the replica that works is SIGKILLed in the
// middle of a resize begun through the other; the other takes the lease
// over when it expires and completes the resize, every node with exactly
// one address.
func TestKill9ReplicaMidResize(t *testing.T) {
	url, dir := replicaDatabase(t)
	st, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, cmdA, stdoutA := startKillServer(t, dir, hangBootEnv+"=10", killStoreEnv+"="+url, killHolderEnv+"=a")
	// a works: b, started after, waits for the lease.
	awaitEngineLease(t, st, "a")
	b, _, _ := startKillServer(t, dir, killStoreEnv+"="+url, killHolderEnv+"=b")
	op := killMidResize(t, b, cmdA, stdoutA)
	if _, out, _ := b.do("GET", op, ""); out["status"] != "InProgress" {
		t.Fatalf("the kill did not land mid-operation: %v", out)
	}
	if status := b.wait(op); status["status"] != "Succeeded" {
		t.Fatalf("after a's kill: %v", status)
	}
	idleOnce(t, b, "cpu", 30)
	if n := countRecords(t, st, vnetNet+"/subnets/compute/addresses"); n != 30 {
		t.Fatalf("%d addresses allocated for 30 nodes", n)
	}
	rec, err := st.Get(context.Background(), engineLease)
	if err != nil || !strings.Contains(string(rec.Body), `"holder":"b"`) {
		t.Fatalf("the lease after the take-over: %s %v", rec.Body, err)
	}
}

// TestReplicasSeeEachOthersNetworks: a replica's cached network of a
// subscription is compiled again after another replica's write to it
// (the change counter in the database), and kept while nothing changes.
func TestReplicasSeeEachOthersNetworks(t *testing.T) {
	rs := provisionedReplicas(t, "a", "b")
	a, b := rs[0], rs[1]
	ctx := context.Background()
	nsgs := func() int {
		n, err := b.srv.CompiledNetwork(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		return len(n.Snapshot().NetworkSecurityGroups)
	}
	first, err := b.srv.CompiledNetwork(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := b.srv.CompiledNetwork(ctx, sub); again != first {
		t.Error("the network was compiled again with no write")
	}
	// The index of the network page's lists follows the same counter.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+b.token)
	listed := func() int {
		l, err := b.srv.ListNetwork(r, sub, resources.TypeNSG)
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Bodies)
	}
	before, listedBefore := nsgs(), listed()
	if st, out, _ := a.do("PUT", netNet+"networkSecurityGroups/nsg-new"+netVersion, `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("NSG through a: %d %v", st, out)
	}
	if after := nsgs(); after != before+1 {
		t.Fatalf("b's network has %d NSGs after a created one (before: %d): stale cache", after, before)
	}
	if after := listed(); after != listedBefore+1 {
		t.Fatalf("b lists %d NSGs after a created one (before: %d): stale index", after, listedBefore)
	}
	// The index of computes follows the same counter.
	ws, _ := arm.ParseID(wsML, "")
	if l, err := b.srv.ListComputes(r, ws, "", 0, 0); err != nil || len(l.Computes) != 0 {
		t.Fatalf("b's computes before: %d, %v", len(l.Computes), err)
	}
	a.begin("PUT", wsML+"/computes/c1"+mlVersion, clusterBody("compute", 0, 0, "PT5M"), http.StatusCreated)
	if l, err := b.srv.ListComputes(r, ws, "", 0, 1); err != nil || len(l.Computes) != 1 || len(l.Bodies) != 1 {
		t.Fatalf("b's computes after a created one: %d, %v: stale index", len(l.Computes), err)
	}
}

// TestReplicasReprobeAfterAnotherReplicasWrite: an NSG written through
// the replica that does not run the engine (b; a holds the engine's
// lease) re-probes the nodes all the same, as b sees them.
func TestReplicasReprobeAfterAnotherReplicasWrite(t *testing.T) {
	url, dir := replicaDatabase(t)
	a := replica(t, url, dir, "a")
	poll(t, "a holding the engine's lease", patient, func() (bool, any) { return a.srv.Engine().Working(), nil })
	b := replica(t, url, dir, "b")
	if b.srv.Engine().Working() {
		t.Fatal("b works too")
	}
	reprobeCycle(t, b, b)
}

// TestReplicasLeaveEachOthersDeployments: a deployment another replica
// runs (it holds the run's lease) is neither run again nor ended as
// interrupted by a replica that starts; once that lease has expired (its
// replica died), the next recovery ends it Failed, and it runs again.
func TestReplicasLeaveEachOthersDeployments(t *testing.T) {
	b := provisionedReplicas(t, "b")[0]
	ctx := context.Background()
	path := storeRunningDeployment(t, b.st, "elsewhere")
	// Replica "a" runs it: its lease, for a minute.
	if _, err := store.AcquireLease(ctx, b.st, deploymentLease(arm.FoldKey(path)), "a", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.recoverDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := b.do("GET", path+deployVersion, ""); deployState(out) != deployRunning {
		t.Fatalf("a run another replica holds was ended: %v", out)
	}
	if st, out, _ := b.do("PUT", path+deployVersion, deployBody(t, emptyTemplate, nil)); st != http.StatusConflict || errCode(out) != "DeploymentActive" {
		t.Fatalf("a second run beside another replica's: %d %v", st, out)
	}
	// "a" dies: its lease, taken an hour ago, has expired.
	if err := b.st.Update(ctx, func(tx store.Tx) error {
		return tx.Delete(ctx, "/providers/securetrain/leases/"+deploymentLease(arm.FoldKey(path)), store.Condition{})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AcquireLease(ctx, b.st, deploymentLease(arm.FoldKey(path)), "a", time.Now().Add(-time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.recoverDeployments(ctx); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := b.do("GET", path+deployVersion, ""); deployState(out) != deployFailed {
		t.Fatalf("the dead replica's run after recovery: %v", out)
	}
	b.redeployEmpty(path)
}

// TestReplicaRecordsAreNotResources: the records replicas keep for each
// other — leases, change counters — are not reachable through the API,
// not even with the administrator's token.
func TestReplicaRecordsAreNotResources(t *testing.T) {
	c := provisionedReplicas(t, "a")[0] // a network write: a change counter exists
	ctx := context.Background()
	awaitEngineLease(t, c.st, "a")
	page, err := c.st.List(ctx, store.Query{Scope: "/providers/securetrain/networkChanges"})
	if err != nil || len(page.Records) == 0 {
		t.Fatalf("no change counter: %v", err)
	}
	for _, id := range []string{engineLease, page.Records[0].ID} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			for _, version := range []string{rgVersion, netVersion, mlVersion} {
				if st, out, _ := c.do(method, id+version, `{"holder":"attacker","token":"x","expires":"2100-01-01T00:00:00Z"}`); st < 400 || st >= 500 {
					t.Errorf("%s %s: %d %v", method, id, st, out)
				}
			}
		}
	}
	if after, err := c.st.Get(ctx, engineLease); err != nil || !strings.Contains(string(after.Body), `"holder":"a"`) {
		t.Errorf("the lease after the API requests: %s %v", after.Body, err)
	}
}

// TestReplicaCancelsAnotherReplicasDeployment: a cancel sent to a replica
// that does not run the deployment is recorded, and the replica running it
// stops the run at its next renewal of the run's lease.
func TestReplicaCancelsAnotherReplicasDeployment(t *testing.T) {
	rs := provisionedReplicas(t, "a", "b")
	a, b := rs[0], rs[1]
	ctx := context.Background()
	path := storeRunningDeployment(t, b.st, "long")
	// b runs it: a run that lasts until it is stopped.
	id := mustParse(t, path)
	h, ok := b.srv.deployments.reserve(id.Key())
	if !ok {
		t.Fatal("reserve")
	}
	l, err := b.srv.claimRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	b.srv.deployments.launch(id.Key(), h, func(ctx context.Context) {
		b.srv.underRunLease(ctx, l, id.Key(), func(ctx context.Context) { <-ctx.Done(); stopped <- context.Cause(ctx) })
	})
	if st, out, _ := a.do("POST", strings.Replace(path+deployVersion, "?", "/cancel?", 1), ""); st != http.StatusNoContent {
		t.Fatalf("cancel through a: %d %v", st, out)
	}
	select {
	case cause := <-stopped:
		if !errors.Is(cause, errCanceled) {
			t.Fatalf("the run stopped for %v, not the cancel", cause)
		}
	case <-time.After(pollTimeout):
		t.Fatal("the run on b was not stopped by the cancel through a")
	}
}

// TestReplicaStaleDeploymentWriterIsRefused: a run writes its
// deployment's records while its lease is its own; once another replica
// has taken the lease over (the run's replica was paused past the
// expiry), the run's writes are refused and the record stays as the
// successor sees it.
func TestReplicaStaleDeploymentWriterIsRefused(t *testing.T) {
	b := provisionedReplicas(t, "b")[0]
	ctx := context.Background()
	path := deploymentPathOf(rgML, "fenced")
	key := arm.FoldKey(path)
	now := time.Now()
	l, err := store.AcquireLease(ctx, b.st, deploymentLease(key), "a", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	run := &deploymentRun{s: b.srv, lease: &l}
	rec := runningDeployment("fenced")
	run.save(rec)
	if _, out, _ := b.do("GET", path+deployVersion, ""); deployState(out) != deployRunning {
		t.Fatalf("the run's write under its lease: %v", out)
	}
	// "b" takes the lease over after it expired.
	if _, err := store.AcquireLease(ctx, b.st, deploymentLease(key), "b", now.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	rec.Properties.ProvisioningState = deploySucceeded
	run.save(rec)
	run.saveOperation(deploymentOperation{ID: path + "/operations/stale", OperationID: "stale"})
	if _, out, _ := b.do("GET", path+deployVersion, ""); deployState(out) != deployRunning {
		t.Fatalf("the stale run's write was not refused: %v", out)
	}
	if _, err := b.st.Get(ctx, path+"/operations/stale"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the stale run's operation record: %v", err)
	}
}

// jobReplica is a replica that runs jobs, each with its own job log
// directory (its machine's), and its blobs in the database.
func jobReplica(t *testing.T, url, dir, holder string) *client {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return replicaWith(t, url, dir, holder, Options{JobLogDir: filepath.Join(t.TempDir(), "jobs"), NodeDir: outsideDir(t, 0o711), Blobs: blob.OpenPostgres(st)})
}

// awaitJob polls job name through c until its status is one of want.
func (c *client) awaitJob(name string, want ...string) map[string]any {
	c.t.Helper()
	var p map[string]any
	poll(c.t, "job "+name+" to be "+strings.Join(want, " or "), 20*time.Millisecond, func() (bool, any) {
		p = c.job(name)
		return slices.Contains(want, fmt.Sprint(p["status"])), p
	})
	return p
}

// TestReplicaJobs: a job submitted through replica b runs on a (whose
// engine works); its log is read through b. A cancel through b stops it
// on a. When a loses its lease (taken over while a is alive), a stops
// the job it runs at once, and the replica that works next fails it with
// the true reason (ReplicaLost), never running it again; its log of
// the run is still read through either replica.
func TestReplicaJobs(t *testing.T) {
	url, dir := replicaDatabase(t)
	a := jobReplica(t, url, dir, "a")
	ctx := context.Background()
	awaitEngineLease(t, a.st, "a")
	b := jobReplica(t, url, dir, "b")
	provisionEnv(t, b, "")
	// The workspace's storage account keeps the jobs' logs once they end.
	storage := rgML + "/providers/Microsoft.Storage/storageAccounts/streplica"
	b.start("PUT", storage+"?api-version=2023-05-01", `{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`, http.StatusOK)
	if st, out, _ := b.do("PUT", wsML+mlVersion, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"friendlyName":"ws1","storageAccount":"`+storage+`"}}`); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("workspace: %d %v", st, out)
	}
	b.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 1, 1, "PT120S"), http.StatusCreated)

	b.submit("canceled", jobBody("cpu", "echo uid=$(id -u); sleep 600"))
	b.awaitJob("canceled", resources.JobRunning)
	uid := a.uidOf("canceled")
	if st, out, _ := b.do("POST", wsML+"/jobs/canceled/cancel"+mlVersion, ""); st != http.StatusAccepted && st != http.StatusOK {
		t.Fatalf("cancel through b: %d %v", st, out)
	}
	b.awaitJob("canceled", resources.JobCanceled)
	if left := procusers.Processes(uid); len(left) > 0 {
		t.Fatalf("the job canceled through b still runs on a: %v", left)
	}
	if got := b.log("canceled", "std_log.txt"); !strings.Contains(got, fmt.Sprintf("uid=%d", uid)) {
		t.Fatalf("the log read through b: %q", got)
	}

	// A finished job's outputs, kept on a's machine, are read through b
	// from the workspace's storage.
	b.submit("out", jobBody("cpu", "echo weights > ${{outputs.model}}/w.bin", `"outputs":{"model":{"jobOutputType":"uri_folder"}}`))
	if p := b.awaitJob("out", resources.JobCompleted, resources.JobFailed); p["status"] != resources.JobCompleted {
		t.Fatalf("job out: %v", p)
	}
	st, list, _ := b.do("GET", wsML+"/jobs/out/outputs"+mlVersion, "")
	if files := arm.Items(list, "value"); st != http.StatusOK || len(files) != 1 || files[0]["path"] != "model/w.bin" || files[0]["size"] != float64(8) {
		t.Fatalf("the outputs listed through b: %d %v", st, list)
	}
	if text, st := b.get("/jobs/out/outputs", "path=model/w.bin"); st != http.StatusOK || text != "weights\n" {
		t.Fatalf("model/w.bin through b: %d %q", st, text)
	}
	if _, st := b.get("/jobs/out/outputs", "path=model/none"); st != http.StatusNotFound {
		t.Fatalf("a missing output through b: %d", st)
	}

	b.submit("lost", jobBody("cpu", "echo uid=$(id -u); sleep 600"))
	b.awaitJob("lost", resources.JobRunning)
	uid = a.uidOf("lost")
	// Another holder takes the lease as if a's had expired (a paused or
	// cut off), for long enough that the test sees what a does alone.
	thief, err := json.Marshal(store.Lease{Name: provision.EngineLease, Holder: "thief", Token: store.NewETag(), Expires: time.Now().Add(15 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, store.Record{ID: engineLease, Type: store.LeaseType, Body: thief}, store.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	poll(t, "a to stop the job it no longer may run", patient, func() (bool, any) {
		left := procusers.Processes(uid)
		return len(left) == 0, left
	})
	if st := b.job("lost")["status"]; st != resources.JobRunning {
		t.Fatalf("the job was ended by a replica before the thief's lease expired: %v", st)
	}
	p := b.awaitJob("lost", resources.JobFailed, resources.JobCompleted, resources.JobCanceled)
	if p["status"] != resources.JobFailed || arm.EnsureField(p, "error")["code"] != "ReplicaLost" ||
		!strings.Contains(fmt.Sprint(arm.EnsureField(p, "error")["message"]), "replica a") {
		t.Fatalf("after the take-over: %v", p)
	}
	for _, c := range []*client{a, b} {
		if got := c.log("lost", "std_log.txt"); !strings.Contains(got, fmt.Sprintf("uid=%d", uid)) {
			t.Fatalf("the interrupted job's log: %q", got)
		}
	}
}
