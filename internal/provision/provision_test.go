package provision

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) { // scaleSettings.nodeIdleTimeBeforeScaleDown is ISO 8601
	for in, want := range map[string]time.Duration{"PT120S": 120 * time.Second, "PT2M": 2 * time.Minute, "P1DT1H": 25 * time.Hour, "pt0.5s": 500 * time.Millisecond} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "120", "P", "PT", "P1M", "PT5X", "PT1H2"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestSizeOf(t *testing.T) {
	if s, err := SizeOf("STANDARD_DS3_V2"); err != nil || s.Cores != 4 || s.MemoryMiB != 14<<10 || s.Family != "standardDSv2Family" || s.Name != "STANDARD_DS3_V2" {
		t.Fatalf("Standard_DS3_v2: %+v %v", s, err)
	}
	if s, err := SizeOf(""); err != nil || s.Cores != 4 {
		t.Fatalf("the default size: %+v %v", s, err)
	}
	if _, err := SizeOf("Standard_Imaginary"); err == nil {
		t.Fatal("an unknown size was accepted")
	}
}

func TestMarkLeavingPrefersUnusableThenLongestIdle(t *testing.T) {
	t0 := time.Date(2025, 11, 6, 9, 0, 0, 0, time.UTC)
	nodes := []node{{NodeID: "tvm-0000", State: NodeIdle, Since: t0.Add(time.Minute)}, {NodeID: "tvm-0001", State: NodeUnusable},
		{NodeID: "tvm-0002", State: NodeIdle, Since: t0.Add(time.Minute)}, {NodeID: "tvm-0003", State: NodeIdle, Since: t0.Add(time.Minute)},
		{NodeID: "tvm-0004", State: NodePreparing}, {NodeID: "tvm-0005", State: NodeIdle, Since: t0}}
	for count, leaving := range map[int][]string{1: {"tvm-0001"}, 2: {"tvm-0001", "tvm-0005"}, 3: {"tvm-0001", "tvm-0003", "tvm-0005"},
		5: {"tvm-0000", "tvm-0001", "tvm-0002", "tvm-0003", "tvm-0005"}} {
		var got []string
		for _, n := range markLeaving(slices.Clone(nodes), count) {
			if n.State == NodeLeaving {
				got = append(got, n.NodeID)
			}
		}
		if !slices.Equal(got, leaving) {
			t.Errorf("%d leaving: %v, want %v", count, got, leaving)
		}
	}
}

func TestNextNodeNames(t *testing.T) {
	if n := nextNodeNames([]node{{NodeID: "tvm-0000"}, {NodeID: "tvm-0002"}}, 2); n[0] != "tvm-0001" || n[1] != "tvm-0003" {
		t.Fatalf("next names %v", n)
	}
}

func TestLoadQuotas(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	q, err := LoadQuotas(write("q.json", `{"coresPerFamily": 24, "families": {"standardNCSv3Family": 12}}`))
	if err != nil || q.withDefaults().family("standardNCSv3Family") != 12 || q.withDefaults().family("standardDSv2Family") != 24 || q.withDefaults().PublicIPAddresses != 1000 {
		t.Fatalf("quotas: %+v %v", q, err)
	}
	for _, bad := range []string{`{"cores": 1}`, `{"coresPerFamily": -1}`, `{`} {
		if _, err := LoadQuotas(write("bad.json", bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
