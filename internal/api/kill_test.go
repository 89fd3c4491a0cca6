package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/fabric"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// killServerEnv makes the test binary a server on the data directory it
// names (TestKill9DuringWrites re-executes itself).
const killServerEnv = "SECURETRAIN_TEST_KILL_SERVER"

// TestKill9DuringWrites: a server process takes a burst of API writes —
// new route tables and new subnets of one VNet, from 4 clients — and is
// killed with SIGKILL in the middle. Reopened, the store holds every
// write the server acknowledged, and every record decodes (no half-applied
// write). Issue 4 §2, §8.
func TestKill9DuringWrites(t *testing.T) {
	if dir := os.Getenv(killServerEnv); dir != "" {
		runKillServer(t, dir)
		return
	}
	dir := filepath.Join(t.TempDir(), "data") // the store creates it 0700
	c, cmd, _ := startKillServer(t, dir)
	if st, _, _ := c.do("PUT", rgProbe+"?api-version=2021-04-01", `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d", st)
	}
	if st, _, _ := c.do("PUT", vnetProbe+netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/8"]}}}`); st != http.StatusCreated {
		t.Fatalf("vnet: %d", st)
	}

	var mu sync.Mutex
	var acked []string
	enough := make(chan struct{}) // closed at the 300th acknowledged write
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path, body := fmt.Sprintf("%srouteTables/rt-%d-%d", netProbe, w, i), `{"location":"eastus"}`
				if i%2 == 1 {
					path, body = fmt.Sprintf("%s/subnets/s-%d-%d", vnetProbe, w, i), fmt.Sprintf(`{"properties":{"addressPrefix":"10.%d.%d.0/24"}}`, 1+w, i%256)
					if i >= 512 {
						continue // the prefixes of this writer are used up
					}
				}
				req, _ := http.NewRequest("PUT", c.base+path+netVersion, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.token)
				resp, err := hc.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked = append(acked, path)
					if len(acked) == 300 {
						close(enough)
					}
					mu.Unlock()
				} else {
					t.Errorf("PUT %s: %d", path, resp.StatusCode)
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	select {
	case <-enough:
	case <-writersDone:
		t.Fatal("the writers stopped before 300 acknowledged writes")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()

	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, p := range acked {
		if strings.Contains(p, "/subnets/") {
			ok, err := storedExists(ctx, st, mustParse(t, p))
			if err != nil || !ok {
				t.Errorf("acknowledged subnet %s lost (%v)", p, err)
			}
			continue
		}
		if _, err := st.Get(ctx, p); err != nil {
			t.Errorf("acknowledged %s lost: %v", p, err)
		}
	}
	// Everything on disk decodes: no record is half written.
	page, err := st.List(ctx, store.Query{Scope: rgProbe})
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for _, rec := range page.Records {
		if kindOf(rec.Type) != nil {
			bodies = append(bodies, rec.Body)
		}
	}
	if _, err := resources.DecodeARM(bodies, nil); err != nil {
		t.Fatalf("the store does not decode after the kill: %v", err)
	}
	t.Logf("%d writes acknowledged before SIGKILL, all present; %d records on disk", len(acked), len(page.Records))
}

// hangBootEnv makes the server's fabric boot this many nodes, then say
// so on stdout and hang on the next boot, so that a kill lands in the
// middle of an operation.
const hangBootEnv = "SECURETRAIN_TEST_HANG_BOOT"

// killStoreEnv puts the server's records in the PostgreSQL database it
// names, and killHolderEnv makes it a replica holding leases under that
// name (TestKill9ReplicaMidResize).
const (
	killStoreEnv  = "SECURETRAIN_TEST_KILL_STORE"
	killHolderEnv = "SECURETRAIN_TEST_KILL_HOLDER"
)

// hangingBoots is the line the server prints when its fabric hangs.
const hangingBoots = "fabric: boot hangs"

type hangingFabric struct {
	*fabric.Sim
	mu    sync.Mutex
	boots int // left before the hang
}

func (f *hangingFabric) Boot(ctx context.Context, n fabric.Node) error {
	f.mu.Lock()
	f.boots--
	hang := f.boots < 0
	f.mu.Unlock()
	if hang {
		fmt.Println(hangingBoots)
		<-ctx.Done() // until the process is killed
		return ctx.Err()
	}
	return f.Sim.Boot(ctx, n)
}

// runKillServer serves the API on a loopback port until killed, resuming
// pending operations as serve does.
func runKillServer(t *testing.T, dir string) {
	var st store.Store
	var err error
	if url := os.Getenv(killStoreEnv); url != "" {
		st, err = store.OpenPostgres(context.Background(), url)
	} else {
		st, err = store.OpenSQLite(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureAdmin(context.Background(), st, dir); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Quotas: provision.Quotas{CoresPerFamily: 1 << 20, TotalCores: 1 << 20}}
	if n, err := strconv.Atoi(os.Getenv(hangBootEnv)); err == nil {
		opts.Fabric = &hangingFabric{Sim: fabric.NewSim(), boots: n}
	}
	if holder := os.Getenv(killHolderEnv); holder != "" {
		opts.Replica = replicaLease(holder)
	}
	if nodes := os.Getenv(nodeDirEnv); nodes != "" {
		opts.JobLogDir, opts.NodeDir = filepath.Join(dir, "jobs"), nodes
	}
	srv := NewWithOptions(st, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	go srv.Background(context.Background())
	fmt.Println(l.Addr().String())
	http.Serve(l, srv)
}

// startKillServer runs the test binary as a server on dir (env adds to
// its environment) and returns a client of it, the process and the rest
// of its stdout.
func startKillServer(t *testing.T, dir string, env ...string) (*client, *exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringWrites$")
	cmd.Env = append(append(os.Environ(), killServerEnv+"="+dir), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewReader(out)
	addr, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: "http://" + strings.TrimSpace(addr), token: strings.TrimSpace(string(tok))}, cmd, lines
}

// killMidResize provisions the test environment through c, creates the
// cluster cpu and begins a resize of it to 30 nodes; once the server of
// cmd (started with hangBootEnv=10, stdout the rest of its output) hangs
// in its 11th boot, it is SIGKILLed. It returns the resize's operation.
func killMidResize(t *testing.T, c *client, cmd *exec.Cmd, stdout *bufio.Reader) string {
	t.Helper()
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 30, "PT1H"), http.StatusCreated)
	op := c.begin("POST", wsML+"/computes/cpu/resize"+mlVersion, resize(30), http.StatusAccepted)
	if line, err := stdout.ReadString('\n'); err != nil || strings.TrimSpace(line) != hangingBoots {
		t.Fatalf("the server did not reach its 11th boot: %q %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return op
}

// TestKill9DuringProvisioning: a server is SIGKILLed while it brings up
// the nodes of a resize; started again, it resumes the operation and
// completes it, with every node given exactly one address and no address
// left behind (issue 5 §2, §6).
func TestKill9DuringProvisioning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // the store creates it 0700
	c, cmd, stdout := startKillServer(t, dir, hangBootEnv+"=10")
	op := killMidResize(t, c, cmd, stdout)
	st2, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	var status string
	if err := st2.View(context.Background(), func(rd store.Reader) error {
		opID, _, _ := strings.Cut(op, "?")
		rec, err := rd.Get(context.Background(), opID)
		if err == nil {
			status = string(rec.Body)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st2.Close()
	if !strings.Contains(status, `"status":"InProgress"`) {
		t.Fatalf("the kill did not land mid-operation: %s", status)
	}

	c, _, _ = startKillServer(t, dir)
	if status := c.wait(op); status["status"] != "Succeeded" {
		t.Fatalf("after restart: %v", status)
	}
	idleOnce(t, c, "cpu", 30)
	// No address was given twice or left behind: exactly one allocation
	// per node (read through a second connection; SQLite allows it).
	st3, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st3.Close()
	if n := countRecords(t, st3, vnetNet+"/subnets/compute/addresses"); n != 30 {
		t.Fatalf("%d addresses allocated for 30 nodes", n)
	}
}

// idleOnce checks that the cluster name has want nodes, each idle with
// an address of its own.
func idleOnce(t *testing.T, c *client, name string, want int) {
	t.Helper()
	nodes := c.nodes(name)
	seen := map[string]bool{}
	for _, n := range nodes {
		if n["nodeState"] != "idle" || seen[arm.Str(n, "privateIpAddress")] {
			t.Fatalf("node %v (duplicate address or not ready)", n)
		}
		seen[arm.Str(n, "privateIpAddress")] = true
	}
	if len(nodes) != want {
		t.Fatalf("%d nodes in %s, want %d", len(nodes), name, want)
	}
}

func mustParse(t *testing.T, id string) arm.ID {
	t.Helper()
	p, err := arm.ParseID(id, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
