package resources

import (
	"strings"
	"testing"

	"securetrain/internal/arm"
)

func TestAzureMLResourcesFor(t *testing.T) { // spec §4.2: in the VNet's resource group, stable names and addresses
	id, _ := arm.ParseID("/subscriptions/s/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/w/computes/cpu", "")
	subnet, _ := arm.ParseID("/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/a", "")
	c := &Compute{Meta: Meta{ID: id}, ComputeType: ComputeAml, ComputeLocation: "eastus", Subnet: Ref{ID: subnet}, EnableNodePublicIP: true}
	a, ok := AzureMLResourcesFor(c)
	if !ok || a.NSG.ResourceGroup != "net" || a.LoadBalancer.ResourceGroup != "net" || a.PublicIP.ResourceGroup != "net" {
		t.Fatalf("created in the wrong group: %+v", a)
	}
	if !strings.HasPrefix(a.NSG.Name(), "aml-cpu-") || !strings.HasSuffix(a.NSG.Name(), "-nsg") {
		t.Errorf("NSG name %s", a.NSG.Name())
	}
	again, _ := AzureMLResourcesFor(c)
	if !a.Address.Is4() || a.Address.As4()[0] != 20 || again.Address != a.Address || !again.NSG.Equal(a.NSG) {
		t.Fatalf("public address %s, again %s", a.Address, again.Address)
	}
	// A compute of the same name in another workspace gets other names.
	other := *c
	other.ID.Names = []string{"w2", "cpu"}
	if b, _ := AzureMLResourcesFor(&other); b.NSG.Name() == a.NSG.Name() {
		t.Errorf("two workspaces share NSG %s", b.NSG.Name())
	}
	// The bodies carry the rules, in creation order, the LB on the PIP.
	bodies := a.Bodies()
	if len(bodies) != 3 || !bodies[0].ID.Equal(a.NSG) || !bodies[1].ID.Equal(a.PublicIP) || !bodies[2].ID.Equal(a.LoadBalancer) {
		t.Fatalf("bodies %+v", bodies)
	}
	rules := arm.Field(bodies[0].Body, "properties")["securityRules"].([]any)
	rule := arm.Field(rules[0].(arm.Body), "properties")
	if len(rules) != 1 || rule["destinationPortRange"] != "44224" || rule["sourceAddressPrefix"] != "AzureMachineLearning" || rule["sourcePortRange"] != "*" {
		t.Errorf("rules %v", rules)
	}
	if ip := arm.Str(arm.Field(bodies[1].Body, "properties"), "ipAddress"); ip != a.Address.String() {
		t.Errorf("public IP body address %s, want %s", ip, a.Address)
	}
	c.RemoteLoginPortPublicAccess = "Enabled"
	if ssh, _ := AzureMLResourcesFor(c); len(ssh.Rules) != 2 || ssh.Rules[1].DestinationPorts[0] != (PortRange{22, 22}) {
		t.Errorf("public SSH rules %+v", ssh.Rules)
	}
	for name, off := range map[string]func(*Compute){
		"no public IP": func(c *Compute) { c.EnableNodePublicIP = false },
		"no subnet":    func(c *Compute) { c.Subnet = Ref{} },
		"attached VM":  func(c *Compute) { c.ComputeType = ComputeVM },
	} {
		none := *c
		off(&none)
		if _, ok := AzureMLResourcesFor(&none); ok {
			t.Errorf("%s: Azure ML creates resources", name)
		}
	}
}
