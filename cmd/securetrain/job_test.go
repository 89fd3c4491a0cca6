package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startJobServer is a server whose jobs run, with the seed network and a
// cluster cpucluster (0 to 2 nodes) in workspace ws1.
func startJobServer(t *testing.T) {
	t.Helper()
	nodes, err := os.MkdirTemp("", "securetrain-nodes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(nodes) })
	if err := os.Chmod(nodes, 0o711); err != nil {
		t.Fatal(err)
	}
	serveOn(t, serveConfig{dataDir: filepath.Join(t.TempDir(), "data"), insecure: true, nodeDir: filepath.Join(nodes, "n")})
	t.Setenv("SECURETRAIN_SUBSCRIPTION", "")
	if code, out, errs := runCLI(t, "apply", "-f", writeFile(t, "env.yaml", computeEnv)); code != 0 {
		t.Fatalf("apply: %d\n%s%s", code, out, errs)
	}
	if code, out, errs := computeCLI(t, append([]string{"create", "cpucluster", "--type", "amlcompute", "--min-nodes", "0", "--max-nodes", "2"}, inSubnet...)...); code != 0 {
		t.Fatalf("create cluster: %d\n%s%s", code, out, errs)
	}
}

func jobCLI(t *testing.T, args ...string) (int, string, string) {
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
`)
	code, _, errs := runCLI(t, "job", "create", "-f", file, "--subscription", testSub, "-g", "mlgroup", "-w", "ws1", "--url", "http://127.0.0.1:1", "--token", "t")
	if code != exitBadInput {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	mustContain(t, "errors", errs, file+":5: resources.instance_count must be a whole number",
		file+":7: distribution.type \"horovod\" must be pytorch, mpi or tensorflow",
		file+":9: unknown key \"limit\"", // the line of the value
		file+":10: code \"./src\": uploading a local folder needs the workspace's blob storage")
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
