package jobfile

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

const ws = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1"

// noDisk is Files that has no files: what the studio is without an
// archive.
type noDisk struct{ asked []string }

var errNone = errors.New("no such file here")

func (n *noDisk) Stat(key, p string) (Local, error) {
	n.asked = append(n.asked, key+"="+p)
	return Local{}, errNone
}

func (n *noDisk) ReadFile(key, p string) ([]byte, error) {
	n.asked = append(n.asked, key+"="+p)
	return nil, errNone
}

func TestParseReadsAJobAndAsksFilesForLocalPathsOnly(t *testing.T) {
	files := &noDisk{}
	jf, err := Parse("job.yml", []byte(`name: train1
command: python train.py --lr ${{inputs.lr}}
code: azureml:src:3
environment: azureml:sklearn:1
compute: azureml:cpu
inputs:
  lr: 0.1
  data: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/d}
resources: {instance_count: 2}
`), ws, []string{"display_name=from a test"}, files)
	if err != nil {
		t.Fatal(err)
	}
	props := jf.Body["properties"].(map[string]any)
	if props["codeId"] != ws+"/codes/src/versions/3" || props["computeId"] != ws+"/computes/cpu" || props["displayName"] != "from a test" ||
		props["resources"].(map[string]any)["instanceCount"] != 2 || jf.Code != nil || len(jf.Inputs) != 0 {
		t.Fatalf("the body: %+v, code %v, inputs %v", props, jf.Code, jf.Inputs)
	}
	if len(files.asked) != 0 {
		t.Fatalf("Files was asked about URIs: %v", files.asked)
	}
	if jf.JobName("") != "train1" || jf.JobName("other") != "other" {
		t.Fatalf("names: %q %q", jf.JobName(""), jf.JobName("other"))
	}
	jf.Name = ""
	if n := jf.JobName(""); !regexp.MustCompile(`^job-[0-9a-f]{10}$`).MatchString(n) {
		t.Fatalf("a new name: %q", n)
	}
}

func TestParseNamesEveryMistakeWithItsLine(t *testing.T) {
	files := &noDisk{}
	_, err := Parse("job.yml", []byte(`command: x
code: ./src
environment: {image: python, conda_file: env.yml}
inputs:
  rows: {type: uri_file, path: ./rows.csv}
colour: blue
`), ws, nil, files)
	if err == nil {
		t.Fatal("a bad file was read")
	}
	for _, want := range []string{
		`job.yml:2: code "./src" must be a local folder (uploaded as a snapshot) or azureml:NAME:VERSION: no such file here`,
		"job.yml:3: environment.conda_file: no such file here",
		`job.yml:5: inputs.rows.path "./rows.csv": no such file here`,
		`job.yml:6: unknown key "colour" in a command job`,
		"job.yml:1: compute is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the errors lack %q:\n%v", want, err)
		}
	}
	if got := strings.Join(files.asked, " "); got != "code=./src environment.conda_file=env.yml inputs.rows=./rows.csv" {
		t.Errorf("Files was asked: %s", got)
	}
}
