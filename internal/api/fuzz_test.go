package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// FuzzResourceGroupPut: any body and name give an ARM answer — success or
// a 4xx with a code — never a 5xx or a panic.
func FuzzResourceGroupPut(f *testing.F) {
	for _, seed := range []string{`{"location":"westus2"}`, `{"location":"eastus","tags":{"a":"b"}}`, `{`, `[]`, `{"location":1}`,
		`{"location":"x","properties":{"provisioningState":"Succeeded"}}`, `null`, ``} {
		f.Add("rg1", seed)
	}
	_, token, srv := fuzzServer(f)
	f.Fuzz(func(t *testing.T, name, body string) {
		if strings.Contains(name, "/") || name == "" {
			return // not one path segment
		}
		req := httptest.NewRequest("PUT", "/subscriptions/"+sub+"/resourceGroups/"+url.PathEscape(name)+"?api-version=2021-04-01", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		switch {
		case w.Code == 200 || w.Code == 201:
		case w.Code >= 400 && w.Code < 500 && w.Header().Get("x-ms-error-code") != "":
		default:
			t.Fatalf("PUT %q %q: %d %s", name, body, w.Code, w.Body.String())
		}
	})
}

// FuzzResourcePut: any body PUT to any kind of network, storage or ML
// resource gets success or a coded 4xx, never a 5xx or a panic; and what
// was accepted still decodes (the store never holds what validation
// refuses).
func FuzzResourcePut(f *testing.F) {
	paths := []string{
		"/providers/Microsoft.Network/virtualNetworks/v",
		"/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
		"/providers/Microsoft.Network/networkSecurityGroups/n",
		"/providers/Microsoft.Network/networkSecurityGroups/n/securityRules/r",
		"/providers/Microsoft.Network/routeTables/t",
		"/providers/Microsoft.Network/privateEndpoints/p",
		"/providers/Microsoft.MachineLearningServices/workspaces/wsp/computes/c",
		"/providers/Microsoft.Storage/storageAccounts/st",
	}
	versions := []string{"2025-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2024-04-01", "2024-01-01"}
	for i, seed := range []string{
		`{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.0.1.0/24"}}]}}`,
		`{"properties":{"addressPrefix":"10.0.2.0/24","networkSecurityGroup":{"id":"/subscriptions/` + sub + `/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n"}}}`,
		`{"location":"eastus","properties":{"securityRules":[{"name":"x","properties":{"priority":100,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"22"}}]}}`,
		`{"properties":{"priority":100,"direction":"Outbound","access":"Deny","protocol":"Udp","sourceAddressPrefix":"VirtualNetwork","sourcePortRange":"*","destinationAddressPrefix":"AzureMachineLearning","destinationPortRange":"5831"}}`,
		`{"location":"eastus","properties":{"routes":[{"name":"r","properties":{"addressPrefix":"0.0.0.0/0","nextHopType":"VirtualAppliance","nextHopIpAddress":"10.0.9.4"}}]}}`,
		`{"location":"eastus","properties":{"subnet":{"id":"/subscriptions/` + sub + `/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"}}}`,
		`{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"scaleSettings":{"maxNodeCount":2}}}}`,
		`{"location":"eastus","properties":{"networkAcls":{"defaultAction":"Deny"}}}`,
	} {
		f.Add(uint8(i), seed)
	}
	f.Add(uint8(1), `{"properties":{"addressPrefix":"10.0.0.0/33"}}`)
	f.Add(uint8(0), `{"location":"eastus","properties":{"subnets":[{"name":"a/b"}]}}`)
	st, token, srv := fuzzServer(f)
	do := func(method, path, version, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/subscriptions/"+sub+"/resourceGroups/rg"+path+"?api-version="+version, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w
	}
	if w := do("PUT", "", "2021-04-01", `{"location":"eastus"}`); w.Code != 201 {
		f.Fatalf("resource group: %d", w.Code)
	}
	if w := do("PUT", "/providers/Microsoft.MachineLearningServices/workspaces/wsp", "2024-04-01", `{"location":"eastus"}`); w.Code != 200 {
		f.Fatalf("workspace: %d %s", w.Code, w.Body)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		i := int(which) % len(paths)
		w := do("PUT", paths[i], versions[i], body)
		switch {
		case w.Code == 200 || w.Code == 201:
			// Accepted: the record that holds it decodes with every check.
			id, err := arm.ParseID("/subscriptions/"+sub+"/resourceGroups/rg"+paths[i], "")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rec, err := st.Get(ctx, recordIDOf(id).String())
			if err != nil {
				t.Fatalf("accepted %s but not stored: %v", paths[i], err)
			}
			exists := func(ref arm.ID) (bool, error) { return storedExists(ctx, st, ref) }
			if _, err := resources.DecodeARM([][]byte{rec.Body}, exists); err != nil {
				t.Fatalf("PUT %s %q was accepted, but the stored record does not decode:\n%v\n%s", paths[i], body, err, rec.Body)
			}
		case w.Code >= 400 && w.Code < 500 && w.Header().Get("x-ms-error-code") != "":
		default:
			t.Fatalf("PUT %s %q: %d %s", paths[i], body, w.Code, w.Body.String())
		}
	})
}

// fuzzServer is a server on a fresh store and an Owner's token.
func fuzzServer(f *testing.F) (store.Store, string, *Server) {
	st, err := store.OpenSQLite(filepath.Join(f.TempDir(), "data")) // the store creates it 0700
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	token, err := CreatePrincipal(context.Background(), st, "fuzzer")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := AssignRole(context.Background(), st, "fuzzer", "Owner", "/"); err != nil {
		f.Fatal(err)
	}
	return st, token, New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
}
