package api

import (
	"errors"
	"testing"

	"securetrain/internal/arm"
)

// errDisk stands for a store that cannot read (a disk or database error).
var errDisk = errors.New("disk I/O error")

// TestStoreFailureIsNotNotFound: issue 11 — the decoder's existence
// callbacks turned a store failure into "not found": what referenced a
// resource the store could not read was left out of the model as broken
// (or, for the written record, refused with 400 InvalidResourceReference).
func TestStoreFailureIsNotNotFound(t *testing.T) {
	vnet, err := arm.ParseID(vnetProbe, "")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"` + vnetProbe + `","name":"vnet-aml","type":"Microsoft.Network/virtualNetworks","location":"eastus",
		"properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"s","properties":{"addressPrefix":"10.0.1.0/24",
		"networkSecurityGroup":{"id":"` + nsgProbe + `"}}}]}}`
	unreadable := func(arm.ID) (bool, error) { return false, errDisk }
	if snap, err := decodeStored([]storedBody{{vnet, []byte(body)}}, unreadable, arm.ID{}); !errors.Is(err, errDisk) {
		t.Fatalf("decoding with the references unreadable: %v (left out: %v)", err, snap)
	}
}
