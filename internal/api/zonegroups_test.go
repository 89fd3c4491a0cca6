package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// TestZoneGroupKeepsEndpointRecords: a private DNS zone group on a
// private endpoint to the workspace puts, as Azure does, an A record of
// the endpoint's address in each zone it names for each workspace name
// that zone holds (api and cert names in privatelink.api.azureml.ms, the
// notebooks name in privatelink.notebooks.azure.net), shows them in
// recordSets, and takes them away when it is deleted — and when its
// endpoint is. A zone group naming a zone that does not exist is refused,
// and writing one needs the zone's join action.
func TestZoneGroupKeepsEndpointRecords(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	_, addr := endpointNICOf(t, c.putPE("pe-ws", peBody("small", "")))
	zoneAPI, zoneNB := netNet+"privateDnsZones/privatelink.api.azureml.ms", netNet+"privateDnsZones/privatelink.notebooks.azure.net"
	c.putZone(zoneAPI)
	c.putZone(zoneNB)
	group := netNet + "privateEndpoints/pe-ws/privateDnsZoneGroups/default"
	body := `{"properties":{"privateDnsZoneConfigs":[
		{"name":"api","properties":{"privateDnsZoneId":"` + zoneAPI + `"}},
		{"name":"nb","properties":{"privateDnsZoneId":"` + zoneNB + `"}}]}}`
	st, out, _ := c.do("PUT", group+"?api-version=2020-06-01", body) // an old version, as templates use
	if st != http.StatusCreated {
		t.Fatalf("PUT zone group: %d %v", st, out)
	}
	var names []string
	for _, cfg := range arm.Items(arm.EnsureField(out, "properties"), "privateDnsZoneConfigs") {
		for _, set := range arm.Items(arm.EnsureField(cfg, "properties"), "recordSets") {
			ips, _ := set["ipAddresses"].([]any)
			if len(ips) != 1 || ips[0] != addr || set["recordType"] != "A" {
				t.Errorf("record set %v: want one A record of %s", set, addr)
			}
			names = append(names, arm.Str(set, "fqdn"))
		}
	}
	if len(names) != 3 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".cert.privatelink.api.azureml.ms") }) ||
		!slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".privatelink.notebooks.azure.net") }) {
		t.Fatalf("recordSets name %v, want the workspace's api, cert and notebooks names", names)
	}
	records := func(zone string) []map[string]any {
		_, list, _ := c.do("GET", zone+"/A"+versionOf(t, zone), "")
		return arm.Items(list, "value")
	}
	got := records(zoneAPI)
	if len(got) != 2 {
		t.Fatalf("A records in %s: %v, want the api and cert names", zoneAPI, got)
	}
	for _, rs := range got {
		a := arm.Items(arm.EnsureField(rs, "properties"), "aRecords")
		if len(a) != 1 || a[0]["ipv4Address"] != addr {
			t.Errorf("record set %v: want %s", rs, addr)
		}
	}
	if st, _, _ := c.do("DELETE", group+"?api-version=2024-05-01", ""); st != http.StatusOK && st != http.StatusAccepted && st != http.StatusNoContent {
		t.Fatalf("DELETE zone group: %d", st)
	}
	if got := append(records(zoneAPI), records(zoneNB)...); len(got) != 0 {
		t.Errorf("records left after the zone group's delete: %v", got)
	}

	// Deleting the endpoint takes its zone group's records too.
	if st, out, _ := c.do("PUT", group+"?api-version=2024-05-01", body); st != http.StatusCreated {
		t.Fatalf("PUT zone group again: %d %v", st, out)
	}
	if st, _, _ := c.do("DELETE", netNet+"privateEndpoints/pe-ws"+netVersion, ""); st != http.StatusOK && st != http.StatusAccepted && st != http.StatusNoContent {
		t.Fatalf("DELETE endpoint: %d", st)
	}
	if got := append(records(zoneAPI), records(zoneNB)...); len(got) != 0 {
		t.Errorf("records left after the endpoint's delete: %v", got)
	}

	// Writing a zone group links the zones: a contributor of the
	// endpoint alone lacks their join action, as in Azure.
	c.putPE("pe-ws", peBody("small", ""))
	peOnly := c.as("pe-owner", "Network Contributor", netNet+"privateEndpoints/pe-ws")
	if st, code, msg := peOnly.errorCode("PUT", group+netVersion, body); st != http.StatusForbidden || code != "LinkedAuthorizationFailed" ||
		!strings.Contains(msg, "Microsoft.Network/privateDnsZones/join/action") {
		t.Errorf("a zone group without the zones' join action: %d %s %q", st, code, msg)
	}

	// A zone that does not exist is refused, and nothing is kept.
	missing := `{"properties":{"privateDnsZoneConfigs":[{"name":"x","properties":{"privateDnsZoneId":"` + netNet + `privateDnsZones/privatelink.blob.core.windows.net"}}]}}`
	if st, code, msg := c.errorCode("PUT", group+netVersion, missing); st != http.StatusBadRequest || !strings.Contains(msg, "privatelink.blob.core.windows.net") {
		t.Errorf("a zone group naming a missing zone: %d %s %q", st, code, msg)
	}
}

// TestZoneGroupMeetsZoneLocks: a zone group's records are written in
// their zone's resource group, so its locks apply: a ReadOnly lock there
// refuses the group's write (ScopeLocked) and nothing is kept.
func TestZoneGroupMeetsZoneLocks(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	c.putPE("pe-ws", peBody("small", ""))
	zone := rgML + "/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms"
	c.putZone(zone)
	if st, out, _ := c.do("PUT", rgML+"/providers/Microsoft.Authorization/locks/frozen?api-version=2016-09-01", `{"properties":{"level":"ReadOnly"}}`); st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("PUT lock: %d %v", st, out)
	}
	group := netNet + "privateEndpoints/pe-ws/privateDnsZoneGroups/default"
	body := `{"properties":{"privateDnsZoneConfigs":[{"name":"api","properties":{"privateDnsZoneId":"` + zone + `"}}]}}`
	if st, code, msg := c.errorCode("PUT", group+netVersion, body); st != http.StatusConflict || code != "ScopeLocked" || !strings.Contains(msg, "frozen") {
		t.Errorf("a zone group writing into a locked group's zone: %d %s %q", st, code, msg)
	}
	if st, _, _ := c.do("GET", group+netVersion, ""); st != http.StatusNotFound {
		t.Errorf("the refused zone group was stored: %d", st)
	}
}

// TestZoneGroupRecordsGoWithTheGroup: deleting the resource group of a
// private endpoint deletes its zone group's records in a zone of another
// group, as deleting the endpoint does.
func TestZoneGroupRecordsGoWithTheGroup(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	c.putPE("pe-ws", peBody("small", ""))
	zone := rgML + "/providers/Microsoft.Network/privateDnsZones/privatelink.api.azureml.ms"
	c.putZone(zone)
	group := netNet + "privateEndpoints/pe-ws/privateDnsZoneGroups/default"
	if st, out, _ := c.do("PUT", group+netVersion, `{"properties":{"privateDnsZoneConfigs":[{"name":"api","properties":{"privateDnsZoneId":"`+zone+`"}}]}}`); st != http.StatusCreated {
		t.Fatalf("PUT zone group: %d %v", st, out)
	}
	list := func() []map[string]any {
		_, out, _ := c.do("GET", zone+"/A"+versionOf(t, zone), "")
		return arm.Items(out, "value")
	}
	if got := list(); len(got) != 2 {
		t.Fatalf("records: %v", got)
	}
	if st, out, _ := c.do("DELETE", rgNet+rgVersion, ""); st != http.StatusOK {
		t.Fatalf("DELETE %s: %d %v", rgNet, st, out)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("records left after the endpoint's group was deleted: %v", got)
	}
}

// TestZoneGroupRecordsFollowTheEndpoint: the records of a zone group are
// Azure's to keep current. When its endpoint moves to another subnet (a
// new address), the A records in the zones and the group's recordSets
// hold the new address, and a write of the endpoint that changes nothing
// leaves the records (their etags) as they were.
func TestZoneGroupRecordsFollowTheEndpoint(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	_, before := endpointNICOf(t, c.putPE("pe-ws", peBody("small", "")))
	zone := netNet + "privateDnsZones/privatelink.api.azureml.ms"
	c.putZone(zone)
	group := netNet + "privateEndpoints/pe-ws/privateDnsZoneGroups/default"
	if st, out, _ := c.do("PUT", group+netVersion, `{"properties":{"privateDnsZoneConfigs":[{"name":"api","properties":{"privateDnsZoneId":"`+zone+`"}}]}}`); st != http.StatusCreated {
		t.Fatalf("PUT zone group: %d %v", st, out)
	}
	records := func() (addrs, etags []string) {
		_, list, _ := c.do("GET", zone+"/A"+versionOf(t, zone), "")
		for _, rs := range arm.Items(list, "value") {
			etags = append(etags, arm.Str(rs, "etag"))
			for _, a := range arm.Items(arm.EnsureField(rs, "properties"), "aRecords") {
				addrs = append(addrs, arm.Str(a, "ipv4Address"))
			}
		}
		return addrs, etags
	}
	addrs, etags := records()
	if len(addrs) != 2 || addrs[0] != before || addrs[1] != before {
		t.Fatalf("records before: %v, want the api and cert names at %s", addrs, before)
	}
	c.putPE("pe-ws", peBody("small", ""))
	if again, againTags := records(); !slices.Equal(again, addrs) || !slices.Equal(againTags, etags) {
		t.Errorf("an unchanged endpoint's write changed its records: %v %v, were %v %v", again, againTags, addrs, etags)
	}

	_, after := endpointNICOf(t, c.putPE("pe-ws", peBody("tiny", "")))
	if after == before {
		t.Fatalf("the endpoint kept its address %s in another subnet", after)
	}
	if moved, _ := records(); len(moved) != 2 || moved[0] != after || moved[1] != after {
		t.Errorf("records after the endpoint moved: %v, want %s (was %s)", moved, after, before)
	}
	_, out, _ := c.do("GET", group+netVersion, "")
	for _, cfg := range arm.Items(arm.EnsureField(out, "properties"), "privateDnsZoneConfigs") {
		for _, set := range arm.Items(arm.EnsureField(cfg, "properties"), "recordSets") {
			if ips, _ := set["ipAddresses"].([]any); len(ips) != 1 || ips[0] != after {
				t.Errorf("the group's record set %v: want %s", set, after)
			}
		}
	}
}

// putZone creates the private DNS zone of id.
func (c *client) putZone(id string) {
	c.t.Helper()
	if st, out, _ := c.do("PUT", id+versionOf(c.t, id), `{"location":"global","properties":{}}`); st != http.StatusCreated {
		c.t.Fatalf("PUT zone %s: %d %v", id, st, out)
	}
}
