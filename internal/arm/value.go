package arm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	goyaml "github.com/goccy/go-yaml"
	goyamlparser "github.com/goccy/go-yaml/parser"
	yaml "go.yaml.in/yaml/v3"
)

// Kind is the JSON kind of a Value.
type Kind int

// The JSON kinds.
const (
	Null Kind = iota
	String
	Number
	Bool
	Object
	Array
)

func (k Kind) String() string {
	return [...]string{"null", "string", "number", "boolean", "object", "array"}[k]
}

// Value is a JSON value that remembers the line it came from, so errors can
// point at the file and line. YAML and JSON files decode to the same tree.
type Value struct {
	Kind Kind
	Line int
	// Str holds the text of strings and numbers, and "true"/"false" for booleans.
	Str   string
	Items []*Value
	// Keys and Fields are an object's members in file order.
	Keys   []string
	Fields []*Value
}

// MaxDocumentBytes bounds environment files and request bodies; larger input
// is refused before parsing.
const MaxDocumentBytes = 64 << 20

// ParseDocument parses YAML or JSON into a Value tree. JSON takes a faster
// reader of its own; both give the same tree.
func ParseDocument(data []byte) (*Value, error) {
	d, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return d.Root().Value(), nil
}

func parseYAML(data []byte) (*Doc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("document is empty")
		}
		return nil, yamlSyntaxError(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: a file holds one document; found a second one", extra.Line)
	}
	var b builder
	root, err := b.fromNode(&doc, 0)
	if err != nil {
		return nil, err
	}
	return b.doc("", root), nil
}

// SyntaxError is a document that does not parse, at the line and column
// (both 1-based; 0 when unknown) of the offending token.
type SyntaxError struct {
	Line, Column int
	Message      string
}

func (e *SyntaxError) Error() string {
	switch {
	case e.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return e.Message
}

// yamlSyntaxError positions a YAML syntax error. go.yaml.in/yaml/v3, which
// reads the document, reports some errors at the start of the enclosing
// block (an indentation mistake on line 14 comes out at line 10) and
// never gives a column. github.com/goccy/go-yaml reports the token it
// stopped at, except that a plain scalar spanning lines is reported at its
// start. The offence is at or after both positions, so the later one is
// taken; a line only yaml/v3 names gets the column of its first token.
func yamlSyntaxError(data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, found := strings.Cut(rest, ": ")
		if n, convErr := strconv.Atoi(num); found && convErr == nil {
			line, msg = n, tail
		}
	}
	e := &SyntaxError{Line: line, Column: firstTokenColumn(data, line), Message: msg}
	var se *goyaml.SyntaxError
	if _, err := goyamlparser.ParseBytes(data, 0); errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
		if p := se.Token.Position; p.Line >= e.Line {
			e.Line, e.Column = p.Line, p.Column
		}
	}
	return e
}

// firstTokenColumn is the column of the first non-blank character of line
// (1-based), or 0 when there is none.
func firstTokenColumn(data []byte, line int) int {
	if line < 1 {
		return 0
	}
	lines := bytes.SplitN(data, []byte("\n"), line+1)
	if len(lines) < line {
		return 0
	}
	text := lines[line-1]
	if i := bytes.IndexFunc(text, func(r rune) bool { return r != ' ' && r != '\t' && r != '\r' }); i >= 0 {
		return i + 1
	}
	return 0
}

// looksLikeJSON: a document whose first significant byte opens a JSON
// object or array is read as JSON, and must be JSON (a YAML document
// written in flow style at the top level is refused with JSON's error).
func looksLikeJSON(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// maxDepth stops pathological nesting before it can exhaust the stack.
const maxDepth = 200

// fromNode builds n's value; YAML's strings are not slices of the text,
// so every one is owned.
func (b *builder) fromNode(n *yaml.Node, depth int) (node, error) {
	if depth > maxDepth {
		return node{}, fmt.Errorf("line %d: nesting deeper than %d levels", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return node{}, errors.New("document is empty")
		}
		return b.fromNode(n.Content[0], depth+1)
	case yaml.AliasNode:
		return node{}, fmt.Errorf("line %d: YAML aliases are not supported; write the value out", n.Line)
	case yaml.MappingNode:
		base := len(b.stack)
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return node{}, fmt.Errorf("line %d: object keys must be strings", k.Line)
			}
			if k.Tag == "!!merge" {
				return node{}, fmt.Errorf("line %d: YAML merge keys (<<) are not supported", k.Line)
			}
			if seen[k.Value] {
				return node{}, fmt.Errorf("line %d: key %q appears twice in one object", k.Line, k.Value)
			}
			seen[k.Value] = true
			b.stack = append(b.stack, b.own(String, k.Line, k.Value))
			fv, err := b.fromNode(n.Content[i+1], depth+1)
			if err != nil {
				return node{}, err
			}
			b.stack = append(b.stack, fv)
		}
		return b.close(Object, n.Line, base), nil
	case yaml.SequenceNode:
		base := len(b.stack)
		for _, c := range n.Content {
			cv, err := b.fromNode(c, depth+1)
			if err != nil {
				return node{}, err
			}
			b.stack = append(b.stack, cv)
		}
		return b.close(Array, n.Line, base), nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return newNode(Null, false, n.Line, 0, 0), nil
		case "!!bool":
			v, err := strconv.ParseBool(strings.ToLower(n.Value))
			if err != nil {
				return node{}, fmt.Errorf("line %d: %q is not a boolean", n.Line, n.Value)
			}
			return b.own(Bool, n.Line, strconv.FormatBool(v)), nil
		case "!!int", "!!float":
			return b.own(Number, n.Line, n.Value), nil
		}
		return b.own(String, n.Line, n.Value), nil
	}
	return node{}, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// Get returns an object member by exact key, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != Object {
		return nil
	}
	for i, k := range v.Keys {
		if k == key {
			return v.Fields[i]
		}
	}
	return nil
}
