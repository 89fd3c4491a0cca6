package blob

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// op is a Blob REST operation of the subset served.
type op int

const (
	opCreateContainer op = iota + 1
	opDeleteContainer
	opContainerProperties
	opListBlobs
	opPutBlob
	opPutBlock
	opPutBlockList
	opGetBlob
	opBlobProperties
	opDeleteBlob
)

// request is a parsed Blob REST request: the path-style address
// /{account}/{container}/{blob} and the operation its method and query
// name.
type request struct {
	op        op
	account   string
	container string
	blob      string
	query     url.Values
}

// parseRequest reads the method, escaped path and raw query of a request.
// Anything outside the served subset is a *Error with Azure's code.
func parseRequest(method, escapedPath, rawQuery string) (*request, error) {
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidQueryParameterValue", "The query string cannot be parsed: %v.", err)
	}
	for k, vs := range query {
		if len(vs) > 1 {
			return nil, newError(http.StatusBadRequest, "InvalidQueryParameterValue", "The query parameter '%s' is given %d times.", k, len(vs))
		}
	}
	rest := strings.TrimPrefix(escapedPath, "/")
	account, rest, _ := strings.Cut(rest, "/")
	container, blobPart, hasBlob := strings.Cut(rest, "/")
	if err := checkAccountName(account); err != nil {
		return nil, err
	}
	r := &request{account: account, query: query}
	if container == "" {
		return nil, newError(http.StatusBadRequest, "UnsupportedOperation",
			"Service-level operations (such as listing containers) are not served; address a container: /%s/{container}.", account)
	}
	if err := checkContainerName(container); err != nil {
		return nil, err
	}
	r.container = container
	restype, comp := query.Get("restype"), query.Get("comp")
	if !hasBlob {
		if restype != "container" {
			return nil, newError(http.StatusBadRequest, "InvalidQueryParameterValue",
				"A request on container '%s' needs restype=container.", container)
		}
		switch {
		case comp == "" && method == http.MethodPut:
			r.op = opCreateContainer
		case comp == "" && method == http.MethodDelete:
			r.op = opDeleteContainer
		case comp == "" && (method == http.MethodGet || method == http.MethodHead):
			r.op = opContainerProperties
		case comp == "list" && method == http.MethodGet:
			r.op = opListBlobs
		default:
			return nil, unsupported(method, comp, "container")
		}
		return r, nil
	}
	name, err := url.PathUnescape(blobPart)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidUri", "The blob name is not a valid escaped URL path: %v.", err)
	}
	if err := checkBlobName(name); err != nil {
		return nil, err
	}
	r.blob = name
	if restype != "" {
		return nil, newError(http.StatusBadRequest, "InvalidQueryParameterValue", "restype=%s is not an operation on a blob.", restype)
	}
	switch {
	case comp == "" && method == http.MethodPut:
		r.op = opPutBlob
	case comp == "block" && method == http.MethodPut:
		r.op = opPutBlock
	case comp == "blocklist" && method == http.MethodPut:
		r.op = opPutBlockList
	case comp == "" && method == http.MethodGet:
		r.op = opGetBlob
	case comp == "" && method == http.MethodHead:
		r.op = opBlobProperties
	case comp == "" && method == http.MethodDelete:
		r.op = opDeleteBlob
	default:
		return nil, unsupported(method, comp, "blob")
	}
	return r, nil
}

func unsupported(method, comp, on string) error {
	if comp == "" {
		return newError(http.StatusMethodNotAllowed, "UnsupportedHttpVerb", "The %s method is not supported on a %s.", method, on)
	}
	return newError(http.StatusBadRequest, "UnsupportedQueryParameter", "%s with comp=%s on a %s is not served.", method, comp, on)
}

// checkAccountName applies Azure's rule: 3–24 lowercase letters and
// digits.
func checkAccountName(name string) error {
	ok := len(name) >= 3 && len(name) <= 24
	for _, c := range []byte(name) {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
	}
	if !ok {
		return newError(http.StatusBadRequest, "InvalidUri",
			"'%s' is not a storage account name: 3–24 lowercase letters and digits. Address blobs as /{account}/{container}/{blob}.", printable(name))
	}
	return nil
}

// checkContainerName applies Azure's rule: 3–63 lowercase letters,
// digits and hyphens, starting and ending with a letter or digit, no two
// hyphens in a row.
func checkContainerName(name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && name[0] != '-' && name[len(name)-1] != '-' && !strings.Contains(name, "--")
	for _, c := range []byte(name) {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	if !ok {
		return newError(http.StatusBadRequest, "InvalidResourceName",
			"'%s' is not a container name: 3–63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.", printable(name))
	}
	return nil
}

// MaxBlobName is the longest blob name, in bytes (Azure's 1,024
// characters, counted in bytes here).
const MaxBlobName = 1024

// checkBlobName: 1–1,024 bytes of UTF-8 without control characters.
func checkBlobName(name string) error {
	ok := name != "" && len(name) <= MaxBlobName && utf8.ValidString(name)
	for _, r := range name {
		ok = ok && !unicode.IsControl(r)
	}
	if !ok {
		return newError(http.StatusBadRequest, "InvalidResourceName",
			"'%s' is not a blob name: 1–%d bytes of UTF-8 without control characters.", printable(name), MaxBlobName)
	}
	return nil
}

// printable keeps an error message readable whatever the client sent.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
