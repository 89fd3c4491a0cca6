// Package template evaluates Azure Resource Manager templates and plans
// their deployment: the expression language and its functions, parameters
// and variables, copy loops, conditions, dependencies (explicit and from
// reference()), waves of resources that may be deployed in parallel, inline
// nested deployments and outputs. It is pure: no I/O, no clock; what only
// exists at deployment time (reference() values) comes from a Resolver
// the caller supplies.
package template

import (
	"fmt"
	"strings"

	"securetrain/internal/arm"
)

// Azure's template limits ("Template limits" in "Understand the structure
// and syntax of ARM templates").
const (
	MaxTemplateBytes = 4 << 20
	MaxParameters    = 256
	MaxVariables     = 256
	MaxResources     = 800
	MaxOutputs       = 64
)

// Template is a parsed template: every expression in it has been parsed
// and every function name checked, so an unsupported function is refused
// before anything is evaluated.
type Template struct {
	root     *arm.Value
	exprs    map[*arm.Value]expr
	keyExprs map[keyRef]expr
}

// keyRef names an object key that is an expression.
type keyRef struct {
	obj *arm.Value
	i   int
}

// Parse reads a template (JSON) and checks its shape, its limits and every
// expression in it.
func Parse(data []byte) (*Template, error) {
	if len(data) > MaxTemplateBytes {
		return nil, invalid(0, "the template is %d bytes; the limit is %d bytes (4 MB)", len(data), MaxTemplateBytes)
	}
	if t := strings.TrimSpace(string(data)); t == "" || t[0] != '{' {
		return nil, invalid(0, "a template is a JSON object")
	}
	root, err := arm.ParseDocument(data)
	if err != nil {
		return nil, invalid(0, "the template is not valid JSON: %v", err)
	}
	t := &Template{root: root, exprs: map[*arm.Value]expr{}, keyExprs: map[keyRef]expr{}}
	if err := t.walkTemplate(root, 0); err != nil {
		return nil, err
	}
	return t, nil
}

// maxNesting bounds inline nested deployments inside one another.
const maxNesting = 10

var templateMembers = map[string]bool{
	"$schema": true, "contentversion": true, "parameters": true, "variables": true,
	"resources": true, "outputs": true, "metadata": true,
}

// refusedMembers are template features securetrain does not evaluate; a
// template that uses them is refused rather than half-understood.
var refusedMembers = map[string]string{
	"functions":       "user-defined functions",
	"languageversion": "languageVersion 2.0 templates (symbolic resource names)",
	"definitions":     "user-defined types",
	"apiprofile":      "API profiles",
}

func (t *Template) walkTemplate(node *arm.Value, depth int) error {
	if node.Kind != arm.Object {
		return invalid(node.Line, "a template is a JSON object")
	}
	if depth > maxNesting {
		return invalid(node.Line, "nested templates are nested deeper than %d levels", maxNesting)
	}
	for i, k := range node.Keys {
		lk := fold(k)
		if what, ok := refusedMembers[lk]; ok {
			return invalid(node.Fields[i].Line, "%s (the template member '%s') are not supported; see docs/templates.md", what, k)
		}
		if !templateMembers[lk] {
			return invalid(node.Fields[i].Line, "could not find member '%s' on object of type 'Template': a template has $schema, contentVersion, parameters, variables, resources, outputs and metadata", k)
		}
	}
	if schema := member(node, "$schema"); schema != nil && schema.Kind == arm.String {
		for _, other := range []string{"subscriptionDeploymentTemplate", "managementGroupDeploymentTemplate", "tenantDeploymentTemplate"} {
			if strings.Contains(strings.ToLower(schema.Str), strings.ToLower(other)) {
				return invalid(schema.Line, "the template's $schema is %s: only resource-group deployments (deploymentTemplate.json) are supported", other)
			}
		}
	}
	for _, c := range []struct {
		member string
		limit  int
	}{{"parameters", MaxParameters}, {"variables", MaxVariables}, {"outputs", MaxOutputs}} {
		v := member(node, c.member)
		if v == nil {
			continue
		}
		if v.Kind != arm.Object {
			return invalid(v.Line, "the template's %s must be an object", c.member)
		}
		if len(v.Keys) > c.limit {
			return invalid(v.Line, "the template declares %d %s; the limit is %d", len(v.Keys), c.member, c.limit)
		}
	}
	if params := member(node, "parameters"); params != nil {
		for _, decl := range params.Fields {
			if def := member(decl, "defaultValue"); def != nil {
				if err := t.walkValue(def); err != nil {
					return err
				}
			}
		}
	}
	if vars := member(node, "variables"); vars != nil {
		if err := t.walkValue(vars); err != nil {
			return err
		}
	}
	if res := member(node, "resources"); res != nil {
		if res.Kind != arm.Array {
			return invalid(res.Line, "the template's resources must be an array (symbolic resource names, languageVersion 2.0, are not supported)")
		}
		for _, r := range res.Items {
			if err := t.walkResource(r, depth); err != nil {
				return err
			}
		}
	}
	if outs := member(node, "outputs"); outs != nil {
		for _, o := range outs.Fields {
			if o.Kind != arm.Object {
				return invalid(o.Line, "an output must be an object with a type and a value")
			}
			for i, k := range o.Keys {
				if !strings.EqualFold(k, "metadata") {
					if err := t.walkValue(o.Fields[i]); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (t *Template) walkResource(r *arm.Value, depth int) error {
	if r.Kind != arm.Object {
		return invalid(r.Line, "a resource must be an object")
	}
	typ := member(r, "type")
	deployment := typ != nil && typ.Kind == arm.String && strings.EqualFold(typ.Str, typeDeployments)
	for i, k := range r.Keys {
		f := r.Fields[i]
		switch lk := fold(k); {
		case lk == "comments":
		case lk == "resources":
			if f.Kind != arm.Array {
				return invalid(f.Line, "a resource's resources (its children) must be an array")
			}
			for _, child := range f.Items {
				if err := t.walkResource(child, depth); err != nil {
					return err
				}
			}
		case lk == "properties" && deployment:
			if err := t.walkDeploymentProperties(f, depth); err != nil {
				return err
			}
		default:
			if err := t.walkValue(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Template) walkDeploymentProperties(props *arm.Value, depth int) error {
	if props.Kind != arm.Object {
		return invalid(props.Line, "a deployment's properties must be an object")
	}
	for i, k := range props.Keys {
		f := props.Fields[i]
		switch fold(k) {
		case "templatelink", "parameterslink":
			return &Error{Code: CodeLinkedTemplateNotSupported, Line: f.Line,
				Message: fmt.Sprintf("the nested deployment uses %s: linked templates are not supported; put the template inline (properties.template)", k)}
		case "template":
			if err := t.walkTemplate(f, depth+1); err != nil {
				return err
			}
		default:
			if err := t.walkValue(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkValue parses every expression in a value (strings and object keys).
func (t *Template) walkValue(v *arm.Value) error {
	switch v.Kind {
	case arm.String:
		x, err := t.parseString(v.Str, v.Line)
		if err != nil || x == nil {
			return err
		}
		t.exprs[v] = x
	case arm.Array:
		for _, it := range v.Items {
			if err := t.walkValue(it); err != nil {
				return err
			}
		}
	case arm.Object:
		for i, k := range v.Keys {
			x, err := t.parseString(k, v.Fields[i].Line)
			if err != nil {
				return err
			}
			if x != nil {
				t.keyExprs[keyRef{v, i}] = x
			}
			if err := t.walkValue(v.Fields[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Template) parseString(s string, line int) (expr, error) {
	isExpr, body := classify(s)
	if !isExpr {
		return nil, nil
	}
	x, err := parseExpression(body)
	if err == nil {
		walkCalls(x, func(c *call) {
			if err == nil {
				err = checkArity(c)
			}
		})
	}
	if err != nil {
		return nil, invalid(line, "the template language expression '%s' is not valid: %v", clip(s), err)
	}
	return x, nil
}

// clip shortens long expressions in messages.
func clip(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

// ParseParameters reads a parameters file: the deploymentParameters form
// ({"parameters": {"name": {"value": …}}}) or the bare map of name to
// {"value": …}. Values are literal: expressions in them are not evaluated,
// as in Azure.
func ParseParameters(data []byte) (map[string]any, error) {
	doc, err := arm.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("parameters file: %w", err)
	}
	if doc.Kind != arm.Object {
		return nil, fmt.Errorf("parameters file: a JSON object is expected")
	}
	params := doc
	if p := member(doc, "parameters"); p != nil && (member(doc, "$schema") != nil || member(doc, "contentVersion") != nil || len(doc.Keys) == 1) {
		params = p
	}
	if params.Kind != arm.Object {
		return nil, fmt.Errorf("parameters file: parameters must be an object")
	}
	out := make(map[string]any, len(params.Keys))
	for i, name := range params.Keys {
		entry := params.Fields[i]
		if member(entry, "reference") != nil {
			return nil, fmt.Errorf("parameters file: line %d: parameter '%s' is a Key Vault reference; they are not supported: give the value", entry.Line, name)
		}
		v := member(entry, "value")
		if entry.Kind != arm.Object || v == nil {
			return nil, fmt.Errorf("parameters file: line %d: parameter '%s' must be an object {\"value\": …}", entry.Line, name)
		}
		val, err := fromDocument(v)
		if err != nil {
			return nil, fmt.Errorf("parameters file: parameter '%s': %w", name, err)
		}
		out[name] = val
	}
	return out, nil
}
