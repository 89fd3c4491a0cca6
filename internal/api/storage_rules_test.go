package api

import (
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// TestStorageNetworkRulesFailCreate: the control plane refuses a compute
// whose workspace's default storage account refuses it, with the finding
// `check` reports (storage-refuses-compute) naming the setting (issue 12
// point 8). Azure's article "Configure Azure Storage firewalls and virtual
// networks": "IP network rules have no effect on requests originating from
// the same Azure region as the storage account. Use Virtual network rules
// to allow same-region requests." Before, such a compute was created.
func TestStorageNetworkRulesFailCreate(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	storage := rgML + "/providers/Microsoft.Storage/storageAccounts/st1"
	c.start("PUT", storage+"?api-version=2023-05-01", `{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"},
		"properties":{"networkAcls":{"defaultAction":"Deny","bypass":"AzureServices","ipRules":[{"value":"20.1.2.3"}]}}}`, http.StatusOK)
	if st, out, _ := c.do("PUT", wsML+mlVersion, `{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"friendlyName":"ws1","storageAccount":"`+storage+`"}}`); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("workspace: %d %v", st, out)
	}
	op := c.start("PUT", wsML+"/computes/ci1"+mlVersion, instanceBody, http.StatusCreated)
	e := arm.EnsureField(op, "error")
	var refused map[string]any
	for _, d := range arm.Items(e, "details") {
		if d["code"] == "storage-refuses-compute" {
			refused = d
		}
	}
	if op["status"] != "Failed" || e["code"] != "ComputeUnusable" || refused == nil ||
		!strings.Contains(arm.Str(refused, "message"), "st1.blob.core.windows.net") || !strings.Contains(arm.Str(refused, "message"), "ipRules have no effect") {
		t.Fatalf("operation: %v", op)
	}
}
