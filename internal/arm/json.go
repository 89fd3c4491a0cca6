package arm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
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
	// isAhead marks a parser reading the second half of an array (see
	// startAhead), which does not split again.
	isAhead bool
}

// slabSize is how many values (or pointers, or keys) one slab holds: large
// enough that allocation is rare, small enough that a small document
// (an API request body) does not pay for a large one.
const slabSize = 256

// parseJSON parses data, whose text is src: unescaped strings are slices
// of src.
func parseJSON(data []byte, src string) (*Value, error) {
	p := &jsonParser{data: data, src: src, line: 1}
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
	var ahead *aheadParse
	if depth == 1 && !p.isAhead && len(p.data)-p.pos >= splitMin {
		if ahead = p.startAhead(depth); ahead != nil {
			defer func() {
				if ahead != nil { // not joined: an error ends the array
					ahead.stop.Store(true)
				}
			}()
		}
	}
	for {
		if ahead != nil {
			p.space()
			if p.pos >= ahead.start {
				a := ahead
				ahead = nil
				if a.join(p.pos, p.line) {
					p.stack = append(p.stack, a.items...)
					p.pos, p.line = a.end+1, a.line
					v.Items = p.members(len(p.stack) - base)
					return v, nil
				}
			}
		}
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

// splitMin is the size from which an array at the top of the document (an
// environment file's resource list) is read on two cores: below it the
// goroutine costs more than it saves.
var splitMin = 4 << 20

// aheadParse reads the items of an array from a guessed item boundary
// near the middle of the document, while the array's own parser reads from
// its start. The guess is used only when that parser, reading every item
// before it, arrives at it exactly: it is then a true item boundary, and
// the tree, lines and errors are those of a reading in one pass.
type aheadParse struct {
	start     int // where the guessed item starts
	startLine int
	stop      atomic.Bool
	done      chan struct{}
	// Set when done: the items read, the position of the closing ']' and
	// the line there, or err.
	items []*Value
	end   int
	line  int
	err   error
}

var errStopped = errors.New("stopped")

// startAhead guesses an item boundary in the second half of the array
// whose first item p is at, and reads from it on another goroutine; nil
// when there is no guess. A boundary is a newline, the first item's
// indentation and "{", after a comma: JSON strings hold no raw newlines.
func (p *jsonParser) startAhead(depth int) *aheadParse {
	nl := bytes.LastIndexByte(p.data[:p.pos], '\n')
	if nl < 0 || p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return nil
	}
	pattern := p.data[nl : p.pos+1] // "\n", the indentation, "{"
	mid := p.pos + (len(p.data)-p.pos)/2
	i := bytes.Index(p.data[mid:], pattern)
	if i < 0 {
		return nil
	}
	start := mid + i + len(pattern) - 1
	if before := bytes.TrimRight(p.data[:mid+i], " \t\r\n"); len(before) == 0 || before[len(before)-1] != ',' {
		return nil
	}
	a := &aheadParse{start: start, startLine: 1 + bytes.Count(p.data[:start], []byte{'\n'}), done: make(chan struct{})}
	q := &jsonParser{data: p.data, src: p.src, pos: start, line: a.startLine, isAhead: true}
	go func() {
		defer close(a.done)
		a.err = q.readItems(depth, a)
	}()
	return a
}

// readItems reads array items and their separators up to the closing ']'
// into a.
func (p *jsonParser) readItems(depth int, a *aheadParse) error {
	for {
		if a.stop.Load() {
			return errStopped
		}
		item, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		a.items = append(a.items, item)
		p.space()
		if p.pos >= len(p.data) {
			return errStopped // the array's own parser reports it
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			a.end, a.line = p.pos, p.line
			return nil
		default:
			return errStopped
		}
	}
}

// join waits for the ahead reading and reports whether it can be used: the
// array's parser arrived exactly at its start (pos, on the line it counted
// from the newlines before it) and it read to the array's end. Otherwise
// the array's parser reads on by itself, and meets any error there is in
// the same place a reading in one pass would.
func (a *aheadParse) join(pos, line int) bool {
	if pos != a.start || line != a.startLine {
		a.stop.Store(true)
		return false
	}
	<-a.done
	return a.err == nil
}
