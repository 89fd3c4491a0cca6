package sdkcompat

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"securetrain/internal/store/storetest"
)

// TestBlobsThroughEitherReplica: a blob the unmodified azblob client
// uploads through one replica (in blocks, several at once) is listed,
// downloaded (in ranges, several at once) and deleted through the other,
// and the first sees the deletion. It runs with the SDK suite through
// replicas (SECURETRAIN_TEST_STORE=postgres-replicas, as CI runs it).
func TestBlobsThroughEitherReplica(t *testing.T) {
	if !storetest.Replicas() {
		t.Skipf("runs through replicas only: %s=postgres-replicas", storetest.StoreEnv)
	}
	srv := startServer(t)
	ctx := context.Background()
	createGroup(t, ctx, srv.clients(t, srv.adminToken), rgML)
	createStorageAccount(t, ctx, srv, rgML, "streplicas")
	a := srv.blobClientAt(t, srv.replicaURLs[0], srv.adminToken, "streplicas")
	b := srv.blobClientAt(t, srv.replicaURLs[1], srv.adminToken, "streplicas")
	_, err := a.CreateContainer(ctx, "data", nil)
	must(t, err, "create the container through a")
	data := make([]byte, 5<<20+123) // blocks and chunks that end unevenly
	rand.Read(data)
	_, err = a.UploadBuffer(ctx, "data", "model.bin", data, &azblob.UploadBufferOptions{BlockSize: 1 << 20, Concurrency: 4})
	must(t, err, "upload through a")
	pager := b.NewListBlobsFlatPager("data", nil)
	page, err := pager.NextPage(ctx)
	must(t, err, "list through b")
	if len(page.Segment.BlobItems) != 1 || *page.Segment.BlobItems[0].Name != "model.bin" || *page.Segment.BlobItems[0].Properties.ContentLength != int64(len(data)) {
		t.Fatalf("listed through b: %+v", page.Segment.BlobItems)
	}
	got := make([]byte, len(data))
	_, err = b.DownloadBuffer(ctx, "data", "model.bin", got, &azblob.DownloadBufferOptions{BlockSize: 1<<20 + 7, Concurrency: 4})
	must(t, err, "download through b")
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes downloaded through b differ from those uploaded through a")
	}
	_, err = b.DeleteBlob(ctx, "data", "model.bin", nil)
	must(t, err, "delete through b")
	_, err = a.DownloadStream(ctx, "data", "model.bin", nil)
	wantBlobError(t, err, http.StatusNotFound, bloberror.BlobNotFound, "download through a after the delete through b")
}
