package arm

import (
	"errors"
	"strings"
	"testing"
)

// Issue 16: YAML syntax errors are reported at the offending token, at
// several depths, in block and flow style — not at the start of the
// enclosing block, where yaml/v3 alone puts some of them.
func TestYAMLSyntaxErrorPositions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		doc        string
		line, col  int
		msgContain string
	}{
		{"top level, key indented too far", "subscription: s\n  resources: []\n", 2, 3, "mapping values are not allowed"},
		{"depth 2, key indented too far", "resources:\n  - type: t\n    name: n\n     location: l\n", 4, 6, "mapping values are not allowed"},
		{"depth 4, key indented too little", "resources:\n  - type: t\n    properties:\n      subnets:\n        - name: a\n          properties:\n            addressPrefix: p\n           routeTable: {id: x}\n", 8, 12, "did not find expected key"},
		{"depth 3, sequence item out of line", "resources:\n  - type: t\n    properties:\n      addressPrefixes:\n        - 10.0.0.0/8\n       - 10.1.0.0/16\n", 6, 8, ""},
		{"flow mapping not closed", "resources:\n  - type: t\n    properties: {addressSpace: {addressPrefixes: [10.0.0.0/16]}\n    name: n\n", 4, 5, "did not find expected ',' or '}'"},
		{"flow sequence with a stray colon", "resources:\n  - type: t\n    tags: [a, b: c: d]\n", 3, 18, ""},
	} {
		_, err := ParseDocument([]byte(tc.doc))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%s: %v, want a SyntaxError", tc.name, err)
			continue
		}
		if se.Line != tc.line || se.Column != tc.col || !strings.Contains(se.Message, tc.msgContain) {
			t.Errorf("%s: line %d, column %d: %s; want line %d, column %d", tc.name, se.Line, se.Column, se.Message, tc.line, tc.col)
		}
	}
}
