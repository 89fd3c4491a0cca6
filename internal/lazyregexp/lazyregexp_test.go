package lazyregexp

import (
	"sync"
	"testing"
)

func TestMatchesAsRegexp(t *testing.T) {
	r := New(`^a(b+)$`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if !r.MatchString("abb") || r.MatchString("ac") {
				t.Error("MatchString disagrees with the pattern")
			}
		})
	}
	wg.Wait()
	if m := r.FindStringSubmatch("abbb"); len(m) != 2 || m[1] != "bbb" {
		t.Errorf("FindStringSubmatch = %q", m)
	}
	if got := New(`b+`).ReplaceAllString("abbcb", "_"); got != "a_c_" {
		t.Errorf("ReplaceAllString = %q", got)
	}
	if got := New(`x(\d)`).FindAllStringSubmatch("x1 x2 y3", -1); len(got) != 2 || got[1][1] != "2" {
		t.Errorf("FindAllStringSubmatch = %q", got)
	}
}

func TestBadPatternPanicsOnFirstUse(t *testing.T) {
	r := New(`(`) // no panic here
	defer func() {
		if recover() == nil {
			t.Error("a bad pattern compiled")
		}
	}()
	r.MatchString("x")
}
