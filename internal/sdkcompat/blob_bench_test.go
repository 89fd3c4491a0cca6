package sdkcompat

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// BenchmarkBlobTransfer uploads a 64 MiB blob with the unmodified azblob
// client in 8 MiB blocks (4 at a time) and downloads it in 8 MiB ranges
// (4 at a time), over TLS on loopback, with the data on disk.
func BenchmarkBlobTransfer(b *testing.B) {
	srv := startServer(b)
	ctx := context.Background()
	createGroup(b, ctx, srv.clients(b, srv.adminToken), rgML)
	createStorageAccount(b, ctx, srv, rgML, "stbench")
	c := srv.blobClient(b, srv.adminToken, "stbench")
	_, err := c.CreateContainer(ctx, "bench", nil)
	must(b, err, "create container")
	data := make([]byte, 64<<20)
	rand.Read(data)
	got := make([]byte, len(data))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("blob-%d", i)
		_, err := c.UploadStream(ctx, "bench", name, bytes.NewReader(data), &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4})
		must(b, err, "upload")
		_, err = c.DownloadBuffer(ctx, "bench", name, got, &azblob.DownloadBufferOptions{BlockSize: 8 << 20, Concurrency: 4})
		must(b, err, "download")
	}
	b.StopTimer()
	if !bytes.Equal(got, data) {
		b.Fatal("downloaded bytes differ from the uploaded ones")
	}
}
