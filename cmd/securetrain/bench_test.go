package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"securetrain/internal/envgen"
)

// largeFile writes the benchmark environment (`securetrain gen`) once.
func largeFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "large.json")
	if err := os.WriteFile(path, envgen.Generate(envgen.Large()), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchCommand runs a command end to end in this process (reading the
// file, decoding, compiling, the command's own work, writing to a
// discarding stdout) and reports the peak heap in use while it ran.
func benchCommand(b *testing.B, args ...string) {
	var peak uint64
	for b.Loop() {
		runtime.GC()
		done := make(chan struct{})
		sampled := make(chan uint64)
		go func() { sampled <- sampleHeap(done) }()
		if code := run(args, io.Discard, io.Discard); code != 1 {
			b.Fatalf("exit %d, want 1 (the environment has error findings and blocked flows)", code)
		}
		close(done)
		peak = max(peak, <-sampled)
	}
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
}

// sampleHeap returns the largest heap in use seen until done is closed,
// sampling every 10 ms (reading the statistics stops the world).
func sampleHeap(done chan struct{}) uint64 {
	var peak uint64
	var m runtime.MemStats
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
		select {
		case <-done:
			return peak
		case <-tick.C:
		}
	}
}

// BenchmarkCheckCommandLarge: `securetrain check large.json` (issue 16
// point 7: ≤ 2.5 s, ≤ 600 MiB peak RSS, measured on the binary with
// /usr/bin/time; docs/performance.md).
func BenchmarkCheckCommandLarge(b *testing.B) {
	path := largeFile(b)
	b.Run("text", func(b *testing.B) { benchCommand(b, "check", path) })
	b.Run("json", func(b *testing.B) { benchCommand(b, "check", "--format", "json", path) })
}

// BenchmarkFlowCommandLarge: `securetrain flow large.json …` (≤ 1.5 s).
func BenchmarkFlowCommandLarge(b *testing.B) {
	path := largeFile(b)
	benchCommand(b, "flow", path, "--from", "mlws/c10", "--to", "Storage.WestUS2", "--protocol", "TCP", "--port", "443")
}
