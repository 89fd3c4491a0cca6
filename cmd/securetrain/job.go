package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"securetrain/internal/jobfile"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/resources"
)

// `securetrain job SUBCOMMAND` submits and follows command jobs as `az ml
// job` does: create -f job.yml [--stream], show, list, stream, cancel.

const jobSynopsis = "create|show|list|stream|cancel|download [NAME] --subscription S -g GROUP -w WORKSPACE [flags]"

// jobStreamInterval is how often --stream asks for the job's status and
// new log bytes.
const jobStreamInterval = 100 * time.Millisecond

func jobSubcommands() []computeSubcommand {
	return []computeSubcommand{
		{"create", "-f FILE [--name N] [--set key=value]... [--stream]", "submit a command job from an az ml job YAML", runJobCreate},
		{"show", "NAME", "print a job as JSON", runJobShow},
		{"list", "[--include-archived | --archived-only]", "list the workspace's jobs (archived ones only when asked)", runJobList},
		{"stream", "NAME", "print the job's log as it grows, until the job ends", runJobStream},
		{"cancel", "NAME", "cancel a job: its processes are killed", runJobCancel},
		{"download", "NAME [--download-path DIR]", "download a job's logs and kept outputs", runJobDownload},
		{"archive", "NAME", "archive a job: job list no longer shows it", runJobArchive},
		{"restore", "NAME", "restore an archived job", runJobArchive},
	}
}

func runJob(args []string, stdout, stderr io.Writer) int {
	return runGroup("job", jobSynopsis, jobSubcommands(), args, stdout, stderr)
}

var jobNameRule = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`)

func validJobName(name string) error {
	if !jobNameRule.MatchString(name) {
		return fmt.Errorf("job name %q must be 1–255 letters, digits, '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

func newJobCmd(name string, stderr io.Writer) *computeCmd {
	return newWorkspaceCmd("job", jobSubcommands(), name, validJobName, stderr)
}

// ready parses the arguments and connects; when it returns false the
// command is over, with exit code c.exit.
func (c *computeCmd) ready(args []string, wantName bool) bool {
	ok, code := c.parse(args, wantName)
	switch {
	case !ok:
		c.exit = code
	case !c.connect():
		c.exit, ok = exitBadInput, false
	}
	return ok
}

func (c *computeCmd) jobID() string { return c.workspaceID() + "/jobs/" + c.compute }

// jobBody is what the commands read of a job.
type jobBody struct {
	Name       string `json:"name"`
	Properties struct {
		Status      string    `json:"status"`
		DisplayName string    `json:"displayName"`
		ComputeID   string    `json:"computeId"`
		Error       *armError `json:"error"`
	} `json:"properties"`
}

func runJobCreate(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	file := c.fs.String("file", "", "the job's YAML (az ml's command job)")
	c.fs.StringVar(file, "f", "", "short for --file")
	jobName := c.fs.String("name", "", "the job's name (default: the file's name:, else a new one)")
	var sets multiFlag
	c.fs.Var(&sets, "set", "override a key of the file: `key.path=value` (repeatable)")
	stream := c.fs.Bool("stream", false, "follow the job: its status and log, until it ends")
	if ok, code := c.parse(args, false); !ok {
		return code
	}
	if *file == "" {
		return c.badInput("--file (-f) is required: the job's YAML")
	}
	jf, err := jobfile.Read(*file, c.workspaceID(), sets)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain job create: %v\n", err)
		return exitBadInput
	}
	c.compute = jf.JobName(*jobName)
	if err := validJobName(c.compute); err != nil {
		return c.badInput("%v", err)
	}
	if !c.connect() {
		return exitBadInput
	}
	if err := c.jobTarget().Submit(context.Background(), jf, c.compute, stdout); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stdout, "submitted job %s\n", c.compute)
	if !*stream {
		fmt.Fprintf(stdout, "follow it: securetrain job stream %s -g %s -w %s\n", c.compute, c.group, c.ws)
		return 0
	}
	return c.stream(stdout)
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runJobShow(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	if !c.ready(args, true) {
		return c.exit
	}
	return c.showJSON(stdout, c.jobID())
}

func runJobList(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	all := c.fs.Bool("include-archived", false, "list archived jobs too")
	archived := c.fs.Bool("archived-only", false, "list only archived jobs")
	if !c.ready(args, false) {
		return c.exit
	}
	view := "ActiveOnly"
	switch {
	case *all && *archived:
		return c.badInput("--include-archived and --archived-only exclude each other")
	case *all:
		view = "All"
	case *archived:
		view = "ArchivedOnly"
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCOMPUTE\tDISPLAY NAME")
	for next := c.workspaceID() + "/jobs?listViewType=" + view; next != ""; {
		resp, err := c.srv.do(http.MethodGet, next, nil)
		if err != nil {
			return c.fail(err)
		}
		var page struct {
			Value    []jobBody `json:"value"`
			NextLink string    `json:"nextLink"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			fmt.Fprintf(stderr, "securetrain job list: the answer is not a list of jobs: %v\n", err)
			return 1
		}
		for _, j := range page.Value {
			compute := j.Properties.ComputeID[strings.LastIndex(j.Properties.ComputeID, "/")+1:]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.Name, j.Properties.Status, compute, j.Properties.DisplayName)
		}
		next = page.NextLink
	}
	return exitOf(tw.Flush())
}

func exitOf(err error) int {
	if err != nil {
		return 1
	}
	return 0
}

// runJobArchive archives a job (archive) or restores it (restore), as az
// ml does: the job's isArchived, written with a PUT of the job as read.
func runJobArchive(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	if !c.ready(args, true) {
		return c.exit
	}
	resp, err := c.srv.do(http.MethodGet, c.jobID(), nil)
	if err != nil {
		return c.fail(err)
	}
	var job map[string]any
	if err := json.Unmarshal(resp.body, &job); err != nil {
		fmt.Fprintf(stderr, "securetrain job %s: the answer is not a job: %v\n", name, err)
		return 1
	}
	props, _ := job["properties"].(map[string]any)
	if props == nil {
		fmt.Fprintf(stderr, "securetrain job %s: job %s has no properties\n", name, c.compute)
		return 1
	}
	props["isArchived"] = name == "archive"
	body, err := json.Marshal(job)
	if err != nil {
		return c.fail(err)
	}
	if _, err := c.srv.do(http.MethodPut, c.jobID(), body); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stdout, "%sd job %s\n", name, c.compute)
	return 0
}

func runJobStream(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	if !c.ready(args, true) {
		return c.exit
	}
	return c.stream(stdout)
}

func runJobCancel(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	if !c.ready(args, true) {
		return c.exit
	}
	if _, err := c.srv.do(http.MethodPost, c.jobID()+"/cancel", nil); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(stdout, "cancel requested for job %s\n", c.compute)
	return 0
}

// stream prints the job's status changes and its log (user_logs/
// std_log.txt, or rank 0's) as they grow, until the job ends; the exit
// code is 0 for Completed only.
func (c *computeCmd) stream(stdout io.Writer) int {
	status, offset := "", 0
	logFile := ""
	for {
		resp, err := c.srv.do(http.MethodGet, c.jobID(), nil)
		if err != nil {
			return c.fail(err)
		}
		var j jobBody
		if err := json.Unmarshal(resp.body, &j); err != nil {
			fmt.Fprintf(c.stderr, "securetrain job %s: the answer is not a job: %v\n", c.name, err)
			return 1
		}
		if logFile == "" {
			logFile = c.firstLog()
		}
		if logFile != "" {
			n, err := c.printLog(stdout, logFile, offset)
			if err != nil {
				return c.fail(err)
			}
			offset += n
		}
		if j.Properties.Status != status {
			status = j.Properties.Status
			fmt.Fprintf(stdout, "status: %s\n", status)
		}
		if resources.JobTerminal(status) {
			if logFile == "" { // a job that ends before a pass sees its log
				if logFile = c.firstLog(); logFile != "" {
					if _, err := c.printLog(stdout, logFile, offset); err != nil {
						return c.fail(err)
					}
				}
			}
			if e := j.Properties.Error; e != nil {
				writeOperationError(c.stderr, e, "securetrain job "+c.compute+": ")
			}
			if status == resources.JobCompleted {
				return 0
			}
			return 1
		}
		time.Sleep(jobStreamInterval)
	}
}

// firstLog is the job's std_log.txt, or rank 0's when it is distributed;
// "" before the job has one.
func (c *computeCmd) firstLog() string {
	resp, err := c.srv.do(http.MethodGet, c.jobID()+"/userLogs", nil)
	if err != nil {
		return ""
	}
	var list struct{ Value []string }
	if json.Unmarshal(resp.body, &list) != nil {
		return ""
	}
	for _, want := range []string{"std_log.txt", "std_log_process_0.txt"} {
		for _, f := range list.Value {
			if f == want {
				return f
			}
		}
	}
	return ""
}

// printLog prints the log from offset on and returns how many bytes.
func (c *computeCmd) printLog(stdout io.Writer, file string, offset int) (int, error) {
	q := url.Values{"file": {file}, "offset": {fmt.Sprint(offset)}}
	resp, err := c.srv.do(http.MethodGet, c.jobID()+"/userLogs?"+q.Encode(), nil)
	var ae *armError
	if errors.As(err, &ae) && ae.status == http.StatusNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	_, err = stdout.Write(resp.body)
	return len(resp.body), err
}

// runJobDownload writes, as az ml does, the job's logs under
// DIR/artifacts/user_logs and its outputs under DIR/named-outputs (DIR:
// ./NAME by default). Paths the server names are written through an
// os.Root: none can land outside DIR.
func runJobDownload(name string, args []string, stdout, stderr io.Writer) int {
	c := newJobCmd(name, stderr)
	dir := c.fs.String("download-path", "", "where to write (default: ./NAME)")
	if !c.ready(args, true) {
		return c.exit
	}
	if *dir == "" {
		*dir = c.compute
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "securetrain job download: %v\n", err)
		return 1
	}
	root, err := os.OpenRoot(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain job download: %v\n", err)
		return 1
	}
	defer root.Close()
	var logs struct{ Value []string }
	var outputs struct {
		Value []struct{ Path string }
	}
	for _, l := range []struct {
		action string
		into   any
	}{{"userLogs", &logs}, {"outputs", &outputs}} {
		resp, err := c.srv.do(http.MethodGet, c.jobID()+"/"+l.action, nil)
		if err != nil {
			return c.fail(err)
		}
		if err := json.Unmarshal(resp.body, l.into); err != nil {
			fmt.Fprintf(stderr, "securetrain job download: the answer is not a list: %v\n", err)
			return 1
		}
	}
	files := 0
	get := func(query url.Values, action, local string) error {
		resp, err := c.srv.do(http.MethodGet, c.jobID()+"/"+action+"?"+query.Encode(), nil)
		if err != nil {
			return err
		}
		if err := root.MkdirAll(path.Dir(local), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", local, err)
		}
		files++
		return root.WriteFile(local, resp.body, 0o644)
	}
	for _, f := range logs.Value {
		if err := get(url.Values{"file": {f}}, "userLogs", "artifacts/user_logs/"+f); err != nil {
			return c.fail(err)
		}
	}
	for _, f := range outputs.Value {
		if err := get(url.Values{"path": {f.Path}}, "outputs", "named-outputs/"+f.Path); err != nil {
			return c.fail(err)
		}
	}
	fmt.Fprintf(stdout, "downloaded %d files of job %s into %s\n", files, c.compute, *dir)
	return 0
}
