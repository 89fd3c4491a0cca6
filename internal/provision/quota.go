package provision

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// vmSize is what provisioning needs of a VM size: its cores and the quota
// family they count against.
type vmSize struct {
	Cores  int
	Family string
}

// vmSizes are the sizes securetrain knows, by lower-cased name (Azure's
// cores and quota families).
var vmSizes = map[string]vmSize{}

func init() {
	add := func(family string, sizes map[string]int) {
		for name, cores := range sizes {
			vmSizes[strings.ToLower(name)] = vmSize{Cores: cores, Family: family}
			sizeNames = append(sizeNames, name)
		}
	}
	add("standardDSv2Family", map[string]int{"Standard_DS1_v2": 1, "Standard_DS2_v2": 2, "Standard_DS3_v2": 4, "Standard_DS4_v2": 8, "Standard_DS5_v2": 16})
	add("standardDv2Family", map[string]int{"Standard_D1_v2": 1, "Standard_D2_v2": 2, "Standard_D3_v2": 4, "Standard_D4_v2": 8, "Standard_D5_v2": 16})
	add("standardDSv3Family", map[string]int{"Standard_D2s_v3": 2, "Standard_D4s_v3": 4, "Standard_D8s_v3": 8, "Standard_D16s_v3": 16})
	add("standardDv3Family", map[string]int{"Standard_D2_v3": 2, "Standard_D4_v3": 4, "Standard_D8_v3": 8, "Standard_D16_v3": 16})
	add("standardESv3Family", map[string]int{"Standard_E4s_v3": 4, "Standard_E8s_v3": 8, "Standard_E16s_v3": 16})
	add("standardFSv2Family", map[string]int{"Standard_F4s_v2": 4, "Standard_F8s_v2": 8, "Standard_F16s_v2": 16})
	add("standardNCSv3Family", map[string]int{"Standard_NC6s_v3": 6, "Standard_NC12s_v3": 12, "Standard_NC24s_v3": 24})
	add("standardNCADSA100v4Family", map[string]int{"Standard_NC24ads_A100_v4": 24, "Standard_NC48ads_A100_v4": 48, "Standard_NC96ads_A100_v4": 96})
	add("standardNDSv2Family", map[string]int{"Standard_ND40rs_v2": 40})
}

// Size is a VM size as a user picks it: its name, cores and quota family.
type Size struct {
	Name   string
	Cores  int
	Family string
}

// sizeNames keeps the sizes' spelling for Sizes (vmSizes is keyed
// lower-case).
var sizeNames []string

// Sizes lists the VM sizes securetrain knows, by cores then name.
func Sizes() []Size {
	out := make([]Size, 0, len(sizeNames))
	for _, name := range sizeNames {
		s := vmSizes[strings.ToLower(name)]
		out = append(out, Size{Name: name, Cores: s.Cores, Family: s.Family})
	}
	slices.SortFunc(out, func(a, b Size) int { return cmp.Or(cmp.Compare(a.Cores, b.Cores), strings.Compare(a.Name, b.Name)) })
	return out
}

// DefaultVMSize is Azure ML's default (spec §9).
const DefaultVMSize = "Standard_DS3_v2"

// SizeOf finds a VM size, case-insensitively ("STANDARD_DS3_V2" is what
// the SDK sample sends).
func SizeOf(name string) (cores int, family string, err error) {
	if name == "" {
		name = DefaultVMSize
	}
	s, ok := vmSizes[strings.ToLower(name)]
	if !ok {
		return 0, "", &Error{Code: "VmSizeNotSupported", Message: fmt.Sprintf("The VM size '%s' is not supported; known sizes include Standard_DS3_v2, Standard_D4s_v3, Standard_NC6s_v3, Standard_NC24ads_A100_v4.", name)}
	}
	return s.Cores, s.Family, nil
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
