package arm

import (
	"encoding/json"
	"fmt"
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
	yd, err := parseYAML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	y := yd.Root().Value()
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
		v, err := parseJSON(data, string(data))
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

// parseBoth parses data in one pass and with every top-level array large
// enough to be read on two cores.
func parseBoth(data []byte) (seq, split *Value, seqErr, splitErr error) {
	defer func(m int) { splitMin = m }(splitMin)
	splitMin = 1 << 30
	seq, seqErr = parseJSON(data, string(data))
	splitMin = 0
	split, splitErr = parseJSON(data, string(data))
	return seq, split, seqErr, splitErr
}

func sameParse(t *testing.T, data []byte) {
	t.Helper()
	seq, split, seqErr, splitErr := parseBoth(data)
	if fmt.Sprint(seqErr) != fmt.Sprint(splitErr) {
		t.Fatalf("errors differ: one pass %v, split %v", seqErr, splitErr)
	}
	if !reflect.DeepEqual(seq, split) {
		t.Fatalf("trees differ (values or lines)")
	}
}

// resourceList is a resource list of n entries written as generated
// environments are (one item per line group: see startAhead), with every
// kind of value and escaped strings.
func resourceList(n int) string {
	var b strings.Builder
	b.WriteString("{\n \"subscription\": \"s\\u00e9\",\n \"resources\": [\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\n   \"name\": \"r%d\",\n   \"properties\": {\"priority\": %d, \"esc\": \"a\\\"b\", \"on\": true, \"z\": null, \"e\": {}, \"list\": [\n    {\"a\": 1}\n   ]}\n  }", i, 100+i)
	}
	b.WriteString("\n ]\n}\n")
	return b.String()
}

// TestJSONSplitMatchesOnePass: reading a large resource list on two cores
// gives the tree, lines and errors of a reading in one pass, wherever the
// error is.
func TestJSONSplitMatchesOnePass(t *testing.T) {
	doc := resourceList(200)
	p := &jsonParser{data: []byte(doc), src: doc, line: 1}
	p.pos = strings.Index(doc, "  {") + 2
	if a := p.startAhead(1); a == nil || a.start <= len(doc)/2 {
		t.Fatalf("no boundary guessed in the second half: %+v", a)
	} else {
		a.stop.Store(true)
	}
	sameParse(t, []byte(doc))
	for _, bad := range []struct{ old, new string }{
		{`"priority": 150`, `"priority": 0150`},                     // after the guess
		{`"priority": 299`, `"priority": 299, "priority": 1`},       // the last item
		{`"priority": 101`, `"priority": tru`},                      // before the guess
		{`"name": "r151"`, "\"name\": \"r151\x01\""},                // a control character
		{"  {\n   \"name\": \"r120\"", "  {\n   \"name\" \"r120\""}, // a missing colon
		{"\n ]\n}\n", "\n ,\n}\n"},                                  // the end of the list
	} {
		t.Run(bad.new, func(t *testing.T) {
			broken := strings.Replace(doc, bad.old, bad.new, 1)
			if broken == doc {
				t.Fatalf("%q is not in the document", bad.old)
			}
			sameParse(t, []byte(broken))
			if _, err := parseJSON([]byte(broken), broken); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// FuzzJSONSplit: for any input, reading top-level arrays on two cores
// answers as a reading in one pass does.
func FuzzJSONSplit(f *testing.F) {
	f.Add([]byte("{\n \"resources\": [\n  {\"a\": 1},\n  {\"b\": [\n  {\"c\": 2}]},\n  {\"d\": 3}\n ]\n}"))
	f.Add([]byte("{\n \"r\": [\n  {},\n  {\"x\": \"\\n  {\"},\n  {\n  }\n ]}"))
	f.Add([]byte("[\n {\"a\": [\n  {},\n  {}\n ]},\n {}\n]"))
	f.Fuzz(func(t *testing.T, data []byte) { sameParse(t, data) })
}

// TestParseOwnedDocument: a document parsed in place gives the tree a
// copy gives, for JSON and YAML.
func TestParseOwnedDocument(t *testing.T) {
	for _, doc := range []string{"{\n \"a\": [\"x\", {\"b\": \"\\u00e9\"}],\n \"c\": 1\n}", "a:\n  - x\n  - b: é\nc: 1\n"} {
		want, err := ParseDocument([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseOwned([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Root().Value(); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v, %v", doc, toAny(got), err)
		}
	}
}
