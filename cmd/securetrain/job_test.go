package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"securetrain/internal/jobfile"
)

// startJobServer is a server whose jobs run, with the seed network and a
// cluster cpucluster (0 to 2 nodes) in workspace ws1.
func startJobServer(t testing.TB) {
	t.Helper()
	serveOn(t, serveConfig{dataDir: filepath.Join(t.TempDir(), "data"), insecure: true, nodeDir: jobNodeDir(t)})
	t.Setenv("SECURETRAIN_SUBSCRIPTION", "")
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "env.yaml", computeEnv)); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	if code, out, errs := computeCLI(t, append([]string{"create", "cpucluster", "--type", "amlcompute", "--min-nodes", "0", "--max-nodes", "2"}, inSubnet...)...); code != 0 {
		t.Fatalf("create cluster: %d\n%s%s", code, out, errs)
	}
}

// jobNodeDir is a --node-dir jobs' users can reach (t.TempDir's parent
// is private to root).
func jobNodeDir(t testing.TB) string {
	t.Helper()
	nodes, err := os.MkdirTemp("", "securetrain-nodes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(nodes) })
	if err := os.Chmod(nodes, 0o711); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(nodes, "n")
}

func jobCLI(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(append([]string{"job"}, args...), "--subscription", testSub, "-g", "mlgroup", "-w", "ws1")...)
}

// The example job YAML runs with --stream on a cluster at 0 nodes: the
// stream shows it complete and prints rank 0's log, with the inputs,
// environment variables and PyTorch variables substituted.
func TestJobCreateStream(t *testing.T) {
	startJobServer(t)
	code, out, errs := jobCLI(t, "create", "-f", example("job-pytorch.yml"), "--name", "smoke1", "--stream")
	if code != 0 {
		t.Fatalf("job create: %d\n%s%s", code, out, errs)
	}
	mustContain(t, "job create --stream", out, "submitted job smoke1\n", "status: Completed\n", "rank 0 of 2 (node 0) meets at 127.0.0.1:", "3 epochs, greeting hello")
	dir := filepath.Join(t.TempDir(), "dl")
	if code, out, errs := jobCLI(t, "download", "smoke1", "--download-path", dir); code != 0 || !strings.Contains(out, "downloaded 2 files") {
		t.Fatalf("job download: %d\n%s%s", code, out, errs)
	}
	if got := string(readFile(t, filepath.Join(dir, "artifacts", "user_logs", "std_log_process_1.txt"))); !strings.Contains(got, "rank 1 of 2") {
		t.Errorf("downloaded log of rank 1: %q", got)
	}
	code, out, errs = jobCLI(t, "list")
	if code != 0 || !strings.Contains(out, "smoke1") || !strings.Contains(out, "Completed") || !strings.Contains(out, "cpucluster") {
		t.Fatalf("job list: %d\n%s%s", code, out, errs)
	}
}

// A job that fails streams its status and exits 1 with the exit code and
// the last lines; --set overrides a key of the file.
func TestJobStreamFailure(t *testing.T) {
	startJobServer(t)
	file := writeFile(t, "job.yml", "command: echo unused\nenvironment: azureml:sklearn:1\ncompute: azureml:cpucluster\n")
	code, out, errs := jobCLI(t, "create", "-f", file, "--set", "command=echo boom >&2; exit 7", "--stream")
	if code != 1 || !strings.Contains(out, "status: Failed") || !strings.Contains(errs, "status code 7") || !strings.Contains(errs, "boom") {
		t.Fatalf("failing job: %d\n%s%s", code, out, errs)
	}
}

// Mistakes in the YAML are named with the file and line, and nothing is
// sent.
func TestJobFileErrorsNameTheLine(t *testing.T) {
	file := writeFile(t, "job.yml", `command: python train.py
environment: azureml:sklearn:1
compute: azureml:cpucluster
resources:
  instance_count: two
distribution:
  type: horovod
limit:
  timeout: 60
code: ./src
inputs:
  d: {type: uri_folder, path: ./job.yml}
  e: {type: uri_file}
`)
	code, _, errs := runCLI(t, "job", "create", "-f", file, "--subscription", testSub, "-g", "mlgroup", "-w", "ws1", "--url", "http://127.0.0.1:1", "--token", "t")
	if code != exitBadInput {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	mustContain(t, "errors", errs, file+":5: resources.instance_count must be a whole number",
		file+":7: distribution.type \"horovod\" must be pytorch, mpi or tensorflow",
		file+":9: unknown key \"limit\"", // the line of the value
		file+":10: code \"./src\" must be a local folder (uploaded as a snapshot) or azureml:NAME:VERSION",
		file+":12: inputs.d.path \"./job.yml\" does not match its type uri_folder",
		file+":13: inputs.e.path is required")
}

// A job's output folder comes down with `job download`, beside its log.
func TestJobDownloadOutputs(t *testing.T) {
	startJobServer(t)
	file := writeFile(t, "job.yml", `command: echo trained > ${{outputs.model}}/w.txt
environment: azureml:sklearn:1
compute: azureml:cpucluster
outputs:
  model:
    type: uri_folder
`)
	if code, out, errs := jobCLI(t, "create", "-f", file, "--name", "train1", "--stream"); code != 0 {
		t.Fatalf("job create: %d\n%s%s", code, out, errs)
	}
	dir := filepath.Join(t.TempDir(), "dl")
	if code, out, errs := jobCLI(t, "download", "train1", "--download-path", dir); code != 0 || !strings.Contains(out, "downloaded 2 files") {
		t.Fatalf("job download: %d\n%s%s", code, out, errs)
	}
	if got := string(readFile(t, filepath.Join(dir, "named-outputs", "model", "w.txt"))); got != "trained\n" {
		t.Errorf("downloaded output: %q", got)
	}
}

// workspaceStorage gives ws1 a default storage account, stws1.
const workspaceStorage = `subscription: 00000000-0000-0000-0000-000000000001
resources:
  - type: Microsoft.Storage/storageAccounts
    resourceGroup: mlgroup
    name: stws1
    location: westus2
    kind: StorageV2
    sku: {name: Standard_LRS}
  - type: Microsoft.MachineLearningServices/workspaces
    resourceGroup: mlgroup
    name: ws1
    location: westus2
    identity: {type: SystemAssigned}
    properties:
      friendlyName: ws1
      workspaceId: 6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b
      storageAccount: /resourceGroups/mlgroup/providers/Microsoft.Storage/storageAccounts/stws1
`

// A job's local code folder is uploaded as a snapshot and is the working
// directory its command runs in; a local file and a local folder input
// are uploaded and downloaded onto the node, ${{inputs.x}} naming them
// there; the uploaded file, named by its datastore URI, is read by a
// second job; an input in another storage account is refused.
func TestJobCodeAndInputs(t *testing.T) {
	startJobServer(t)
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "storage.yaml", workspaceStorage)); code != 0 {
		t.Fatalf("apply storage: %d\n%s%s", code, out, errs)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"src/train.sh":         "echo \"code says $(cat lib/greeting.txt)\"\necho \"rows: $(cat \"$1\")\"\nls \"$2\"\ncp \"$1\" \"$3/copy.csv\"\n",
		"src/lib/greeting.txt": "hello from the snapshot",
		"data/rows.csv":        "a,b",
		"data/more/x.txt":      "x",
		"data/more/y.txt":      "y",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	job := filepath.Join(dir, "job.yml")
	if err := os.WriteFile(job, []byte(`code: ./src
command: sh train.sh ${{inputs.rows}} ${{inputs.more}} ${{outputs.model}}
environment: azureml:sklearn:1
compute: azureml:cpucluster
inputs:
  rows: {type: uri_file, path: ./data/rows.csv}
  more: {type: uri_folder, path: ./data/more, mode: ro_mount}
outputs:
  model: {type: uri_folder}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := jobCLI(t, "create", "-f", job, "--name", "code1", "--stream")
	if code != 0 {
		t.Fatalf("job create: %d\n%s%s", code, out, errs)
	}
	mustContain(t, "job with code and inputs", out, "uploaded code "+filepath.Join(dir, "src")+" (2 files) to azureml-blobstore-6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b/LocalUpload/",
		"uploaded inputs.more "+filepath.Join(dir, "data", "more")+" (2 files)", "status: Completed\n", "code says hello from the snapshot\n", "rows: a,b\n", "x.txt\ny.txt\n")
	dl := filepath.Join(t.TempDir(), "dl")
	if code, out, errs := jobCLI(t, "download", "code1", "--download-path", dl); code != 0 {
		t.Fatalf("job download: %d\n%s%s", code, out, errs)
	}
	if got := string(readFile(t, filepath.Join(dl, "named-outputs", "model", "copy.csv"))); got != "a,b" {
		t.Errorf("output copied from the input: %q", got)
	}
	// The output is in the workspace's storage too, at Azure ML's path.
	bc, err := azblob.NewClient(os.Getenv("SECURETRAIN_URL")+"/stws1", jobfile.Token(os.Getenv("SECURETRAIN_TOKEN")),
		&azblob.ClientOptions{ClientOptions: policy.ClientOptions{InsecureAllowCredentialWithHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := bc.DownloadStream(context.Background(), "azureml-blobstore-6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b", "azureml/code1/model/copy.csv", nil)
	if err != nil {
		t.Fatalf("the output in the workspace's storage: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "a,b" {
		t.Errorf("the output in the workspace's storage: %q", got)
	}

	_, digest, err := jobfile.Snapshot(jobfile.Local{Path: filepath.Join(dir, "data", "rows.csv")})
	if err != nil {
		t.Fatal(err)
	}
	byURI := writeFile(t, "byuri.yml", `command: cat ${{inputs.rows}}
environment: azureml:sklearn:1
compute: azureml:cpucluster
inputs:
  rows: {type: uri_file, path: azureml://datastores/workspaceblobstore/paths/LocalUpload/`+digest+`/rows.csv}
`)
	if code, out, errs := jobCLI(t, "create", "-f", byURI, "--name", "byuri1", "--stream"); code != 0 || !strings.Contains(out, "a,b") {
		t.Fatalf("job with a datastore URI: %d\n%s%s", code, out, errs)
	}
	elsewhere := writeFile(t, "elsewhere.yml", `command: cat ${{inputs.rows}}
environment: azureml:sklearn:1
compute: azureml:cpucluster
inputs:
  rows: {type: uri_file, path: "https://127.0.0.1:1/stother/data/rows.csv"}
`)
	code, _, errs = jobCLI(t, "create", "-f", elsewhere, "--name", "other1")
	if code == 0 || !strings.Contains(errs, "a job reads only its workspace's storage account stws1") {
		t.Fatalf("input in another storage account: %d\n%s", code, errs)
	}
}

// `job archive` hides a job from `job list` (az ml's default), which
// --include-archived and --archived-only show again; `job restore`
// brings it back.
func TestJobArchive(t *testing.T) {
	startJobServer(t)
	file := writeFile(t, "job.yml", "command: echo hi\nenvironment: azureml:sklearn:1\ncompute: azureml:cpucluster\n")
	for _, n := range []string{"kept1", "old1"} {
		if code, out, errs := jobCLI(t, "create", "-f", file, "--name", n, "--stream"); code != 0 {
			t.Fatalf("job create %s: %d\n%s%s", n, code, out, errs)
		}
	}
	if code, out, errs := jobCLI(t, "archive", "old1"); code != 0 || out != "archived job old1\n" {
		t.Fatalf("job archive: %d\n%s%s", code, out, errs)
	}
	list := func(flags ...string) string {
		t.Helper()
		code, out, errs := jobCLI(t, append([]string{"list"}, flags...)...)
		if code != 0 {
			t.Fatalf("job list %v: %d\n%s%s", flags, code, out, errs)
		}
		return out
	}
	if out := list(); !strings.Contains(out, "kept1") || strings.Contains(out, "old1") {
		t.Errorf("job list shows the archived job, or not the other:\n%s", out)
	}
	if out := list("--include-archived"); !strings.Contains(out, "kept1") || !strings.Contains(out, "old1") {
		t.Errorf("job list --include-archived:\n%s", out)
	}
	if out := list("--archived-only"); strings.Contains(out, "kept1") || !strings.Contains(out, "old1") {
		t.Errorf("job list --archived-only:\n%s", out)
	}
	if code, _, errs := jobCLI(t, "list", "--archived-only", "--include-archived"); code != exitBadInput || !strings.Contains(errs, "exclude each other") {
		t.Errorf("both flags: %d %s", code, errs)
	}
	if code, out, errs := jobCLI(t, "restore", "old1"); code != 0 || out != "restored job old1\n" {
		t.Fatalf("job restore: %d\n%s%s", code, out, errs)
	}
	if out := list(); !strings.Contains(out, "old1") {
		t.Errorf("job list after restore:\n%s", out)
	}
}
