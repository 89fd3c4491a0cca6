package provision

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// failingReader answers every Get with err.
type failingReader struct {
	store.Reader
	err error
}

func (r failingReader) Get(context.Context, string) (store.Record, error) {
	return store.Record{}, r.err
}

// A missing virtual network is SubnetNotFound; any other failure to read
// it (a serialization failure the store retries, a lost connection) is
// kept as it is, not taken for a missing subnet.
func TestStoredSubnetReadErrors(t *testing.T) {
	subnet, err := arm.ParseID("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/vnet/subnets/small", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var pe *Error
	_, err = storedSubnet(ctx, failingReader{err: fmt.Errorf("read: %w", store.ErrNotFound)}, subnet)
	if !errors.As(err, &pe) || pe.Code != "SubnetNotFound" {
		t.Errorf("a missing virtual network: %v, want SubnetNotFound", err)
	}
	conflict := errors.New("could not serialize access")
	_, err = storedSubnet(ctx, failingReader{err: conflict}, subnet)
	if !errors.Is(err, conflict) || errors.As(err, &pe) {
		t.Errorf("a failed read: %v, want it wrapped and not a provisioning error", err)
	}
}
