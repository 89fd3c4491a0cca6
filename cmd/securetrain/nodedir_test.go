package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve's --node-dir is created 0711; a link or a directory others can
// write is refused, so that no one can redirect where the server creates
// and hands over jobs' directories.
func TestNodeDirRefusesLinksAndSharedDirectories(t *testing.T) {
	base := t.TempDir() // 0700: no job's user can enter it
	if err := ensureNodeDir(filepath.Join(base, "private")); err == nil || !strings.Contains(err.Error(), "cannot reach it") {
		t.Errorf("under a private directory: %v", err)
	}
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(base), 0o711); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(base, "nodes")
	if err := ensureNodeDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o711 {
		t.Errorf("created with mode %v, want 0711", fi.Mode().Perm())
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	if err := ensureNodeDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a link: %v", err)
	}
	worldWritable := filepath.Join(base, "world-writable")
	if err := os.Mkdir(worldWritable, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(worldWritable, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := ensureNodeDir(worldWritable); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("a world-writable directory: %v", err)
	}
}
