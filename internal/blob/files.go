package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// The control plane's own access to blobs: a job's code snapshot and
// inputs are read from its workspace's storage onto the nodes.

// WorkspaceDatastore is the datastore every workspace has, as in Azure:
// the blob container azureml-blobstore-{workspace GUID} of the
// workspace's default storage account.
const WorkspaceDatastore = "workspaceblobstore"

// WorkspaceContainer is the container of a workspace's workspaceblobstore.
func WorkspaceContainer(workspaceGUID string) string {
	return "azureml-blobstore-" + strings.ToLower(workspaceGUID)
}

// Location is where a URI of a job's code or input points: a datastore
// of the workspace (azureml://datastores/{name}/paths/{path}) or a
// container of a storage account (https://{host}/{account}/{container}/{path},
// this service's path-style URLs; the host is not read).
type Location struct {
	Datastore          string
	Account, Container string
	Path               string // a blob's name, or a folder's (no trailing /)
}

// ParseURI reads a code or input URI. Folders and files are told apart
// when they are read (Files).
func ParseURI(uri string) (Location, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return Location{}, fmt.Errorf("URI %q: %w", uri, err)
	}
	var loc Location
	var rest string
	switch {
	case u.Scheme == "azureml" && u.Host == "datastores":
		name, p, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/paths/")
		if !ok || name == "" {
			return Location{}, fmt.Errorf("URI %q: a datastore URI is azureml://datastores/{name}/paths/{path}", uri)
		}
		loc.Datastore, rest = name, p
	case (u.Scheme == "https" || u.Scheme == "http") && u.Host != "":
		// The host is not contacted (the blobs are this server's), so a
		// server on plain HTTP (serve --insecure-http) names its own too.
		segs := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 3)
		if len(segs) < 3 || checkAccountName(segs[0]) != nil || checkContainerName(segs[1]) != nil {
			return Location{}, fmt.Errorf("URI %q: a blob URL is https://{host}/{account}/{container}/{path}", uri)
		}
		loc.Account, loc.Container, rest = segs[0], segs[1], segs[2]
	default:
		return Location{}, fmt.Errorf("URI %q: use azureml://datastores/%s/paths/{path} or a blob URL https://{host}/{account}/{container}/{path}", uri, WorkspaceDatastore)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Location{}, fmt.Errorf("URI %q: a query or fragment (such as a SAS token) is not served", uri)
	}
	loc.Path = strings.TrimSuffix(rest, "/")
	if loc.Path == "" || checkBlobName(loc.Path) != nil {
		return Location{}, fmt.Errorf("URI %q: the path must name a blob or a folder of blobs", uri)
	}
	return loc, nil
}

// ErrNothingAt is a URI under which no blob exists.
var ErrNothingAt = errors.New("no blob at this path")

// FileInfo is a blob Files reads: its name relative to the path asked
// and its size as stored.
type FileInfo struct {
	Rel  string
	Size int64
}

// Files calls fn for each blob at p in a container of account: the blob
// named p (folder is false, rel its base name), or else every blob named
// p/… (folder is true, rel the rest of its name), in name order.
func (s *Service) Files(ctx context.Context, account, container, p string, fn func(rel string, r io.Reader) error) (folder bool, err error) {
	blobs, folder, err := s.at(ctx, account, container, p)
	if err != nil {
		return folder, err
	}
	for _, b := range blobs {
		props, c, err := s.disk.open(ctx, account, container, b.Name)
		if errors.Is(err, errBlobNotFound) && folder {
			continue // deleted since the listing
		}
		if errors.Is(err, errBlobNotFound) {
			return false, nothingAt(p, container)
		}
		if err != nil {
			return folder, err
		}
		err = fn(relName(p, b.Name, folder), c.section(0, props.Size))
		c.Close()
		if err != nil {
			return folder, err
		}
	}
	return folder, nil
}

// Stat lists the blobs Files would read at p, with their stored sizes,
// without reading their content.
func (s *Service) Stat(ctx context.Context, account, container, p string) (files []FileInfo, folder bool, err error) {
	blobs, folder, err := s.at(ctx, account, container, p)
	for _, b := range blobs {
		files = append(files, FileInfo{Rel: relName(p, b.Name, folder), Size: b.Size})
	}
	return files, folder, err
}

// at finds the blobs at p: the blob named p, or else every blob named
// p/… (folder), in name order.
func (s *Service) at(ctx context.Context, account, container, p string) (blobs []Props, folder bool, err error) {
	if props, err := s.disk.stat(ctx, account, container, p); err == nil {
		return []Props{props}, false, nil
	} else if !errors.Is(err, errBlobNotFound) {
		return nil, false, wrapMissing(err, container)
	}
	all, err := s.disk.list(ctx, account, container)
	if err != nil {
		return nil, true, wrapMissing(err, container)
	}
	page, _ := listPage(all, p+"/", "", "", len(all))
	if len(page) == 0 {
		return nil, true, nothingAt(p, container)
	}
	for _, e := range page {
		blobs = append(blobs, *e.blob)
	}
	return blobs, true, nil
}

func nothingAt(p, container string) error {
	return fmt.Errorf("%s in container %s: %w", p, container, ErrNothingAt)
}

// relName is the name of blob name found at p, relative to p.
func relName(p, name string, folder bool) string {
	if folder {
		return strings.TrimPrefix(name, p+"/")
	}
	return path.Base(p)
}

func wrapMissing(err error, container string) error {
	var be *Error
	if errors.As(err, &be) && be.Status == http.StatusNotFound {
		return fmt.Errorf("container %s: %w", container, ErrNothingAt)
	}
	return err
}

// Put stores a blob as the control plane's own write (a job's outputs),
// creating its container if need be.
func (s *Service) Put(ctx context.Context, account, container, name string, r io.Reader, size int64) error {
	if err := checkBlobName(name); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := s.disk.container(ctx, account, container); errors.Is(err, errContainerNotFound) {
		if _, err := s.disk.createContainer(ctx, account, container, now); err != nil && !isCode(err, "ContainerAlreadyExists") {
			return err
		}
	}
	st, err := s.disk.stage(ctx, r, size)
	if err != nil {
		return err
	}
	_, err = s.disk.commit(ctx, account, container, st, Props{Name: name, ContentType: "application/octet-stream", ContentMD5: st.md5}, now, nil)
	return err
}

// isCode reports whether err is the Blob error code.
func isCode(err error, code string) bool {
	var be *Error
	return errors.As(err, &be) && be.Code == code
}

// RemoveAccount removes the blobs of a storage account that was deleted.
func (s *Service) RemoveAccount(ctx context.Context, account string) error {
	return s.disk.removeAccount(ctx, account)
}
