package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// idSpellings write one canonical id the ways a client may: every spelling
// that names the resource must be authorized and indexed as it; a
// look-alike (a non-ASCII letter that case-folds to ASCII) is refused.
var idSpellings = []struct {
	name    string
	spell   func(full string) string
	refused bool // 400 LinkedInvalidPropertyId instead of the resource's own answer
}{
	{"full", func(s string) string { return s }, false},
	{"short", func(s string) string { return s[len("/subscriptions/"+sub):] }, false},
	{"upper", strings.ToUpper, false},
	{"mixed", func(s string) string {
		return strings.NewReplacer("/subscriptions/", "/SubScriptions/", "/resourceGroups/", "/RESOURCEGROUPS/", "/providers/", "/Providers/").Replace(s)
	}, false},
	{"trailing slash", func(s string) string { return s + "/" }, false},
	// Percent-encoding means nothing inside a JSON body: it names another
	// (nonexistent) group, which the attacker has no rights on either.
	{"percent-encoded", func(s string) string { return strings.Replace(s, "/rg-net/", "/rg-%6Eet/", 1) }, false},
	{"U+017F", func(s string) string { return strings.Replace(s, "/subscriptions/", "/\u017Fubscriptions/", 1) }, true},
	{"U+212A", func(s string) string { return strings.Replace(s, "Microsoft.Network", "Microsoft.Networ\u212A", 1) }, true},
}

// TestLinkedAuthorizationEverySpelling reproduces issue 10 #1: a
// principal with rights on rg-ml only referenced rg-net's subnet with a
// short id or U+017F, and got 201 with nodes and Azure's NSG, load
// balancer and public IP in rg-net. Every id-bearing field the API
// authorizes is crossed with every spelling.
func TestLinkedAuthorizationEverySpelling(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	for _, p := range []struct{ path, body string }{
		{netNet + "routeTables/rt", `{"location":"eastus","properties":{"routes":[]}}`},
		{netNet + "publicIPAddresses/pip", `{"location":"eastus","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`},
		{netNet + "natGateways/nat", `{"location":"eastus","sku":{"name":"Standard"},"properties":{}}`},
		{rgML + "/providers/Microsoft.Network/virtualNetworks/own", `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.9.0.0/16"]},"subnets":[{"name":"s1","properties":{"addressPrefix":"10.9.0.0/24"}}]}}`},
	} {
		if st, out, _ := c.do("PUT", p.path+netVersion, p.body); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", p.path, st, out)
		}
	}
	ownSubnet := rgML + "/providers/Microsoft.Network/virtualNetworks/own/subnets/s1"
	// Contributor and Data Scientist on rg-ml, nothing on rg-net.
	attacker := c.as("attacker", "Contributor", rgML)
	before := c.count(rgNet)

	ownNet := rgML + "/providers/Microsoft.Network/"
	fields := []struct {
		name, path, body, target, action string
	}{
		{"compute subnet", wsML + "/computes/sneaky" + mlVersion,
			`{"location":"eastus","properties":{"computeType":"AmlCompute","properties":{"vmSize":"Standard_DS3_v2","enableNodePublicIp":true,"subnet":{"id":"%s"},"scaleSettings":{"minNodeCount":1,"maxNodeCount":1}}}}`,
			vnetNet + "/subnets/compute", "subnets/join/action"},
		{"subnet NSG", ownNet + "virtualNetworks/own/subnets/s2" + netVersion,
			`{"properties":{"addressPrefix":"10.9.1.0/24","networkSecurityGroup":{"id":"%s"}}}`, netNet + "networkSecurityGroups/nsg-compute", "networkSecurityGroups/join/action"},
		{"subnet route table", ownNet + "virtualNetworks/own/subnets/s2" + netVersion,
			`{"properties":{"addressPrefix":"10.9.1.0/24","routeTable":{"id":"%s"}}}`, netNet + "routeTables/rt", "routeTables/join/action"},
		{"subnet NAT gateway", ownNet + "virtualNetworks/own/subnets/s2" + netVersion,
			`{"properties":{"addressPrefix":"10.9.1.0/24","natGateway":{"id":"%s"}}}`, netNet + "natGateways/nat", "natGateways/join/action"},
		{"NIC public IP", ownNet + "networkInterfaces/nic" + netVersion,
			`{"location":"eastus","properties":{"ipConfigurations":[{"name":"ip1","properties":{"subnet":{"id":"` + ownSubnet + `"},"publicIPAddress":{"id":"%s"}}}]}}`,
			netNet + "publicIPAddresses/pip", "publicIPAddresses/join/action"},
		{"private endpoint subnet", ownNet + "privateEndpoints/pe" + netVersion,
			`{"location":"eastus","properties":{"subnet":{"id":"%s"},"privateLinkServiceConnections":[{"name":"c","properties":{"privateLinkServiceId":"` + wsML + `","groupIds":["amlworkspace"]}}]}}`,
			vnetNet + "/subnets/small", "subnets/join/action"},
		{"peering", ownNet + "virtualNetworks/own/virtualNetworkPeerings/p" + netVersion,
			`{"properties":{"remoteVirtualNetwork":{"id":"%s"}}}`, vnetNet, "virtualNetworks/peer/action"},
	}
	for _, f := range fields {
		for _, sp := range idSpellings {
			t.Run(f.name+"/"+sp.name, func(t *testing.T) {
				st, code, msg := attacker.errorCode("PUT", f.path, fmt.Sprintf(f.body, sp.spell(f.target)))
				switch {
				case sp.refused && (st != http.StatusBadRequest || code != "LinkedInvalidPropertyId"):
					t.Errorf("look-alike id: %d %s %q, want 400 LinkedInvalidPropertyId", st, code, msg)
				case !sp.refused && (st != http.StatusForbidden || code != "LinkedAuthorizationFailed" || !strings.Contains(msg, f.action)):
					t.Errorf("%d %s %q, want 403 LinkedAuthorizationFailed for %s", st, code, msg, f.action)
				}
				target := f.path[:strings.Index(f.path, "?")]
				if st, _, _ := c.do("GET", target+versionFor(target), ""); st != http.StatusNotFound {
					t.Errorf("%s exists after a refused write (GET %d)", target, st)
				}
			})
		}
	}
	if after := c.count(rgNet); after != before {
		t.Errorf("rg-net changed: %s after the attempts, %s before", after, before)
	}
}

// count is the number of records under a scope, and a digest of their
// etags: any write under it changes one or the other.
func (c *client) count(scope string) string {
	c.t.Helper()
	var n int
	var etags strings.Builder
	err := store.Each(context.Background(), c.st, store.Query{Scope: scope}, func(rec store.Record) error {
		n++
		etags.WriteString(rec.ETag)
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return fmt.Sprintf("%d records, etags %s", n, etags.String())
}

// TestInUseEverySpelling: a reference written in any spelling holds what
// it references (issue 10 #2: deleting a subnet in use through a short id
// answered 200 while its nodes existed). The stored body carries the
// canonical id, and a delete spelled differently meets the same refusal.
func TestInUseEverySpelling(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	subnet := vnetNet + "/subnets/compute"
	nsg := netNet + "networkSecurityGroups/nsg-compute"
	deletes := []string{subnet, strings.ToUpper(subnet), strings.Replace(subnet, "/subnets/compute", "/subnets/%63ompute", 1)}
	for _, sp := range idSpellings {
		if sp.refused || sp.name == "percent-encoded" {
			continue
		}
		t.Run(sp.name, func(t *testing.T) {
			body := strings.Replace(clusterBody("compute", 1, 1, "PT120S"), `"`+subnet+`"`, `"`+sp.spell(subnet)+`"`, 1)
			if op := c.start("PUT", wsML+"/computes/held"+mlVersion, body, http.StatusCreated); op["status"] != "Succeeded" {
				t.Fatalf("create: %v", op)
			}
			_, inner := c.compute("held")
			if got := arm.Str(arm.EnsureField(inner, "subnet"), "id"); !strings.HasPrefix(got, "/subscriptions/") || arm.FoldKey(got) != arm.FoldKey(subnet) || strings.HasSuffix(got, "/") {
				t.Errorf("stored subnet id %q is not the canonical form of %q", got, subnet)
			}
			for _, d := range deletes {
				if st, code, _ := c.errorCode("DELETE", d+netVersion, ""); st != http.StatusBadRequest || code != "InUseSubnetCannotBeDeleted" {
					t.Errorf("DELETE %s with a compute in it: %d %s", d, st, code)
				}
			}
			// The subnet's NSG, referenced by the VNet, is held too.
			if st, code, _ := c.errorCode("DELETE", strings.ToUpper(nsg)+netVersion, ""); st != http.StatusBadRequest || code != "InUseNetworkSecurityGroupCannotBeDeleted" {
				t.Errorf("DELETE the NSG: %d %s", st, code)
			}
			if op := c.start("DELETE", wsML+"/computes/held"+mlVersion+"&underlyingResourceAction=Delete", "", http.StatusAccepted); op["status"] != "Succeeded" {
				t.Fatalf("delete compute: %v", op)
			}
		})
	}
	// Nothing holds the small subnet: it goes.
	if st, out, _ := c.do("DELETE", vnetNet+"/subnets/small"+netVersion, ""); st != http.StatusOK {
		t.Fatalf("delete a free subnet: %d %v", st, out)
	}
}
