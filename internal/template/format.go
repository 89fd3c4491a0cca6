package template

import (
	"strconv"
	"strings"
)

// fnFormat is format(): .NET composite formatting, "{index[,alignment][:format]}"
// with "{{" and "}}" for braces. Numbers take the N, D, F and X formats;
// any other format is refused rather than guessed.
func fnFormat(_ *env, _ *call, a []any) (any, error) {
	f, err := str(a, 0)
	if err != nil {
		return nil, err
	}
	args := a[1:]
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '}':
			return nil, fail("the format string has a '}' that opens nothing; write '}}' for a brace")
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, fail("the format string has a '{' that is not closed; write '{{' for a brace")
			}
			item, err := formatItem(f[i+1:i+end], args)
			if err != nil {
				return nil, err
			}
			b.WriteString(item)
			if err := checkString(b.Len()); err != nil {
				return nil, err
			}
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// maxAlignment is .NET's own bound on a format item's alignment.
const maxAlignment = 999_999

func formatItem(spec string, args []any) (string, error) {
	spec, format, _ := strings.Cut(spec, ":")
	spec, align, hasAlign := strings.Cut(spec, ",")
	n, err := strconv.Atoi(strings.TrimSpace(spec))
	if err != nil || n < 0 {
		return "", fail("'{%s}' is not a format item: expected {index}", spec)
	}
	if n >= len(args) {
		return "", fail("the format item {%d} has no argument: %d given after the format string", n, len(args))
	}
	text, err := formatValue(args[n], format)
	if err != nil {
		return "", err
	}
	if hasAlign {
		w, err := strconv.Atoi(strings.TrimSpace(align))
		if err != nil || abs(w) > maxAlignment {
			return "", fail("the alignment '%s' of format item {%d} must be an integer from -%d to %d", align, n, maxAlignment, maxAlignment)
		}
		pad := abs(w) - len([]rune(text))
		if pad > 0 {
			if w > 0 {
				text = strings.Repeat(" ", pad) + text
			} else {
				text += strings.Repeat(" ", pad)
			}
		}
	}
	return text, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func formatValue(v any, format string) (string, error) {
	if format == "" {
		return toText(v), nil
	}
	n, ok := v.(int64)
	if !ok {
		return "", fail("the format '%s' applies to integers; the value is %s", format, typeName(v))
	}
	kind, precision := format[0], -1
	if len(format) > 1 {
		p, err := strconv.Atoi(format[1:])
		if err != nil || p > 99 {
			return "", fail("the format '%s' is not supported: expected N, D, F or X with an optional precision", format)
		}
		precision = p
	}
	switch kind {
	case 'D', 'd':
		digits := strconv.FormatInt(abs64(n), 10)
		if len(digits) < precision {
			digits = strings.Repeat("0", precision-len(digits)) + digits
		}
		if n < 0 {
			digits = "-" + digits
		}
		return digits, nil
	case 'X', 'x':
		h := strconv.FormatUint(uint64(n), 16)
		if len(h) < precision {
			h = strings.Repeat("0", precision-len(h)) + h
		}
		if kind == 'X' {
			h = strings.ToUpper(h)
		}
		return h, nil
	case 'N', 'n', 'F', 'f':
		if precision < 0 {
			precision = 2
		}
		digits := strconv.FormatInt(abs64(n), 10)
		if kind == 'N' || kind == 'n' {
			digits = groupThousands(digits)
		}
		if precision > 0 {
			digits += "." + strings.Repeat("0", precision)
		}
		if n < 0 {
			digits = "-" + digits
		}
		return digits, nil
	}
	return "", fail("the format '%s' is not supported: expected N, D, F or X with an optional precision", format)
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func groupThousands(d string) string {
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
