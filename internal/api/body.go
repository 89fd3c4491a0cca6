package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// readBody reads a request body: JSON only (a body with another content
// type is refused, as ARM does), at most MaxBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, newError(http.StatusUnsupportedMediaType, "UnsupportedMediaType",
				"The content media type '%s' is not supported. Only 'application/json' is supported.", ct)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "reading the request body: %v", err)
	}
	if len(data) > MaxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than %d bytes.", MaxBody)
	}
	return data, nil
}

// object is a JSON object decoded with numbers kept as written.
type object = map[string]any

// decodeObject parses a JSON object; anything else, or trailing data, is
// refused with ARM's code.
func decodeObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
	}
	if dec.More() {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "The request content has data after the JSON value.")
	}
	o, ok := v.(object)
	if !ok {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "The request content must be a JSON object.")
	}
	return o, nil
}

// mergePatch applies an RFC 7386 JSON merge patch to dst.
func mergePatch(dst, patch object) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case object:
			d, ok := dst[k].(object)
			if !ok {
				d = object{}
				dst[k] = d
			}
			mergePatch(d, pv)
		default:
			dst[k] = v
		}
	}
}

// objectAt returns o[key] as an object, creating it when absent or not one.
func objectAt(o object, key string) object {
	if o == nil {
		return object{}
	}
	c, ok := o[key].(object)
	if !ok {
		c = object{}
		o[key] = c
	}
	return c
}

// peek reads o[key] as an object (empty when absent), changing nothing.
func peek(o object, key string) object {
	c, _ := o[key].(object)
	if c == nil {
		return object{}
	}
	return c
}

// items returns o[key] as a list of objects (other entries are skipped:
// the decoder reports them).
func items(o object, key string) []object {
	list, _ := o[key].([]any)
	out := make([]object, 0, len(list))
	for _, it := range list {
		if c, ok := it.(object); ok {
			out = append(out, c)
		}
	}
	return out
}

func str(o object, key string) string {
	s, _ := o[key].(string)
	return s
}

// refsOf collects the resource ids a body references outside self.
func refsOf(v any, self string) []string {
	var out []string
	for _, id := range arm.IDsIn(v) {
		if s := id.String(); !under(s, self) {
			out = append(out, s)
		}
	}
	return out
}

// recordObject decodes a stored record's body; a body that does not
// decode is the server's fault, not the client's.
func recordObject(rec store.Record) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(rec.Body))
	dec.UseNumber()
	var o object
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("stored %s: %w", rec.ID, err)
	}
	return o, nil
}
