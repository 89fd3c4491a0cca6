package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Addresses: one private address per node from its subnet. An allocation
// is a record keyed by the address under the subnet
// (…/subnets/s/addresses/10.0.1.4), written in the same transaction as
// the node that owns it, so an address is never given twice: the key is
// unique and write transactions are serialised. Azure keeps the first four
// addresses and the last one of every prefix (spec §8.3).

const addressType = "securetrain/addresses"

type allocation struct {
	Owner string `json:"owner"` // the node record's id
}

func addressID(subnet arm.ID, a netip.Addr) string {
	return subnet.String() + "/addresses/" + a.String()
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// storedSubnet reads a subnet, typed, from its VNet's record.
func storedSubnet(ctx context.Context, rd store.Reader, subnet arm.ID) (*resources.Subnet, error) {
	vnet, ok := subnet.Parent()
	if !ok {
		return nil, fmt.Errorf("%s is not a subnet id", subnet)
	}
	rec, err := rd.Get(ctx, vnet.String())
	if isNotFound(err) {
		return nil, &Error{Code: "SubnetNotFound", Message: fmt.Sprintf("virtual network %s of subnet %s: %v", vnet.Name(), subnet.Leaf(), err)}
	}
	if err != nil {
		// Kept as it is (a serialization failure is retried whole), not
		// taken for a missing subnet.
		return nil, fmt.Errorf("read virtual network %s of subnet %s: %w", vnet.Name(), subnet.Leaf(), err)
	}
	snap, err := resources.DecodeStored(rec.Body)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", rec.ID, err)
	}
	if sn := snap.Subnet(subnet); sn != nil {
		return sn, nil
	}
	return nil, &Error{Code: "SubnetNotFound", Message: fmt.Sprintf("subnet %s is not in virtual network %s", subnet.Leaf(), vnet.Name())}
}

// taken collects the subnet's addresses in use: live allocations (an
// allocation whose node is gone — its compute deleted with its resource
// group — is free again) and the private addresses other resources in
// the subnet hold (NICs, private endpoints, firewalls, load balancers).
func taken(ctx context.Context, rd store.Reader, subnet arm.ID, prefixes []netip.Prefix) (map[netip.Addr]bool, error) {
	used := map[netip.Addr]bool{}
	err := store.Each(ctx, rd, store.Query{Scope: subnet.String() + "/addresses", Type: addressType}, func(rec store.Record) error {
		var a allocation
		if err := json.Unmarshal(rec.Body, &a); err != nil {
			return fmt.Errorf("stored allocation %s: %w", rec.ID, err)
		}
		if _, err := rd.Get(ctx, a.Owner); isNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if addr, err := netip.ParseAddr(rec.ID[strings.LastIndexByte(rec.ID, '/')+1:]); err == nil {
			used[addr] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	refs, err := rd.Referrers(ctx, subnet.String())
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		rec, err := rd.Get(ctx, ref)
		if err != nil {
			continue
		}
		var v any
		if json.Unmarshal(rec.Body, &v) != nil {
			continue
		}
		for _, a := range addressesIn(v) {
			for _, p := range prefixes {
				if p.Contains(a) {
					used[a] = true
				}
			}
		}
	}
	return used, nil
}

// addressesIn finds the IPv4 addresses written anywhere in a value.
func addressesIn(v any) []netip.Addr {
	var out []netip.Addr
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			out = append(out, addressesIn(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, addressesIn(c)...)
		}
	case string:
		if a, err := netip.ParseAddr(x); err == nil && a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

// allocate gives each node owner the lowest free address of the subnet,
// in tx; fewer when the subnet is full.
func allocate(ctx context.Context, tx store.Tx, sn *resources.Subnet, owners []string) ([]netip.Addr, error) {
	if len(sn.Delegations) > 0 {
		services := make([]string, len(sn.Delegations))
		for i, d := range sn.Delegations {
			services[i] = d.ServiceName
		}
		// Azure Batch cannot place nodes in a delegated subnet (spec §8.3,
		// §10 #3).
		return nil, &Error{Code: "AllocationFailed", Message: fmt.Sprintf(
			"Desired number of dedicated nodes could not be allocated: subnet %s has delegation to external resources (%s). Remove the delegation or use another subnet.",
			sn.ID.Leaf(), strings.Join(services, ", "))}
	}
	return assign(ctx, tx, sn.ID, sn.AddressPrefixes, owners)
}

// AllocateAddress gives owner — a record written in the same transaction,
// whose removal frees the address — the lowest free address of subnet, as
// Azure allocates a dynamic private IP (a private endpoint's, say). A full
// subnet is Azure's SubnetIsFull; a missing one is an *Error with code
// SubnetNotFound.
func AllocateAddress(ctx context.Context, tx store.Tx, subnet arm.ID, owner string) (netip.Addr, error) {
	sn, err := storedSubnet(ctx, tx, subnet)
	if err != nil {
		return netip.Addr{}, err
	}
	got, err := assign(ctx, tx, subnet, sn.AddressPrefixes, []string{owner})
	if err != nil {
		return netip.Addr{}, err
	}
	if len(got) == 0 {
		texts := make([]string, len(sn.AddressPrefixes))
		for i, p := range sn.AddressPrefixes {
			texts[i] = p.String()
		}
		return netip.Addr{}, &Error{Code: "SubnetIsFull", Message: fmt.Sprintf(
			"Subnet %s with address prefix %s does not have enough capacity for 1 IP addresses.", subnet.Leaf(), strings.Join(texts, ", "))}
	}
	return got[0], nil
}

// assign records the lowest free addresses of prefixes for owners, one
// each; fewer when the prefixes are full. Azure keeps .0 (network), .1
// (gateway), .2 and .3 (DNS) and the last address of every prefix.
func assign(ctx context.Context, tx store.Tx, subnet arm.ID, prefixes []netip.Prefix, owners []string) ([]netip.Addr, error) {
	used, err := taken(ctx, tx, subnet, prefixes)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, p := range prefixes {
		first := p.Addr()
		for range 4 {
			first = first.Next()
		}
		size := 1 << (32 - p.Bits())
		for a, i := first, 4; i < size-1 && len(out) < len(owners); a, i = a.Next(), i+1 {
			if used[a] {
				continue
			}
			if err := putJSON(ctx, tx, addressID(subnet, a), addressType, allocation{Owner: owners[len(out)]}); err != nil {
				return nil, err
			}
			used[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// release frees an address.
func release(ctx context.Context, tx store.Tx, subnet string, addr string) error {
	id, err := arm.ParseID(subnet, "")
	if err != nil {
		return nil // a node without a subnet holds no address
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil
	}
	if err := tx.Delete(ctx, addressID(id, a), store.Condition{}); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// usable is how many node addresses a subnet's prefixes hold.
func usable(prefixes []netip.Prefix) int {
	n := 0
	for _, p := range prefixes {
		n += 1<<(32-p.Bits()) - 5
	}
	return n
}
