package template

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"securetrain/internal/arm"
)

// Deployment is where a template is deployed: what resourceGroup(),
// subscription() and deployment() report, and where its resources go.
type Deployment struct {
	Name             string // the deployment's name
	SubscriptionID   string
	SubscriptionName string
	TenantID         string
	ResourceGroup    string
	Location         string // the resource group's location
	// Mode is "" or "Incremental"; "Complete" is refused.
	Mode string
	// GroupLocation gives the location of another resource group that a
	// nested deployment targets; nil, or false, when it is not known.
	GroupLocation func(subscription, group string) (string, bool)
}

// Resolver supplies what only exists once resources are deployed: the
// value reference() returns. For a resource it is the resource's
// properties (full: the whole resource); for a nested deployment
// (Microsoft.Resources/deployments) its properties, whose outputs member
// holds {name: {type, value}}. Values may be plain decoded JSON or
// template values.
type Resolver interface {
	Reference(id arm.ID, apiVersion string, full bool) (any, error)
}

// site is the part of a template an expression stands in; some functions
// are allowed only in some parts, as in Azure.
type site int

const (
	siteParameter site = iota // a parameter's defaultValue
	siteVariable
	siteHeader // a resource's name, type, apiVersion, condition, dependsOn, copy
	siteBody   // the rest of a resource: what is sent to the resource provider
	siteOutput
)

// scope is one template's evaluation state: its parameters and variables
// (evaluated lazily, once), the deployment facts, and — once planned — its
// resources, for reference() and dependsOn by name.
type scope struct {
	t      *Template
	node   *arm.Value // the template object
	ctx    Deployment
	params map[string]*slot
	vars   map[string]*slot
	order  []*slot // parameters in declaration order
	// busy is the chain of parameters and variables being evaluated, to
	// name a cycle.
	busy  []string
	index *resourceIndex
}

// Bounds on what one evaluation may build, so that a small hostile
// template (copies inside copies, variables that double each other)
// cannot exhaust memory or time.
const (
	maxCopyIterations = 100_000
	maxStringLength   = 4 << 20
	maxArrayLength    = 100_000
)

// slot is one parameter or variable.
type slot struct {
	kind     string // "parameter" or "variable"
	name     string
	decl     *arm.Value // parameter declaration, or variable value
	copySpec *arm.Value // for variables declared in the variables' copy array
	supplied bool
	given    any
	state    int // 0 not evaluated, 1 evaluating, 2 done
	value    any
	secure   bool
	typ      string
}

// env is what one evaluation sees: the scope, the site, the copy loops in
// effect (innermost last) and the resolver for reference() (nil: values
// are not known yet).
type env struct {
	s     *scope
	where site
	loops []loop
	refs  Resolver
	// copies counts the copy loop iterations of this evaluation, bounded
	// by maxCopyIterations. It belongs to the evaluation, not the scope:
	// the bodies of one wave may be evaluated at the same time.
	copies *int
}

func (s *scope) env(where site, loops []loop, refs Resolver) *env {
	return &env{s: s, where: where, loops: loops, refs: refs, copies: new(int)}
}

type loop struct {
	name     string
	index    int64
	resource bool // the resource's own copy loop, which copyIndex() without a name means
}

func fold(s string) string { return strings.ToLower(s) }

// newScope declares a template's parameters (with the values given) and
// variables. Values given for undeclared parameters are refused.
func newScope(t *Template, node *arm.Value, ctx Deployment, given map[string]any) (*scope, error) {
	s := &scope{t: t, node: node, ctx: ctx, params: map[string]*slot{}, vars: map[string]*slot{}}
	if decls := member(node, "parameters"); decls != nil {
		for i, name := range decls.Keys {
			sl := &slot{kind: "parameter", name: name, decl: decls.Fields[i]}
			s.params[fold(name)] = sl
			s.order = append(s.order, sl)
		}
	}
	var unknown []string
	for name, v := range given {
		sl := s.params[fold(name)]
		if sl == nil {
			unknown = append(unknown, name)
			continue
		}
		sl.supplied, sl.given = true, v
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		var known []string
		for _, sl := range s.order {
			known = append(known, sl.name)
		}
		return nil, invalid(0, "the template parameters '%s' are not valid: they are not declared in the template; the template declares '%s'",
			strings.Join(unknown, "', '"), strings.Join(known, "', '"))
	}
	if decls := member(node, "variables"); decls != nil {
		for i, name := range decls.Keys {
			if strings.EqualFold(name, "copy") {
				if err := s.declareVariableCopies(decls.Fields[i]); err != nil {
					return nil, err
				}
				continue
			}
			s.vars[fold(name)] = &slot{kind: "variable", name: name, decl: decls.Fields[i]}
		}
	}
	return s, nil
}

func (s *scope) declareVariableCopies(list *arm.Value) error {
	if list.Kind != arm.Array {
		return invalid(list.Line, "variables: copy must be an array of {name, count, input}")
	}
	for _, spec := range list.Items {
		name := member(spec, "name")
		if spec.Kind != arm.Object || name == nil || name.Kind != arm.String || name.Str == "" {
			return invalid(spec.Line, "variables: each copy entry needs a name (a string), a count and an input")
		}
		s.vars[fold(name.Str)] = &slot{kind: "variable", name: name.Str, copySpec: spec}
	}
	return nil
}

// member is an object member by name, ignoring case (template keywords
// such as dependsOn are matched that way in Azure).
func member(v *arm.Value, key string) *arm.Value {
	if v == nil || v.Kind != arm.Object {
		return nil
	}
	for i, k := range v.Keys {
		if strings.EqualFold(k, key) {
			return v.Fields[i]
		}
	}
	return nil
}

func (s *scope) enter(sl *slot) error {
	switch sl.state {
	case 1:
		chain := append(append([]string(nil), s.busy...), sl.name)
		start := 0
		for i, n := range chain {
			if n == sl.name {
				start = i
				break
			}
		}
		return invalid(0, "the %s '%s' depends on itself: %s", sl.kind, sl.name, strings.Join(chain[start:], " -> "))
	}
	sl.state = 1
	s.busy = append(s.busy, sl.name)
	return nil
}

func (s *scope) leave(sl *slot, v any) {
	sl.state, sl.value = 2, v
	s.busy = s.busy[:len(s.busy)-1]
}

// parameter returns a parameter's value: the one given, or its default
// (which may use other parameters), checked against its declaration.
func (s *scope) parameter(name string) (any, error) {
	sl := s.params[fold(name)]
	if sl == nil {
		return nil, invalid(0, "the template parameter '%s' is not found; the template declares %s", name, s.paramNames())
	}
	if sl.state == 2 {
		return sl.value, nil
	}
	if err := s.enter(sl); err != nil {
		return nil, err
	}
	v, err := s.evalParameter(sl)
	if err != nil {
		sl.state = 0
		s.busy = s.busy[:len(s.busy)-1]
		return nil, err
	}
	s.leave(sl, v)
	return v, nil
}

func (s *scope) paramNames() string {
	if len(s.order) == 0 {
		return "no parameters"
	}
	var names []string
	for _, sl := range s.order {
		names = append(names, "'"+sl.name+"'")
	}
	return strings.Join(names, ", ")
}

var parameterTypes = map[string]string{
	"string": "String", "securestring": "String", "int": "Integer", "bool": "Boolean",
	"object": "Object", "secureobject": "Object", "array": "Array",
}

func (s *scope) evalParameter(sl *slot) (any, error) {
	d := sl.decl
	if d.Kind != arm.Object {
		return nil, invalid(d.Line, "parameter '%s' must be declared as an object with a type", sl.name)
	}
	typ := member(d, "type")
	if typ == nil || typ.Kind != arm.String {
		return nil, invalid(d.Line, "parameter '%s' has no type; give one of string, securestring, int, bool, object, secureObject, array", sl.name)
	}
	want, ok := parameterTypes[fold(typ.Str)]
	if !ok {
		return nil, invalid(typ.Line, "parameter '%s' has type '%s'; the types are string, securestring, int, bool, object, secureObject, array", sl.name, typ.Str)
	}
	sl.typ = typ.Str
	sl.secure = strings.HasPrefix(fold(typ.Str), "secure")
	var v any
	switch def := member(d, "defaultValue"); {
	case sl.supplied:
		v = sl.given
	case def != nil:
		e := s.env(siteParameter, nil, nil)
		var err error
		if v, err = e.value(def); err != nil {
			return nil, within(atLine(err, def.Line), fmt.Sprintf("parameter '%s' default value", sl.name))
		}
	default:
		return nil, invalid(d.Line, "the value for the template parameter '%s' is not provided", sl.name)
	}
	if got := typeName(v); got != want {
		return nil, invalid(d.Line, "the value of parameter '%s' is of type %s; the parameter's type %s needs %s", sl.name, got, typ.Str, want)
	}
	return v, checkConstraints(sl.name, d, v)
}

func checkConstraints(name string, d *arm.Value, v any) error {
	if allowed := member(d, "allowedValues"); allowed != nil {
		if allowed.Kind != arm.Array {
			return invalid(allowed.Line, "parameter '%s': allowedValues must be an array", name)
		}
		list, err := fromDocument(allowed)
		if err != nil {
			return err
		}
		in := func(x any) bool {
			for _, a := range list.([]any) {
				if equal(a, x) {
					return true
				}
			}
			return false
		}
		values := []any{v}
		if arr, ok := v.([]any); ok {
			values = arr
		}
		for _, x := range values {
			if !in(x) {
				var texts []string
				for _, a := range list.([]any) {
					texts = append(texts, toText(a))
				}
				return invalid(d.Line, "the provided value '%s' for the template parameter '%s' is not valid: it is not one of the allowed values '%s'",
					toText(x), name, strings.Join(texts, ","))
			}
		}
	}
	length := -1
	switch x := v.(type) {
	case string:
		length = utf8.RuneCountInString(x)
	case []any:
		length = len(x)
	}
	for _, c := range []struct {
		key  string
		fail func(limit, got int64) bool
		rule string
	}{
		{"minLength", func(l, g int64) bool { return length >= 0 && g < l }, "at least"},
		{"maxLength", func(l, g int64) bool { return length >= 0 && g > l }, "at most"},
	} {
		if lim := member(d, c.key); lim != nil {
			n, err := literalInt(lim)
			if err != nil {
				return invalid(lim.Line, "parameter '%s': %s must be an integer", name, c.key)
			}
			if c.fail(n, int64(length)) {
				return invalid(d.Line, "the value of parameter '%s' has length %d; %s allows %s %d", name, length, c.key, c.rule, n)
			}
		}
	}
	if n, ok := v.(int64); ok {
		if lim := member(d, "minValue"); lim != nil {
			if m, err := literalInt(lim); err != nil || n < m {
				return invalid(d.Line, "the value %d of parameter '%s' is below its minValue %s", n, name, lim.Str)
			}
		}
		if lim := member(d, "maxValue"); lim != nil {
			if m, err := literalInt(lim); err != nil || n > m {
				return invalid(d.Line, "the value %d of parameter '%s' is above its maxValue %s", n, name, lim.Str)
			}
		}
	}
	return nil
}

func literalInt(v *arm.Value) (int64, error) {
	n, err := parseNumber(v.Str, v.Line)
	if err != nil || v.Kind != arm.Number {
		return 0, errors.New("not an integer")
	}
	i, ok := n.(int64)
	if !ok {
		return 0, errors.New("not an integer")
	}
	return i, nil
}

// variable returns a variable's value, evaluating it on first use; a
// variable may use one declared after it.
func (s *scope) variable(name string) (any, error) {
	sl := s.vars[fold(name)]
	if sl == nil {
		return nil, invalid(0, "the template variable '%s' is not found", name)
	}
	if sl.state == 2 {
		return sl.value, nil
	}
	if err := s.enter(sl); err != nil {
		return nil, err
	}
	e := s.env(siteVariable, nil, nil)
	var v any
	var err error
	if sl.copySpec != nil {
		_, v, err = e.copyArray(sl.copySpec)
	} else {
		v, err = e.value(sl.decl)
	}
	if err != nil {
		sl.state = 0
		s.busy = s.busy[:len(s.busy)-1]
		return nil, within(err, fmt.Sprintf("variable '%s'", sl.name))
	}
	s.leave(sl, v)
	return v, nil
}

// value evaluates a template JSON value: expressions in strings and keys,
// property copy loops in objects; an object member whose expression
// evaluates to null is left out.
func (e *env) value(v *arm.Value) (any, error) {
	switch v.Kind {
	case arm.String:
		x, ok := e.s.t.exprs[v]
		if !ok {
			_, text := classify(v.Str)
			return text, nil
		}
		out, err := e.eval(x)
		if err != nil {
			return nil, atLine(err, v.Line)
		}
		return out, nil
	case arm.Array:
		out := make([]any, 0, len(v.Items))
		for _, it := range v.Items {
			cv, err := e.value(it)
			if err != nil {
				return nil, err
			}
			out = append(out, cv)
		}
		return out, nil
	case arm.Object:
		o := &Object{}
		for i, k := range v.Keys {
			f := v.Fields[i]
			if strings.EqualFold(k, "copy") && f.Kind == arm.Array && e.where != siteHeader {
				for _, spec := range f.Items {
					name, arr, err := e.copyArray(spec)
					if err != nil {
						return nil, err
					}
					o.Set(name, arr)
				}
				continue
			}
			key := k
			if x, ok := e.s.t.keyExprs[keyRef{v, i}]; ok {
				kv, err := e.eval(x)
				if err != nil {
					return nil, atLine(err, f.Line)
				}
				s, isStr := kv.(string)
				if !isStr {
					return nil, invalid(f.Line, "the object key %q evaluates to %s; a key must be a string", k, typeName(kv))
				}
				key = s
			}
			cv, err := e.value(f)
			if err != nil {
				return nil, err
			}
			if cv == nil && f.Kind == arm.String && e.s.t.exprs[f] != nil {
				continue
			}
			o.Set(key, cv)
		}
		return o, nil
	}
	return fromDocument(v)
}

// maxCopyCount is Azure's limit on one copy loop.
const maxCopyCount = 800

// copyArray evaluates a {name, count, input} copy (of a property or a
// variable) into its array.
func (e *env) copyArray(spec *arm.Value) (string, []any, error) {
	nameV, countV, input := member(spec, "name"), member(spec, "count"), member(spec, "input")
	if spec.Kind != arm.Object || nameV == nil || nameV.Kind != arm.String || countV == nil || input == nil {
		return "", nil, invalid(spec.Line, "a copy entry needs name (a string), count and input")
	}
	n, err := e.count(countV)
	if err != nil {
		return "", nil, err
	}
	out := make([]any, 0, n)
	for i := range n {
		if *e.copies++; *e.copies > maxCopyIterations {
			return "", nil, invalid(spec.Line, "the template's copy loops evaluate more than %d items", maxCopyIterations)
		}
		inner := e.with(loop{name: nameV.Str, index: i})
		v, err := inner.value(input)
		if err != nil {
			return "", nil, err
		}
		out = append(out, v)
	}
	return nameV.Str, out, nil
}

// count evaluates a copy count: an integer from 0 to 800.
func (e *env) count(v *arm.Value) (int64, error) {
	c, err := e.value(v)
	if err != nil {
		return 0, err
	}
	n, ok := c.(int64)
	if !ok {
		return 0, invalid(v.Line, "copy count is %s; it must be an integer", typeName(c))
	}
	if n < 0 || n > maxCopyCount {
		return 0, invalid(v.Line, "copy count is %d; it must be from 0 to %d", n, maxCopyCount)
	}
	return n, nil
}

func (e *env) with(l loop) *env {
	cp := *e
	cp.loops = append(append([]loop(nil), e.loops...), l)
	return &cp
}

// eval evaluates one parsed expression.
func (e *env) eval(x expr) (any, error) {
	switch n := x.(type) {
	case *strLit:
		return n.s, nil
	case *intLit:
		return n.n, nil
	case *access:
		target, err := e.eval(n.target)
		if err != nil {
			return nil, err
		}
		if n.index == nil {
			return property(target, n.prop, n.pos)
		}
		idx, err := e.eval(n.index)
		if err != nil {
			return nil, err
		}
		return index(target, idx, n.pos)
	case *call:
		f := functions[fold(n.name)]
		if f == nil {
			return nil, invalid(0, "the template function '%s' at position %d is not supported", n.name, n.pos)
		}
		var out any
		var err error
		if f.lazy != nil {
			out, err = f.lazy(e, n)
		} else {
			args := make([]any, len(n.args))
			for i, a := range n.args {
				if args[i], err = e.eval(a); err != nil {
					return nil, err
				}
			}
			out, err = f.eval(e, n, args)
		}
		var fe funcError
		if errors.As(err, &fe) {
			return nil, invalid(0, "the template function '%s' at position %d: %s", n.name, n.pos, fe.msg)
		}
		return out, err
	}
	return nil, fmt.Errorf("unknown expression node %T", x)
}

func property(target any, name string, pos int) (any, error) {
	o, ok := target.(*Object)
	if !ok {
		return nil, invalid(0, "the language expression property '%s' at position %d can't be evaluated: the value is %s, not an object", name, pos, typeName(target))
	}
	v, found := o.Get(name)
	if !found {
		return nil, invalid(0, "the language expression property '%s' at position %d doesn't exist; available properties are '%s'", name, pos, strings.Join(o.Keys, ", "))
	}
	return v, nil
}

func index(target, idx any, pos int) (any, error) {
	switch t := target.(type) {
	case []any:
		i, ok := idx.(int64)
		if !ok {
			return nil, invalid(0, "the array index at position %d is %s; it must be an integer", pos, typeName(idx))
		}
		if i < 0 || i >= int64(len(t)) {
			return nil, invalid(0, "the language expression array index '%d' at position %d is out of bounds: the array has %d items", i, pos, len(t))
		}
		return t[i], nil
	case *Object:
		k, ok := idx.(string)
		if !ok {
			return nil, invalid(0, "the property name at position %d is %s; it must be a string", pos, typeName(idx))
		}
		return property(t, k, pos)
	}
	return nil, invalid(0, "the value indexed at position %d is %s, not an array or an object", pos, typeName(target))
}

// funcError is a function's complaint about its arguments; eval names the
// function and its position.
type funcError struct{ msg string }

func (f funcError) Error() string { return f.msg }

func fail(format string, a ...any) error { return funcError{fmt.Sprintf(format, a...)} }
