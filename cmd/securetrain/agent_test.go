package main

import (
	"os"
	"testing"
)

// TestMain lets this test binary be the node agent, as the securetrain
// binary is: serve, run inside the tests, starts its node agents as
// /proc/self/exe agent.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == agentCommand {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
