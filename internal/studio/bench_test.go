package studio

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkPreflight is one answer of the pre-flight panel on the seed
// subscription: the form read, the workspace read through the API, the
// subscription compiled with the proposed compute, check's rules on it.
func BenchmarkPreflight(b *testing.B) {
	e := newEnv(b)
	br := e.signIn(e.adminToken)
	form := computeFormValues("cluster", "gpu", "compute")
	form.Set("csrf", br.csrf)
	for b.Loop() {
		resp := e.post("/studio/api/preflight", form, br.cookie)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("pre-flight: %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// BenchmarkComputePage1000 is the Compute page of a workspace with 1,000
// compute clusters (issue 14 §7: at most 100 ms of server time a page).
func BenchmarkComputePage1000(b *testing.B) {
	e := newEnv(b)
	for i := range 1000 {
		body := `{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS1_v2","enableNodePublicIp":true,
			"subnet":{"id":"` + subnetsOf + `compute"},"scaleSettings":{"minNodeCount":0,"maxNodeCount":0}}}}`
		if status, out := e.armDo("PUT", wsID+"/computes/c"+strconv.Itoa(i)+mlVersion, body); status != http.StatusCreated {
			b.Fatalf("PUT c%d: %d %s", i, status, out)
		}
	}
	e.settle()
	br := e.signIn(e.adminToken)
	for b.Loop() {
		resp, page := br.get("/studio/compute?ws=" + url.QueryEscape(wsID) + "&tab=clusters")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-name="c999"`) {
			b.Fatalf("the page: %d", resp.StatusCode)
		}
	}
}
