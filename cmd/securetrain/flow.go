package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

const flowSynopsis = "ENV --from SRC --to DST --protocol TCP|UDP|ICMP|Any --port N [--source-port N] [--direction outbound|inbound] [--format text|json] [--service-tags FILE]"

func runFlow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("flow", flowSynopsis, stderr)
	from := fs.String("from", "", "source: compute (ws/name or id), subnet/NIC/private endpoint id, IP, CIDR, range or service tag")
	to := fs.String("to", "", "destination: as --from, or a DNS name")
	protocol := fs.String("protocol", "TCP", "TCP, UDP, ICMP, ESP, AH or Any")
	port := fs.Int("port", 0, "destination port (TCP/UDP)")
	sourcePort := fs.Int("source-port", 0, fmt.Sprintf("source port (default: an ephemeral port, %d)", netverify.DefaultSourcePort))
	direction := fs.String("direction", "", "outbound (SRC inside) or inbound (DST inside, SRC outside); inferred when omitted")
	format := fs.String("format", "text", "text or json")
	tagsFile := fs.String("service-tags", "", "ServiceTags_Public JSON file (default: the embedded catalog)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "securetrain flow: "+format+"\n", a...)
		return exitBadInput
	}
	switch {
	case len(pos) != 1:
		return badUsage(fs, "expected one environment file, got %d arguments", len(pos))
	case *from == "" || *to == "":
		return badUsage(fs, "--from and --to are required")
	}
	if err := oneOf(*format, "text", "json"); err != nil {
		return fail("--format %v", err)
	}
	q := netverify.Query{Direction: netverify.Direction(strings.ToLower(*direction))}
	if q.Protocol, err = netverify.ParseProtocol(*protocol); err != nil {
		return fail("--protocol: %v", err)
	}
	if *port < 0 || *port > 65535 {
		return fail("--port %d is outside 0-65535", *port)
	}
	if *sourcePort < 0 || *sourcePort > 65535 {
		return fail("--source-port %d is outside 0-65535", *sourcePort)
	}
	q.Port, q.SourcePort = uint16(*port), uint16(*sourcePort)
	if q.Port == 0 && (q.Protocol == netverify.TCP || q.Protocol == netverify.UDP) {
		return fail("--port is required for %s", q.Protocol)
	}
	if *direction != "" {
		if err := oneOf(*direction, string(netverify.DirectionOutbound), string(netverify.DirectionInbound)); err != nil {
			return fail("--direction %v", err)
		}
	}
	net, err := compileFile(pos[0], *tagsFile, newProgress(stderr))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadInput
	}
	if q.From, err = net.ParseEndpoint(*from); err != nil {
		return fail("--from: %v", err)
	}
	if q.To, err = net.ParseEndpoint(*to); err != nil {
		return fail("--to: %v", err)
	}
	res, err := net.Flow(q)
	var ee *netverify.EndpointError
	switch {
	case errors.As(err, &ee) && ee.Destination:
		return fail("--to %s %v", *to, ee.Err)
	case errors.As(err, &ee):
		return fail("--from %s %v", *from, ee.Err)
	case errors.Is(err, netverify.ErrDirection):
		return fail("--direction %s does not fit: %v", *direction, err)
	case err != nil:
		return fail("%v", err)
	}
	if strings.EqualFold(*format, "json") {
		if err := writeJSON(stdout, res); err != nil {
			return fail("%v", err)
		}
	} else {
		writeFlowText(stdout, res, isTerminal(stdout))
	}
	if res.Verdict == netverify.Allowed {
		return 0
	}
	return 1
}

// batchMemoryLimit is the heap size `check` and `flow` ask the garbage
// collector to stay under (GOMEMLIMIT overrides it). The compiled network
// of a large environment is about 300 MiB live; collecting only when the
// heap doubles let the process reach 850 MB, while this limit keeps it
// at 533 MB for little more collector time (docs/performance.md).
const batchMemoryLimit = 512 << 20

// compileFile loads an environment file and a catalog and compiles them.
// The decoded strings share the file's bytes (read once, not copied).
func compileFile(path, tagsFile string, p *progress) (*netverify.Network, error) {
	return compile(path, tagsFile, p, func() (*resources.Snapshot, error) { return resources.LoadFile(path) })
}

// compileData decodes and compiles an environment file's content, named
// path in messages.
func compileData(path string, data []byte, tagsFile string, p *progress) (*netverify.Network, error) {
	return compile(path, tagsFile, p, func() (*resources.Snapshot, error) { return resources.DecodeFile(path, data) })
}

// compile loads a catalog, decodes an environment file with decode and
// compiles them.
func compile(path, tagsFile string, p *progress, decode func() (*resources.Snapshot, error)) (*netverify.Network, error) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(batchMemoryLimit)
		if os.Getenv("GOGC") == "" {
			// What is decoded and compiled stays live until the command
			// ends: a collection while loading frees little and marks
			// everything (three per large file), so only the limit above
			// may trigger one until the network is compiled
			// (docs/performance.md).
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
		}
	}
	// The catalog is read beside the file: decoding leaves a core idle
	// while it registers what it decoded in file order.
	type loaded struct {
		tags *servicetags.Catalog
		err  error
	}
	catalog := make(chan loaded, 1)
	go func() {
		if tagsFile == "" {
			catalog <- loaded{tags: servicetags.Default()}
			return
		}
		tags, err := servicetags.Load(tagsFile)
		catalog <- loaded{tags, err}
	}()
	p.step("decoding %s", path)
	snap, err := decode()
	c := <-catalog
	if c.err != nil { // a bad catalog is reported first, as before
		err = c.err
	}
	if err != nil {
		p.done()
		return nil, err
	}
	tags := c.tags
	p.step("compiling %s", path)
	net, err := netverify.Compile(snap, tags)
	p.done()
	if err != nil {
		return nil, fmt.Errorf("%s:\n%w", path, err)
	}
	return net, nil
}

// isTerminal reports whether colour is wanted: stdout is a terminal and
// NO_COLOR is not set.
func isTerminal(w io.Writer) bool {
	return os.Getenv("NO_COLOR") == "" && interactive(w)
}

// paint colours a verdict for a terminal: green allowed, yellow partly,
// red otherwise.
func paint(v netverify.Verdict, color bool) string {
	code := "31"
	switch v {
	case netverify.Allowed:
		code = "32"
	case netverify.PartiallyAllowed:
		code = "33"
	}
	return colorize(string(v), code, color)
}

func writeFlowText(w io.Writer, r *netverify.Result, color bool) {
	port := ""
	if r.Query.Port != 0 {
		port = fmt.Sprintf(" port %d", r.Query.Port)
	}
	fmt.Fprintf(w, "%s: %s -> %s, %s%s (%s)\n", paint(r.Verdict, color), r.Query.From, r.Query.To, r.Query.Protocol, port, r.Query.Direction)
	fmt.Fprintf(w, "  source:      %s\n", describeEndpoint(r.Source))
	fmt.Fprintf(w, "  destination: %s\n", describeEndpoint(r.Destination))
	fmt.Fprintf(w, "  service tags: %s\n", r.ServiceTags)
	if len(r.DNS) > 0 {
		fmt.Fprintln(w, "  dns:")
		for _, s := range r.DNS {
			fmt.Fprintf(w, "    %s %s %s  (%s)%s\n", s.Name, s.Type, s.Answer, s.Source, at(s.Pos))
		}
	}
	for i, o := range r.Outcomes {
		fmt.Fprintln(w)
		label := ""
		if len(r.Outcomes) > 1 {
			label = fmt.Sprintf(" (%d of %d)", i+1, len(r.Outcomes))
		}
		fmt.Fprintf(w, "%s%s %s: %s -> %s\n", paint(o.Verdict, color), label, o.Protocol, abbreviate(o.Sources, len(o.Sources)), abbreviate(o.Destinations, len(o.Destinations)))
		for j, h := range o.Hops {
			fmt.Fprintf(w, "  %d. %s%s\n", j+1, h.Detail, at(h.Position))
		}
		if o.Verdict != netverify.Allowed && o.Reason != "" {
			fmt.Fprintf(w, "  blocked: %s\n", o.Reason)
		}
		if o.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", o.Fix)
		}
	}
}

func at(pos string) string {
	if pos == "" {
		return ""
	}
	return "  [" + pos + "]"
}

func describeEndpoint(e netverify.EndpointInfo) string {
	s := string(e.Kind) + " " + e.Text
	if e.Resource != "" && !strings.EqualFold(e.Resource, e.Text) {
		s += " (" + e.Resource + ")"
	}
	return fmt.Sprintf("%s: %s (%d address(es))", s, abbreviate(e.Addresses, e.RangeCount), e.Count)
}

// abbreviate shows the first ranges of a list of total ranges.
func abbreviate(list []string, total int) string {
	if total <= 4 {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:4], ", ") + fmt.Sprintf(", … (%d ranges)", total)
}
