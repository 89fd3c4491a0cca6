package arm

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Body is an ARM body decoded as plain JSON, numbers kept as written
// (json.Number), for code that edits bodies rather than reasons about
// them: the API's normalisation, the provisioner's runtime fields.
type Body = map[string]any

// DecodeBody parses one JSON object; anything else, or trailing data,
// is an error.
func DecodeBody(data []byte) (Body, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON value")
	}
	o, ok := v.(Body)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return o, nil
}

// Field reads o[key] as an object, empty when absent; it changes nothing.
func Field(o Body, key string) Body {
	c, _ := o[key].(Body)
	if c == nil {
		return Body{}
	}
	return c
}

// EnsureField returns o[key] as an object, creating it when absent.
func EnsureField(o Body, key string) Body {
	if o == nil {
		return Body{}
	}
	c, ok := o[key].(Body)
	if !ok {
		c = Body{}
		o[key] = c
	}
	return c
}

// Str reads o[key] as a string ("" otherwise).
func Str(o Body, key string) string {
	s, _ := o[key].(string)
	return s
}

// Int reads o[key] as an integer (0 otherwise).
func Int(o Body, key string) int {
	switch v := o[key].(type) {
	case json.Number:
		n, _ := v.Int64()
		return int(n)
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

// Items reads o[key] as a list of objects, skipping other entries.
func Items(o Body, key string) []Body {
	list, _ := o[key].([]any)
	out := make([]Body, 0, len(list))
	for _, it := range list {
		if c, ok := it.(Body); ok {
			out = append(out, c)
		}
	}
	return out
}
