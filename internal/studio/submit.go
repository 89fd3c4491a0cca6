package studio

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"securetrain/internal/arm"
	"securetrain/internal/jobfile"
	"securetrain/internal/resources"
)

// Submitting a job from the studio: the `az ml` command-job YAML, read by
// internal/jobfile as `securetrain job create` reads it, and the code
// folder, which a browser cannot send as a folder, as a .zip, .tar or
// .tar.gz beside it. The studio extracts the archive into a private
// temporary folder and submits through the API as the principal: the
// code uploaded to the workspace's blob datastore with the azblob client
// (its requests served by the API's handler in-process), then the job.

// Upload limits: the whole form, the YAML, and what an archive may
// expand to (a small archive can expand to anything: a zip bomb).
const (
	maxUpload       = 64 << 20
	maxJobYAML      = 1 << 20
	maxCodeExpanded = 256 << 20
	maxCodeFiles    = 10000
	// multipartMemory is the part of a form held in memory; the rest of
	// a file waits in a temporary file (0600) until the request ends.
	multipartMemory = 1 << 20
)

// jobWrite is the action submitting a job needs.
const jobWrite = resources.TypeJob + "/write"

// newJobPage is the form that submits a job from a YAML file.
func (s *Studio) newJobPage(w http.ResponseWriter, r *http.Request, sess session) {
	ws, err := workspaceOf(r.URL.Query().Get("ws"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	s.renderJobForm(w, r, sess, http.StatusOK, ws, "", "")
}

// renderJobForm shows the submit form with the name typed and a problem.
func (s *Studio) renderJobForm(w http.ResponseWriter, r *http.Request, sess session, status int, ws arm.ID, name, problem string) {
	if !s.allowed(w, r, sess, jobWrite, ws, "submit jobs") {
		return
	}
	data := struct {
		Workspace             arm.ID
		Name                  string
		MaxUpload, MaxYAML    int
		MaxExpanded, MaxFiles int
	}{ws, name, maxUpload >> 20, maxJobYAML >> 10, maxCodeExpanded >> 20, maxCodeFiles}
	s.render(w, status, "submit", sess, page{Title: "Submit a job — " + ws.Leaf(), Error: problem, Data: data})
}

// createJob submits the form's YAML (and code archive) as a job and goes
// to the job's page; a mistake comes back on the form, naming the file
// and line.
func (s *Studio) createJob(w http.ResponseWriter, r *http.Request, sess session) {
	ws, err := workspaceOf(r.PostForm.Get("ws"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	again := func(status int, problem string) { s.renderJobForm(w, r, sess, status, ws, name, problem) }
	if r.MultipartForm == nil {
		again(http.StatusBadRequest, "The form must be sent as multipart/form-data (a file upload).")
		return
	}
	yamlName, yaml, err := formFile(r, "file", maxJobYAML)
	if err != nil {
		again(http.StatusBadRequest, err.Error())
		return
	}
	if yaml == nil {
		again(http.StatusBadRequest, "Job YAML: choose the job's .yml file (az ml's command job).")
		return
	}
	archive := r.MultipartForm.File["code"]
	if len(archive) > 1 {
		again(http.StatusBadRequest, "Code archive: choose one file.")
		return
	}
	files := &uploadedFiles{archive: len(archive) == 1}
	jf, err := jobfile.Parse(yamlName, yaml, ws.String(), nil, files)
	if err != nil {
		again(http.StatusBadRequest, err.Error())
		return
	}
	if files.archive {
		if jf.Code == nil {
			again(http.StatusBadRequest, fmt.Sprintf("Code archive %s: %s names no local code folder (code: ./src) for it to be.", archive[0].Filename, yamlName))
			return
		}
		dir, err := os.MkdirTemp("", "securetrain-studio-code-") // 0700
		if err != nil {
			s.fail(w, r, sess, fmt.Errorf("a folder for the code archive: %w", err))
			return
		}
		defer os.RemoveAll(dir)
		if jf.Code.Path, err = extractCode(archive[0], dir, path.Base(files.code)); err != nil {
			again(http.StatusBadRequest, fmt.Sprintf("Code archive %s: %v", archive[0].Filename, err))
			return
		}
	}
	jobName := jf.JobName(name)
	if err := s.jobTarget(r, sess, ws).Submit(r.Context(), jf, jobName, io.Discard); err != nil {
		var ae *armError
		// What the user can fix in the file comes back on the form; a
		// refusal of the principal is the API's error page.
		if errors.As(err, &ae) && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden && ae.Status < 500 {
			again(ae.Status, fmt.Sprintf("%s: %s", yamlName, ae.Error()))
			return
		}
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/studio/jobs/view?id="+url.QueryEscape(ws.String()+"/jobs/"+jobName), http.StatusSeeOther)
}

// formFile reads the form's file field key (at most limit bytes) and its
// base name; nil when none was chosen.
func formFile(r *http.Request, key string, limit int64) (string, []byte, error) {
	hs := r.MultipartForm.File[key]
	if len(hs) == 0 || hs[0].Filename == "" {
		return "", nil, nil
	}
	h := hs[0]
	name := path.Base(strings.ReplaceAll(h.Filename, `\`, "/"))
	if h.Size > limit {
		return name, nil, fmt.Errorf("%s: %d bytes; a job file is at most %d KiB", name, h.Size, limit>>10)
	}
	f, err := h.Open()
	if err != nil {
		return name, nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit))
	return name, data, err
}

// uploadedFiles resolves a job file's local paths in the studio: the
// code folder is the archive uploaded beside the file; nothing else on
// the user's disk can be read.
type uploadedFiles struct {
	archive bool
	// code is the code path as the file writes it.
	code string
}

// errNoDisk says why a local path cannot be read.
var errNoDisk = errors.New("the studio cannot read files on your computer")

func (u *uploadedFiles) Stat(key, p string) (jobfile.Local, error) {
	switch {
	case key != "code":
		return jobfile.Local{}, fmt.Errorf("%w: give a datastore URI (azureml://datastores/…/paths/…) or submit with securetrain job create", errNoDisk)
	case !u.archive:
		return jobfile.Local{}, fmt.Errorf("%w: choose the folder as a .zip, .tar or .tar.gz under Code archive", errNoDisk)
	}
	u.code = p
	return jobfile.Local{Dir: true}, nil // its path is the archive's, once extracted
}

func (u *uploadedFiles) ReadFile(key, p string) ([]byte, error) {
	return nil, fmt.Errorf("%w: name a registered environment (azureml:NAME:VERSION) or submit with securetrain job create", errNoDisk)
}

// extractCode expands a code archive (zip, tar or gzip'd tar, told by
// their first bytes) into dir/code and returns the code folder: dir/code,
// or the one folder in it when that is all it holds and is named as the
// YAML's code folder (base) — an archive of the folder rather than of its
// contents. Entries that would leave the folder (absolute paths, ..),
// links and devices are refused, as are more than maxCodeFiles files or
// maxCodeExpanded bytes.
func extractCode(h *multipart.FileHeader, dir, base string) (string, error) {
	f, err := h.Open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	out := filepath.Join(dir, "code")
	if err := os.Mkdir(out, 0o700); err != nil {
		return "", err
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		return "", err
	}
	defer root.Close()
	x := &extractor{root: root, budget: maxCodeExpanded}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte("PK")):
		err = x.zip(f, h.Size)
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		var gz *gzip.Reader
		if gz, err = gzip.NewReader(br); err == nil {
			err = x.tar(gz)
		}
	default:
		err = x.tar(br)
	}
	if err != nil {
		return "", err
	}
	if x.files == 0 {
		return "", errors.New("it holds no file")
	}
	entries, err := os.ReadDir(out)
	if err == nil && len(entries) == 1 && entries[0].IsDir() && entries[0].Name() == base {
		return filepath.Join(out, base), nil
	}
	return out, err
}

// extractor writes an archive's entries under root, within its budget.
type extractor struct {
	root   *os.Root
	budget int64
	files  int
}

// clean checks an entry's name: a relative path inside the folder.
func clean(name string) (string, error) {
	c := path.Clean(strings.TrimSuffix(name, "/"))
	if name == "" || strings.Contains(name, `\`) || path.IsAbs(name) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry %q leaves the code folder: refused", name)
	}
	return c, nil
}

// file writes one regular file.
func (x *extractor) file(name string, r io.Reader) error {
	c, err := clean(name)
	if err != nil {
		return err
	}
	if x.files++; x.files > maxCodeFiles {
		return fmt.Errorf("more than %d files: a code folder here is at most that", maxCodeFiles)
	}
	if dir := path.Dir(c); dir != "." {
		if err := x.root.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
	}
	f, err := x.root.OpenFile(c, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, x.budget+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if x.budget -= n; x.budget < 0 {
		return fmt.Errorf("it expands to more than %d MiB: a code folder here is at most that", maxCodeExpanded>>20)
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	return nil
}

// dir makes a folder entry.
func (x *extractor) dir(name string) error {
	c, err := clean(name)
	if err != nil {
		return err
	}
	return x.root.MkdirAll(c, 0o700)
}

func notFileOrFolder(name string) error {
	return fmt.Errorf("entry %q is not a file or a folder (a link?): a code archive holds files and folders only", name)
}

func (x *extractor) zip(f io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("not a zip, tar or tar.gz archive: %w", err)
	}
	for _, e := range zr.File {
		mode := e.Mode()
		switch {
		case mode.IsDir():
			err = x.dir(e.Name)
		case mode.IsRegular():
			var rc io.ReadCloser
			if rc, err = e.Open(); err == nil {
				err = x.file(e.Name, rc)
				rc.Close()
			}
		default:
			err = notFileOrFolder(e.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		e, err := tr.Next()
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("not a zip, tar or tar.gz archive: %w", err)
		}
		switch e.Typeflag {
		case tar.TypeDir:
			err = x.dir(e.Name)
		case tar.TypeReg:
			err = x.file(e.Name, tr)
		case tar.TypeXGlobalHeader:
		default:
			err = notFileOrFolder(e.Name)
		}
		if err != nil {
			return err
		}
	}
}

// jobTarget submits job files to ws through the API in-process, as the
// session's principal.
func (s *Studio) jobTarget(r *http.Request, sess session, ws arm.ID) jobfile.Target {
	return jobfile.Target{
		Workspace: ws.String(),
		Do: func(method, id string, body []byte) ([]byte, error) {
			parsed, err := arm.ParseID(id, "")
			if err != nil {
				return nil, err
			}
			rec := s.call(r, sess, method, apiPath(parsed, apiVersion(parsed.Type())), body)
			if err := decodeAnswer(rec, nil); err != nil {
				return nil, err
			}
			return rec.Body.Bytes(), nil
		},
		Blob: func(account string) (*azblob.Client, string, error) {
			scheme := "https"
			if r.TLS == nil {
				scheme = "http"
			}
			serviceURL := scheme + "://" + r.Host + "/" + account
			client, err := azblob.NewClient(serviceURL, jobfile.Token(sess.token), &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
				Transport: inProcess{s: s, r: r},
				// The requests never leave the process.
				InsecureAllowCredentialWithHTTP: scheme == "http",
			}})
			if err != nil {
				return nil, "", fmt.Errorf("blob client for %s: %w", serviceURL, err)
			}
			return client, serviceURL, nil
		},
	}
}

// inProcess is the azblob client's transport to the API's handler in
// this process: each request is served as if it came on the browser's
// connection (its host and TLS state).
type inProcess struct {
	s *Studio
	r *http.Request
}

func (t inProcess) Do(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.Host, in.TLS, in.RemoteAddr = t.r.Host, t.r.TLS, t.r.RemoteAddr
	if in.Body == nil {
		in.Body = http.NoBody
	}
	// As a server reads them: azblob sets some headers under their
	// lower-case names (x-ms-version), which Header.Get does not find.
	in.Header = make(http.Header, len(req.Header))
	for k, v := range req.Header {
		in.Header[http.CanonicalHeaderKey(k)] = v
	}
	rec := httptest.NewRecorder()
	t.s.api.ServeHTTP(rec, in)
	return rec.Result(), nil
}
