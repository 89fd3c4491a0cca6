package api

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"securetrain/internal/resources"
)

// BenchmarkJobSubmitToCompleted: a PUT of a job that runs `true` on an
// idle node until the job reads Completed (sim fabric): queueing,
// claiming the node, a shell as the job's own user, collecting it and
// giving the node back. It reports the median latency.
func BenchmarkJobSubmitToCompleted(b *testing.B) {
	c, _ := benchServer(b, jobOptions(b, nil))
	provisionEnv(b, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 1, 1, "PT1H"), http.StatusCreated)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("b%d", i)
		i++
		start := time.Now()
		c.submit(name, jobBody("cpu", "true"))
		for {
			c.settle()
			if st := fmt.Sprint(c.job(name)["status"]); resources.JobTerminal(st) {
				if st != resources.JobCompleted {
					b.Fatalf("job %s: %s", name, st)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
