package resources

// Decoding of resources in ARM's own representation — what the control
// plane stores and returns (id, name, type, location, tags, properties) —
// through the same decoder, and so the same checks, as environment files.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"securetrain/internal/arm"
	"securetrain/internal/lazyregexp"
)

// Problem codes: ARM error codes for the problems the API reports with
// Azure's own code; the rest have none.
const (
	CodeSubnetOutsideVNet = "NetcfgSubnetRangeOutsideVnet"
	CodeSubnetsOverlap    = "NetcfgSubnetRangesOverlap"
	CodeRuleConflict      = "SecurityRuleConflict"
	CodeReferenceNotFound = "InvalidResourceReference"
)

// DecodeARM decodes ARM resource bodies into a linked snapshot with every
// check a file gets. References to resources that are not among bodies are
// answered by exists (nil: they must be among them); an error from it
// fails the decode with that error, not a problem: whether the reference
// holds is unknown. Problems name the resource and carry no file position.
func DecodeARM(bodies [][]byte, exists func(arm.ID) (bool, error)) (*Snapshot, error) {
	var doc bytes.Buffer
	doc.WriteString(`{"resources":[`)
	// ARM bodies are entries as they are: their ids place them.
	for i, b := range bodies {
		if i > 0 {
			doc.WriteByte(',')
		}
		doc.Write(b)
	}
	doc.WriteString(`]}`)
	d := newDecoder("")
	d.exists = exists
	snap, err := d.decode(doc.Bytes())
	var fe *FileError
	if errors.As(err, &fe) {
		for i := range fe.Problems {
			p := &fe.Problems[i]
			p.File, p.Line = "", 0
			// Positions in the generated document mean nothing to a client.
			p.Message = positionRef.ReplaceAllString(p.Message, "")
		}
	}
	return snap, err
}

// DecodeStored decodes one stored resource alone, through the same
// decoder: the references it holds are taken to exist (they were checked
// when it was written).
func DecodeStored(body []byte) (*Snapshot, error) {
	return DecodeARM([][]byte{body}, func(arm.ID) (bool, error) { return true, nil })
}

// positionRef matches the positions messages cite: " (first at :12)",
// " at :12" before a closing parenthesis, " (:12)".
var positionRef = lazyregexp.New(` ?\((first at )?:\d+\)| at :\d+`)

// FileEntry turns an ARM body (as the API returns it) into an
// environment-file entry: the subscription, resource group and
// parent/child name come from its id. `securetrain export` writes these.
func FileEntry(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("resource body: %w", err)
	}
	var idStr string
	if err := json.Unmarshal(m["id"], &idStr); err != nil {
		return nil, fmt.Errorf("resource body has no id: %w", err)
	}
	id, err := arm.ParseID(idStr, "")
	if err != nil {
		return nil, err
	}
	set := func(k, v string) {
		b, _ := json.Marshal(v) // a string always encodes
		m[k] = b
	}
	set("subscription", id.Subscription)
	if id.ResourceGroup != "" && id.Provider != "" {
		set("resourceGroup", id.ResourceGroup)
	}
	set("name", id.Name())
	return json.Marshal(m)
}
