package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/clock"
	"securetrain/internal/procusers"
	"securetrain/internal/resources"
	"securetrain/internal/store"
	"securetrain/internal/store/storetest"
)

// Command jobs on the sim fabric (issue 15): the lifecycle, the cluster
// scaling for them, their processes and what they may not read.

// jobOptions are a server's options with job directories: logs under the
// data directory's sibling t.TempDir (private), working directories where
// a job's user can reach them.
func jobOptions(t testing.TB, clk clock.Clock) Options {
	t.Helper()
	return Options{Clock: clk, JobLogDir: filepath.Join(t.TempDir(), "data", "jobs"), NodeDir: outsideDir(t, 0o711)}
}

func jobBody(compute, command string, extra ...string) string {
	props := fmt.Sprintf(`"jobType":"Command","command":%q,"environmentId":"azureml://registries/azureml/environments/sklearn-1.5/versions/1","computeId":"%s"`,
		command, wsML+"/computes/"+compute)
	for _, e := range extra {
		props += "," + e
	}
	return `{"properties":{` + props + `}}`
}

// submit creates job name and returns nothing; it fails the test unless
// the server accepts it as NotStarted.
func (c *client) submit(name, body string) {
	c.t.Helper()
	st, out, _ := c.do("PUT", wsML+"/jobs/"+name+mlVersion, body)
	if st != http.StatusCreated || arm.EnsureField(out, "properties")["status"] != resources.JobNotStarted {
		c.t.Fatalf("PUT job %s: %d %v", name, st, out)
	}
}

// job reads a job's properties.
func (c *client) job(name string) map[string]any {
	c.t.Helper()
	st, out, _ := c.do("GET", wsML+"/jobs/"+name+mlVersion, "")
	if st != http.StatusOK {
		c.t.Fatalf("GET job %s: %d %v", name, st, out)
	}
	return arm.EnsureField(out, "properties")
}

// waitJob lets the engine work until job name reaches a final status,
// and returns its properties. The processes run on their own: between
// passes the test yields to them.
func (c *client) waitJob(name string) map[string]any {
	c.t.Helper()
	var p map[string]any
	poll(c.t, "job "+name+" to finish", 10*time.Millisecond, func() (bool, any) {
		c.settle()
		p = c.job(name)
		return resources.JobTerminal(fmt.Sprint(p["status"])), p
	})
	return p
}

// waitStatus lets the engine work until job name shows status.
func (c *client) waitStatus(name, status string) {
	c.t.Helper()
	poll(c.t, "job "+name+" to be "+status, 10*time.Millisecond, func() (bool, any) {
		c.settle()
		p := c.job(name)
		return p["status"] == status, p
	})
}

func (c *client) log(name, file string) string {
	c.t.Helper()
	text, st := c.logAt(name, file)
	if st != http.StatusOK {
		c.t.Fatalf("log %s of %s: %d %s", file, name, st, text)
	}
	return text
}

// logAt reads a job's log file and the answer's status.
func (c *client) logAt(name, file string) (string, int) {
	c.t.Helper()
	return c.get("/jobs/"+name+"/userLogs", "file="+file)
}

// A job on a cluster at 0 nodes queues, scales the cluster up to its
// instance count, runs on nodes shown running, completes, and the
// cluster scales down after nodeIdleTimeBeforeScaleDown (spec: issue 15,
// lifecycle).
func TestJobScalesClusterUpThenDown(t *testing.T) {
	clk := clock.NewFake(testEpoch)
	c := newClient(t, jobOptions(t, clk))
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 4, "PT120S"), http.StatusCreated)
	// The job holds its nodes until the test releases it: the cluster's
	// running nodes can be read meanwhile.
	gate := filepath.Join(outsideDir(t, 0o755), "go")
	c.submit("train", jobBody("cpu", "while [ ! -e "+gate+" ]; do sleep 0.01; done; echo rank $RANK of $WORLD_SIZE",
		`"resources":{"instanceCount":2}`, `"distribution":{"distributionType":"PyTorch","processCountPerInstance":1}`))
	c.waitStatus("train", resources.JobRunning)
	_, inner := c.compute("cpu")
	counts := arm.EnsureField(inner, "nodeStateCounts")
	if inner["currentNodeCount"] != float64(2) || counts["runningNodeCount"] != float64(2) {
		t.Fatalf("while the job runs: %v", inner)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := c.waitJob("train"); p["status"] != resources.JobCompleted {
		t.Fatalf("job: %v", p)
	}
	if got := c.log("train", "std_log_process_1.txt"); !strings.Contains(got, "rank 1 of 2") {
		t.Errorf("rank 1's log: %q", got)
	}
	_, inner = c.compute("cpu")
	if counts := arm.EnsureField(inner, "nodeStateCounts"); counts["idleNodeCount"] != float64(2) || counts["runningNodeCount"] != float64(0) {
		t.Fatalf("after the job: %v", inner)
	}
	clk.Advance(120 * time.Second)
	c.settle()
	if _, inner := c.compute("cpu"); inner["currentNodeCount"] != float64(0) {
		t.Fatalf("after the idle time: %v", inner)
	}
}

// outsideDir is a directory outside t.TempDir (whose parent is private
// to root), with mode: one jobs' users can reach.
func outsideDir(t testing.TB, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "securetrain-jobs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// oneNodeCluster is a server whose jobs run (on clk; nil: the system
// clock), with cluster cpu of one node.
func oneNodeCluster(t *testing.T, clk clock.Clock) *client {
	t.Helper()
	c := newClient(t, jobOptions(t, clk))
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 1, 1, "PT120S"), http.StatusCreated)
	return c
}

// A failing command fails the job with its exit code and the last lines
// of its output.
func TestJobFailureReportsExitCodeAndLastLines(t *testing.T) {
	c := oneNodeCluster(t, nil)
	c.submit("bad", jobBody("cpu", "echo loading data; echo 'ValueError: bad shape' >&2; exit 3"))
	p := c.waitJob("bad")
	e := arm.EnsureField(p, "error")
	msg := fmt.Sprint(e["message"])
	if p["status"] != resources.JobFailed || e["code"] != "UserError" || !strings.Contains(msg, "status code 3") || !strings.Contains(msg, "ValueError: bad shape") ||
		strings.Contains(msg, "signal") {
		t.Fatalf("failed job: %v", p)
	}
	// A process a signal ended says which signal: -1 alone does not.
	c.submit("killed", jobBody("cpu", "echo about to go; kill -9 $$"))
	p = c.waitJob("killed")
	msg = fmt.Sprint(arm.EnsureField(p, "error")["message"])
	if p["status"] != resources.JobFailed || !strings.Contains(msg, "status code -1 (ended by signal SIGKILL). Last lines") || !strings.Contains(msg, "about to go") ||
		strings.Contains(msg, "OOM") {
		t.Fatalf("job killed by a signal: %v", p)
	}
}

// A job's processes run as a user of their own: they cannot read the
// admin token or the embedded store's database in the data directory.
func TestJobCannotReadServerSecrets(t *testing.T) {
	c := oneNodeCluster(t, nil)
	token, db := filepath.Join(c.dir, AdminTokenFile), filepath.Join(c.dir, store.DBFile)
	secrets := []string{token}
	if os.Getenv(storetest.StoreEnv) != "postgres" {
		secrets = append(secrets, db)
	}
	for _, f := range secrets {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the secret to steal is not there: %v", err)
		}
	}
	c.submit("steal", jobBody("cpu", "id -u; cat "+token+" || exit 41; cat "+db+" >/dev/null || exit 42"))
	p := c.waitJob("steal")
	if p["status"] != resources.JobFailed || !strings.Contains(fmt.Sprint(arm.EnsureField(p, "error")["message"]), "status code 41") {
		t.Fatalf("the job read the admin token: %v", p)
	}
	logText := c.log("steal", "std_log.txt")
	if strings.Contains(logText, c.token) || !strings.Contains(logText, "Permission denied") || strings.HasPrefix(logText, "0\n") {
		t.Fatalf("job log: %q", logText)
	}
}

// Cancel kills the whole process tree, including a process that left the
// job's process group and session: none of the job's user's processes is
// left.
func TestJobCancelKillsTheTree(t *testing.T) {
	c := oneNodeCluster(t, nil)
	c.submit("long", jobBody("cpu", "setsid sleep 600 & sleep 600 & echo uid=$(id -u); wait"))
	uid := c.uidOf("long")
	if len(procusers.Processes(uid)) < 2 {
		t.Fatalf("the job's processes: uid %d, %v", uid, procusers.Processes(uid))
	}
	if st, out, _ := c.do("POST", wsML+"/jobs/long/cancel"+mlVersion, ""); st != http.StatusOK {
		t.Fatalf("cancel: %d %v", st, out)
	}
	if p := c.waitJob("long"); p["status"] != resources.JobCanceled {
		t.Fatalf("canceled job: %v", p)
	}
	if left := procusers.Processes(uid); len(left) > 0 {
		t.Fatalf("processes left behind: %v", left)
	}
	if _, inner := c.compute("cpu"); arm.EnsureField(inner, "nodeStateCounts")["idleNodeCount"] != float64(1) {
		t.Fatalf("the node was not given back: %v", inner)
	}
}

// A job's processes run in a control group per node limited to the
// compute's VM size (Standard_DS3_v2: 4 cores, 14 GiB), removed when the
// job ends.
func TestJobLimitedToItsVMSize(t *testing.T) {
	c := oneNodeCluster(t, nil)
	c.submit("limits", jobBody("cpu", `if mem=$(grep -E '^[0-9]+:memory:' /proc/self/cgroup | cut -d: -f3) && [ -n "$mem" ]; then
		cpu=$(grep -E '^[0-9]+:cpu(,cpuacct)?:' /proc/self/cgroup | cut -d: -f3)
		echo group /sys/fs/cgroup/memory$mem; cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes /sys/fs/cgroup/cpu$cpu/cpu.cfs_quota_us
	else g=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); echo group $g; cat $g/memory.max $g/cpu.max; fi`))
	if p := c.waitJob("limits"); p["status"] != resources.JobCompleted {
		t.Fatalf("job: %v", p)
	}
	out := c.log("limits", "std_log.txt")
	group, _, _ := strings.Cut(strings.TrimPrefix(out, "group "), "\n")
	if !strings.Contains(out, "\n"+strconv.Itoa(14<<30)+"\n400000") || !strings.Contains(group, "/securetrain-job-") {
		t.Fatalf("the job's limits: %q", out)
	}
	if _, err := os.Stat(group); !os.IsNotExist(err) {
		t.Errorf("the job's control group %s is left (%v)", group, err)
	}
}

// A job's spec is refused when it cannot run: more nodes than the cluster
// has, an undeclared reference, a compute of another workspace, code of
// another workspace, inputs outside its storage; and it cannot change
// once submitted.
func TestJobAdmission(t *testing.T) {
	c := newClient(t, jobOptions(t, nil))
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 0, 2, "PT120S"), http.StatusCreated)
	for body, want := range map[string]string{
		jobBody("cpu", "echo", `"resources":{"instanceCount":3}`):                                                      "at most 2 nodes",
		jobBody("cpu", "echo ${{inputs.lr}}"):                                                                          "${{inputs.lr}}",
		jobBody("gone", "echo"):                                                                                        "was not found",
		jobBody("cpu", "echo", `"environmentVariables":{"A=B":"x"}`):                                                   "environmentVariables.A=B",
		jobBody("cpu", "echo", `"limits":{"jobLimitsType":"Command","timeout":"soon"}`):                                "limits.timeout",
		`{"properties":{"jobType":"Sweep","command":"x","environmentId":"e","computeId":"` + wsML + `/computes/cpu"}}`: "command jobs only",
		// Code and inputs come from this workspace's storage only.
		jobBody("cpu", "echo", `"codeId":"`+rgNet+`/providers/Microsoft.MachineLearningServices/workspaces/other/codes/c/versions/1"`):   "not a code version of workspace",
		jobBody("cpu", "echo", `"inputs":{"d":{"jobInputType":"uri_file","uri":"azureml://datastores/workspaceblobstore/paths/d.csv"}}`): "no default storage account",
		jobBody("cpu", "echo", `"inputs":{"d":{"jobInputType":"uri_file","uri":"s3://bucket/d.csv"}}`):                                   "azureml://datastores/workspaceblobstore",
	} {
		st, out, _ := c.do("PUT", wsML+"/jobs/j1"+mlVersion, body)
		if st < 400 || !strings.Contains(fmt.Sprint(out), want) {
			t.Errorf("PUT %s: %d %v, want an error naming %q", body, st, out, want)
		}
	}
	c.submit("j2", jobBody("cpu", "echo a", `"displayName":"first"`))
	if st, out, _ := c.do("PUT", wsML+"/jobs/j2"+mlVersion, jobBody("cpu", "echo b")); st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "command cannot change") {
		t.Errorf("changing the command: %d %v", st, out)
	}
	if st, out, _ := c.do("PUT", wsML+"/jobs/j2"+mlVersion, jobBody("cpu", "echo a", `"displayName":"renamed"`)); st != http.StatusOK {
		t.Errorf("renaming: %d %v", st, out)
	}
}

// nodeDirEnv gives a server the test re-executes a directory for jobs'
// working directories.
const nodeDirEnv = "SECURETRAIN_TEST_NODE_DIR"

// uidOf reads the user id a job printed first in its log ("uid=N").
func (c *client) uidOf(name string) int {
	c.t.Helper()
	var uid int
	poll(c.t, "job "+name+" to print its uid", 10*time.Millisecond, func() (bool, any) {
		text, _ := c.logAt(name, "std_log.txt") // 404 until the job starts
		_, err := fmt.Sscanf(text, "uid=%d", &uid)
		return err == nil, text
	})
	return uid
}

// A server killed with SIGKILL while a job runs leaves the job's
// processes orphaned; started again, it kills them and fails the job
// with the reason rather than run it twice.
func TestJobAfterKill9FailsAndLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // the store creates it 0700
	nodes := outsideDir(t, 0o711)
	c, cmd, _ := startKillServer(t, dir, nodeDirEnv+"="+nodes)
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 1, 1, "PT120S"), http.StatusCreated)
	c.submit("orphan", jobBody("cpu", "echo uid=$(id -u); setsid sleep 600 & sleep 600"))
	uid := c.uidOf("orphan")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(procusers.Processes(uid)) == 0 {
		t.Fatal("the kill took the job's processes with it: nothing to adopt or stop")
	}
	c, _, _ = startKillServer(t, dir, nodeDirEnv+"="+nodes)
	p := c.waitJob("orphan")
	if p["status"] != resources.JobFailed || arm.EnsureField(p, "error")["code"] != "ServiceRestarted" {
		t.Fatalf("after the restart: %v", p)
	}
	if left := procusers.Processes(uid); len(left) > 0 {
		t.Fatalf("orphans left: %v", left)
	}
	if _, inner := c.compute("cpu"); arm.EnsureField(inner, "nodeStateCounts")["idleNodeCount"] != float64(1) {
		t.Fatalf("the node was not given back: %v", inner)
	}
}

// limits.timeout stops a job on the engine's clock: it fails with
// JobTimeout and its processes are gone.
func TestJobTimeout(t *testing.T) {
	clk := clock.NewFake(testEpoch)
	c := oneNodeCluster(t, clk)
	c.submit("slow", jobBody("cpu", "echo uid=$(id -u); sleep 600", `"limits":{"jobLimitsType":"Command","timeout":"PT10M"}`))
	uid := c.uidOf("slow")
	clk.Advance(9 * time.Minute)
	c.settle()
	if st := c.job("slow")["status"]; st != resources.JobRunning {
		t.Fatalf("before its timeout: %v", st)
	}
	clk.Advance(time.Minute)
	p := c.waitJob("slow")
	if p["status"] != resources.JobFailed || arm.EnsureField(p, "error")["code"] != "JobTimeout" {
		t.Fatalf("after its timeout: %v", p)
	}
	if left := procusers.Processes(uid); len(left) > 0 {
		t.Fatalf("processes left: %v", left)
	}
}

// Jobs wait in order when the cluster's nodes are busy: the second job
// stays Queued while the first runs, then runs on the node it gives back.
// Deleting a running job stops it and gives its node back.
func TestJobsQueueInOrderAndDeleteStopsARunningJob(t *testing.T) {
	c := oneNodeCluster(t, nil)
	c.submit("first", jobBody("cpu", "echo uid=$(id -u); sleep 600"))
	c.submit("second", jobBody("cpu", "echo second"))
	uid := c.uidOf("first")
	c.settle()
	if st := c.job("second")["status"]; st != resources.JobQueued {
		t.Fatalf("second while first runs: %v", st)
	}
	if st, out, _ := c.do("DELETE", wsML+"/jobs/first"+mlVersion, ""); st != http.StatusOK {
		t.Fatalf("delete first: %d %v", st, out)
	}
	if p := c.waitJob("second"); p["status"] != resources.JobCompleted {
		t.Fatalf("second: %v", p)
	}
	if left := procusers.Processes(uid); len(left) > 0 {
		t.Fatalf("the deleted job's processes: %v", left)
	}
	if got := c.log("second", "std_log.txt"); got != "second\n" {
		t.Fatalf("second's log: %q", got)
	}
}

// ${{outputs.y}} is a folder the job can write; ${{inputs.x}} is the
// literal's value; environment variables arrive.
func TestJobWritesItsOutputFolder(t *testing.T) {
	c := oneNodeCluster(t, nil)
	c.submit("out", jobBody("cpu", "echo $GREETING ${{inputs.lr}} > ${{outputs.model}}/weights && ln -s /etc/passwd ${{outputs.model}}/leak && cat ${{outputs.model}}/weights",
		`"inputs":{"lr":{"jobInputType":"literal","value":"0.01"}}`, `"outputs":{"model":{"jobOutputType":"uri_folder"}}`,
		`"environmentVariables":{"GREETING":"hello"}`))
	if p := c.waitJob("out"); p["status"] != resources.JobCompleted {
		t.Fatalf("job: %v", p)
	}
	if got := c.log("out", "std_log.txt"); got != "hello 0.01\n" {
		t.Fatalf("log: %q", got)
	}
	// The output folder is kept: its regular files, not a link out of it.
	st, list, _ := c.do("GET", wsML+"/jobs/out/outputs"+mlVersion, "")
	if files := arm.Items(list, "value"); st != http.StatusOK || len(files) != 1 || files[0]["path"] != "model/weights" || files[0]["size"] != float64(11) {
		t.Fatalf("outputs: %d %v", st, list)
	}
	if text, st := c.get("/jobs/out/outputs", "path=model/weights"); st != http.StatusOK || text != "hello 0.01\n" {
		t.Fatalf("model/weights: %d %q", st, text)
	}
	for _, bad := range []string{"../../admin.token", "/etc/passwd", "model/../../x", "model/leak"} {
		if text, st := c.get("/jobs/out/outputs", "path="+bad); st < 400 || strings.Contains(text, "root:") {
			t.Errorf("output %s: %d %q", bad, st, text)
		}
	}
	// Deleting the job removes its logs and outputs; a job of the same
	// name starts afresh.
	if st, out, _ := c.do("DELETE", wsML+"/jobs/out"+mlVersion, ""); st != http.StatusOK {
		t.Fatalf("delete: %d %v", st, out)
	}
	c.submit("out", jobBody("cpu", "echo again"))
	if p := c.waitJob("out"); p["status"] != resources.JobCompleted {
		t.Fatalf("second job: %v", p)
	}
	if got := c.log("out", "std_log.txt"); got != "again\n" {
		t.Fatalf("the second job's log: %q", got)
	}
	if _, list, _ := c.do("GET", wsML+"/jobs/out/outputs"+mlVersion, ""); len(arm.Items(list, "value")) != 0 {
		t.Fatalf("the deleted job's outputs: %v", list)
	}
}

// get reads a job action's raw answer (path after the workspace, query).
func (c *client) get(path, query string) (string, int) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+wsML+path+mlVersion+"&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(text), resp.StatusCode
}

// Distributions set their variables: MPI's ranks for each process of a
// node (a log per process), TensorFlow's TF_CONFIG.
func TestJobDistributionEnvironment(t *testing.T) {
	c := oneNodeCluster(t, nil)
	c.submit("mpi", jobBody("cpu", `echo rank $OMPI_COMM_WORLD_RANK of $OMPI_COMM_WORLD_SIZE local $OMPI_COMM_WORLD_LOCAL_RANK; cat "$AZ_BATCHAI_MPI_HOST_FILE"; echo pmi $PMI_RANK/$PMI_SIZE master $AZ_BATCH_MASTER_NODE`,
		`"distribution":{"distributionType":"Mpi","processCountPerInstance":2}`))
	if p := c.waitJob("mpi"); p["status"] != resources.JobCompleted {
		t.Fatalf("mpi job: %v", p)
	}
	if got := c.log("mpi", "std_log_process_1.txt"); !regexp.MustCompile(`^rank 1 of 2 local 1\n127\.0\.0\.1 slots=2\npmi 1/2 master 127\.0\.0\.1:\d+\n$`).MatchString(got) {
		t.Errorf("mpi rank 1: %q", got)
	}
	c.submit("tf", jobBody("cpu", `echo "$TF_CONFIG"`, `"distribution":{"distributionType":"TensorFlow","workerCount":1}`))
	if p := c.waitJob("tf"); p["status"] != resources.JobCompleted {
		t.Fatalf("tf job: %v", p)
	}
	if got := c.log("tf", "std_log.txt"); !strings.Contains(got, `"task":{"index":0,"type":"worker"}`) || !strings.Contains(got, `"worker":["127.0.0.1:`) {
		t.Errorf("TF_CONFIG: %q", got)
	}
}

// rendezvousEnv makes the test binary, run as a job's process, a
// PyTorch-style rank: rank 0 listens at MASTER_ADDR:MASTER_PORT and
// waits for every other rank to connect and say its rank. Its value is
// how many seconds the ranks wait for each other.
const rendezvousEnv = "SECURETRAIN_TEST_RENDEZVOUS"

// A 2-node PyTorch-style job whose ranks meet over TCP at MASTER_ADDR
// completes: each rank's log says whom it met.
func TestJobPyTorchRendezvous(t *testing.T) {
	if os.Getenv(rendezvousEnv) != "" {
		if err := rendezvous(); err != nil {
			fmt.Println("rendezvous:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	bin := rankBinary(t)
	c := newClient(t, jobOptions(t, nil))
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/gpu"+mlVersion, clusterBody("compute", 0, 2, "PT120S"), http.StatusCreated)
	c.submit("ddp", rendezvousJob("gpu", bin, 30))
	if p := c.waitJob("ddp"); p["status"] != resources.JobCompleted {
		t.Fatalf("job: %v", p)
	}
	if got := c.log("ddp", "std_log_process_0.txt"); !strings.Contains(got, "rank 0 met rank 1") {
		t.Errorf("rank 0: %q", got)
	}
	if got := c.log("ddp", "std_log_process_1.txt"); !strings.Contains(got, "rank 1 met rank 0") {
		t.Errorf("rank 1: %q", got)
	}
}

// rankBinary is a copy of this test binary that a job's user can run: a
// rank of a rendezvous (rendezvousEnv) when run with
// -test.run=^TestJobPyTorchRendezvous$.
func rankBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(outsideDir(t, 0o755), "rank")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// rendezvousJob is the body of a 2-node PyTorch job whose ranks (bin)
// meet within wait seconds.
func rendezvousJob(compute, bin string, wait int) string {
	return jobBody(compute, bin+" -test.run=^TestJobPyTorchRendezvous$", `"resources":{"instanceCount":2}`,
		`"distribution":{"distributionType":"PyTorch","processCountPerInstance":1}`, fmt.Sprintf(`"environmentVariables":{"%s":"%d"}`, rendezvousEnv, wait))
}

// rendezvous is one rank's side of the meeting.
func rendezvous() error {
	addr := net.JoinHostPort(os.Getenv("MASTER_ADDR"), os.Getenv("MASTER_PORT"))
	rank, world := os.Getenv("RANK"), os.Getenv("WORLD_SIZE")
	wait, _ := strconv.Atoi(os.Getenv(rendezvousEnv))
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	fmt.Printf("rank %s of %s meets at %s\n", rank, world, addr)
	if rank == "0" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		defer l.Close()
		// Rank 0 waits longer than the others: when the ranks cannot meet,
		// rank 1 gives up first and says why before the job is ended.
		if err := l.(*net.TCPListener).SetDeadline(deadline.Add(time.Duration(wait) * time.Second)); err != nil {
			return err
		}
		n, _ := strconv.Atoi(world)
		for range n - 1 {
			conn, err := l.Accept()
			if err != nil {
				return err
			}
			peer, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				return err
			}
			fmt.Fprintln(conn, "0")
			conn.Close()
			fmt.Printf("rank 0 met rank %s", peer)
		}
		return nil
	}
	var conn net.Conn
	var err error
	for time.Now().Before(deadline) { // until rank 0 listens
		if conn, err = net.DialTimeout("tcp", addr, time.Until(deadline)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if conn == nil {
		return fmt.Errorf("no rank 0 at %s within %d s: %v", addr, wait, err)
	}
	defer conn.Close()
	fmt.Fprintln(conn, rank)
	master, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	fmt.Printf("rank %s met rank %s", rank, master)
	return nil
}

// Compute instances run jobs too, one node each; a job asking for more
// is refused.
func TestJobOnComputeInstance(t *testing.T) {
	c := newClient(t, jobOptions(t, nil))
	provisionEnv(t, c, "")
	c.start("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody, http.StatusCreated)
	c.submit("nb", jobBody("ci1", "echo on the instance"))
	if p := c.waitJob("nb"); p["status"] != resources.JobCompleted {
		t.Fatalf("job: %v", p)
	}
	if got := c.log("nb", "std_log.txt"); got != "on the instance\n" {
		t.Errorf("log: %q", got)
	}
	if st, out, _ := c.do("PUT", wsML+"/jobs/two"+mlVersion, jobBody("ci1", "echo", `"resources":{"instanceCount":2}`)); st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "is one node") {
		t.Errorf("two nodes on an instance: %d %v", st, out)
	}
	if nodes := c.nodes("ci1"); len(nodes) != 1 || nodes[0]["nodeState"] != "idle" {
		t.Errorf("the instance's node after the job: %v", nodes)
	}
}

// isArchived is true or false, and listViewType one of Azure's three.
func TestJobArchiveInputs(t *testing.T) {
	c := oneNodeCluster(t, nil)
	st, out, _ := c.do("PUT", wsML+"/jobs/a1"+mlVersion, jobBody("cpu", "true", `"isArchived":"yes"`))
	if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "isArchived must be true or false") {
		t.Errorf("isArchived \"yes\": %d %v", st, out)
	}
	text, st := c.get("/jobs", "listViewType=Bogus")
	if st != http.StatusBadRequest || !strings.Contains(text, "ActiveOnly, ArchivedOnly or All") {
		t.Errorf("listViewType Bogus: %d %s", st, text)
	}
}
