package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"securetrain/internal/store"
)

// vmSize is what provisioning needs of a VM size: its cores and the quota
// family they count against, and its memory (a node's limits).
type vmSize struct {
	Cores     int
	MemoryMiB int
	Family    string
}

// vmSizes are the sizes securetrain knows, by lower-cased name (Azure's
// cores, memory and quota families).
var vmSizes = map[string]vmSize{}

func init() {
	// gib gives a size's cores and memory in GiB.
	type gib struct {
		cores  int
		memory float64
	}
	add := func(family string, sizes map[string]gib) {
		for name, s := range sizes {
			vmSizes[strings.ToLower(name)] = vmSize{Cores: s.cores, MemoryMiB: int(s.memory * 1024), Family: family}
			sizeNames = append(sizeNames, name)
		}
	}
	add("standardDSv2Family", map[string]gib{"Standard_DS1_v2": {1, 3.5}, "Standard_DS2_v2": {2, 7}, "Standard_DS3_v2": {4, 14}, "Standard_DS4_v2": {8, 28}, "Standard_DS5_v2": {16, 56}})
	add("standardDv2Family", map[string]gib{"Standard_D1_v2": {1, 3.5}, "Standard_D2_v2": {2, 7}, "Standard_D3_v2": {4, 14}, "Standard_D4_v2": {8, 28}, "Standard_D5_v2": {16, 56}})
	add("standardDSv3Family", map[string]gib{"Standard_D2s_v3": {2, 8}, "Standard_D4s_v3": {4, 16}, "Standard_D8s_v3": {8, 32}, "Standard_D16s_v3": {16, 64}})
	add("standardDv3Family", map[string]gib{"Standard_D2_v3": {2, 8}, "Standard_D4_v3": {4, 16}, "Standard_D8_v3": {8, 32}, "Standard_D16_v3": {16, 64}})
	add("standardESv3Family", map[string]gib{"Standard_E4s_v3": {4, 32}, "Standard_E8s_v3": {8, 64}, "Standard_E16s_v3": {16, 128}})
	add("standardFSv2Family", map[string]gib{"Standard_F4s_v2": {4, 8}, "Standard_F8s_v2": {8, 16}, "Standard_F16s_v2": {16, 32}})
	add("standardNCSv3Family", map[string]gib{"Standard_NC6s_v3": {6, 112}, "Standard_NC12s_v3": {12, 224}, "Standard_NC24s_v3": {24, 448}})
	add("standardNCADSA100v4Family", map[string]gib{"Standard_NC24ads_A100_v4": {24, 220}, "Standard_NC48ads_A100_v4": {48, 440}, "Standard_NC96ads_A100_v4": {96, 880}})
	add("standardNDSv2Family", map[string]gib{"Standard_ND40rs_v2": {40, 672}})
	for _, s := range vmSizes {
		families = append(families, s.Family)
	}
	slices.Sort(families)
	families = slices.Compact(families)
}

// Size is a VM size as a user picks it: its name, cores, memory and quota
// family.
type Size struct {
	Name      string
	Cores     int
	MemoryMiB int
	Family    string
}

// sizeNames keeps the sizes' spelling for Sizes (vmSizes is keyed
// lower-case).
var sizeNames []string

// Sizes lists the VM sizes securetrain knows, by cores then name.
func Sizes() []Size {
	out := make([]Size, 0, len(sizeNames))
	for _, name := range sizeNames {
		out = append(out, sizeNamed(name))
	}
	slices.SortFunc(out, func(a, b Size) int { return cmp.Or(cmp.Compare(a.Cores, b.Cores), strings.Compare(a.Name, b.Name)) })
	return out
}

func sizeNamed(name string) Size {
	s := vmSizes[strings.ToLower(name)]
	return Size{Name: name, Cores: s.Cores, MemoryMiB: s.MemoryMiB, Family: s.Family}
}

// DefaultVMSize is Azure ML's default (spec §9).
const DefaultVMSize = "Standard_DS3_v2"

// SizeOf finds a VM size, case-insensitively ("STANDARD_DS3_V2" is what
// the SDK sample sends); "" is DefaultVMSize.
func SizeOf(name string) (Size, error) {
	if name == "" {
		name = DefaultVMSize
	}
	if _, ok := vmSizes[strings.ToLower(name)]; !ok {
		return Size{}, &Error{Code: "VmSizeNotSupported", Message: fmt.Sprintf("The VM size '%s' is not supported; known sizes include Standard_DS3_v2, Standard_D4s_v3, Standard_NC6s_v3, Standard_NC24ads_A100_v4.", name)}
	}
	return sizeNamed(name), nil
}

// Quotas are the per-subscription, per-region limits provisioning
// enforces. Zero means the default.
type Quotas struct {
	// CoresPerFamily is the dedicated-core quota of each VM family;
	// Families overrides it per family ("standardNCSv3Family": 24).
	CoresPerFamily int            `json:"coresPerFamily"`
	Families       map[string]int `json:"families,omitempty"`
	// TotalCores is the regional vCPU quota over all families.
	TotalCores            int `json:"totalRegionalCores"`
	PublicIPAddresses     int `json:"publicIPAddresses"`
	LoadBalancers         int `json:"loadBalancers"`
	NetworkSecurityGroups int `json:"networkSecurityGroups"`
}

// DefaultQuotas are Azure-like defaults: 100 dedicated cores per family
// and 350 per region, 1,000 public IPs and load balancers and 5,000 NSGs
// per region.
var DefaultQuotas = Quotas{CoresPerFamily: 100, TotalCores: 350, PublicIPAddresses: 1000, LoadBalancers: 1000, NetworkSecurityGroups: 5000}

// withDefaults fills zero limits from DefaultQuotas.
func (q Quotas) withDefaults() Quotas {
	def := DefaultQuotas
	if q.CoresPerFamily == 0 {
		q.CoresPerFamily = def.CoresPerFamily
	}
	if q.TotalCores == 0 {
		q.TotalCores = def.TotalCores
	}
	if q.PublicIPAddresses == 0 {
		q.PublicIPAddresses = def.PublicIPAddresses
	}
	if q.LoadBalancers == 0 {
		q.LoadBalancers = def.LoadBalancers
	}
	if q.NetworkSecurityGroups == 0 {
		q.NetworkSecurityGroups = def.NetworkSecurityGroups
	}
	return q
}

func (q Quotas) family(name string) int {
	if n, ok := q.Families[name]; ok {
		return n
	}
	return q.CoresPerFamily
}

// LoadQuotas reads quotas from a JSON file; unknown fields are refused.
func LoadQuotas(path string) (Quotas, error) {
	f, err := os.Open(path)
	if err != nil {
		return Quotas{}, fmt.Errorf("quotas: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var q Quotas
	if err := dec.Decode(&q); err != nil {
		return Quotas{}, fmt.Errorf("quotas %s: %w", path, err)
	}
	for name, v := range map[string]int{"coresPerFamily": q.CoresPerFamily, "totalRegionalCores": q.TotalCores,
		"publicIPAddresses": q.PublicIPAddresses, "loadBalancers": q.LoadBalancers, "networkSecurityGroups": q.NetworkSecurityGroups} {
		if v < 0 {
			return Quotas{}, fmt.Errorf("quotas %s: %s must not be negative", path, name)
		}
	}
	return q, nil
}

// coresInUse counts the dedicated cores the subscription's nodes hold in
// region (lower case), in total and per VM family. Stopped instances keep
// theirs (Azure: "Create an Azure Machine Learning compute instance").
func coresInUse(ctx context.Context, rd store.Reader, sub, region string) (total int, families map[string]int, err error) {
	families = map[string]int{}
	err = store.Each(ctx, rd, store.Query{Scope: "/subscriptions/" + sub, Type: nodeType}, func(rec store.Record) error {
		var n node
		if err := json.Unmarshal(rec.Body, &n); err != nil {
			return fmt.Errorf("stored node %s: %w", rec.ID, err)
		}
		if n.Location == region {
			total += n.Cores
			families[n.Family] += n.Cores
		}
		return nil
	})
	return total, families, err
}

// CoreUsage is what a quota allows and what is in use, in cores.
type CoreUsage struct {
	// Family is a VM family's quota name ("standardDSv2Family"); "" for
	// the region's total.
	Family      string
	Used, Limit int
}

// Usage is a subscription's core usage in a region: the regional total,
// then each VM family securetrain knows, by name (Azure's Machine
// Learning usages list every family of the region, in use or not).
func (e *Engine) Usage(ctx context.Context, rd store.Reader, sub, region string) ([]CoreUsage, error) {
	total, used, err := coresInUse(ctx, rd, sub, strings.ToLower(region))
	if err != nil {
		return nil, fmt.Errorf("core usage in %s: %w", region, err)
	}
	out := []CoreUsage{{Used: total, Limit: e.quotas.TotalCores}}
	for _, f := range families {
		out = append(out, CoreUsage{Family: f, Used: used[f], Limit: e.quotas.family(f)})
	}
	return out, nil
}

// families are the quota families of vmSizes, sorted (set by init).
var families []string

// FamilyTitle is a VM family's name as Azure's usages show it:
// "standardDSv2Family" is "Standard DSv2 Family vCPUs".
func FamilyTitle(family string) string {
	return "Standard " + strings.TrimSuffix(strings.TrimPrefix(family, "standard"), "Family") + " Family vCPUs"
}
