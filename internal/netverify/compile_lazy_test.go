package netverify

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"securetrain/internal/parallel"
	"securetrain/internal/resources"
	"securetrain/internal/servicetags"
)

// NSG rules and route tables are compiled on first use, but Compile still
// reports their problems: exactly those of the NSGs and route tables the
// network uses (nsg-unused and rt-unused are not), each once, by line.
func TestCompileReportsProblemsOfRulesCompiledLater(t *testing.T) {
	path := filepath.Join("testdata", "compile-problems.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := resources.DecodeFile("env.yaml", data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	_, err = Compile(snap, servicetags.Default())
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("compile: %v, want a CompileError", err)
	}
	catalog := "(catalog " + servicetags.Default().Version() + ")"
	want := []string{
		`env.yaml:9: NSG nsg-a rule badsrc: source: unknown service tag "NoSuchTagA" ` + catalog,
		`env.yaml:10: NSG nsg-a rule baddst: destination: unknown service tag "NoSuchTagB" ` + catalog,
		`env.yaml:11: NSG nsg-a rule badboth: source: unknown service tag "NoSuchTagC" ` + catalog,
		`env.yaml:19: NSG nsg-nic rule nicbad: destination: unknown service tag "NoSuchTagE" ` + catalog,
		`env.yaml:33: route rt-a/badroute: addressPrefix "NoSuchTagG" is neither a CIDR nor a service tag of catalog ` + servicetags.Default().Version(),
	}
	if !slices.Equal(ce.Problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ce.Problems, "\n"), strings.Join(want, "\n"))
	}
}

// A rule naming an AzurePlatform* tag is matched by linear scan, so its
// addresses cut set queries from the start: its NSG is compiled by Compile.
func TestPlatformRuleCutsBeforeAnyQuery(t *testing.T) {
	n := compileYAML(t, env(map[string]string{"NSG_A": rule("lkm", 100, "Outbound", "Deny", "Tcp", "*", "AzurePlatformLKM", "1688")}))
	for _, addr := range []string{"23.102.135.246", "23.102.135.247", "20.118.99.224", "40.83.235.53"} {
		if _, found := slices.BinarySearch(n.cuts, mustU32(addr)); !found {
			t.Errorf("no cut at %s after Compile", addr)
		}
	}
}

// compileRules compiles the default rules without checking them: their
// tokens must be ones checkRule accepts.
func TestDefaultRulesPassCheck(t *testing.T) {
	n := compileYAML(t, env(nil))
	sc := n.subnets[sortedKeys(n.subnets)[0]]
	for _, r := range resources.DefaultSecurityRules(n.nsgList[0].id, "x") {
		if err := n.checkRule(r, sc); err != nil {
			t.Errorf("default rule %s: %v", r.ID.Leaf(), err)
		}
	}
}

// Compiling NSGs, indexing them and building route tables on first use, on
// every core (prepare) and concurrently with other readers, gives what one
// pass in order gives (run with -race: the lazily built parts are shared
// by queries).
func TestLazyCompileOnAllCoresMatchesOnePass(t *testing.T) {
	type source struct {
		name string
		net  func() *Network
	}
	var sources []source
	for seed := uint64(1); seed <= 8; seed++ {
		sources = append(sources, source{"random " + string(rune('0'+seed)), func() *Network { return randomNetwork(t, seed) }})
	}
	paths, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	broken, _ := filepath.Glob(filepath.Join("..", "..", "examples", "broken", "*.yaml"))
	for _, p := range append(paths, broken...) {
		rel, _ := filepath.Rel(filepath.Join("..", "..", "examples"), p)
		sources = append(sources, source{rel, func() *Network { return compileExample(t, rel) }})
	}
	if len(sources) < 12 {
		t.Fatalf("only %d networks", len(sources))
	}
	for _, src := range sources {
		// One pass, in order.
		one := src.net()
		for _, c := range one.nsgList {
			c.dir(resources.Inbound).build()
			c.dir(resources.Outbound).build()
		}
		for _, rt := range one.tables {
			rt.painted()
		}
		wantViews := one.NSGs()
		// Every core, several readers at once.
		all := src.net()
		var wg sync.WaitGroup
		views := make([][]NSGView, 3)
		for i := range views {
			wg.Add(1)
			go func() {
				defer wg.Done()
				views[i] = all.NSGs()
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			parallel.For(len(all.tables), func(i int) { all.tables[len(all.tables)-1-i].painted() })
		}()
		all.prepare()
		wg.Wait()
		for i, v := range views {
			if !reflect.DeepEqual(v, wantViews) {
				t.Errorf("%s: NSG views of reader %d differ from one pass's", src.name, i)
			}
		}
		for i, c := range all.nsgList {
			w := one.nsgList[i]
			for _, d := range []resources.Direction{resources.Inbound, resources.Outbound} {
				got, want := c.dir(d), w.dir(d)
				for k, x := range []*dimIndex{got.src, got.dst, got.sport, got.dport} {
					y := []*dimIndex{want.src, want.dst, want.sport, want.dport}[k]
					if !slices.Equal(x.starts, y.starts) || !slices.Equal(x.ids, y.ids) || !slices.Equal(x.table, y.table) {
						t.Errorf("%s: %s %s index %d differs from one pass's", src.name, c.label, d, k)
					}
				}
			}
		}
		if len(all.tables) != len(one.tables) {
			t.Fatalf("%s: %d route tables, want %d", src.name, len(all.tables), len(one.tables))
		}
		for i, rt := range all.tables {
			w := one.tables[i]
			if !slices.Equal(rt.starts, w.starts) || !slices.Equal(rt.winner, w.winner) || !slices.Equal(rt.prefixes, w.prefixes) {
				t.Errorf("%s: route table %d differs from one pass's", src.name, i)
			}
		}
		for _, k := range sortedKeys(all.subnets) {
			id := all.subnets[k].s.ID
			got, err1 := all.EffectiveRoutes(id)
			want, err2 := one.EffectiveRoutes(id)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: effective routes of %s differ (%v, %v)", src.name, id, err1, err2)
			}
		}
		// Rules naming one catalog tag share the compile's set for it
		// (the NSG indexes group rules by set).
		for _, c := range all.nsgList {
			for _, d := range []*nsgDir{&c.in, &c.out} {
				for _, r := range d.rules {
					if len(r.decl.DestinationPrefixes) != 1 || len(r.decl.DestinationASGs) != 0 {
						continue
					}
					tag, ok := all.tags.Lookup(r.decl.DestinationPrefixes[0])
					if !ok || len(r.dst.Ranges()) < 3 {
						continue
					}
					if shared := all.tagSets[strings.ToLower(tag.Name)]; &shared.Ranges()[0] != &r.dst.Ranges()[0] {
						t.Errorf("%s: rule %s does not share the set of %s", src.name, r.name, tag.Name)
					}
				}
			}
		}
	}
}
