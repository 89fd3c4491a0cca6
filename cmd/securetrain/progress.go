package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress tells a person at a terminal what long work is doing: one line
// on stderr, rewritten at each stage and cleared at the end. It is nil,
// and silent, when stderr is not a terminal, so that scripts, pipes and
// the JSON and SARIF reports (on stdout or in a file) never see it.
type progress struct {
	w     io.Writer
	start time.Time
}

// interactive reports whether w is a terminal.
var interactive = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(stderr io.Writer) *progress {
	if !interactive(stderr) {
		return nil
	}
	return &progress{w: stderr, start: time.Now()}
}

// step shows the stage now running, with the time spent so far.
func (p *progress) step(format string, a ...any) {
	if p == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s… (%.1fs)", fmt.Sprintf(format, a...), time.Since(p.start).Seconds())
}

// done clears the line before the result is written.
func (p *progress) done() {
	if p != nil {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
