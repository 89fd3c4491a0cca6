// Package jobfile reads the `az ml` command-job YAML into the body of
// PUT …/workspaces/{ws}/jobs and submits it: the environment it defines
// inline, its local code folder and inputs uploaded to the workspace's
// blob datastore, then the job. `securetrain job create` and the studio's
// job submission both use it, so a file means the same to both.
package jobfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/blob"
)

// The `az ml` command-job YAML (https://azuremlschemas.azureedge.net
// commandJob schema): every mistake is named with the file and line.

// File is a job YAML as the server needs it.
type File struct {
	// Name is the file's name: (the job's name), "" when it has none.
	Name string
	// Body is the job's PUT body.
	Body map[string]any
	// Environment is an inline environment to create first (the CLI's
	// anonymous environment version), with its id EnvID; nil when the
	// YAML names one.
	Environment map[string]any
	EnvID       string
	// Code and Inputs are the local folder and files to upload first
	// (upload.go); nil and empty when the YAML names none.
	Code   *Local
	Inputs map[string]*Local
}

// Files are the local files and folders a job file names (code, inputs,
// environment.conda_file), as paths written in the file.
type Files interface {
	// Stat finds a code or input path (key names it: "code",
	// "inputs.NAME").
	Stat(key, p string) (Local, error)
	// ReadFile reads a file the job file names (key as for Stat).
	ReadFile(key, p string) ([]byte, error)
}

// Dir is Files on this machine: paths relative to the job file's folder
// Dir, or absolute.
type Dir string

func (d Dir) join(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(string(d), p)
}

// Stat finds a local file or folder.
func (d Dir) Stat(_, p string) (Local, error) {
	full := d.join(p)
	info, err := os.Stat(full)
	if err != nil {
		return Local{}, err
	}
	return Local{Path: full, Dir: info.IsDir()}, nil
}

// ReadFile reads a local file.
func (d Dir) ReadFile(_, p string) ([]byte, error) { return os.ReadFile(d.join(p)) }

// errNotLocal is a code or input path that is a URI, not a local path.
var errNotLocal = errors.New("not a local path")

// stat finds a local code or input path, or errNotLocal for a URI.
func (r *reader) stat(key, p string) (Local, error) {
	if strings.Contains(p, "://") || strings.HasPrefix(p, "azureml:") {
		return Local{}, errNotLocal
	}
	return r.files.Stat(key, p)
}

// reader reads one file for a workspace.
type reader struct {
	path, workspace string
	files           Files
	errs            []string
}

func (r *reader) errf(v *arm.Value, format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf("%s:%d: %s", r.path, v.Line, fmt.Sprintf(format, args...)))
}

// jobKeys are the command-job keys securetrain reads, by object.
var jobKeys = map[string][]string{
	"":             {"$schema", "type", "name", "display_name", "experiment_name", "description", "tags", "command", "code", "environment", "environment_variables", "compute", "resources", "distribution", "inputs", "outputs", "limits"},
	"resources":    {"instance_count", "instance_type", "shm_size"},
	"distribution": {"type", "process_count_per_instance", "worker_count", "parameter_server_count"},
	"limits":       {"timeout"},
	"environment":  {"image", "conda_file", "name", "version", "description"},
	"outputs.*":    {"type", "mode", "description"},
	"inputs.*":     {"type", "path", "mode", "description"},
}

// Read reads the job file at path on this machine, with the --set
// overrides applied, for the workspace whose id is workspace; its local
// paths are relative to its folder.
func Read(path, workspace string, sets []string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the job file: %w", err)
	}
	return Parse(path, data, workspace, sets, Dir(filepath.Dir(path)))
}

// Parse reads a job file's content (path names it in errors), with the
// --set overrides applied, for the workspace whose id is workspace; files
// resolves the local paths it names.
func Parse(path string, data []byte, workspace string, sets []string, files Files) (*File, error) {
	doc, err := arm.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind != arm.Object {
		return nil, fmt.Errorf("%s:%d: a job file is a mapping of keys (command, environment, compute, …)", path, doc.Line)
	}
	for _, s := range sets {
		if err := setKey(doc, s); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	r := &reader{path: path, workspace: workspace, files: files}
	jf := r.read(doc)
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(r.errs, "\n"))
	}
	return jf, nil
}

// setKey applies one --set key.path=value: the value is a string, or a
// number when it reads as one.
func setKey(doc *arm.Value, kv string) error {
	path, value, ok := strings.Cut(kv, "=")
	if !ok || path == "" {
		return fmt.Errorf("expected key=value (resources.instance_count=2)")
	}
	v := &arm.Value{Kind: arm.String, Str: value, Line: doc.Line}
	if _, err := strconv.ParseFloat(value, 64); err == nil {
		v.Kind = arm.Number
	}
	keys := strings.Split(path, ".")
	at := doc
	for i, k := range keys {
		j := slices.Index(at.Keys, k)
		if i == len(keys)-1 {
			if j >= 0 {
				v.Line = at.Fields[j].Line
				at.Fields[j] = v
			} else {
				at.Keys, at.Fields = append(at.Keys, k), append(at.Fields, v)
			}
			return nil
		}
		if j < 0 {
			at.Keys, at.Fields = append(at.Keys, k), append(at.Fields, &arm.Value{Kind: arm.Object, Line: doc.Line})
			j = len(at.Keys) - 1
		}
		if at = at.Fields[j]; at.Kind != arm.Object {
			return fmt.Errorf("%s is not a mapping", strings.Join(keys[:i+1], "."))
		}
	}
	return nil
}

// fields checks an object's keys against jobKeys[section] and returns
// its members by key.
func (r *reader) fields(v *arm.Value, section string) map[string]*arm.Value {
	out := map[string]*arm.Value{}
	for i, k := range v.Keys {
		if known := jobKeys[section]; known != nil && !slices.Contains(known, k) {
			where := "a command job"
			if section != "" {
				where = section
			}
			r.errf(v.Fields[i], "unknown key %q in %s; known: %s", k, where, strings.Join(known, ", "))
			continue
		}
		out[k] = v.Fields[i]
	}
	return out
}

// str reads a string; "" with an error when v is another kind.
func (r *reader) str(key string, v *arm.Value) string {
	if v.Kind != arm.String {
		r.errf(v, "%s must be a string, not a %s", key, v.Kind)
		return ""
	}
	return v.Str
}

// integer reads a whole number of at least 1.
func (r *reader) integer(key string, v *arm.Value) int {
	n, err := strconv.Atoi(v.Str)
	if v.Kind != arm.Number || err != nil || n < 1 {
		r.errf(v, "%s must be a whole number of at least 1, got %s %q", key, v.Kind, v.Str)
		return 0
	}
	return n
}

// strings reads a mapping of scalars (tags, environment_variables).
func (r *reader) strMap(key string, v *arm.Value) map[string]any {
	if v.Kind != arm.Object {
		r.errf(v, "%s must be a mapping, not a %s", key, v.Kind)
		return nil
	}
	out := map[string]any{}
	for i, k := range v.Keys {
		switch f := v.Fields[i]; f.Kind {
		case arm.String, arm.Number, arm.Bool:
			out[k] = f.Str
		default:
			r.errf(f, "%s.%s must be a string, number or boolean, not a %s", key, k, f.Kind)
		}
	}
	return out
}

// assetID turns "azureml:name:version" into the id of the workspace's
// asset version of kind (codes, environments); other azureml:// URIs
// (registries) pass as they are.
func (r *reader) assetID(key, kind string, v *arm.Value) string {
	s := r.str(key, v)
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "azureml://"):
		return s
	}
	ref, ok := strings.CutPrefix(s, "azureml:")
	name, version, pinned := strings.Cut(ref, ":")
	if !ok || !pinned || name == "" || version == "" || strings.ContainsAny(ref, "/@") {
		r.errf(v, "%s %q must name a version of the workspace's asset, azureml:NAME:VERSION (or an azureml:// registry URI)", key, s)
		return ""
	}
	return r.workspace + "/" + kind + "/" + name + "/versions/" + version
}

func (r *reader) read(doc *arm.Value) *File {
	f := r.fields(doc, "")
	jf := &File{}
	props := map[string]any{"jobType": "Command"}
	if t := f["type"]; t != nil && r.str("type", t) != "command" && t.Kind == arm.String {
		r.errf(t, "type %q: securetrain runs command jobs (type: command)", t.Str)
	}
	for key, field := range map[string]string{"display_name": "displayName", "experiment_name": "experimentName", "description": "description"} {
		if v := f[key]; v != nil {
			props[field] = r.str(key, v)
		}
	}
	if v := f["name"]; v != nil {
		jf.Name = r.str("name", v)
	}
	if v := f["command"]; v != nil {
		props["command"] = r.str("command", v)
	} else {
		r.errs = append(r.errs, fmt.Sprintf("%s:%d: command is required: what the job runs", r.path, doc.Line))
	}
	if v := f["compute"]; v != nil {
		name := strings.TrimPrefix(r.str("compute", v), "azureml:")
		if name == "" || strings.ContainsAny(name, "/:") {
			r.errf(v, "compute must name a compute of the workspace: azureml:NAME")
		}
		props["computeId"] = r.workspace + "/computes/" + name
	} else {
		r.errs = append(r.errs, fmt.Sprintf("%s:%d: compute is required: the cluster or instance to run on (compute: azureml:NAME)", r.path, doc.Line))
	}
	if v := f["code"]; v != nil {
		if s := r.str("code", v); strings.HasPrefix(s, "azureml:") {
			props["codeId"] = r.assetID("code", "codes", v)
		} else if s != "" {
			a, err := r.stat("code", s)
			if err != nil {
				r.errf(v, "code %q must be a local folder (uploaded as a snapshot) or azureml:NAME:VERSION: %v", s, err)
			} else {
				jf.Code = &a
			}
		}
	}
	r.environment(f["environment"], doc, props, jf)
	if v := f["environment_variables"]; v != nil {
		props["environmentVariables"] = r.strMap("environment_variables", v)
	}
	if v := f["tags"]; v != nil {
		props["tags"] = r.strMap("tags", v)
	}
	if v := f["resources"]; r.object("resources", v) {
		props["resources"] = r.mapped(v, "resources", map[string]string{"instance_count": "#instanceCount", "instance_type": "instanceType", "shm_size": "shmSize"})
	}
	if v := f["distribution"]; r.object("distribution", v) {
		props["distribution"] = r.distribution(v)
	}
	if v := f["inputs"]; r.object("inputs", v) {
		props["inputs"] = r.inputs(v, jf)
	}
	if v := f["outputs"]; r.object("outputs", v) {
		props["outputs"] = r.outputs(v)
	}
	if v := f["limits"]; r.object("limits", v) {
		if t := r.fields(v, "limits")["timeout"]; t != nil {
			props["limits"] = map[string]any{"jobLimitsType": "Command", "timeout": fmt.Sprintf("PT%dS", r.integer("limits.timeout (seconds)", t))}
		}
	}
	jf.Body = map[string]any{"properties": props}
	return jf
}

// object reports whether v is present and a mapping, naming it when it
// is another kind.
func (r *reader) object(key string, v *arm.Value) bool {
	if v == nil {
		return false
	}
	if v.Kind != arm.Object {
		r.errf(v, "%s must be a mapping, not a %s", key, v.Kind)
		return false
	}
	return true
}

// environment reads a reference (azureml:NAME:VERSION, a registry URI) or
// an inline environment, which becomes an anonymous environment version
// named by its content, as the az ml CLI does.
func (r *reader) environment(v, doc *arm.Value, props map[string]any, jf *File) {
	switch {
	case v == nil:
		r.errs = append(r.errs, fmt.Sprintf("%s:%d: environment is required (environment: azureml:NAME:VERSION, or image: …)", r.path, doc.Line))
		return
	case v.Kind == arm.String:
		props["environmentId"] = r.assetID("environment", "environments", v)
		return
	case !r.object("environment", v):
		return
	}
	ef := r.fields(v, "environment")
	env := map[string]any{}
	if img := ef["image"]; img != nil {
		env["image"] = r.str("environment.image", img)
	} else {
		r.errf(v, "an inline environment needs image (the process runs on the node's own userland; the image is recorded)")
	}
	if c := ef["conda_file"]; c != nil {
		conda, err := r.files.ReadFile("environment.conda_file", r.str("environment.conda_file", c))
		if err != nil {
			r.errf(c, "environment.conda_file: %v", err)
		}
		env["condaFile"] = string(conda)
	}
	sum := sha256.Sum256(fmt.Append(nil, env["image"], env["condaFile"]))
	jf.Environment = map[string]any{"properties": env}
	jf.EnvID = r.workspace + "/environments/CliV2AnonymousEnvironment/versions/" + hex.EncodeToString(sum[:16])
	props["environmentId"] = jf.EnvID
}

func (r *reader) distribution(v *arm.Value) map[string]any {
	d := r.mapped(v, "distribution", map[string]string{"process_count_per_instance": "#processCountPerInstance",
		"worker_count": "#workerCount", "parameter_server_count": "#parameterServerCount"})
	if x := v.Get("type"); x != nil {
		kinds := map[string]string{"pytorch": "PyTorch", "mpi": "Mpi", "tensorflow": "TensorFlow"}
		if t, ok := kinds[strings.ToLower(r.str("distribution.type", x))]; ok {
			d["distributionType"] = t
		} else if x.Kind == arm.String {
			r.errf(x, "distribution.type %q must be pytorch, mpi or tensorflow", x.Str)
		}
	}
	return d
}

// mapped reads the keys of section that table maps to REST fields: a
// string, or a whole number when the field starts with '#'. Keys the
// table lacks are the caller's.
func (r *reader) mapped(v *arm.Value, section string, table map[string]string) map[string]any {
	out := map[string]any{}
	for k, x := range r.fields(v, section) {
		field, ok := table[k]
		switch {
		case !ok:
		case strings.HasPrefix(field, "#"):
			out[field[1:]] = r.integer(section+"."+k, x)
		default:
			out[field] = r.str(section+"."+k, x)
		}
	}
	return out
}

// inputs reads literal inputs, and file and folder inputs: a local path
// (uploaded first: jf.Inputs) or a datastore or blob URI.
func (r *reader) inputs(v *arm.Value, jf *File) map[string]any {
	out := map[string]any{}
	for i, name := range v.Keys {
		switch x := v.Fields[i]; x.Kind {
		case arm.String, arm.Number, arm.Bool:
			out[name] = map[string]any{"jobInputType": "literal", "value": x.Str}
		case arm.Object:
			if in := r.fileInput(name, x, jf); in != nil {
				out[name] = in
			}
		default:
			r.errf(x, "inputs.%s must be a literal value, not a %s", name, x.Kind)
		}
	}
	return out
}

// fileInput reads a uri_file or uri_folder input. Inputs are always
// downloaded onto the nodes: mode is accepted and has no effect.
func (r *reader) fileInput(name string, x *arm.Value, jf *File) map[string]any {
	f := r.fields(x, "inputs.*")
	typ := ""
	if t := f["type"]; t != nil {
		typ = r.str("inputs."+name+".type", t)
	}
	if typ != "uri_file" && typ != "uri_folder" {
		r.errf(x, "inputs.%s.type must be uri_file or uri_folder (a literal is written as the value itself)", name)
		return nil
	}
	pv := f["path"]
	if pv == nil {
		r.errf(x, "inputs.%s.path is required: a local file or folder, or azureml://datastores/%s/paths/…", name, blob.WorkspaceDatastore)
		return nil
	}
	p := r.str("inputs."+name+".path", pv)
	in := map[string]any{"jobInputType": typ}
	a, err := r.stat("inputs."+name, p)
	switch {
	case errors.Is(err, errNotLocal):
		in["uri"] = p
	case err != nil:
		r.errf(pv, "inputs.%s.path %q: %v", name, p, err)
	case a.Dir != (typ == "uri_folder"):
		r.errf(pv, "inputs.%s.path %q does not match its type %s", name, p, typ)
	default:
		if jf.Inputs == nil {
			jf.Inputs = map[string]*Local{}
		}
		jf.Inputs[name] = &a
	}
	return in
}

// outputs reads uri_folder outputs without a path.
func (r *reader) outputs(v *arm.Value) map[string]any {
	out := map[string]any{}
	for i, name := range v.Keys {
		x := v.Fields[i]
		if !r.object("outputs."+name, x) {
			continue
		}
		of := r.fields(x, "outputs.*")
		typ := "uri_folder"
		if t := of["type"]; t != nil && r.str("outputs."+name+".type", t) != "uri_folder" && t.Kind == arm.String {
			r.errf(t, "outputs.%s.type %q: securetrain keeps uri_folder outputs", name, t.Str)
		}
		out[name] = map[string]any{"jobOutputType": typ}
	}
	return out
}

// JobName is the job's name: override when set, else the file's name:,
// else a new one (job-{10 hex digits}), as az ml names a job.
func (f *File) JobName(override string) string {
	switch {
	case override != "":
		return override
	case f.Name != "":
		return f.Name
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return "job-" + hex.EncodeToString(b)
}
