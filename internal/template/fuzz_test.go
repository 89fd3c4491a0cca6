package template

import (
	"encoding/json"
	"testing"
)

// FuzzExpression feeds arbitrary text to the expression parser and, when
// it parses, evaluates it as a template output: neither may panic, and a
// refusal is always an InvalidTemplate error.
func FuzzExpression(f *testing.F) {
	for _, seed := range []string{
		"[concat('a', parameters('p'))]", "[[x]", "[parameters('o').a[0]]", "[format('{0:N2}', 5)]",
		"[if(equals(1, 1), createObject('a', json('[1,2]')), null())]", "[split('a,b', ',')[1]]",
		"[substring('abc', -1)]", "['it''s']", "[-9223372036854775808]", "[copyIndex()]",
		"[union(createArray(1), createArray(2))]", "[uniqueString(resourceGroup().id)]", "[a(b(c(d(",
	} {
		f.Add(seed)
	}
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, expression string) {
	{
		value, err := json.Marshal(expression)
		if err != nil {
			return
		}
		src := `{"parameters": {"p": {"type": "string", "defaultValue": "v"}, "o": {"type": "object", "defaultValue": {"a": [1]}}},
		  "resources": [], "outputs": {"x": {"type": "string", "value": ` + string(value) + `}}}`
		tp, err := Parse([]byte(src))
		if err != nil {
			wantTemplateError(t, err)
			return
		}
		p, err := tp.Plan(testDeployment, nil)
		if err != nil {
			wantTemplateError(t, err)
			return
		}
		if _, err := p.Outputs(nil); err != nil {
			wantTemplateError(t, err)
		}
	}
}

func wantTemplateError(t *testing.T, err error) {
	t.Helper()
	if te, ok := err.(*Error); !ok || te.Code != CodeInvalidTemplate || te.Message == "" {
		t.Fatalf("error %T %v, want an InvalidTemplate *Error", err, err)
	}
}
