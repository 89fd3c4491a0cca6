package blob

import (
	"context"
	"io"
	"net/http"
	"time"

	"securetrain/internal/store"
)

// Limits of the subset served (Azure's), whatever the backend.
const (
	MaxPutBlobBytes  = 5000 << 20 // Put Blob
	MaxBlockBytes    = 4000 << 20 // Put Block
	MaxBlocks        = 50_000     // committed blocks of a blob
	maxBlockIDBytes  = 64
	maxBlockListBody = 8 << 20
)

// Backend keeps the containers and blobs a Service serves: on the data
// directory's disk beside the embedded store (Disk, Open), or in the
// PostgreSQL database that the replicas of the control plane share
// (Postgres, OpenPostgres), so that every replica serves every blob.
//
// Both keep the same promises, which the tests run on each: a commit
// replaces a blob whole (a reader sees the old content or the new, never
// a mix) and applies check to the blob it replaces in the same step; a
// download in progress keeps the content it began with; uploads stream,
// so memory stays bounded whatever a blob's size; a deleted container or
// account is gone for every later request at once.
type Backend interface {
	createContainer(ctx context.Context, account, container string, now time.Time) (containerProps, error)
	container(ctx context.Context, account, container string) (containerProps, error)
	deleteContainer(ctx context.Context, account, container string) error
	// removeAccount removes every container of a storage account.
	removeAccount(ctx context.Context, account string) error
	// stage receives exactly size bytes of body, not yet any blob's: a
	// commit or putBlock takes it, or discard drops it.
	stage(ctx context.Context, body io.Reader, size int64) (staged, error)
	discard(s staged)
	// commit makes s the content of props.Name (Size, ETag, times are
	// set here). check, if not nil, sees the blob as it is (nil: none)
	// in the same step, and may refuse.
	commit(ctx context.Context, account, container string, s staged, props Props, now time.Time, check func(*Props) error) (Props, error)
	// putBlock keeps s as the uncommitted block id of a blob.
	putBlock(ctx context.Context, account, container, name string, id []byte, s staged) error
	// commitBlocks commits the uncommitted blocks ids, in order, as the
	// blob's content (as commit does), and discards its other blocks.
	commitBlocks(ctx context.Context, account, container string, ids [][]byte, props Props, now time.Time, check func(*Props) error) (Props, error)
	// stat returns a blob's properties (its stored Size among them)
	// without opening its content.
	stat(ctx context.Context, account, container, name string) (Props, error)
	// open returns a blob's properties and its content, which stays as
	// it is until closed, whatever is committed meanwhile.
	open(ctx context.Context, account, container, name string) (Props, content, error)
	deleteBlob(ctx context.Context, account, container, name string, check func(*Props) error) error
	// list returns the properties of every blob of a container, by name.
	list(ctx context.Context, account, container string) ([]Props, error)
}

// OpenFor keeps the blobs where st keeps the records: in its PostgreSQL
// database, which the replicas share, or else on disk in root.
func OpenFor(st store.Store, root string) (Backend, error) {
	if pg, ok := st.(*store.Postgres); ok {
		return OpenPostgres(pg), nil
	}
	return Open(root)
}

// staged is an upload a backend received.
type staged struct {
	size int64
	md5  []byte
	path string // Disk: the file in tmp/
	data int64  // Postgres: the data's id
}

// content is an open blob's data.
type content interface {
	// section reads n bytes from off.
	section(off, n int64) io.Reader
	io.Closer
}

// errBlockNotUploaded refuses a block list naming a block that is not an
// uncommitted block of the blob.
func errBlockNotUploaded(id []byte) error {
	return newError(http.StatusBadRequest, "InvalidBlockList", "The block list names a block that was not uploaded (or was already committed): %x.", id)
}
