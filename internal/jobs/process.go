package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"securetrain/internal/clock"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
)

// The executor of the sim fabric: a job's processes run on the host, in a
// working directory per node, as a user id of the job's own that owns
// nothing else. The user cannot read the data directory (0700, root's),
// and the job's processes are exactly that user's processes: cancel,
// timeout and the end of the job kill every one of them, whatever process
// group or session they moved to.

// hostPath is the PATH of job processes.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// process is one process of a job: its rank and log.
type process struct {
	cmd     *exec.Cmd
	rank    int
	logPath string
}

// run is a started job: its processes and how it ended.
type run struct {
	jobID   string
	uid     int
	procs   []process
	workDir string
	outputs []string      // the names of its output folders
	done    chan struct{} // closed when every process has exited and the user's processes are gone

	mu     sync.Mutex
	reason *Failure    // why it was stopped (canceled, timeout, deleted); nil while it runs on
	status string      // the status stop gives it: Canceled or Failed
	exits  []int       // exit codes by process, once done
	timer  clock.Timer // the timeout's, if any
}

// stop kills every process of the run, once, for a reason.
func (r *run) stop(status string, why *Failure) {
	if r.finished() {
		return // its user id may be another job's by now
	}
	r.mu.Lock()
	if r.reason == nil {
		r.reason, r.status = why, status
	}
	r.mu.Unlock()
	killUser(r.uid)
}

// finished reports whether the run is done.
func (r *run) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// spec is what starting a job needs.
type spec struct {
	job       *resources.Job
	nodes     []provision.ClaimedNode
	uid       int
	workDir   string    // the job's, under the scheduler's WorkDir
	logDir    string    // the job's user_logs, under the data directory
	datastore Datastore // its code and inputs; nil when the server keeps no blobs
}

// start prepares the job's directories, code and inputs, and starts its
// processes.
func start(ctx context.Context, sp spec, wake func()) (*run, error) {
	j := sp.job
	ppn := 1
	if j.Distribution.Type == resources.DistributionPyTorch || j.Distribution.Type == resources.DistributionMPI {
		ppn = j.Distribution.ProcessesPerInstance
	}
	world := len(sp.nodes) * ppn
	if err := os.MkdirAll(sp.logDir, 0o700); err != nil {
		return nil, fmt.Errorf("the job's log directory: %w", err)
	}
	if err := ownedDir(sp.workDir, sp.uid); err != nil {
		return nil, err
	}
	outputs := map[string]string{}
	if err := ownedDir(filepath.Join(sp.workDir, "outputs"), sp.uid); err != nil {
		return nil, err
	}
	for name := range j.Outputs {
		dir := filepath.Join(sp.workDir, "outputs", name)
		if err := ownedDir(dir, sp.uid); err != nil {
			return nil, err
		}
		outputs[name] = dir
	}
	nodeDirs := make([]string, len(sp.nodes))
	for i, n := range sp.nodes {
		nodeDirs[i] = filepath.Join(sp.workDir, n.Name)
		if err := ownedDir(nodeDirs[i], sp.uid); err != nil {
			return nil, err
		}
	}
	inputs, err := prepare(ctx, sp.datastore, j, sp.workDir, nodeDirs, sp.uid)
	if err != nil {
		return nil, err
	}
	command := substitute(j, inputs, outputs)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &run{uid: sp.uid, done: make(chan struct{}), workDir: sp.workDir}
	for name := range outputs {
		r.outputs = append(r.outputs, name)
	}
	for i, nodeDir := range nodeDirs {
		for local := range ppn {
			rank := i*ppn + local
			logName := "std_log.txt"
			if world > 1 {
				logName = fmt.Sprintf("std_log_process_%d.txt", rank)
			}
			env := baseEnv(j, nodeDir)
			env = append(env, distributionEnv(j, i, local, rank, world, len(sp.nodes), port)...)
			p, err := launch(command, nodeDir, env, filepath.Join(sp.logDir, logName), sp.uid)
			if err != nil {
				r.stop(resources.JobFailed, nil)
				for _, q := range r.procs {
					_ = q.cmd.Wait() // already failing: the processes were killed
				}
				return nil, err
			}
			p.rank = rank
			r.procs = append(r.procs, p)
		}
	}
	go r.wait(wake)
	return r, nil
}

// wait collects the exit codes, kills what the processes left behind,
// and wakes the scheduler.
func (r *run) wait(wake func()) {
	exits := make([]int, len(r.procs))
	for i, p := range r.procs {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			exits[i] = ee.ExitCode() // -1 when killed by a signal
		default:
			exits[i] = -1
		}
	}
	killUser(r.uid) // nothing outlives the job
	r.mu.Lock()
	r.exits = exits
	r.mu.Unlock()
	close(r.done)
	wake()
}

// launch starts one process of the job as uid, its output to logPath.
func launch(command, dir string, env []string, logPath string, uid int) (process, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return process{}, fmt.Errorf("the job's log %s: %w", filepath.Base(logPath), err)
	}
	defer logFile.Close() // the child holds its own copy
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}},
	}
	if err := cmd.Start(); err != nil {
		return process{}, fmt.Errorf("start the job's process: %w", err)
	}
	return process{cmd: cmd, logPath: logPath}, nil
}

// ownedDir creates dir and gives it to uid, private. Its parents must be
// uid's already: the job enters it through them.
func ownedDir(dir string, uid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("the job's directory: %w", err)
	}
	if err := os.Lchown(dir, uid, uid); err != nil {
		return fmt.Errorf("give the job's directory to its user: %w", err)
	}
	return nil
}

// substitute replaces ${{inputs.x}} with literal inputs' values or file
// and folder inputs' local paths, and ${{outputs.y}} with output folders
// in the job's command. Admission has checked that every reference names
// a declared input or output.
func substitute(j *resources.Job, inputs, outputs map[string]string) string {
	var pairs []string
	for name, in := range j.Inputs {
		value := in.Value
		if p, ok := inputs[name]; ok {
			value = p
		}
		pairs = append(pairs, "${{inputs."+name+"}}", value)
	}
	for name, dir := range outputs {
		pairs = append(pairs, "${{outputs."+name+"}}", dir)
	}
	return strings.NewReplacer(pairs...).Replace(j.Command)
}

// baseEnv is the environment every process of the job gets: a plain PATH
// and HOME (nothing of the server's own environment), Azure ML's run
// variables, then the job's environmentVariables.
func baseEnv(j *resources.Job, home string) []string {
	env := []string{"PATH=" + hostPath, "HOME=" + home, "AZUREML_RUN_ID=" + j.ID.Leaf(), "AZUREML_EXPERIMENT_NAME=" + j.ExperimentName}
	for k, v := range j.EnvironmentVariables {
		env = append(env, k+"="+v)
	}
	return env
}

// distributionEnv is what a distribution sets for a process: PyTorch's
// rendezvous variables, MPI's ranks, TensorFlow's TF_CONFIG. On the sim
// fabric every node is this host, so the master address is loopback.
func distributionEnv(j *resources.Job, node, local, rank, world, nodes, port int) []string {
	switch j.Distribution.Type {
	case resources.DistributionPyTorch:
		return []string{"MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + strconv.Itoa(port), "WORLD_SIZE=" + strconv.Itoa(world),
			"RANK=" + strconv.Itoa(rank), "LOCAL_RANK=" + strconv.Itoa(local), "NODE_RANK=" + strconv.Itoa(node)}
	case resources.DistributionMPI:
		return []string{"OMPI_COMM_WORLD_SIZE=" + strconv.Itoa(world), "OMPI_COMM_WORLD_RANK=" + strconv.Itoa(rank),
			"OMPI_COMM_WORLD_LOCAL_RANK=" + strconv.Itoa(local), "OMPI_COMM_WORLD_NODE_RANK=" + strconv.Itoa(node)}
	case resources.DistributionTensorFlow:
		workers := make([]string, nodes)
		for i := range workers {
			workers[i] = "127.0.0.1:" + strconv.Itoa(port+i)
		}
		cfg, _ := json.Marshal(map[string]any{"cluster": map[string]any{"worker": workers}, "task": map[string]any{"type": "worker", "index": node}})
		return []string{"TF_CONFIG=" + string(cfg)}
	}
	return nil
}

// freePort is a TCP port free on loopback now, for a job's rendezvous.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a rendezvous port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// killUser kills every process of uid until none is left: a job's
// processes cannot escape it by changing process group or session. uid 0
// (no user yet) and the server's own are never touched.
func killUser(uid int) {
	if uid <= 0 || uid == os.Geteuid() {
		return
	}
	for range 50 {
		pids := processesOf(uid)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // it may have exited already
		}
	}
}

// procStatus calls fn with the real and effective user ids of every live
// process (a zombie is dead: it only waits for its parent to read its
// exit).
func procStatus(fn func(pid, real, effective int)) {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if err != nil {
			continue
		}
		real, effective, zombie := -1, -1, false
		for line := range strings.SplitSeq(string(status), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "State:":
				zombie = f[1] == "Z"
			case len(f) >= 3 && f[0] == "Uid:":
				real, _ = strconv.Atoi(f[1])
				effective, _ = strconv.Atoi(f[2])
			}
		}
		if !zombie {
			fn(pid, real, effective)
		}
	}
}

// processesOf lists the live processes whose real or effective user is
// uid.
func processesOf(uid int) []int {
	var out []int
	procStatus(func(pid, real, effective int) {
		if real == uid || effective == uid {
			out = append(out, pid)
		}
	})
	return out
}

// usersOfProcesses is the set of user ids live processes run as.
func usersOfProcesses() map[int]bool {
	out := map[int]bool{}
	procStatus(func(_, real, effective int) { out[real], out[effective] = true, true })
	return out
}

// accountExists reports whether an account has uid.
func accountExists(uid int) bool {
	_, err := user.LookupId(strconv.Itoa(uid))
	return err == nil
}

// lastLines are the last n lines of a log.
func lastLines(path string, n int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	const tail = 8 << 10
	if len(data) > tail {
		data = data[len(data)-tail:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
