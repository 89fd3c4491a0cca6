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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/arm"
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
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringWrites$")
	cmd.Env = append(os.Environ(), killServerEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: "http://" + strings.TrimSpace(addr), token: strings.TrimSpace(string(tok))}
	if st, _, _ := c.do("PUT", rgProbe+"?api-version=2021-04-01", `{"location":"eastus"}`); st != http.StatusCreated {
		t.Fatalf("resource group: %d", st)
	}
	if st, _, _ := c.do("PUT", vnetProbe+netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/8"]}}}`); st != http.StatusCreated {
		t.Fatalf("vnet: %d", st)
	}

	var mu sync.Mutex
	var acked []string
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
					mu.Unlock()
				} else {
					t.Errorf("PUT %s: %d", path, resp.StatusCode)
					return
				}
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(time.Millisecond)
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

// runKillServer serves the API on a loopback port until killed.
func runKillServer(t *testing.T, dir string) {
	st, err := store.OpenSQLite(dir)
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
	fmt.Println(l.Addr().String())
	http.Serve(l, New(st, slog.New(slog.NewTextHandler(io.Discard, nil))))
}

func mustParse(t *testing.T, id string) arm.ID {
	t.Helper()
	p, err := arm.ParseID(id, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
