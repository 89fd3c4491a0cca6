package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"securetrain/internal/store"
)

// FuzzResourceGroupPut: any body and name give an ARM answer — success or
// a 4xx with a code — never a 5xx or a panic.
func FuzzResourceGroupPut(f *testing.F) {
	for _, seed := range []string{`{"location":"westus2"}`, `{"location":"eastus","tags":{"a":"b"}}`, `{`, `[]`, `{"location":1}`,
		`{"location":"x","properties":{"provisioningState":"Succeeded"}}`, `null`, ``} {
		f.Add("rg1", seed)
	}
	dir := f.TempDir()
	st, err := store.OpenSQLite(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	token, err := CreatePrincipal(context.Background(), st, "fuzzer")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := AssignRole(context.Background(), st, "fuzzer", "Owner", "/"); err != nil {
		f.Fatal(err)
	}
	srv := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, name, body string) {
		if strings.Contains(name, "/") || name == "" {
			return // not one path segment
		}
		req := httptest.NewRequest("PUT", "/subscriptions/"+sub+"/resourceGroups/"+url.PathEscape(name)+"?api-version=2021-04-01", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		switch {
		case w.Code == 200 || w.Code == 201:
		case w.Code >= 400 && w.Code < 500 && w.Header().Get("x-ms-error-code") != "":
		default:
			t.Fatalf("PUT %q %q: %d %s", name, body, w.Code, w.Body.String())
		}
	})
}
