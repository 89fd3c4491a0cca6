package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// Per-kind hooks that fill in what Azure creates or assigns with a
// resource (kindHooks.derive): they run in the write's transaction,
// after normalize, on the body about to be stored.

// deriveWorkspace gives a workspace what Azure assigns it:
// properties.workspaceId, a GUID kept for the workspace's life (its
// private DNS names are built on it), and properties.discoveryUrl of its
// region. A valid GUID in the request that creates the workspace is kept,
// so applying an exported environment keeps the names its DNS records
// use; afterwards the stored one wins, as for any read-only property.
func deriveWorkspace(_ *Server, _ context.Context, _ store.Tx, id arm.ID, cur, next object) error {
	props := arm.EnsureField(next, "properties")
	stored := arm.Str(arm.Field(cur, "properties"), "workspaceId")
	given, _ := props["workspaceId"].(string)
	switch {
	case stored != "":
		props["workspaceId"] = stored
	case props["workspaceId"] == nil:
		props["workspaceId"] = arm.NewGUID()
	case !arm.IsGUID(given):
		return newError(http.StatusBadRequest, "InvalidRequestContent",
			"properties.workspaceId of workspace '%s' must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got %q; leave it out to have one assigned.", id.Name(), props["workspaceId"])
	default:
		props["workspaceId"] = strings.ToLower(given)
	}
	props["discoveryUrl"] = "https://" + arm.Str(next, "location") + ".api.azureml.ms/discovery"
	return nil
}

// derivePrivateEndpoint gives a private endpoint what Azure creates with
// it: a network interface in the endpoint's resource group, named
// customNetworkInterfaceName or {endpoint}.nic.{guid}, holding one address
// of the endpoint's subnet — the static one of its ipConfigurations, else
// the lowest free one — and shows them in networkInterfaces and
// customDnsConfigs. The NIC and its address stay while the subnet does:
// the one the stored endpoint names, or the one the request names if that
// NIC was created for this endpoint (an applied export).
func (s *Server) derivePrivateEndpoint(ctx context.Context, tx store.Tx, id arm.ID, cur, next object) error {
	props := arm.EnsureField(next, "properties")
	subnet, err := arm.ParseID(arm.Str(arm.Field(props, "subnet"), "id"), id.Subscription)
	if err != nil {
		return nil // the decoder names the missing or malformed subnet
	}
	if _, ok := props["ipConfigurations"]; !ok {
		props["ipConfigurations"] = []any{} // Azure lists only static addresses there
	}
	var nicID arm.ID
	var addr netip.Addr
	found := false
	for _, body := range []object{next, cur} {
		for _, ref := range arm.Items(arm.Field(body, "properties"), "networkInterfaces") {
			cand, err := arm.ParseID(arm.Str(ref, "id"), id.Subscription)
			if err != nil || found {
				continue
			}
			if nicID, addr, found, err = endpointNIC(ctx, tx, cand, id, subnet); err != nil {
				return err
			}
		}
	}
	if !found {
		if nicID, addr, found, err = s.createEndpointNIC(ctx, tx, id, subnet, next); err != nil || !found {
			return err // not found: the subnet is not there, which the decoder reports
		}
	}
	// A NIC the stored endpoint had and no longer uses goes, freeing its address.
	for _, old := range endpointNICs(cur) {
		if arm.FoldKey(old) != arm.FoldKey(nicID.String()) {
			if err := tx.Delete(ctx, old, store.Condition{}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("remove network interface %s of private endpoint %s: %w", old, id.Name(), err)
			}
		}
	}
	props["networkInterfaces"] = []any{object{"id": nicID.String()}}
	fqdns, err := endpointFQDNs(ctx, tx, props)
	if err != nil {
		return err
	}
	configs := []any{}
	for _, name := range fqdns {
		configs = append(configs, object{"fqdn": name, "ipAddresses": []any{addr.String()}})
	}
	props["customDnsConfigs"] = configs
	return nil
}

// endpointNIC returns NIC nic and its address if it was created for
// endpoint pe in subnet; found is false otherwise.
func endpointNIC(ctx context.Context, rd store.Reader, nic, pe, subnet arm.ID) (_ arm.ID, _ netip.Addr, found bool, _ error) {
	if !strings.EqualFold(nic.Type(), typeNIC) {
		return nic, netip.Addr{}, false, nil
	}
	rec, err := rd.Get(ctx, nic.String())
	if errors.Is(err, store.ErrNotFound) {
		return nic, netip.Addr{}, false, nil
	}
	if err != nil {
		return nic, netip.Addr{}, false, err
	}
	body, err := recordObject(rec)
	if err != nil {
		return nic, netip.Addr{}, false, err
	}
	props := arm.Field(body, "properties")
	if arm.FoldKey(arm.Str(arm.Field(props, "privateEndpoint"), "id")) != arm.FoldKey(pe.String()) {
		return nic, netip.Addr{}, false, nil
	}
	for _, ipc := range arm.Items(props, "ipConfigurations") {
		ip := arm.Field(ipc, "properties")
		a, err := netip.ParseAddr(arm.Str(ip, "privateIPAddress"))
		if err == nil && arm.FoldKey(arm.Str(arm.Field(ip, "subnet"), "id")) == arm.FoldKey(subnet.String()) {
			return nic, a, true, nil
		}
	}
	return nic, netip.Addr{}, false, nil
}

// createEndpointNIC stores the NIC of endpoint pe — its static addresses,
// or the lowest free one of subnet — and returns its first address;
// created is false when the subnet does not exist.
func (s *Server) createEndpointNIC(ctx context.Context, tx store.Tx, pe, subnet arm.ID, body object) (_ arm.ID, _ netip.Addr, created bool, _ error) {
	props := arm.Field(body, "properties")
	name := arm.Str(props, "customNetworkInterfaceName")
	if name == "" {
		name = pe.Name() + ".nic." + arm.NewGUID()
	}
	nic := arm.ID{Subscription: pe.Subscription, ResourceGroup: pe.ResourceGroup, Provider: "Microsoft.Network", Types: []string{"networkInterfaces"}, Names: []string{name}}
	if err := resources.CheckName(typeNIC, name); err != nil {
		return arm.ID{}, netip.Addr{}, false, newError(http.StatusBadRequest, "InvalidResourceName", "customNetworkInterfaceName of private endpoint '%s': %v", pe.Name(), err)
	}
	if _, err := tx.Get(ctx, nic.String()); err == nil {
		return arm.ID{}, netip.Addr{}, false, newError(http.StatusBadRequest, "InvalidRequestContent",
			"customNetworkInterfaceName of private endpoint '%s': network interface %s already exists.", pe.Name(), name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return arm.ID{}, netip.Addr{}, false, err
	}
	method, addrs := "Static", staticEndpointAddresses(props)
	if len(addrs) == 0 {
		method = "Dynamic"
		addr, err := provision.AllocateAddress(ctx, tx, subnet, nic.String())
		var perr *provision.Error
		switch {
		case errors.As(err, &perr) && perr.Code == "SubnetNotFound":
			return arm.ID{}, netip.Addr{}, false, nil
		case errors.As(err, &perr):
			return arm.ID{}, netip.Addr{}, false, newError(http.StatusBadRequest, perr.Code, "%s", perr.Message)
		case err != nil:
			return arm.ID{}, netip.Addr{}, false, fmt.Errorf("allocate an address in %s: %w", subnet, err)
		}
		addrs = []netip.Addr{addr}
	}
	var ipcs []any
	for i, a := range addrs {
		ipName := "privateEndpointIpConfig." + arm.NewGUID()
		ipcs = append(ipcs, object{
			"id": nic.String() + "/ipConfigurations/" + ipName, "name": ipName, "type": typeNIC + "/ipConfigurations",
			"properties": object{
				"provisioningState": "Succeeded", "primary": i == 0, "privateIPAddressVersion": "IPv4",
				"privateIPAddress": a.String(), "privateIPAllocationMethod": method,
				"subnet": object{"id": subnet.String()},
			},
		})
	}
	nicBody := object{
		"id": nic.String(), "name": name, "type": typeNIC, "location": arm.Str(body, "location"), "etag": store.NewETag(),
		"properties": object{
			"provisioningState": "Succeeded",
			"privateEndpoint":   object{"id": pe.String()},
			"ipConfigurations":  ipcs,
		},
	}
	if _, err := s.putResource(ctx, tx, nic, nicBody, store.Condition{IfNoneMatch: "*"}); err != nil {
		return arm.ID{}, netip.Addr{}, false, err
	}
	return nic, addrs[0], true, nil
}

// staticEndpointAddresses are the addresses a private endpoint's
// ipConfigurations ask for (Azure: one per member of the target).
func staticEndpointAddresses(props object) []netip.Addr {
	var out []netip.Addr
	for _, ipc := range arm.Items(props, "ipConfigurations") {
		if a, err := netip.ParseAddr(arm.Str(arm.Field(ipc, "properties"), "privateIPAddress")); err == nil && a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

// endpointFQDNs are the public names a private endpoint's connections
// serve (netverify.PrivateLinkNames), sorted: a workspace target is read
// from the store for its GUID and region.
func endpointFQDNs(ctx context.Context, rd store.Reader, props object) ([]string, error) {
	var out []string
	for _, key := range []string{"privateLinkServiceConnections", "manualPrivateLinkServiceConnections"} {
		for _, c := range arm.Items(props, key) {
			cp := arm.Field(c, "properties")
			target, err := arm.ParseID(arm.Str(cp, "privateLinkServiceId"), "")
			if err != nil {
				continue // the decoder names it
			}
			var groups []string
			if list, ok := cp["groupIds"].([]any); ok {
				for _, g := range list {
					if s, ok := g.(string); ok {
						groups = append(groups, s)
					}
				}
			}
			ws, err := storedWorkspace(ctx, rd, target)
			if err != nil {
				return nil, err
			}
			for name := range netverify.PrivateLinkNames(target, groups, ws) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// storedWorkspace decodes the stored workspace target, or returns nil
// when target is not a stored workspace.
func storedWorkspace(ctx context.Context, rd store.Reader, target arm.ID) (*resources.Workspace, error) {
	if !strings.EqualFold(target.Type(), typeWorkspace) {
		return nil, nil
	}
	snap, err := storedSnapshot(ctx, rd, target)
	if err != nil || snap == nil {
		return nil, err
	}
	if len(snap.Workspaces) == 0 {
		return nil, fmt.Errorf("stored record %s is not a workspace", target)
	}
	return snap.Workspaces[0], nil
}

// storedSnapshot decodes the stored record id alone (what it references
// is taken to exist), or returns nil when there is none.
func storedSnapshot(ctx context.Context, rd store.Reader, id arm.ID) (*resources.Snapshot, error) {
	rec, err := rd.Get(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	snap, err := resources.DecodeARM([][]byte{rec.Body}, func(arm.ID) (bool, error) { return true, nil })
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", id, err)
	}
	return snap, nil
}

// endpointNICs are the NICs a stored private endpoint names.
func endpointNICs(body object) []string {
	var out []string
	for _, ref := range arm.Items(arm.Field(body, "properties"), "networkInterfaces") {
		if id := arm.Str(ref, "id"); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// deleteOwnedUnder deletes what the records under scope own, before they
// go with it (a private endpoint's zone groups' A records).
func deleteOwnedUnder(ctx context.Context, tx store.Tx, scope string) error {
	var under []store.Record
	err := store.Each(ctx, tx, store.Query{Scope: scope}, func(rec store.Record) error {
		if k := kindOf(rec.Type); k != nil && k.owned != nil {
			under = append(under, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, rec := range under {
		if err := deleteOwned(ctx, tx, kindOf(rec.Type), rec); err != nil {
			return err
		}
	}
	return nil
}

// deleteOwned deletes, with the resource of rec, the records Azure deletes
// with it (kindHooks.owned).
func deleteOwned(ctx context.Context, tx store.Tx, k *resourceKind, rec store.Record) error {
	if k.owned == nil {
		return nil
	}
	body, err := recordObject(rec)
	if err != nil {
		return err
	}
	for _, id := range k.owned(body) {
		// What goes with it may be under a lock of its own (a zone
		// group's records in another group's zone).
		if owned, err := arm.ParseID(id, ""); err == nil {
			if err := checkLocks(ctx, tx, owned.Subscription, id, true); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, id, store.Condition{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete %s with %s: %w", id, rec.ID, err)
		}
	}
	return nil
}
