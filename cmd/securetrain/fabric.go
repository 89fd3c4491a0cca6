package main

import (
	"fmt"
	"io"

	"securetrain/internal/fabric/netns"
)

// runFabric: `fabric status|cleanup [--instance NAME]` shows or removes
// the namespaces netns fabrics created on this host (all of them, or one
// server's). Cleanup is for what a killed server left: a running server
// removes its own on stop.
func runFabric(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fabric", "status|cleanup [--instance NAME]", stderr)
	instance := fs.String("instance", "", "only this server's fabric (serve --fabric-instance); default: every securetrain namespace")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 || (rest[0] != "status" && rest[0] != "cleanup") {
		fmt.Fprintln(stderr, "usage: securetrain fabric status|cleanup [--instance NAME]")
		return exitBadInput
	}
	prefix := netns.NamePrefix
	if *instance != "" {
		prefix += *instance + "-"
	}
	if rest[0] == "cleanup" {
		removed, err := netns.Cleanup(prefix)
		for _, name := range removed {
			fmt.Fprintf(stdout, "removed %s\n", name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "securetrain fabric cleanup: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d namespaces removed\n", len(removed))
		return 0
	}
	list, err := netns.Status(prefix)
	for _, ns := range list {
		fmt.Fprintf(stdout, "%s  (%d rules)\n", ns.Name, ns.Rules)
		for _, l := range ns.Links {
			fmt.Fprintf(stdout, "    %s\n", l)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "securetrain fabric status: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d namespaces\n", len(list))
	return 0
}
