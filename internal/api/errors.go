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
	details []*apiError // ARM's error.details: one per problem
}

// body is the error's JSON object.
func (e *apiError) body() map[string]any {
	out := map[string]any{"code": e.code, "message": e.message, "target": e.target}
	if len(e.details) > 0 {
		ds := make([]any, len(e.details))
		for i, d := range e.details {
			ds[i] = d.body()
		}
		out["details"] = ds
	}
	return out
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// ARMCode gives the code and message to the provisioner, which records
// them on operations and computes.
func (e *apiError) ARMCode() (string, string) { return e.code, e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 for an
// unreachable database.
const unavailableRetryAfter = "5"

func writeError(w http.ResponseWriter, err error) {
	var own *apiError
	if !errors.As(err, &own) && errors.Is(err, store.ErrUnavailable) {
		// A replica that lost its database: the client (the SDK retries
		// 503) tries again, here or at another replica.
		w.Header().Set("Retry-After", unavailableRetryAfter)
	}
	ae := answerOf(err)
	w.Header().Set("x-ms-error-code", ae.code)
	writeJSON(w, ae.status, map[string]any{"error": ae.body()})
}

// answerOf is the error the API answers for err.
func answerOf(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrPreconditionFailed):
		ae = newError(http.StatusPreconditionFailed, "PreconditionFailed", "%v", err)
	case errors.Is(err, store.ErrUnavailable):
		ae = newError(http.StatusServiceUnavailable, "ServiceUnavailable", "the control plane's database cannot be reached; try again shortly")
	default:
		// Internal errors are logged by the caller; the client gets no
		// internals.
		ae = newError(http.StatusInternalServerError, "InternalServerError", "the server failed to process the request")
	}
	return ae
}

// ErrorAnswer is how the API answers err, an error of one of its Go
// methods (ListComputes): the HTTP status, ARM's error code and message.
// An internal error is 500 with no internals: its caller logs err.
func ErrorAnswer(err error) (status int, code, message string) {
	ae := answerOf(err)
	return ae.status, ae.code, ae.message
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
