package resources

import (
	"strings"

	"securetrain/internal/arm"
)

// Azure ML's training jobs and the assets they name, in the 2024-04-01
// shape: command jobs (workspaces/jobs), code and environment versions.

// Job is a command job.
type Job struct {
	Meta
	Workspace arm.ID
	Command   string
	// Compute is the compute it runs on (computeId).
	Compute Ref
	// CodeID and EnvironmentID name the code and environment versions
	// (ARM ids, or azureml:// asset URIs for registry assets).
	CodeID, EnvironmentID string
	InstanceCount         int // resources.instanceCount; 1 when absent
	Distribution          JobDistribution
	Inputs                map[string]JobInput
	Outputs               map[string]JobOutput
	EnvironmentVariables  map[string]string
	// Timeout is limits.timeout as written (an ISO 8601 duration); "" is
	// none.
	Timeout                                  string
	ExperimentName, DisplayName, Description string
	// Status is the server's (read-only in Azure).
	Status string
}

// JobDistribution is a job's distribution: "" (a single process per
// node), PyTorch, Mpi or TensorFlow.
type JobDistribution struct {
	Type                 string
	ProcessesPerInstance int // PyTorch and Mpi; 1 when absent
	WorkerCount          int // TensorFlow; instanceCount when absent
}

// JobInput is one input: a literal value, or a file or folder by URI.
type JobInput struct {
	Type  string // literal, uri_file, uri_folder
	Value string // a literal's
	URI   string
}

// JobOutput is one output folder.
type JobOutput struct {
	Type string // uri_folder
	URI  string // where it is kept; "" lets the server choose
}

// Distribution types.
const (
	DistributionPyTorch    = "PyTorch"
	DistributionMPI        = "Mpi"
	DistributionTensorFlow = "TensorFlow"
)

// Job statuses (Azure's JobStatus values that securetrain reaches).
const (
	JobNotStarted      = "NotStarted"
	JobQueued          = "Queued"
	JobPreparing       = "Preparing"
	JobRunning         = "Running"
	JobFinalizing      = "Finalizing"
	JobCancelRequested = "CancelRequested"
	JobCompleted       = "Completed"
	JobFailed          = "Failed"
	JobCanceled        = "Canceled"
)

// JobTerminal reports whether a job status is final.
func JobTerminal(status string) bool {
	return status == JobCompleted || status == JobFailed || status == JobCanceled
}

// MLAsset is a code or environment, or one of their versions: recorded,
// and named by jobs.
type MLAsset struct {
	Meta
	// Image is an environment version's container image, recorded only:
	// jobs run on the node's own userland.
	Image string
	// CodeURI is where a code version's snapshot is.
	CodeURI string
}

// jobInputTypes and jobOutputTypes are Azure's; the first ones are those
// securetrain runs.
var (
	jobInputTypes   = []string{"literal", "uri_file", "uri_folder", "mltable", "custom_model", "mlflow_model", "triton_model"}
	jobOutputTypes  = []string{"uri_folder", "uri_file", "mltable", "custom_model", "mlflow_model", "triton_model"}
	distributionAll = []string{DistributionPyTorch, DistributionMPI, DistributionTensorFlow, "Ray"}
)

// decodeJob reads a job. Only command jobs run here; the other job types
// are refused by name.
func decodeJob(r *res) *Job {
	p := r.props
	// Server-owned (status, error, services' endpoints) and what does not
	// change how the job runs.
	p.ignore("status", "error", "services", "parameters", "isArchived", "properties", "identity", "componentId",
		"notificationSetting", "queueSettings", "autologgerSettings", "provisioningState")
	j := &Job{Meta: r.meta(), InstanceCount: 1, Status: p.str("status"),
		ExperimentName: p.str("experimentName"), DisplayName: p.str("displayName"), Description: p.str("description")}
	j.Workspace, _ = r.id.Parent()
	if j.ExperimentName == "" {
		j.ExperimentName = "Default"
	}
	if typ := p.enum("jobType", true, "Command", "AutoML", "Pipeline", "Sweep", "Spark"); typ != "" && typ != "Command" {
		p.refuse("jobType", typ, "securetrain runs command jobs only")
	}
	if v := p.stringField("command", true); !v.IsZero() {
		j.Command = v.Str()
	}
	j.Compute = p.idString("computeId", TypeCompute, true, true)
	if v := p.stringField("codeId", false); !v.IsZero() {
		j.CodeID = v.Str()
		if strings.HasPrefix(v.Str(), "/") {
			r.idRef("codeId", v, TypeCodeVersion, true)
		}
	}
	if v := p.stringField("environmentId", true); !v.IsZero() {
		j.EnvironmentID = v.Str()
		if strings.HasPrefix(v.Str(), "/") {
			r.idRef("environmentId", v, TypeEnvironmentVer, true)
		}
	}
	res := p.child("resources")
	res.ignore("instanceType", "properties", "shmSize", "dockerArgs", "locations")
	if n, ok := res.integer("instanceCount", 1, 1000, false); ok {
		j.InstanceCount = n
	}
	dist := p.child("distribution")
	if !dist.v.IsZero() {
		j.Distribution.Type = dist.enum("distributionType", true, distributionAll...)
		if j.Distribution.Type == "Ray" {
			dist.refuse("distributionType", "Ray", "securetrain runs PyTorch, Mpi and TensorFlow distributions")
		}
		j.Distribution.ProcessesPerInstance = 1
		if n, ok := dist.integer("processCountPerInstance", 1, 64, false); ok {
			j.Distribution.ProcessesPerInstance = n
		}
		j.Distribution.WorkerCount = j.InstanceCount
		if n, ok := dist.integer("workerCount", 1, 1000, false); ok {
			j.Distribution.WorkerCount = n
		}
		dist.ignore("parameterServerCount")
	}
	j.Inputs = decodeJobInputs(p.child("inputs"))
	j.Outputs = decodeJobOutputs(p.child("outputs"))
	j.EnvironmentVariables = p.tags("environmentVariables")
	lim := p.child("limits")
	if !lim.v.IsZero() {
		lim.enum("jobLimitsType", true, "Command", "Sweep")
		if v := lim.stringField("timeout", false); !v.IsZero() {
			j.Timeout = v.Str()
		}
	}
	return j
}

// members is each member of a map-shaped object (inputs, outputs) as an
// object reader, by name.
func members(o *obj) map[string]*obj {
	if o.v.IsZero() {
		return nil
	}
	o.ignoreRest()
	out := make(map[string]*obj, o.v.Len())
	for i := range o.v.Len() {
		k, v := o.v.Key(i), o.v.Field(i)
		if v.Kind() != arm.Object {
			o.wrongKind(o.name(k), v, "an object")
			continue
		}
		out[k] = o.r.newObj(v, o.name(k)+".", v.Line(), false)
	}
	return out
}

func decodeJobInputs(o *obj) map[string]JobInput {
	in := map[string]JobInput{}
	for name, m := range members(o) {
		m.ignore("description", "mode", "pathOnCompute")
		ji := JobInput{Type: m.enum("jobInputType", true, jobInputTypes...)}
		if ji.Type == "literal" {
			if v := m.strValue("value", true); !v.IsZero() {
				ji.Value = v.Str()
			}
		} else if v := m.stringField("uri", true); !v.IsZero() {
			ji.URI = v.Str()
		}
		in[name] = ji
	}
	return in
}

func decodeJobOutputs(o *obj) map[string]JobOutput {
	out := map[string]JobOutput{}
	for name, m := range members(o) {
		m.ignore("description", "mode", "assetName", "assetVersion", "pathOnCompute")
		jo := JobOutput{Type: m.enum("jobOutputType", true, jobOutputTypes...)}
		if v := m.stringField("uri", false); !v.IsZero() {
			jo.URI = v.Str()
		}
		out[name] = jo
	}
	return out
}

// decodeAsset reads a code or environment container or version: what a
// job names, recorded as Azure models it.
func decodeAsset(r *res) *MLAsset {
	p := r.props
	p.ignore("description", "properties", "tags", "isArchived", "isAnonymous", "latestVersion", "nextVersion",
		"provisioningState", "autoRebuild", "build", "condaFile", "inferenceConfig", "osType", "environmentType", "stage")
	return &MLAsset{Meta: r.meta(), Image: p.str("image"), CodeURI: p.str("codeUri")}
}

func mlAssets(s *Snapshot) *[]*MLAsset { return &s.MLAssets }
