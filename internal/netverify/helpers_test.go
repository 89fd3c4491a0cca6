package netverify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// compileYAML decodes and compiles an environment given inline.
func compileYAML(t testing.TB, env string) *Network {
	t.Helper()
	snap, err := resources.DecodeFile("test.yaml", []byte(env))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	n, err := Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return n
}

// compileExample compiles a file under examples/.
func compileExample(t testing.TB, name string) *Network {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := resources.DecodeFile(path, data)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	n, err := Compile(snap, servicetags.Default())
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return n
}

// textQuery is a query as a person writes it (`securetrain flow`).
type textQuery struct {
	From, To, Protocol string
	Port, SourcePort   uint16
	Direction          Direction
	MaxRanges          int
}

// parse reads a text query through the caller-neutral resolver.
func (tq textQuery) parse(n *Network) (Query, error) {
	from, err := n.ParseEndpoint(tq.From)
	if err != nil {
		return Query{}, err
	}
	to, err := n.ParseEndpoint(tq.To)
	if err != nil {
		return Query{}, err
	}
	proto := AnyProtocol // as `securetrain flow` reads no protocol
	if tq.Protocol != "" {
		if proto, err = ParseProtocol(tq.Protocol); err != nil {
			return Query{}, err
		}
	}
	return Query{From: from, To: to, Protocol: proto, Port: tq.Port, SourcePort: tq.SourcePort, Direction: tq.Direction, MaxRanges: tq.MaxRanges}, nil
}

// mustParse is parse for queries a test writes correctly.
func (tq textQuery) mustParse(t testing.TB, n *Network) Query {
	t.Helper()
	q, err := tq.parse(n)
	if err != nil {
		t.Fatalf("query %+v: %v", tq, err)
	}
	return q
}

// flow runs a query through both evaluators and checks they agree.
func flow(t testing.TB, n *Network, tq textQuery) *Result {
	t.Helper()
	q := tq.mustParse(t, n)
	res, err := n.Flow(q)
	if err != nil {
		t.Fatalf("flow %+v: %v", q, err)
	}
	ref, err := n.flow(q, true)
	if err != nil {
		t.Fatalf("reference flow %+v: %v", q, err)
	}
	if res.Verdict != ref.Verdict || len(res.Outcomes) != len(ref.Outcomes) {
		t.Fatalf("fast and reference evaluators disagree on %+v: %s vs %s", q, res.Verdict, ref.Verdict)
	}
	return res
}

// expect checks the verdict and that the explanation mentions every word.
func expect(t testing.TB, res *Result, want Verdict, mentions ...string) {
	t.Helper()
	if res.Verdict != want {
		t.Fatalf("verdict %s, want %s\n%s", res.Verdict, want, explain(res))
	}
	text := explain(res)
	for _, m := range mentions {
		if !strings.Contains(text, m) {
			t.Errorf("explanation lacks %q:\n%s", m, text)
		}
	}
}

func explain(res *Result) string {
	var b strings.Builder
	for _, s := range res.DNS {
		b.WriteString("dns: " + s.Name + " " + s.Type + " " + s.Answer + " " + s.Source + "\n")
	}
	for _, o := range res.Outcomes {
		b.WriteString(string(o.Verdict) + " " + strings.Join(o.Sources, ",") + " -> " + strings.Join(o.Destinations, ",") + "\n")
		for _, h := range o.Hops {
			b.WriteString("  " + string(h.Kind) + " " + h.Rule + " | " + h.Detail + "\n")
		}
		b.WriteString("  reason: " + o.Reason + "\n  fix: " + o.Fix + "\n")
	}
	return b.String()
}

// envHeader starts a test environment: one VNet 10.0.0.0/16 in westus2.
const envHeader = `subscription: 00000000-0000-0000-0000-000000000001
resources:
`
