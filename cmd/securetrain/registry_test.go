package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// eachStringLiteral calls fn with every string literal of the non-test Go
// files under the repository's cmd and internal directories.
func eachStringLiteral(t *testing.T, fn func(path string, lit *ast.BasicLit)) {
	t.Helper()
	root := filepath.Join("..", "..")
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					fn(path, lit)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoTypeTableOutsideTheRegistry: a registered kind's type is spelled
// in one place, the registry, so that no second table of types can drift
// from it. The files allowed to spell one say why.
func TestNoTypeTableOutsideTheRegistry(t *testing.T) {
	allowed := map[string]string{
		"internal/resources/kinds.go":         "the registry",
		"internal/arm/id.go":                  "arm.TypeResourceGroup: arm is below the registry, which uses it",
		"internal/envgen/envgen.go":           "it writes example environment files: data, not a table",
		"internal/store/storetest/suite.go":   "the store's conformance records: the store knows no kinds",
		"internal/provision/engine.go":        "provisioning is reworked apart; it names computes once",
		"internal/requirements/governance.go": "what Azure ML creates for a compute, defined apart",
	}
	eachStringLiteral(t, func(path string, lit *ast.BasicLit) {
		s, err := strconv.Unquote(lit.Value)
		if err != nil || resources.KindOf(s) == nil {
			return
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, filepath.Join("..", "..")+string(filepath.Separator)))
		if _, ok := allowed[rel]; !ok {
			t.Errorf("%s spells the registered type %s: use the registry's constant or entry", rel, lit.Value)
		}
	})
}

// TestExportListsEveryKind: export's listing comes from the registry:
// every kind that is a record of its own is listed — top-level kinds
// across the subscription, the others under each parent listed — and
// exported; inline children are not listed (they come inside their
// parent).
func TestExportListsEveryKind(t *testing.T) {
	var mu sync.Mutex
	listed := map[string]bool{} // by lower-cased type
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("api-version") == "" {
			t.Errorf("%s sent without an api-version", r.URL.Path)
		}
		collection := strings.TrimSuffix(r.URL.Path, "/")
		var id string
		switch prefix := "/subscriptions/" + testSub + "/providers/"; {
		case strings.EqualFold(collection, "/subscriptions/"+testSub+"/resourcegroups"):
			id = "/subscriptions/" + testSub + "/resourceGroups/rg"
		case strings.HasPrefix(collection, prefix):
			id = "/subscriptions/" + testSub + "/resourceGroups/rg/providers/" + strings.TrimPrefix(collection, prefix) + "/top"
		default:
			id = collection + "/child"
		}
		parsed, err := arm.ParseID(id, "")
		if err != nil {
			t.Errorf("listed %s: %v", r.URL.Path, err)
			return
		}
		mu.Lock()
		listed[strings.ToLower(parsed.Type())] = true
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"value": []any{map[string]any{"id": id, "name": parsed.Name(), "type": parsed.Type()}}})
	}))
	defer fake.Close()
	srv, err := newServerClient(clientFlags{url: &fake.URL, token: ptr("tok"), apiVersion: ptr(""), ca: ptr("")})
	if err != nil {
		t.Fatal(err)
	}
	doc, _, err := exportSubscription(srv, testSub)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, k := range resources.Kinds() {
		switch {
		case k.Inline != "" && listed[strings.ToLower(k.Type)]:
			t.Errorf("%s nests inline but was listed", k.Type)
		case k.Inline != "":
		case !listed[strings.ToLower(k.Type)]:
			t.Errorf("%s was not listed", k.Type)
		default:
			want++
		}
	}
	if len(doc.Resources) != want {
		t.Errorf("exported %d resources, want one of each of the %d listed kinds", len(doc.Resources), want)
	}
}

func ptr(s string) *string { return &s }

// TestAPIVersionForIsTheSDKs: the CLI sends, for any path, the version
// the Azure SDK for Go sends for its last provider's type.
func TestAPIVersionForIsTheSDKs(t *testing.T) {
	rg := "/subscriptions/" + testSub + "/resourceGroups/rg"
	for path, want := range map[string]string{
		rg: "2021-04-01",
		"/subscriptions/" + testSub + "/resourcegroups":                                                    "2021-04-01",
		rg + "/providers/Microsoft.Network/virtualNetworks/v/subnets":                                      "2025-01-01",
		rg + "/providers/Microsoft.Network/privateDnsZones/z.example/A/www":                                "2024-06-01",
		rg + "/providers/Microsoft.Network/dnsForwardingRulesets/r/forwardingRules":                        "2022-07-01",
		rg + "/providers/Microsoft.Network/virtualNetworks/v/providers/Microsoft.Authorization/locks/keep": "2016-09-01",
		"/subscriptions/" + testSub + "/providers/Microsoft.Authorization/policyAssignments/p":             "2023-04-01",
		"/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleAssignments":                 "2022-04-01",
		rg + "/providers/Microsoft.MachineLearningServices/workspaces/w/computes/c/resize":                 "2024-04-01",
		rg + "/providers/Microsoft.Storage/storageAccounts":                                                "2024-01-01",
		rg + "/providers/Microsoft.Compute/virtualMachines/vm":                                             "2024-07-01",
		rg + "/providers/Microsoft.Network/networkWatchers/nw/ipFlowVerify":                                "2025-01-01",
	} {
		if got := apiVersionFor(path); got != want {
			t.Errorf("apiVersionFor(%s) = %q, want %q", path, got, want)
		}
	}
}
