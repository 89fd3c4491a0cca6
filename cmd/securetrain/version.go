package main

import (
	"fmt"
	"io"
	"runtime"

	"securetrain/internal/servicetags"
)

func runVersion(_ []string, stdout, _ io.Writer) int {
	tags := servicetags.Default()
	fmt.Fprintf(stdout, "securetrain %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "embedded service tags: %s, %d tags, %d prefixes (%s)\n", tags.Version(), tags.Len(), tags.PrefixCount(), tags.Source)
	return 0
}
