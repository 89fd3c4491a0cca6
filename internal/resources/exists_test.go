package resources

import (
	"errors"
	"strings"
	"testing"

	"securetrain/internal/arm"
)

// TestDecodeARMExistsError: issue 11 — an existence callback could only
// say yes or no, so a store that failed to answer made a reference "not
// found". Its error fails the decode as itself, not as a problem.
func TestDecodeARMExistsError(t *testing.T) {
	subnet := []byte(`{"id":"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
		"name":"v","type":"Microsoft.Network/virtualNetworks","location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},
		"subnets":[{"name":"s","properties":{"addressPrefix":"10.0.0.0/24","networkSecurityGroup":{"id":
		"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"}}}]}}`)
	unreadable := errors.New("disk I/O error")
	_, err := DecodeARM([][]byte{subnet}, func(arm.ID) (bool, error) { return false, unreadable })
	var fe *FileError
	if !errors.Is(err, unreadable) || errors.As(err, &fe) {
		t.Fatalf("got %v; want the store's error, not a problem", err)
	}
	// Answered "no", the reference is a problem of the resource.
	_, err = DecodeARM([][]byte{subnet}, func(arm.ID) (bool, error) { return false, nil })
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "nsg not found") {
		t.Fatalf("got %v; want the reference not found", err)
	}
}
