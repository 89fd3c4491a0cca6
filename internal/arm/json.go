package arm

import (
	"encoding/json"
	"fmt"
)

// jsonParser is a JSON reader that records lines. JSON documents take this
// path instead of the YAML parser: it is an order of magnitude faster and
// lighter on large generated environments, and it gives the same tree.
//
// It allocates in bulk: strings are slices of one copy of the document,
// values come from slabs, and an object's or array's members are gathered
// on a stack and copied once into a slab at their exact size. A
// 36 MB environment is millions of values; one allocation each (and
// growing slices member by member) made parsing a third of `check`'s time.
type jsonParser struct {
	data []byte
	src  string // data as a string: unescaped strings are slices of it
	pos  int
	line int
	// values, ptrs and keys are slabs the tree is carved from.
	values []Value
	ptrs   []*Value
	keys   []string
	// stack and keyStack hold the members of the objects and arrays being
	// read, innermost last.
	stack    []*Value
	keyStack []string
}

// slabSize is how many values (or pointers, or keys) one slab holds: large
// enough that allocation is rare, small enough that a small document
// (an API request body) does not pay for a large one.
const slabSize = 256

func parseJSON(data []byte) (*Value, error) {
	p := &jsonParser{data: data, src: string(data), line: 1}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.data) {
		return nil, p.errorf("unexpected %q after the document", p.data[p.pos])
	}
	return v, nil
}

func (p *jsonParser) errorf(format string, a ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{p.line}, a...)...)
}

func (p *jsonParser) newValue(k Kind, line int) *Value {
	if len(p.values) == 0 {
		p.values = make([]Value, slabSize)
	}
	v := &p.values[0]
	p.values = p.values[1:]
	v.Kind, v.Line = k, line
	return v
}

// members moves the top n entries of the stack into an exact-size slice.
func (p *jsonParser) members(n int) []*Value {
	if n == 0 {
		return nil
	}
	if len(p.ptrs) < n {
		p.ptrs = make([]*Value, max(n, slabSize))
	}
	out := p.ptrs[:n:n]
	p.ptrs = p.ptrs[n:]
	copy(out, p.stack[len(p.stack)-n:])
	clear(p.stack[len(p.stack)-n:]) // the stack must not keep the tree alive
	p.stack = p.stack[:len(p.stack)-n]
	return out
}

// memberKeys is members for the key stack.
func (p *jsonParser) memberKeys(n int) []string {
	if n == 0 {
		return nil
	}
	if len(p.keys) < n {
		p.keys = make([]string, max(n, slabSize))
	}
	out := p.keys[:n:n]
	p.keys = p.keys[n:]
	copy(out, p.keyStack[len(p.keyStack)-n:])
	p.keyStack = p.keyStack[:len(p.keyStack)-n]
	return out
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.line++
		case ' ', '\t', '\r':
		default:
			return
		}
		p.pos++
	}
}

func (p *jsonParser) value(depth int) (*Value, error) {
	if depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d levels", maxDepth)
	}
	p.space()
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of document")
	}
	line := p.line
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		v := p.newValue(String, line)
		v.Str = s
		return v, nil
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]struct {
			text string
			kind Kind
		}{{"true", Bool}, {"false", Bool}, {"null", Null}} {
			if end := p.pos + len(lit.text); end <= len(p.src) && p.src[p.pos:end] == lit.text {
				v := p.newValue(lit.kind, line)
				if lit.kind == Bool {
					v.Str = lit.text
				}
				p.pos = end
				return v, nil
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		for p.pos < len(p.data) && isNumberByte(p.data[p.pos]) {
			p.pos++
		}
		text := p.src[start:p.pos]
		if !validNumber(text) {
			return nil, p.errorf("%q is not a valid number", text)
		}
		v := p.newValue(Number, line)
		v.Str = text
		return v, nil
	}
	return nil, p.errorf("unexpected %q", p.data[p.pos])
}

func isNumberByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9')
}

// validNumber reports whether s is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

func (p *jsonParser) str() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	escaped := false
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			if !escaped {
				return p.src[start+1 : p.pos-1], nil
			}
			raw := p.data[start:p.pos]
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", p.errorf("invalid string %s", raw)
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.pos += 2
			continue
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c >= 0x80:
			// Non-ASCII: let encoding/json validate and normalise it.
			escaped = true
		}
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

// linearKeys is how many keys an object may have before duplicates are
// looked for with a map rather than by comparing with each earlier key.
const linearKeys = 16

func (p *jsonParser) object(depth int) (*Value, error) {
	v := p.newValue(Object, p.line)
	p.pos++
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	base := len(p.keyStack)
	var seen map[string]bool
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		keyLine := p.line
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if p.duplicate(key, base, &seen) {
			return nil, fmt.Errorf("line %d: key %q appears twice in one object", keyLine, key)
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		fv, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.keyStack = append(p.keyStack, key)
		p.stack = append(p.stack, fv)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			n := len(p.keyStack) - base
			v.Keys, v.Fields = p.memberKeys(n), p.members(n)
			return v, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object, got %q", p.data[p.pos])
		}
	}
}

// duplicate reports whether key is already a key of the object whose keys
// start at base on the key stack.
func (p *jsonParser) duplicate(key string, base int, seen *map[string]bool) bool {
	keys := p.keyStack[base:]
	if len(keys) < linearKeys {
		for _, k := range keys {
			if k == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*len(keys))
		for _, k := range keys {
			(*seen)[k] = true
		}
	}
	if (*seen)[key] {
		return true
	}
	(*seen)[key] = true
	return false
}

func (p *jsonParser) array(depth int) (*Value, error) {
	v := p.newValue(Array, p.line)
	p.pos++
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	base := len(p.stack)
	for {
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.stack = append(p.stack, item)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			v.Items = p.members(len(p.stack) - base)
			return v, nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array, got %q", p.data[p.pos])
		}
	}
}
