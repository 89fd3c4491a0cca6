package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"time"

	"securetrain/internal/clock"
	"securetrain/internal/fabric"
	"securetrain/internal/procusers"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/sandbox"
)

// The executor: a job's processes run in a working directory per node, as
// a user id of the job's own that owns nothing else, in a control group
// per node limited to the node's VM size (internal/sandbox) and, on the
// netns fabric, inside the node's network namespace. The user cannot read
// the data directory (0700, root's), and the job's processes are exactly
// that user's processes and its groups': cancel, timeout and the end of
// the job kill every one of them, whatever process group or session they
// moved to.

// hostPath is the PATH of job processes.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// process is one process of a job: its rank, node (index) and log.
type process struct {
	cmd     *exec.Cmd
	rank    int
	node    int
	logPath string
}

// run is a started job: its processes and how it ended.
type run struct {
	jobID   string
	uid     int
	groups  []*sandbox.Group // one per node
	procs   []process
	workDir string
	outputs []string // the names of its output folders
	// rendezvous is a distributed job's on the netns fabric: when it
	// fails, the verifier explains whether the nodes could reach the
	// master.
	rendezvous *distribution
	// started is when its processes were started, by the wall clock the
	// fabric's firewalls note refusals with (not the scheduler's Clock).
	started time.Time
	done    chan struct{} // closed when every process has exited and the user's processes are gone

	mu     sync.Mutex
	reason *Failure // why it was stopped (canceled, timeout, deleted); nil while it runs on
	status string   // the status stop gives it: Canceled or Failed
	exits  []int    // exit codes by process, once done
	// signals are the signals that ended the processes (0: it exited),
	// and oomKills the kernel's OOM kills in each node's group, once done.
	signals  []syscall.Signal
	oomKills []int
	// leftover is why a control group could not be removed (logged): a
	// killed, empty group only wastes a directory, and the next run on
	// the node takes it over.
	leftover error
	timer    clock.Timer // the timeout's, if any
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
	r.kill()
}

// kill kills every process of the run: its groups' and its user's.
func (r *run) kill() {
	for _, g := range r.groups {
		g.Kill()
	}
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
	// enter gives each node's way into its network namespace
	// (provision.Engine.Enter); nil entries on the sim fabric, where the
	// processes share the server's network.
	enter []func(start func() error) error
	// probeStorage, when set, sends a node's flows to storage and returns
	// those that failed (provision.Engine.ProbeStorage): a job whose node
	// cannot reach its workspace's storage fails in Preparing, as Azure's
	// storage mount does.
	probeStorage func(ctx context.Context, node string) ([]fabric.Probe, error)
}

// rendezvousPort is MASTER_PORT on the netns fabric, where each node has
// its own network and the port is free: torchrun's default.
const rendezvousPort = 29500

// netns reports whether the job's nodes have networks of their own.
func (sp spec) netns() bool { return len(sp.enter) > 0 && sp.enter[0] != nil }

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
	if sp.probeStorage != nil {
		if err := mountStorage(ctx, sp); err != nil {
			return nil, err
		}
	}
	inputs, err := prepare(ctx, sp.datastore, j, sp.workDir, nodeDirs, sp.uid)
	if err != nil {
		return nil, err
	}
	command := substitute(j, inputs, outputs)
	d := distribution{job: j, ppn: ppn, world: world, port: rendezvousPort, addrs: make([]string, len(sp.nodes))}
	for i, n := range sp.nodes {
		d.addrs[i] = n.PrivateIP
	}
	if !sp.netns() {
		// Every node is this host: loopback, and a port free on it.
		if d.port, err = freePort(); err != nil {
			return nil, err
		}
		for i := range d.addrs {
			d.addrs[i] = "127.0.0.1"
		}
	}
	if j.Distribution.Type == resources.DistributionMPI {
		if d.hostfile, err = writeHostfile(sp.workDir, d, sp.uid); err != nil {
			return nil, err
		}
	}
	r := &run{uid: sp.uid, done: make(chan struct{}), workDir: sp.workDir, started: time.Now()}
	if sp.netns() && len(sp.nodes) > 1 && j.Distribution.Type != "" {
		r.rendezvous = &d
	}
	for name := range outputs {
		r.outputs = append(r.outputs, name)
	}
	fail := func(err error) (*run, error) {
		r.kill()
		for _, q := range r.procs {
			_ = q.cmd.Wait() // already failing: the processes were killed
		}
		return nil, errors.Join(err, r.removeGroups())
	}
	for i, nodeDir := range nodeDirs {
		size := sp.nodes[i].Size
		g, err := sandbox.NewGroup(groupName(sp.workDir, i), sandbox.Limits{Cores: size.Cores, Memory: int64(size.MemoryMiB) << 20})
		if err != nil {
			return fail(fmt.Errorf("limit the job's processes on node %s to its VM size: %w", sp.nodes[i].Name, err))
		}
		r.groups = append(r.groups, g)
		var enter func(func() error) error
		if i < len(sp.enter) {
			enter = sp.enter[i]
		}
		for local := range ppn {
			rank := i*ppn + local
			logName := "std_log.txt"
			if world > 1 {
				logName = fmt.Sprintf("std_log_process_%d.txt", rank)
			}
			env := append(baseEnv(j, nodeDir), d.env(i, local)...)
			p, err := launch(g, command, nodeDir, env, filepath.Join(sp.logDir, logName), sp.uid, enter)
			if err != nil {
				return fail(err)
			}
			p.rank, p.node = rank, i
			r.procs = append(r.procs, p)
		}
	}
	go r.wait(wake)
	return r, nil
}

// groupName names the control group of a job's node i by the job's
// working directory, so that a restart finds what a killed server left.
// By its whole path, not its base (the job's key): two servers on a host
// (their node directories differ) may run jobs of the same id, and a
// group of the other's name would be taken over — its processes killed.
func groupName(workDir string, i int) string {
	sum := sha256.Sum256([]byte(workDir))
	return fmt.Sprintf("job-%s-%d", hex.EncodeToString(sum[:12]), i)
}

// removeGroupsLeft removes the control groups a killed server left of a
// job's nodes (taking a group over kills what is in it).
func removeGroupsLeft(workDir string, nodes int) {
	for i := range nodes {
		if g, err := sandbox.NewGroup(groupName(workDir, i), sandbox.Limits{}); err == nil {
			_ = g.Remove() // a group left again is taken over by the next run
		}
	}
}

// removeGroups removes the run's control groups, killing what is left in
// them.
func (r *run) removeGroups() error {
	var errs []error
	for _, g := range r.groups {
		errs = append(errs, g.Remove())
	}
	return errors.Join(errs...)
}

// mountStorage probes each node's flows to storage, as Azure's storage
// mount at the start of a job needs them, and fails the job naming the
// first flow that did not pass and the rule or route that blocks it.
func mountStorage(ctx context.Context, sp spec) error {
	failed := make([][]fabric.Probe, len(sp.nodes))
	errs := make([]error, len(sp.nodes))
	var wg sync.WaitGroup
	for i, n := range sp.nodes {
		wg.Go(func() { failed[i], errs[i] = sp.probeStorage(ctx, n.Name) })
	}
	wg.Wait()
	for i, n := range sp.nodes {
		if errs[i] != nil {
			return errs[i]
		}
		if len(failed[i]) == 0 {
			continue
		}
		p := failed[i][0]
		msg := fmt.Sprintf("StorageMountError: Failed to mount storage on node %s: %s failed (%s)", n.Name, p.Flow.Name, p.Detail)
		if p.Flow.Blocker != "" {
			msg += "; the network's rules: " + p.Flow.Blocker
		}
		return &Failure{Code: "StorageMountError", Message: msg + ". Allow outbound connections on ports 443 and 445 to the Storage service tag of the region (or the storage account's private endpoints)."}
	}
	return nil
}

// wait collects the exit codes, kills what the processes left behind,
// and wakes the scheduler.
func (r *run) wait(wake func()) {
	exits, signals := make([]int, len(r.procs)), make([]syscall.Signal, len(r.procs))
	for i, p := range r.procs {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			exits[i] = ee.ExitCode() // -1 when killed by a signal
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				signals[i] = ws.Signal()
			}
		default:
			exits[i] = -1
		}
	}
	r.kill() // nothing outlives the job
	ooms := make([]int, len(r.groups))
	for i, g := range r.groups {
		ooms[i] = g.OOMKills() // before the groups go
	}
	leftover := r.removeGroups()
	r.mu.Lock()
	r.leftover = leftover
	r.exits, r.signals, r.oomKills = exits, signals, ooms
	r.mu.Unlock()
	close(r.done)
	wake()
}

// launch starts one process of the job as uid in group g (and, with
// enter, in its node's network), its output to logPath.
func launch(g *sandbox.Group, command, dir string, env []string, logPath string, uid int, enter func(func() error) error) (process, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return process{}, fmt.Errorf("the job's log %s: %w", filepath.Base(logPath), err)
	}
	defer logFile.Close() // the child holds its own copy
	cmd, err := g.Start(sandbox.Spec{Argv: []string{"/bin/sh", "-c", command}, Dir: dir, Env: env, UID: uid, Stdout: logFile, Stderr: logFile, Enter: enter})
	if err != nil {
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

// distribution is what a job's distribution tells its processes: the
// nodes' addresses (node 0's is the master's), the rendezvous port, the
// processes per node and in all, and MPI's hostfile.
type distribution struct {
	job        *resources.Job
	ppn, world int
	port       int
	addrs      []string
	hostfile   string
}

// env is what the distribution sets for process local of node: PyTorch's
// rendezvous variables, MPI's (Open MPI's, the PMI ones MPICH and Intel
// MPI read, Azure's master node and hostfile), TensorFlow's TF_CONFIG.
func (d distribution) env(node, local int) []string {
	rank := node*d.ppn + local
	itoa := strconv.Itoa
	switch d.job.Distribution.Type {
	case resources.DistributionPyTorch:
		return []string{"MASTER_ADDR=" + d.addrs[0], "MASTER_PORT=" + itoa(d.port), "WORLD_SIZE=" + itoa(d.world),
			"RANK=" + itoa(rank), "LOCAL_RANK=" + itoa(local), "NODE_RANK=" + itoa(node)}
	case resources.DistributionMPI:
		return []string{"OMPI_COMM_WORLD_SIZE=" + itoa(d.world), "OMPI_COMM_WORLD_RANK=" + itoa(rank),
			"OMPI_COMM_WORLD_LOCAL_RANK=" + itoa(local), "OMPI_COMM_WORLD_LOCAL_SIZE=" + itoa(d.ppn), "OMPI_COMM_WORLD_NODE_RANK=" + itoa(node),
			"PMI_RANK=" + itoa(rank), "PMI_SIZE=" + itoa(d.world),
			"AZ_BATCH_MASTER_NODE=" + d.addrs[0] + ":" + itoa(d.port), "AZ_BATCHAI_MPI_HOST_FILE=" + d.hostfile}
	case resources.DistributionTensorFlow:
		workers := make([]string, len(d.addrs))
		for i, a := range d.addrs {
			// On one host (sim) each worker needs a port of its own.
			port := d.port
			if a == "127.0.0.1" {
				port += i
			}
			workers[i] = a + ":" + itoa(port)
		}
		cfg, _ := json.Marshal(map[string]any{"cluster": map[string]any{"worker": workers}, "task": map[string]any{"type": "worker", "index": node}})
		return []string{"TF_CONFIG=" + string(cfg)}
	}
	return nil
}

// writeHostfile writes MPI's hostfile into the job's directory, the
// job's user's: one line per node, its address and its slots (processes
// per node), as Open MPI's mpirun --hostfile reads it.
func writeHostfile(workDir string, d distribution, uid int) (string, error) {
	var b strings.Builder
	for _, a := range d.addrs {
		fmt.Fprintf(&b, "%s slots=%d\n", a, d.ppn)
	}
	root, err := os.OpenRoot(workDir)
	if err != nil {
		return "", fmt.Errorf("the job's hostfile: %w", err)
	}
	defer root.Close()
	budget := int64(b.Len())
	if err := writeOwned(root, "hostfile", strings.NewReader(b.String()), uid, &budget); err != nil {
		return "", fmt.Errorf("the job's hostfile: %w", err)
	}
	return filepath.Join(workDir, "hostfile"), nil
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
		pids := procusers.Processes(uid)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // it may have exited already
		}
	}
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
