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
// client in 8 MiB blocks (4 at a time), and downloads one in 8 MiB
// ranges (4 at a time), over TLS on loopback, with the blobs where the
// store keeps them: on disk with the embedded store, in the database
// with SECURETRAIN_TEST_STORE=postgres.
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
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := range b.N {
			_, err := c.UploadStream(ctx, "bench", fmt.Sprintf("blob-%d", i), bytes.NewReader(data), &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4})
			must(b, err, "upload")
		}
	})
	got := make([]byte, len(data))
	b.Run("download", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			_, err := c.DownloadBuffer(ctx, "bench", "blob-0", got, &azblob.DownloadBufferOptions{BlockSize: 8 << 20, Concurrency: 4})
			must(b, err, "download")
		}
		b.StopTimer()
		if !bytes.Equal(got, data) {
			b.Fatal("downloaded bytes differ from the uploaded ones")
		}
	})
}
