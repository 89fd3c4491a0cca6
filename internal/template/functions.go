package template

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"securetrain/internal/arm"
)

// function is one template function: how many arguments it takes (max -1:
// any number) and how it evaluates them. Lazy functions evaluate their own
// arguments (if() evaluates only the branch it takes, as Azure does).
type function struct {
	min, max int
	eval     func(e *env, c *call, args []any) (any, error)
	lazy     func(e *env, c *call) (any, error)
}

// functions holds every supported function by lower-case name. Anything
// else is refused when the template is parsed.
var functions map[string]*function

func init() {
	functions = map[string]*function{
		"parameters":             {min: 1, max: 1, eval: fnParameters},
		"variables":              {min: 1, max: 1, eval: fnVariables},
		"resourcegroup":          {min: 0, max: 0, eval: fnResourceGroup},
		"subscription":           {min: 0, max: 0, eval: fnSubscription},
		"environment":            {min: 0, max: 0, eval: func(*env, *call, []any) (any, error) { return publicCloud(), nil }},
		"deployment":             {min: 0, max: 0, eval: fnDeployment},
		"resourceid":             {min: 2, max: -1, eval: fnResourceID},
		"subscriptionresourceid": {min: 2, max: -1, eval: fnSubscriptionResourceID},
		"extensionresourceid":    {min: 3, max: -1, eval: fnExtensionResourceID},
		"reference":              {min: 1, max: 3, eval: fnReference},
		"copyindex":              {min: 0, max: 2, eval: fnCopyIndex},
		"concat":                 {min: 1, max: -1, eval: fnConcat},
		"format":                 {min: 1, max: -1, eval: fnFormat},
		"uniquestring":           {min: 1, max: -1, eval: hashOf(uniqueString)},
		"guid":                   {min: 1, max: -1, eval: hashOf(guid)},
		"substring":              {min: 2, max: 3, eval: fnSubstring},
		"tolower":                {min: 1, max: 1, eval: stringMap(strings.ToLower)},
		"toupper":                {min: 1, max: 1, eval: stringMap(strings.ToUpper)},
		"trim":                   {min: 1, max: 1, eval: stringMap(strings.TrimSpace)},
		"replace":                {min: 3, max: 3, eval: fnReplace},
		"split":                  {min: 2, max: 2, eval: fnSplit},
		"startswith":             {min: 2, max: 2, eval: stringTest(strings.HasPrefix)},
		"endswith":               {min: 2, max: 2, eval: stringTest(strings.HasSuffix)},
		"base64":                 {min: 1, max: 1, eval: stringMap(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) })},
		"base64tostring":         {min: 1, max: 1, eval: fnBase64ToString},
		"if":                     {min: 3, max: 3, lazy: fnIf},
		"and":                    {min: 2, max: -1, eval: logical(true)},
		"or":                     {min: 2, max: -1, eval: logical(false)},
		"not":                    {min: 1, max: 1, eval: fnNot},
		"equals":                 {min: 2, max: 2, eval: func(_ *env, _ *call, a []any) (any, error) { return equal(a[0], a[1]), nil }},
		"less":                   {min: 2, max: 2, eval: compare(func(c int) bool { return c < 0 })},
		"lessorequals":           {min: 2, max: 2, eval: compare(func(c int) bool { return c <= 0 })},
		"greater":                {min: 2, max: 2, eval: compare(func(c int) bool { return c > 0 })},
		"greaterorequals":        {min: 2, max: 2, eval: compare(func(c int) bool { return c >= 0 })},
		"empty":                  {min: 1, max: 1, eval: fnEmpty},
		"coalesce":               {min: 1, max: -1, eval: fnCoalesce},
		"json":                   {min: 1, max: 1, eval: fnJSON},
		"array":                  {min: 1, max: 1, eval: fnArray},
		"createarray":            {min: 0, max: -1, eval: func(_ *env, _ *call, a []any) (any, error) { return append([]any{}, a...), nil }},
		"createobject":           {min: 0, max: -1, eval: fnCreateObject},
		"union":                  {min: 1, max: -1, eval: fnUnion},
		"contains":               {min: 2, max: 2, eval: fnContains},
		"length":                 {min: 1, max: 1, eval: fnLength},
		"first":                  {min: 1, max: 1, eval: edge(true)},
		"last":                   {min: 1, max: 1, eval: edge(false)},
		"string":                 {min: 1, max: 1, eval: func(_ *env, _ *call, a []any) (any, error) { return toText(a[0]), nil }},
		"int":                    {min: 1, max: 1, eval: fnInt},
		"bool":                   {min: 1, max: 1, eval: fnBool},
		"true":                   {min: 0, max: 0, eval: func(*env, *call, []any) (any, error) { return true, nil }},
		"false":                  {min: 0, max: 0, eval: func(*env, *call, []any) (any, error) { return false, nil }},
		"null":                   {min: 0, max: 0, eval: func(*env, *call, []any) (any, error) { return nil, nil }},
		"add":                    {min: 2, max: 2, eval: arith(func(a, b int64) (int64, error) { return a + b, nil })},
		"sub":                    {min: 2, max: 2, eval: arith(func(a, b int64) (int64, error) { return a - b, nil })},
		"mul":                    {min: 2, max: 2, eval: arith(func(a, b int64) (int64, error) { return a * b, nil })},
		"div":                    {min: 2, max: 2, eval: arith(divide(func(a, b int64) int64 { return a / b }))},
		"mod":                    {min: 2, max: 2, eval: arith(divide(func(a, b int64) int64 { return a % b }))},
	}
}

func str(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", fail("argument %d is %s; it must be a string", i+1, typeName(args[i]))
	}
	return s, nil
}

func integer(args []any, i int) (int64, error) {
	n, ok := args[i].(int64)
	if !ok {
		return 0, fail("argument %d is %s; it must be an integer", i+1, typeName(args[i]))
	}
	return n, nil
}

func boolean(args []any, i int) (bool, error) {
	b, ok := args[i].(bool)
	if !ok {
		return false, fail("argument %d is %s; it must be a boolean", i+1, typeName(args[i]))
	}
	return b, nil
}

func strings1(args []any) ([]string, error) {
	out := make([]string, len(args))
	for i := range args {
		s, err := str(args, i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func stringMap(f func(string) string) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		s, err := str(a, 0)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

// stringTest: startsWith and endsWith compare ignoring case, as in Azure.
func stringTest(f func(s, affix string) bool) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		ss, err := strings1(a)
		if err != nil {
			return nil, err
		}
		return f(strings.ToLower(ss[0]), strings.ToLower(ss[1])), nil
	}
}

func hashOf(f func([]string) string) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		ss, err := strings1(a)
		if err != nil {
			return nil, err
		}
		return f(ss), nil
	}
}

func fnParameters(e *env, _ *call, a []any) (any, error) {
	name, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	return e.s.parameter(name)
}

func fnVariables(e *env, _ *call, a []any) (any, error) {
	if e.where == siteParameter {
		return nil, fail("variables can't be used in a parameter's default value")
	}
	name, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	return e.s.variable(name)
}

func fnResourceGroup(e *env, _ *call, _ []any) (any, error) {
	c := e.s.ctx
	return &Object{
		Keys: []string{"id", "name", "type", "location", "properties"},
		Values: []any{"/subscriptions/" + c.SubscriptionID + "/resourceGroups/" + c.ResourceGroup, c.ResourceGroup,
			arm.TypeResourceGroup, c.Location, &Object{Keys: []string{"provisioningState"}, Values: []any{"Succeeded"}}},
	}, nil
}

func fnSubscription(e *env, _ *call, _ []any) (any, error) {
	c := e.s.ctx
	o := &Object{Keys: []string{"id", "subscriptionId", "tenantId"}, Values: []any{"/subscriptions/" + c.SubscriptionID, c.SubscriptionID, c.TenantID}}
	if c.SubscriptionName != "" {
		o.Set("displayName", c.SubscriptionName)
	}
	return o, nil
}

func fnDeployment(e *env, _ *call, _ []any) (any, error) {
	tmpl := &Object{}
	if cv := member(e.s.node, "contentVersion"); cv != nil && cv.Kind == arm.String {
		tmpl.Set("contentVersion", cv.Str)
	}
	props := &Object{Keys: []string{"template", "mode", "provisioningState"}, Values: []any{tmpl, "Incremental", "Accepted"}}
	return &Object{Keys: []string{"name", "properties"}, Values: []any{e.s.ctx.Name, props}}, nil
}

// publicCloud is what environment() returns in Azure's public cloud,
// as the "Deployment functions for ARM templates" article lists it.
func publicCloud() *Object {
	o := func(kv ...any) *Object {
		out := &Object{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i].(string), kv[i+1])
		}
		return out
	}
	return o(
		"name", "AzureCloud",
		"gallery", "https://gallery.azure.com/",
		"graph", "https://graph.windows.net/",
		"portal", "https://portal.azure.com",
		"graphAudience", "https://graph.windows.net/",
		"activeDirectoryDataLake", "https://datalake.azure.net/",
		"batch", "https://batch.core.windows.net/",
		"media", "https://rest.media.azure.net",
		"sqlManagement", "https://management.core.windows.net:8443/",
		"vmImageAliasDoc", "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
		"resourceManager", "https://management.azure.com/",
		"authentication", o(
			"loginEndpoint", "https://login.microsoftonline.com/",
			"audiences", []any{"https://management.core.windows.net/", "https://management.azure.com/"},
			"tenant", "common",
			"identityProvider", "AAD"),
		"suffixes", o(
			"acrLoginServer", ".azurecr.io",
			"azureDatalakeAnalyticsCatalogAndJob", "azuredatalakeanalytics.net",
			"azureDatalakeStoreFileSystem", "azuredatalakestore.net",
			"azureFrontDoorEndpointSuffix", "azurefd.net",
			"keyvaultDns", ".vault.azure.net",
			"sqlServerHostname", ".database.windows.net",
			"storage", "core.windows.net"),
	)
}

// splitTypeArgs finds the resource type among resourceId's arguments: the
// first one with a "/" (subscription ids and group names have none); what
// comes before are the scope, what comes after the names, one per type
// segment below the namespace.
func splitTypeArgs(a []any, maxScope int) (scope []string, typ string, names []string, err error) {
	ss, err := strings1(a)
	if err != nil {
		return nil, "", nil, err
	}
	at := -1
	for i, s := range ss {
		if strings.Contains(s, "/") {
			at = i
			break
		}
	}
	if at < 0 || at > maxScope {
		return nil, "", nil, fail("no resource type ({namespace}/{type}) among the first %d arguments", maxScope+1)
	}
	typ, names = ss[at], ss[at+1:]
	if want := strings.Count(typ, "/"); len(names) != want {
		return nil, "", nil, fail("the type '%s' needs %d resource name argument(s); %d given", typ, want, len(names))
	}
	return ss[:at], typ, names, nil
}

func joinTypeNames(typ string, names []string) string {
	parts := strings.Split(typ, "/")
	var b strings.Builder
	b.WriteString(parts[0])
	for i, t := range parts[1:] {
		b.WriteString("/" + t + "/" + names[i])
	}
	return b.String()
}

// fnResourceID builds the id as text, as Azure does: the parts are not
// checked (a template may build the id of a resource it never deploys).
func fnResourceID(e *env, _ *call, a []any) (any, error) {
	scope, typ, names, err := splitTypeArgs(a, 2)
	if err != nil {
		return nil, err
	}
	sub, rg := e.s.ctx.SubscriptionID, e.s.ctx.ResourceGroup
	switch len(scope) {
	case 1:
		rg = scope[0]
	case 2:
		sub, rg = scope[0], scope[1]
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + joinTypeNames(typ, names), nil
}

func fnSubscriptionResourceID(e *env, _ *call, a []any) (any, error) {
	scope, typ, names, err := splitTypeArgs(a, 1)
	if err != nil {
		return nil, err
	}
	sub := e.s.ctx.SubscriptionID
	if len(scope) == 1 {
		sub = scope[0]
	}
	return "/subscriptions/" + sub + "/providers/" + joinTypeNames(typ, names), nil
}

func fnExtensionResourceID(_ *env, _ *call, a []any) (any, error) {
	base, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	_, typ, names, err := splitTypeArgs(a[1:], 0)
	if err != nil {
		return nil, err
	}
	return strings.TrimSuffix(base, "/") + "/providers/" + joinTypeNames(typ, names), nil
}

func fnReference(e *env, _ *call, a []any) (any, error) {
	if e.where != siteBody && e.where != siteOutput {
		return nil, fail("reference can only be used in a resource's properties and in outputs")
	}
	target, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	apiVersion, full := "", false
	if len(a) > 1 {
		if apiVersion, err = str(a, 1); err != nil {
			return nil, err
		}
	}
	if len(a) > 2 {
		mode, err := str(a, 2)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(mode, "Full") {
			return nil, fail("the third argument is '%s'; the only option is 'Full'", mode)
		}
		full = true
	}
	id, err := e.s.index.target(target, e.s.ctx.SubscriptionID)
	if err != nil {
		return nil, fail("%v", err)
	}
	if e.refs == nil {
		return nil, errDeferred
	}
	v, err := e.refs.Reference(id, apiVersion, full)
	if err != nil {
		return nil, fmt.Errorf("reference('%s'): %w", target, err)
	}
	return FromPlain(v)
}

func fnCopyIndex(e *env, _ *call, a []any) (any, error) {
	name, offset := "", int64(0)
	for i := range a {
		switch v := a[i].(type) {
		case string:
			if i > 0 {
				return nil, fail("the loop name must come first")
			}
			name = v
		case int64:
			offset = v
		default:
			return nil, fail("argument %d is %s; copyIndex takes a loop name and an offset", i+1, typeName(v))
		}
	}
	for i := len(e.loops) - 1; i >= 0; i-- {
		l := e.loops[i]
		if (name == "" && l.resource) || (name != "" && strings.EqualFold(l.name, name)) {
			return l.index + offset, nil
		}
	}
	if name != "" {
		return nil, fail("there is no copy loop named '%s' here", name)
	}
	return nil, fail("copyIndex can only be used inside a copy loop")
}

func fnConcat(_ *env, _ *call, a []any) (any, error) {
	if _, isArr := a[0].([]any); isArr {
		var out []any
		for i, v := range a {
			arr, ok := v.([]any)
			if !ok {
				return nil, fail("argument %d is %s; concat joins either arrays or strings", i+1, typeName(v))
			}
			out = append(out, arr...)
		}
		if out == nil {
			out = []any{}
		}
		return out, checkArray(out)
	}
	var b strings.Builder
	for i, v := range a {
		switch v.(type) {
		case string, int64, bool:
			b.WriteString(toText(v))
		default:
			return nil, fail("argument %d is %s; concat joins either arrays or strings", i+1, typeName(v))
		}
		if b.Len() > maxStringLength {
			return nil, checkString(b.Len())
		}
	}
	return b.String(), nil
}

func fnSubstring(_ *env, _ *call, a []any) (any, error) {
	s, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	start, err := integer(a, 1)
	if err != nil {
		return nil, err
	}
	runes := []rune(s)
	length := int64(len(runes)) - start
	if len(a) > 2 {
		if length, err = integer(a, 2); err != nil {
			return nil, err
		}
	}
	if start < 0 || length < 0 || start+length > int64(len(runes)) {
		return nil, fail("the index %d and length %d must refer to a location within the string of length %d", start, length, len(runes))
	}
	return string(runes[start : start+length]), nil
}

func fnReplace(_ *env, _ *call, a []any) (any, error) {
	ss, err := strings1(a)
	if err != nil {
		return nil, err
	}
	if ss[1] == "" {
		return nil, fail("the string to replace is empty")
	}
	if n := strings.Count(ss[0], ss[1]); len(ss[2]) > len(ss[1]) && n*(len(ss[2])-len(ss[1])) > maxStringLength {
		return nil, checkString(len(ss[0]) + n*(len(ss[2])-len(ss[1])))
	}
	return strings.ReplaceAll(ss[0], ss[1], ss[2]), nil
}

func fnSplit(_ *env, _ *call, a []any) (any, error) {
	s, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	var seps []string
	switch d := a[1].(type) {
	case string:
		seps = []string{d}
	case []any:
		if seps, err = strings1(d); err != nil {
			return nil, fail("the delimiters must be strings")
		}
	default:
		return nil, fail("argument 2 is %s; it must be a string or an array of strings", typeName(d))
	}
	parts := []string{s}
	for _, sep := range seps {
		if sep == "" {
			continue
		}
		var next []string
		for _, p := range parts {
			next = append(next, strings.Split(p, sep)...)
		}
		parts = next
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func fnBase64ToString(_ *env, _ *call, a []any) (any, error) {
	s, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !utf8.Valid(b) {
		return nil, fail("the value is not base64-encoded UTF-8 text")
	}
	return string(b), nil
}

func fnIf(e *env, c *call) (any, error) {
	cond, err := e.eval(c.args[0])
	if err != nil {
		return nil, err
	}
	b, ok := cond.(bool)
	if !ok {
		return nil, fail("the condition is %s; it must be a boolean", typeName(cond))
	}
	if b {
		return e.eval(c.args[1])
	}
	return e.eval(c.args[2])
}

// logical is and() (all) or or() (any); every argument is evaluated and
// must be a boolean.
func logical(all bool) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		out := all
		for i := range a {
			b, err := boolean(a, i)
			if err != nil {
				return nil, err
			}
			if b != all {
				out = !all
			}
		}
		return out, nil
	}
}

func fnNot(_ *env, _ *call, a []any) (any, error) {
	b, err := boolean(a, 0)
	return !b, err
}

func compare(ok func(int) bool) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		switch x := a[0].(type) {
		case int64:
			y, err := integer(a, 1)
			if err != nil {
				return nil, err
			}
			return ok(cmpInt(x, y)), nil
		case string:
			y, err := str(a, 1)
			if err != nil {
				return nil, err
			}
			return ok(strings.Compare(x, y)), nil
		}
		return nil, fail("argument 1 is %s; it must be an integer or a string", typeName(a[0]))
	}
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func arith(op func(a, b int64) (int64, error)) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		x, err := integer(a, 0)
		if err != nil {
			return nil, err
		}
		y, err := integer(a, 1)
		if err != nil {
			return nil, err
		}
		return op(x, y)
	}
}

func divide(op func(a, b int64) int64) func(a, b int64) (int64, error) {
	return func(a, b int64) (int64, error) {
		if b == 0 {
			return 0, fail("division by zero")
		}
		return op(a, b), nil
	}
}

func fnEmpty(_ *env, _ *call, a []any) (any, error) {
	switch v := a[0].(type) {
	case nil:
		return true, nil
	case string:
		return v == "", nil
	case []any:
		return len(v) == 0, nil
	case *Object:
		return len(v.Keys) == 0, nil
	}
	return nil, fail("argument 1 is %s; empty takes a string, an array, an object or null", typeName(a[0]))
}

func fnCoalesce(_ *env, _ *call, a []any) (any, error) {
	for _, v := range a {
		if v != nil {
			return v, nil
		}
	}
	return nil, nil
}

func fnJSON(_ *env, _ *call, a []any) (any, error) {
	s, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	t := strings.TrimSpace(s)
	if t != "" && (t[0] == '{' || t[0] == '[') {
		doc, err := arm.ParseDocument([]byte(t))
		if err != nil {
			return nil, fail("the argument is not valid JSON: %v", err)
		}
		return fromDocument(doc)
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, fail("the argument is not valid JSON: %s", errText(err, "data after the value"))
	}
	return FromPlain(v)
}

func checkString(n int) error {
	if n > maxStringLength {
		return fail("the result would be %d characters long; the limit is %d", n, maxStringLength)
	}
	return nil
}

func checkArray(a []any) error {
	if len(a) > maxArrayLength {
		return fail("the result would have %d items; the limit is %d", len(a), maxArrayLength)
	}
	return nil
}

func errText(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	return err.Error()
}

func fnArray(_ *env, _ *call, a []any) (any, error) {
	if arr, ok := a[0].([]any); ok {
		return arr, nil
	}
	return []any{a[0]}, nil
}

func fnCreateObject(_ *env, _ *call, a []any) (any, error) {
	if len(a)%2 != 0 {
		return nil, fail("createObject takes key/value pairs; %d arguments is an odd number", len(a))
	}
	o := &Object{}
	for i := 0; i < len(a); i += 2 {
		k, err := str(a, i)
		if err != nil {
			return nil, err
		}
		o.Set(k, a[i+1])
	}
	return o, nil
}

func fnUnion(_ *env, _ *call, a []any) (any, error) {
	switch a[0].(type) {
	case *Object:
		out := &Object{}
		for i, v := range a {
			o, ok := v.(*Object)
			if !ok {
				return nil, fail("argument %d is %s; union takes all objects or all arrays", i+1, typeName(v))
			}
			for j, k := range o.Keys {
				out.Set(k, o.Values[j])
			}
		}
		return out, nil
	case []any:
		out := []any{}
		for i, v := range a {
			arr, ok := v.([]any)
			if !ok {
				return nil, fail("argument %d is %s; union takes all objects or all arrays", i+1, typeName(v))
			}
		next:
			for _, it := range arr {
				for _, have := range out {
					if equal(have, it) {
						continue next
					}
				}
				out = append(out, it)
			}
		}
		return out, checkArray(out)
	}
	return nil, fail("argument 1 is %s; union takes all objects or all arrays", typeName(a[0]))
}

// fnContains: a substring (case-sensitive), an array item, or an object
// key (ignoring case), as in Azure.
func fnContains(_ *env, _ *call, a []any) (any, error) {
	switch c := a[0].(type) {
	case string:
		return strings.Contains(c, toText(a[1])), nil
	case []any:
		for _, it := range c {
			if equal(it, a[1]) {
				return true, nil
			}
		}
		return false, nil
	case *Object:
		k, err := str(a, 1)
		if err != nil {
			return nil, err
		}
		_, found := c.Get(k)
		return found, nil
	}
	return nil, fail("argument 1 is %s; contains takes a string, an array or an object", typeName(a[0]))
}

func fnLength(_ *env, _ *call, a []any) (any, error) {
	switch v := a[0].(type) {
	case string:
		return int64(utf8.RuneCountInString(v)), nil
	case []any:
		return int64(len(v)), nil
	case *Object:
		return int64(len(v.Keys)), nil
	}
	return nil, fail("argument 1 is %s; length takes a string, an array or an object", typeName(a[0]))
}

func edge(first bool) func(*env, *call, []any) (any, error) {
	return func(_ *env, _ *call, a []any) (any, error) {
		switch v := a[0].(type) {
		case string:
			r := []rune(v)
			if len(r) == 0 {
				return "", nil
			}
			if first {
				return string(r[0]), nil
			}
			return string(r[len(r)-1]), nil
		case []any:
			if len(v) == 0 {
				return nil, nil
			}
			if first {
				return v[0], nil
			}
			return v[len(v)-1], nil
		}
		return nil, fail("argument 1 is %s; it must be a string or an array", typeName(a[0]))
	}
}

func fnInt(_ *env, _ *call, a []any) (any, error) {
	switch v := a[0].(type) {
	case int64:
		return v, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fail("'%s' is not an integer", v)
		}
		return n, nil
	}
	return nil, fail("argument 1 is %s; int takes a string or an integer", typeName(a[0]))
}

func fnBool(_ *env, _ *call, a []any) (any, error) {
	switch v := a[0].(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fail("'%s' is not 'true' or 'false'", v)
	}
	return nil, fail("argument 1 is %s; bool takes a string, an integer or a boolean", typeName(a[0]))
}

// checkArity refuses a call with the wrong number of arguments, when the
// template is parsed.
func checkArity(c *call) error {
	f := functions[fold(c.name)]
	if f == nil {
		return fmt.Errorf("the template function '%s' at position %d is not supported (see docs/templates.md for the functions securetrain evaluates)", c.name, c.pos)
	}
	n := len(c.args)
	if n < f.min || (f.max >= 0 && n > f.max) {
		want := strconv.Itoa(f.min)
		switch {
		case f.max < 0:
			want = "at least " + want
		case f.max != f.min:
			want = fmt.Sprintf("%d to %d", f.min, f.max)
		}
		return fmt.Errorf("the template function '%s' at position %d takes %s argument(s); %d given", c.name, c.pos, want, n)
	}
	return nil
}
