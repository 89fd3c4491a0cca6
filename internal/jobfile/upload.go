package jobfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"securetrain/internal/blob"
)

// A job's local code folder and file or folder inputs are uploaded, as
// az ml does, to the workspace's blob datastore (workspaceblobstore: the
// container azureml-blobstore-{workspace GUID} of its default storage
// account) under LocalUpload/{digest of the content}/{name}, with the
// unmodified azblob client on the server's Blob service. The code becomes
// an anonymous code version named by the digest; an input's path becomes
// its azureml://datastores/workspaceblobstore/paths/… URI.

// Local is a local file or folder a job file names.
type Local struct {
	// Path is where it is on this machine.
	Path string
	Dir  bool
}

// uploadBlockSize is the size of the blocks a file is sent in: each
// request stays small, whatever the file's size.
const uploadBlockSize = 8 << 20

// Token hands azblob a bearer token: the principal's own.
type Token string

// GetToken returns the token.
func (t Token) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Target is where a job file is submitted: a workspace, through the API
// as one principal.
type Target struct {
	// Workspace is the workspace's id.
	Workspace string
	// Do sends a request to the API for the resource whose id is given
	// (its api-version is Do's to add) and returns the answer's body; an
	// error answer is an error.
	Do func(method, id string, body []byte) ([]byte, error)
	// Blob is a client of a storage account's Blob service (by the
	// account's name) and the service's URL.
	Blob func(account string) (*azblob.Client, string, error)
}

// Submit creates job name from jf: its inline environment, its local
// code and inputs uploaded (saying so on out), then the job.
func (t Target) Submit(ctx context.Context, jf *File, name string, out io.Writer) error {
	if jf.Environment != nil {
		if err := t.putAsset(jf.EnvID, jf.Environment); err != nil {
			return err
		}
	}
	if err := t.uploadLocal(ctx, jf, out); err != nil {
		return err
	}
	body, err := json.Marshal(jf.Body)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", name, err)
	}
	_, err = t.Do(http.MethodPut, t.Workspace+"/jobs/"+name, body)
	return err
}

// putAsset creates an asset version and its container (the container
// first: the version lives under it).
func (t Target) putAsset(versionID string, body map[string]any) error {
	container := versionID[:strings.LastIndex(versionID, "/versions/")]
	if _, err := t.Do(http.MethodPut, container, []byte(`{"properties":{}}`)); err != nil {
		return err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", versionID, err)
	}
	_, err = t.Do(http.MethodPut, versionID, raw)
	return err
}

// uploadLocal uploads the job's local code and inputs, saying so on out,
// and sets codeId and the inputs' URIs in its body.
func (t Target) uploadLocal(ctx context.Context, jf *File, out io.Writer) error {
	if jf.Code == nil && len(jf.Inputs) == 0 {
		return nil
	}
	raw, err := t.Do(http.MethodGet, t.Workspace, nil)
	if err != nil {
		return err
	}
	var ws struct {
		Properties struct {
			StorageAccount string `json:"storageAccount"`
			WorkspaceID    string `json:"workspaceId"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &ws); err != nil {
		return fmt.Errorf("read workspace %s: %w", t.Workspace, err)
	}
	account := ws.Properties.StorageAccount[strings.LastIndex(ws.Properties.StorageAccount, "/")+1:]
	if account == "" {
		return fmt.Errorf("workspace %s has no default storage account (properties.storageAccount): local code and inputs are uploaded there", path.Base(t.Workspace))
	}
	client, serviceURL, err := t.Blob(account)
	if err != nil {
		return err
	}
	container := blob.WorkspaceContainer(ws.Properties.WorkspaceID)
	if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create the datastore's container %s in storage account %s: %w", container, account, err)
	}
	props := jf.Body["properties"].(map[string]any)
	if jf.Code != nil {
		p, digest, n, err := uploadAsset(ctx, client, container, *jf.Code)
		if err != nil {
			return fmt.Errorf("upload the code %s: %w", jf.Code.Path, err)
		}
		fmt.Fprintf(out, "uploaded code %s (%d files) to %s/%s\n", jf.Code.Path, n, container, p)
		codeID := t.Workspace + "/codes/" + digest + "/versions/1"
		body := map[string]any{"properties": map[string]any{"codeUri": serviceURL + "/" + container + "/" + p, "isAnonymous": true}}
		if err := t.putAsset(codeID, body); err != nil {
			return err
		}
		props["codeId"] = codeID
	}
	inputs := props["inputs"].(map[string]any)
	for name, a := range jf.Inputs {
		p, _, n, err := uploadAsset(ctx, client, container, *a)
		if err != nil {
			return fmt.Errorf("upload inputs.%s (%s): %w", name, a.Path, err)
		}
		fmt.Fprintf(out, "uploaded inputs.%s %s (%d files) to %s/%s\n", name, a.Path, n, container, p)
		inputs[name].(map[string]any)["uri"] = "azureml://datastores/" + blob.WorkspaceDatastore + "/paths/" + p
	}
	return nil
}

// uploadAsset uploads a local file or folder under
// LocalUpload/{digest}/{its name} and returns that path, the digest and
// the number of files.
func uploadAsset(ctx context.Context, client *azblob.Client, container string, a Local) (string, string, int, error) {
	files, digest, err := Snapshot(a)
	if err != nil {
		return "", "", 0, err
	}
	prefix := "LocalUpload/" + digest + "/" + filepath.Base(a.Path)
	for _, rel := range files {
		name, local := prefix, a.Path
		if a.Dir {
			name, local = prefix+"/"+rel, filepath.Join(a.Path, filepath.FromSlash(rel))
		}
		if err := uploadFile(ctx, client, container, name, local); err != nil {
			return "", "", 0, err
		}
	}
	return prefix, digest, len(files), nil
}

func uploadFile(ctx context.Context, client *azblob.Client, container, name, local string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := client.UploadStream(ctx, container, name, f, &azblob.UploadStreamOptions{BlockSize: uploadBlockSize}); err != nil {
		return fmt.Errorf("upload %s: %w", local, err)
	}
	return nil
}

// Snapshot lists a folder's files (slash-separated, sorted; a file is
// itself, "") and digests their names and contents: the same content has
// the same digest, wherever it lies. Links and other non-regular files
// are refused rather than silently left out.
func Snapshot(a Local) ([]string, string, error) {
	var files []string
	if a.Dir {
		err := filepath.WalkDir(a.Path, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir():
				return nil
			case !d.Type().IsRegular():
				return fmt.Errorf("%s is not a regular file (a link?): a snapshot holds files and folders only", p)
			}
			rel, err := filepath.Rel(a.Path, p)
			files = append(files, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if len(files) == 0 {
			return nil, "", fmt.Errorf("folder %s holds no file", a.Path)
		}
		slices.Sort(files)
	} else {
		files = []string{""}
	}
	h := sha256.New()
	for _, rel := range files {
		f, err := os.Open(filepath.Join(a.Path, filepath.FromSlash(rel)))
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00", path.Clean("/"+rel))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", rel, err)
		}
		h.Write([]byte{0})
	}
	return files, hex.EncodeToString(h.Sum(nil)[:16]), nil
}
