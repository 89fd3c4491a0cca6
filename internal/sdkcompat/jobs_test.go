package sdkcompat

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"
)

// nodeDir is a directory for jobs' working directories that their users
// can reach (0711), as serve's --node-dir.
func nodeDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "securetrain-nodes-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// workspaceWithCluster creates rg-ml, workspace wsName in it and its
// cluster "cpu" of up to two STANDARD_DS3_V2 nodes, at least minNodes.
func workspaceWithCluster(t *testing.T, ctx context.Context, c clients, minNodes int32) {
	t.Helper()
	createGroup(t, ctx, c, rgML)
	p, err := c.ml.NewWorkspacesClient().BeginCreateOrUpdate(ctx, rgML, wsName, armmachinelearning.Workspace{
		Location: to.Ptr(location),
		Identity: &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeSystemAssigned)},
	}, nil)
	done(t, ctx, p, err, "create the workspace")
	cluster := armmachinelearning.ComputeResource{Location: to.Ptr(location), Properties: &armmachinelearning.AmlCompute{
		ComputeType: to.Ptr(armmachinelearning.ComputeTypeAmlCompute),
		Properties: &armmachinelearning.AmlComputeProperties{VMSize: to.Ptr("STANDARD_DS3_V2"),
			ScaleSettings: &armmachinelearning.ScaleSettings{MaxNodeCount: to.Ptr[int32](2), MinNodeCount: to.Ptr(minNodes)}},
	}}
	pc, err := c.ml.NewComputeClient().BeginCreateOrUpdate(ctx, rgML, wsName, "cpu", cluster, nil)
	done(t, ctx, pc, err, "create the cluster")
}

// The unmodified JobsClient submits a command job on a cluster at 0
// nodes, reads it until Completed, lists it, and cancels another one
// (issue 15).
func TestJobsClient(t *testing.T) {
	srv := startServer(t)
	c := srv.clients(t, srv.adminToken)
	ctx := context.Background()
	workspaceWithCluster(t, ctx, c, 0)

	jobs := c.ml.NewJobsClient()
	command := func(cmd string) armmachinelearning.JobBase {
		return armmachinelearning.JobBase{Properties: &armmachinelearning.CommandJob{
			JobType:       to.Ptr(armmachinelearning.JobTypeCommand),
			Command:       to.Ptr(cmd),
			EnvironmentID: to.Ptr("azureml://registries/azureml/environments/sklearn-1.5/versions/1"),
			ComputeID:     to.Ptr(wsID + "/computes/cpu"),
			DisplayName:   to.Ptr("sdk job"),
			Inputs: map[string]armmachinelearning.JobInputClassification{
				"epochs": &armmachinelearning.LiteralJobInput{JobInputType: to.Ptr(armmachinelearning.JobInputTypeLiteral), Value: to.Ptr("3")},
			},
			EnvironmentVariables: map[string]*string{"GREETING": to.Ptr("hello")},
		}}
	}
	created, err := jobs.CreateOrUpdate(ctx, rgML, wsName, "job1", command("echo $GREETING for ${{inputs.epochs}} epochs"), nil)
	must(t, err, "create job1")
	if cj, ok := created.Properties.(*armmachinelearning.CommandJob); !ok || *cj.Status != armmachinelearning.JobStatusNotStarted {
		t.Fatalf("created job: %#v", created.Properties)
	}
	var status armmachinelearning.JobStatus
	for range 3000 {
		got, err := jobs.Get(ctx, rgML, wsName, "job1", nil)
		must(t, err, "get job1")
		status = *got.Properties.GetJobBaseProperties().Status
		if status == armmachinelearning.JobStatusCompleted || status == armmachinelearning.JobStatusFailed {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status != armmachinelearning.JobStatusCompleted {
		t.Fatalf("job1 ended %s", status)
	}

	_, err = jobs.CreateOrUpdate(ctx, rgML, wsName, "job2", command("sleep 600"), nil)
	must(t, err, "create job2")
	pcancel, err := jobs.BeginCancel(ctx, rgML, wsName, "job2", nil)
	done(t, ctx, pcancel, err, "cancel job2")
	for range 3000 {
		got, err := jobs.Get(ctx, rgML, wsName, "job2", nil)
		must(t, err, "get job2")
		if status = *got.Properties.GetJobBaseProperties().Status; status == armmachinelearning.JobStatusCanceled {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status != armmachinelearning.JobStatusCanceled {
		t.Fatalf("job2 after cancel: %s", status)
	}

	list := func(opts *armmachinelearning.JobsClientListOptions) string {
		t.Helper()
		var names []string
		pager := jobs.NewListPager(rgML, wsName, opts)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			must(t, err, "list jobs")
			for _, j := range page.Value {
				names = append(names, *j.Name)
			}
		}
		return strings.Join(names, ",")
	}
	if got := list(nil); got != "job1,job2" {
		t.Fatalf("listed jobs: %v", got)
	}

	// Archived (isArchived, as az ml job archive writes it), job2 is left
	// out of the default list (ActiveOnly) and listed by ArchivedOnly and
	// All.
	job2, err := jobs.Get(ctx, rgML, wsName, "job2", nil)
	must(t, err, "get job2")
	cj, ok := job2.Properties.(*armmachinelearning.CommandJob)
	if !ok {
		t.Fatalf("job2 is a %T", job2.Properties)
	}
	cj.IsArchived = to.Ptr(true)
	_, err = jobs.CreateOrUpdate(ctx, rgML, wsName, "job2", job2.JobBase, nil)
	must(t, err, "archive job2")
	for view, want := range map[armmachinelearning.ListViewType]string{
		armmachinelearning.ListViewTypeActiveOnly: "job1", armmachinelearning.ListViewTypeArchivedOnly: "job2", armmachinelearning.ListViewTypeAll: "job1,job2",
	} {
		if got := list(&armmachinelearning.JobsClientListOptions{ListViewType: to.Ptr(view)}); got != want {
			t.Errorf("listViewType %s: %s, want %s", view, got, want)
		}
	}
	if got := list(nil); got != "job1" {
		t.Errorf("default list with job2 archived: %s", got)
	}
}
