package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// TestTemplateAPIVersionsOfEachProvider: a template may use every
// api-version Azure registers for a type — representative ones of each
// provider, the oldest and the ones only the provider's registration
// lists (network 2014-12-01-preview, 2017-04-01, 2021-12-01; Resource
// Manager's 2015-01-01 for nested deployments) — and a version the type
// does not have is refused before anything is stored with Azure's
// NoRegisteredProviderFound: the location, the version, the type without
// its namespace, the type's versions and its locations.
func TestTemplateAPIVersionsOfEachProvider(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	resource := func(typ, version, name, location string) string {
		return `{"type":"` + typ + `","apiVersion":"` + version + `","name":"` + name + `","location":"` + location + `","properties":{}}`
	}
	tmpl := func(resources ...string) string {
		return `{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[` +
			strings.Join(resources, ",") + `]}`
	}
	nested := `{"type":"Microsoft.Resources/deployments","apiVersion":"2015-01-01","name":"inner","properties":{"mode":"Incremental","template":` +
		tmpl(resource("Microsoft.Network/networkSecurityGroups", "2015-06-15", "nsg-inner", "eastus")) + `}}`
	for _, r := range []struct{ typ, version, name, location string }{
		{"Microsoft.Network/virtualNetworks", "2014-12-01-preview", "vn1", "eastus"},
		{"Microsoft.Network/virtualNetworks", "2017-04-01", "vn2", "eastus"},
		{"Microsoft.Network/networkInterfaces", "2021-12-01", "nic1", "eastus"},
		{"Microsoft.Network/privateEndpoints", "2019-04-01", "pe1", "eastus"},
		{"Microsoft.Network/privateDnsZones", "2018-09-01", "privatelink.blob.core.windows.net", "global"},
		{"Microsoft.Storage/storageAccounts", "2016-07-01", "stv1", "eastus"},
		{"Microsoft.MachineLearningServices/workspaces", "2018-03-01-preview", "wsv1", "eastus"},
		{"Microsoft.Compute/virtualMachines", "2015-05-01-preview", "vm1", "eastus"},
		{"Microsoft.KeyVault/vaults", "2015-06-01", "kv1", "eastus"},
		{"Microsoft.Insights/components", "2015-05-01", "ai1", "eastus"},
		{"Microsoft.ContainerRegistry/registries", "2016-06-27-preview", "cr1", "eastus"},
	} {
		body := deployBody(t, tmpl(resource(r.typ, r.version, r.name, r.location), nested), nil)
		if st, out, _ := c.do("POST", deploymentPathOf(rgML, "versions")+"/validate"+deployVersion, body); st != http.StatusOK {
			t.Errorf("%s at %s: %d %v", r.typ, r.version, st, out)
		}
	}

	// 2017-05-01 is a Microsoft.Network version (Traffic Manager's), not
	// a virtual network's.
	body := deployBody(t, tmpl(resource("Microsoft.Network/virtualNetworks", "2017-05-01", "vn3", "westeurope")), nil)
	st, out, _ := c.do("PUT", deploymentPathOf(rgML, "unregistered")+deployVersion, body)
	msg := errMessage(out)
	for _, want := range []string{
		"No registered resource provider found for location 'westeurope' and API version '2017-05-01' for type 'virtualNetworks'.",
		" The supported api-versions are '2014-12-01-preview, 2015-05-01-preview, 2015-06-15, 2016-03-30,",
		"2017-03-01, 2017-04-01, 2017-06-01,", " The supported locations are 'australiacentral, ", "(resource 'vn3', line 1)",
	} {
		if st != http.StatusBadRequest || errCode(out) != "NoRegisteredProviderFound" || !strings.Contains(msg, want) {
			t.Errorf("an unregistered version: %d %s %q, want %q", st, errCode(out), msg, want)
		}
	}
	if st, _, _ := c.do("GET", deploymentPathOf(rgML, "unregistered")+deployVersion, ""); st != http.StatusNotFound {
		t.Errorf("the refused deployment was stored: %d", st)
	}
}

// TestOlderVersionBodies: a body of an older api-version deploys with the
// fields that version carries, kept as sent — the storage account of the
// 2015 quickstarts (properties.accountType, no sku or kind, at
// 2015-06-15), a workspace's batchaiWorkspace at 2018-03-01-preview — and
// the same field at a version that does not carry it is refused, directly
// and in a template (the deployment fails on that resource).
func TestOlderVersionBodies(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	account := rgML + "/providers/Microsoft.Storage/storageAccounts/saold2015"
	oldBody := `{"location":"eastus","properties":{"accountType":"Standard_LRS"}}`
	if st, out, _ := c.do("PUT", account+"?api-version=2015-06-15", oldBody); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("a 2015-06-15 storage account: %d %v", st, out)
	}
	if _, out, _ := c.do("GET", account+"?api-version=2015-06-15", ""); arm.Str(arm.Field(out, "properties"), "accountType") != "Standard_LRS" {
		t.Errorf("accountType not kept: %v", out)
	}
	if st, code, msg := c.errorCode("PUT", account+"?api-version=2019-06-01", `{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"},"properties":{"accountType":"Standard_LRS"}}`); st != http.StatusBadRequest ||
		code != "InvalidRequestContent" || !strings.Contains(msg, "properties.accountType is not a member of Microsoft.Storage/storageAccounts at api-version 2019-06-01: only api-version 2015-05-01-preview to 2015-06-15 carries it") {
		t.Errorf("accountType at 2019-06-01: %d %s %q", st, code, msg)
	}
	workspace := rgML + "/providers/Microsoft.MachineLearningServices/workspaces/ws-batchai"
	if st, code, msg := c.errorCode("PUT", workspace+"?api-version=2018-11-19", `{"location":"eastus","properties":{"batchaiWorkspace":"/subscriptions/x"}}`); st != http.StatusBadRequest ||
		!strings.Contains(msg, "only api-version 2018-03-01-preview carries it") {
		t.Errorf("batchaiWorkspace at 2018-11-19: %d %s %q", st, code, msg)
	}

	tmpl := func(version, props string) string {
		return `{"$schema":"https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
			"parameters":{"storageAccountType":{"type":"string","defaultValue":"Standard_LRS"}},
			"resources":[{"apiVersion":"` + version + `","type":"Microsoft.Storage/storageAccounts","name":"satmpl2015","location":"[resourceGroup().location]",
			"properties":` + props + `}]}`
	}
	old := deploymentPathOf(rgML, "old-storage")
	if st, out, _ := c.do("PUT", old+deployVersion, deployBody(t, tmpl("2015-06-15", `{"accountType":"[parameters('storageAccountType')]"}`), nil)); st != http.StatusCreated {
		t.Fatalf("PUT %s: %d %v", old, st, out)
	}
	if d := c.awaitDeployment(old); deployState(d) != "Succeeded" {
		t.Errorf("the 2015-06-15 storage template: %v", d)
	}
	newer := deploymentPathOf(rgML, "new-storage")
	if st, out, _ := c.do("PUT", newer+deployVersion, deployBody(t, tmpl("2019-06-01", `{"accountType":"[parameters('storageAccountType')]"}`), nil)); st != http.StatusCreated {
		t.Fatalf("PUT %s: %d %v", newer, st, out)
	}
	if d := c.awaitDeployment(newer); deployState(d) != "Failed" || !strings.Contains(fmt.Sprint(d), "properties.accountType is not a member") {
		t.Errorf("accountType at 2019-06-01 in a template: %v", d)
	}
}

// TestDirectRequestAtAnUnregisteredVersion: a request at a version the
// type lacks gets Resource Manager's answer — NoRegisteredProviderFound
// with the resource group's location — only for a caller who may read the
// group; a caller who may not (a role on one resource) gets
// InvalidResourceType, which names no location and shows nothing of the
// group.
func TestDirectRequestAtAnUnregisteredVersion(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	vnet := netNet + "virtualNetworks/vnet"
	if st, code, msg := c.errorCode("GET", vnet+"?api-version=2017-05-01", ""); st != http.StatusBadRequest || code != "NoRegisteredProviderFound" ||
		!strings.Contains(msg, "for location 'eastus' and API version '2017-05-01' for type 'virtualNetworks'") {
		t.Errorf("the owner: %d %s %q", st, code, msg)
	}
	narrow := c.as("vnet-only", "Network Contributor", vnet)
	if st, code, msg := narrow.errorCode("GET", vnet+"?api-version=2017-05-01", ""); st != http.StatusBadRequest || code != "InvalidResourceType" ||
		strings.Contains(msg, "eastus") || !strings.Contains(msg, "for api version '2017-05-01'") {
		t.Errorf("a caller who may not read the group: %d %s %q", st, code, msg)
	}
}
