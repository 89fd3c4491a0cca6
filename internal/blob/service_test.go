package blob

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAuthority knows one token per principal, grants by a table, and
// has one storage account.
type fakeAuthority struct{ grants map[string]bool } // "who action"

func (f fakeAuthority) Principal(_ context.Context, token string) (string, error) {
	if who, ok := strings.CutPrefix(token, "tok-"); ok {
		return who, nil
	}
	return "", ErrInvalidToken
}

func (f fakeAuthority) Permitted(_ context.Context, who, action, _ string, _ bool) (bool, error) {
	return who == "owner" || f.grants[who+" "+action], nil
}

func (f fakeAuthority) Account(_ context.Context, name string) (string, error) {
	if name == "acct1" {
		return "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct1", nil
	}
	return "", ErrNoAccount
}

func newTestService(t *testing.T, st Backend) *httptest.Server {
	t.Helper()
	svc := NewService(st, fakeAuthority{grants: map[string]bool{"reader " + DataActionRead: true}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { svc.Serve(w, r) }))
	t.Cleanup(srv.Close)
	return srv
}

type call struct {
	method, path, token, body string
	header                    map[string]string
}

func do(t *testing.T, srv *httptest.Server, c call) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-ms-version", "2026-12-06")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Refusals carry Azure's status, x-ms-error-code and XML error body (none
// for HEAD), and change nothing.
func TestServiceRefusals(t *testing.T) { eachBackend(t, testServiceRefusals) }

func testServiceRefusals(t *testing.T, b Backend) {
	srv := newTestService(t, b)
	if resp, _ := do(t, srv, call{method: "PUT", path: "/acct1/data?restype=container", token: "tok-owner"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create container: %d", resp.StatusCode)
	}
	for _, c := range []struct {
		call
		status int
		code   string
	}{
		{call{method: "GET", path: "/acct1/data/x"}, 401, "NoAuthenticationInformation"},
		{call{method: "GET", path: "/acct1/data/x", token: "nope"}, 401, "InvalidAuthenticationInfo"},
		{call{method: "GET", path: "/acct2/data/x", token: "tok-owner"}, 404, "ResourceNotFound"},
		{call{method: "GET", path: "/acct1/data/x", token: "tok-nobody"}, 403, "AuthorizationPermissionMismatch"},
		{call{method: "PUT", path: "/acct1/data/x", token: "tok-reader", body: "x", header: map[string]string{"x-ms-blob-type": "BlockBlob"}}, 403, "AuthorizationPermissionMismatch"},
		{call{method: "GET", path: "/acct1/data/x", token: "tok-reader"}, 404, "BlobNotFound"},
		{call{method: "GET", path: "/acct1/other/x", token: "tok-owner"}, 404, "ContainerNotFound"},
		{call{method: "PUT", path: "/acct1/data/x", token: "tok-owner", body: "x"}, 400, "InvalidHeaderValue"},
		{call{method: "PUT", path: "/acct1/data/x", token: "tok-owner", body: "x", header: map[string]string{"x-ms-blob-type": "BlockBlob", "Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}}, 400, "Md5Mismatch"},
		{call{method: "PUT", path: "/acct1/data/x", token: "tok-owner", body: "x", header: map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-lease-id": "l"}}, 400, "UnsupportedHeader"},
		{call{method: "PUT", path: "/acct1/data/x?comp=blocklist", token: "tok-owner", body: "<BlockList><Latest>QUE=</Latest></BlockList>"}, 400, "InvalidBlockList"},
		{call{method: "PUT", path: "/acct1/data?restype=container", token: "tok-owner", header: map[string]string{"x-ms-blob-public-access": "blob"}}, 400, "UnsupportedHeader"},
		{call{method: "GET", path: "/acct1/data?restype=container&comp=list&maxresults=0", token: "tok-owner"}, 400, "OutOfRangeQueryParameterValue"},
		{call{method: "GET", path: "/acct1/data?restype=container&comp=list&include=uncommittedblobs", token: "tok-owner"}, 400, "InvalidQueryParameterValue"},
		{call{method: "HEAD", path: "/acct1/data/x", token: "tok-owner"}, 404, "BlobNotFound"},
		{call{method: "GET", path: "/acct1/data/x", token: "tok-owner", header: map[string]string{"x-ms-version": "2015-02-21"}}, 400, "InvalidHeaderValue"},
	} {
		resp, body := do(t, srv, c.call)
		if resp.StatusCode != c.status || resp.Header.Get("x-ms-error-code") != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, resp.StatusCode, resp.Header.Get("x-ms-error-code"), c.status, c.code)
			continue
		}
		if c.method == "HEAD" {
			continue
		}
		var e errorBody
		if err := xml.Unmarshal([]byte(body), &e); err != nil || e.Code != c.code || !strings.Contains(e.Message, "RequestId:") {
			t.Errorf("%s %s: body %q", c.method, c.path, body)
		}
	}
	if _, body := do(t, srv, call{method: "GET", path: "/acct1/data?restype=container&comp=list", token: "tok-owner"}); strings.Contains(body, "<Blob>") {
		t.Errorf("a refused write left a blob: %s", body)
	}
}

// Conditional writes and reads, and ranges, follow Azure's rules.
func TestServiceConditionsAndRanges(t *testing.T) { eachBackend(t, testServiceConditionsAndRanges) }

func testServiceConditionsAndRanges(t *testing.T, b Backend) {
	srv := newTestService(t, b)
	do(t, srv, call{method: "PUT", path: "/acct1/data?restype=container", token: "tok-owner"})
	put := func(body string, h map[string]string) *http.Response {
		h["x-ms-blob-type"] = "BlockBlob"
		resp, _ := do(t, srv, call{method: "PUT", path: "/acct1/data/b", token: "tok-owner", body: body, header: h})
		return resp
	}
	first := put("0123456789", map[string]string{"If-None-Match": "*"})
	if first.StatusCode != http.StatusCreated {
		t.Fatalf("first put: %d", first.StatusCode)
	}
	if resp := put("again", map[string]string{"If-None-Match": "*"}); resp.Header.Get("x-ms-error-code") != "BlobAlreadyExists" {
		t.Errorf("put over an existing blob with If-None-Match *: %d", resp.StatusCode)
	}
	if resp := put("again", map[string]string{"If-Match": `"0xNOPE"`}); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("put with a stale If-Match: %d", resp.StatusCode)
	}
	etag := first.Header.Get("ETag")
	resp, body := do(t, srv, call{method: "GET", path: "/acct1/data/b", token: "tok-owner", header: map[string]string{"x-ms-range": "bytes=2-4", "If-Match": etag}})
	if resp.StatusCode != http.StatusPartialContent || body != "234" || resp.Header.Get("Content-Range") != "bytes 2-4/10" {
		t.Errorf("range: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	if resp, _ := do(t, srv, call{method: "GET", path: "/acct1/data/b", token: "tok-owner", header: map[string]string{"Range": "bytes=10-"}}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	if resp, _ := do(t, srv, call{method: "GET", path: "/acct1/data/b", token: "tok-owner", header: map[string]string{"If-None-Match": etag}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match the current etag: %d", resp.StatusCode)
	}
}

// Concurrent overwrites and reads of one blob: every read sees one whole
// version, never a mix or a missing file, and only the last version's data
// is left referenced.
func TestServiceConcurrentOverwrite(t *testing.T) { eachBackend(t, testServiceConcurrentOverwrite) }

func testServiceConcurrentOverwrite(t *testing.T, b Backend) {
	srv := newTestService(t, b)
	do(t, srv, call{method: "PUT", path: "/acct1/data?restype=container", token: "tok-owner"})
	versions := map[string]bool{}
	for i := range 4 {
		versions[strings.Repeat(fmt.Sprint(i), 10000)] = true
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for v := range versions {
		wg.Go(func() {
			for range 5 {
				if resp, _ := do(t, srv, call{method: "PUT", path: "/acct1/data/b", token: "tok-owner", body: v, header: map[string]string{"x-ms-blob-type": "BlockBlob"}}); resp.StatusCode != http.StatusCreated {
					errs <- fmt.Sprintf("put: %d", resp.StatusCode)
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				resp, body := do(t, srv, call{method: "GET", path: "/acct1/data/b", token: "tok-owner"})
				if resp.StatusCode == http.StatusOK && !versions[body] || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
					errs <- fmt.Sprintf("get: %d, %d bytes", resp.StatusCode, len(body))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := liveData(t, b); n != 1 {
		t.Errorf("%d data referenced after the overwrites, want 1", n)
	}
	if resp, body := do(t, srv, call{method: "GET", path: "/acct1/data/b", token: "tok-owner"}); resp.StatusCode != http.StatusOK || !versions[body] {
		t.Errorf("final: %d %d bytes", resp.StatusCode, len(body))
	}
}

// Blobs outlive the service: opened again (a restart), the store serves
// them, and what an interrupted upload left in tmp/ is gone.
func TestStoreReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(st, fakeAuthority{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const account = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct1"
	if err := svc.Put(context.Background(), account, "data", "a/b.txt", strings.NewReader("kept"), 4); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, "tmp", "upload-123")
	if err := os.WriteFile(leftover, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc = NewService(st, fakeAuthority{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var got []string
	folder, err := svc.Files(context.Background(), account, "data", "a", func(rel string, r io.Reader) error {
		b, err := io.ReadAll(r)
		got = append(got, rel+"="+string(b))
		return err
	})
	if err != nil || !folder || strings.Join(got, ",") != "b.txt=kept" {
		t.Errorf("after reopening: %v %v %v", got, folder, err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("an interrupted upload was left: %v", err)
	}
}

// Stat lists what Files reads — a folder's blobs in name order, or the
// one blob named — with the sizes Files' readers give, without reading
// the content; a path with no blob is ErrNothingAt.
func TestServiceStat(t *testing.T) { eachBackend(t, testServiceStat) }

func testServiceStat(t *testing.T, b Backend) {
	ctx := context.Background()
	svc := NewService(b, fakeAuthority{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, text := range map[string]string{"out/x.txt": "hello", "out/sub/y.bin": "longer than a chunk", "outside": "z"} {
		if err := svc.Put(ctx, testAccount, "data", name, strings.NewReader(text), int64(len(text))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path   string
		folder bool
		want   []FileInfo
	}{
		{"out", true, []FileInfo{{"sub/y.bin", 19}, {"x.txt", 5}}},
		{"out/x.txt", false, []FileInfo{{"x.txt", 5}}},
	} {
		files, folder, err := svc.Stat(ctx, testAccount, "data", c.path)
		if err != nil || folder != c.folder || !slices.Equal(files, c.want) {
			t.Errorf("Stat %s: %v %v %v, want %v %v", c.path, files, folder, err, c.want, c.folder)
		}
		var read []FileInfo
		if _, err := svc.Files(ctx, testAccount, "data", c.path, func(rel string, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			read = append(read, FileInfo{rel, n})
			return err
		}); err != nil || !slices.Equal(read, files) {
			t.Errorf("Files %s read %v (%v); Stat listed %v", c.path, read, err, files)
		}
	}
	for _, c := range [][2]string{{"data", "none"}, {"data", "ou"}, {"nocontainer", "out"}} {
		if files, _, err := svc.Stat(ctx, testAccount, c[0], c[1]); !errors.Is(err, ErrNothingAt) || len(files) != 0 {
			t.Errorf("Stat %s in %s: %v %v, want ErrNothingAt", c[1], c[0], files, err)
		}
	}
}
