package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"securetrain/internal/arm"
)

// A job's output folders are kept when it ends: copied from its working
// directory (the job's user's) into the data directory (the server's),
// where the API serves them. The job's user has no process left by then,
// so the tree holds still; it is read through an os.Root, so that no link
// leads outside it, and only folders and regular files are copied.

// MaxOutputBytes bounds what a job's outputs may hold.
const MaxOutputBytes = 1 << 30

// errOutputsTooLarge fails a job whose outputs exceed MaxOutputBytes.
var errOutputsTooLarge = fmt.Errorf("the job's outputs hold more than %d MiB, the most a job keeps", MaxOutputBytes>>20)

// keepOutputs copies the named output folders of workDir/outputs into
// dst: the files the job's user uid owns (a hard link to another's file,
// where the host allows one, is not the job's output).
func keepOutputs(workDir string, names []string, uid int, dst string) error {
	src, err := os.OpenRoot(filepath.Join(workDir, "outputs"))
	if err != nil {
		return fmt.Errorf("open the job's outputs: %w", err)
	}
	defer src.Close()
	var total int64
	return fs.WalkDir(src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read the job's outputs: %w", err)
		}
		if top, _, _ := strings.Cut(p, "/"); p != "." && !slices.Contains(names, top) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // not a declared output
		}
		target := filepath.Join(dst, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case !d.Type().IsRegular():
			return nil // links, pipes and devices are not outputs
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("read the job's outputs: %w", err)
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid {
			return nil
		}
		if total += info.Size(); total > MaxOutputBytes {
			return errOutputsTooLarge
		}
		return copyFile(src, p, target)
	})
}

func copyFile(src *os.Root, p, target string) error {
	in, err := src.Open(p)
	if err != nil {
		return fmt.Errorf("read output %s: %w", p, err)
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("keep output %s: %w", p, err)
	}
	if _, err := io.Copy(out, io.LimitReader(in, MaxOutputBytes)); err != nil {
		out.Close()
		return fmt.Errorf("keep output %s: %w", p, err)
	}
	return out.Close()
}

// OutputFile is a kept output file: its path under the outputs (the
// output's name first) and size.
type OutputFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// uploadOutputs puts a job's kept outputs into its workspace's blob
// datastore too, at Azure ML's default output path
// azureml/{job}/{output}/…; a workspace without a default storage
// account has them in the data directory only.
func (s *Scheduler) uploadOutputs(ctx context.Context, jobID string) error {
	if s.cfg.Datastore == nil {
		return nil
	}
	id, err := arm.ParseID(jobID, "")
	if err != nil {
		return fmt.Errorf("job %s: %w", jobID, err)
	}
	folder, err := OutputsFolder(jobID)
	if err != nil {
		return err
	}
	ws, _ := id.Parent()
	files, err := s.Outputs(jobID)
	if err != nil {
		return err
	}
	for _, f := range files {
		err := s.putFile(ctx, ws, folder+"/"+f.Path, func() (*os.File, error) { return s.OpenOutput(jobID, f.Path) })
		if errors.Is(err, ErrNoStorage) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("upload output %s to the workspace's storage: %w", f.Path, err)
		}
	}
	return nil
}

// putFile writes the file open opens, whole, to blobPath in the blob
// datastore of workspace ws.
func (s *Scheduler) putFile(ctx context.Context, ws arm.ID, blobPath string, open func() (*os.File, error)) error {
	f, err := open()
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return s.cfg.Datastore.Put(ctx, ws, blobPath, f, info.Size())
}

// HoldsFiles reports whether this machine holds the job's logs and
// outputs: this replica ran it (another replica's are in the datastore).
func (s *Scheduler) HoldsFiles(jobID string) bool {
	_, err := os.Stat(filepath.Join(s.cfg.LogDir, key(jobID)))
	return err == nil
}

func (s *Scheduler) outputsDir(jobID string) string {
	return filepath.Join(s.cfg.LogDir, key(jobID), "outputs")
}

// Outputs lists a job's kept output files.
func (s *Scheduler) Outputs(jobID string) ([]OutputFile, error) {
	var out []OutputFile
	err := filepath.WalkDir(s.outputsDir(jobID), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return fs.SkipAll // none kept
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.outputsDir(jobID), p)
		out = append(out, OutputFile{Path: filepath.ToSlash(rel), Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the job's outputs: %w", err)
	}
	return out, nil
}

// OpenOutput opens a kept output file by its path (as Outputs lists it);
// a path that leaves the outputs is refused.
func (s *Scheduler) OpenOutput(jobID, path string) (*os.File, error) {
	if !fs.ValidPath(path) || path == "." {
		return nil, fmt.Errorf("output path %q must be relative, without . or .. segments: %w", path, fs.ErrInvalid)
	}
	root, err := os.OpenRoot(s.outputsDir(jobID))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(path)
}
