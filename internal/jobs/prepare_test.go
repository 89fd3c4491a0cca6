package jobs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// fakeStore serves files by URI: a folder when it has more than one
// file or a path with a "/".
type fakeStore map[string]map[string]string

func (f fakeStore) CodeURI(_ context.Context, _ arm.ID, codeID string) (string, error) {
	return "code:" + codeID, nil
}

func (f fakeStore) Files(_ context.Context, _ arm.ID, uri string, fn func(string, io.Reader) error) (bool, error) {
	files := f[uri]
	folder := len(files) != 1
	for rel, content := range files {
		folder = folder || strings.Contains(rel, "/")
		if err := fn(rel, strings.NewReader(content)); err != nil {
			return folder, err
		}
	}
	return folder, nil
}

func (f fakeStore) Put(context.Context, arm.ID, string, io.Reader, int64) error { return ErrNoStorage }

// The code goes into every node's directory, a file input into inputs/
// under its name; a blob name that would leave the folder, or an input
// of the wrong kind, fails preparation.
func TestPrepare(t *testing.T) {
	ds := fakeStore{
		"code:c1":  {"train.py": "print(1)", "lib/util.py": "x = 1"},
		"rows":     {"rows.csv": "a,b"},
		"folder":   {"d/1.txt": "1", "d/2.txt": "2"},
		"code:bad": {"../escape.py": "x"},
	}
	dir := t.TempDir()
	nodes := []string{filepath.Join(dir, "n0"), filepath.Join(dir, "n1")}
	for _, n := range nodes {
		if err := os.Mkdir(n, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	uid := os.Getuid()
	j := &resources.Job{CodeID: "c1", Inputs: map[string]resources.JobInput{
		"rows": {Type: "uri_file", URI: "rows"}, "lr": {Type: "literal", Value: "1"}}}
	paths, err := prepare(context.Background(), ds, j, dir, nodes, uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if got, err := os.ReadFile(filepath.Join(n, "lib", "util.py")); err != nil || string(got) != "x = 1" {
			t.Errorf("code in %s: %q %v", n, got, err)
		}
	}
	if want := filepath.Join(dir, "inputs", "rows", "rows.csv"); paths["rows"] != want || len(paths) != 1 {
		t.Errorf("input paths %v, want rows at %s", paths, want)
	}
	for name, job := range map[string]*resources.Job{
		"escaping code":        {CodeID: "bad"},
		"a folder as uri_file": {Inputs: map[string]resources.JobInput{"f": {Type: "uri_file", URI: "folder"}}},
		"a file as uri_folder": {Inputs: map[string]resources.JobInput{"f": {Type: "uri_folder", URI: "rows"}}},
	} {
		fresh := filepath.Join(t.TempDir(), "n")
		if err := os.Mkdir(fresh, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := prepare(context.Background(), ds, job, filepath.Dir(fresh), []string{fresh}, uid); err == nil {
			t.Errorf("%s: prepared", name)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(fresh), "escape.py")); err == nil {
			t.Errorf("%s: a blob name left its folder", name)
		}
	}
}
