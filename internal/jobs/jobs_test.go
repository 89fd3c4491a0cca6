package jobs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Only a job's own log files can be named: nothing else of the data
// directory is reachable through a log name.
func TestLogPathRefusesOtherFiles(t *testing.T) {
	s := New(Config{LogDir: "/data/jobs"})
	id := "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/jobs/j"
	for _, name := range []string{"std_log.txt", "std_log_process_12.txt"} {
		if p := s.LogPath(id, name); !strings.HasPrefix(p, "/data/jobs/") || filepath.Base(p) != name {
			t.Errorf("LogPath(%q) = %q", name, p)
		}
	}
	for _, name := range []string{"", "../../admin.token", "std_log_process_../../x.txt", "std_log_process_/x.txt", "other.txt", `std_log_process_\x.txt`} {
		if p := s.LogPath(id, name); p != "" {
			t.Errorf("LogPath(%q) = %q, want refused", name, p)
		}
	}
	if a, b := s.LogPath(id, "std_log.txt"), s.LogPath(strings.ToUpper(id), "std_log.txt"); a != b {
		t.Errorf("ids differing in case have other logs: %s, %s", a, b)
	}
}

// ${{inputs.x}} (a literal's value, a file input's local path) and
// ${{outputs.y}} are replaced; other text is left.
func TestSubstitute(t *testing.T) {
	j := &resources.Job{Command: "train --lr ${{inputs.lr}} --data ${{inputs.data}} --out ${{outputs.model}} ${{inputs.lr}} $HOME",
		Inputs: map[string]resources.JobInput{"lr": {Type: "literal", Value: "0.1"}, "data": {Type: "uri_file", URI: "azureml://datastores/workspaceblobstore/paths/d/x.csv"}}}
	got := substitute(j, map[string]string{"data": "/w/inputs/data/x.csv"}, map[string]string{"model": "/w/outputs/model"})
	if want := "train --lr 0.1 --data /w/inputs/data/x.csv --out /w/outputs/model 0.1 $HOME"; got != want {
		t.Errorf("substitute: %q, want %q", got, want)
	}
}

// The failure message quotes the last lines of a log, however long it is.
func TestLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "std_log.txt")
	var b strings.Builder
	for i := range 5000 {
		b.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	b.WriteString("Traceback\nValueError: bad\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := lastLines(path, 3)
	if len(got) != 3 || got[1] != "Traceback" || got[2] != "ValueError: bad" {
		t.Errorf("lastLines: %q", got)
	}
}

// Kept outputs are the job user's regular files in its declared output
// folders: not a link, not another user's file, not an undeclared folder.
func TestKeepOutputsTakesOnlyTheJobsFiles(t *testing.T) {
	const uid = DefaultFirstUID
	work, dst := t.TempDir(), filepath.Join(t.TempDir(), "kept")
	model := filepath.Join(work, "outputs", "model")
	for _, d := range []string{model, filepath.Join(work, "outputs", "undeclared")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, text string, owner int) {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(model, "weights"), "w", uid)
	write(filepath.Join(model, "roots"), "secret", 0) // as a hard link to root's file would be
	write(filepath.Join(work, "outputs", "undeclared", "x"), "x", uid)
	if err := os.Symlink("/etc/passwd", filepath.Join(model, "leak")); err != nil {
		t.Fatal(err)
	}
	if err := keepOutputs(work, []string{"model"}, uid, dst); err != nil {
		t.Fatal(err)
	}
	var kept []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dst, p)
			kept = append(kept, rel)
		}
		return err
	})
	if strings.Join(kept, ",") != "model/weights" {
		t.Errorf("kept %v, want model/weights only", kept)
	}
}

// A job canceled while the scheduler was about to place it stays
// Canceled: the placing transaction sees it left the queue, and no later
// step brings a finished job back.
func TestCancelBeforePlacementWins(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const id = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/jobs/j"
	status := func() string {
		var got string
		if err := st.View(ctx, func(rd store.Reader) error {
			body, err := readBody(ctx, rd, id)
			got = arm.Str(arm.EnsureField(body, "properties"), "status")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Put(ctx, store.Record{ID: id, Type: "Microsoft.MachineLearningServices/workspaces/jobs",
			Body: []byte(`{"properties":{"jobType":"Command","status":"NotStarted"}}`)}, store.Condition{})
		if err != nil {
			return err
		}
		return Enqueue(ctx, tx, id, "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/c", time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		if left, err := leftQueue(ctx, tx, id); err != nil || left {
			t.Errorf("a queued job: leftQueue %v, %v", left, err)
		}
		found, err := RequestCancel(ctx, tx, id)
		if !found {
			t.Error("RequestCancel did not find the job")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := status(); got != resources.JobCanceled {
		t.Fatalf("a job canceled before it had nodes: %s", got)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		if left, err := leftQueue(ctx, tx, id); err != nil || !left {
			t.Errorf("a canceled job: leftQueue %v, %v", left, err)
		}
		// A step that read the job before the cancel sets it Preparing.
		return setStatus(ctx, tx, id, resources.JobPreparing, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := status(); got != resources.JobCanceled {
		t.Errorf("a canceled job after a stale step: %s, want it to stay Canceled", got)
	}
}

// A failure says what ended a process beyond its exit code: the signal,
// and the OOM killer's kills on its node.
func TestHowEnded(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		ooms int
		want string
	}{
		{0, 0, ""},
		{syscall.SIGKILL, 0, " (ended by signal SIGKILL)"},
		{syscall.SIGKILL, 2, " (ended by signal SIGKILL); the kernel's OOM killer killed 2 process(es) on node tvm-0001: its processes used more memory than its VM size has"},
		{0, 1, "; the kernel's OOM killer killed 1 process(es) on node tvm-0001: its processes used more memory than its VM size has"},
	} {
		if got := howEnded(c.sig, c.ooms, "tvm-0001"); got != c.want {
			t.Errorf("howEnded(%v, %d) = %q, want %q", c.sig, c.ooms, got, c.want)
		}
	}
}
