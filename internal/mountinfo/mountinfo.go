// Package mountinfo reads a mount namespace's mounts as the kernel lists
// them in /proc/PID/mountinfo (proc(5)).
package mountinfo

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of a mountinfo file.
type Mount struct {
	// Root is the directory of the filesystem mounted (a cgroup's path,
	// a bind mount's source).
	Root string
	// Point is where it is mounted.
	Point string
	// FSType is the filesystem type ("nsfs", "cgroup2").
	FSType string
	// SuperOptions are the filesystem's own options ("rw,cpu").
	SuperOptions string
}

// Read lists the mounts of file (/proc/self/mountinfo,
// /proc/thread-self/mountinfo), in the kernel's order: a mount after
// those it is mounted on.
func Read(file string) ([]Mount, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("list the mounts: %w", err)
	}
	var out []Mount
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		out = append(out, Mount{Root: unescape(fields[3]), Point: unescape(fields[4]), FSType: tail[0], SuperOptions: tail[2]})
	}
	return out, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134) in a path.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
