package requirements

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"securetrain/internal/netverify"
	"securetrain/internal/servicetags"
)

// The studio's pre-flight runs CheckCompute on a network compiled with the
// proposed compute: on every example it must say of each compute what
// Check says of it.
func TestCheckComputeAgreesWithCheck(t *testing.T) { // issue 14 §2: the panel runs the rules of check
	paths, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	broken, _ := filepath.Glob(filepath.Join("..", "..", "examples", "broken", "*.yaml"))
	paths = append(paths, broken...)
	if len(paths) < 5 {
		t.Fatalf("examples: %v", paths)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, rep := compileData(t, path, data)
		for i, c := range n.Snapshot().Computes {
			got, err := CheckCompute(n, c, Options{})
			if err != nil {
				t.Fatalf("%s %s: %v", path, c.ID.Name(), err)
			}
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(rep.Computes[i])
			if string(a) != string(b) {
				t.Errorf("%s %s: CheckCompute\n%s\nCheck\n%s", path, c.ID.Name(), a, b)
			}
		}
	}
}

// A compute added with Snapshot.WithCompute is judged as if the file held
// it: the broken example's instance, taken out and proposed again, fails
// on the same rule.
func TestCheckComputeOnAProposal(t *testing.T) { // issue 14 §2; spec §10 #6
	path := filepath.Join("..", "..", "examples", "broken", "instance-udp-5831-blocked.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, rep := compileData(t, path, data)
	proposal := *n.Snapshot().Computes[0]
	ws, _ := proposal.ID.Parent()
	proposal.ID = ws.Child("computes", "proposed")
	if _, err := CheckCompute(n, &proposal, Options{}); err == nil {
		t.Fatal("CheckCompute judged a compute its network does not hold")
	}
	withIt, err := netverify.Compile(n.Snapshot().WithCompute(&proposal), servicetags.Default())
	if err != nil {
		t.Fatal(err)
	}
	got, err := CheckCompute(withIt, &proposal, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != WillFail || rep.Computes[0].Status != WillFail || len(got.Findings) == 0 || got.Findings[0].Code != rep.Computes[0].Findings[0].Code {
		t.Fatalf("the proposal: %+v; the file's compute: %+v", got, rep.Computes[0])
	}
	// The subnet's free addresses count the computes of the snapshot.
	sn := n.Snapshot().Subnet(proposal.Subnet.ID)
	before, _ := FreeAddresses(n.Snapshot(), sn.ID)
	after, _ := FreeAddresses(withIt.Snapshot(), sn.ID)
	if before != after+1 || before >= UsableAddresses(sn) {
		t.Fatalf("free addresses: %d before, %d with the proposal, %d usable", before, after, UsableAddresses(sn))
	}
}
