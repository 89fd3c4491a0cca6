package provision

import "testing"

func TestSizesListEveryKnownSizeByCores(t *testing.T) { // issue 14 §2: the wizard's VM sizes
	sizes := Sizes()
	if len(sizes) != len(vmSizes) {
		t.Fatalf("%d sizes listed, %d known", len(sizes), len(vmSizes))
	}
	for i, s := range sizes {
		got, err := SizeOf(s.Name)
		if err != nil || got != s || s.MemoryMiB < 1024 {
			t.Errorf("%s: listed %+v, SizeOf says %+v %v", s.Name, s, got, err)
		}
		if i > 0 && (sizes[i-1].Cores > s.Cores || sizes[i-1].Cores == s.Cores && sizes[i-1].Name >= s.Name) {
			t.Errorf("%s after %s: not by cores then name", s.Name, sizes[i-1].Name)
		}
	}
	if sizes[0].Cores != 1 || sizes[len(sizes)-1].Name != "Standard_NC96ads_A100_v4" {
		t.Fatalf("first %v, last %v", sizes[0], sizes[len(sizes)-1])
	}
}
