package template

import (
	"fmt"
	"strconv"
	"strings"
)

// The expression language of ARM templates: a JSON string "[...]" holds an
// expression; "[[" at the start escapes a literal "[". Inside: function
// calls, 'string' literals ('' is a quote), integers, and .property and
// [index] access on any value.

// maxExpressionLength is Azure's limit on one template expression.
const maxExpressionLength = 24576

// maxExpressionDepth bounds nesting so a hostile template cannot exhaust
// the stack.
const maxExpressionDepth = 100

type expr interface{ position() int }

type strLit struct {
	pos int
	s   string
}

type intLit struct {
	pos int
	n   int64
}

type call struct {
	pos  int
	name string // as written; functions match ignoring case
	args []expr
}

// access is target.prop (index nil) or target[index].
type access struct {
	pos    int
	target expr
	prop   string
	index  expr
}

func (e *strLit) position() int { return e.pos }
func (e *intLit) position() int { return e.pos }
func (e *call) position() int   { return e.pos }
func (e *access) position() int { return e.pos }

// classify reports whether a template string is an expression and returns
// its body (for an expression) or its literal value.
func classify(s string) (isExpr bool, text string) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if s[1] == '[' {
			return false, s[1:]
		}
		return true, s[1 : len(s)-1]
	}
	return false, s
}

// parseExpression parses the body of "[...]". Positions are 1-based
// character offsets in the JSON string (the opening bracket is 1).
func parseExpression(body string) (expr, error) {
	if len(body) > maxExpressionLength {
		return nil, fmt.Errorf("the expression is %d characters long; the limit is %d", len(body), maxExpressionLength)
	}
	p := &exprParser{src: body}
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("the expression is empty")
	}
	e, err := p.expression(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q after the expression", p.src[p.pos])
	}
	return e, nil
}

type exprParser struct {
	src string
	pos int
}

func (p *exprParser) errorf(format string, a ...any) error {
	return fmt.Errorf("position %d: %s", p.pos+2, fmt.Sprintf(format, a...))
}

func (p *exprParser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\r' || p.src[p.pos] == '\n') {
		p.pos++
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (p *exprParser) expression(depth int) (expr, error) {
	if depth > maxExpressionDepth {
		return nil, p.errorf("expression nested deeper than %d levels", maxExpressionDepth)
	}
	p.skipSpace()
	e, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			return e, nil
		}
		start := p.pos + 2
		switch p.src[p.pos] {
		case '.':
			p.pos++
			p.skipSpace()
			name := p.ident()
			if name == "" {
				return nil, p.errorf("expected a property name after '.'")
			}
			e = &access{pos: start, target: e, prop: name}
		case '[':
			p.pos++
			idx, err := p.expression(depth + 1)
			if err != nil {
				return nil, err
			}
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != ']' {
				return nil, p.errorf("expected ']' to close the index")
			}
			p.pos++
			e = &access{pos: start, target: e, index: idx}
		default:
			return e, nil
		}
	}
}

func (p *exprParser) ident() string {
	start := p.pos
	if p.pos < len(p.src) && isIdentStart(p.src[p.pos]) {
		for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
			p.pos++
		}
	}
	return p.src[start:p.pos]
}

func (p *exprParser) primary(depth int) (expr, error) {
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of the expression")
	}
	start := p.pos + 2
	switch c := p.src[p.pos]; {
	case c == '\'':
		s, err := p.stringLiteral()
		return &strLit{pos: start, s: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		text := p.src[start-2 : p.pos]
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("position %d: %q is not a 64-bit integer", start, text)
		}
		return &intLit{pos: start, n: n}, nil
	case isIdentStart(c):
		name := p.ident()
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '(' {
			return nil, fmt.Errorf("position %d: %q must be a function call: write %s(...)", start, name, name)
		}
		p.pos++
		fc := &call{pos: start, name: name}
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
			return fc, nil
		}
		for {
			arg, err := p.expression(depth + 1)
			if err != nil {
				return nil, err
			}
			fc.args = append(fc.args, arg)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, p.errorf("the call of %s is not closed: expected ')'", name)
			}
			switch p.src[p.pos] {
			case ',':
				p.pos++
			case ')':
				p.pos++
				return fc, nil
			default:
				return nil, p.errorf("expected ',' or ')' in the call of %s, got %q", name, p.src[p.pos])
			}
		}
	}
	return nil, p.errorf("unexpected %q", p.src[p.pos])
}

func (p *exprParser) stringLiteral() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\'' {
			if p.pos+1 < len(p.src) && p.src[p.pos+1] == '\'' {
				b.WriteByte('\'')
				p.pos += 2
				continue
			}
			p.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", p.errorf("the string literal is not closed: expected '")
}

// walkCalls calls fn on every function call in e, outermost first.
func walkCalls(e expr, fn func(*call)) {
	switch x := e.(type) {
	case *call:
		fn(x)
		for _, a := range x.args {
			walkCalls(a, fn)
		}
	case *access:
		walkCalls(x.target, fn)
		if x.index != nil {
			walkCalls(x.index, fn)
		}
	}
}
