package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// zoneRecordTTL is the TTL Azure gives the records of a zone group.
const zoneRecordTTL = 10

// deriveZoneGroup keeps what Azure keeps for a private DNS zone group: an
// A record set of the endpoint's address for each name the endpoint
// serves, in each zone of the group that holds it
// (netverify.ZoneGroupRecords, the definition `check` resolves with),
// listed in the group's privateDnsZoneConfigs[].properties.recordSets.
// Records the group kept before and no longer does are removed. A zone
// that does not exist is left to the decoder to report.
func (s *Server) deriveZoneGroup(ctx context.Context, tx store.Tx, id arm.ID, cur, next object) error {
	peID, _ := id.Parent()
	pe, err := storedEndpoint(ctx, tx, peID)
	if err != nil || pe == nil {
		return err
	}
	var wsErr error
	names := netverify.EndpointNames(pe, func(target arm.ID) *resources.Workspace {
		ws, err := storedWorkspace(ctx, tx, target)
		if err != nil && wsErr == nil {
			wsErr = err
		}
		return ws
	})
	if wsErr != nil {
		return wsErr
	}
	addrs := netverify.EndpointAddrs(pe)
	configs := arm.Items(arm.EnsureField(next, "properties"), "privateDnsZoneConfigs")
	kept := map[string]bool{}
	for _, cfg := range configs {
		cp := arm.EnsureField(cfg, "properties")
		zone, err := arm.ParseID(arm.Str(cp, "privateDnsZoneId"), id.Subscription)
		if err != nil {
			continue // the decoder names it
		}
		if _, err := tx.Get(ctx, zone.String()); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		sets := []any{}
		for _, rec := range netverify.ZoneGroupRecords(names, addrs, []arm.ID{zone}) {
			if err := s.putZoneRecord(ctx, tx, rec); err != nil {
				return fmt.Errorf("private DNS zone group %s: %w", id.Name(), err)
			}
			kept[arm.FoldKey(rec.ID().String())] = true
			ips := []any{}
			for _, a := range rec.Addrs {
				ips = append(ips, a.String())
			}
			sets = append(sets, object{"recordType": "A", "recordSetName": rec.Name, "fqdn": rec.FQDN(),
				"provisioningState": "Succeeded", "ttl": zoneRecordTTL, "ipAddresses": ips})
		}
		cp["recordSets"] = sets
	}
	for _, old := range zoneGroupRecords(cur) {
		if !kept[arm.FoldKey(old)] {
			if err := checkLocks(ctx, tx, id.Subscription, old, true); err != nil {
				return err
			}
			if err := tx.Delete(ctx, old, store.Condition{}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("remove record set %s of private DNS zone group %s: %w", old, id.Name(), err)
			}
		}
	}
	return nil
}

// refreshZoneGroups keeps the zone groups of private endpoint pe current
// once the endpoint is written, as Azure manages their records: a new
// address, or names the endpoint no longer serves, change the A records
// in the zones (and the groups' recordSets).
func (s *Server) refreshZoneGroups(ctx context.Context, tx store.Tx, pe arm.ID) error {
	var groups []store.Record
	err := store.Each(ctx, tx, store.Query{Scope: pe.String(), Type: resources.TypeZoneGroup}, func(rec store.Record) error {
		groups = append(groups, rec)
		return nil
	})
	if err != nil {
		return err
	}
	for _, rec := range groups {
		id, err := arm.ParseID(rec.ID, pe.Subscription)
		if err != nil {
			return fmt.Errorf("stored zone group %s: %w", rec.ID, err)
		}
		cur, err := recordObject(rec)
		if err != nil {
			return err
		}
		next, err := recordObject(rec) // a copy to change
		if err != nil {
			return err
		}
		if err := s.deriveZoneGroup(ctx, tx, id, cur, next); err != nil {
			return err
		}
		if next["etag"] = etagFor(next, cur); next["etag"] == cur["etag"] {
			continue
		}
		if _, err := s.putResource(ctx, tx, id, next, store.Condition{}); err != nil {
			return fmt.Errorf("private DNS zone group %s: %w", id.Name(), err)
		}
	}
	return nil
}

// putZoneRecord stores the A record set rec, replacing one of its name.
func (s *Server) putZoneRecord(ctx context.Context, tx store.Tx, rec netverify.ZoneRecord) error {
	rid := rec.ID()
	// The zone may be in a group of its own, under a lock of its own.
	if err := checkLocks(ctx, tx, rid.Subscription, rid.String(), false); err != nil {
		return err
	}
	var a []any
	for _, addr := range rec.Addrs {
		a = append(a, object{"ipv4Address": addr.String()})
	}
	body := object{"id": rid.String(), "name": rec.Name, "type": resources.TypeZoneA,
		"properties": object{"provisioningState": "Succeeded", "ttl": zoneRecordTTL, "fqdn": rec.FQDN() + ".", "isAutoRegistered": false, "aRecords": a}}
	var cur object
	if stored, err := tx.Get(ctx, rid.String()); err == nil {
		if cur, err = recordObject(stored); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// A record set that already holds these addresses is left as it is
	// (its etag too): an endpoint's write that moves nothing changes no record.
	if body["etag"] = etagFor(body, cur); cur != nil && body["etag"] == cur["etag"] {
		return nil
	}
	_, err := s.putResource(ctx, tx, rid, body, store.Condition{})
	return err
}

// storedEndpoint decodes the stored private endpoint id (its addresses
// are those its customDnsConfigs show), or returns nil when it is gone.
func storedEndpoint(ctx context.Context, rd store.Reader, id arm.ID) (*resources.PrivateEndpoint, error) {
	snap, err := storedSnapshot(ctx, rd, id)
	if err != nil || snap == nil {
		return nil, err
	}
	if len(snap.PrivateEndpoints) == 0 {
		return nil, fmt.Errorf("stored record %s is not a private endpoint", id)
	}
	return snap.PrivateEndpoints[0], nil
}

// zoneGroupRecords are the record sets a stored zone group keeps: Azure
// deletes them with it.
func zoneGroupRecords(body object) []string {
	var out []string
	for _, cfg := range arm.Items(arm.Field(body, "properties"), "privateDnsZoneConfigs") {
		cp := arm.Field(cfg, "properties")
		zone := arm.Str(cp, "privateDnsZoneId")
		for _, set := range arm.Items(cp, "recordSets") {
			if name := arm.Str(set, "recordSetName"); zone != "" && name != "" && strings.EqualFold(arm.Str(set, "recordType"), "A") {
				out = append(out, zone+"/A/"+name)
			}
		}
	}
	return out
}
