package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReplicaWrites: sustained resource writes (the NSG PUTs of
// BenchmarkResourceWrites) from 8 clients spread evenly over 1, 2 or 3
// replicas on one PostgreSQL database. Run it inside scripts/with-postgres
// (with SECURETRAIN_TEST_POSTGRES_OPTIONS="-c fsync=on" for durable
// commits, as SQLite's are).
func BenchmarkReplicaWrites(b *testing.B) {
	for _, replicas := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			url, dir := replicaDatabase(b)
			var cs []*client
			for i := range replicas {
				cs = append(cs, replica(b, url, dir, strconv.Itoa(i)))
			}
			mustDo(b, cs[0], "PUT", rgProbe+"?api-version=2021-04-01", `{"location":"eastus"}`, http.StatusCreated)
			writes(b, cs)
		})
	}
}

// BenchmarkSQLiteWrites is BenchmarkReplicaWrites' load on the one
// server an embedded store allows.
func BenchmarkSQLiteWrites(b *testing.B) {
	c, _ := benchServer(b)
	writes(b, []*client{c})
}

// writes PUTs b.N NSGs from 8 clients, client i through cs[i%len(cs)].
func writes(b *testing.B, cs []*client) {
	var n, clients atomic.Int64
	b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := cs[int(clients.Add(1))%len(cs)]
		for pb.Next() {
			i := n.Add(1)
			mustDo(b, c, "PUT", netProbe+"networkSecurityGroups/nsg-"+strconv.FormatInt(i, 10)+netVersion, nsgBody, http.StatusCreated)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}
