package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"reflect"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/blob"
	"securetrain/internal/jobs"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Command jobs (workspaces/jobs): records the generic handler serves,
// with hooks for what the server owns (status, the queue) and admission
// (the compute, instance count, inputs and outputs it can run), and the
// actions cancel and userLogs. The scheduler (internal/jobs) runs them.

// jobHooks are the job kind's hooks.
var jobHooks = kindHooks{settle: settleJob, derive: deriveJob, admit: admitJob, admission: jobAdmission, apart: true, wakes: true,
	deleted: func(s *Server, ctx context.Context, id arm.ID) error { return s.jobs.Forget(ctx, id.String()) }}

// settleJob keeps what the server owns of a job: its status and failure.
func settleJob(_ arm.ID, props, cur object) {
	delete(props, "status")
	delete(props, "error")
	if cur == nil {
		props["status"] = resources.JobNotStarted
		return
	}
	curProps := arm.EnsureField(cur, "properties")
	for _, k := range []string{"status", "error"} {
		if v, ok := curProps[k]; ok {
			props[k] = v
		}
	}
}

// deriveJob queues a new job.
func deriveJob(s *Server, ctx context.Context, tx store.Tx, id arm.ID, cur, next object) error {
	if cur != nil {
		return nil
	}
	if active, err := jobs.Active(ctx, tx, id.String()); err != nil || active {
		if err != nil {
			return err
		}
		return newError(http.StatusConflict, "Conflict", "Job '%s' was deleted while it ran and is still being stopped; submit it again in a moment, or under another name.", id.Leaf())
	}
	return jobs.Enqueue(ctx, tx, id.String(), arm.Str(arm.EnsureField(next, "properties"), "computeId"), s.clock.Now())
}

// jobSpecFields are what a job runs; Azure refuses to change them once
// it is submitted (displayName, description, tags and properties may
// change).
var jobSpecFields = []string{"jobType", "command", "codeId", "environmentId", "computeId", "resources", "distribution",
	"inputs", "outputs", "environmentVariables", "limits", "experimentName"}

// admitJob refuses a change to a submitted job's spec, and an isArchived
// that is not true or false.
func admitJob(_ *Server, _ context.Context, _ store.Reader, id arm.ID, cur, next object) (string, int, error) {
	now := arm.EnsureField(next, "properties")
	if v, ok := now["isArchived"]; ok {
		if _, isBool := v.(bool); !isBool {
			return "", 0, newError(http.StatusBadRequest, "UserError", "Job '%s': isArchived must be true or false, not %v.", id.Leaf(), v)
		}
	}
	if cur == nil {
		return "", 0, nil
	}
	was := arm.EnsureField(cur, "properties")
	for _, f := range jobSpecFields {
		if !reflect.DeepEqual(was[f], now[f]) {
			return "", 0, newError(http.StatusBadRequest, "UserError",
				"Job '%s' exists and its %s cannot change: submit a job with another name. Only displayName, description, tags and properties of a job can be updated.", id.Leaf(), f)
		}
	}
	return "", 0, nil
}

// envName is what a process's environment variable may be called.
var envName = lazyregexp.New(`^[A-Za-z_][A-Za-z0-9_]*$`)

// jobRef is a ${{inputs.x}} or ${{outputs.y}} in a command.
var jobRef = lazyregexp.New(`\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}`)

// jobAdmission checks that the job can run: on a compute of its own
// workspace that has room for it, with inputs and outputs this server
// provides, and a command that names only declared ones.
func jobAdmission(snap *resources.Snapshot, id arm.ID) error {
	j, _ := snap.Lookup(id).(*resources.Job)
	if j == nil {
		return nil
	}
	bad := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, "UserError", "Job '%s': %s", id.Leaf(), fmt.Sprintf(format, args...))
	}
	if p, _ := j.Compute.ID.Parent(); !p.Equal(j.Workspace) {
		return bad("computeId %s is not a compute of workspace %s", j.Compute.ID, j.Workspace.Leaf())
	}
	c, _ := snap.Lookup(j.Compute.ID).(*resources.Compute)
	if c == nil {
		return newError(http.StatusNotFound, "ComputeNotFound", "Job '%s': compute '%s' was not found in workspace '%s'.", id.Leaf(), j.Compute.ID.Leaf(), j.Workspace.Leaf())
	}
	switch {
	case c.ComputeType == resources.ComputeInstance && j.InstanceCount > 1:
		return bad("resources.instanceCount is %d, but compute instance %s is one node", j.InstanceCount, c.ID.Leaf())
	case c.ComputeType == resources.ComputeAml && j.InstanceCount > c.MaxNodeCount:
		return bad("resources.instanceCount is %d, but cluster %s scales to at most %d nodes (scaleSettings.maxNodeCount)", j.InstanceCount, c.ID.Leaf(), c.MaxNodeCount)
	case c.ComputeType != resources.ComputeAml && c.ComputeType != resources.ComputeInstance:
		return bad("jobs run on compute clusters and compute instances; %s is a %s", c.ID.Leaf(), c.ComputeType)
	}
	if j.Timeout != "" {
		if _, err := provision.ParseDuration(j.Timeout); err != nil {
			return bad("limits.timeout %q: %v", j.Timeout, err)
		}
	}
	if j.CodeID != "" {
		if err := checkCodeID(j.Workspace, j.CodeID); err != nil {
			return bad("%v", err)
		}
	}
	ws, _ := snap.Lookup(j.Workspace).(*resources.Workspace)
	for name, in := range j.Inputs {
		if in.Type == "literal" {
			continue
		}
		if err := checkInputURI(ws, in.URI); err != nil {
			return bad("inputs.%s: %v", name, err)
		}
	}
	for name, out := range j.Outputs {
		if out.Type != "uri_folder" || out.URI != "" {
			return bad("outputs.%s: this server keeps uri_folder outputs without a uri only (outputs to a datastore need the workspace's blob storage, not served yet)", name)
		}
	}
	for name, v := range j.EnvironmentVariables {
		if !envName.MatchString(name) || strings.ContainsRune(v, 0) {
			return bad("environmentVariables.%s: a variable is named by letters, digits and '_' (not starting with a digit), and its value has no NUL character", name)
		}
	}
	if strings.ContainsRune(j.Command, 0) {
		return bad("the command holds a NUL character")
	}
	for _, m := range jobRef.FindAllStringSubmatch(j.Command, -1) {
		_, inOK := j.Inputs[m[2]]
		_, outOK := j.Outputs[m[2]]
		if m[1] == "inputs" && !inOK || m[1] == "outputs" && !outOK {
			return bad("the command refers to %s, which the job does not declare under %s", m[0], m[1])
		}
	}
	return nil
}

// checkInputURI checks that a file or folder input is in the default
// storage account of the job's workspace: the only storage a job reads.
func checkInputURI(ws *resources.Workspace, uri string) error {
	loc, err := blob.ParseURI(uri)
	if err != nil {
		return err
	}
	switch {
	case ws == nil:
		return nil // the workspace's own admission names what is wrong
	case ws.StorageAccount.ID.IsZero():
		return fmt.Errorf("workspace %s has no default storage account (properties.storageAccount) to read %s from", ws.ID.Leaf(), uri)
	case loc.Datastore != "" && loc.Datastore != blob.WorkspaceDatastore:
		return fmt.Errorf("datastore %s is not served: inputs are read from azureml://datastores/%s/paths/…", loc.Datastore, blob.WorkspaceDatastore)
	case loc.Datastore == "" && !strings.EqualFold(loc.Account, ws.StorageAccount.ID.Leaf()):
		return fmt.Errorf("%s is in storage account %s; a job reads only its workspace's storage account %s", uri, loc.Account, ws.StorageAccount.ID.Leaf())
	}
	return nil
}

// listJobs lists a workspace's jobs as Azure does: listViewType
// ActiveOnly (the default) leaves out the archived ones
// (properties.isArchived, set by `az ml job archive`), ArchivedOnly lists
// only them, All lists every job.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, scope string) error {
	view := r.URL.Query().Get("listViewType")
	var want *bool // nil: all
	switch strings.ToLower(view) {
	case "", "activeonly":
		want = new(false)
	case "archivedonly":
		want = new(true)
	case "all":
	default:
		return newError(http.StatusBadRequest, "InvalidQueryParameterValue", "listViewType '%s' is not ActiveOnly, ArchivedOnly or All.", view)
	}
	var keep func(store.Record) bool
	if want != nil {
		keep = func(rec store.Record) bool {
			var b struct {
				Properties struct {
					IsArchived bool `json:"isArchived"`
				} `json:"properties"`
			}
			return json.Unmarshal(rec.Body, &b) == nil && b.Properties.IsArchived == *want
		}
	}
	return s.listWhere(w, r, scope, resources.TypeJob, keep)
}

// jobAction serves POST .../jobs/{name}/cancel, and GET
// .../jobs/{name}/userLogs[?file=std_log.txt] and .../outputs[?path=]
// (securetrain's: Azure keeps logs and outputs in the workspace's
// storage).
func (s *Server) jobAction(w http.ResponseWriter, r *http.Request, who string, p resourcePath) error {
	if err := s.requireAPIVersion(r, who, resources.TypeJob); err != nil {
		return err
	}
	id := arm.ID{Subscription: p.sub, ResourceGroup: p.rg, Provider: p.ns, Types: p.types[:2], Names: p.names}
	switch action := strings.ToLower(p.types[2]); {
	case action == "cancel" && r.Method == http.MethodPost:
		if err := s.authorize(r.Context(), who, resources.TypeJob+"/cancel/action", id.String()); err != nil {
			return err
		}
		var found bool
		if err := s.store.Update(r.Context(), func(tx store.Tx) error {
			var err error
			found, err = jobs.RequestCancel(r.Context(), tx, id.String())
			return err
		}); err != nil {
			return err
		}
		if !found {
			return notFound(id)
		}
		s.engine.Wake()
		w.WriteHeader(http.StatusOK)
		return nil
	case (action == "userlogs" || action == "outputs") && r.Method == http.MethodGet:
		if err := s.authorize(r.Context(), who, resources.TypeJob+"/read", id.String()); err != nil {
			return err
		}
		if _, err := s.store.Get(r.Context(), id.String()); err != nil {
			return notFound(id)
		}
		if action == "outputs" {
			return s.jobOutputs(w, r, id)
		}
		return s.userLogs(w, r, id)
	}
	return newError(http.StatusNotFound, "InvalidResourceType", "Job action '%s %s' is not supported: POST cancel, GET userLogs, GET outputs.", r.Method, p.types[2])
}

// jobOutputs lists a job's kept output files, or sends one (?path=):
// from this machine when this replica ran the job, else from the
// workspace's datastore, where every replica finds them once the job
// has ended (jobs.OutputsFolder).
func (s *Server) jobOutputs(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	if !s.jobs.HoldsFiles(id.String()) {
		return s.storedOutputs(w, r, id)
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		files, err := s.jobs.Outputs(id.String())
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{"value": files})
	}
	f, err := s.jobs.OpenOutput(id.String(), path)
	switch {
	case errors.Is(err, fs.ErrInvalid):
		return newError(http.StatusBadRequest, "InvalidOutputPath", "%v.", err)
	case errors.Is(err, fs.ErrNotExist):
		return outputNotFound(id, path)
	case err != nil:
		return newError(http.StatusBadRequest, "InvalidOutputPath", "output '%s' cannot be read: it is not a kept file.", path)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return newError(http.StatusBadRequest, "InvalidOutputPath", "output '%s' is a folder: list the outputs for its files.", path)
	}
	return sendOutput(w, f)
}

// storedOutputs is jobOutputs of a job another replica ran: from the
// workspace's datastore, where its outputs are once it has ended.
func (s *Server) storedOutputs(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	folder, err := jobs.OutputsFolder(id.String())
	if err != nil {
		return err
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		files := []jobs.OutputFile{}
		if err := s.inStorage(id, folder, func(d datastore, ws arm.ID, uri string) error {
			stored, err := d.Stat(r.Context(), ws, uri)
			for _, f := range stored {
				files = append(files, jobs.OutputFile{Path: f.Rel, Size: f.Size})
			}
			return err
		}); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{"value": files})
	}
	found := false
	if err := s.storedFiles(r.Context(), id, folder, func(rel string, f io.Reader) error {
		if rel != path {
			return nil
		}
		found = true
		return sendOutput(w, f)
	}); err != nil || found {
		return err
	}
	return outputNotFound(id, path)
}

func outputNotFound(id arm.ID, path string) error {
	return newError(http.StatusNotFound, "OutputNotFound", "Job '%s' kept no output file '%s'.", id.Leaf(), path)
}

func sendOutput(w http.ResponseWriter, f io.Reader) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, err := io.Copy(w, f)
	return err
}

// userLogs lists a job's log files, or sends one (?file=) from byte
// ?offset= on, so that a reader can follow it. The replica that runs the
// job has them on its machine; once the job has ended, every replica
// reads them from the workspace's datastore (jobs.LogsFolder).
func (s *Server) userLogs(w http.ResponseWriter, r *http.Request, id arm.ID) error {
	name := r.URL.Query().Get("file")
	if name == "" {
		names := s.jobs.Logs(id.String())
		if len(names) == 0 {
			if err := s.storedLogs(r.Context(), id, func(rel string, _ io.Reader) error {
				names = append(names, rel)
				return nil
			}); err != nil {
				return err
			}
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{"value": names})
	}
	path := s.jobs.LogPath(id.String(), name)
	if path == "" {
		return newError(http.StatusBadRequest, "InvalidLogFile", "file '%s' is not a job log: std_log.txt or std_log_process_N.txt.", name)
	}
	var offset int64
	if o := r.URL.Query().Get("offset"); o != "" {
		if _, err := fmt.Sscan(o, &offset); err != nil || offset < 0 {
			return newError(http.StatusBadRequest, "InvalidOffset", "offset '%s' must be a byte count of 0 or more.", o)
		}
	}
	send := func(f io.Reader) error {
		var err error
		if sk, ok := f.(io.Seeker); ok {
			_, err = sk.Seek(offset, io.SeekStart)
		} else if _, err = io.CopyN(io.Discard, f, offset); errors.Is(err, io.EOF) {
			err = nil // past the end: nothing to send
		}
		if err != nil {
			return fmt.Errorf("read the log of %s: %w", id, err)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err = io.Copy(w, f)
		return err
	}
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		return send(f)
	}
	if !os.IsNotExist(err) {
		return fmt.Errorf("open the log of %s: %w", id, err)
	}
	found := false
	if err := s.storedLogs(r.Context(), id, func(rel string, f io.Reader) error {
		if rel != name {
			return nil
		}
		found = true
		return send(f)
	}); err != nil || found {
		return err
	}
	return newError(http.StatusNotFound, "LogNotFound", "Job '%s' has no %s yet (a running job's logs are read through the replica that runs it).", id.Leaf(), name)
}

// storedLogs calls fn for each log of job id kept in its workspace's
// datastore; none when there are none (yet) or no storage.
func (s *Server) storedLogs(ctx context.Context, id arm.ID, fn func(rel string, r io.Reader) error) error {
	folder, err := jobs.LogsFolder(id.String())
	if err != nil {
		return err
	}
	return s.storedFiles(ctx, id, folder, fn)
}

// storedFiles calls fn for each file below folder in the datastore of job
// id's workspace; none when there are none (yet) or no storage.
func (s *Server) storedFiles(ctx context.Context, id arm.ID, folder string, fn func(rel string, r io.Reader) error) error {
	return s.inStorage(id, folder, func(d datastore, ws arm.ID, uri string) error {
		_, err := d.Files(ctx, ws, uri, fn)
		return err
	})
}

// inStorage calls read with the datastore of job id's workspace and the
// URI of folder in it; there is nothing to read when there is nothing
// there (yet) or no storage.
func (s *Server) inStorage(id arm.ID, folder string, read func(d datastore, ws arm.ID, uri string) error) error {
	if s.blob == nil {
		return nil
	}
	ws, _ := id.Parent()
	err := read(datastore{s}, ws, "azureml://datastores/"+blob.WorkspaceDatastore+"/paths/"+folder)
	if errors.Is(err, blob.ErrNothingAt) || errors.Is(err, jobs.ErrNoStorage) {
		return nil
	}
	return err
}
