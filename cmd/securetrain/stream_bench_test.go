package main

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stampReader receives `job create --stream`'s output and records, for
// each line "t NANOSECONDS" the job wrote, how long after the write it
// arrived.
type stampReader struct {
	mu      sync.Mutex
	partial []byte
	lags    []time.Duration
}

func (s *stampReader) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		if ns, ok := strings.CutPrefix(line, "t "); ok {
			if at, err := strconv.ParseInt(ns, 10, 64); err == nil {
				s.lags = append(s.lags, now.Sub(time.Unix(0, at)))
			}
		}
	}
}

// BenchmarkJobStreamLatency: how long after a job's process writes a line
// to its log a `job create --stream` reader prints it (sim fabric, through
// the API over HTTP). Each iteration is a job writing 20 lines 50 ms
// apart, each stamped with the time it was written; the metrics are over
// every line of every iteration.
func BenchmarkJobStreamLatency(b *testing.B) {
	startJobServer(b)
	file := writeFile(b, "job.yml", "command: for i in $(seq 1 20); do echo \"t $(date +%s%N)\"; sleep 0.05; done\n"+
		"environment: azureml:sklearn:1\ncompute: azureml:cpucluster\n")
	r := &stampReader{}
	n := 0
	for b.Loop() {
		n++
		args := []string{"job", "create", "-f", file, "--name", "stream" + strconv.Itoa(n), "--stream", "--subscription", testSub, "-g", "mlgroup", "-w", "ws1"}
		if code := run(args, r, io.Discard); code != 0 {
			b.Fatalf("job create --stream: exit %d", code)
		}
	}
	lags := slices.Clone(r.lags)
	if len(lags) != 20*n {
		b.Fatalf("%d stamped lines arrived, want %d", len(lags), 20*n)
	}
	slices.Sort(lags)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lags[len(lags)/2]), "ms-p50")
	b.ReportMetric(ms(lags[len(lags)*9/10]), "ms-p90")
	b.ReportMetric(ms(lags[len(lags)-1]), "ms-max")
}
