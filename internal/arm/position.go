package arm

import (
	"strconv"
	"strings"
)

// ComparePositions orders "file:line" positions by file, then by line as a
// number (so env.yaml:9 comes before env.yaml:10).
func ComparePositions(a, b string) int {
	fa, la := SplitPosition(a)
	fb, lb := SplitPosition(b)
	if c := strings.Compare(fa, fb); c != 0 {
		return c
	}
	return la - lb
}

// SplitPosition splits "file:line" at the last colon; line is 0 when
// there is none (a colon elsewhere in the path is kept).
func SplitPosition(pos string) (string, int) {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return pos, 0
	}
	line, err := strconv.Atoi(pos[i+1:])
	if err != nil || line <= 0 {
		return pos, 0
	}
	return pos[:i], line
}
