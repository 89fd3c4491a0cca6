package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// readBody reads a request body: JSON only (a body with another content
// type is refused, as ARM does), at most MaxBody bytes. Every route that
// takes a body reads it here, so the checks are the same everywhere.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, newError(http.StatusUnsupportedMediaType, "UnsupportedMediaType",
				"The content media type %s is not supported. Only 'application/json' is supported.", resources.Quote(ct))
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The server's read timeout passed (a body trickled in too slowly).
		return nil, newError(http.StatusRequestTimeout, "RequestTimeout",
			"The request body did not arrive within the server's read timeout (see docs/api.md, \"Connections and TLS\").")
	}
	if err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "reading the request body: %v", err)
	}
	if len(data) > MaxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than %d bytes.", MaxBody)
	}
	return data, nil
}

// decodeBody reads a JSON body strictly into v: unknown fields refused
// with their name, nothing after the value.
func decodeBody(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return newError(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
	}
	if dec.More() {
		return newError(http.StatusBadRequest, "InvalidRequestContent", "The request content has data after the JSON value.")
	}
	return nil
}

// object is an ARM body as the API edits it.
type object = arm.Body

// decodeObject parses a request body: one JSON object, or ARM's refusal.
func decodeObject(data []byte) (object, error) {
	o, err := arm.DecodeBody(data)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
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

// recordObject decodes a stored record's body; a body that does not
// decode is the server's fault, not the client's.
func recordObject(rec store.Record) (object, error) {
	o, err := arm.DecodeBody(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", rec.ID, err)
	}
	return o, nil
}
