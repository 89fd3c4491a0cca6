package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"securetrain/internal/store"
)

// apiError is an ARM error: the HTTP status and the body
// {"error":{"code","message","target"}}. The code also goes into
// x-ms-error-code, which the Azure SDK reads first.
type apiError struct {
	status  int
	code    string
	message string
	target  string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrPreconditionFailed):
		ae = newError(http.StatusPreconditionFailed, "PreconditionFailed", "%v", err)
	default:
		// Internal errors are logged by the caller; the client gets no
		// internals.
		ae = newError(http.StatusInternalServerError, "InternalServerError", "the server failed to process the request")
	}
	body := map[string]any{"error": map[string]any{"code": ae.code, "message": ae.message, "target": ae.target}}
	w.Header().Set("x-ms-error-code", ae.code)
	writeJSON(w, ae.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
