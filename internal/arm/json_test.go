package arm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// toAny converts a tree to what encoding/json would decode (numbers as
// json.Number).
func toAny(v *Value) any {
	switch v.Kind {
	case Null:
		return nil
	case Bool:
		return v.Str == "true"
	case Number:
		return json.Number(v.Str)
	case String:
		return v.Str
	case Array:
		out := []any{}
		for _, it := range v.Items {
			out = append(out, toAny(it))
		}
		return out
	}
	out := map[string]any{}
	for i, k := range v.Keys {
		out[k] = toAny(v.Fields[i])
	}
	return out
}

func TestJSONLinesAndYAMLAgree(t *testing.T) {
	doc := "{\n  \"a\": [1, \"x\\n\\u00e9\"],\n  \"b\": {\"c\": null, \"d\": true}\n}\n"
	j, err := ParseDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	y, err := parseYAML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(toAny(j), toAny(y)) {
		t.Errorf("json %v, yaml %v", toAny(j), toAny(y))
	}
	if j.Get("b").Line != 3 || j.Get("a").Items[1].Str != "x\né" {
		t.Errorf("lines/strings: %+v", j.Get("b"))
	}
	for in, want := range map[string]string{
		"{\"a\": 1,\n \"a\": 2}": "line 2: key \"a\" appears twice",
		"{\"a\": tru}":           "unexpected",
		"{\"a\": [1, 2}":         "expected ',' or ']'",
		"{\"a\": \"x":            "unterminated string",
		"{\"a\": 1} x":           "after the document",
		"[01]":                   "not a valid number",
	} {
		_, err := ParseDocument([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	// A document opening with "{" is JSON: YAML flow style is refused.
	if _, err := ParseDocument([]byte("{a: 1, b: [x]}")); err == nil || !strings.Contains(err.Error(), "expected a string key") {
		t.Errorf("flow mapping: %v", err)
	}
}

// FuzzJSON: whatever encoding/json accepts (objects and arrays without
// duplicate keys), the JSON reader accepts with the same values.
func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"a": [1, -2.5e3, "s\"\\", {"b": null}], "c": false}`))
	f.Add([]byte(`[{"x": "\ud83d\ude00"}]`))
	f.Add([]byte(`{"a": {"a": {"a": []}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseJSON(data)
		if err != nil && (strings.Contains(err.Error(), "appears twice") || strings.Contains(err.Error(), "nesting")) {
			return
		}
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("%q: encoding/json valid=%v, parseJSON error %v", data, valid, err)
		}
		if err != nil {
			return
		}
		var want any
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(toAny(v), want) {
			t.Fatalf("%q: got %#v, want %#v", data, toAny(v), want)
		}
	})
}
