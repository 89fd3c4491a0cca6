// Command securetrain verifies Azure-style secure training networks: which
// flows their NSGs, routes, firewalls and DNS allow, and why.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"securetrain/internal/fabric/netns"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitBadInput is the exit code for unusable input (files, flags).
const exitBadInput = 2

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"check", "check every compute against Azure ML's secure-training requirements", runCheck},
		{"flow", "verify one flow (or a set of flows) and explain the verdict", runFlow},
		{"gen", "generate a large environment file (benchmarks)", runGen},
		{"serve", "run the ARM-compatible control plane (HTTPS, store in --data)", runServe},
		{"principal", "manage principals: principal create NAME, principal token rotate|revoke NAME", runPrincipal},
		{"role", "assign roles: role assign --principal P --role R --scope S", runRole},
		{"backup", "copy the store consistently, even while the server runs: backup --data DIR FILE", runBackup},
		{"migrate", "copy the embedded store of a data directory into an empty PostgreSQL database", runMigrate},
		{"get", "show a resource of the server by id (SECURETRAIN_URL, SECURETRAIN_TOKEN)", runGet},
		{"list", "list a collection of the server, e.g. /subscriptions/S/resourceGroups", runList},
		{"delete", "delete a resource of the server by id", runDelete},
		{"apply", "create or update on the server the resources of an environment file (apply -f ENV)", runApply},
		{"deploy", "deploy an ARM template on the server, showing each resource's progress (deploy --template T.json --resource-group G)", runDeploy},
		{"export", "write the server's resources of a subscription as an environment file", runExport},
		{"compute", "create and run Azure ML computes on the server: compute create|show|list|resize|stop|start|restart|delete|nodes", runCompute},
		{"fabric", "the netns fabric's namespaces on this host: fabric status|cleanup [--instance NAME]", runFabric},
		{"job", "submit and follow Azure ML command jobs on the server: job create -f job.yml [--stream]|show|list|stream|cancel", runJob},
		{"version", "print the version and the embedded service-tag catalog", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitBadInput
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		return runVersion(nil, stdout, stderr)
	}
	if args[0] == agentCommand {
		return runAgent(args[1:], stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "securetrain: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitBadInput
}

// agentCommand is the node agent (not listed: the netns fabric starts it
// in each node's namespace, docs/security.md).
const agentCommand = "agent"

// runAgent is the node agent: probes on stdin, results on stdout.
func runAgent(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "securetrain agent: no arguments, got %q (the netns fabric starts it)\n", args)
		return exitBadInput
	}
	if err := netns.AgentMain(os.Stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "securetrain agent: %v\n", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: securetrain COMMAND [arguments]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run securetrain COMMAND -h for a command's flags.")
}

// parseArgs parses flags that may come before or after positional
// arguments ("flow ENV --from X" as well as "flow --from X ENV"). -h
// prints the usage; a bad flag prints its error and one line pointing at
// -h, so the error is not buried under the usage.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			fs.SetOutput(out)
			if errors.Is(err, flag.ErrHelp) {
				usage()
			} else {
				badUsage(fs, "%v", err)
			}
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// badUsage reports a mistake in a command's arguments: the error, then
// where the usage is. It returns the exit code for bad input.
func badUsage(fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(fs.Output(), "securetrain %s: %s\nRun 'securetrain %s --help' for its usage.\n", fs.Name(), fmt.Sprintf(format, a...), fs.Name())
	return exitBadInput
}

// newFlagSet makes a flag set whose errors and help go to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: securetrain %s %s\n\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// flagExit maps a flag parsing error to an exit code (-h is success).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return exitBadInput
}

func oneOf(value string, allowed ...string) error {
	for _, a := range allowed {
		if strings.EqualFold(value, a) {
			return nil
		}
	}
	return fmt.Errorf("%q must be one of %s", value, strings.Join(allowed, ", "))
}
