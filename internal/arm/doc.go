package arm

import (
	"fmt"
	"iter"
	"unsafe"
)

// Doc is a parsed document in compact form: every value is one node of 12
// bytes without pointers, a container's children are a run of nodes, and
// strings written without escapes are slices of the document's text. A
// large environment file is millions of values; as a tree of *Value (over
// 100 bytes each, all of them pointers for the collector to follow) it
// cost more to build and to keep than to decode. Environment files are
// decoded from a Doc; Node.Value gives the *Value tree other readers use.
type Doc struct {
	src   string // the text
	parts parts
	root  int32
}

// parts hold a document's nodes and the strings that are not slices of
// its text (escaped JSON strings, YAML scalars). A node's index (and an
// owned string's) says which part holds it: the second is what a reader
// on another core built (see startAhead), used where it lies instead of
// copied after the first.
type parts [2]part

type part struct {
	nodes []node   // containers' children first
	strs  []string // in the order they were read
}

// partShift places the second part's indexes above any the first can
// have: a document is at most MaxDocumentBytes.
const partShift = 30

func (ps *parts) node(i int32) *node { return &ps[i>>partShift].nodes[i&(1<<partShift-1)] }

func (ps *parts) str(i int32) string { return ps[i>>partShift].strs[i&(1<<partShift-1)] }

// node is one value, in 12 bytes: a large file has millions. Scalars'
// text is src[a:a+b], or the owned string a when inStrs. A container's
// children are the nodes a to a+b-1; an object's alternate key (a string)
// and value.
type node struct {
	// meta is the line, above inStrs (bit 3) and the kind (bits 0-2): a
	// document of at most MaxDocumentBytes has fewer than 2^28 lines.
	meta uint32
	a, b int32
}

const (
	kindBits  = 0b111
	inStrsBit = 0b1000
	lineShift = 4
)

func newNode(k Kind, inStrs bool, line int, a, b int32) node {
	m := uint32(line)<<lineShift | uint32(k)
	if inStrs {
		m |= inStrsBit
	}
	return node{meta: m, a: a, b: b}
}

func (x *node) kind() Kind { return Kind(x.meta & kindBits) }

func (x *node) inStrs() bool { return x.meta&inStrsBit != 0 }

func (x *node) line() int { return int(x.meta >> lineShift) }

// Node is a value in a Doc; the zero Node is an absent value (a missing
// member), of kind Null.
type Node struct {
	d *Doc
	i int32
}

// Parse parses YAML or JSON into a Doc (see ParseDocument).
func Parse(data []byte) (*Doc, error) { return parse(data, false) }

// ParseOwned is Parse for a document that nothing else holds or changes,
// such as a file just read: the Doc's strings share its bytes instead of a
// copy of them (36 MB on a large environment file). data must not change
// while the Doc, or any string taken from it, is in use.
func ParseOwned(data []byte) (*Doc, error) { return parse(data, true) }

func parse(data []byte, owned bool) (*Doc, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("document is %d bytes; the limit is %d", len(data), MaxDocumentBytes)
	}
	if !looksLikeJSON(data) {
		return parseYAML(data)
	}
	view := unsafe.String(unsafe.SliceData(data), len(data))
	switch {
	case owned:
		return parseJSONDoc(data, view)
	case len(data) < splitMin:
		return parseJSONDoc(data, string(data))
	}
	// The Doc needs its own copy of a large text, made on another core
	// while the parser reads data: nodes hold offsets, not strings, and
	// the parser keeps no string of data (its messages are formatted
	// copies), so the copy becomes the Doc's text once both are done.
	// Copying first cost a large file 40–50 ms before parsing began.
	copied := make(chan string, 1)
	go func() { copied <- string(data) }()
	d, err := parseJSONDoc(data, view)
	src := <-copied
	if err != nil {
		return nil, err
	}
	d.src = src
	return d, nil
}

// Root is the document's top value.
func (d *Doc) Root() Node { return Node{d, d.root} }

// IsZero reports whether the value is absent.
func (n Node) IsZero() bool { return n.d == nil }

func (n Node) node() *node { return n.d.parts.node(n.i) }

// Kind is the value's JSON kind; Null when absent.
func (n Node) Kind() Kind {
	if n.d == nil {
		return Null
	}
	return n.node().kind()
}

// Line is the line the value starts on; 0 when absent.
func (n Node) Line() int {
	if n.d == nil {
		return 0
	}
	return n.node().line()
}

// Str is the text of a string or number, and "true"/"false" for booleans;
// "" for other kinds.
func (n Node) Str() string {
	if n.d == nil {
		return ""
	}
	return n.d.text(n.node())
}

func (d *Doc) text(x *node) string { return text(d.src, &d.parts, x) }

// text is the text of x in a document of text src and parts ps.
func text(src string, ps *parts, x *node) string {
	switch {
	case x.kind() == Object || x.kind() == Array:
		return ""
	case x.inStrs():
		return ps.str(x.a)
	}
	return src[x.a : x.a+x.b]
}

// Len is the number of an array's items or of an object's members; 0 for
// other kinds.
func (n Node) Len() int {
	switch n.Kind() {
	case Array:
		return int(n.node().b)
	case Object:
		return int(n.node().b) / 2
	}
	return 0
}

// Item is an array's item i.
func (n Node) Item(i int) Node { return Node{n.d, n.node().a + int32(i)} }

// Items yields an array's items with their indexes.
func (n Node) Items() iter.Seq2[int, Node] {
	return func(yield func(int, Node) bool) {
		if n.Kind() != Array {
			return
		}
		x := n.node()
		for i := range x.b {
			if !yield(int(i), Node{n.d, x.a + i}) {
				return
			}
		}
	}
}

// Key is the key of an object's member i.
func (n Node) Key(i int) string { return n.d.text(n.d.parts.node(n.node().a + 2*int32(i))) }

// Field is the value of an object's member i.
func (n Node) Field(i int) Node { return Node{n.d, n.node().a + 2*int32(i) + 1} }

// Get returns an object member by exact key; absent when there is none or
// n is not an object.
func (n Node) Get(key string) Node {
	if i := n.Index(key); i >= 0 {
		return n.Field(i)
	}
	return Node{}
}

// Index is the index of an object's member by exact key; -1 when there is
// none or n is not an object.
func (n Node) Index(key string) int {
	if n.Kind() != Object {
		return -1
	}
	// The hottest loop of decoding: keys are compared by length before
	// their text is looked at. An object's members are in one part.
	d, x := n.d, n.node()
	first := x.a & (1<<partShift - 1)
	members := d.parts[x.a>>partShift].nodes[first : first+x.b]
	for i := 0; i < len(members); i += 2 {
		k := &members[i]
		if k.inStrs() {
			if d.parts.str(k.a) == key {
				return i / 2
			}
		} else if int(k.b) == len(key) && d.src[k.a:k.a+k.b] == key {
			return i / 2
		}
	}
	return -1
}

// Value is the value as a *Value tree (nil when absent), for readers that
// walk or change trees.
func (n Node) Value() *Value {
	if n.d == nil {
		return nil
	}
	// Sized at once: one allocation for the values and one for the
	// member pointers (the node count bounds both).
	count := len(n.d.parts[0].nodes) + len(n.d.parts[1].nodes)
	m := &materializer{d: n.d, values: make([]Value, 0, count), ptrs: make([]*Value, 0, count)}
	return m.value(n.i)
}

type materializer struct {
	d      *Doc
	values []Value
	ptrs   []*Value
}

func (m *materializer) value(i int32) *Value {
	x := m.d.parts.node(i)
	m.values = append(m.values, Value{Kind: x.kind(), Line: x.line(), Str: m.d.text(x)})
	v := &m.values[len(m.values)-1]
	switch v.Kind {
	case Array:
		if x.b == 0 {
			break
		}
		start := len(m.ptrs)
		m.ptrs = m.ptrs[:start+int(x.b)]
		v.Items = m.ptrs[start:len(m.ptrs):len(m.ptrs)]
		for j := range x.b {
			v.Items[j] = m.value(x.a + j)
		}
	case Object:
		n := int(x.b / 2)
		if n == 0 {
			break
		}
		start := len(m.ptrs)
		m.ptrs = m.ptrs[:start+n]
		v.Fields = m.ptrs[start:len(m.ptrs):len(m.ptrs)]
		v.Keys = make([]string, n)
		for j := range n {
			v.Keys[j] = m.d.text(m.d.parts.node(x.a + 2*int32(j)))
			v.Fields[j] = m.value(x.a + 2*int32(j) + 1)
		}
	}
	return v
}

// builder collects a Doc's nodes. Values are built bottom-up: a value's
// node waits on the stack until its container is closed, and closing moves
// the container's children from the stack to the node list, where they are
// then a run.
type builder struct {
	parts parts
	part  int32 // the part this builder writes
	stack []node
}

func newBuilder(part int32, capacity int) builder {
	b := builder{part: part}
	b.parts[part].nodes = make([]node, 0, capacity)
	return b
}

// slice is a scalar node whose text is src[start:end].
func slice(k Kind, line, start, end int) node {
	return newNode(k, false, line, int32(start), int32(end-start))
}

// own is a scalar node with text s, which is not a slice of src.
func (b *builder) own(k Kind, line int, s string) node {
	p := &b.parts[b.part]
	p.strs = append(p.strs, s)
	return newNode(k, true, line, b.part<<partShift|int32(len(p.strs)-1), 0)
}

// close ends a container whose children are the stack's entries from base.
func (b *builder) close(k Kind, line, base int) node {
	p := &b.parts[b.part]
	x := newNode(k, false, line, b.part<<partShift|int32(len(p.nodes)), int32(len(b.stack)-base))
	p.nodes = append(p.nodes, b.stack[base:]...)
	b.stack = b.stack[:base]
	return x
}

// doc ends the document, of text src, with its root.
func (b *builder) doc(src string, root node) *Doc {
	p := &b.parts[b.part]
	p.nodes = append(p.nodes, root)
	return &Doc{src: src, parts: b.parts, root: b.part<<partShift | int32(len(p.nodes)-1)}
}

// join takes on the part that o, a builder of the same text writing the
// other part, built, and returns o's pending stack entries.
func (b *builder) join(o *builder) []node {
	b.parts[o.part] = o.parts[o.part]
	return o.stack
}
