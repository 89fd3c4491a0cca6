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

// BenchmarkJobQueueDrain: 1,000 short jobs queued at once on a 4-node
// cluster drain in order; it reports jobs per second from the first PUT
// to the last Completed.
func BenchmarkJobQueueDrain(b *testing.B) {
	const jobs = 1000
	for b.Loop() {
		b.StopTimer()
		c, _ := benchServer(b, jobOptions(b, nil))
		provisionEnv(b, c, "")
		c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 4, 4, "PT1H"), http.StatusCreated)
		b.StartTimer()
		start := time.Now()
		for i := range jobs {
			c.submit(fmt.Sprintf("q%d", i), jobBody("cpu", "true"))
		}
		for i := range jobs {
			for {
				c.settle()
				if st := fmt.Sprint(c.job(fmt.Sprintf("q%d", i))["status"]); resources.JobTerminal(st) {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		b.ReportMetric(jobs/time.Since(start).Seconds(), "jobs/s")
	}
}
