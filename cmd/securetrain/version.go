package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"securetrain/internal/servicetags"
)

func runVersion(_ []string, stdout, _ io.Writer) int {
	info, _ := debug.ReadBuildInfo()
	tags := servicetags.Default()
	fmt.Fprintf(stdout, "securetrain %s (%s %s/%s)\n", buildVersion(version, info), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "embedded service tags: %s, %d tags, %d prefixes (%s)\n", tags.Version(), tags.Len(), tags.PrefixCount(), tags.Source)
	return 0
}

// buildVersion says which build this is: the version set at link time
// (-ldflags "-X main.version=…"), else the module version `go install
// …@version` records, then the VCS revision `go build` records in a
// checkout, marked when the tree had uncommitted changes.
func buildVersion(linked string, info *debug.BuildInfo) string {
	v := linked
	if info == nil {
		return v
	}
	if v == "dev" && info.Main.Version != "" {
		v = info.Main.Version
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		v += ", revision " + rev[:min(len(rev), 12)]
		if settings["vcs.modified"] == "true" {
			v += " with uncommitted changes"
		}
		if at := settings["vcs.time"]; at != "" {
			v += ", committed " + at
		}
	}
	return v
}
