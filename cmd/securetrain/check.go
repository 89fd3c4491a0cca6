package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	var net *netverify.Network
	var from *origins // with --template: where each resource of the merged environment comes from
	if tc.template == "" {
		net, err = compileFile(pos[0], *tagsFile, prog)
	} else {
		prog.step("evaluating %s", tc.template)
		var data []byte
		if data, from, err = tc.environment(); err == nil {
			pos = []string{tc.template}
			net, err = compileData(tc.mergedName(), data, *tagsFile, prog)
			err = from.problems(err)
		}
	}
	if err != nil {
		prog.done()
		fmt.Fprintln(stderr, err)
		return exitBadInput
	}
	prog.step("checking %s", plural(len(net.Snapshot().Computes), "compute", "computes"))
	rep, err := requirements.Check(net, requirements.Options{RStudio: *rstudio})
	if err != nil {
		prog.done()
		return fail("%s: %v", pos[0], err)
	}
	if from != nil {
		from.report(rep)
	}
	prog.step("writing the %s report", strings.ToLower(*format))

	var buf bytes.Buffer
	switch strings.ToLower(*format) {
	case "json":
		err = writeJSON(&buf, rep)
	case "sarif":
		var log *sarifLog
		if log, err = toSARIF(rep, pos[0]); err == nil {
			err = writeJSON(&buf, log)
		}
	default:
		writeCheckText(&buf, rep, *output == "" && isTerminal(stdout))
	}
	prog.done()
	if err != nil {
		return fail("%v", err)
	}
	if *output != "" {
		if err := os.WriteFile(*output, buf.Bytes(), 0o644); err != nil {
			return fail("--output: %v", err)
		}
	} else if _, err := stdout.Write(buf.Bytes()); err != nil {
		return fail("%v", err)
	}
	if rep.HasErrors() {
		return 1
	}
	return 0
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "->" in messages and fixes stays readable
	return enc.Encode(v)
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

func writeCheckText(w io.Writer, rep *requirements.Report, color bool) {
	if len(rep.Computes) == 0 {
		fmt.Fprintln(w, "no compute instances or clusters in the file")
	}
	for _, cr := range rep.Computes {
		fmt.Fprintln(w, colorize(cr.Summary, statusColor(cr.Status), color))
	}
	for _, cr := range rep.Computes {
		fmt.Fprintln(w)
		ip := "no public IP"
		if cr.PublicIP {
			ip = "public IP"
		}
		subnet := "no subnet"
		if cr.Subnet != "" {
			subnet = "subnet " + shortID(cr.Subnet)
		}
		fmt.Fprintf(w, "%s  %s: %s, %s, %s, %s%s\n", cr.Name, colorize(string(cr.Status), statusColor(cr.Status), color),
			cr.Type, ip, cr.Region, subnet, at(cr.Position))
		if len(cr.Findings) > 0 {
			fmt.Fprintln(w, "  findings:")
			writeFindings(w, cr.Findings, cr.ID, color)
		}
		if len(cr.Flows) > 0 {
			fmt.Fprintln(w, "  flows:")
			writeFlowTable(w, cr.Flows, color)
		}
	}
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
