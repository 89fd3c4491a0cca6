package resources

// Decoders of record-only kinds and of private DNS zone groups.

// records is where the snapshot keeps record-only resources.
func records(s *Snapshot) *[]*Record { return &s.Records }

// decodeRecord reads a resource of a record-only kind: its envelope is
// checked as every resource's; its properties are kept as sent, in any
// api-version's shape, since nothing reads them.
func decodeRecord(r *res) *Record {
	r.props.ignoreRest()
	return &Record{Meta: r.meta()}
}

// maxZoneConfigs is Azure's limit of zones in one zone group.
const maxZoneConfigs = 5

func decodeZoneGroup(r *res) *PrivateDNSZoneGroup {
	p := r.props
	p.ignore("provisioningState")
	g := &PrivateDNSZoneGroup{Meta: r.meta()}
	for _, it := range p.itemsUpTo("privateDnsZoneConfigs", maxZoneConfigs) {
		it.ignore("id", "type", "etag")
		it.needStr("name")
		cp := it.child("properties")
		// recordSets are what Azure made of the configuration: read-only.
		cp.ignore("recordSets")
		if ref := cp.idString("privateDnsZoneId", TypePrivateDNSZone, true, false); ref.IsSet() {
			g.Zones = append(g.Zones, ref)
		}
	}
	return g
}
