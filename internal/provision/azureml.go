package provision

import (
	"context"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// What Azure creates for a compute with public IP
// (resources.AzureMLResourcesFor) are ordinary resources: listed by the
// network API, held by locks, refused by policy, counted by quotas.

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

// ensureCreated creates what is missing of a compute's created resources.
func ensureCreated(ctx context.Context, tx store.Tx, gov Governance, s spec) error {
	aml, ok := resources.AzureMLResourcesFor(s.Compute)
	if !ok {
		return nil
	}
	for _, r := range aml.Bodies() {
		if _, err := tx.Get(ctx, r.ID.String()); err == nil {
			continue
		} else if !isNotFound(err) {
			return err
		}
		if err := gov.Put(ctx, tx, r.ID, r.Body); err != nil {
			return err
		}
	}
	return nil
}

// checkCreatable asks policy whether the created resources may exist,
// before anything is created (Azure refuses such a compute at once, spec
// §10 #9).
func checkCreatable(ctx context.Context, rd store.Reader, gov Governance, s spec) error {
	aml, ok := resources.AzureMLResourcesFor(s.Compute)
	if !ok {
		return nil
	}
	for _, r := range aml.Bodies() {
		if err := gov.Check(ctx, rd, r.ID, r.Body); err != nil {
			return err
		}
	}
	return nil
}

// removeCreated deletes a compute's created resources, in reverse order of
// creation: the load balancer before the public IP it holds.
func removeCreated(ctx context.Context, tx store.Tx, gov Governance, s spec) error {
	for _, id := range createdIDs(s) {
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

// CreatedIDs are the ids of the resources Azure creates for a stored
// compute with public IP (none without), in the order of deletion.
func CreatedIDs(rec []byte) []arm.ID {
	s, err := readSpec(rec)
	if err != nil {
		return nil
	}
	return createdIDs(s)
}

func createdIDs(s spec) []arm.ID { return CreatedFor(s.Compute) }

// CreatedFor lists what Azure ML creates for the compute c: the load
// balancer, public IP and NSG of a public-IP compute in a subnet; nothing
// for the others.
func CreatedFor(c *resources.Compute) []arm.ID {
	aml, ok := resources.AzureMLResourcesFor(c)
	if !ok {
		return nil
	}
	return []arm.ID{aml.LoadBalancer, aml.PublicIP, aml.NSG}
}
