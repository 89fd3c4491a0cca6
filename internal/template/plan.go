package template

import (
	"fmt"
	"slices"
	"strings"

	"securetrain/internal/arm"
)

const typeDeployments = "Microsoft.Resources/deployments"

// maxPlannedResources bounds the resources of a plan and all its nested
// deployments together, so copy loops inside nested copies cannot make a
// template of a few lines plan millions of resources.
const maxPlannedResources = 10 * MaxResources

// Plan is an evaluated template: the resources to deploy (conditions
// applied, copies expanded), each with the resources it waits for, grouped
// in waves that may each be deployed in parallel.
type Plan struct {
	// Deployment is what the template's functions report.
	Deployment Deployment
	// SubscriptionID and ResourceGroup are where the resources go (a nested
	// deployment evaluated in the outer scope reports its parent's group
	// from resourceGroup() but deploys into its own).
	SubscriptionID string
	ResourceGroup  string
	Parameters     []Parameter
	// Resources are those whose condition holds, in template order.
	Resources []*Resource
	// Skipped are those whose condition is false: not deployed, and
	// dependencies on them are dropped.
	Skipped []*Resource
	// Waves: every resource of a wave depends only on resources of earlier
	// waves.
	Waves [][]*Resource

	scope *scope
}

// Parameter is an evaluated parameter. Secure ones (securestring,
// secureObject) must never be written to records, logs or responses.
type Parameter struct {
	Name   string
	Type   string
	Value  any
	Secure bool
}

// Resource is one resource of the plan.
type Resource struct {
	ID         arm.ID
	Type       string
	APIVersion string
	Name       string
	Line       int
	// Copy is the copy loop the resource comes from ("" outside one) and
	// Index its iteration.
	Copy  string
	Index int
	// DependsOn are the resources this one waits for: its dependsOn, the
	// resources its reference() calls name, the parent it is declared in,
	// and the previous batch of a serial copy loop.
	DependsOn []*Resource
	Wave      int
	// Nested is set for an inline nested deployment.
	Nested *NestedDeployment
	// Deferred: the body uses reference() and can only be evaluated
	// during the deployment.
	Deferred bool

	node      *arm.Value
	env       *env
	condition bool
	parent    *Resource
	serial    int // batch size of a serial copy loop (0: parallel)
}

// NestedDeployment is an inline nested deployment (Microsoft.Resources/
// deployments with properties.template).
type NestedDeployment struct {
	// Scope is "inner" (the nested template has its own parameters and
	// variables) or "outer" (it sees its parent's).
	Scope          string
	SubscriptionID string
	ResourceGroup  string
	// Plan is the nested template's plan; nil when the parameters passed
	// to it use reference(): then Resolve gives it during the deployment.
	Plan  *Plan
	build func(Resolver) (*Plan, error)
}

// Resolve plans the nested template with reference() values available.
func (n *NestedDeployment) Resolve(res Resolver) (*Plan, error) { return n.build(res) }

// Plan evaluates the template for a deployment with the given parameter
// values (plain decoded JSON or template values) and plans it.
func (t *Template) Plan(d Deployment, params map[string]any) (*Plan, error) {
	if d.Mode != "" && !strings.EqualFold(d.Mode, "Incremental") {
		if strings.EqualFold(d.Mode, "Complete") {
			return nil, &Error{Code: CodeCompleteModeNotSupported, Message: "Complete mode deletes every resource of the group the template does not declare; securetrain deploys in Incremental mode only"}
		}
		return nil, invalid(0, "the deployment mode is '%s'; it must be Incremental", d.Mode)
	}
	given := make(map[string]any, len(params))
	for k, v := range params {
		cv, err := FromPlain(v)
		if err != nil {
			return nil, invalid(0, "parameter '%s': %v", k, err)
		}
		given[k] = cv
	}
	s, err := newScope(t, t.root, d, given)
	if err != nil {
		return nil, err
	}
	pl := &planner{budget: maxPlannedResources}
	return pl.plan(s, d.SubscriptionID, d.ResourceGroup, 0)
}

type planner struct {
	budget int
}

func (pl *planner) plan(s *scope, sub, rg string, depth int) (*Plan, error) {
	p := &Plan{Deployment: s.ctx, SubscriptionID: sub, ResourceGroup: rg, scope: s}
	for _, sl := range s.order {
		v, err := s.parameter(sl.name)
		if err != nil {
			return nil, err
		}
		p.Parameters = append(p.Parameters, Parameter{Name: sl.name, Type: sl.typ, Value: v, Secure: sl.secure})
	}
	names := make([]string, 0, len(s.vars))
	for _, sl := range s.vars {
		names = append(names, sl.name)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := s.variable(n); err != nil {
			return nil, err
		}
	}
	x := &resourceIndex{byKey: map[string][]*Resource{}, loops: map[string][]*Resource{}}
	s.index = x
	root := s.env(siteHeader, nil, nil)
	if res := member(s.node, "resources"); res != nil {
		if err := pl.expand(x, res, nil, root, sub, rg); err != nil {
			return nil, err
		}
	}
	if len(x.all) > MaxResources {
		return nil, invalid(0, "the template declares %d resources (copies included); the limit is %d", len(x.all), MaxResources)
	}
	seen := map[string]*Resource{}
	for _, r := range x.all {
		if !r.condition {
			p.Skipped = append(p.Skipped, r)
			continue
		}
		if prev := seen[r.ID.Key()]; prev != nil {
			return nil, invalid(r.Line, "the resource '%s' is defined more than once in the template (lines %d and %d)", r.ID, prev.Line, r.Line)
		}
		seen[r.ID.Key()] = r
		p.Resources = append(p.Resources, r)
	}
	for _, r := range p.Resources {
		if err := x.link(r); err != nil {
			return nil, err
		}
	}
	waves, err := order(p.Resources)
	if err != nil {
		return nil, err
	}
	p.Waves = waves
	for _, r := range p.Resources {
		if r.Nested != nil {
			if err := pl.nested(r, depth); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := r.Body(nil); err != nil {
			if !IsDeferred(err) {
				return nil, err
			}
			r.Deferred = true
		}
	}
	if _, err := p.Outputs(nil); err != nil && !IsDeferred(err) {
		return nil, err
	}
	return p, nil
}

// templateKeywords are the members of a resource that direct the
// deployment and are not sent to the resource provider.
var templateKeywords = map[string]bool{
	"type": true, "apiversion": true, "name": true, "condition": true, "dependson": true,
	"copy": true, "comments": true, "resources": true, "resourcegroup": true, "subscriptionid": true,
}

// expand evaluates the headers of a resources array (and of the resources
// declared inside them), expanding copy loops.
func (pl *planner) expand(x *resourceIndex, list *arm.Value, parent *Resource, e *env, sub, rg string) error {
	for _, node := range list.Items {
		cp := member(node, "copy")
		if cp == nil {
			if err := pl.instance(x, node, parent, e, sub, rg, "", 0, 0); err != nil {
				return err
			}
			continue
		}
		if parent != nil {
			return invalid(cp.Line, "a resource declared inside another can't have a copy loop; declare it at the top level")
		}
		name, count, serial, err := e.resourceCopy(cp)
		if err != nil {
			return err
		}
		for i := range count {
			if err := pl.instance(x, node, nil, e.with(loop{name: name, index: i, resource: true}), sub, rg, name, int(i), serial); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *env) resourceCopy(cp *arm.Value) (name string, count int64, serial int, err error) {
	nameV, countV := member(cp, "name"), member(cp, "count")
	if cp.Kind != arm.Object || nameV == nil || nameV.Kind != arm.String || nameV.Str == "" || countV == nil {
		return "", 0, 0, invalid(cp.Line, "a resource copy needs a name (a string) and a count")
	}
	if count, err = e.count(countV); err != nil {
		return "", 0, 0, err
	}
	if mode := member(cp, "mode"); mode != nil {
		m, err := e.value(mode)
		if err != nil {
			return "", 0, 0, err
		}
		switch ms, _ := m.(string); strings.ToLower(ms) {
		case "parallel":
		case "serial":
			serial = 1
			if bs := member(cp, "batchSize"); bs != nil {
				b, err := e.value(bs)
				if err != nil {
					return "", 0, 0, err
				}
				n, ok := b.(int64)
				if !ok || n < 1 || n > maxCopyCount {
					return "", 0, 0, invalid(bs.Line, "copy batchSize must be an integer from 1 to %d", maxCopyCount)
				}
				serial = int(n)
			}
		default:
			return "", 0, 0, invalid(mode.Line, "copy mode is '%v'; it must be Parallel or Serial", m)
		}
	}
	return nameV.Str, count, serial, nil
}

func (e *env) headerString(node *arm.Value, key string, required bool) (string, int, error) {
	v := member(node, key)
	if v == nil {
		if required {
			return "", node.Line, invalid(node.Line, "the resource is missing the required property '%s'", key)
		}
		return "", node.Line, nil
	}
	out, err := e.value(v)
	if err != nil {
		return "", v.Line, err
	}
	s, ok := out.(string)
	if !ok || (required && s == "") {
		return "", v.Line, invalid(v.Line, "the resource's %s is %s; it must be a non-empty string", key, typeName(out))
	}
	return s, v.Line, nil
}

func (pl *planner) instance(x *resourceIndex, node *arm.Value, parent *Resource, e *env, sub, rg, copyName string, idx, serial int) error {
	if node.Kind != arm.Object {
		return invalid(node.Line, "a resource must be an object")
	}
	if pl.budget--; pl.budget < 0 {
		return invalid(node.Line, "the template and its nested deployments expand to more than %d resources", maxPlannedResources)
	}
	r := &Resource{Line: node.Line, Copy: copyName, Index: idx, node: node, env: e, condition: true, parent: parent, serial: serial}
	var err error
	if r.Type, _, err = e.headerString(node, "type", true); err != nil {
		return err
	}
	if r.APIVersion, _, err = e.headerString(node, "apiVersion", true); err != nil {
		return err
	}
	if r.Name, _, err = e.headerString(node, "name", true); err != nil {
		return err
	}
	if parent != nil && !strings.Contains(r.Type, "/") {
		r.Type = parent.Type + "/" + r.Type
		r.Name = parent.Name + "/" + r.Name
	}
	if c := member(node, "condition"); c != nil {
		v, err := e.value(c)
		if err != nil {
			return err
		}
		b, ok := v.(bool)
		if !ok {
			return invalid(c.Line, "the condition of resource '%s' is %s; it must be a boolean", r.Name, typeName(v))
		}
		r.condition = b && (parent == nil || parent.condition)
	}
	if sc := member(node, "scope"); sc != nil {
		return invalid(sc.Line, "resource '%s': extension resources (scope) are not supported", r.Name)
	}
	isDeployment := strings.EqualFold(r.Type, typeDeployments)
	if isDeployment {
		for _, k := range []string{"subscriptionId", "resourceGroup"} {
			v, _, err := e.headerString(node, k, false)
			if err != nil {
				return err
			}
			if v != "" && k == "subscriptionId" {
				sub = v
			} else if v != "" {
				rg = v
			}
		}
		r.Nested = &NestedDeployment{SubscriptionID: sub, ResourceGroup: rg}
	} else {
		for _, k := range []string{"subscriptionId", "resourceGroup"} {
			if v := member(node, k); v != nil {
				return invalid(v.Line, "resource '%s': %s is only allowed on nested deployments (%s)", r.Name, k, typeDeployments)
			}
		}
	}
	if r.ID, err = arm.NewID(sub, rg, r.Type, r.Name); err != nil {
		return invalid(node.Line, "resource '%s' of type '%s': %v", r.Name, r.Type, err)
	}
	x.add(r)
	if children := member(node, "resources"); children != nil {
		return pl.expand(x, children, r, e, sub, rg)
	}
	return nil
}

// nested plans an inline nested deployment.
func (pl *planner) nested(r *Resource, depth int) error {
	props := member(r.node, "properties")
	if props == nil || props.Kind != arm.Object {
		return invalid(r.Line, "nested deployment '%s' has no properties", r.Name)
	}
	e := r.env.s.env(siteBody, r.env.loops, nil)
	if m := member(props, "mode"); m != nil {
		mv, err := e.value(m)
		if err != nil {
			return err
		}
		switch ms, _ := mv.(string); strings.ToLower(ms) {
		case "incremental":
		case "complete":
			return &Error{Code: CodeCompleteModeNotSupported, Line: m.Line, Message: fmt.Sprintf("nested deployment '%s' uses Complete mode, which deletes every resource of the group the template does not declare; only Incremental mode is supported", r.Name)}
		default:
			return invalid(m.Line, "nested deployment '%s' has mode '%v'; it must be Incremental", r.Name, mv)
		}
	}
	tmpl := member(props, "template")
	if tmpl == nil || tmpl.Kind != arm.Object {
		return invalid(props.Line, "nested deployment '%s' has no inline template (properties.template)", r.Name)
	}
	n := r.Nested
	n.Scope = "outer"
	if opts := member(props, "expressionEvaluationOptions"); opts != nil {
		if sc := member(opts, "scope"); sc != nil {
			switch strings.ToLower(sc.Str) {
			case "inner", "outer":
				n.Scope = strings.ToLower(sc.Str)
			default:
				return invalid(sc.Line, "expressionEvaluationOptions.scope is '%s'; it must be inner or outer", sc.Str)
			}
		}
	}
	parent := r.env.s
	if depth+1 > maxNesting {
		return invalid(r.Line, "nested deployments are nested deeper than %d levels", maxNesting)
	}
	if n.Scope == "outer" {
		for _, k := range []string{"parameters", "variables"} {
			if v := member(tmpl, k); v != nil && len(v.Keys) > 0 {
				return invalid(v.Line, "nested deployment '%s' is evaluated in the outer scope, where its template can't declare its own %s; set properties.expressionEvaluationOptions.scope to inner", r.Name, k)
			}
		}
		if v := member(props, "parameters"); v != nil && len(v.Keys) > 0 {
			return invalid(v.Line, "nested deployment '%s' is evaluated in the outer scope and takes no parameters; set properties.expressionEvaluationOptions.scope to inner", r.Name)
		}
		s := &scope{t: parent.t, node: tmpl, ctx: parent.ctx, params: parent.params, vars: parent.vars, order: nil}
		plan, err := pl.plan(s, n.SubscriptionID, n.ResourceGroup, depth+1)
		if err != nil {
			return under(err, fmt.Sprintf("nested deployment '%s'", r.Name))
		}
		n.Plan = plan
		n.build = func(Resolver) (*Plan, error) { return plan, nil }
		return nil
	}
	ctx := parent.ctx
	ctx.Name, ctx.SubscriptionID, ctx.ResourceGroup = r.Name, n.SubscriptionID, n.ResourceGroup
	if !strings.EqualFold(n.SubscriptionID, parent.ctx.SubscriptionID) || !strings.EqualFold(n.ResourceGroup, parent.ctx.ResourceGroup) {
		ctx.Location = ""
		if parent.ctx.GroupLocation != nil {
			ctx.Location, _ = parent.ctx.GroupLocation(n.SubscriptionID, n.ResourceGroup)
		}
	}
	n.build = func(res Resolver) (*Plan, error) {
		given := map[string]any{}
		if ps := member(props, "parameters"); ps != nil {
			pe := parent.env(siteBody, r.env.loops, res)
			for i, name := range ps.Keys {
				entry := ps.Fields[i]
				if member(entry, "reference") != nil {
					return nil, invalid(entry.Line, "nested deployment '%s': parameter '%s' is a Key Vault reference; they are not supported", r.Name, name)
				}
				v := member(entry, "value")
				if v == nil {
					return nil, invalid(entry.Line, "nested deployment '%s': parameter '%s' must be {\"value\": …}", r.Name, name)
				}
				val, err := pe.value(v)
				if err != nil {
					return nil, err
				}
				given[name] = val
			}
		}
		s, err := newScope(parent.t, tmpl, ctx, given)
		if err != nil {
			return nil, under(err, fmt.Sprintf("nested deployment '%s'", r.Name))
		}
		sub := &planner{budget: pl.budget}
		plan, err := sub.plan(s, n.SubscriptionID, n.ResourceGroup, depth+1)
		if err != nil {
			return nil, under(err, fmt.Sprintf("nested deployment '%s'", r.Name))
		}
		return plan, nil
	}
	plan, err := n.build(nil)
	switch {
	case err == nil:
		n.Plan = plan
		pl.budget -= countResources(plan)
	case IsDeferred(err):
		r.Deferred = true
	default:
		return err
	}
	return nil
}

func countResources(p *Plan) int {
	n := len(p.Resources) + len(p.Skipped)
	for _, r := range p.Resources {
		if r.Nested != nil && r.Nested.Plan != nil {
			n += countResources(r.Nested.Plan)
		}
	}
	return n
}

// Body evaluates what is sent to the resource provider for the resource
// (location, tags, sku, kind, identity, properties, …), with reference()
// values from res. With res nil, a body that uses reference() fails with
// an error for which IsDeferred is true.
func (r *Resource) Body(res Resolver) (arm.Body, error) {
	if r.Nested != nil {
		return nil, fmt.Errorf("resource '%s' is a nested deployment: deploy its Nested plan", r.Name)
	}
	e := r.env.s.env(siteBody, r.env.loops, res)
	body := arm.Body{}
	for i, k := range r.node.Keys {
		if templateKeywords[fold(k)] {
			continue
		}
		v, err := e.value(r.node.Fields[i])
		if err != nil {
			return nil, within(err, fmt.Sprintf("resource '%s'", r.Name))
		}
		if v == nil && e.s.t.exprs[r.node.Fields[i]] != nil {
			continue
		}
		body[k] = Plain(v)
	}
	return body, nil
}

// Output is an evaluated template output. Secure ones (securestring,
// secureObject) must not be shown.
type Output struct {
	Name   string
	Type   string
	Value  any
	Secure bool
}

var outputTypes = map[string]string{
	"string": "String", "securestring": "String", "int": "Integer", "bool": "Boolean",
	"object": "Object", "secureobject": "Object", "array": "Array",
}

// Outputs evaluates the template's outputs, after its resources are
// deployed, with reference() values from res.
func (p *Plan) Outputs(res Resolver) ([]Output, error) {
	outs := member(p.scope.node, "outputs")
	if outs == nil {
		return nil, nil
	}
	e := p.scope.env(siteOutput, nil, res)
	var list []Output
	var deferred error
	for i, name := range outs.Keys {
		o, err := e.output(name, outs.Fields[i])
		if err != nil {
			if IsDeferred(err) {
				deferred = err
				continue
			}
			return nil, err
		}
		if o != nil {
			list = append(list, *o)
		}
	}
	return list, deferred
}

func (e *env) output(name string, decl *arm.Value) (*Output, error) {
	typ := member(decl, "type")
	if typ == nil || typ.Kind != arm.String {
		return nil, invalid(decl.Line, "output '%s' has no type", name)
	}
	want, ok := outputTypes[fold(typ.Str)]
	if !ok {
		return nil, invalid(typ.Line, "output '%s' has type '%s'; the types are string, securestring, int, bool, object, secureObject, array", name, typ.Str)
	}
	if c := member(decl, "condition"); c != nil {
		v, err := e.value(c)
		if err != nil {
			return nil, within(err, fmt.Sprintf("output '%s'", name))
		}
		b, isBool := v.(bool)
		if !isBool {
			return nil, invalid(c.Line, "the condition of output '%s' is %s; it must be a boolean", name, typeName(v))
		}
		if !b {
			return nil, nil
		}
	}
	var v any
	var err error
	switch cp, val := member(decl, "copy"), member(decl, "value"); {
	case cp != nil:
		countV, input := member(cp, "count"), member(cp, "input")
		if countV == nil || input == nil {
			return nil, invalid(cp.Line, "output '%s': copy needs count and input", name)
		}
		n, err := e.count(countV)
		if err != nil {
			return nil, err
		}
		arr := make([]any, 0, n)
		for i := range n {
			item, err := e.with(loop{index: i, resource: true}).value(input)
			if err != nil {
				return nil, within(err, fmt.Sprintf("output '%s'", name))
			}
			arr = append(arr, item)
		}
		v = arr
	case val != nil:
		if v, err = e.value(val); err != nil {
			return nil, within(err, fmt.Sprintf("output '%s'", name))
		}
	default:
		return nil, invalid(decl.Line, "output '%s' has no value", name)
	}
	if got := typeName(v); got != want && v != nil {
		return nil, invalid(decl.Line, "output '%s' is declared %s but its value is %s", name, typ.Str, got)
	}
	return &Output{Name: name, Type: typ.Str, Value: v, Secure: strings.HasPrefix(fold(typ.Str), "secure")}, nil
}

// resourceIndex finds a template's resources by id, name and copy loop.
type resourceIndex struct {
	all   []*Resource
	byKey map[string][]*Resource
	loops map[string][]*Resource
}

func (x *resourceIndex) add(r *Resource) {
	x.all = append(x.all, r)
	x.byKey[r.ID.Key()] = append(x.byKey[r.ID.Key()], r)
	if r.Copy != "" {
		x.loops[fold(r.Copy)] = append(x.loops[fold(r.Copy)], r)
	}
}

// lookup resolves a dependsOn entry: a resource id, a copy loop's name
// (all its resources), a resource's name, or "{type}/{name}".
func (x *resourceIndex) lookup(ref string) ([]*Resource, error) {
	if strings.HasPrefix(ref, "/") {
		id, err := arm.ParseID(ref, "")
		if err != nil {
			return nil, err
		}
		if rs := x.byKey[id.Key()]; len(rs) > 0 {
			return rs, nil
		}
		return nil, fmt.Errorf("the resource '%s' is not defined in the template", ref)
	}
	if rs := x.loops[fold(ref)]; len(rs) > 0 {
		return rs, nil
	}
	var byName, byTypeName []*Resource
	for _, r := range x.all {
		if strings.EqualFold(r.Name, ref) {
			byName = append(byName, r)
		}
		if strings.EqualFold(r.Type+"/"+r.Name, ref) {
			byTypeName = append(byTypeName, r)
		}
	}
	if len(byTypeName) > 0 {
		return byTypeName, nil
	}
	if len(byName) == 0 {
		return nil, fmt.Errorf("the resource '%s' is not defined in the template", ref)
	}
	types := map[string]bool{}
	for _, r := range byName {
		if r.condition {
			types[fold(r.Type)] = true
		}
	}
	if len(types) > 1 {
		return nil, fmt.Errorf("the name '%s' names resources of %d types; use resourceId() to say which", ref, len(types))
	}
	return byName, nil
}

// target resolves reference()'s first argument to a resource id: an id as
// given, or the name of a resource in the template.
func (x *resourceIndex) target(ref, defaultSub string) (arm.ID, error) {
	if strings.HasPrefix(ref, "/") {
		return arm.ParseID(ref, defaultSub)
	}
	if x == nil {
		return arm.ID{}, fmt.Errorf("the resource '%s' is not defined in the template", ref)
	}
	rs, err := x.lookup(ref)
	if err != nil {
		return arm.ID{}, err
	}
	for _, r := range rs {
		if r.condition {
			return r.ID, nil
		}
	}
	return arm.ID{}, fmt.Errorf("the resource '%s' is not deployed: its condition is false", ref)
}

// link fills r.DependsOn.
func (x *resourceIndex) link(r *Resource) error {
	deps := map[*Resource]bool{}
	addAll := func(rs []*Resource) {
		for _, d := range rs {
			if d.condition {
				deps[d] = true
			}
		}
	}
	if dep := member(r.node, "dependsOn"); dep != nil {
		v, err := r.env.value(dep)
		if err != nil {
			return err
		}
		list, ok := v.([]any)
		if !ok {
			return invalid(dep.Line, "dependsOn of resource '%s' must be an array", r.Name)
		}
		for _, item := range list {
			ref, ok := item.(string)
			if !ok {
				return invalid(dep.Line, "dependsOn of resource '%s' holds %s; entries are resource ids or names", r.Name, typeName(item))
			}
			rs, err := x.lookup(ref)
			if err != nil {
				return invalid(dep.Line, "dependsOn of resource '%s': %v", r.Name, err)
			}
			addAll(rs)
		}
	}
	for _, ref := range r.referenceTargets() {
		if rs, err := x.lookup(ref); err == nil {
			addAll(rs)
		}
	}
	if r.parent != nil {
		addAll([]*Resource{r.parent})
	}
	if r.serial > 0 {
		batch := r.Index / r.serial
		for _, o := range x.loops[fold(r.Copy)] {
			if o.Index/r.serial == batch-1 {
				addAll([]*Resource{o})
			}
		}
	}
	for d := range deps {
		r.DependsOn = append(r.DependsOn, d)
	}
	pos := map[*Resource]int{}
	for i, o := range x.all {
		pos[o] = i
	}
	slices.SortFunc(r.DependsOn, func(a, b *Resource) int { return pos[a] - pos[b] })
	return nil
}

// referenceTargets evaluates the first argument of every reference() call
// in the resource's body (for a nested deployment in the inner scope: in
// the parameters passed to it): the implicit dependencies Azure creates.
// Arguments that can't be evaluated here create none.
func (r *Resource) referenceTargets() []string {
	var nodes []*arm.Value
	for i, k := range r.node.Keys {
		if templateKeywords[fold(k)] {
			continue
		}
		f := r.node.Fields[i]
		if r.Nested != nil && strings.EqualFold(k, "properties") && !outerScope(f) {
			if ps := member(f, "parameters"); ps != nil {
				nodes = append(nodes, ps)
			}
			continue
		}
		nodes = append(nodes, f)
	}
	var out []string
	e := r.env.s.env(siteBody, r.env.loops, nil)
	t := r.env.s.t
	var visit func(v *arm.Value)
	visit = func(v *arm.Value) {
		if x, ok := t.exprs[v]; ok {
			walkCalls(x, func(c *call) {
				if fold(c.name) != "reference" || len(c.args) == 0 {
					return
				}
				if arg, err := e.eval(c.args[0]); err == nil {
					if s, ok := arg.(string); ok {
						out = append(out, s)
					}
				}
			})
		}
		for _, it := range v.Items {
			visit(it)
		}
		for _, f := range v.Fields {
			visit(f)
		}
	}
	for _, n := range nodes {
		visit(n)
	}
	return out
}

func outerScope(props *arm.Value) bool {
	sc := member(member(props, "expressionEvaluationOptions"), "scope")
	return sc == nil || strings.EqualFold(sc.Str, "outer")
}

// order assigns waves and refuses cycles.
func order(rs []*Resource) ([][]*Resource, error) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[*Resource]int{}
	var stack []*Resource
	var visit func(r *Resource) error
	visit = func(r *Resource) error {
		switch state[r] {
		case done:
			return nil
		case visiting:
			start := slices.Index(stack, r)
			var ids []string
			for _, c := range append(stack[start:], r) {
				ids = append(ids, "'"+c.ID.String()+"'")
			}
			return invalid(r.Line, "Circular dependency detected on resources: %s", strings.Join(ids, " -> "))
		}
		state[r] = visiting
		stack = append(stack, r)
		r.Wave = 0
		for _, d := range r.DependsOn {
			if err := visit(d); err != nil {
				return err
			}
			r.Wave = max(r.Wave, d.Wave+1)
		}
		stack = stack[:len(stack)-1]
		state[r] = done
		return nil
	}
	var waves [][]*Resource
	for _, r := range rs {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	for _, r := range rs {
		for len(waves) <= r.Wave {
			waves = append(waves, nil)
		}
		waves[r.Wave] = append(waves[r.Wave], r)
	}
	return waves, nil
}
