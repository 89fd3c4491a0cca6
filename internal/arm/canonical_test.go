package arm

import (
	"strings"
	"testing"
)

// spellings of one subnet id: every one must resolve to the same
// canonical id, or (look-alike letters) be refused.
var subnetSpellings = map[string]string{
	"full":     "/subscriptions/" + sub + "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default",
	"short":    "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default",
	"upper":    strings.ToUpper("/subscriptions/" + sub + "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default"),
	"mixed":    "/SubScriptions/" + sub + "/RESOURCEGROUPS/MyGroup/Providers/microsoft.NETWORK/VirtualNetworks/MyNetwork/Subnets/Default",
	"trailing": "/subscriptions/" + sub + "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default/",
	"shortmix": "/RESOURCEGROUPS/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default/",
}

// lookAlikes hold a non-ASCII letter that Unicode case-folds to an ASCII one.
var lookAlikes = map[string]string{
	"U+017F in the keyword": "/\u017Fubscriptions/" + sub + "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/subnets/default",
	"U+017F in a name":      "/subscriptions/" + sub + "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetworks/mynetwork/\u017Fubnets/default",
	"U+212A in the type":    "/subscriptions/" + sub + "/resourceGroups/mygroup/providers/Microsoft.Networ\u212A/virtualNetworks/mynetwork/subnets/default",
	"U+212A short":          "/resourceGroups/mygroup/providers/Microsoft.Network/virtualNetwor\u212As/mynetwork/subnets/default",
}

func TestCanonicalizeIDs(t *testing.T) {
	want := subnetSpellings["full"]
	for name, s := range subnetSpellings {
		body := map[string]any{"properties": map[string]any{"subnet": map[string]any{"id": s}}, "tags": map[string]any{"note": s}}
		ids, err := CanonicalizeIDs(body, sub)
		if err != nil || len(ids) != 1 {
			t.Fatalf("%s: %v %v", name, ids, err)
		}
		got := body["properties"].(map[string]any)["subnet"].(map[string]any)["id"].(string)
		if !strings.EqualFold(got, want) || !strings.HasPrefix(got, "/subscriptions/") || strings.HasSuffix(got, "/") {
			t.Errorf("%s: rewritten to %q, want %q (any case)", name, got, want)
		}
		if body["tags"].(map[string]any)["note"] != s {
			t.Errorf("%s: a tag value was rewritten", name)
		}
		if got := IDsIn(body, sub); len(got) != 1 || got[0].Key() != FoldKey(want) {
			t.Errorf("%s: IDsIn %v", name, got)
		}
	}
	for name, s := range lookAlikes {
		body := map[string]any{"properties": map[string]any{"subnet": map[string]any{"id": s}}}
		_, err := CanonicalizeIDs(body, sub)
		var ie *IDError
		if err == nil || !asIDError(err, &ie) || ie.Path != "properties.subnet.id" || !strings.Contains(err.Error(), "printable ASCII") {
			t.Errorf("%s: error %v, want an IDError at properties.subnet.id", name, err)
		}
		if _, err := ParseID(s, sub); err == nil {
			t.Errorf("%s: ParseID accepted %q", name, s)
		}
		// Not recognised as a reference either: nothing can be indexed
		// or authorized under a look-alike spelling.
		if ids := IDsIn(body, sub); len(ids) != 0 {
			t.Errorf("%s: IDsIn found %v", name, ids)
		}
	}
}

func asIDError(err error, target **IDError) bool {
	ie, ok := err.(*IDError)
	*target = ie
	return ok
}

// Ids compare case-insensitively in ASCII only: the Kelvin sign lower-cases
// to "k" under Unicode rules, but is not the same id.
func TestFoldIsASCIIOnly(t *testing.T) {
	if FoldKey("/A/\u212A") == FoldKey("/a/k") {
		t.Error("FoldKey folds the Kelvin sign into k")
	}
	if !Within("/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/x", "/subscriptions/s/resourceGroups/g") {
		t.Error("Within is not case-insensitive in ASCII")
	}
	if Within("/subscriptions/s/resourceGroups/\u212A/x", "/subscriptions/s/resourceGroups/k") {
		t.Error("Within folds the Kelvin sign")
	}
	a := ID{Subscription: "s", ResourceGroup: "k", Provider: "p", Types: []string{"t"}, Names: []string{"n"}}
	b := a
	b.ResourceGroup = "\u212A"
	if a.Equal(b) {
		t.Error("Equal folds the Kelvin sign")
	}
}

// FuzzCanonicalID: the canonical form round-trips, and every way of
// comparing two ids (Equal, Key, store-style FoldKey of the strings,
// Within both ways, canonicalization inside a body) agrees.
func FuzzCanonicalID(f *testing.F) {
	for _, s := range subnetSpellings {
		f.Add(s, subnetSpellings["full"])
	}
	for _, s := range lookAlikes {
		f.Add(s, subnetSpellings["short"])
	}
	f.Add("/resourceGroups/rg", "/subscriptions/"+sub+"/resourceGroups/RG")
	f.Fuzz(func(t *testing.T, s1, s2 string) {
		a, errA := ParseID(s1, sub)
		b, errB := ParseID(s2, sub)
		for _, c := range []struct {
			s   string
			id  ID
			err error
		}{{s1, a, errA}, {s2, b, errB}} {
			body := map[string]any{"ref": c.s}
			ids, err := CanonicalizeIDs(body, sub)
			if c.err != nil {
				if len(ids) != 0 {
					t.Fatalf("%q: not an id, yet canonicalized to %v", c.s, ids)
				}
				if CheckIDText(c.s) != nil && writtenAsID(c.s) && err == nil {
					t.Fatalf("%q: a look-alike id was not refused", c.s)
				}
				continue
			}
			again, err := ParseID(c.id.String(), "")
			if err != nil || !again.Equal(c.id) || again.String() != c.id.String() {
				t.Fatalf("%q: canonical %q does not round-trip: %v", c.s, c.id, err)
			}
			if c.id.Provider != "" && (len(ids) != 1 || body["ref"] != c.id.String()) {
				t.Fatalf("%q: body canonicalized to %v, want %q", c.s, body["ref"], c.id)
			}
		}
		if errA != nil || errB != nil {
			return
		}
		eq := a.Equal(b)
		if eq != (a.Key() == b.Key()) || eq != (FoldKey(a.String()) == FoldKey(b.String())) ||
			eq != (Within(a.String(), b.String()) && Within(b.String(), a.String())) {
			t.Fatalf("%q vs %q: Equal %v, Key %v, Within %v/%v", s1, s2, eq, a.Key() == b.Key(),
				Within(a.String(), b.String()), Within(b.String(), a.String()))
		}
	})
}
