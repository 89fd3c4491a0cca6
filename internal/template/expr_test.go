package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

var testDeployment = Deployment{Name: "dep1", SubscriptionID: "00000000-0000-0000-0000-000000000001",
	TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ResourceGroup: "rg-probe", Location: "eastus"}

const rgID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-probe"

// evalVariable plans a template with the given variables section and
// returns the variable "out".
func evalVariable(vars string) (any, error) {
	src := `{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "p": {"type": "string", "defaultValue": "Hello"},
    "n": {"type": "int", "defaultValue": 3},
    "o": {"type": "object", "defaultValue": {"Name": "x", "inner": {"list": [1, 2, 3]}}}
  },
  "variables": ` + vars + `,
  "resources": []
}`
	tp, err := Parse([]byte(src))
	if err != nil {
		return nil, err
	}
	p, err := tp.Plan(testDeployment, nil)
	if err != nil {
		return nil, err
	}
	return p.scope.variable("out")
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExpressionsEvaluateAsInAzure(t *testing.T) {
	for _, c := range []struct{ vars, want string }{
		{`{"out": "[concat('a', parameters('P'), 'b')]"}`, `"aHellob"`},
		{`{"out": "[[not an expression]"}`, `"[not an expression]"`},
		{`{"out": "[not an expression"}`, `"[not an expression"`},
		{`{"out": "[concat('it''s', ' ok')]"}`, `"it's ok"`},
		{`{"out": "[add(-2, 5)]"}`, `3`},
		{`{"out": "[parameters('o').INNER.list[2]]"}`, `3`},
		{`{"out": "[parameters('o')['inner'].list[0]]"}`, `1`},
		{`{"out": "[ToLower(CONCAT('A','B'))]"}`, `"ab"`},
		{`{"out": {"a": "[json('null')]", "b": 1, "c": null}}`, `{"b":1,"c":null}`},
		{`{"out": {"[concat('k', '1')]": "v"}}`, `{"k1":"v"}`},
		{`{"out": "[variables('later')]", "later": "[parameters('n')]"}`, `3`},
		{`{"out": "[format('{0}-{1:D3}-{2:N0} {{x}} {3}', 'a', 7, 1234567, true())]"}`, `"a-007-1,234,567 {x} True"`},
		{`{"out": "[split('a,b;c', createArray(',', ';'))]"}`, `["a","b","c"]`},
		{`{"out": "[substring('abcdef', 1, 3)]"}`, `"bcd"`},
		{`{"out": "[replace('a-b-c', '-', '')]"}`, `"abc"`},
		{`{"out": "[base64('ls')]"}`, `"bHM="`},
		{`{"out": "[if(true(), 'yes', substring('a', 5, 1))]"}`, `"yes"`},
		{`{"out": "[and(equals(1, 1), or(false(), not(false())), not(equals('a', 'A')))]"}`, `true`},
		{`{"out": "[empty(createObject())]"}`, `true`},
		{`{"out": "[coalesce(json('null'), 'x')]"}`, `"x"`},
		{`{"out": "[json('{\"a\": [1, \"b\"]}')]"}`, `{"a":[1,"b"]}`},
		{`{"out": "[array('x')]"}`, `["x"]`},
		{`{"out": "[union(createObject('a', 1, 'b', 2), createObject('B', 3))]"}`, `{"a":1,"b":3}`},
		{`{"out": "[union(createArray(1, 2), createArray(2, 3))]"}`, `[1,2,3]`},
		{`{"out": "[createArray(contains(parameters('o'), 'NAME'), contains('abc', 'B'), contains(createArray(1, 2), 2))]"}`, `[true,false,true]`},
		{`{"out": "[length(parameters('o').inner.list)]"}`, `3`},
		{`{"out": "[createArray(string(true()), string(createObject('a', 1)), string(5))]"}`, `["True","{\"a\":1}","5"]`},
		{`{"out": "[createArray(int('42'), bool('TRUE'), bool(0))]"}`, `[42,true,false]`},
		{`{"out": "[createArray(environment().name, environment().suffixes.storage, environment().suffixes.keyvaultDns)]"}`, `["AzureCloud","core.windows.net",".vault.azure.net"]`},
		{`{"out": "[resourceGroup().id]"}`, `"` + rgID + `"`},
		{`{"out": "[createArray(resourceGroup().name, resourceGroup().location, subscription().subscriptionId, subscription().tenantId, deployment().name)]"}`,
			`["rg-probe","eastus","00000000-0000-0000-0000-000000000001","72f988bf-86f1-41af-91ab-2d7cd011db47","dep1"]`},
		{`{"out": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet', 'sn')]"}`, `"` + rgID + `/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sn"`},
		{`{"out": "[resourceId('other-rg', 'Microsoft.Network/virtualNetworks', 'vnet')]"}`, `"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/other-rg/providers/Microsoft.Network/virtualNetworks/vnet"`},
		{`{"out": "[resourceId('sub2', 'other-rg', 'Microsoft.Network/virtualNetworks', 'vnet')]"}`, `"/subscriptions/sub2/resourceGroups/other-rg/providers/Microsoft.Network/virtualNetworks/vnet"`},
		{`{"out": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac')]"}`, `"/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/b24988ac"`},
		{`{"out": "[uniqueString(resourceGroup().id)]"}`, `"2syyewnos7oly"`},
		{`{"out": "[guid('a', 'b', 'c')]"}`, `"a98fa280-e03f-5afa-8d8e-92d0a9c201e8"`},
		{`{"copy": [{"name": "out", "count": 3, "input": "[concat('n', string(copyIndex('out', 1)))]"}]}`, `["n1","n2","n3"]`},
		{`{"out": {"copy": [{"name": "disks", "count": 2, "input": {"lun": "[copyIndex('disks')]"}}]}}`, `{"disks":[{"lun":0},{"lun":1}]}`},
	} {
		v, err := evalVariable(c.vars)
		if err != nil {
			t.Errorf("%s: %v", c.vars, err)
			continue
		}
		if got := jsonText(t, v); got != c.want {
			t.Errorf("%s = %s, want %s", c.vars, got, c.want)
		}
	}
}

func TestBadExpressionsAreInvalidTemplateNamingTheRule(t *testing.T) {
	for _, c := range []struct{ vars, want string }{
		{`{"out": "[listKeys('x', '2020-01-01')]"}`, "the template function 'listKeys' at position 2 is not supported"},
		{`{"out": "[concat('a', utcNow())]"}`, "the template function 'utcNow' at position 14 is not supported"},
		{`{"out": "[substring('a')]"}`, "'substring' at position 2 takes 2 to 3 argument(s); 1 given"},
		{`{"out": "[concat('a']"}`, "the call of concat is not closed"},
		{`{"out": "[concat('a)]"}`, "the string literal is not closed"},
		{`{"out": "[parameters]"}`, `"parameters" must be a function call`},
		{`{"out": "[]"}`, "the expression is empty"},
		{`{"out": "[variables('a')]", "a": "[variables('b')]", "b": "[variables('a')]"}`, "variable 'b': the variable 'a' depends on itself: a -> b -> a"},
		{`{"out": "[parameters('o').nope]"}`, "property 'nope' at position 17 doesn't exist; available properties are 'Name, inner'"},
		{`{"out": "[parameters('o').inner.list[5]]"}`, "array index '5' at position 28 is out of bounds"},
		{`{"out": "[reference('x')]"}`, "reference can only be used in a resource's properties and in outputs"},
		{`{"out": "[substring('abc', 2, 5)]"}`, "must refer to a location within the string"},
		{`{"out": "[parameters('zzz')]"}`, "the template parameter 'zzz' is not found"},
		{`{"out": "[copyIndex()]"}`, "copyIndex can only be used inside a copy loop"},
		{`{"out": "[format('{1}', 'a')]"}`, "format item {1} has no argument"},
		{`{"out": "[int('x1')]"}`, "'x1' is not an integer"},
		{`{"out": "[if('yes', 1, 2)]"}`, "the condition is String; it must be a boolean"},
		{`{"out": "[format('{0,99999999}', 'a')]"}`, "must be an integer from -999999 to 999999"},
		{`{"out": "[json('a: b')]"}`, "the argument is not valid JSON"},
	} {
		_, err := evalVariable(c.vars)
		var te *Error
		if !errors.As(err, &te) || te.Code != CodeInvalidTemplate || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want InvalidTemplate containing %q", c.vars, err, c.want)
			continue
		}
		if te.Line != 9 {
			t.Errorf("%s: error at line %d, want line 9 (the variables line)", c.vars, te.Line)
		}
	}
}

func planParams(decls string, given map[string]any) (*Plan, error) {
	tp, err := Parse([]byte(`{"parameters": ` + decls + `, "resources": []}`))
	if err != nil {
		return nil, err
	}
	return tp.Plan(testDeployment, given)
}

func TestParametersAreCheckedAgainstTheirDeclarations(t *testing.T) {
	for _, c := range []struct {
		decls string
		given map[string]any
		want  string
	}{
		{`{"x": {"type": "string"}}`, nil, "the value for the template parameter 'x' is not provided"},
		{`{"x": {"type": "int"}}`, map[string]any{"x": "3"}, "the value of parameter 'x' is of type String; the parameter's type int needs Integer"},
		{`{"x": {"type": "string", "allowedValues": ["a", "b"]}}`, map[string]any{"x": "c"}, "the provided value 'c' for the template parameter 'x' is not valid: it is not one of the allowed values 'a,b'"},
		{`{"x": {"type": "array", "allowedValues": ["a", "b"]}}`, map[string]any{"x": []any{"a", "z"}}, "the provided value 'z'"},
		{`{"x": {"type": "string", "minLength": 3}}`, map[string]any{"x": "ab"}, "has length 2; minLength allows at least 3"},
		{`{"x": {"type": "securestring", "maxLength": 3}}`, map[string]any{"x": "abcd"}, "has length 4; maxLength allows at most 3"},
		{`{"x": {"type": "int", "maxValue": 3}}`, map[string]any{"x": 4}, "the value 4 of parameter 'x' is above its maxValue 3"},
		{`{"x": {"type": "string"}}`, map[string]any{"x": "a", "y": "b"}, "the template parameters 'y' are not valid: they are not declared in the template; the template declares 'x'"},
		{`{"a": {"type": "string", "defaultValue": "[parameters('b')]"}, "b": {"type": "string", "defaultValue": "[parameters('a')]"}}`, nil, "the parameter 'a' depends on itself: a -> b -> a"},
		{`{"a": {"type": "string", "defaultValue": "[variables('v')]"}}`, nil, "variables can't be used in a parameter's default value"},
		{`{"a": {"type": "text"}}`, nil, "parameter 'a' has type 'text'"},
	} {
		_, err := planParams(c.decls, c.given)
		var te *Error
		if !errors.As(err, &te) || te.Code != CodeInvalidTemplate || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want InvalidTemplate containing %q", c.decls, c.given, err, c.want)
		}
	}
}

func TestParameterDefaultsUseOtherParametersAndSecureOnesAreMarked(t *testing.T) {
	p, err := planParams(`{
	  "a": {"type": "string", "defaultValue": "[concat(parameters('B'), '-', resourceGroup().name)]"},
	  "b": {"type": "string", "defaultValue": "base"},
	  "pw": {"type": "secureString"},
	  "cfg": {"type": "secureObject", "defaultValue": {"k": 1}}
	}`, map[string]any{"pw": "S3cret!"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Parameter{}
	for _, prm := range p.Parameters {
		got[prm.Name] = prm
	}
	if got["a"].Value != "base-rg-probe" || got["a"].Secure {
		t.Errorf("a = %+v, want base-rg-probe, not secure", got["a"])
	}
	if !got["pw"].Secure || !got["cfg"].Secure || got["b"].Secure {
		t.Errorf("secure flags: pw %v cfg %v b %v, want true true false", got["pw"].Secure, got["cfg"].Secure, got["b"].Secure)
	}
}

func TestParametersFile(t *testing.T) {
	for _, src := range []string{
		`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "contentVersion": "1.0.0.0", "parameters": {"n": {"value": 2}, "s": {"value": "[not evaluated]"}}}`,
		`{"n": {"value": 2}, "s": {"value": "[not evaluated]"}}`,
	} {
		ps, err := ParseParameters([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if ps["n"] != int64(2) || ps["s"] != "[not evaluated]" {
			t.Errorf("%s: got %v", src, ps)
		}
	}
	_, err := ParseParameters([]byte(`{"parameters": {"pw": {"reference": {"keyVault": {"id": "/x"}, "secretName": "s"}}}}`))
	if err == nil || !strings.Contains(err.Error(), "parameter 'pw' is a Key Vault reference; they are not supported") {
		t.Errorf("Key Vault reference: error %v", err)
	}
}

// A few lines of template must not build unbounded values: doubling
// variables and copies inside copies are stopped with an error.
func TestEvaluationIsBounded(t *testing.T) {
	vars := []string{`"v0": "0123456789abcdef"`}
	for i := 1; i <= 24; i++ {
		vars = append(vars, fmt.Sprintf(`"v%d": "[concat(variables('v%d'), variables('v%d'))]"`, i, i-1, i-1))
	}
	vars = append(vars, `"out": "[variables('v24')]"`)
	_, err := evalVariable("{" + strings.Join(vars, ",") + "}")
	if err == nil || !strings.Contains(err.Error(), "the limit is 4194304") {
		t.Errorf("doubling strings: error %v", err)
	}
	_, err = evalVariable(`{"out": {"copy": [{"name": "a", "count": 800, "input": {"copy": [{"name": "b", "count": 800,
	  "input": {"copy": [{"name": "c", "count": 800, "input": 1}]}}]}}]}}`)
	if err == nil || !strings.Contains(err.Error(), "copy loops evaluate more than 100000 items") {
		t.Errorf("copies in copies: error %v", err)
	}
}
