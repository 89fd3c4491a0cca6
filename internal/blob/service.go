// Package blob is the embedded Blob service of the workspaces' storage
// accounts: the subset of Azure's Blob REST API that the unmodified
// azblob client uses to upload, list, download and delete block blobs,
// addressed path-style (/{account}/{container}/{blob}) on the control
// plane's listener, authenticated with its bearer tokens and authorized
// by its role assignments (data actions), stored durably on disk.
package blob

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"securetrain/internal/store"
)

// Authority is what the service asks the control plane: who a token is,
// what they may do, and which storage accounts exist.
type Authority interface {
	// Principal names the principal of a bearer token; ErrInvalidToken
	// when it is none.
	Principal(ctx context.Context, token string) (string, error)
	// Permitted reports whether who may perform action on target; data
	// says it is a data action (a role's dataActions grant it).
	Permitted(ctx context.Context, who, action, target string, data bool) (bool, error)
	// Account is the resource id of the storage account called name;
	// ErrNoAccount when none exists.
	Account(ctx context.Context, name string) (string, error)
}

// Errors an Authority returns.
var (
	ErrInvalidToken = errors.New("the bearer token is not valid")
	ErrNoAccount    = errors.New("no such storage account")
)

// The actions a request needs: Azure's, for containers (control actions)
// and blobs (data actions), on the container's scope
// {account}/blobServices/default/containers/{container}.
const (
	ActionContainerRead   = "Microsoft.Storage/storageAccounts/blobServices/containers/read"
	ActionContainerWrite  = "Microsoft.Storage/storageAccounts/blobServices/containers/write"
	ActionContainerDelete = "Microsoft.Storage/storageAccounts/blobServices/containers/delete"
	DataActionRead        = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
	DataActionWrite       = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
	DataActionDelete      = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete"
)

// actions are each operation's action and whether it is a data action.
var actions = map[op]struct {
	action string
	data   bool
}{
	opCreateContainer:     {ActionContainerWrite, false},
	opDeleteContainer:     {ActionContainerDelete, false},
	opContainerProperties: {ActionContainerRead, false},
	opListBlobs:           {DataActionRead, true},
	opPutBlob:             {DataActionWrite, true},
	opPutBlock:            {DataActionWrite, true},
	opPutBlockList:        {DataActionWrite, true},
	opGetBlob:             {DataActionRead, true},
	opBlobProperties:      {DataActionRead, true},
	opDeleteBlob:          {DataActionDelete, true},
}

// minVersion is the first x-ms-version that accepts bearer tokens.
const minVersion = "2017-11-09"

// transferTime bounds an authenticated upload or download: the listener's
// own timeouts (made for small API requests) are lifted only once the
// request's token and rights are checked.
const transferTime = time.Hour

// Service serves the Blob REST subset.
type Service struct {
	disk Backend
	auth Authority
	log  *slog.Logger
}

// NewService serves the blobs st keeps, asking auth who may do what.
func NewService(st Backend, auth Authority, log *slog.Logger) *Service {
	return &Service{disk: st, auth: auth, log: log}
}

// IsBlobRequest says whether a request is for the Blob service: every
// Blob REST request carries x-ms-version, and no ARM request does.
func IsBlobRequest(r *http.Request) bool { return r.Header.Get("x-ms-version") != "" }

// Serve answers one Blob REST request and returns the principal it was
// made by ("" when unauthenticated), for the caller's log.
func (s *Service) Serve(w http.ResponseWriter, r *http.Request) string {
	reqID := newRequestID()
	h := w.Header()
	h.Set("x-ms-request-id", reqID)
	h.Set("x-ms-version", r.Header.Get("x-ms-version"))
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if id := r.Header.Get("x-ms-client-request-id"); id != "" && len(id) <= 1024 {
		h.Set("x-ms-client-request-id", id)
	}
	who, err := s.serve(w, r)
	if err != nil {
		var be *Error
		if errors.Is(err, store.ErrUnavailable) {
			// The database is unreachable or too busy: azblob retries.
			s.log.Warn("blob request: the database is unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "5")
			be = newError(http.StatusServiceUnavailable, "ServerBusy", "The server is currently unable to receive requests. Please retry your request.")
		} else if !errors.As(err, &be) {
			s.log.Error("blob request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			be = newError(http.StatusInternalServerError, "InternalError", "The server encountered an internal error. Please retry the request.")
		}
		writeError(w, r, be, reqID)
	}
	return who
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) (string, error) {
	if v := r.Header.Get("x-ms-version"); len(v) != len(minVersion) || v < minVersion {
		return "", newError(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-version '%s' is not served: bearer tokens need %s or later.", printable(v), minVersion)
	}
	who, err := s.authenticate(r)
	if err != nil {
		return "", err
	}
	req, err := parseRequest(r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
	if err != nil {
		return who, err
	}
	if err := checkHeaders(r); err != nil {
		return who, err
	}
	account, err := s.auth.Account(r.Context(), req.account)
	if errors.Is(err, ErrNoAccount) {
		return who, newError(http.StatusNotFound, "ResourceNotFound", "The storage account '%s' does not exist.", req.account)
	}
	if err != nil {
		return who, fmt.Errorf("resolve storage account %s: %w", req.account, err)
	}
	a := actions[req.op]
	target := account + "/blobServices/default/containers/" + req.container
	ok, err := s.auth.Permitted(r.Context(), who, a.action, target, a.data)
	if err != nil {
		return who, fmt.Errorf("authorize %s: %w", a.action, err)
	}
	if !ok {
		return who, newError(http.StatusForbidden, "AuthorizationPermissionMismatch",
			"This request is not authorized to perform this operation using this permission: '%s' needs %s on '%s'.", who, a.action, target)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(transferTime)) // a server without deadlines has none to lift
	_ = rc.SetWriteDeadline(time.Now().Add(transferTime))
	return who, s.handle(w, r, req, account)
}

// authenticate reads the bearer token.
func (s *Service) authenticate(r *http.Request) (string, error) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return "", newError(http.StatusUnauthorized, "NoAuthenticationInformation",
			"Server failed to authenticate the request. Please refer to the information in the www-authenticate header: send 'Authorization: Bearer <token>' (anonymous access is not served).")
	}
	scheme, token, ok := strings.Cut(hdr, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", newError(http.StatusUnauthorized, "InvalidAuthenticationInfo", "Authentication information is not given in the correct format: 'Authorization: Bearer <token>' (shared keys and SAS are not served).")
	}
	who, err := s.auth.Principal(r.Context(), strings.TrimSpace(token))
	if errors.Is(err, ErrInvalidToken) {
		return "", newError(http.StatusUnauthorized, "InvalidAuthenticationInfo", "Server failed to authenticate the request: the access token is invalid.")
	}
	if err != nil {
		return "", fmt.Errorf("authenticate: %w", err)
	}
	return who, nil
}

// unsupportedHeaders change what an operation means in ways this subset
// does not implement: a request with one is refused rather than half
// served.
var unsupportedHeaders = []string{
	"x-ms-lease-id", "x-ms-lease-action", "x-ms-encryption-key", "x-ms-encryption-scope", "x-ms-tags", "x-ms-if-tags",
	"x-ms-content-crc64", "x-ms-range-get-content-md5", "x-ms-range-get-content-crc64", "x-ms-copy-source",
	"x-ms-blob-public-access", "x-ms-delete-snapshots", "x-ms-access-tier", "x-ms-immutability-policy-until-date",
	"x-ms-legal-hold", "x-ms-blob-content-encoding", "x-ms-blob-content-language", "x-ms-blob-content-disposition",
	"x-ms-blob-cache-control", "If-Modified-Since", "If-Unmodified-Since", "x-ms-source-if-match",
}

func checkHeaders(r *http.Request) error {
	for _, name := range unsupportedHeaders {
		if r.Header.Get(name) != "" {
			return newError(http.StatusBadRequest, "UnsupportedHeader", "The header %s is not served by securetrain's Blob service.", name)
		}
	}
	return nil
}

func (s *Service) handle(w http.ResponseWriter, r *http.Request, req *request, account string) error {
	now := time.Now().UTC().Truncate(time.Second)
	switch req.op {
	case opCreateContainer:
		if metadata(r.Header) != nil {
			return newError(http.StatusBadRequest, "UnsupportedHeader", "Container metadata (x-ms-meta-*) is not kept by securetrain's Blob service.")
		}
		cp, err := s.disk.createContainer(r.Context(), account, req.container, now)
		if err != nil {
			return err
		}
		setTimes(w, cp.ETag, cp.Modified)
		w.WriteHeader(http.StatusCreated)
	case opDeleteContainer:
		if err := s.disk.deleteContainer(r.Context(), account, req.container); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
	case opContainerProperties:
		cp, err := s.disk.container(r.Context(), account, req.container)
		if err != nil {
			return err
		}
		setTimes(w, cp.ETag, cp.Modified)
		w.Header().Set("x-ms-lease-state", "available")
		w.Header().Set("x-ms-lease-status", "unlocked")
		w.WriteHeader(http.StatusOK)
	case opListBlobs:
		return s.listBlobs(w, r, req, account)
	case opPutBlob:
		return s.putBlob(w, r, req, account, now)
	case opPutBlock:
		return s.putBlock(w, r, req, account)
	case opPutBlockList:
		return s.putBlockList(w, r, req, account, now)
	case opGetBlob, opBlobProperties:
		return s.getBlob(w, r, req, account)
	case opDeleteBlob:
		if err := s.disk.deleteBlob(r.Context(), account, req.container, req.blob, writeCondition(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
	}
	return nil
}

func setTimes(w http.ResponseWriter, etag string, modified time.Time) {
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
}

// metadata reads the x-ms-meta-* headers.
func metadata(h http.Header) map[string]string {
	var out map[string]string
	for k, vs := range h {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-ms-meta-"); ok && name != "" && len(vs) > 0 {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = vs[0]
		}
	}
	return out
}

// writeCondition checks If-Match and If-None-Match against the blob a
// write would replace (nil: none).
func writeCondition(r *http.Request) func(*Props) error {
	ifMatch, ifNone := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if ifMatch == "" && ifNone == "" {
		return nil
	}
	return func(cur *Props) error {
		switch {
		case ifMatch != "" && (cur == nil || ifMatch != "*" && ifMatch != cur.ETag):
			return newError(http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		case ifNone == "*" && cur != nil:
			return newError(http.StatusConflict, "BlobAlreadyExists", "The specified blob already exists.")
		case ifNone != "" && ifNone != "*" && cur != nil && ifNone == cur.ETag:
			return newError(http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		}
		return nil
	}
}

// contentLength is the request's body size, which Azure requires.
func contentLength(r *http.Request, limit int64) (int64, error) {
	if r.ContentLength < 0 {
		return 0, newError(http.StatusLengthRequired, "MissingContentLengthHeader", "Content-Length is required.")
	}
	if r.ContentLength > limit {
		return 0, newError(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit (%d MiB).", limit>>20)
	}
	return r.ContentLength, nil
}

// checkMD5 compares a Content-MD5 header, if any, with what was received.
func checkMD5(r *http.Request, got []byte) error {
	want := r.Header.Get("Content-MD5")
	if want == "" {
		return nil
	}
	sum, err := base64.StdEncoding.DecodeString(want)
	if err != nil || len(sum) != 16 {
		return newError(http.StatusBadRequest, "InvalidMd5", "The MD5 value specified in the request is invalid. It must be 128 bits and Base64-encoded.")
	}
	if subtle.ConstantTimeCompare(sum, got) != 1 {
		return newError(http.StatusBadRequest, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
	}
	return nil
}

// blobMD5 reads x-ms-blob-content-md5: the MD5 to keep with the blob.
func blobMD5(r *http.Request) ([]byte, error) {
	v := r.Header.Get("x-ms-blob-content-md5")
	if v == "" {
		return nil, nil
	}
	sum, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(sum) != 16 {
		return nil, newError(http.StatusBadRequest, "InvalidMd5", "x-ms-blob-content-md5 must be 128 bits, Base64-encoded.")
	}
	return sum, nil
}

// contentType is the type to keep with a blob.
func contentType(r *http.Request) string {
	if t := r.Header.Get("x-ms-blob-content-type"); t != "" {
		return t
	}
	if t := r.Header.Get("Content-Type"); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (s *Service) putBlob(w http.ResponseWriter, r *http.Request, req *request, account string, now time.Time) error {
	if t := r.Header.Get("x-ms-blob-type"); t != "BlockBlob" {
		return newError(http.StatusBadRequest, "InvalidHeaderValue", "x-ms-blob-type '%s' is not served: only BlockBlob.", printable(t))
	}
	keepMD5, err := blobMD5(r)
	if err != nil {
		return err
	}
	st, err := s.receive(r, account, req.container, MaxPutBlobBytes)
	if err != nil {
		return err
	}
	if keepMD5 == nil {
		keepMD5 = st.md5
	}
	p, err := s.disk.commit(r.Context(), account, req.container, st, Props{Name: req.blob, ContentType: contentType(r), ContentMD5: keepMD5, Metadata: metadata(r.Header)}, now, writeCondition(r))
	if err != nil {
		return err
	}
	setTimes(w, p.ETag, p.Modified)
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(st.md5))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// receive stages a request's body of at most limit bytes for a blob of
// container, checking its Content-MD5. The container is checked before
// the body is read, so that a wrong address fails fast.
func (s *Service) receive(r *http.Request, account, container string, limit int64) (staged, error) {
	size, err := contentLength(r, limit)
	if err != nil {
		return staged{}, err
	}
	if _, err := s.disk.container(r.Context(), account, container); err != nil {
		return staged{}, err
	}
	st, err := s.disk.stage(r.Context(), r.Body, size)
	if err != nil {
		return staged{}, err
	}
	if err := checkMD5(r, st.md5); err != nil {
		s.disk.discard(st)
		return staged{}, err
	}
	return st, nil
}

// blockID decodes a Put Block's blockid.
func blockID(v string) ([]byte, error) {
	id, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(id) == 0 || len(id) > maxBlockIDBytes {
		return nil, newError(http.StatusBadRequest, "InvalidQueryParameterValue", "blockid '%s' must be Base64 of 1–%d bytes.", printable(v), maxBlockIDBytes)
	}
	return id, nil
}

func (s *Service) putBlock(w http.ResponseWriter, r *http.Request, req *request, account string) error {
	id, err := blockID(req.query.Get("blockid"))
	if err != nil {
		return err
	}
	st, err := s.receive(r, account, req.container, MaxBlockBytes)
	if err != nil {
		return err
	}
	if err := s.disk.putBlock(r.Context(), account, req.container, req.blob, id, st); err != nil {
		return err
	}
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(st.md5))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) putBlockList(w http.ResponseWriter, r *http.Request, req *request, account string, now time.Time) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBlockListBody+1))
	if err != nil {
		return fmt.Errorf("read the block list: %w", err)
	}
	if len(body) > maxBlockListBody {
		return newError(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The block list is larger than %d MiB.", maxBlockListBody>>20)
	}
	ids, err := parseBlockList(body)
	if err != nil {
		return err
	}
	keepMD5, err := blobMD5(r)
	if err != nil {
		return err
	}
	p, err := s.disk.commitBlocks(r.Context(), account, req.container, ids, Props{Name: req.blob, ContentType: contentType(r), ContentMD5: keepMD5, Metadata: metadata(r.Header)}, now, writeCondition(r))
	if err != nil {
		return err
	}
	setTimes(w, p.ETag, p.Modified)
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) getBlob(w http.ResponseWriter, r *http.Request, req *request, account string) error {
	p, c, err := s.disk.open(r.Context(), account, req.container, req.blob)
	if err != nil {
		return err
	}
	defer c.Close()
	ifMatch, ifNone := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case ifMatch != "" && ifMatch != "*" && ifMatch != p.ETag:
		return newError(http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
	case ifNone != "" && (ifNone == "*" || ifNone == p.ETag):
		setTimes(w, p.ETag, p.Modified)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h := w.Header()
	setTimes(w, p.ETag, p.Modified)
	h.Set("Content-Type", p.ContentType)
	h.Set("Accept-Ranges", "bytes")
	h.Set("x-ms-blob-type", "BlockBlob")
	h.Set("x-ms-creation-time", p.Created.UTC().Format(http.TimeFormat))
	h.Set("x-ms-lease-state", "available")
	h.Set("x-ms-lease-status", "unlocked")
	for k, v := range p.Metadata {
		h.Set("x-ms-meta-"+k, v)
	}
	start, end, ranged, err := parseRange(r, p.Size)
	if err != nil {
		return err
	}
	md5 := ""
	if p.ContentMD5 != nil {
		md5 = base64.StdEncoding.EncodeToString(p.ContentMD5)
	}
	status := http.StatusOK
	if ranged && req.op == opGetBlob {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, p.Size))
		if md5 != "" {
			h.Set("x-ms-blob-content-md5", md5)
		}
	} else {
		start, end = 0, p.Size
		if md5 != "" {
			h.Set("Content-MD5", md5)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	w.WriteHeader(status)
	if req.op == opBlobProperties {
		return nil
	}
	if _, err := io.Copy(w, c.section(start, end-start)); err != nil {
		// The status is sent: the client sees a short body.
		s.log.Warn("blob: download cut short", "blob", req.blob, "err", err)
	}
	return nil
}

// parseRange reads x-ms-range (or Range): bytes=start- or
// bytes=start-end, as [start, end) within size.
func parseRange(r *http.Request, size int64) (start, end int64, ranged bool, err error) {
	v := r.Header.Get("x-ms-range")
	if v == "" {
		v = r.Header.Get("Range")
	}
	if v == "" {
		return 0, size, false, nil
	}
	bad := newError(http.StatusBadRequest, "InvalidHeaderValue", "The range '%s' is not bytes=start- or bytes=start-end.", printable(v))
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, false, bad
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, bad
	}
	start, err = strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false, bad
	}
	end = size
	if b != "" {
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last < start {
			return 0, 0, false, bad
		}
		end = min(last+1, size)
	}
	if start >= size {
		return 0, 0, false, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource.")
	}
	return start, end, true, nil
}

// errNotBlockList is a block list that cannot be read.
func errNotBlockList(why string) error {
	return newError(http.StatusBadRequest, "InvalidXmlDocument", "The block list is not valid: %s.", why)
}

// blockListItem is one entry of a Put Block List body.
type blockListItem struct {
	kind string // Latest, Uncommitted or Committed
	id   string
}

// parseBlockList reads <BlockList><Latest|Uncommitted>id</…>…</BlockList>.
// Committed blocks are not kept once a list commits, so a list naming
// one is refused.
func parseBlockList(body []byte) ([][]byte, error) {
	items, err := decodeBlockList(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(items) > MaxBlocks {
		return nil, newError(http.StatusBadRequest, "BlockListTooLong", "The block list may name at most %d blocks.", MaxBlocks)
	}
	ids := make([][]byte, 0, len(items))
	for _, it := range items {
		if it.kind == "Committed" {
			return nil, newError(http.StatusBadRequest, "InvalidBlockList",
				"The block list names a Committed block; securetrain keeps no committed blocks once a list commits: upload the blocks again and list them as Latest.")
		}
		id, err := blockID(it.id)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
