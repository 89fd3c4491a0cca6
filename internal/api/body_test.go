package api

import (
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"testing/iotest"
)

// TestBodyPastReadTimeout: a body cut off by the server's read deadline is
// a 408 that says so, not a 400 about the content.
func TestBodyPastReadTimeout(t *testing.T) {
	deadline := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	r := httptest.NewRequest("PUT", "/", iotest.ErrReader(deadline))
	_, err := readBody(r)
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != 408 || ae.code != "RequestTimeout" {
		t.Fatalf("body past the read deadline: %v, want 408 RequestTimeout", err)
	}
	r = httptest.NewRequest("PUT", "/", iotest.ErrReader(errors.New("connection reset")))
	if _, err := readBody(r); !errors.As(err, &ae) || ae.status != 400 {
		t.Errorf("body cut off otherwise: %v, want 400", err)
	}
}
