package blob

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// Each served operation is told apart by its method, address and query;
// anything else is refused with Azure's code.
func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		method, path, query string
		op                  op
		blob, code          string
	}{
		{"PUT", "/acct1/data", "restype=container", opCreateContainer, "", ""},
		{"DELETE", "/acct1/data", "restype=container", opDeleteContainer, "", ""},
		{"HEAD", "/acct1/data", "restype=container", opContainerProperties, "", ""},
		{"GET", "/acct1/data", "restype=container&comp=list&prefix=a%2F", opListBlobs, "", ""},
		{"PUT", "/acct1/data/a/b%2Fc.txt", "", opPutBlob, "a/b/c.txt", ""},
		{"PUT", "/acct1/data/x", "comp=block&blockid=AAAA", opPutBlock, "x", ""},
		{"PUT", "/acct1/data/x", "comp=blocklist", opPutBlockList, "x", ""},
		{"GET", "/acct1/data/x%20y", "", opGetBlob, "x y", ""},
		{"HEAD", "/acct1/data/x", "", opBlobProperties, "x", ""},
		{"DELETE", "/acct1/data/x", "", opDeleteBlob, "x", ""},
		{"GET", "/acct1", "comp=list", 0, "", "UnsupportedOperation"},
		{"GET", "/Acct1/data/x", "", 0, "", "InvalidUri"},
		{"GET", "/acct1/Data/x", "", 0, "", "InvalidResourceName"},
		{"GET", "/acct1/da--ta/x", "", 0, "", "InvalidResourceName"},
		{"GET", "/acct1/data", "", 0, "", "InvalidQueryParameterValue"},
		{"PUT", "/acct1/data/x", "comp=appendblock", 0, "", "UnsupportedQueryParameter"},
		{"POST", "/acct1/data/x", "", 0, "", "UnsupportedHttpVerb"},
		{"GET", "/acct1/data/x%00", "", 0, "", "InvalidResourceName"},
		{"GET", "/acct1/data/%zz", "", 0, "", "InvalidUri"},
		{"GET", "/acct1/data/" + strings.Repeat("n", MaxBlobName+1), "", 0, "", "InvalidResourceName"},
		{"GET", "/acct1/data/x", "comp=block&comp=list", 0, "", "InvalidQueryParameterValue"},
	} {
		r, err := parseRequest(c.method, c.path, c.query)
		if c.code != "" {
			var be *Error
			if !errors.As(err, &be) || be.Code != c.code {
				t.Errorf("%s %s?%s: %v, want %s", c.method, c.path, c.query, err, c.code)
			}
			continue
		}
		if err != nil || r.op != c.op || r.blob != c.blob || r.account != "acct1" || r.container != "data" {
			t.Errorf("%s %s?%s: %+v, %v", c.method, c.path, c.query, r, err)
		}
	}
}

// The parser never panics, and whatever it accepts is a valid address.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{"/acct1/data/a%2Fb", "/acct1/data", "//x", "/acct1/data/%", "/acct1/data/\xff", "/a/b/c/d/e"} {
		f.Add("GET", seed, "restype=container&comp=list")
		f.Add("PUT", seed, "comp=block&blockid=QUJD")
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		r, err := parseRequest(method, path, query)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) || be.Status < 400 || be.Code == "" {
				t.Fatalf("error without a status and code: %v", err)
			}
			return
		}
		if checkAccountName(r.account) != nil || checkContainerName(r.container) != nil || r.op == 0 {
			t.Fatalf("accepted %q %q: %+v", path, query, r)
		}
		if r.blob != "" && checkBlobName(r.blob) != nil {
			t.Fatalf("accepted blob name %q", r.blob)
		}
		if _, ok := actions[r.op]; !ok {
			t.Fatalf("operation %d has no action", r.op)
		}
		if (r.op == opPutBlob || r.op == opPutBlock || r.op == opPutBlockList) && method != http.MethodPut {
			t.Fatalf("%s is a write", method)
		}
	})
}

// Pages of a listing follow each other through the marker without loss
// or repeats, and a delimiter rolls a folder into one entry.
func TestListPage(t *testing.T) {
	var blobs []Props
	for _, n := range []string{"a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"} {
		blobs = append(blobs, Props{Name: n})
	}
	var got []string
	marker := ""
	for range 10 {
		page, next := listPage(blobs, "", "/", marker, 2)
		for _, e := range page {
			if e.blob != nil {
				got = append(got, e.blob.Name)
			} else {
				got = append(got, e.prefix)
			}
		}
		if next == "" {
			break
		}
		marker = next
	}
	if want := "a/ b c/ d"; strings.Join(got, " ") != want {
		t.Errorf("hierarchical pages: %q, want %q", got, want)
	}
	page, next := listPage(blobs, "a/", "/", "", 10)
	if len(page) != 3 || page[0].blob.Name != "a/1" || page[2].prefix != "a/b/" || next != "" {
		t.Errorf("prefix a/: %+v %q", page, next)
	}
	page, next = listPage(blobs, "", "", "a/2", 3)
	if len(page) != 3 || page[0].blob.Name != "a/2" || next != "c/1" {
		t.Errorf("flat from a marker: %+v %q", page, next)
	}
}

// A block list keeps its order; a Committed block or a malformed list is
// refused.
func TestParseBlockList(t *testing.T) {
	ids, err := parseBlockList([]byte(`<?xml version="1.0"?><BlockList><Latest>QUE=</Latest><Uncommitted>QkI=</Uncommitted><Latest>QUE=</Latest></BlockList>`))
	if err != nil || len(ids) != 3 || string(ids[0]) != "AA" || string(ids[1]) != "BB" || string(ids[2]) != "AA" {
		t.Fatalf("block list: %q, %v", ids, err)
	}
	for body, code := range map[string]string{
		`<BlockList><Committed>QUE=</Committed></BlockList>`:  "InvalidBlockList",
		`<BlockList><Latest>not base64!</Latest></BlockList>`: "InvalidQueryParameterValue",
		`<Blocks><Latest>QUE=</Latest></Blocks>`:              "InvalidXmlDocument",
		`<BlockList><Latest>QUE=</Latest>`:                    "InvalidXmlDocument",
		`<BlockList><Other>QUE=</Other></BlockList>`:          "InvalidXmlDocument",
	} {
		var be *Error
		if _, err := parseBlockList([]byte(body)); !errors.As(err, &be) || be.Code != code {
			t.Errorf("%s: %v, want %s", body, err, code)
		}
	}
}

// Code and input URIs: datastore URIs and path-style blob URLs, nothing
// else.
func TestParseURI(t *testing.T) {
	loc, err := ParseURI("azureml://datastores/workspaceblobstore/paths/LocalUpload/ab/data.csv")
	if err != nil || loc.Datastore != WorkspaceDatastore || loc.Path != "LocalUpload/ab/data.csv" {
		t.Errorf("datastore URI: %+v %v", loc, err)
	}
	loc, err = ParseURI("https://127.0.0.1:8443/stacct/azureml-blobstore-x/LocalUpload/ab/src/")
	if err != nil || loc.Account != "stacct" || loc.Container != "azureml-blobstore-x" || loc.Path != "LocalUpload/ab/src" {
		t.Errorf("blob URL: %+v %v", loc, err)
	}
	for _, bad := range []string{"", "./data.csv", "s3://b/k", "azureml://datastores/x", "https://h/stacct/c", "https://h/stacct/cc/p?sig=x", "azureml://datastores/workspaceblobstore/paths/"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// ParseURI never panics, and what it accepts names a valid blob path in
// a datastore or a valid account and container.
func FuzzParseURI(f *testing.F) {
	for _, seed := range []string{"azureml://datastores/workspaceblobstore/paths/a/b", "https://h/acct1/data/x", "http://h/acct1/data/%2e%2e", "azureml://datastores//paths/x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		loc, err := ParseURI(uri)
		if err != nil {
			return
		}
		if checkBlobName(loc.Path) != nil || strings.HasSuffix(loc.Path, "/") {
			t.Fatalf("%q: path %q", uri, loc.Path)
		}
		if loc.Datastore == "" && (checkAccountName(loc.Account) != nil || checkContainerName(loc.Container) != nil) {
			t.Fatalf("%q: %+v", uri, loc)
		}
	})
}
