package provision

import "testing"

func TestSizesListEveryKnownSizeByCores(t *testing.T) { // issue 14 §2: the wizard's VM sizes
	sizes := Sizes()
	if len(sizes) != len(vmSizes) {
		t.Fatalf("%d sizes listed, %d known", len(sizes), len(vmSizes))
	}
	for i, s := range sizes {
		cores, family, err := SizeOf(s.Name)
		if err != nil || cores != s.Cores || family != s.Family {
			t.Errorf("%s: listed %d cores (%s), SizeOf says %d (%s) %v", s.Name, s.Cores, s.Family, cores, family, err)
		}
		if i > 0 && (sizes[i-1].Cores > s.Cores || sizes[i-1].Cores == s.Cores && sizes[i-1].Name >= s.Name) {
			t.Errorf("%s after %s: not by cores then name", s.Name, sizes[i-1].Name)
		}
	}
	if sizes[0].Cores != 1 || sizes[len(sizes)-1].Name != "Standard_NC96ads_A100_v4" {
		t.Fatalf("first %v, last %v", sizes[0], sizes[len(sizes)-1])
	}
}
