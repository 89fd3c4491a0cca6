package provision

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// What Azure creates for a compute with public IP, in the resource group
// of its VNet (spec §4.2): an NSG that lets Azure Machine Learning reach
// the nodes on TCP 44224 (and SSH when public SSH is on), a load balancer
// and its public IP. They are ordinary resources: listed by the network
// API, held by locks, refused by policy, counted by quotas.

// Governance writes and deletes resources under the rules every client
// meets: locks, policy, validation. The API implements it.
type Governance interface {
	// Check answers whether writing body at id would be allowed (policy),
	// writing nothing.
	Check(ctx context.Context, tx store.Reader, id arm.ID, body map[string]any) error
	Put(ctx context.Context, tx store.Tx, id arm.ID, body map[string]any) error
	// PutCompute stores a compute's body with the runtime fields
	// provisioning changed, as the API stores every write (one etag, in the
	// body and on the record).
	PutCompute(ctx context.Context, tx store.Tx, id arm.ID, body map[string]any) error
	// Delete deletes id; deleting what is not there succeeds.
	Delete(ctx context.Context, tx store.Tx, id arm.ID) error
}

// created are the ids of the resources Azure creates for a compute.
type created struct{ nsg, pip, lb arm.ID }

func createdFor(s spec) (created, bool) {
	if !s.PublicIP || s.Subnet.IsZero() {
		return created{}, false
	}
	sum := sha256.Sum256([]byte(strings.ToLower(s.ID.String())))
	base := "aml-" + s.ID.Leaf() + "-" + hex.EncodeToString(sum[:4])
	id := func(typ, suffix string) arm.ID {
		return arm.ID{Subscription: s.Subnet.Subscription, ResourceGroup: s.Subnet.ResourceGroup, Provider: "Microsoft.Network",
			Types: []string{typ}, Names: []string{base + "-" + suffix}}
	}
	return created{nsg: id("networkSecurityGroups", "nsg"), pip: id("publicIPAddresses", "pip"), lb: id("loadBalancers", "lb")}, true
}

// bodies are the created resources in creation order (the load balancer
// references the public IP).
func (c created) bodies(s spec) []struct {
	id   arm.ID
	body map[string]any
} {
	tags := map[string]any{"createdBy": "AzureML", "computeId": s.ID.String()}
	rules := []any{map[string]any{"name": "AzureMachineLearning", "properties": map[string]any{
		"priority": 1000, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
		"sourceAddressPrefix": "AzureMachineLearning", "sourcePortRange": "*",
		"destinationAddressPrefix": "*", "destinationPortRange": "44224",
		"description": "Azure Machine Learning reaches the nodes (Azure: Secure an Azure Machine Learning training environment with virtual networks)"}}}
	if s.SSHPublic {
		rules = append(rules, map[string]any{"name": "SSH", "properties": map[string]any{
			"priority": 1010, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
			"sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22",
			"description": "public SSH to the nodes, as the compute asks"}})
	}
	return []struct {
		id   arm.ID
		body map[string]any
	}{
		{c.nsg, map[string]any{"location": s.Location, "tags": tags, "properties": map[string]any{"securityRules": rules}}},
		{c.pip, map[string]any{"location": s.Location, "tags": tags, "sku": map[string]any{"name": "Standard", "tier": "Regional"},
			"properties": map[string]any{"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4", "ipAddress": publicAddress(c.pip).String()}}},
		{c.lb, map[string]any{"location": s.Location, "tags": tags, "sku": map[string]any{"name": "Standard", "tier": "Regional"},
			"properties": map[string]any{
				"frontendIPConfigurations": []any{map[string]any{"name": "frontend", "properties": map[string]any{"publicIPAddress": map[string]any{"id": c.pip.String()}}}},
				"backendAddressPools":      []any{map[string]any{"name": "nodes"}},
			}}},
	}
}

// publicAddress is the address a created public IP gets: stable for the
// id, in 20.0.0.0/8 (a range Azure uses), never sent any traffic here.
func publicAddress(id arm.ID) netip.Addr {
	sum := sha256.Sum256([]byte(strings.ToLower(id.String())))
	v := binary.BigEndian.Uint32(sum[:4])&0x00ffffff | 20<<24
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	a := netip.AddrFrom4(b)
	if b[3] == 0 || b[3] == 255 {
		a = netip.AddrFrom4([4]byte{b[0], b[1], b[2], 7})
	}
	return a
}

// ensureCreated creates what is missing of a compute's created resources.
func ensureCreated(ctx context.Context, tx store.Tx, gov Governance, s spec) error {
	c, ok := createdFor(s)
	if !ok {
		return nil
	}
	for _, r := range c.bodies(s) {
		if _, err := tx.Get(ctx, r.id.String()); err == nil {
			continue
		} else if !isNotFound(err) {
			return err
		}
		if err := gov.Put(ctx, tx, r.id, r.body); err != nil {
			return err
		}
	}
	return nil
}

// checkCreatable asks policy whether the created resources may exist,
// before anything is created (Azure refuses such a compute at once, spec
// §10 #9).
func checkCreatable(ctx context.Context, rd store.Reader, gov Governance, s spec) error {
	c, ok := createdFor(s)
	if !ok {
		return nil
	}
	for _, r := range c.bodies(s) {
		if err := gov.Check(ctx, rd, r.id, r.body); err != nil {
			return err
		}
	}
	return nil
}

// removeCreated deletes a compute's created resources, the load balancer
// before the public IP it holds.
func removeCreated(ctx context.Context, tx store.Tx, gov Governance, s spec) error {
	c, ok := createdFor(s)
	if !ok {
		return nil
	}
	for _, id := range []arm.ID{c.lb, c.pip, c.nsg} {
		if _, err := tx.Get(ctx, id.String()); isNotFound(err) {
			continue // never created, or gone: no lock can hold it
		} else if err != nil {
			return err
		}
		if err := gov.Delete(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// CreatedIDs are the ids of the resources Azure creates for a compute
// with public IP (none without).
func CreatedIDs(id arm.ID, body map[string]any) []arm.ID {
	s, err := readSpec(id, body)
	if err != nil {
		return nil
	}
	c, ok := createdFor(s)
	if !ok {
		return nil
	}
	return []arm.ID{c.lb, c.pip, c.nsg}
}
