package resources

import (
	"strings"
	"testing"
)

// TestOlderVersionFields: fields only older api-versions carry are
// tolerated (a storage account's accountType, a workspace's
// batchaiWorkspace and creationTime, remoteLoginPortPublicAccess sent to
// a compute instance), with the values Azure allows; a field no version
// has is still refused.
func TestOlderVersionFields(t *testing.T) {
	const env = `subscription: s
resources:
  - {type: Microsoft.Storage/storageAccounts, resourceGroup: rg, name: saold, location: eastus, properties: {accountType: ACCOUNT}}
  - type: Microsoft.MachineLearningServices/workspaces
    resourceGroup: rg
    name: wsold
    location: eastus
    properties: {batchaiWorkspace: x, creationTime: "2019-01-01T00:00:00Z"}
  - type: Microsoft.MachineLearningServices/workspaces/computes
    resourceGroup: rg
    name: wsold/ci-old
    location: eastus
    properties:
      computeType: ComputeInstance
      properties: {vmSize: Standard_DS3_v2, remoteLoginPortPublicAccess: REMOTE, EXTRA}
`
	decode := func(account, remote, extra string) error {
		_, err := DecodeFile("old.yaml", []byte(strings.NewReplacer("ACCOUNT", account, "REMOTE", remote, "EXTRA", extra).Replace(env)))
		return err
	}
	if err := decode("Standard_LRS", "Disabled", "enableNodePublicIp: false"); err != nil {
		t.Fatalf("older versions' fields refused: %v", err)
	}
	for _, c := range []struct{ account, remote, extra, says string }{
		{"Standard_XYZ", "Disabled", "enableNodePublicIp: false", `accountType must be one of`},
		{"Standard_LRS", "Sometimes", "enableNodePublicIp: false", `remoteLoginPortPublicAccess must be one of`},
		{"Standard_LRS", "Disabled", "nodePublicIp: false", `unknown field "properties.nodePublicIp"`},
	} {
		if err := decode(c.account, c.remote, c.extra); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want %q", c, err, c.says)
		}
	}
}

// TestWorkspaceHBIAsText: Azure reads a workspace's hbiWorkspace from the
// strings "true" and "false" too (templates send them); other strings
// are refused.
func TestWorkspaceHBIAsText(t *testing.T) {
	decode := func(v string) (*Snapshot, error) {
		return DecodeFile("ws.yaml", []byte(`subscription: s
resources:
  - {type: Microsoft.MachineLearningServices/workspaces, resourceGroup: rg, name: ws-hbi, location: eastus, properties: {hbiWorkspace: `+v+`}}
`))
	}
	for v, want := range map[string]bool{`"True"`: true, `"false"`: false, `true`: true} {
		snap, err := decode(v)
		if err != nil || snap.Workspaces[0].HBIWorkspace != want {
			t.Errorf("hbiWorkspace %s: %v", v, err)
		}
	}
	if _, err := decode(`"maybe"`); err == nil || !strings.Contains(err.Error(), `hbiWorkspace must be a boolean (or "true" or "false"), got "maybe"`) {
		t.Errorf("hbiWorkspace \"maybe\": %v", err)
	}
}

// TestCheckVersionFields: a field only some api-versions of a type carry
// is accepted at those versions and refused, naming them, at the others;
// other types and bodies without it are not concerned.
func TestCheckVersionFields(t *testing.T) {
	account := map[string]any{"properties": map[string]any{"accountType": "Standard_LRS"}}
	workspace := map[string]any{"properties": map[string]any{"batchaiWorkspace": "x"}}
	for _, c := range []struct {
		typ, version string
		body         map[string]any
		says         string
	}{
		{TypeStorageAccount, "2015-05-01-preview", account, ""},
		{TypeStorageAccount, "2015-06-15", account, ""},
		{TypeStorageAccount, "2016-01-01", account, "properties.accountType is not a member of Microsoft.Storage/storageAccounts at api-version 2016-01-01: only api-version 2015-05-01-preview to 2015-06-15 carries it"},
		{TypeStorageAccount, "2025-06-01", map[string]any{"properties": map[string]any{}}, ""},
		{TypeWorkspace, "2018-03-01-preview", workspace, ""},
		{TypeWorkspace, "2018-11-19", workspace, "only api-version 2018-03-01-preview carries it"},
		{TypeVirtualNetwork, "2024-05-01", account, ""},
	} {
		err := CheckVersionFields(c.typ, c.version, c.body)
		if (c.says == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s at %s: %v, want %q", c.typ, c.version, err, c.says)
		}
	}
}
