package requirements

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/envgen"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

var (
	largeOnce sync.Once
	largeNet  *netverify.Network
	largeSnap *resources.Snapshot
)

// largeNetwork decodes and compiles envgen.Large() once per test binary.
func largeNetwork(b *testing.B) *netverify.Network {
	largeOnce.Do(func() {
		var err error
		if largeSnap, err = resources.DecodeFile("large.json", envgen.Generate(envgen.Large())); err != nil {
			b.Fatal(err)
		}
		if largeNet, err = netverify.Compile(largeSnap, servicetags.Default()); err != nil {
			b.Fatal(err)
		}
	})
	return largeNet
}

// BenchmarkCheckLarge: check of envgen.Large() — 1,000 computes over 100
// VNets with the full cn375 catalog (issue 3 target: ≤ 2 s).
func BenchmarkCheckLarge(b *testing.B) {
	n := largeNetwork(b)
	for b.Loop() {
		rep, err := Check(n, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Computes) != 1000 {
			b.Fatalf("%d computes", len(rep.Computes))
		}
	}
}

// BenchmarkCheckLargeCold is BenchmarkCheckLarge on a freshly compiled
// network each time: the NSG indexes and route tables the check builds on
// first use are part of what it measures, as in `securetrain check`.
// Compiling is outside the timer; the report is streamed and dropped.
func BenchmarkCheckLargeCold(b *testing.B) {
	largeNetwork(b)
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		n, err := netverify.Compile(largeSnap, servicetags.Default())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		before := cpuTime(b)
		computes := 0
		if _, err := CheckEach(n, Options{}, func(ComputeReport) error { computes++; return nil }); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - before
		if computes != 1000 {
			b.Fatalf("%d computes", computes)
		}
	}
	// The CPU time does not depend on how busy the machine is as much as
	// the time per check does.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the user and system time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
