package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// Preparing a job: its code snapshot goes into each node's working
// directory (where its command runs) and its file and folder inputs into
// the job's inputs/ folder, copied from the workspace's blob storage and
// given to the job's user. Nothing of the job runs yet, and its user has
// no process, so the directories hold still while they are filled; each
// file is written through an os.Root of its destination, so that no name
// leads outside it.

// Datastore reads a workspace's storage for the jobs that name it.
type Datastore interface {
	// CodeURI is the codeUri of a code version of workspace (a job's
	// codeId).
	CodeURI(ctx context.Context, workspace arm.ID, codeID string) (string, error)
	// Files calls fn for each file at uri in the storage of workspace:
	// one blob (folder false, rel its base name) or the blobs of a
	// folder (rel their path below it).
	Files(ctx context.Context, workspace arm.ID, uri string, fn func(rel string, r io.Reader) error) (folder bool, err error)
	// Put writes size bytes of r to path in workspace's blob datastore;
	// ErrNoStorage when the workspace has no default storage account.
	Put(ctx context.Context, workspace arm.ID, path string, r io.Reader, size int64) error
}

// ErrNoStorage is a workspace without a default storage account.
var ErrNoStorage = errors.New("no default storage account")

// MaxInputBytes bounds what a job's code and inputs may hold, together.
const MaxInputBytes = 8 << 30

// errInputsTooLarge fails a job whose code and inputs exceed MaxInputBytes.
var errInputsTooLarge = fmt.Errorf("the job's code and inputs hold more than %d GiB, the most a job gets", MaxInputBytes>>30)

// prepare fills the nodes' working directories (nodeDirs, the job's
// user's) with the job's code and workDir/inputs with its inputs, and
// returns the local path of each file or folder input.
func prepare(ctx context.Context, ds Datastore, j *resources.Job, workDir string, nodeDirs []string, uid int) (map[string]string, error) {
	budget := int64(MaxInputBytes)
	if j.CodeID != "" {
		if ds == nil {
			return nil, errors.New("the job names a code snapshot, but this server keeps no blob storage")
		}
		uri, err := ds.CodeURI(ctx, j.Workspace, j.CodeID)
		if err != nil {
			return nil, fmt.Errorf("the job's code %s: %w", j.CodeID, err)
		}
		for _, dir := range nodeDirs {
			if _, err := copyFiles(ctx, ds, j.Workspace, uri, dir, uid, &budget, nil); err != nil {
				return nil, fmt.Errorf("the job's code snapshot %s: %w", uri, err)
			}
		}
	}
	paths := map[string]string{}
	for name, in := range j.Inputs {
		if in.Type == "literal" {
			continue
		}
		if ds == nil {
			return nil, fmt.Errorf("inputs.%s needs the workspace's blob storage, which this server does not keep", name)
		}
		if err := ownedDir(filepath.Join(workDir, "inputs"), uid); err != nil {
			return nil, err
		}
		dir := filepath.Join(workDir, "inputs", name)
		if err := ownedDir(dir, uid); err != nil {
			return nil, err
		}
		var file string
		folder, err := copyFiles(ctx, ds, j.Workspace, in.URI, dir, uid, &budget, func(rel string) { file = rel })
		switch {
		case err != nil:
			return nil, fmt.Errorf("inputs.%s (%s): %w", name, in.URI, err)
		case in.Type == "uri_file" && folder:
			return nil, fmt.Errorf("inputs.%s is a uri_file, but %s is a folder", name, in.URI)
		case in.Type == "uri_folder" && !folder:
			return nil, fmt.Errorf("inputs.%s is a uri_folder, but %s is a file", name, in.URI)
		case in.Type == "uri_file":
			paths[name] = filepath.Join(dir, file)
		default:
			paths[name] = dir
		}
	}
	return paths, nil
}

// copyFiles copies the files at uri into dir, owned by uid, within
// budget bytes; seen, if not nil, learns each file's path.
func copyFiles(ctx context.Context, ds Datastore, ws arm.ID, uri, dir string, uid int, budget *int64, seen func(string)) (bool, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	return ds.Files(ctx, ws, uri, func(rel string, r io.Reader) error {
		if !filepath.IsLocal(rel) || strings.Contains(rel, `\`) {
			return fmt.Errorf("blob path %q cannot be a file's path below the folder", rel)
		}
		if seen != nil {
			seen(rel)
		}
		return writeOwned(root, rel, r, uid, budget)
	})
}

// writeOwned writes r to rel in root, creating its folders, all owned by
// uid.
func writeOwned(root *os.Root, rel string, r io.Reader, uid int, budget *int64) error {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i := range parts[:len(parts)-1] {
		d := filepath.Join(parts[:i+1]...)
		if err := root.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create folder %s: %w", d, err)
		}
		if err := root.Lchown(d, uid, uid); err != nil {
			return fmt.Errorf("give folder %s to the job's user: %w", d, err)
		}
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", rel, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, *budget+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if *budget -= n; *budget < 0 {
		return errInputsTooLarge
	}
	if err := root.Lchown(rel, uid, uid); err != nil {
		return fmt.Errorf("give %s to the job's user: %w", rel, err)
	}
	return nil
}
