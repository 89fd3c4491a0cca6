//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"securetrain/internal/lazyregexp"
	"securetrain/internal/mountinfo"
)

// Group is a control group of processes: one directory per cgroup v1
// hierarchy (cpu, memory, pids), or one directory in the cgroup v2
// hierarchy.
type Group struct {
	name string
	dirs []string
	v2   bool
}

// controllers are the ones a group needs.
var controllers = []string{"cpu", "memory", "pids"}

var groupName = lazyregexp.New(`^[a-z0-9][a-z0-9-]{0,80}$`)

// cfsPeriod is the CPU period of cgroup v1 and v2 (the kernel's default).
const cfsPeriod = 100_000

// NewGroup creates the group securetrain-NAME with limits l (or takes
// over the one an earlier run left, killing what is in it). NAME is
// lower-case letters, digits and '-'.
func NewGroup(name string, l Limits) (*Group, error) {
	if !groupName.MatchString(name) {
		return nil, fmt.Errorf("sandbox: group name %q: use lower-case letters, digits and '-'", name)
	}
	lay, err := hierarchies()
	if err != nil {
		return nil, err
	}
	g := &Group{name: name, v2: lay.v2}
	for _, base := range lay.bases {
		dir := filepath.Join(base, "securetrain-"+name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, errors.Join(fmt.Errorf("sandbox: create control group %s: %w", dir, err), g.Remove())
		}
		g.dirs = append(g.dirs, dir)
	}
	g.Kill() // an earlier run's, when it was left behind
	if err := g.limit(l); err != nil {
		return nil, errors.Join(err, g.Remove())
	}
	return g, nil
}

// limit writes the group's limits.
func (g *Group) limit(l Limits) error {
	pids := l.Pids
	if pids == 0 {
		pids = DefaultPids
	}
	var writes [][2]string // file, value
	if g.v2 {
		cpu := "max " + strconv.Itoa(cfsPeriod)
		if l.Cores > 0 {
			cpu = fmt.Sprintf("%d %d", l.Cores*cfsPeriod, cfsPeriod)
		}
		mem := "max"
		if l.Memory > 0 {
			mem = strconv.FormatInt(l.Memory, 10)
		}
		writes = [][2]string{{"cpu.max", cpu}, {"memory.max", mem}, {"pids.max", strconv.Itoa(pids)}}
	} else {
		quota, mem := "-1", "-1"
		if l.Cores > 0 {
			quota = strconv.Itoa(l.Cores * cfsPeriod)
		}
		if l.Memory > 0 {
			mem = strconv.FormatInt(l.Memory, 10)
		}
		writes = [][2]string{{"cpu.cfs_period_us", strconv.Itoa(cfsPeriod)}, {"cpu.cfs_quota_us", quota},
			{"memory.limit_in_bytes", mem}, {"pids.max", strconv.Itoa(pids)}}
	}
	for _, wr := range writes {
		if err := g.write(wr[0], wr[1]); err != nil {
			return err
		}
	}
	return nil
}

// write writes value to the group's file of that name, in the hierarchy
// that has it.
func (g *Group) write(file, value string) error {
	for _, dir := range g.dirs {
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sandbox: %s = %s: %w", p, value, err)
		}
		return nil
	}
	return fmt.Errorf("sandbox: control group %s has no %s", g.name, file)
}

// add moves process pid into the group, in every hierarchy.
func (g *Group) add(pid int) error {
	for _, dir := range g.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("sandbox: move process %d into %s: %w", pid, dir, err)
		}
	}
	return nil
}

// Pids lists the processes in the group.
func (g *Group) Pids() []int {
	if len(g.dirs) == 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(g.dirs[0], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for f := range strings.FieldsSeq(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Kill kills every process in the group until none is left alive (a
// process forked meanwhile is in the group too, and killed in the next
// round).
func (g *Group) Kill() {
	if g.v2 && len(g.dirs) == 1 {
		// cgroup.kill (Linux 5.14) kills the whole tree at once.
		_ = os.WriteFile(filepath.Join(g.dirs[0], "cgroup.kill"), []byte("1"), 0o644)
	}
	for range 200 {
		pids := g.Pids()
		alive := 0
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil && !zombie(pid) {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// OOMKills is how many of the group's processes the kernel's OOM killer
// has killed (memory.oom_control on cgroup v1, memory.events on v2): a
// process it killed ended by SIGKILL like any other, and only the group
// tells why.
func (g *Group) OOMKills() int {
	for _, dir := range g.dirs {
		for _, file := range []string{"memory.oom_control", "memory.events"} {
			data, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				continue
			}
			for line := range strings.SplitSeq(string(data), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
					n, _ := strconv.Atoi(f[1])
					return n
				}
			}
		}
	}
	return 0
}

// zombie reports whether pid has exited and only waits to be reaped.
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// Remove kills what is left in the group and removes it. A process that
// has exited but is not yet reaped by its parent keeps its group busy for
// a moment: Remove waits up to 5 s for it.
func (g *Group) Remove() error {
	g.Kill()
	var errs []error
	for _, dir := range g.dirs {
		var err error
		for range 500 {
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sandbox: remove control group %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// layout is where groups go: the directory in each hierarchy under which
// they are created.
type layout struct {
	v2    bool
	bases []string
}

// hierarchies finds, once, the cgroup hierarchies of cpu, memory and pids:
// the server's own cgroup in each v1 hierarchy (the machines this was
// built on have cgroup v1 only), or the root of the v2 hierarchy, whose
// controllers it enables for its children (a v2 cgroup that holds
// processes cannot give its children controllers).
var hierarchies = sync.OnceValues(func() (layout, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return layout{}, err
	}
	own, err := ownCgroups()
	if err != nil {
		return layout{}, err
	}
	var lay layout
	seen := map[string]bool{}
	for _, c := range controllers {
		m, ok := mounts[c]
		if !ok {
			continue
		}
		base := filepath.Join(m.point, strings.TrimPrefix(own[m.key], m.root))
		if !seen[base] {
			seen[base] = true
			lay.bases = append(lay.bases, base)
		}
	}
	if len(lay.bases) == len(controllers) {
		return lay, nil
	}
	v2, ok := mounts[""]
	if !ok || len(lay.bases) > 0 {
		return layout{}, fmt.Errorf("sandbox: this host has no cgroup hierarchy for each of %s (v1 under /sys/fs/cgroup, or v2 with those controllers): processes could not be limited",
			strings.Join(controllers, ", "))
	}
	var want []string
	for _, c := range controllers {
		want = append(want, "+"+c)
	}
	if err := os.WriteFile(filepath.Join(v2.point, "cgroup.subtree_control"), []byte(strings.Join(want, " ")), 0o644); err != nil {
		return layout{}, fmt.Errorf("sandbox: enable %s for the children of the cgroup v2 root %s: %w", strings.Join(controllers, ", "), v2.point, err)
	}
	return layout{v2: true, bases: []string{v2.point}}, nil
})

// mount is a cgroup hierarchy's mount: where it is, which of its cgroups
// is its root, and the key of /proc/self/cgroup's line for it.
type mount struct{ point, root, key string }

// cgroupMounts maps each v1 controller to its hierarchy's mount, and ""
// to the v2 hierarchy's.
func cgroupMounts() (map[string]mount, error) {
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	out := map[string]mount{}
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			out[""] = mount{point: m.Point, root: m.Root, key: ""}
		case "cgroup":
			var ctrls []string
			for o := range strings.SplitSeq(m.SuperOptions, ",") {
				if o != "rw" && o != "ro" && !strings.Contains(o, "=") {
					ctrls = append(ctrls, o)
				}
			}
			for _, c := range ctrls {
				out[c] = mount{point: m.Point, root: m.Root, key: strings.Join(ctrls, ",")}
			}
		}
	}
	return out, nil
}

// ownCgroups maps each hierarchy (its controllers as /proc/self/cgroup
// lists them, "" for v2) to the server's cgroup in it.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			out[parts[1]] = parts[2]
		}
	}
	return out, nil
}
