package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/blob"
	"securetrain/internal/jobs"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// The workspaces' storage accounts are served by the embedded Blob
// service (internal/blob) on this server's listener: a request with
// x-ms-version is a Blob REST request. The service asks this server who a
// token is, what they may do (the blob data actions of their roles) and
// which storage accounts exist; jobs read their code and inputs through it.

// blobAuthority answers the Blob service from the store.
type blobAuthority struct{ s *Server }

func (a blobAuthority) Principal(ctx context.Context, token string) (string, error) {
	who, err := a.s.principalOf(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return "", blob.ErrInvalidToken
	}
	return who, err
}

func (a blobAuthority) Permitted(ctx context.Context, who, action, target string, data bool) (bool, error) {
	return a.s.permitted(ctx, who, action, target, data)
}

// Account finds the storage account called name in any subscription:
// names are unique (deriveStorageAccount), as Azure's are.
func (a blobAuthority) Account(ctx context.Context, name string) (string, error) {
	ids, err := storageAccountsNamed(ctx, a.s.store, name)
	switch {
	case err != nil:
		return "", err
	case len(ids) == 0:
		return "", blob.ErrNoAccount
	case len(ids) > 1:
		// Stored before names were kept unique: serving either would hand
		// one owner's blobs to the other. The ids are not shown: they may
		// be another subscription's.
		return "", &blob.Error{Status: http.StatusConflict, Code: "AccountNameAmbiguous",
			Message: fmt.Sprintf("More than one storage account is named '%s' (stored before names were kept unique); an administrator must delete all but one.", name)}
	}
	return ids[0], nil
}

// storageAccountsNamed lists the ids of the storage accounts called name.
func storageAccountsNamed(ctx context.Context, rd store.Reader, name string) ([]string, error) {
	var ids []string
	err := store.Each(ctx, rd, store.Query{Scope: "/subscriptions", Type: resources.TypeStorageAccount}, func(rec store.Record) error {
		if id, err := arm.ParseID(rec.ID, ""); err == nil && strings.EqualFold(id.Leaf(), name) {
			ids = append(ids, rec.ID)
		}
		return nil
	})
	return ids, err
}

// deriveStorageAccount refuses a new storage account whose name another
// one has, in any subscription: a blob URL names the account alone.
func deriveStorageAccount(_ *Server, ctx context.Context, tx store.Tx, id arm.ID, cur, _ object) error {
	if cur != nil {
		return nil
	}
	ids, err := storageAccountsNamed(ctx, tx, id.Leaf())
	if err != nil {
		return err
	}
	for _, other := range ids {
		if !strings.EqualFold(other, id.String()) {
			return newError(http.StatusConflict, "StorageAccountAlreadyTaken", "The storage account named %s is already taken.", id.Leaf())
		}
	}
	return nil
}

// removeBlobs removes a deleted storage account's blobs.
func removeBlobs(s *Server, ctx context.Context, id arm.ID) error {
	return s.removeAccountBlobs(ctx, id.String())
}

// removeAccountBlobs removes the blobs of the deleted storage account id.
func (s *Server) removeAccountBlobs(ctx context.Context, id string) error {
	if s.blob == nil {
		return nil
	}
	return s.blob.RemoveAccount(ctx, id)
}

// datastore reads the workspaces' storage for the jobs scheduler.
type datastore struct{ s *Server }

// CodeURI reads the codeUri of a code version of the job's own
// workspace; another workspace's is not read (its URI would show in the
// job's failure).
func (d datastore) CodeURI(ctx context.Context, workspace arm.ID, codeID string) (string, error) {
	if err := checkCodeID(workspace, codeID); err != nil {
		return "", err
	}
	body, err := d.read(ctx, codeID)
	if err != nil {
		return "", err
	}
	uri := arm.Str(arm.Field(body, "properties"), "codeUri")
	if uri == "" {
		return "", fmt.Errorf("code version %s has no codeUri", codeID)
	}
	return uri, nil
}

// Files reads uri from the default storage account of workspace, and
// from nowhere else: a job reads its own workspace's storage only.
func (d datastore) Files(ctx context.Context, workspace arm.ID, uri string, fn func(rel string, r io.Reader) error) (bool, error) {
	account, container, p, err := d.locate(ctx, workspace, uri)
	if err != nil {
		return false, err
	}
	return d.s.blob.Files(ctx, account, container, p, fn)
}

// Stat lists what Files reads at uri, with the stored sizes, without
// reading the content.
func (d datastore) Stat(ctx context.Context, workspace arm.ID, uri string) ([]blob.FileInfo, error) {
	account, container, p, err := d.locate(ctx, workspace, uri)
	if err != nil {
		return nil, err
	}
	files, _, err := d.s.blob.Stat(ctx, account, container, p)
	return files, err
}

// locate finds uri in the default storage account of workspace, and
// nowhere else: the account's id, the container and the path in it.
func (d datastore) locate(ctx context.Context, workspace arm.ID, uri string) (account, container, path string, err error) {
	loc, err := blob.ParseURI(uri)
	if err != nil {
		return "", "", "", err
	}
	acct, container, err := d.storage(ctx, workspace)
	if err != nil {
		return "", "", "", err
	}
	switch {
	case loc.Datastore != "" && loc.Datastore != blob.WorkspaceDatastore:
		return "", "", "", fmt.Errorf("datastore %s is not served: a job reads azureml://datastores/%s/paths/…", loc.Datastore, blob.WorkspaceDatastore)
	case loc.Datastore == "" && !strings.EqualFold(loc.Account, acct.Leaf()):
		return "", "", "", fmt.Errorf("the URI names storage account %s, but a job reads only its workspace's storage account %s", loc.Account, acct.Leaf())
	case loc.Datastore == "":
		container = loc.Container
	}
	return acct.String(), container, loc.Path, nil
}

// Put writes a blob into the workspace's blobstore datastore.
func (d datastore) Put(ctx context.Context, workspace arm.ID, path string, r io.Reader, size int64) error {
	account, container, err := d.storage(ctx, workspace)
	if err != nil {
		return err
	}
	return d.s.blob.Put(ctx, account.String(), container, path, r, size)
}

// storage is the default storage account of workspace, as stored, and
// the container of its workspaceblobstore; jobs.ErrNoStorage when the
// workspace names none.
func (d datastore) storage(ctx context.Context, workspace arm.ID) (arm.ID, string, error) {
	ws, err := d.read(ctx, workspace.String())
	if err != nil {
		return arm.ID{}, "", err
	}
	props := arm.Field(ws, "properties")
	name := arm.Str(props, "storageAccount")
	if name == "" {
		return arm.ID{}, "", fmt.Errorf("workspace %s has no default storage account (properties.storageAccount): %w", workspace.Leaf(), jobs.ErrNoStorage)
	}
	rec, err := d.s.store.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return arm.ID{}, "", fmt.Errorf("the storage account %s of workspace %s does not exist", name, workspace.Leaf())
	}
	if err != nil {
		return arm.ID{}, "", err
	}
	account, err := arm.ParseID(rec.ID, "")
	if err != nil {
		return arm.ID{}, "", fmt.Errorf("stored %s: %w", rec.ID, err)
	}
	return account, blob.WorkspaceContainer(arm.Str(props, "workspaceId")), nil
}

// checkCodeID checks that a job's codeId is a code version of its
// workspace.
func checkCodeID(workspace arm.ID, codeID string) error {
	id, err := arm.ParseID(codeID, "")
	ok := err == nil && strings.EqualFold(id.Type(), resources.TypeCodeVersion)
	if ok {
		codes, _ := id.Parent()
		ws, _ := codes.Parent()
		ok = ws.Equal(workspace)
	}
	if !ok {
		return fmt.Errorf("codeId %s is not a code version of workspace %s (workspaces/%s/codes/{name}/versions/{version}); code from a registry or another workspace is not served",
			codeID, workspace.Leaf(), workspace.Leaf())
	}
	return nil
}

// read reads a stored resource's body.
func (d datastore) read(ctx context.Context, id string) (object, error) {
	rec, err := d.s.store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	body, err := arm.DecodeBody(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", id, err)
	}
	return body, nil
}
