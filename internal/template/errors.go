package template

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes, as Azure Resource Manager names them where it has a name.
const (
	// CodeInvalidTemplate is every problem with the template or its
	// parameters found before anything is deployed.
	CodeInvalidTemplate = "InvalidTemplate"
	// CodeLinkedTemplateNotSupported refuses templateLink (nested
	// templates fetched from a URI): securetrain deploys only what it is given.
	CodeLinkedTemplateNotSupported = "LinkedTemplateNotSupported"
	// CodeCompleteModeNotSupported refuses Complete mode, which deletes
	// every resource of the group the template does not name.
	CodeCompleteModeNotSupported = "CompleteModeNotSupported"
)

// Error is a template error: a code, the line of the template JSON it
// comes from (0 when it has none) and a message naming the thing and the
// rule it breaks.
type Error struct {
	Code string
	Line int
	// Where names the part of the template: "variable 'x'", "resource 'r'"…
	Where   string
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Where != "" {
		msg = e.Where + ": " + msg
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", e.Code, e.Line, msg)
	}
	return e.Code + ": " + msg
}

// within names the part of the template an error comes from, unless a
// deeper part is already named; other errors are wrapped with it.
func within(err error, where string) error {
	var te *Error
	if errors.As(err, &te) {
		if te.Where != "" {
			return err
		}
		cp := *te
		cp.Where = where
		return &cp
	}
	return fmt.Errorf("%s: %w", where, err)
}

// under puts the part already named inside an enclosing one (a resource
// inside a nested deployment).
func under(err error, where string) error {
	var te *Error
	if errors.As(err, &te) {
		cp := *te
		cp.Where = strings.TrimSuffix(where+": "+te.Where, ": ")
		return &cp
	}
	return fmt.Errorf("%s: %w", where, err)
}

func invalid(line int, format string, a ...any) *Error {
	return &Error{Code: CodeInvalidTemplate, Line: line, Message: fmt.Sprintf(format, a...)}
}

// atLine gives err the line of the template value it came from, unless it
// already names a deeper one; errors that are not template errors (a
// resolver's) pass through unchanged.
func atLine(err error, line int) error {
	var te *Error
	if errors.As(err, &te) && te.Line == 0 && line > 0 {
		cp := *te
		cp.Line = line
		return &cp
	}
	return err
}

// errDeferred marks an evaluation that needs reference() values the
// caller has not supplied yet: a resource body or output that can only be
// evaluated during the deployment.
var errDeferred = errors.New("reference() values are only known during the deployment")

// IsDeferred reports whether err only says that reference() values are
// needed (the resolver passed was nil).
func IsDeferred(err error) bool { return errors.Is(err, errDeferred) }
