package studio

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"securetrain/internal/resources"
)

// withStorage gives ws1 a default storage account, where a job's code is
// uploaded.
func (e *env) withStorage() {
	e.t.Helper()
	rg := "/subscriptions/" + sub + "/resourceGroups/rg-ml/providers/"
	if status, out := e.armDo("PUT", rg+"Microsoft.Storage/storageAccounts/stws1?api-version=2023-05-01",
		`{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`); status >= 300 {
		e.t.Fatalf("PUT storage account: %d %s", status, out)
	}
	if status, out := e.armDo("PUT", wsID+mlVersion, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"friendlyName":"ws1",
		"workspaceId":"6f8b2c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b","storageAccount":"`+rg+`Microsoft.Storage/storageAccounts/stws1"}}`); status >= 300 {
		e.t.Fatalf("PUT workspace: %d %s", status, out)
	}
	e.settle()
}

// upload is a file of the submit form.
type upload struct {
	field, name string
	data        []byte
}

// submit posts the submit form: fields and files, multipart, with the
// session's CSRF token unless fields sets one.
func (b *browser) submit(fields url.Values, files ...upload) (*http.Response, string) {
	b.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if _, ok := fields["csrf"]; !ok {
		mw.WriteField("csrf", b.csrf)
	}
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.field, f.name)
		w.Write(f.data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.base+"/studio/jobs/create", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.send(req)
}

// zipOf and tgzOf are archives of files (name → content; a name ending
// in / is a folder).
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	zw.Close()
	return buf.Bytes()
}

func tgzOf(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

const jobYAML = `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: ./src
command: sh train.sh ${{inputs.lr}}
environment: azureml://registries/azureml/environments/sklearn-1.5/versions/1
compute: azureml:cpu-cluster
inputs:
  lr: 0.5
display_name: from the studio
`

func TestSubmitAJobFromYAMLAndItsCodeArchive(t *testing.T) { // jobs: submit from a YAML upload
	e := newEnv(t)
	e.withStorage()
	b := e.signIn(e.adminToken)
	_, list := b.get("/studio/jobs?ws=" + url.QueryEscape(wsID))
	if !strings.Contains(list, `id="new-job"`) {
		t.Fatalf("the admin's Jobs page has no submit link: %s", list)
	}
	if resp, form := b.get("/studio/jobs/new?ws=" + url.QueryEscape(wsID)); resp.StatusCode != http.StatusOK || !strings.Contains(form, `enctype="multipart/form-data"`) {
		t.Fatalf("the submit form: %d %s", resp.StatusCode, form)
	}
	// The folder itself zipped (src/…): its contents are the code.
	code := zipOf(t, map[string]string{"src/train.sh": "echo \"lr $1 and $(cat lib/note.txt)\"\n", "src/lib/note.txt": "a note"})
	resp, page := b.submit(url.Values{"ws": {wsID}, "name": {"fromyaml"}}, upload{"file", "job.yml", []byte(jobYAML)}, upload{"code", "src.zip", code})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/studio/jobs/view?id="+url.QueryEscape(jobID("fromyaml")) {
		t.Fatalf("submit: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if st := e.waitJob("fromyaml", resources.JobTerminal); st != resources.JobCompleted {
		t.Fatalf("the job ended %s", st)
	}
	_, view := b.get("/studio/jobs/view?id=" + url.QueryEscape(jobID("fromyaml")))
	if !strings.Contains(view, "lr 0.5 and a note") || !strings.Contains(view, "from the studio") {
		t.Fatalf("the job's page: %s", view)
	}
	// Its contents tarred and gzipped, and a YAML without code at all.
	noCode := strings.Replace(jobYAML, "code: ./src\n", "", 1)
	noCode = strings.Replace(noCode, "sh train.sh", "echo plain", 1)
	if resp, page := b.submit(url.Values{"ws": {wsID}, "name": {"nocode"}}, upload{"file", "job.yml", []byte(noCode)}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a job without code: %d %s", resp.StatusCode, page)
	}
	tgz := tgzOf(t, &tar.Header{Name: "train.sh", Typeflag: tar.TypeReg, Mode: 0o644, Size: 0})
	if resp, page := b.submit(url.Values{"ws": {wsID}, "name": {"tarred"}}, upload{"file", "job.yml", []byte(jobYAML)}, upload{"code", "src.tgz", tgz}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a tar.gz: %d %s", resp.StatusCode, page)
	}
	if st := e.waitJob("nocode", resources.JobTerminal); st != resources.JobCompleted {
		t.Fatalf("the job without code ended %s", st)
	}
}

func TestSubmitRefusesBadFilesNamingTheLine(t *testing.T) { // mistakes come back on the form; nothing is created
	e := newEnv(t)
	e.withStorage()
	b := e.signIn(e.adminToken)
	yml := func(s string) upload { return upload{"file", "train.yml", []byte(s)} }
	for name, c := range map[string]struct {
		files []upload
		want  string
	}{
		"unknown key":          {[]upload{yml("command: x\nenvironment: azureml:e:1\ncompute: azureml:cpu-cluster\ncomand: y\n")}, `train.yml:4: unknown key &#34;comand&#34;`},
		"no compute":           {[]upload{yml("command: x\nenvironment: azureml:e:1\n")}, "train.yml:1: compute is required"},
		"local code, no zip":   {[]upload{yml(jobYAML)}, "train.yml:2: code &#34;./src&#34; must be a local folder"},
		"local input":          {[]upload{yml(strings.Replace(jobYAML, "lr: 0.5", "data: {type: uri_file, path: ./rows.csv}", 1))}, "train.yml:7: inputs.data.path &#34;./rows.csv&#34;: the studio cannot read files on your computer"},
		"conda file":           {[]upload{yml("command: x\nenvironment: {image: python, conda_file: env.yml}\ncompute: azureml:cpu-cluster\n")}, "train.yml:2: environment.conda_file"},
		"no YAML":              {nil, "Job YAML: choose"},
		"zip without code":     {[]upload{yml("command: x\nenvironment: azureml:e:1\ncompute: azureml:cpu-cluster\n"), {"code", "c.zip", zipOf(t, map[string]string{"a": "b"})}}, "names no local code folder"},
		"zip slip":             {[]upload{yml(jobYAML), {"code", "evil.zip", zipOf(t, map[string]string{"../../evil.sh": "x"})}}, `entry &#34;../../evil.sh&#34; leaves the code folder`},
		"absolute tar entry":   {[]upload{yml(jobYAML), {"code", "evil.tgz", tgzOf(t, &tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644})}}, `entry &#34;/etc/evil&#34; leaves the code folder`},
		"link in tar":          {[]upload{yml(jobYAML), {"code", "link.tgz", tgzOf(t, &tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})}}, "a code archive holds files and folders only"},
		"not an archive":       {[]upload{yml(jobYAML), {"code", "notes.txt", []byte("just some text that is no archive at all, long enough")}}, "not a zip, tar or tar.gz archive"},
		"expands past the cap": {[]upload{yml(jobYAML), {"code", "bomb.tgz", tgzOf(t, &tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: maxCodeExpanded + 1})}}, "expands to more than 256 MiB"},
	} {
		resp, page := b.submit(url.Values{"ws": {wsID}, "name": {"bad"}}, c.files...)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, c.want) || !strings.Contains(page, `id="job-form"`) {
			t.Errorf("%s: %d, want %q in the form: %s", name, resp.StatusCode, c.want, page)
		}
	}
	if status, _ := e.armDo("GET", jobID("bad")+mlVersion, ""); status != http.StatusNotFound {
		t.Fatalf("a refused submission created the job: %d", status)
	}
	// Without the CSRF token, or too large: refused before anything.
	if resp, _ := b.submit(url.Values{"ws": {wsID}, "csrf": {""}}, yml(jobYAML)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a submission without the CSRF token: %d", resp.StatusCode)
	}
	if resp, page := b.submit(url.Values{"ws": {wsID}}, yml(jobYAML), upload{"code", "big.zip", make([]byte, maxUpload)}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "at most 64 MiB") {
		t.Errorf("an upload over the cap: %d %s", resp.StatusCode, page)
	}
	// Files go to the job submission only.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf)
	mw.Close()
	req, _ := http.NewRequest("POST", e.base+"/studio/jobs/cancel", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if resp, page := b.send(req); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "only a job's submission is sent as files") {
		t.Errorf("a multipart form elsewhere: %d %s", resp.StatusCode, page)
	}
}

func TestReaderCannotSubmitAJob(t *testing.T) { // one authority: the API's RBAC
	e := newEnv(t)
	b := e.signIn(e.readerToken)
	if _, list := b.get("/studio/jobs?ws=" + url.QueryEscape(wsID)); strings.Contains(list, `id="new-job"`) {
		t.Fatal("the Reader sees the submit link")
	}
	if resp, _ := b.get("/studio/jobs/new?ws=" + url.QueryEscape(wsID)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the Reader's submit form: %d", resp.StatusCode)
	}
	noCode := strings.Replace(jobYAML, "code: ./src\n", "", 1)
	resp, page := b.submit(url.Values{"ws": {wsID}, "name": {"sneaky"}}, upload{"file", "job.yml", []byte(noCode)})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "AuthorizationFailed") {
		t.Fatalf("the Reader's forced submission: %d %s", resp.StatusCode, page)
	}
	if status, _ := e.armDo("GET", jobID("sneaky")+mlVersion, ""); status != http.StatusNotFound {
		t.Fatalf("the Reader's job exists: %d", status)
	}
}
