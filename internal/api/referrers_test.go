package api

import (
	"net/http"
	"testing"

	"securetrain/internal/arm"
)

// Referrers lists what names a resource (the studio's "attached to"):
// the resources whose bodies reference it that the principal may read,
// after read on the resource itself.
func TestReferrersListWhatTheCallerMayRead(t *testing.T) {
	c := newClient(t)
	provisionEnv(t, c, "")
	nsg, _ := arm.ParseID(netNet+"networkSecurityGroups/nsg-compute", "")
	got, err := c.srv.Referrers(asPrincipal(c.token), nsg)
	if err != nil || len(got) != 1 || !arm.Within(got[0].String(), vnetNet) {
		t.Fatalf("the NSG's referrers: %v, %v; want the VNet whose subnet names it", got, err)
	}
	// A principal who may read the NSG but not the VNet sees no referrer.
	nsgOnly := c.as("nsg-reader", "Reader", nsg.String())
	if got, err := c.srv.Referrers(asPrincipal(nsgOnly.token), nsg); err != nil || len(got) != 0 {
		t.Errorf("a Reader of the NSG alone: %v, %v", got, err)
	}
	mlReader := c.as("ml-reader", "Reader", rgML)
	for _, tc := range []refusal{
		{"no token", "", nsg, http.StatusUnauthorized, "AuthenticationFailed"},
		{"a Reader of another resource group", mlReader.token, nsg, http.StatusForbidden, "AuthorizationFailed"},
	} {
		got, err := c.srv.Referrers(asPrincipal(tc.token), tc.id)
		if status, code, _ := ErrorAnswer(err); err == nil || status != tc.status || code != tc.code || len(got) != 0 {
			t.Errorf("%s: %d %s (%v)", tc.what, status, code, err)
		}
	}
}
