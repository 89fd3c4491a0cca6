package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// CopyAccounts copies the containers and blobs of the storage accounts
// (resource ids) from the disk into dst — moving a server's blobs with
// its records into PostgreSQL — and returns how many blobs it copied.
// Each blob keeps its name, content, content type, MD5 and metadata; its
// etag and times are dst's. A container dst already has is refused:
// nothing is copied over.
func CopyAccounts(ctx context.Context, src *Disk, dst Backend, accounts []string) (int, error) {
	n := 0
	for _, account := range accounts {
		entries, err := os.ReadDir(src.accountDir(account))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no blobs
		}
		if err != nil {
			return n, fmt.Errorf("blobs of %s: %w", account, err)
		}
		for _, e := range entries {
			if _, err := src.readContainer(account, e.Name()); errors.Is(err, errContainerNotFound) {
				continue // a container being created or deleted when the server stopped
			} else if err != nil {
				return n, fmt.Errorf("blobs of %s: %w", account, err)
			}
			copied, err := copyContainer(ctx, src, dst, account, e.Name())
			n += copied
			if err != nil {
				return n, fmt.Errorf("blobs of %s, container %s: %w", account, e.Name(), err)
			}
		}
	}
	return n, nil
}

func copyContainer(ctx context.Context, src *Disk, dst Backend, account, container string) (int, error) {
	cp, err := src.readContainer(account, container)
	if err != nil {
		return 0, err
	}
	if _, err := dst.createContainer(ctx, account, container, cp.Modified); err != nil {
		return 0, err
	}
	blobs, err := src.list(ctx, account, container)
	if err != nil {
		return 0, err
	}
	for i, p := range blobs {
		if err := copyBlob(ctx, src, dst, account, container, p.Name); err != nil {
			return i, fmt.Errorf("blob %s: %w", p.Name, err)
		}
	}
	return len(blobs), nil
}

func copyBlob(ctx context.Context, src *Disk, dst Backend, account, container, name string) error {
	p, c, err := src.open(ctx, account, container, name)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := dst.stage(ctx, c.section(0, p.Size), p.Size)
	if err != nil {
		return err
	}
	_, err = dst.commit(ctx, account, container, st, Props{Name: p.Name, ContentType: p.ContentType, ContentMD5: p.ContentMD5, Metadata: p.Metadata}, p.Modified, nil)
	return err
}
