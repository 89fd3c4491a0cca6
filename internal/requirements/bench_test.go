package requirements

import (
	"sync"
	"testing"

	"securetrain/internal/envgen"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

var (
	largeOnce sync.Once
	largeNet  *netverify.Network
)

// BenchmarkCheckLarge: check of envgen.Large() — 1,000 computes over 100
// VNets with the full cn375 catalog (issue 3 target: ≤ 2 s).
func BenchmarkCheckLarge(b *testing.B) {
	largeOnce.Do(func() {
		snap, err := resources.DecodeFile("large.json", envgen.Generate(envgen.Large()))
		if err != nil {
			b.Fatal(err)
		}
		if largeNet, err = netverify.Compile(snap, servicetags.Default()); err != nil {
			b.Fatal(err)
		}
	})
	for b.Loop() {
		rep, err := Check(largeNet, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Computes) != 1000 {
			b.Fatalf("%d computes", len(rep.Computes))
		}
	}
}
