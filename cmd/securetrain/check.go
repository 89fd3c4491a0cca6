package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/requirements"
)

const checkSynopsis = "ENV | --template T.json [--parameters P.json] --subscription S --resource-group G [--location L] [--env ENV]  [--format text|json|sarif] [--service-tags FILE] [--rstudio] [--output FILE]"

// runCheck checks every compute of an environment file against Azure ML's
// secure-training requirements. Exit code: 0 no error findings, 1 error
// findings, 2 bad input.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", checkSynopsis, stderr)
	format := fs.String("format", "text", "text, json or sarif")
	tagsFile := fs.String("service-tags", "", "ServiceTags_Public JSON file (default: the embedded catalog)")
	rstudio := fs.Bool("rstudio", false, "the computes run RStudio (they need outbound TCP 8787 to AzureMachineLearning)")
	output := fs.String("output", "", "write the report to `FILE` instead of stdout")
	var tc templateCheck
	fs.StringVar(&tc.template, "template", "", "check what deploying the ARM template `T.json` would give (instead of ENV)")
	fs.StringVar(&tc.parameters, "parameters", "", "the template's parameter values (a deploymentParameters `FILE`)")
	fs.StringVar(&tc.subscription, "subscription", "", "with --template: the `SUBSCRIPTION` id deployed into")
	fs.StringVar(&tc.group, "resource-group", "", "with --template: the resource `GROUP` deployed into")
	fs.StringVar(&tc.location, "location", "", "with --template: the resource group's `LOCATION` (default: from --env)")
	fs.StringVar(&tc.env, "env", "", "with --template: the environment `FILE` the template deploys into")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "securetrain check: "+format+"\n", a...)
		return exitBadInput
	}
	switch {
	case tc.template != "" && len(pos) != 0:
		return badUsage(fs, "--template checks the template's deployment into --env; give no other environment file (got %d arguments)", len(pos))
	case tc.template == "" && (tc.parameters != "" || tc.subscription != "" || tc.group != "" || tc.location != "" || tc.env != ""):
		return badUsage(fs, "--parameters, --subscription, --resource-group, --location and --env go with --template")
	case tc.template == "" && len(pos) != 1:
		return badUsage(fs, "expected one environment file, got %d arguments", len(pos))
	}
	if err := oneOf(*format, "text", "json", "sarif"); err != nil {
		return fail("--format %v", err)
	}
	prog := newProgress(stderr)
	run := checkRun{opts: requirements.Options{RStudio: *rstudio}}
	if tc.template == "" {
		run.net, err = compileFile(pos[0], *tagsFile, prog)
	} else {
		// The merged environment's positions are rewritten to the
		// template's and the environment file's (run.from).
		prog.step("evaluating %s", tc.template)
		var data []byte
		if data, run.from, err = tc.environment(); err == nil {
			pos = []string{tc.template}
			run.net, err = compileData(tc.mergedName(), data, *tagsFile, prog)
			err = run.from.problems(err)
		}
	}
	if err != nil {
		prog.done()
		fmt.Fprintln(stderr, err)
		return exitBadInput
	}
	net := run.net
	prog.step("checking %s, writing the %s report", plural(len(net.Snapshot().Computes), "compute", "computes"), strings.ToLower(*format))
	color := *output == "" && isTerminal(stdout)
	// Reports are written as the computes are checked: a large
	// environment's report does not fit in memory next to its network.
	var rep *requirements.Report
	err = writeReport(stdout, *output, func(w io.Writer) error {
		var err error
		switch strings.ToLower(*format) {
		case "json":
			rep, err = streamJSONReport(w, run)
		case "sarif":
			rep, err = sarifReport(w, run, pos[0])
		default:
			rep, err = streamTextReport(w, run, color)
		}
		if errors.Is(err, errCheck) {
			err = fmt.Errorf("%s: %w", pos[0], err)
		}
		return err
	})
	prog.done()
	if err != nil {
		return fail("%v", err)
	}
	if rep.HasErrors() {
		return 1
	}
	return 0
}

// errCheck marks an error of the check itself (rather than of writing).
var errCheck = errors.New("check failed")

// checkRun is one check of a compiled network; from, when set, says where
// each position of a template's merged environment comes from.
type checkRun struct {
	net  *netverify.Network
	opts requirements.Options
	from *origins
}

// check runs CheckEach, with positions at their origins, marking its
// errors with errCheck.
func (r checkRun) check(emit func(requirements.ComputeReport) error) (*requirements.Report, error) {
	rep, err := requirements.CheckEach(r.net, r.opts, func(cr requirements.ComputeReport) error {
		r.from.compute(&cr)
		return emit(cr)
	})
	var we writeError
	if err != nil && !errors.As(err, &we) {
		return nil, fmt.Errorf("%w: %w", errCheck, err)
	}
	if rep != nil {
		r.from.findings(rep.Findings)
	}
	return rep, err
}

// writeError is an error writing the report, passed through CheckEach.
type writeError struct{ error }

func (e writeError) Unwrap() error { return e.error }

// writeReport streams a report to the file named by output, or to stdout
// when it is empty, through a buffer. A file is written under a temporary
// name and renamed when complete, so that a failed check leaves no partial
// report and an existing one untouched.
func writeReport(stdout io.Writer, output string, write func(io.Writer) error) error {
	if output == "" {
		bw := bufio.NewWriterSize(stdout, 256<<10)
		if err := write(bw); err != nil {
			bw.Flush() // what was checked before the failure
			return err
		}
		return bw.Flush()
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	bw := bufio.NewWriterSize(tmp, 256<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		if err = os.Chmod(tmp.Name(), 0o644); err == nil {
			err = os.Rename(tmp.Name(), output)
		}
	}
	if err != nil && !errors.Is(err, errCheck) {
		return fmt.Errorf("--output: %w", err)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "->" in messages and fixes stays readable
	return enc.Encode(v)
}

// streamJSONReport checks the computes and writes the document
// writeJSON(w, report) would, one compute at a time as they are checked:
// encoding/json builds a value's whole text, and its indented copy, in
// memory before writing it.
func streamJSONReport(w io.Writer, run checkRun) (*requirements.Report, error) {
	bw := &errWriter{w: w}
	bw.printf("{\n  \"serviceTags\": ")
	bw.encode(run.net.ServiceTags().Version(), "  ")
	bw.printf(",\n  \"computes\": [")
	n := 0
	rep, err := run.check(func(cr requirements.ComputeReport) error {
		if n > 0 {
			bw.printf(",")
		}
		n++
		bw.printf("\n    ")
		bw.encode(cr, "    ")
		if bw.err != nil {
			return writeError{bw.err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n > 0 {
		bw.printf("\n  ")
	}
	bw.printf("],\n  \"findings\": ")
	bw.encode(rep.Findings, "  ")
	bw.printf(",\n  \"counts\": ")
	bw.encode(rep.Counts, "  ")
	bw.printf("\n}\n")
	return rep, bw.err
}

// errWriter keeps the first write error, so that a document is written
// without checking every piece.
type errWriter struct {
	w   io.Writer
	buf bytes.Buffer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

// encode writes v as writeJSON would at the nesting of prefix, without
// the prefix of its first line and without the final newline.
func (e *errWriter) encode(v any, prefix string) {
	if e.err != nil {
		return
	}
	e.buf.Reset()
	enc := json.NewEncoder(&e.buf)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if e.err = enc.Encode(v); e.err == nil {
		_, e.err = e.w.Write(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")))
	}
}

// sarifReport checks the computes and writes the SARIF log of their
// findings; flows are not part of it, so they are not kept.
func sarifReport(w io.Writer, run checkRun, envPath string) (*requirements.Report, error) {
	var computes []requirements.ComputeReport
	rep, err := run.check(func(cr requirements.ComputeReport) error {
		cr.Flows = nil
		computes = append(computes, cr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Computes = computes
	log, err := toSARIF(rep, envPath)
	if err != nil {
		return nil, err
	}
	return rep, writeJSON(w, log)
}

// colorize wraps s in the terminal colour paint uses for a verdict of the
// same gravity: green (32) good, yellow (33) degraded, red (31) failing.
func colorize(s, code string, color bool) string {
	if !color || code == "" {
		return s
	}
	return "\x1b[1;" + code + "m" + s + "\x1b[0m"
}

func statusColor(s requirements.Status) string {
	switch s {
	case requirements.OK:
		return "32"
	case requirements.Degraded:
		return "33"
	}
	return "31"
}

func severityColor(s requirements.Severity) string {
	switch s {
	case requirements.Error:
		return "31"
	case requirements.Warning:
		return "33"
	}
	return ""
}

// shortID shows an ARM id by its name ("mynetwork/default"), or as it is
// when it does not parse.
func shortID(s string) string {
	if id, err := arm.ParseID(s, ""); err == nil {
		return id.Name()
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// streamTextReport checks the computes and writes the text report. Its
// summary lines come first, so each compute's details are rendered as it
// is checked and only their text is kept.
func streamTextReport(w io.Writer, run checkRun, color bool) (*requirements.Report, error) {
	t := textReport{color: color}
	rep, err := run.check(func(cr requirements.ComputeReport) error {
		t.add(cr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.finish(w, rep)
	return rep, nil
}

// textReport gathers the text report: one summary line per compute, then
// each compute's details.
type textReport struct {
	color     bool
	summaries strings.Builder
	// details are each compute's details: kept apart rather than in one
	// builder, which would copy tens of megabytes each time it grows.
	details  []string
	computes int
}

func (t *textReport) add(cr requirements.ComputeReport) {
	t.computes++
	fmt.Fprintln(&t.summaries, colorize(cr.Summary, statusColor(cr.Status), t.color))
	var w strings.Builder
	defer func() { t.details = append(t.details, w.String()) }()
	fmt.Fprintln(&w)
	ip := "no public IP"
	if cr.PublicIP {
		ip = "public IP"
	}
	subnet := "no subnet"
	if cr.Subnet != "" {
		subnet = "subnet " + shortID(cr.Subnet)
	}
	fmt.Fprintf(&w, "%s  %s: %s, %s, %s, %s%s\n", cr.Name, colorize(string(cr.Status), statusColor(cr.Status), t.color),
		cr.Type, ip, cr.Region, subnet, at(cr.Position))
	if len(cr.Findings) > 0 {
		fmt.Fprintln(&w, "  findings:")
		writeFindings(&w, cr.Findings, cr.ID, t.color)
	}
	if len(cr.Flows) > 0 {
		fmt.Fprintln(&w, "  flows:")
		writeFlowTable(&w, cr.Flows, t.color)
	}
}

// finish writes the report: the computes gathered, then the
// environment's findings and the counts of rep.
func (t *textReport) finish(w io.Writer, rep *requirements.Report) {
	if t.computes == 0 {
		fmt.Fprintln(w, "no compute instances or clusters in the file")
	}
	io.WriteString(w, t.summaries.String())
	for _, d := range t.details {
		io.WriteString(w, d)
	}
	color := t.color
	if len(rep.Findings) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "environment:")
		writeFindings(w, rep.Findings, "", color)
	}
	fmt.Fprintln(w)
	c := rep.Counts
	errs, warns := plural(c.Errors, "error", "errors"), plural(c.Warnings, "warning", "warnings")
	if c.Errors > 0 {
		errs = colorize(errs, severityColor(requirements.Error), color)
	}
	if c.Warnings > 0 {
		warns = colorize(warns, severityColor(requirements.Warning), color)
	}
	fmt.Fprintf(w, "%s, %s, %d info (service tags: %s)\n", errs, warns, c.Infos, rep.ServiceTags)
}

// writeFindings lists findings; the resource is named when it is not the
// compute the block is about (owner).
func writeFindings(w io.Writer, fs []requirements.Finding, owner string, color bool) {
	for _, f := range fs {
		sev := colorize(string(f.Severity), severityColor(f.Severity), color) + strings.Repeat(" ", max(0, 7-len(f.Severity)))
		fmt.Fprintf(w, "    %s %s: %s\n", sev, f.Code, f.Message)
		if f.Resource != "" && !strings.EqualFold(f.Resource, owner) {
			fmt.Fprintf(w, "            resource: %s\n", shortID(f.Resource))
		}
		if f.Fix != "" {
			fmt.Fprintf(w, "            fix: %s\n", f.Fix)
		}
		if f.Position != "" {
			fmt.Fprintf(w, "            at: %s\n", f.Position)
		}
	}
}

// writeFlowTable lists a compute's flows, one a line; a flow that does not
// pass is followed by the deciding hop of each of its blocked outcomes.
func writeFlowTable(w io.Writer, flows []requirements.FlowCheck, color bool) {
	width := 0
	for _, fc := range flows {
		width = max(width, len(fc.Verdict))
	}
	indent := strings.Repeat(" ", 4+width+2)
	for _, fc := range flows {
		sev := ""
		if fc.Verdict != netverify.Allowed {
			sev = " [" + string(fc.Severity) + "]"
		}
		fmt.Fprintf(w, "    %s  %s%s\n", paint(fc.Verdict, color)+strings.Repeat(" ", width-len(fc.Verdict)), fc.Name, sev)
		if fc.Verdict == netverify.Allowed || fc.Result == nil {
			continue
		}
		seen := map[string]bool{}
		for _, o := range fc.Result.Outcomes {
			if o.Verdict == netverify.Allowed {
				continue
			}
			line := o.Reason
			if len(o.Hops) > 0 {
				h := o.Hops[len(o.Hops)-1]
				line = h.Detail + at(h.Position)
			}
			if line == "" || seen[line] {
				continue
			}
			seen[line] = true
			fmt.Fprintf(w, "%s%s\n", indent, line)
		}
	}
}
