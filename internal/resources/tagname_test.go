package resources

import (
	"regexp"
	"strings"
	"testing"
)

// isServiceTagName is the regular expression it replaced, written out.
func TestIsServiceTagNameMatchesItsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.\-]{0,127}$`)
	for _, s := range []string{"", "S", "Storage", "Storage.WestUS2", "AzureFrontDoor.FirstParty", "a-b.c", "1Storage", ".x", "-x",
		"Storage_x", "Storage x", "Störage", "10.0.0.0/24", "*", "x" + strings.Repeat("y", 127), "x" + strings.Repeat("y", 128)} {
		if got, want := isServiceTagName(s), pattern.MatchString(s); got != want {
			t.Errorf("isServiceTagName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
