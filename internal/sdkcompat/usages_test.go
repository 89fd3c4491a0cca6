package sdkcompat

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"

	"securetrain/internal/api"
)

// The unmodified UsagesClient reads the cores a cluster's nodes hold in
// the region, against the default quotas (100 a family, 350 in all); a
// Reader of the subscription may read them, a Reader of a resource group
// may not.
func TestUsagesClient(t *testing.T) {
	srv := startServer(t)
	c := srv.clients(t, srv.adminToken)
	ctx := context.Background()
	// Two nodes of STANDARD_DS3_V2: 8 cores of standardDSv2Family.
	workspaceWithCluster(t, ctx, c, 2)

	usages := func(cl clients, loc string) (map[string]*armmachinelearning.Usage, error) {
		out := map[string]*armmachinelearning.Usage{}
		pager := cl.ml.NewUsagesClient().NewListPager(loc, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, u := range page.Value {
				out[*u.Name.Value] = u
			}
		}
		return out, nil
	}
	var got map[string]*armmachinelearning.Usage
	var err error
	for range 300 { // the nodes are allocated after the cluster is Succeeded
		got, err = usages(c, location)
		must(t, err, "list usages")
		if u := got["standardDSv2Family"]; u != nil && *u.CurrentValue == 8 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, want := range map[string]struct {
		used, limit int64
		typ, title  string
	}{
		"cores":               {8, 350, "Microsoft.MachineLearningServices/totalCores/usages", "Total Regional vCPUs"},
		"standardDSv2Family":  {8, 100, "Microsoft.MachineLearningServices/vmFamily/usages", "Standard DSv2 Family vCPUs"},
		"standardNCSv3Family": {0, 100, "Microsoft.MachineLearningServices/vmFamily/usages", "Standard NCSv3 Family vCPUs"},
	} {
		u := got[name]
		if u == nil {
			t.Fatalf("no usage %q among %d", name, len(got))
		}
		if *u.CurrentValue != want.used || *u.Limit != want.limit || *u.Type != want.typ || *u.Name.LocalizedValue != want.title ||
			*u.Unit != armmachinelearning.UsageUnitCount || !sameID(u.ID, "/subscriptions/"+subID+"/providers/Microsoft.MachineLearningServices/locations/eastus/usages/"+name) {
			t.Errorf("usage %s: %s %s %d of %d %s (%s), want %d of %d", name, str(u.ID), str(u.Type), *u.CurrentValue, *u.Limit, *u.Unit, str(u.Name.LocalizedValue), want.used, want.limit)
		}
	}
	// Another region holds none of them.
	west, err := usages(c, "westus2")
	must(t, err, "list usages in westus2")
	if u := west["cores"]; u == nil || *u.CurrentValue != 0 {
		t.Errorf("westus2's cores: %+v", u)
	}
	_, err = usages(c, "moon")
	wantResponseError(t, err, http.StatusBadRequest, "LocationNotAvailableForResourceType", "moon")

	for scope, allowed := range map[string]bool{"/subscriptions/" + subID: true, rgID(rgML): false} {
		who := map[bool]string{true: "subreader", false: "rgreader"}[allowed]
		tok, err := api.CreatePrincipal(ctx, srv.st, who)
		must(t, err, "create "+who)
		_, err = api.AssignRole(ctx, srv.st, who, "Reader", scope)
		must(t, err, "assign Reader to "+who)
		got, err := usages(srv.clients(t, tok), location)
		if allowed {
			must(t, err, who+" lists usages")
			if u := got["standardDSv2Family"]; u == nil || *u.CurrentValue != 8 {
				t.Errorf("%s reads standardDSv2Family %+v", who, u)
			}
			continue
		}
		wantResponseError(t, err, http.StatusForbidden, "AuthorizationFailed", "Microsoft.MachineLearningServices/locations/usages/read")
	}
}
