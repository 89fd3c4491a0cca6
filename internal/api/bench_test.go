package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"securetrain/internal/provision"
	"securetrain/internal/store"
)

// benchServer starts a server on a fresh store over loopback HTTP, with
// rg-probe and its VNet, and returns a client and the data directory.
func benchServer(b *testing.B, opts ...Options) (*client, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "data") // the store creates it 0700
	st, err := store.OpenSQLite(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	tok := adminToken(b, st, dir)
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c := serveTest(b, NewWithOptions(st, slog.New(slog.NewTextHandler(io.Discard, nil)), o), st, dir, tok)
	mustDo(b, c, "PUT", rgProbe+"?api-version=2021-04-01", `{"location":"eastus"}`, http.StatusCreated)
	mustDo(b, c, "PUT", vnetProbe+netVersion, `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/8"]},"subnets":[{"name":"snet-compute","properties":{"addressPrefix":"10.0.1.0/24"}}]}}`, http.StatusCreated)
	return c, dir
}

func mustDo(b *testing.B, c *client, method, path, body string, want int) {
	b.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
}

// nsgBody is a realistic write: an NSG with three rules, validated by the
// decoder on its way in.
const nsgBody = `{"location":"eastus","properties":{"securityRules":[` +
	`{"name":"AllowAzureMLInbound","properties":{"access":"Allow","destinationAddressPrefix":"VirtualNetwork","destinationPortRange":"44224","direction":"Inbound","priority":100,"protocol":"Tcp","sourceAddressPrefix":"AzureMachineLearning","sourcePortRange":"*"}},` +
	`{"name":"AllowBatch","properties":{"access":"Allow","destinationAddressPrefix":"BatchNodeManagement.eastus","destinationPortRange":"443","direction":"Outbound","priority":110,"protocol":"*","sourceAddressPrefix":"VirtualNetwork","sourcePortRange":"*"}},` +
	`{"name":"DenySSH","properties":{"access":"Deny","destinationAddressPrefixes":["10.0.1.0/24"],"destinationPortRanges":["22","3389"],"direction":"Inbound","priority":200,"protocol":"*","sourceAddressPrefix":"Internet","sourcePortRange":"*"}}]}}`

// BenchmarkResourceWrites: sustained resource writes through the API (an
// NSG PUT over loopback HTTP: authentication, RBAC, locks, policy,
// validation, one durable SQLite transaction), from 4 concurrent clients.
func BenchmarkResourceWrites(b *testing.B) {
	c, _ := benchServer(b)
	var n atomic.Int64
	b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 clients
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			mustDo(b, c, "PUT", netProbe+"networkSecurityGroups/nsg-"+strconv.FormatInt(i, 10)+netVersion, nsgBody, http.StatusCreated)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

// BenchmarkAt100kResources stores 100,000 resources (NSGs with three
// rules, written through the store in batches to save time), then measures
// a PUT and a GET through the API at that size, and reports the server's
// heap, the process's RSS and the database's size.
func BenchmarkAt100kResources(b *testing.B) {
	c, dir := benchServer(b)
	ctx := context.Background()
	const total, batch = 100_000, 1000
	for start := 0; start < total; start += batch {
		err := c.st.Update(ctx, func(tx store.Tx) error {
			for i := start; i < start+batch; i++ {
				id := netProbe + "networkSecurityGroups/bulk-" + strconv.Itoa(i)
				body := `{"id":"` + id + `","name":"bulk-` + strconv.Itoa(i) + `","type":"Microsoft.Network/networkSecurityGroups",` + nsgBody[1:]
				if _, err := tx.Put(ctx, store.Record{ID: id, Type: typeNSG, Body: []byte(body)}, store.Condition{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		mustDo(b, c, "PUT", netProbe+"networkSecurityGroups/new-"+strconv.Itoa(i)+netVersion, nsgBody, http.StatusCreated)
		mustDo(b, c, "GET", netProbe+"networkSecurityGroups/bulk-"+strconv.Itoa(i*7919%total)+netVersion, "", http.StatusOK)
		i++
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(rssMiB(), "rss-MiB")
	for _, f := range []struct{ file, unit string }{{store.DBFile, "db-MiB"}, {store.DBFile + "-wal", "wal-MiB"}} {
		if fi, err := os.Stat(filepath.Join(dir, f.file)); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), f.unit)
		}
	}
}

// rssMiB is this process's resident set size.
func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// bigQuotas lift the core quotas for the provisioning benchmarks.
var bigQuotas = Options{Quotas: provision.Quotas{CoresPerFamily: 1 << 20, TotalCores: 1 << 20, PublicIPAddresses: 1 << 20, LoadBalancers: 1 << 20, NetworkSecurityGroups: 1 << 20}}

// waitOp polls an operation tightly (1 ms), for latency measurements.
func waitOp(b *testing.B, c *client, op string) string {
	var s string
	poll(b, "operation "+op, time.Millisecond, func() (bool, any) {
		st, status, _ := c.do("GET", strings.TrimPrefix(op, c.base), "")
		s, _ = status["status"].(string)
		return st != http.StatusOK || s != "InProgress", status
	})
	return s
}

// BenchmarkInstanceCreate: a compute instance with public IP, from PUT to
// Succeeded on the sim fabric through the API (the verifier checks its
// flows; its NSG, load balancer and public IP are created).
func BenchmarkInstanceCreate(b *testing.B) {
	c, _ := benchServer(b, bigQuotas)
	provisionEnv(b, c, "")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		st, out, hdr := c.do("PUT", fmt.Sprintf("%s/computes/ci%dx%s", wsML, i, mlVersion), instanceBody)
		if st != http.StatusCreated {
			b.Fatalf("PUT: %d %v", st, out)
		}
		if s := waitOp(b, c, hdr.Get("Azure-AsyncOperation")); s != "Succeeded" {
			b.Fatalf("instance %d: %s", i, s)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkClusterScale1000: a cluster in a /20 from 0 to 1,000 nodes
// (addresses, node records, fabric, one verifier check), through the API.
func BenchmarkClusterScale1000(b *testing.B) {
	c, _ := benchServer(b, bigQuotas)
	provisionEnv(b, c, "")
	mustDo(b, c, "PUT", wsML+"/computes/big"+mlVersion, clusterBody("large", 0, 1000, "PT1H"), http.StatusCreated)
	poll(b, "cluster big created", time.Millisecond, func() (bool, any) {
		props, _ := c.compute("big")
		return props["provisioningState"] == "Succeeded", props
	})
	for b.Loop() {
		st, out, hdr := c.do("POST", wsML+"/computes/big/resize"+mlVersion, resize(1000))
		if st != http.StatusAccepted {
			b.Fatalf("resize: %d %v", st, out)
		}
		if s := waitOp(b, c, hdr.Get("Azure-AsyncOperation")); s != "Succeeded" {
			b.Fatalf("scale to 1000: %s", s)
		}
		b.StopTimer()
		_, _, hdr = c.do("POST", wsML+"/computes/big/resize"+mlVersion, resize(0))
		if s := waitOp(b, c, hdr.Get("Azure-AsyncOperation")); s != "Succeeded" {
			b.Fatalf("scale to 0: %s", s)
		}
		b.StartTimer()
	}
}
