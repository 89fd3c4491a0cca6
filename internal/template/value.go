package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
)

// Template values are nil, string, int64, float64 (only from JSON literals),
// bool, []any and *Object.

// Object is a JSON object that keeps its members in order and looks them
// up ignoring case, as template expressions do.
type Object struct {
	Keys   []string
	Values []any
}

// Get returns the member named key (any case).
func (o *Object) Get(key string) (any, bool) {
	if i := o.index(key); i >= 0 {
		return o.Values[i], true
	}
	return nil, false
}

func (o *Object) index(key string) int {
	for i, k := range o.Keys {
		if strings.EqualFold(k, key) {
			return i
		}
	}
	return -1
}

// Set replaces the member named key (any case) or appends it.
func (o *Object) Set(key string, v any) {
	if i := o.index(key); i >= 0 {
		o.Values[i] = v
		return
	}
	o.Keys = append(o.Keys, key)
	o.Values = append(o.Values, v)
}

// MarshalJSON writes the members in order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.Keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.Values[i])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Plain converts a template value to the plain JSON form of an ARM body
// (arm.Body): objects become maps and numbers json.Number.
func Plain(v any) any {
	switch x := v.(type) {
	case *Object:
		m := make(arm.Body, len(x.Keys))
		for i, k := range x.Keys {
			m[k] = Plain(x.Values[i])
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = Plain(it)
		}
		return out
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return v
}

// FromPlain converts decoded JSON (maps, json.Number or float64 numbers)
// into a template value; resolvers may return either form. Map keys come
// out sorted, as a map has no order of its own.
func FromPlain(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		return x, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %q: %w", x, err)
		}
		return f, nil
	case *Object:
		return x, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := &Object{}
		for _, k := range keys {
			cv, err := FromPlain(x[k])
			if err != nil {
				return nil, err
			}
			o.Set(k, cv)
		}
		return o, nil
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			cv, err := FromPlain(it)
			if err != nil {
				return nil, err
			}
			out[i] = cv
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value of Go type %T is not JSON", v)
}

// fromDocument converts a literal JSON tree (parameter values, json()
// results) into a template value, keeping member order.
func fromDocument(v *arm.Value) (any, error) {
	switch v.Kind {
	case arm.Null:
		return nil, nil
	case arm.String:
		return v.Str, nil
	case arm.Bool:
		return v.Str == "true", nil
	case arm.Number:
		return parseNumber(v.Str, v.Line)
	case arm.Array:
		out := make([]any, len(v.Items))
		for i, it := range v.Items {
			cv, err := fromDocument(it)
			if err != nil {
				return nil, err
			}
			out[i] = cv
		}
		return out, nil
	}
	o := &Object{}
	for i, k := range v.Keys {
		cv, err := fromDocument(v.Fields[i])
		if err != nil {
			return nil, err
		}
		o.Set(k, cv)
	}
	return o, nil
}

func parseNumber(text string, line int) (any, error) {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, invalid(line, "number %s is out of range", text)
	}
	return f, nil
}

// typeName is the name ARM gives a value's type in its messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "Null"
	case string:
		return "String"
	case int64:
		return "Integer"
	case float64:
		return "Float"
	case bool:
		return "Boolean"
	case []any:
		return "Array"
	case *Object:
		return "Object"
	}
	return fmt.Sprintf("%T", v)
}

// equal is deep equality: strings compare exactly, object members by name
// ignoring case.
func equal(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Object:
		y, ok := b.(*Object)
		if !ok || len(x.Keys) != len(y.Keys) {
			return false
		}
		for i, k := range x.Keys {
			yv, found := y.Get(k)
			if !found || !equal(x.Values[i], yv) {
				return false
			}
		}
		return true
	case int64:
		if f, ok := b.(float64); ok {
			return float64(x) == f
		}
	case float64:
		if n, ok := b.(int64); ok {
			return x == float64(n)
		}
	}
	return a == b
}

// toText is a value as string() and format() write it: strings as they are,
// booleans as True/False (as .NET writes them), numbers in decimal, objects
// and arrays as compact JSON.
func toText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
