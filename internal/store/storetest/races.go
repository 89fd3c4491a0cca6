package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"securetrain/internal/store"
)

// A Race is a transaction that reads, decides and writes, which several
// writers run at once: the control plane's allocations of addresses from
// a subnet, its quota checks and its read-modify-writes of one resource
// have this shape. Serializable transactions make each writer decide on
// what the others committed; weaker isolation lets two decide on the same
// state, and Check finds the result.
type Race struct {
	Name string
	// Setup writes the records the writers start from (n of them).
	Setup func(ctx context.Context, s store.Store, n int) error
	// Read reads what writer i's decision depends on; Write writes the
	// decision. Each writer runs them in one Update.
	Read  func(ctx context.Context, tx store.Tx, i int) (any, error)
	Write func(ctx context.Context, tx store.Tx, i int, read any) error
	// Check says whether the store holds what n writers must leave
	// (errs: each writer's Update error).
	Check func(ctx context.Context, s store.Store, n int, errs []error) error
}

// pool is the subnet whose addresses the address race allocates.
const pool = vnet + "/subnets/pool"

// computeType is the type of the quota race's records (the store knows
// no types: these are the suite's own).
const computeType = "Test.Races/computes"

// errQuota is the quota race's refusal of a writer over the limit.
var errQuota = errors.New("quota exceeded")

// Races are the races every store wins (Run holds them with six writers;
// a PostgreSQL test shows that READ COMMITTED loses each).
var Races = []Race{
	{
		// Each writer gives its NIC the lowest address no NIC holds.
		Name: "AddressPool",
		Setup: func(ctx context.Context, s store.Store, n int) error {
			return s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.Put(ctx, store.Record{ID: pool, Type: typ + "/subnets", Body: []byte(`{}`)}, store.Condition{})
				return err
			})
		},
		Read: func(ctx context.Context, tx store.Tx, i int) (any, error) {
			taken := map[string]bool{}
			err := store.Each(ctx, tx, store.Query{Scope: pool + "/addresses"}, func(r store.Record) error {
				taken[strings.ToLower(r.ID[strings.LastIndexByte(r.ID, '/')+1:])] = true
				return nil
			})
			for a := 4; ; a++ { // Azure keeps .0 to .3 of a subnet
				if addr := fmt.Sprintf("10.0.0.%d", a); !taken[addr] {
					return addr, err
				}
			}
		},
		Write: func(ctx context.Context, tx store.Tx, i int, read any) error {
			addr := read.(string)
			nic := fmt.Sprintf("%s/providers/Microsoft.Network/networkInterfaces/nic%d", rg, i)
			// The allocation is an upsert, as the control plane's: what
			// keeps two NICs off one address is the isolation.
			if _, err := tx.Put(ctx, store.Record{ID: pool + "/addresses/" + addr, Type: "address", Body: fmt.Appendf(nil, `{"nic":%q}`, nic)}, store.Condition{}); err != nil {
				return err
			}
			_, err := tx.Put(ctx, store.Record{ID: nic, Type: "Test.Races/nics", Body: fmt.Appendf(nil, `{"address":%q}`, addr), Refs: []string{pool}}, store.Condition{})
			return err
		},
		Check: func(ctx context.Context, s store.Store, n int, errs []error) error {
			if err := errors.Join(errs...); err != nil {
				return err
			}
			holder := map[string]string{}
			for i := range n {
				nic := fmt.Sprintf("%s/providers/Microsoft.Network/networkInterfaces/nic%d", rg, i)
				r, err := s.Get(ctx, nic)
				if err != nil {
					return err
				}
				var body struct{ Address string }
				if err := json.Unmarshal(r.Body, &body); err != nil {
					return err
				}
				if other, ok := holder[body.Address]; ok {
					return fmt.Errorf("%s and %s both hold %s", other, nic, body.Address)
				}
				holder[body.Address] = nic
			}
			return nil
		},
	},
	{
		// Each writer creates a compute while the subscription has fewer
		// than n/2 (count, then insert).
		Name: "Quota",
		Setup: func(ctx context.Context, s store.Store, n int) error {
			return s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.Put(ctx, store.Record{ID: rg, Type: "Test.Races/groups", Body: fmt.Appendf(nil, `{"quota":%d}`, n/2)}, store.Condition{})
				return err
			})
		},
		Read: func(ctx context.Context, tx store.Tx, i int) (any, error) {
			count := 0
			err := store.Each(ctx, tx, store.Query{Scope: rg, Type: computeType}, func(store.Record) error {
				count++
				return nil
			})
			return count, err
		},
		Write: func(ctx context.Context, tx store.Tx, i int, read any) error {
			quota, err := tx.Get(ctx, rg)
			if err != nil {
				return err
			}
			var body struct{ Quota int }
			if err := json.Unmarshal(quota.Body, &body); err != nil {
				return err
			}
			if read.(int) >= body.Quota {
				return errQuota
			}
			_, err = tx.Put(ctx, store.Record{ID: fmt.Sprintf("%s/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/c%d", rg, i), Type: computeType, Body: []byte(`{}`)}, store.Condition{})
			return err
		},
		Check: func(ctx context.Context, s store.Store, n int, errs []error) error {
			refused := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, errQuota):
					refused++
				case err != nil:
					return err
				}
			}
			created := len(listIDs(ctx, s, store.Query{Scope: rg, Type: computeType}))
			if created != n/2 || refused != n-n/2 {
				return fmt.Errorf("%d computes created and %d refused under a quota of %d", created, refused, n/2)
			}
			return nil
		},
	},
	{
		// Each writer adds itself to one record's list and notes the
		// etag it replaced (a PUT of what a GET returned).
		Name: "ReadModifyWrite",
		Setup: func(ctx context.Context, s store.Store, n int) error {
			return s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: []byte(`{"writers":[]}`)}, store.Condition{})
				return err
			})
		},
		Read: func(ctx context.Context, tx store.Tx, i int) (any, error) {
			return tx.Get(ctx, vnet)
		},
		Write: func(ctx context.Context, tx store.Tx, i int, read any) error {
			var body struct {
				Writers  []int `json:"writers"`
				Replaced string
			}
			if err := json.Unmarshal(read.(store.Record).Body, &body); err != nil {
				return err
			}
			body.Writers, body.Replaced = append(body.Writers, i), read.(store.Record).ETag
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			_, err = tx.Put(ctx, store.Record{ID: vnet, Type: typ, Body: b}, store.Condition{})
			return err
		},
		Check: func(ctx context.Context, s store.Store, n int, errs []error) error {
			if err := errors.Join(errs...); err != nil {
				return err
			}
			r, err := s.Get(ctx, vnet)
			if err != nil {
				return err
			}
			var body struct{ Writers []int }
			if err := json.Unmarshal(r.Body, &body); err != nil {
				return err
			}
			slices.Sort(body.Writers)
			if !slices.Equal(body.Writers, seq(n)) {
				return fmt.Errorf("the record lists writers %v of %d: an update was lost", body.Writers, n)
			}
			return nil
		},
	},
}

// seq is 0, 1, … n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func listIDs(ctx context.Context, rd store.Reader, q store.Query) []string {
	var ids []string
	store.Each(ctx, rd, q, func(r store.Record) error {
		ids = append(ids, r.ID)
		return nil
	})
	return ids
}

// runRace sets the race up and runs n writers at once.
func runRace(ctx context.Context, s store.Store, r Race, n int) error {
	if err := r.Setup(ctx, s, n); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	errs := concurrently(n, func(i int) error {
		return s.Update(ctx, func(tx store.Tx) error {
			read, err := r.Read(ctx, tx, i)
			if err != nil {
				return err
			}
			return r.Write(ctx, tx, i, read)
		})
	})
	return r.Check(ctx, s, n, errs)
}

// testRaces: six writers at once win every race.
func testRaces(t *testing.T, open func(t *testing.T) store.Store) {
	for _, r := range Races {
		t.Run(r.Name, func(t *testing.T) {
			if err := runRace(context.Background(), open(t), r, 6); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Interleave runs two writers of r in the order that weak isolation gets
// wrong — writer 0 reads, writer 1 reads, writer 0 writes and commits,
// then writer 1 writes — and returns Check's verdict. A re-run of a
// writer's closure (after a serialization failure) goes straight on. Only
// for stores whose write transactions run side by side (PostgreSQL):
// SQLite's one writer at a time would wait for ever.
func Interleave(ctx context.Context, s store.Store, r Race) error {
	if err := r.Setup(ctx, s, 2); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	firstRead, secondRead, firstDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	// Each signal is given once, and also when its writer fails before
	// giving it, so that the other never waits for ever.
	readFirst, readSecond := sync.OnceFunc(func() { close(firstRead) }), sync.OnceFunc(func() { close(secondRead) })
	// write runs writer i; on its first run only, pause comes between
	// its read and its write.
	write := func(i int, pause func()) error {
		var first sync.Once
		return s.Update(ctx, func(tx store.Tx) error {
			read, err := r.Read(ctx, tx, i)
			if err != nil {
				return err
			}
			first.Do(pause)
			return r.Write(ctx, tx, i, read)
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(firstDone)
		defer readFirst()
		errs[0] = write(0, func() { readFirst(); <-secondRead })
	})
	wg.Go(func() {
		defer readSecond()
		<-firstRead
		errs[1] = write(1, func() { readSecond(); <-firstDone })
	})
	wg.Wait()
	return r.Check(ctx, s, 2, errs)
}
