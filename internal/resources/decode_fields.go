package resources

// The field layer: every object in an environment file is read through an
// obj, which checks each member's JSON kind, records a Problem instead of
// failing, and remembers which keys the decoder asked for. When the
// resource is finished, every key nobody asked for is reported as an
// unknown field, with a suggestion when it is close to a known one.
//
// Unknown and ignored fields. Property names are Azure's, with Azure's case.
// A key is accepted only if the decoder for that object reads it or lists it
// in an ignore call. The ignore lists hold (a) read-only fields that Azure
// returns on GET, so that an export of a real environment decodes, and (b)
// writable fields that do not change reachability (timeouts, DDoS plans,
// encryption, …). Ignored values are not validated. Fields that would change
// reachability but that the model cannot express are rejected with "not
// supported" rather than ignored, so a verdict is never silently wrong.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
)

// obj reads the members of one JSON object on behalf of a resource. A
// large file reads hundreds of thousands: it is kept small.
type obj struct {
	r *res
	v arm.Node // nil when the object is absent or was not an object
	// parent, key and index (≥ 0 for an array item) give the path that
	// prefixes field names in messages (see path); without a parent, key
	// is that path.
	parent *obj
	key    string
	index  int32
	// line is blamed for missing fields.
	line int32
	// quiet suppresses "is required" inside an object that was present but
	// of the wrong kind: that error has been reported already.
	quiet bool
	all   bool // every key is accepted (see ignoreRest)
	// record says known lists every key asked for, for the suggestions of
	// unknown-field messages. A parallel decode's chunks do not record
	// (see decoder.deferred): a problem there only sends the file back to
	// a decode in one pass, whose messages are the ones reported.
	record bool
	// used marks the members (the first 64) whose keys are known: done
	// checks them without searching known, which then needs only the
	// keys of later members unless record is set.
	used  uint64
	known []string
}

// newObj registers an object reader on r; r.finish reports its unknown keys.
func (r *res) newObj(v arm.Node, path string, line int, quiet bool) *obj {
	o := r.d.objs.alloc()
	*o = obj{r: r, v: v, key: path, index: -1, line: int32(line), quiet: quiet, record: !r.d.deferred}
	r.d.open = append(r.d.open, o)
	if v.IsZero() {
		return o
	}
	o.line = int32(v.Line())
	// Sized for a typical object at once, and reused once it is done (see
	// done): a file can hold hundreds of thousands of objects. Without
	// record, known is needed only past 64 members (see used).
	if o.record {
		if spare := r.d.spareKnown; len(spare) > 0 {
			o.known, r.d.spareKnown = spare[len(spare)-1], spare[:len(spare)-1]
		} else {
			o.known = make([]string, 0, 16)
		}
	}
	return o
}

// path prefixes field names in messages
// ("frontendIPConfigurations[0].properties."). It is built only when a
// message or a reference needs it: most objects never do.
func (o *obj) path() string {
	if o.parent == nil {
		return o.key
	}
	p := o.parent.path() + o.key
	if o.index >= 0 {
		p += "[" + strconv.Itoa(int(o.index)) + "]"
	}
	return p + "."
}

func (o *obj) name(key string) string { return o.path() + key }

func (o *obj) errf(line int, format string, args ...any) { o.r.errf(line, format, args...) }

// ignore accepts keys without reading them (see the file comment).
func (o *obj) ignore(keys ...string) {
	for _, k := range keys {
		o.know(k, o.v.Index(k))
	}
}

// know records key, which is member i of the object (-1: none), as known.
func (o *obj) know(key string, i int) {
	if uint(i) < 64 {
		o.used |= 1 << i
		if !o.record {
			return
		}
	} else if i < 0 && !o.record {
		return
	}
	o.known = append(o.known, key)
}

// ignoreRest accepts every key; used where the shape depends on a
// discriminator that was itself invalid, to avoid a cascade of errors.
func (o *obj) ignoreRest() { o.all = true }

// lookup marks key as known and returns its value; null counts as absent,
// as in ARM.
func (o *obj) lookup(key string) arm.Node {
	i := o.v.Index(key)
	o.know(key, i)
	if i < 0 {
		return arm.Node{}
	}
	if v := o.v.Field(i); v.Kind() != arm.Null {
		return v
	}
	return arm.Node{}
}

// lineOf is the line of key's value, or of the object when key is absent.
func (o *obj) lineOf(key string) int {
	if v := o.v.Get(key); !v.IsZero() {
		return v.Line()
	}
	return int(o.line)
}

// present reports whether key holds something other than null, "" or [].
func (o *obj) present(key string) bool {
	v := o.v.Get(key)
	if v.IsZero() {
		return false
	}
	switch v.Kind() {
	case arm.Null:
		return false
	case arm.String:
		return v.Str() != ""
	case arm.Array:
		return v.Len() > 0
	}
	return true
}

// missing reports a required field.
func (o *obj) missing(what string) {
	if !o.quiet {
		o.errf(int(o.line), "%s is required", what)
	}
}

// anyPresent reports whether one of keys holds a value; a value of the
// wrong kind counts, so that it is not also reported as missing.
func (o *obj) anyPresent(keys ...string) bool {
	return slices.ContainsFunc(keys, o.present)
}

// required reports key when it is absent, and says whether it is present.
func (o *obj) required(key string) bool {
	o.know(key, o.v.Index(key))
	if o.present(key) {
		return true
	}
	o.missing(o.name(key))
	return false
}

var kindNouns = map[arm.Kind]string{
	arm.String: "a string", arm.Number: "a number",
	arm.Bool: "a boolean", arm.Object: "an object", arm.Array: "an array",
}

func (o *obj) wrongKind(field string, v arm.Node, want string) {
	o.errf(v.Line(), "%s must be %s, got %s", field, want, v.Kind())
}

// get returns key's value if it has kind k; other kinds are reported.
func (o *obj) get(key string, k arm.Kind) arm.Node { return o.ofKind(key, o.lookup(key), k) }

// ofKind is v, key's value, if it is absent or has kind k; other kinds are
// reported.
func (o *obj) ofKind(key string, v arm.Node, k arm.Kind) arm.Node {
	if !v.IsZero() && v.Kind() != k {
		o.wrongKind(o.name(key), v, kindNouns[k])
		return arm.Node{}
	}
	return v
}

// need is get for a required field.
func (o *obj) need(key string, k arm.Kind) arm.Node {
	v := o.lookup(key)
	if v.IsZero() {
		o.missing(o.name(key))
		return arm.Node{}
	}
	return o.ofKind(key, v, k)
}

func (o *obj) str(key string) string {
	if v := o.get(key, arm.String); !v.IsZero() {
		return v.Str()
	}
	return ""
}

// needStr reads a required string; "" when absent.
func (o *obj) needStr(key string) string {
	if v := o.need(key, arm.String); !v.IsZero() {
		return v.Str()
	}
	return ""
}

// unsupported rejects a field Azure has but the model cannot express, when
// it is set: ignoring it would make verdicts silently wrong.
func (o *obj) unsupported(key, why string) {
	o.know(key, o.v.Index(key))
	if o.present(key) {
		o.errf(o.lineOf(key), "%s is not supported: %s", o.name(key), why)
	}
}

// refuse rejects a value of key that the model cannot express (value as
// the message writes it): ignoring it would make verdicts silently wrong.
func (o *obj) refuse(key, value, why string) {
	o.errf(o.lineOf(key), "%s %s is not supported: %s", o.name(key), value, why)
}

// text reads a string, also accepting a number: YAML users write ports and
// tag values unquoted.
func (o *obj) text(key string) arm.Node {
	v := o.lookup(key)
	if !v.IsZero() && v.Kind() != arm.String && v.Kind() != arm.Number {
		o.wrongKind(o.name(key), v, "a string")
		return arm.Node{}
	}
	return v
}

// child reads an object member; an absent member gives an empty reader so
// that callers can chain without nil checks.
func (o *obj) child(key string) *obj {
	c := o.childFor(o.r, key)
	c.parent, c.key = o, key
	return c
}

// childFor is child with another owner and the path "": a resource's
// properties (owned by the resource) inside its envelope or parent.
func (o *obj) childFor(r *res, key string) *obj {
	raw := o.lookup(key)
	v := o.ofKind(key, raw, arm.Object)
	line := int(o.line)
	if !raw.IsZero() {
		line = raw.Line()
	}
	return r.newObj(v, "", line, o.quiet || (!raw.IsZero() && v.IsZero()))
}

// items reads an array of objects.
func (o *obj) items(key string) []*obj {
	a := o.get(key, arm.Array)
	if a.IsZero() {
		return nil
	}
	out := make([]*obj, 0, a.Len())
	for i, it := range a.Items() {
		if it.Kind() != arm.Object {
			o.wrongKind(fmt.Sprintf("%s%s[%d]", o.path(), key, i), it, "an object")
			continue
		}
		item := o.r.newObj(it, "", it.Line(), false)
		item.parent, item.key, item.index = o, key, int32(i)
		out = append(out, item)
	}
	return out
}

// itemsUpTo reads a required array of objects that Azure caps at limit
// entries.
func (o *obj) itemsUpTo(key string, limit int) []*obj {
	if o.required(key) {
		if a := o.v.Get(key); a.Kind() == arm.Array && a.Len() > limit {
			o.errf(a.Line(), "%s holds %d entries; Azure allows at most %d", o.name(key), a.Len(), limit)
		}
	}
	return o.items(key)
}

// list reads an array of strings (and numbers when numbers is set).
// A required list must be present and non-empty.
func (o *obj) list(key string, required, numbers bool) []arm.Node {
	a := o.get(key, arm.Array)
	if a.IsZero() {
		if required && o.lookup(key).IsZero() {
			o.missing(o.name(key))
		}
		return nil
	}
	if required && a.Len() == 0 {
		o.errf(a.Line(), "%s must not be empty", o.name(key))
	}
	out := make([]arm.Node, 0, a.Len())
	for i, it := range a.Items() {
		if it.Kind() != arm.String && !(numbers && it.Kind() == arm.Number) {
			o.wrongKind(fmt.Sprintf("%s[%d]", o.name(key), i), it, "a string")
			continue
		}
		out = append(out, it)
	}
	return out
}

func (o *obj) strings(key string) []string {
	var out []string
	for _, v := range o.list(key, false, false) {
		out = append(out, v.Str())
	}
	return out
}

// tags reads a string map (resource tags). It walks the members directly:
// a map has no fixed keys to look up.
func (o *obj) tags(key string) map[string]string {
	t := o.child(key)
	if t.v.IsZero() {
		return nil
	}
	t.ignoreRest()
	m := make(map[string]string, t.v.Len())
	for i := range t.v.Len() {
		k := t.v.Key(i)
		switch v := t.v.Field(i); v.Kind() {
		case arm.String, arm.Number:
			m[k] = v.Str()
		case arm.Null:
		default:
			t.wrongKind(t.name(k), v, "a string")
		}
	}
	return m
}

func (o *obj) optBool(key string) *bool {
	v := o.get(key, arm.Bool)
	if v.IsZero() {
		return nil
	}
	b := v.Str() == "true"
	return &b
}

func (o *obj) boolean(key string, def bool) bool {
	if b := o.optBool(key); b != nil {
		return *b
	}
	return def
}

// textBoolean is boolean for a field Azure's service also reads from the
// strings "true" and "false" (case-insensitive), as its JSON reader does
// and templates rely on.
func (o *obj) textBoolean(key string, def bool) bool {
	if v := o.lookup(key); !v.IsZero() && v.Kind() == arm.String {
		switch strings.ToLower(v.Str()) {
		case "true":
			return true
		case "false":
			return false
		}
		o.errf(v.Line(), "%s must be a boolean (or \"true\" or \"false\"), got %s", o.name(key), Quote(v.Str()))
		return def
	}
	return o.boolean(key, def)
}

// integer reads a whole number in [lo, hi]; ok is false when absent or bad.
func (o *obj) integer(key string, lo, hi int, required bool) (n int, ok bool) {
	v := o.lookup(key)
	if v.IsZero() {
		if required {
			o.missing(o.name(key))
		}
		return 0, false
	}
	if v.Kind() != arm.Number {
		o.wrongKind(o.name(key), v, "an integer")
		return 0, false
	}
	i, err := strconv.ParseInt(v.Str(), 10, 64)
	if err != nil {
		o.errf(v.Line(), "%s must be an integer, got %s", o.name(key), v.Str())
		return 0, false
	}
	if i < int64(lo) || i > int64(hi) {
		o.errf(v.Line(), "%s must be between %d and %d, got %d", o.name(key), lo, hi, i)
		return 0, false
	}
	return int(i), true
}

// enum reads one of allowed, compared case-insensitively, and returns the
// canonical spelling.
func (o *obj) enum(key string, required bool, allowed ...string) string {
	v := o.strValue(key, required)
	if v.IsZero() {
		return ""
	}
	if c, ok := canonical(v.Str(), allowed); ok {
		return c
	}
	o.errf(v.Line(), "%s must be one of %s; got %q", o.name(key), strings.Join(allowed, ", "), v.Str())
	return ""
}

// enums reads a list of enum values (see enum).
func (o *obj) enums(key string, required bool, allowed ...string) []string {
	var out []string
	for _, v := range o.list(key, required, false) {
		c, ok := canonical(v.Str(), allowed)
		if !ok {
			o.errf(v.Line(), "%s must hold %s; got %q", o.name(key), strings.Join(allowed, ", "), v.Str())
			continue
		}
		out = append(out, c)
	}
	return out
}

func canonical(s string, allowed []string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return a, true
		}
	}
	return "", false
}

// ipv4 reads an optional IPv4 address; "" counts as absent.
func (o *obj) ipv4(key string, required bool) netip.Addr {
	v := o.stringField(key, required)
	if v.IsZero() {
		return netip.Addr{}
	}
	a, err := parseIPv4(v.Str())
	if err != nil {
		o.errf(v.Line(), "%s %v", o.name(key), err)
	}
	return a
}

// ipv4s reads a list of IPv4 addresses.
func (o *obj) ipv4s(key string) []netip.Addr {
	var out []netip.Addr
	for _, v := range o.list(key, false, false) {
		a, err := parseIPv4(v.Str())
		if err != nil {
			o.errf(v.Line(), "%s %v", o.name(key), err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// cidrs reads a list of canonical IPv4 prefixes, with the line of each.
func (o *obj) cidrs(key string, required bool) ([]netip.Prefix, []int) {
	var out []netip.Prefix
	var lines []int
	for _, v := range o.list(key, required, false) {
		p, err := parseIPv4Prefix(v.Str())
		if err != nil {
			o.errf(v.Line(), "%s %v", o.name(key), err)
			continue
		}
		out = append(out, p)
		lines = append(lines, v.Line())
	}
	return out, lines
}

// either reads a value that Azure offers as a singular and a plural field
// (addressPrefix/addressPrefixes). An empty singular or plural counts as
// absent, because Azure's exports carry the unused one empty; giving both is
// an error (reported once; the plural values are still checked). key is the
// field the values came from (o.name(key) names it in messages). A singular
// value is returned in one, the caller's: no allocation for the common case.
func (o *obj) either(single, plural string, numbers bool, one *[1]arm.Node) (vals []arm.Node, key string, fromPlural bool) {
	var s arm.Node
	if numbers {
		s = o.text(single)
	} else {
		s = o.get(single, arm.String)
	}
	p := o.list(plural, false, numbers)
	switch {
	case !s.IsZero() && s.Str() != "" && len(p) > 0:
		o.errf(s.Line(), "%s and %s are mutually exclusive; use one", o.name(single), o.name(plural))
		return p, plural, true
	case len(p) > 0:
		return p, plural, true
	case !s.IsZero() && s.Str() != "":
		one[0] = s
		return one[:], single, false
	}
	return nil, "", false
}

// ref reads a {"id": …} reference to a resource of type typ ("" for any
// type). The linker checks that it resolves when typ is a modeled type.
func (o *obj) ref(key, typ string) Ref { return o.refObj(o.child(key), typ, false) }

// externalRef reads a {"id": …} reference that need not resolve: what it
// names may be gone by design (a Disconnected peering's remote VNet).
func (o *obj) externalRef(key, typ string) Ref { return o.refObj(o.child(key), typ, true) }

func (o *obj) refObj(c *obj, typ string, external bool) Ref {
	if c.v.IsZero() {
		return Ref{}
	}
	iv := c.need("id", arm.String)
	if iv.IsZero() {
		return Ref{}
	}
	return o.r.idRef(strings.TrimSuffix(c.path(), "."), iv, typ, external)
}

// refs reads a list of {"id": …} references.
func (o *obj) refs(key, typ string) []Ref {
	var out []Ref
	for _, it := range o.items(key) {
		if r := o.refObj(it, typ, false); r.IsSet() {
			out = append(out, r)
		}
	}
	return out
}

// idString reads a resource id written as a plain string (workspace
// dependencies, privateLinkServiceId). external ids are only type-checked:
// they may name resources outside the file.
func (o *obj) idString(key, typ string, required, external bool) Ref {
	v := o.stringField(key, required)
	if v.IsZero() {
		return Ref{}
	}
	return o.r.idRef(o.name(key), v, typ, external)
}

// done reports the keys nobody asked for.
func (o *obj) done() {
	defer func() {
		if o.known != nil {
			o.r.d.spareKnown = append(o.r.d.spareKnown, o.known[:0])
		}
		o.known = nil
	}()
	if o.v.IsZero() || o.all {
		return
	}
	for i := range o.v.Len() {
		k := o.v.Key(i)
		if i < 64 && o.used&(1<<i) != 0 || i >= 64 && slices.Contains(o.known, k) {
			continue
		}
		if o.r.d.full() {
			o.r.d.dropped++
			continue
		}
		msg := fmt.Sprintf("unknown field %q", o.name(k))
		if o.record {
			if s := suggest(k, o.known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
		}
		o.errf(o.v.Field(i).Line(), "%s", msg)
	}
}

// suggest returns the known key that key was probably meant to be: the same
// up to case, else the nearest within edit distance 2.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
		if d := arm.EditDistance(strings.ToLower(key), strings.ToLower(k), bestD); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// strValue reads a string field, required or optional.
func (o *obj) strValue(key string, required bool) arm.Node {
	if required {
		return o.need(key, arm.String)
	}
	return o.get(key, arm.String)
}

// stringField reads a string field whose empty value counts as absent (as
// Azure exports write ""), reporting a required one that is empty.
func (o *obj) stringField(key string, required bool) arm.Node {
	v := o.strValue(key, required)
	if v.IsZero() || v.Str() == "" {
		if required && !v.IsZero() {
			o.missing(o.name(key))
		}
		return arm.Node{}
	}
	return v
}
