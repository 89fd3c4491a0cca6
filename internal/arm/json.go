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
// lighter on large generated environments, and it gives the same values.
// It builds a Doc (see builder): no allocation per value.
type jsonParser struct {
	builder
	data []byte
	src  string // data as a string: unescaped strings are slices of it
	pos  int
	line int
	// isAhead marks a parser reading the second half of an array (see
	// startAhead), which does not split again.
	isAhead bool
}

// parseJSONDoc parses data, whose text is src: unescaped strings are
// slices of src.
func parseJSONDoc(data []byte, src string) (*Doc, error) {
	// About one value per 16 bytes of a generated environment: sized
	// once, the node list is rarely copied to grow. A document large
	// enough to be read on two cores needs about half here (see
	// startAhead).
	capacity := len(data)/16 + 8
	if len(data) >= splitMin {
		capacity = capacity * 11 / 20
	}
	p := &jsonParser{builder: newBuilder(0, capacity), data: data, src: src, line: 1}
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.data) {
		return nil, p.errorf("unexpected %q after the document", p.data[p.pos])
	}
	return p.doc(p.src, root), nil
}

// parseJSON is parseJSONDoc as a *Value tree.
func parseJSON(data []byte, src string) (*Value, error) {
	d, err := parseJSONDoc(data, src)
	if err != nil {
		return nil, err
	}
	return d.Root().Value(), nil
}

func (p *jsonParser) text(x *node) string { return text(p.src, &p.parts, x) }

func (p *jsonParser) errorf(format string, a ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{p.line}, a...)...)
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

func (p *jsonParser) value(depth int) (node, error) {
	if depth > maxDepth {
		return node{}, p.errorf("nesting deeper than %d levels", maxDepth)
	}
	p.space()
	if p.pos >= len(p.data) {
		return node{}, p.errorf("unexpected end of document")
	}
	line := p.line
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]struct {
			text string
			kind Kind
		}{{"true", Bool}, {"false", Bool}, {"null", Null}} {
			if end := p.pos + len(lit.text); end <= len(p.src) && p.src[p.pos:end] == lit.text {
				x := slice(lit.kind, line, p.pos, end)
				if lit.kind == Null {
					x.b = 0 // null has no text
				}
				p.pos = end
				return x, nil
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		for p.pos < len(p.data) && isNumberByte(p.data[p.pos]) {
			p.pos++
		}
		if text := p.src[start:p.pos]; !validNumber(text) {
			return node{}, p.errorf("%q is not a valid number", text)
		}
		return slice(Number, line, start, p.pos), nil
	}
	return node{}, p.errorf("unexpected %q", p.data[p.pos])
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

// str reads a string: a slice of src unless it holds escapes or
// non-ASCII bytes.
func (p *jsonParser) str() (node, error) {
	start, line := p.pos, p.line
	p.pos++ // opening quote
	escaped := false
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			if !escaped {
				return slice(String, line, start+1, p.pos-1), nil
			}
			raw := p.data[start:p.pos]
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return node{}, p.errorf("invalid string %s", raw)
			}
			return p.own(String, line, s), nil
		case c == '\\':
			escaped = true
			p.pos += 2
			continue
		case c < 0x20:
			return node{}, p.errorf("control character in a string")
		case c >= 0x80:
			// Non-ASCII: let encoding/json validate and normalise it.
			escaped = true
		}
		p.pos++
	}
	return node{}, p.errorf("unterminated string")
}

// linearKeys is how many keys an object may have before duplicates are
// looked for with a map rather than by comparing with each earlier key.
const linearKeys = 16

func (p *jsonParser) object(depth int) (node, error) {
	line := p.line
	p.pos++
	p.space()
	base := len(p.stack)
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return p.close(Object, line, base), nil
	}
	var seen map[string]bool
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return node{}, p.errorf("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return node{}, err
		}
		key := p.text(&k)
		if p.duplicate(key, base, &seen) {
			return node{}, fmt.Errorf("line %d: key %q appears twice in one object", k.line(), key)
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return node{}, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		p.stack = append(p.stack, k)
		fv, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		p.stack = append(p.stack, fv)
		p.space()
		if p.pos >= len(p.data) {
			return node{}, p.errorf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return p.close(Object, line, base), nil
		default:
			return node{}, p.errorf("expected ',' or '}' in an object, got %q", p.data[p.pos])
		}
	}
}

// duplicate reports whether key is already a key of the object whose
// members start at base on the stack.
func (p *jsonParser) duplicate(key string, base int, seen *map[string]bool) bool {
	members := p.stack[base:]
	if len(members) < 2*linearKeys {
		for i := 0; i < len(members); i += 2 {
			if p.text(&members[i]) == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, len(members))
		for i := 0; i < len(members); i += 2 {
			(*seen)[p.text(&members[i])] = true
		}
	}
	if (*seen)[key] {
		return true
	}
	(*seen)[key] = true
	return false
}

func (p *jsonParser) array(depth int) (node, error) {
	line := p.line
	p.pos++
	p.space()
	base := len(p.stack)
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return p.close(Array, line, base), nil
	}
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
					p.stack = append(p.stack, p.builder.join(&a.q.builder)...)
					p.pos, p.line = a.end+1, a.line
					return p.close(Array, line, base), nil
				}
			}
		}
		item, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		p.stack = append(p.stack, item)
		p.space()
		if p.pos >= len(p.data) {
			return node{}, p.errorf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return p.close(Array, line, base), nil
		default:
			return node{}, p.errorf("expected ',' or ']' in an array, got %q", p.data[p.pos])
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
	// q reads; its stack holds the items read. Set when done: the
	// position of the closing ']' and the line there, or err.
	q    *jsonParser
	end  int
	line int
	err  error
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
	a.q = &jsonParser{builder: newBuilder(1, (len(p.data)-start)/16+8),
		data: p.data, src: p.src, pos: start, line: a.startLine, isAhead: true}
	go func() {
		defer close(a.done)
		a.err = a.q.readItems(depth, a)
	}()
	return a
}

// readItems reads array items and their separators up to the closing ']'
// onto p's stack.
func (p *jsonParser) readItems(depth int, a *aheadParse) error {
	for {
		if a.stop.Load() {
			return errStopped
		}
		item, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		p.stack = append(p.stack, item)
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
