// Package lazyregexp is a regular expression compiled on first use.
//
// Package-level regexp.MustCompile runs in every process of the binary,
// whatever it does: the node agents, which the netns fabric starts by
// the hundred, and every CLI command paid for patterns only the server
// uses (docs/performance.md). Counted repetitions such as {0,254} are
// the costly ones.
package lazyregexp

import (
	"regexp"
	"sync"
)

// Regexp is a regexp.Regexp compiled on first use (once, safely from
// several goroutines). A pattern that does not compile panics there, as
// regexp.MustCompile would at start.
type Regexp struct {
	re func() *regexp.Regexp
}

// New is the pattern, compiled on first use.
func New(expr string) *Regexp {
	return &Regexp{re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// MatchString is regexp.Regexp.MatchString.
func (r *Regexp) MatchString(s string) bool { return r.re().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.re().FindStringSubmatch(s) }

// FindAllStringSubmatch is regexp.Regexp.FindAllStringSubmatch.
func (r *Regexp) FindAllStringSubmatch(s string, n int) [][]string {
	return r.re().FindAllStringSubmatch(s, n)
}

// ReplaceAllString is regexp.Regexp.ReplaceAllString.
func (r *Regexp) ReplaceAllString(src, repl string) string { return r.re().ReplaceAllString(src, repl) }
