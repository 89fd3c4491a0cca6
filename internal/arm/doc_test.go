package arm

import (
	"fmt"
	"strings"
	"testing"
)

// sameNode compares a Doc's node with the *Value built from it the old way
// round: every accessor of Node against the tree's fields.
func sameNode(t *testing.T, n Node, v *Value, path string) {
	t.Helper()
	if n.Kind() != v.Kind || n.Line() != v.Line || n.Str() != v.Str {
		t.Fatalf("%s: node %s line %d %q, value %s line %d %q", path, n.Kind(), n.Line(), n.Str(), v.Kind, v.Line, v.Str)
	}
	switch v.Kind {
	case Array:
		if n.Len() != len(v.Items) {
			t.Fatalf("%s: %d items, want %d", path, n.Len(), len(v.Items))
		}
		for i, it := range n.Items() {
			sameNode(t, it, v.Items[i], fmt.Sprintf("%s[%d]", path, i))
			sameNode(t, n.Item(i), v.Items[i], fmt.Sprintf("%s[%d]", path, i))
		}
	case Object:
		if n.Len() != len(v.Keys) {
			t.Fatalf("%s: %d members, want %d", path, n.Len(), len(v.Keys))
		}
		for i, k := range v.Keys {
			if n.Key(i) != k || n.Index(k) != i {
				t.Fatalf("%s: member %d is %q (index %d), want %q", path, i, n.Key(i), n.Index(k), k)
			}
			sameNode(t, n.Field(i), v.Fields[i], path+"."+k)
			sameNode(t, n.Get(k), v.Get(k), path+"."+k)
		}
	default:
		if n.Len() != 0 {
			t.Fatalf("%s: a %s has %d members", path, v.Kind, n.Len())
		}
	}
	if missing := "\x00missing"; !n.Get(missing).IsZero() || n.Index(missing) != -1 {
		t.Fatalf("%s: a missing key was found", path)
	}
}

// TestDocAccessors: a Doc answers as the *Value tree built from it, for
// JSON (read in one pass and on two cores) and YAML, with escaped and
// plain strings; an absent node is empty.
func TestDocAccessors(t *testing.T) {
	defer func(m int) { splitMin = m }(splitMin)
	for _, doc := range []string{resourceList(50), "a: 1\nb:\n  - x\n  - true\n  - {c: null}\nc: \"é\"\n"} {
		for _, split := range []int{1 << 30, 0} {
			splitMin = split
			d, err := Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if read := len(d.parts[1].nodes) > 0; read != (split == 0 && doc[0] == '{') {
				t.Errorf("split %d: part read on another core: %v", split, read)
			}
			sameNode(t, d.Root(), d.Root().Value(), "$")
		}
	}
	var absent Node
	if !absent.IsZero() || absent.Kind() != Null || absent.Len() != 0 || absent.Str() != "" || absent.Line() != 0 || !absent.Get("a").IsZero() || absent.Value() != nil {
		t.Error("an absent node is not empty")
	}
}

// FuzzDoc: for any document, every accessor of the Doc agrees with the
// *Value tree, read in one pass and on two cores.
func FuzzDoc(f *testing.F) {
	f.Add([]byte("{\n \"r\": [\n  {\"a\": \"\\n\", \"b\": [1, {}]},\n  {\"c\": null}\n ]\n}"))
	f.Add([]byte("a:\n  - b: 1\n  - [x, y]\n"))
	f.Add([]byte(`[{"x": "\ud83d\ude00", "y": false}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer func(m int) { splitMin = m }(splitMin)
		for _, split := range []int{1 << 30, 0} {
			splitMin = split
			d, err := Parse(data)
			if err != nil {
				return
			}
			sameNode(t, d.Root(), d.Root().Value(), "$")
		}
	})
}

// TestParseKeepsNoCallerBytes: Parse's Doc reads a copy of the text (made
// beside the parser for a large document), so the caller may change its
// bytes afterwards; ParseOwned's Doc shares them.
func TestParseKeepsNoCallerBytes(t *testing.T) {
	defer func(m int) { splitMin = m }(splitMin)
	doc := resourceList(50)
	for _, split := range []int{1 << 30, 0} {
		splitMin = split
		data := []byte(doc)
		d, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		want := d.Root().Value()
		for i := range data {
			data[i] = 'x'
		}
		sameNode(t, d.Root(), want, "$")
	}
	data := []byte(doc)
	d, err := ParseOwned(data)
	if err != nil {
		t.Fatal(err)
	}
	data[strings.Index(doc, `"r0"`)+1] = 'q'
	if name := d.Root().Get("resources").Item(0).Get("name").Str(); name != "q0" {
		t.Errorf("ParseOwned's Doc reads %q, not the caller's bytes", name)
	}
}
