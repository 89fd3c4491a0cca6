package blob

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The blobs live under the data directory, private to the server:
//
//	accounts/{key of the account's resource id}/{container}/container.json
//	  .../blobs/{key of the name}.json   the blob's properties, naming its data file
//	  .../blobs/{key of the name}.{etag}.data
//	  .../blocks/{key of the name}/{block id in hex}   uncommitted blocks
//	tmp/   uploads being received
//
// An upload streams into tmp/ (memory stays bounded whatever the size),
// is renamed beside the blob's properties, and becomes the blob when the
// properties file naming it is renamed into place: a crash leaves the old
// blob or the new one, never a mix.

var _ Backend = (*Disk)(nil)

// Disk is the blobs on disk, beside the embedded store: Open it once,
// and serve it with a Service.
type Disk struct {
	root string
	// mu serializes the commits of blobs with the reads that pair a
	// blob's properties with its data file: a reader never opens a data
	// file that a commit has just replaced.
	mu sync.Mutex
}

// containerProps are a container's stored properties.
type containerProps struct {
	Name     string    `json:"name"`
	ETag     string    `json:"etag"`
	Modified time.Time `json:"modified"`
}

// Props are a blob's stored properties.
type Props struct {
	Name        string            `json:"name"`
	Size        int64             `json:"size"`
	ETag        string            `json:"etag"`
	Created     time.Time         `json:"created"`
	Modified    time.Time         `json:"modified"`
	ContentType string            `json:"contentType,omitempty"`
	ContentMD5  []byte            `json:"contentMD5,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Data        string            `json:"data"` // the data file's name, beside the properties
}

// Open prepares the blob storage in root (created 0700) and empties what
// an interrupted upload left in its tmp/.
func Open(root string) (*Disk, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("blob storage %s: %w", root, err)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, fmt.Errorf("blob storage %s: %w", root, err)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("blob storage: remove interrupted uploads: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob storage %s: %w", tmp, err)
	}
	return &Disk{root: root}, nil
}

// key names a thing on disk by a digest, so that no name reaches a path.
func key(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func (d *Disk) accountDir(account string) string {
	return filepath.Join(d.root, "accounts", key(strings.ToLower(account)))
}

// containerDir: container names are lowercase letters, digits and
// hyphens (checkContainerName), safe in a path.
func (d *Disk) containerDir(account, container string) string {
	return filepath.Join(d.accountDir(account), container)
}

func (d *Disk) propsPath(account, container, name string) string {
	return filepath.Join(d.containerDir(account, container), "blobs", key(name)+".json")
}

func (d *Disk) blocksDir(account, container, name string) string {
	return filepath.Join(d.containerDir(account, container), "blocks", key(name))
}

// newETag is an opaque quoted entity tag, as Azure's look.
func newETag() string {
	var b [8]byte
	rand.Read(b[:])
	return `"0x` + strings.ToUpper(hex.EncodeToString(b[:])) + `"`
}

var (
	errContainerNotFound = newError(http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
	errBlobNotFound      = newError(http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
)

// writeJSONAtomic writes v to path through a file renamed over it.
func writeJSONAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("stored %s: %w", filepath.Base(path), err)
	}
	return nil
}

func (d *Disk) createContainer(_ context.Context, account, container string, now time.Time) (containerProps, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir := d.containerDir(account, container)
	// The properties file makes the container: a crash before it was
	// written leaves folders that a new create completes.
	if _, err := d.readContainer(account, container); err == nil {
		return containerProps{}, newError(http.StatusConflict, "ContainerAlreadyExists", "The specified container already exists.")
	}
	for _, sub := range []string{"blobs", "blocks"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return containerProps{}, fmt.Errorf("create container %s: %w", container, err)
		}
	}
	cp := containerProps{Name: container, ETag: newETag(), Modified: now}
	return cp, writeJSONAtomic(filepath.Join(dir, "container.json"), cp)
}

func (d *Disk) container(_ context.Context, account, container string) (containerProps, error) {
	return d.readContainer(account, container)
}

func (d *Disk) readContainer(account, container string) (containerProps, error) {
	var cp containerProps
	err := readJSON(filepath.Join(d.containerDir(account, container), "container.json"), &cp)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, errContainerNotFound
	}
	return cp, err
}

// deleteContainer moves the container aside at once (it is gone for
// every later request), then removes its files.
func (d *Disk) deleteContainer(_ context.Context, account, container string) error {
	d.mu.Lock()
	if _, err := d.readContainer(account, container); err != nil {
		d.mu.Unlock()
		return err
	}
	aside, err := os.MkdirTemp(filepath.Join(d.root, "tmp"), "deleted-")
	if err == nil {
		err = os.Rename(d.containerDir(account, container), filepath.Join(aside, "c"))
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete container %s: %w", container, err)
	}
	return os.RemoveAll(aside)
}

// removeAccount removes every container of a storage account (deleted
// with its resource).
func (d *Disk) removeAccount(_ context.Context, account string) error {
	d.mu.Lock()
	aside, err := os.MkdirTemp(filepath.Join(d.root, "tmp"), "deleted-")
	if err == nil {
		err = os.Rename(d.accountDir(account), filepath.Join(aside, "a"))
	}
	d.mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the blobs of %s: %w", account, err)
	}
	return os.RemoveAll(aside)
}

// stage copies exactly size bytes of body into a new file in tmp/.
func (d *Disk) stage(_ context.Context, body io.Reader, size int64) (staged, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "upload-")
	if err != nil {
		return staged{}, fmt.Errorf("stage an upload: %w", err)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, size))
	if err == nil && n < size {
		err = newError(http.StatusBadRequest, "InvalidInput", "The request body holds %d bytes, fewer than its Content-Length (%d).", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		var be *Error
		if errors.As(err, &be) {
			return staged{}, be
		}
		return staged{}, fmt.Errorf("receive an upload: %w", err)
	}
	return staged{path: f.Name(), size: size, md5: h.Sum(nil)}, nil
}

// discard removes a staged upload that will not be committed.
func (d *Disk) discard(s staged) { os.Remove(s.path) }

// commit makes a staged file the blob's content with props (Name, Size,
// ETag, times and Data are set here). check, if not nil, sees the blob
// as it is (nil when there is none) under the lock, and may refuse.
func (d *Disk) commit(_ context.Context, account, container string, s staged, props Props, now time.Time, check func(*Props) error) (Props, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.readContainer(account, container); err != nil {
		d.discard(s)
		return Props{}, err
	}
	old, err := d.props(account, container, props.Name)
	if err != nil && !errors.Is(err, errBlobNotFound) {
		d.discard(s)
		return Props{}, err
	}
	var cur *Props
	if err == nil {
		cur = &old
	}
	if check != nil {
		if err := check(cur); err != nil {
			d.discard(s)
			return Props{}, err
		}
	}
	props.Size, props.ETag, props.Modified, props.Created = s.size, newETag(), now, now
	if cur != nil {
		props.Created = cur.Created
	}
	k := key(props.Name)
	props.Data = k + "." + strings.Trim(props.ETag, `"`) + ".data"
	dir := filepath.Join(d.containerDir(account, container), "blobs")
	if err := os.Rename(s.path, filepath.Join(dir, props.Data)); err != nil {
		d.discard(s)
		return Props{}, fmt.Errorf("store blob %s: %w", props.Name, err)
	}
	if err := writeJSONAtomic(filepath.Join(dir, k+".json"), props); err != nil {
		os.Remove(filepath.Join(dir, props.Data))
		return Props{}, err
	}
	if cur != nil {
		os.Remove(filepath.Join(dir, cur.Data)) // the old content: no reader can pick it any more
	}
	return props, nil
}

// props reads a blob's properties.
func (d *Disk) props(account, container, name string) (Props, error) {
	var p Props
	err := readJSON(d.propsPath(account, container, name), &p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, cerr := d.readContainer(account, container); cerr != nil {
			return p, cerr
		}
		return p, errBlobNotFound
	}
	return p, err
}

func (d *Disk) stat(_ context.Context, account, container, name string) (Props, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.props(account, container, name)
}

// open returns a blob's properties and its content.
func (d *Disk) open(_ context.Context, account, container, name string) (Props, content, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.props(account, container, name)
	if err != nil {
		return p, nil, err
	}
	f, err := os.Open(filepath.Join(d.containerDir(account, container), "blobs", p.Data))
	if err != nil {
		return p, nil, fmt.Errorf("open blob %s: %w", name, err)
	}
	return p, fileContent{f}, nil
}

// fileContent is a blob's data file, open: a commit that replaces the
// blob removes the file's name, not what the reader has open.
type fileContent struct{ f *os.File }

func (c fileContent) section(off, n int64) io.Reader { return io.NewSectionReader(c.f, off, n) }
func (c fileContent) Close() error                   { return c.f.Close() }

// deleteBlob removes a blob and its uncommitted blocks; check as for
// commit.
func (d *Disk) deleteBlob(_ context.Context, account, container, name string, check func(*Props) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.props(account, container, name)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(&p); err != nil {
			return err
		}
	}
	if err := os.Remove(d.propsPath(account, container, name)); err != nil {
		return fmt.Errorf("delete blob %s: %w", name, err)
	}
	os.Remove(filepath.Join(d.containerDir(account, container), "blobs", p.Data))
	return os.RemoveAll(d.blocksDir(account, container, name))
}

// list reads the properties of every blob of a container, by name.
func (d *Disk) list(_ context.Context, account, container string) ([]Props, error) {
	if _, err := d.readContainer(account, container); err != nil {
		return nil, err
	}
	dir := filepath.Join(d.containerDir(account, container), "blobs")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list container %s: %w", container, err)
	}
	var out []Props
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var p Props
		if err := readJSON(filepath.Join(dir, e.Name()), &p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the directory was read
			}
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Props) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// putBlock keeps an uncommitted block of a blob. It holds the lock, so
// that a container deleted meanwhile is not created again by the block's
// folder.
func (d *Disk) putBlock(_ context.Context, account, container, name string, id []byte, s staged) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.readContainer(account, container); err != nil {
		d.discard(s)
		return err
	}
	dir := d.blocksDir(account, container, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.discard(s)
		return fmt.Errorf("keep a block of %s: %w", name, err)
	}
	if err := os.Rename(s.path, filepath.Join(dir, hex.EncodeToString(id))); err != nil {
		d.discard(s)
		return fmt.Errorf("keep a block of %s: %w", name, err)
	}
	return nil
}

// commitBlocks makes the blocks ids, in order, the blob's content, and
// discards its other uncommitted blocks, as Azure does.
func (d *Disk) commitBlocks(ctx context.Context, account, container string, ids [][]byte, props Props, now time.Time, check func(*Props) error) (Props, error) {
	if _, err := d.readContainer(account, container); err != nil {
		return Props{}, err
	}
	st, err := d.assemble(account, container, props.Name, ids)
	if err != nil {
		return Props{}, err
	}
	p, err := d.commit(ctx, account, container, st, props, now, check)
	if err != nil {
		return Props{}, err
	}
	// Moved aside at once, so that a later list cannot name them, and
	// removed in place when they cannot be moved; what cannot be removed
	// stays in tmp/, emptied at the next start. The blob is committed
	// whatever happens to them.
	d.mu.Lock()
	blocks := d.blocksDir(account, container, props.Name)
	aside, err := os.MkdirTemp(filepath.Join(d.root, "tmp"), "blocks-")
	if err == nil {
		err = os.Rename(blocks, filepath.Join(aside, "b"))
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(blocks)
	}
	d.mu.Unlock()
	if aside != "" {
		os.RemoveAll(aside)
	}
	return p, nil
}

// assemble concatenates uncommitted blocks, in order, into a staged file.
func (d *Disk) assemble(account, container, name string, ids [][]byte) (staged, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "blocklist-")
	if err != nil {
		return staged{}, fmt.Errorf("commit the blocks of %s: %w", name, err)
	}
	var size int64
	fail := func(err error) (staged, error) {
		f.Close()
		os.Remove(f.Name())
		return staged{}, err
	}
	dir := d.blocksDir(account, container, name)
	for _, id := range ids {
		b, err := os.Open(filepath.Join(dir, hex.EncodeToString(id)))
		if errors.Is(err, fs.ErrNotExist) {
			return fail(errBlockNotUploaded(id))
		}
		if err != nil {
			return fail(fmt.Errorf("commit the blocks of %s: %w", name, err))
		}
		n, err := io.Copy(f, b)
		b.Close()
		if err != nil {
			return fail(fmt.Errorf("commit the blocks of %s: %w", name, err))
		}
		size += n
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("commit the blocks of %s: %w", name, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return staged{}, fmt.Errorf("commit the blocks of %s: %w", name, err)
	}
	return staged{path: f.Name(), size: size}, nil
}
