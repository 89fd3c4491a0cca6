package resources

import (
	"fmt"
	"slices"
	"strings"
)

// Body fields only some api-versions of a type carry. The decoders
// tolerate them (an environment file has no api-version) and the stored
// body keeps them as sent; a request or a template resource at a version
// that does not carry the field is refused (CheckVersionFields), as that
// version's schema has no such member. Each entry names the schema it
// comes from (docs/templates.md lists the sources).
type versionField struct {
	typ  string
	path []string // members from the body's root
	// first and last are the first and the last api-versions of typ
	// whose schema has the member.
	first, last string
}

var versionFields = []versionField{
	// Microsoft.Storage 2015-05-01-preview and 2015-06-15: the account's
	// SKU is properties.accountType; sku replaced it in 2016-01-01.
	{TypeStorageAccount, []string{"properties", "accountType"}, "2015-05-01-preview", "2015-06-15"},
	// Microsoft.MachineLearningServices 2018-03-01-preview: a workspace
	// names its Batch AI workspace; 2018-11-19 dropped it.
	{TypeWorkspace, []string{"properties", "batchaiWorkspace"}, "2018-03-01-preview", "2018-03-01-preview"},
}

// CheckVersionFields refuses a field of body, a resource of typ sent at
// api-version version, that only other versions of typ carry, naming the
// versions that do. Fields no version has are the decoders' to refuse.
func CheckVersionFields(typ, version string, body map[string]any) error {
	versions := APIVersionsOf(typ)
	at := slices.Index(versions, version)
	if at < 0 {
		return nil // an unpublished version is refused before the body is read
	}
	for _, f := range versionFields {
		if !strings.EqualFold(f.typ, typ) || !hasPath(body, f.path) {
			continue
		}
		if first, last := slices.Index(versions, f.first), slices.Index(versions, f.last); at < first || at > last {
			span := f.first
			if f.last != f.first {
				span += " to " + f.last
			}
			return fmt.Errorf("%s is not a member of %s at api-version %s: only api-version %s carries it", strings.Join(f.path, "."), typ, version, span)
		}
	}
	return nil
}

// hasPath reports whether body holds a member at path.
func hasPath(body map[string]any, path []string) bool {
	for i, name := range path {
		v, ok := body[name]
		if !ok {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if body, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}
