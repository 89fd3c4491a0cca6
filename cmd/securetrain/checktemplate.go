package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/requirements"
	"securetrain/internal/resources"
	"securetrain/internal/template"
)

// templateCheck is what `check --template` evaluates: a template, its
// parameter values, where it is deployed, and the environment it is
// deployed into.
type templateCheck struct {
	template, parameters string
	subscription, group  string
	location             string
	env                  string
}

// environment evaluates the template offline as a deployment into the
// resource group would, merges what it deploys into the environment
// (Incremental mode: a resource it declares replaces the one of the same
// id; a child it declares, such as a subnet, replaces the one inline in
// its parent), and returns the merged environment file, and how to turn a
// position in it into the template's or the environment file's.
func (tc templateCheck) environment() ([]byte, *origins, error) {
	if tc.subscription == "" || tc.group == "" {
		return nil, nil, errors.New("--template needs --subscription and --resource-group: the deployment's target")
	}
	raw, err := os.ReadFile(tc.template)
	if err != nil {
		return nil, nil, fmt.Errorf("--template: %w", err)
	}
	t, err := template.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tc.template, err)
	}
	params := map[string]any{}
	if tc.parameters != "" {
		raw, err := os.ReadFile(tc.parameters)
		if err != nil {
			return nil, nil, fmt.Errorf("--parameters: %w", err)
		}
		if params, err = template.ParseParameters(raw); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", tc.parameters, err)
		}
	}
	env := &mergedEnv{byKey: map[string]*mergedEntry{}, outputs: map[string]map[string]any{}}
	if tc.env != "" {
		if err := env.load(tc.env); err != nil {
			return nil, nil, err
		}
	}
	location := tc.location
	if location == "" {
		location = env.groupLocation(tc.subscription, tc.group)
	}
	if location == "" {
		return nil, nil, fmt.Errorf("the location of resource group '%s' is not known: give --location, or an --env file that declares the group", tc.group)
	}
	name := strings.TrimSuffix(filepath.Base(tc.template), filepath.Ext(tc.template)) // as az deployment group create names it
	plan, err := t.Plan(template.Deployment{Name: name, SubscriptionID: tc.subscription, TenantID: arm.TenantID, ResourceGroup: tc.group, Location: location, Mode: "Incremental",
		GroupLocation: func(sub, rg string) (string, bool) {
			loc := env.groupLocation(sub, rg)
			return loc, loc != ""
		}}, params)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tc.template, err)
	}
	if err := env.deploy(plan, tc.template); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tc.template, err)
	}
	return env.file(tc.mergedName())
}

// mergedName names the merged environment in messages about it as a whole.
func (tc templateCheck) mergedName() string {
	return tc.template + " deployed into " + cmp(tc.env, "an empty environment")
}

func cmp(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// mergedEnv is an environment as resources in ARM's shape, by id.
type mergedEnv struct {
	order   []string
	byKey   map[string]*mergedEntry
	outputs map[string]map[string]any // nested deployments' outputs, by id key
}

type mergedEntry struct {
	id   arm.ID
	body map[string]any // location, tags, properties, …: no id, name or type
	// origin is where it comes from: the file and line of the template
	// resource or environment entry that last set it.
	origin string
}

// load reads an environment file (validated as `check` validates one).
func (m *mergedEnv) load(path string) error {
	data, err := resources.ReadFile(path)
	if err != nil {
		return err
	}
	if _, err := resources.DecodeFile(path, data); err != nil {
		return fmt.Errorf("%s has problems:\n%w", path, err)
	}
	doc, err := arm.ParseDocument(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fileSub := strValue(doc.Get("subscription"))
	for i, item := range doc.Get("resources").Items {
		e, err := newApplyEntry(path, i, item, fileSub)
		if err != nil {
			return err
		}
		m.put(e.id, e.body, e.pos)
	}
	return nil
}

func (m *mergedEnv) put(id arm.ID, body map[string]any, origin string) {
	if m.byKey[id.Key()] == nil {
		m.order = append(m.order, id.Key())
	}
	m.byKey[id.Key()] = &mergedEntry{id: id, body: body, origin: origin}
}

func (m *mergedEnv) groupLocation(sub, group string) string {
	if e := m.byKey[arm.ID{Subscription: sub, ResourceGroup: group}.Key()]; e != nil {
		loc, _ := e.body["location"].(string)
		return loc
	}
	return ""
}

// deploy applies the plan's resources, wave by wave, as a deployment
// would: reference() reads what the environment and earlier waves hold.
func (m *mergedEnv) deploy(plan *template.Plan, file string) error {
	for _, wave := range plan.Waves {
		for _, r := range wave {
			if r.Nested != nil {
				if err := m.nested(r, file); err != nil {
					return err
				}
				continue
			}
			body, err := r.Body(m)
			if err != nil {
				return err
			}
			m.apply(r.ID, body, fmt.Sprintf("%s:%d", file, r.Line))
		}
	}
	return nil
}

func (m *mergedEnv) nested(r *template.Resource, file string) error {
	plan := r.Nested.Plan
	if plan == nil {
		var err error
		if plan, err = r.Nested.Resolve(m); err != nil {
			return err
		}
	}
	if err := m.deploy(plan, file); err != nil {
		return err
	}
	outs, err := plan.Outputs(m)
	if err != nil {
		return err
	}
	shown := map[string]any{}
	for _, o := range outs {
		shown[o.Name] = map[string]any{"type": o.Type, "value": template.Plain(o.Value)}
	}
	m.outputs[r.ID.Key()] = shown
	return nil
}

// apply puts a deployed resource into the environment: whole, or — for
// an inline child whose parent is there — into its parent's list.
func (m *mergedEnv) apply(id arm.ID, body map[string]any, origin string) {
	k := resources.KindOf(id.Type())
	parentID, hasParent := id.Parent()
	if k != nil && k.Inline != "" && hasParent {
		if parent := m.byKey[parentID.Key()]; parent != nil {
			props, _ := parent.body["properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
				parent.body["properties"] = props
			}
			list, _ := props[k.Inline].([]any)
			child := map[string]any{"name": id.Leaf()}
			for key, v := range body {
				child[key] = v
			}
			if i := inlineIndex(list, id.Leaf()); i >= 0 {
				list[i] = child
			} else {
				props[k.Inline] = append(list, child)
			}
			return
		}
	}
	m.put(id, body, origin)
}

// Reference answers reference() from the environment as deployed so far.
func (m *mergedEnv) Reference(id arm.ID, _ string, full bool) (any, error) {
	if strings.EqualFold(id.Type(), "Microsoft.Resources/deployments") {
		outs, ok := m.outputs[id.Key()]
		if !ok {
			return nil, fmt.Errorf("reference(): the nested deployment '%s' has not been deployed", id.Leaf())
		}
		return map[string]any{"outputs": outs}, nil
	}
	var obj map[string]any
	if e := m.byKey[id.Key()]; e != nil {
		obj = e.body
	} else if parentID, ok := id.Parent(); ok && m.byKey[parentID.Key()] != nil {
		obj = m.inlineChild(parentID, id)
	}
	if obj == nil {
		return nil, fmt.Errorf("reference(): '%s' is neither in the template nor in the environment (--env)", id)
	}
	if full {
		return obj, nil
	}
	return obj["properties"], nil
}

func (m *mergedEnv) inlineChild(parentID, id arm.ID) map[string]any {
	k := resources.KindOf(id.Type())
	if k == nil || k.Inline == "" {
		return nil
	}
	props, _ := m.byKey[parentID.Key()].body["properties"].(map[string]any)
	list, _ := props[k.Inline].([]any)
	if i := inlineIndex(list, id.Leaf()); i >= 0 {
		cm, _ := list[i].(map[string]any)
		return cm
	}
	return nil
}

// inlineIndex is the index of the child named name in an inline list, or -1.
func inlineIndex(list []any, name string) int {
	for i, c := range list {
		if cm, ok := c.(map[string]any); ok && strings.EqualFold(fmt.Sprint(cm["name"]), name) {
			return i
		}
	}
	return -1
}

// file is the merged environment as an environment file, every resource
// in ARM's shape (placed by its id) on a line of its own, and where each
// line comes from.
func (m *mergedEnv) file(name string) ([]byte, *origins, error) {
	var b strings.Builder
	b.WriteString(`{"resources": [`)
	o := &origins{name: name, lines: map[int]string{}}
	for i, key := range m.order {
		e := m.byKey[key]
		entry := map[string]any{"id": e.id.String(), "type": e.id.Type()}
		for k, v := range e.body {
			entry[k] = v
		}
		raw, err := json.Marshal(entry)
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", e.id, err)
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n")
		b.Write(raw)
		o.lines[i+2] = e.origin
	}
	b.WriteString("\n]}\n")
	return []byte(b.String()), o, nil
}

// origins map the lines of a merged environment file to the template
// resource or environment entry each comes from ("file:line").
type origins struct {
	name  string
	lines map[int]string
}

// position turns a position in the merged file into its origin.
func (o *origins) position(pos string) string {
	if n, err := strconv.Atoi(strings.TrimPrefix(pos, o.name+":")); err == nil && o.lines[n] != "" {
		return o.lines[n]
	}
	return pos
}

// problems points the problems of a decode of the merged file at their
// origins.
func (o *origins) problems(err error) error {
	var fe *resources.FileError
	if !errors.As(err, &fe) {
		return err
	}
	for i, p := range fe.Problems {
		at := o.lines[p.Line]
		cut := strings.LastIndex(at, ":")
		if p.File != o.name || cut < 0 {
			continue
		}
		line, _ := strconv.Atoi(at[cut+1:])
		fe.Problems[i].File, fe.Problems[i].Line, fe.Problems[i].Column = at[:cut], line, 0
	}
	return err
}

// compute rewrites the positions of a compute's report on the merged
// environment into the template's and the environment file's; a nil o
// (no template) leaves them.
func (o *origins) compute(cr *requirements.ComputeReport) {
	if o == nil {
		return
	}
	cr.Position = o.position(cr.Position)
	o.findings(cr.Findings)
}

// findings rewrites findings' positions as compute does.
func (o *origins) findings(fs []requirements.Finding) {
	if o == nil {
		return
	}
	for i := range fs {
		fs[i].Position = o.position(fs[i].Position)
	}
}
