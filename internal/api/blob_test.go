package api

import (
	"net/http"
	"path/filepath"
	"testing"

	"securetrain/internal/blob"
)

// A storage account's name is unique across resource groups (a blob URL
// names the account alone); the Blob service serves only accounts that
// exist, and deleting an account (or its resource group) deletes its
// blobs, so that one created again under the name starts empty.
func TestStorageAccountNamesAndBlobs(t *testing.T) {
	blobs, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Options{Blobs: blobs})
	for _, rg := range []string{rgML, rgNet} {
		if status, body, _ := c.do("PUT", rg+rgAPI, `{"location":"eastus"}`); status != http.StatusCreated {
			t.Fatalf("resource group %s: %d %v", rg, status, body)
		}
	}
	const account = `{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`
	st1 := rgML + "/providers/Microsoft.Storage/storageAccounts/st1?api-version=2023-05-01"
	c.start("PUT", st1, account, http.StatusOK)
	if status, body, _ := c.do("PUT", rgNet+"/providers/Microsoft.Storage/storageAccounts/st1?api-version=2023-05-01", account); status != http.StatusConflict || errCode(body) != "StorageAccountAlreadyTaken" {
		t.Fatalf("a second st1: %d %v", status, body)
	}
	c.start("PUT", st1, account, http.StatusOK) // updating it is no conflict

	container := func(method string) (int, string) {
		status, _, hdr := c.do(method, "/st1/data?restype=container", "", "x-ms-version", "2026-12-06")
		return status, hdr.Get("x-ms-error-code")
	}
	if status, code := container("PUT"); status != http.StatusCreated {
		t.Fatalf("create container: %d %s", status, code)
	}
	if status, code := container("HEAD"); status != http.StatusOK {
		t.Fatalf("container: %d %s", status, code)
	}
	if status, body, _ := c.do("DELETE", st1, ""); status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("delete st1: %d %v", status, body)
	}
	if status, code := container("HEAD"); status != http.StatusNotFound || code != "ResourceNotFound" {
		t.Fatalf("container of a deleted account: %d %s", status, code)
	}
	c.start("PUT", st1, account, http.StatusOK)
	if status, code := container("HEAD"); status != http.StatusNotFound || code != "ContainerNotFound" {
		t.Fatalf("container of the account created again: %d %s", status, code)
	}
	// Deleting its resource group deletes its blobs too.
	if status, code := container("PUT"); status != http.StatusCreated {
		t.Fatalf("create container: %d %s", status, code)
	}
	if status, body, _ := c.do("DELETE", rgML+rgAPI, ""); status != http.StatusOK {
		t.Fatalf("delete %s: %d %v", rgML, status, body)
	}
	if status, body, _ := c.do("PUT", rgML+rgAPI, `{"location":"eastus"}`); status != http.StatusCreated {
		t.Fatalf("resource group again: %d %v", status, body)
	}
	c.start("PUT", st1, account, http.StatusOK)
	if status, code := container("HEAD"); status != http.StatusNotFound || code != "ContainerNotFound" {
		t.Fatalf("container of the account created again in its group created again: %d %s", status, code)
	}
}
