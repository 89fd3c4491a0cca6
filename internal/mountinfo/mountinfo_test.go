package mountinfo

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mountinfo")
	text := `26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
44 26 0:4 net:[4026532173] /run/netns/a\040b rw shared:7 - nsfs nsfs rw
garbage line
`
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Root: "/", Point: "/", FSType: "ext4", SuperOptions: "rw,discard"},
		{Root: "/", Point: "/sys/fs/cgroup/cpu", FSType: "cgroup", SuperOptions: "rw,cpu"},
		{Root: "net:[4026532173]", Point: "/run/netns/a b", FSType: "nsfs", SuperOptions: "rw"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Read = %+v, want %+v", got, want)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Read of a missing file: no error")
	}
}
