package sdkcompat

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"securetrain/internal/api"
)

// storageAudience is what azblob asks a credential for.
const storageAudience = "https://storage.azure.com/.default"

// storageCredential hands azblob a securetrain token, and only for the
// storage audience.
type storageCredential struct{ token string }

func (c storageCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if !slices.Equal(opts.Scopes, []string{storageAudience}) {
		return azcore.AccessToken{}, fmt.Errorf("token requested for scopes %v, want %s", opts.Scopes, storageAudience)
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// blobClient is the unmodified azblob client of a principal for a
// storage account, addressed path-style on the server.
func (s *server) blobClient(tb testing.TB, token, account string) *azblob.Client {
	tb.Helper()
	return s.blobClientAt(tb, s.url, token, account)
}

// blobClientAt is blobClient through the server at base (a replica).
func (s *server) blobClientAt(tb testing.TB, base, token, account string) *azblob.Client {
	tb.Helper()
	c, err := azblob.NewClient(base+"/"+account, storageCredential{token}, &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: s.transport, Retry: policy.RetryOptions{MaxRetries: -1}}})
	must(tb, err, "azblob client")
	return c
}

// createStorageAccount creates a storage account through ARM.
func createStorageAccount(tb testing.TB, ctx context.Context, s *server, rg, name string) string {
	tb.Helper()
	c, err := armresources.NewClient(subID, credential{s.adminToken}, s.armOptions())
	must(tb, err, "resources client")
	id := rgID(rg) + "/providers/Microsoft.Storage/storageAccounts/" + name
	p, err := c.BeginCreateOrUpdateByID(ctx, id, "2023-05-01", armresources.GenericResource{Location: to.Ptr(location),
		Kind: to.Ptr("StorageV2"), SKU: &armresources.SKU{Name: to.Ptr("Standard_LRS")}, Properties: map[string]any{}}, nil)
	done(tb, ctx, p, err, "create storage account "+name)
	return id
}

// readBlob downloads a whole blob.
func readBlob(tb testing.TB, c *azblob.Client, container, name string) string {
	tb.Helper()
	resp, err := c.DownloadStream(context.Background(), container, name, nil)
	must(tb, err, "download "+name)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	must(tb, err, "read "+name)
	return string(got)
}

// wantBlobError checks that err is the Blob service's refusal with this
// status and code.
func wantBlobError(tb testing.TB, err error, status int, code bloberror.Code, what string) {
	tb.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || !bloberror.HasCode(err, code) {
		tb.Fatalf("%s: %v, want %d %s", what, err, status, code)
	}
}

// The unmodified azblob client uploads small and multi-block blobs,
// lists them flat and by folder, page by page, downloads ranges and whole
// blobs in parallel chunks, reads properties and deletes, against the
// embedded Blob service; a Reader may do none of it, a Storage Blob Data
// Reader may read and not write, and a storage account that does not
// exist is not served.
func TestBlobClient(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	c := srv.clients(t, srv.adminToken)
	createGroup(t, ctx, c, rgML)
	accountID := createStorageAccount(t, ctx, srv, rgML, "stblob1")
	admin := srv.blobClient(t, srv.adminToken, "stblob1")

	_, err := admin.CreateContainer(ctx, "data", nil)
	must(t, err, "create container")
	_, err = admin.CreateContainer(ctx, "data", nil)
	wantBlobError(t, err, http.StatusConflict, bloberror.ContainerAlreadyExists, "create the container again")

	_, err = admin.UploadBuffer(ctx, "data", "dir/small.txt", []byte("hello, blob"), &azblob.UploadBufferOptions{Metadata: map[string]*string{"origin": to.Ptr("test")}})
	must(t, err, "upload a small blob")
	big := make([]byte, 5<<19+17)
	rand.Read(big)
	// 1 MiB blocks (azblob's smallest): three Put Block and a Put Block
	// List.
	_, err = admin.UploadStream(ctx, "data", "big.bin", bytes.NewReader(big), &azblob.UploadStreamOptions{BlockSize: 1 << 20, Concurrency: 3})
	must(t, err, "upload a multi-block blob")
	for _, n := range []string{"dir/sub/a.txt", "dir/sub/b.txt", "z.txt"} {
		_, err = admin.UploadBuffer(ctx, "data", n, []byte(n), nil)
		must(t, err, "upload "+n)
	}

	// Flat, one per page: every name once, in order.
	var flat []string
	pager := admin.NewListBlobsFlatPager("data", &azblob.ListBlobsFlatOptions{MaxResults: to.Ptr[int32](1), Include: azblob.ListBlobsInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		must(t, err, "list flat")
		for _, b := range page.Segment.BlobItems {
			flat = append(flat, *b.Name)
			if *b.Name == "big.bin" && *b.Properties.ContentLength != int64(len(big)) {
				t.Errorf("listed size of big.bin: %d", *b.Properties.ContentLength)
			}
			if *b.Name == "dir/small.txt" && (b.Metadata["origin"] == nil || *b.Metadata["origin"] != "test") {
				t.Errorf("listed metadata of dir/small.txt: %v", b.Metadata)
			}
		}
	}
	if want := []string{"big.bin", "dir/small.txt", "dir/sub/a.txt", "dir/sub/b.txt", "z.txt"}; !slices.Equal(flat, want) {
		t.Errorf("flat listing %q, want %q", flat, want)
	}
	// By folder, under dir/.
	var names, prefixes []string
	hp := admin.ServiceClient().NewContainerClient("data").NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr("dir/")})
	for hp.More() {
		page, err := hp.NextPage(ctx)
		must(t, err, "list by folder")
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
		for _, p := range page.Segment.BlobPrefixes {
			prefixes = append(prefixes, *p.Name)
		}
	}
	if !slices.Equal(names, []string{"dir/small.txt"}) || !slices.Equal(prefixes, []string{"dir/sub/"}) {
		t.Errorf("hierarchical listing: blobs %q, prefixes %q", names, prefixes)
	}

	// A range, then the whole blob in parallel 50 KiB chunks.
	resp, err := admin.DownloadStream(ctx, "data", "big.bin", &azblob.DownloadStreamOptions{Range: azblob.HTTPRange{Offset: 70000, Count: 5000}})
	must(t, err, "download a range")
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err, "read a range")
	if !bytes.Equal(got, big[70000:75000]) {
		t.Errorf("range: %d bytes, not the blob's 70000–74999", len(got))
	}
	whole := make([]byte, len(big))
	n, err := admin.DownloadBuffer(ctx, "data", "big.bin", whole, &azblob.DownloadBufferOptions{BlockSize: 50 << 10, Concurrency: 4})
	must(t, err, "download in chunks")
	if n != int64(len(big)) || !bytes.Equal(whole, big) {
		t.Errorf("downloaded %d bytes, not the uploaded %d", n, len(big))
	}
	// A blob committed by a block list has no MD5 of its own (as in
	// Azure): big.bin went up in blocks, not in one Put Blob.
	bigProps, err := admin.ServiceClient().NewContainerClient("data").NewBlobClient("big.bin").GetProperties(ctx, nil)
	must(t, err, "properties of big.bin")
	if bigProps.ContentMD5 != nil || *bigProps.ContentLength != int64(len(big)) {
		t.Errorf("big.bin: MD5 %x (a Put Blob's), length %d", bigProps.ContentMD5, *bigProps.ContentLength)
	}
	bc := admin.ServiceClient().NewContainerClient("data").NewBlobClient("dir/small.txt")
	props, err := bc.GetProperties(ctx, nil)
	must(t, err, "blob properties")
	if *props.ContentLength != int64(len("hello, blob")) || props.ContentMD5 == nil {
		t.Errorf("properties: length %d, MD5 %v", *props.ContentLength, props.ContentMD5)
	}
	_, err = bc.Delete(ctx, nil)
	must(t, err, "delete")
	_, err = bc.GetProperties(ctx, nil)
	wantBlobError(t, err, http.StatusNotFound, bloberror.BlobNotFound, "properties of a deleted blob")

	// Reader: neither reads nor writes blob data (as in Azure).
	readerTok, err := api.CreatePrincipal(ctx, srv.st, "reader")
	must(t, err, "create reader")
	_, err = api.AssignRole(ctx, srv.st, "reader", "Reader", rgID(rgML))
	must(t, err, "assign Reader")
	reader := srv.blobClient(t, readerTok, "stblob1")
	_, err = reader.UploadBuffer(ctx, "data", "evil.txt", []byte("x"), nil)
	wantBlobError(t, err, http.StatusForbidden, bloberror.AuthorizationPermissionMismatch, "Reader uploads")
	_, err = reader.DownloadStream(ctx, "data", "z.txt", nil)
	wantBlobError(t, err, http.StatusForbidden, bloberror.AuthorizationPermissionMismatch, "Reader downloads")
	_, err = reader.DeleteBlob(ctx, "data", "z.txt", nil)
	wantBlobError(t, err, http.StatusForbidden, bloberror.AuthorizationPermissionMismatch, "Reader deletes")

	// Storage Blob Data Reader on the account: reads, never writes.
	dataTok, err := api.CreatePrincipal(ctx, srv.st, "datareader")
	must(t, err, "create datareader")
	_, err = api.AssignRole(ctx, srv.st, "datareader", "Storage Blob Data Reader", accountID)
	must(t, err, "assign Storage Blob Data Reader")
	dr := srv.blobClient(t, dataTok, "stblob1")
	if got := readBlob(t, dr, "data", "z.txt"); got != "z.txt" {
		t.Errorf("data reader read %q", got)
	}
	_, err = dr.UploadBuffer(ctx, "data", "z.txt", []byte("overwritten"), nil)
	wantBlobError(t, err, http.StatusForbidden, bloberror.AuthorizationPermissionMismatch, "data reader uploads")
	_, err = dr.CreateContainer(ctx, "other", nil)
	wantBlobError(t, err, http.StatusForbidden, bloberror.AuthorizationPermissionMismatch, "data reader creates a container")

	// A storage account that is not a resource is not served; a token
	// that is none is refused.
	_, err = srv.blobClient(t, srv.adminToken, "stnothere").CreateContainer(ctx, "data", nil)
	wantBlobError(t, err, http.StatusNotFound, bloberror.ResourceNotFound, "a storage account that does not exist")
	_, err = srv.blobClient(t, "st_not-a-token", "stblob1").DownloadStream(ctx, "data", "z.txt", nil)
	wantBlobError(t, err, http.StatusUnauthorized, bloberror.InvalidAuthenticationInfo, "an unknown token")
	// The blob the refused writes aimed at is unchanged.
	if got := readBlob(t, admin, "data", "z.txt"); got != "z.txt" {
		t.Errorf("z.txt after refused writes: %q", got)
	}
	_, err = admin.DownloadStream(ctx, "data", "evil.txt", nil)
	wantBlobError(t, err, http.StatusNotFound, bloberror.BlobNotFound, "the Reader's refused upload")
}
