package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestRecordOnlyKinds: a key vault, an Application Insights component and
// a container registry are stored and answered as sent, at the old
// api-versions templates use; RBAC applies as to any type (a Reader reads
// them and cannot write them), and a version Azure does not publish for
// the type is refused with the type's list.
func TestRecordOnlyKinds(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	rg := rgML + "/providers/"
	for _, r := range []struct{ path, version, body, field string }{
		{rg + "Microsoft.KeyVault/vaults/kv-ml-1", "2019-09-01", `{"location":"eastus","properties":{"tenantId":"","sku":{"name":"standard","family":"A"},"accessPolicies":[],"enableSoftDelete":true}}`, "enableSoftDelete"},
		{rg + "Microsoft.Insights/components/ai-ml", "2018-05-01-preview", `{"location":"eastus","kind":"web","properties":{"Application_Type":"web"}}`, "Application_Type"},
		{rg + "Microsoft.ContainerRegistry/registries/crml1", "2019-05-01", `{"location":"eastus","sku":{"name":"Basic"},"properties":{"adminUserEnabled":false}}`, "adminUserEnabled"},
	} {
		st, out, _ := c.do("PUT", r.path+"?api-version="+r.version, r.body)
		if st != http.StatusOK {
			t.Fatalf("PUT %s: %d %v", r.path, st, out)
		}
		reader := c.as("reader-"+r.field, "Reader", rgML)
		st, got, _ := reader.do("GET", r.path+"?api-version="+r.version, "")
		props, _ := got["properties"].(map[string]any)
		if _, ok := props[r.field]; st != http.StatusOK || !ok {
			t.Errorf("GET %s as a reader: %d %v", r.path, st, got)
		}
		if st, code, _ := reader.errorCode("PUT", r.path+"?api-version="+r.version, r.body); st != http.StatusForbidden || code != "AuthorizationFailed" {
			t.Errorf("PUT %s as a reader: %d %s", r.path, st, code)
		}
		if st, code, msg := c.errorCode("GET", r.path+"?api-version=2022-05-01-bogus", ""); st != http.StatusBadRequest || code != "NoRegisteredProviderFound" || !strings.Contains(msg, r.version) {
			t.Errorf("GET %s at a version not published: %d %s %q", r.path, st, code, msg)
		}
	}
}
