package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// localAsset is a local file or folder the job names.
type localAsset struct {
	path string // as the YAML names it, joined to the YAML's folder
	dir  bool
}

// uploadBlockSize is the size of the blocks a file is sent in: each
// request stays small, whatever the file's size.
const uploadBlockSize = 8 << 20

// staticToken hands azblob the CLI's bearer token.
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// uploadLocal uploads the job's local code and inputs, saying so on out,
// and sets codeId and the inputs' URIs in its body.
func (c *computeCmd) uploadLocal(ctx context.Context, jf *jobFile, out io.Writer) error {
	if jf.code == nil && len(jf.inputs) == 0 {
		return nil
	}
	resp, err := c.srv.do(http.MethodGet, c.workspaceID(), nil)
	if err != nil {
		return err
	}
	var ws struct {
		Properties struct {
			StorageAccount string `json:"storageAccount"`
			WorkspaceID    string `json:"workspaceId"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(resp.body, &ws); err != nil {
		return fmt.Errorf("read workspace %s: %w", c.ws, err)
	}
	account := ws.Properties.StorageAccount[strings.LastIndex(ws.Properties.StorageAccount, "/")+1:]
	if account == "" {
		return fmt.Errorf("workspace %s has no default storage account (properties.storageAccount): local code and inputs are uploaded there", c.ws)
	}
	serviceURL := c.srv.base.String() + "/" + account
	client, err := azblob.NewClient(serviceURL, staticToken(c.srv.token), &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: c.srv.http,
		// Plain HTTP only when the user chose it (serve --insecure-http):
		// the token crosses it as it does for every other request.
		InsecureAllowCredentialWithHTTP: c.srv.base.Scheme == "http",
	}})
	if err != nil {
		return fmt.Errorf("blob client for %s: %w", serviceURL, err)
	}
	container := blob.WorkspaceContainer(ws.Properties.WorkspaceID)
	if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create the datastore's container %s in storage account %s: %w", container, account, err)
	}
	props := jf.body["properties"].(map[string]any)
	if jf.code != nil {
		p, digest, n, err := uploadAsset(ctx, client, container, *jf.code)
		if err != nil {
			return fmt.Errorf("upload the code %s: %w", jf.code.path, err)
		}
		fmt.Fprintf(out, "uploaded code %s (%d files) to %s/%s\n", jf.code.path, n, container, p)
		codeID := c.workspaceID() + "/codes/" + digest + "/versions/1"
		body := map[string]any{"properties": map[string]any{"codeUri": serviceURL + "/" + container + "/" + p, "isAnonymous": true}}
		if err := c.putAsset(codeID, body); err != nil {
			return err
		}
		props["codeId"] = codeID
	}
	inputs := props["inputs"].(map[string]any)
	for name, a := range jf.inputs {
		p, _, n, err := uploadAsset(ctx, client, container, *a)
		if err != nil {
			return fmt.Errorf("upload inputs.%s (%s): %w", name, a.path, err)
		}
		fmt.Fprintf(out, "uploaded inputs.%s %s (%d files) to %s/%s\n", name, a.path, n, container, p)
		inputs[name].(map[string]any)["uri"] = "azureml://datastores/" + blob.WorkspaceDatastore + "/paths/" + p
	}
	return nil
}

// uploadAsset uploads a local file or folder under
// LocalUpload/{digest}/{its name} and returns that path, the digest and
// the number of files.
func uploadAsset(ctx context.Context, client *azblob.Client, container string, a localAsset) (string, string, int, error) {
	files, digest, err := snapshot(a)
	if err != nil {
		return "", "", 0, err
	}
	prefix := "LocalUpload/" + digest + "/" + filepath.Base(a.path)
	for _, rel := range files {
		name, local := prefix, a.path
		if a.dir {
			name, local = prefix+"/"+rel, filepath.Join(a.path, filepath.FromSlash(rel))
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

// snapshot lists a folder's files (slash-separated, sorted; a file is
// itself, "") and digests their names and contents: the same content has
// the same digest, wherever it lies. Links and other non-regular files
// are refused rather than silently left out.
func snapshot(a localAsset) ([]string, string, error) {
	var files []string
	if a.dir {
		err := filepath.WalkDir(a.path, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir():
				return nil
			case !d.Type().IsRegular():
				return fmt.Errorf("%s is not a regular file (a link?): a snapshot holds files and folders only", p)
			}
			rel, err := filepath.Rel(a.path, p)
			files = append(files, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if len(files) == 0 {
			return nil, "", fmt.Errorf("folder %s holds no file", a.path)
		}
		slices.Sort(files)
	} else {
		files = []string{""}
	}
	h := sha256.New()
	for _, rel := range files {
		f, err := os.Open(filepath.Join(a.path, filepath.FromSlash(rel)))
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

// errNotLocal is a code or input path that is a URI, not a local path.
var errNotLocal = errors.New("not a local path")

// localPath reads a code or input path relative to the YAML file: a
// local file or folder, or errNotLocal for a URI.
func localPath(yamlPath, p string) (localAsset, error) {
	if strings.Contains(p, "://") || strings.HasPrefix(p, "azureml:") {
		return localAsset{}, errNotLocal
	}
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(filepath.Dir(yamlPath), p)
	}
	info, err := os.Stat(full)
	if err != nil {
		return localAsset{}, err
	}
	return localAsset{path: full, dir: info.IsDir()}, nil
}
