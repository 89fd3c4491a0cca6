package resources

import (
	"fmt"
	"strings"

	"securetrain/internal/lazyregexp"
)

// Naming rules per resource type, a kind's in its registry entry: used by the decoder for every
// resource a file or a request body declares and by the control plane for
// every name in a request path. The rules are Azure's ("Naming rules and
// restrictions for Azure resources"; for locks, the Management Locks REST
// reference), with one difference: names are ASCII, because securetrain's
// resource ids are (a resource group name may not use Unicode letters).

// CodeInvalidName is ARM's code for a resource name that breaks its type's rule.
const CodeInvalidName = "InvalidResourceName"

// NameError is a name that breaks its type's rule.
type NameError struct {
	Type string // the full resource type, or "" for ARM's rule for any name
	Name string
	Rule string // the rule, as the message states it
	Code string // ARM's error code
}

func (e *NameError) Error() string {
	typ := e.Type
	if typ == "" {
		typ = "a resource"
	}
	return fmt.Sprintf("name %s is not a valid %s name: %s", Quote(e.Name), typ, e.Rule)
}

// Quote shows user input in a message: quoted, escaped (control bytes
// and invalid UTF-8 stay visible and harmless) and cut to 100 bytes.
func Quote(s string) string {
	const maxShown = 100
	if len(s) > maxShown {
		return fmt.Sprintf("%q… (%d bytes)", s[:maxShown], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// nameRule is one naming rule: what it says, and the test.
type nameRule struct {
	text  string
	valid func(string) bool
	code  string // "" is CodeInvalidName
}

func pattern(expr, text string) nameRule {
	re := lazyregexp.New(expr)
	return nameRule{text: text, valid: re.MatchString}
}

// printableExcept is a rule that lists what a name may not hold: besides
// the listed characters, control characters and anything outside ASCII.
func printableExcept(maxLen int, forbidden, noLast, text string) nameRule {
	return nameRule{text: text, valid: func(s string) bool {
		if s == "" || len(s) > maxLen || strings.ContainsAny(s[len(s)-1:], noLast) {
			return false
		}
		return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e || strings.ContainsRune(forbidden, r) })
	}}
}

var (
	keyVaultName = nameRule{text: "3–24 letters, digits and '-', starting with a letter, ending with a letter or digit, without '--'",
		valid: func(s string) bool { return keyVaultPattern.MatchString(s) && !strings.Contains(s, "--") }}
	keyVaultPattern = lazyregexp.New(`^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$`)
	// networkName is the rule most Microsoft.Network types share.
	// It is tested by hand, not by a pattern: a large file has a hundred
	// thousand such names, and the pattern was a tenth of decoding.
	networkName = nameRule{valid: validNetworkName,
		text: "1–80 letters, digits, '_', '.' and '-', starting with a letter or digit and ending with a letter, digit or '_'"}
	network2to64 = pattern(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$`,
		"2–64 letters, digits, '_', '.' and '-', starting with a letter or digit and ending with a letter, digit or '_'")
	resolverName = pattern(`^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,78}[A-Za-z0-9])?$`,
		"1–80 letters, digits, '_' and '-', starting and ending with a letter or digit")
	resourceGroupName = nameRule{code: "InvalidResourceGroup", valid: lazyregexp.New(`^[A-Za-z0-9_.()-]{0,89}[A-Za-z0-9_()-]$`).MatchString,
		text: "1–90 ASCII letters, digits, '_', '-', '.', '(' and ')', not ending with '.'"}
	zoneName = nameRule{text: "2–34 labels separated by '.', each 1–63 letters, digits, '_' and '-' not starting or ending with '-', at most 253 characters",
		valid: validZoneName}
	// Azure ML's rules for jobs and for assets (codes, environments and
	// their versions).
	jobName   = pattern(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`, "1–255 letters, digits, '_' and '-', starting with a letter or digit")
	assetName = pattern(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`, "1–255 letters, digits, '_', '.' and '-', starting with a letter or digit")
	guidName  = pattern(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`,
		"a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")

	// anyName is ARM's rule for a name of any type: what every name in a
	// path meets, so that no name can smuggle a path or a control byte.
	anyName = printableExcept(260, `<>*%&:\?/#|`, ". ",
		`1–260 ASCII characters without <>*%&:\?/#| or control characters, not ending with '.' or a space`)
)

// The RBAC types the control plane serves (they have no place in
// environment files).
const (
	typeRoleAssignment = "Microsoft.Authorization/roleAssignments"
	typeRoleDefinition = "Microsoft.Authorization/roleDefinitions"
)

// nameRules are the rules by lower-cased type: each registered kind's
// (Kind.name), and those of the types served that are not kinds.
var nameRules = newNameRules()

func newNameRules() map[string]nameRule {
	out := map[string]nameRule{}
	for _, k := range kinds {
		out[strings.ToLower(k.Type)] = k.name
	}
	for typ, rule := range map[string]nameRule{
		typeIPPrefix:                        networkName,
		"Microsoft.Network/networkWatchers": networkName,
		typeRoleAssignment:                  {text: guidName.text, valid: guidName.valid, code: "InvalidRoleAssignmentId"},
		typeRoleDefinition:                  {text: guidName.text, valid: guidName.valid, code: "InvalidRoleDefinitionId"},
	} {
		out[strings.ToLower(typ)] = rule
	}
	return out
}

// recordName is a private DNS record set's name, relative to its zone:
// "@" (the apex) or DNS labels, the first of which may be the wildcard "*".
var recordName = nameRule{text: "'@', or DNS labels of 1–63 letters, digits, '_' and '-' separated by '.', the first of which may be '*'; at most 253 characters",
	valid: func(s string) bool {
		if s == "@" {
			return true
		}
		if len(s) > 253 {
			return false
		}
		for i, l := range strings.Split(s, ".") {
			if !dnsLabelRE.MatchString(l) && (i > 0 || l != "*") {
				return false
			}
		}
		return true
	}}

// validNetworkName: ^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$
func validNetworkName(s string) bool {
	alnum := func(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' }
	if s == "" || len(s) > 80 || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	last := s[len(s)-1]
	return alnum(last) || last == '_'
}

// validZoneName: a private DNS zone's name (Azure allows a final '.').
func validZoneName(s string) bool {
	labels := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(s) > 253 || len(labels) < 2 || len(labels) > 34 {
		return false
	}
	for _, l := range labels {
		if !dnsLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// CheckName checks name against the rule of typ (a full type, any case);
// a type without a rule of its own, or "", gets ARM's rule for any name.
func CheckName(typ, name string) error {
	rule, ok := nameRules[strings.ToLower(typ)]
	if !ok {
		rule, typ = anyName, ""
	}
	return rule.check(typ, name)
}

// check is CheckName once the rule of typ is known (a kind's own, which
// the decoder applies to every resource without looking it up).
func (rule nameRule) check(typ, name string) error {
	if rule.valid(name) && name != "." && name != ".." {
		return nil
	}
	code := rule.code
	if code == "" {
		code = CodeInvalidName
	}
	return &NameError{Type: typ, Name: name, Rule: rule.text, Code: code}
}

// CheckStoredName is the check for reading or deleting by name: the
// type's rule, or else ARM's rule for any name, so that what an earlier
// version stored under a looser rule can still be read and deleted.
func CheckStoredName(typ, name string) error {
	err := CheckName(typ, name)
	if err != nil && CheckName("", name) == nil {
		return nil
	}
	return err
}
