package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"securetrain/internal/envgen"
	"securetrain/internal/store"
)

// storeEnvironment writes an environment file's resources into the store
// as ARM records of subscription sub, as `securetrain apply` would leave
// them (without going through validation, to save time), and creates
// their resource groups.
func storeEnvironment(b *testing.B, c *client, env []byte) {
	b.Helper()
	var file struct {
		Resources []map[string]any `json:"resources"`
	}
	if err := json.Unmarshal(env, &file); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	groups := map[string]bool{}
	err := c.st.Update(ctx, func(tx store.Tx) error {
		for _, r := range file.Resources {
			typ, rg, name := r["type"].(string), r["resourceGroup"].(string), r["name"].(string)
			provider, types, _ := strings.Cut(typ, "/")
			id := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + provider
			names := strings.Split(name, "/")
			for i, t := range strings.Split(types, "/") {
				id += "/" + t + "/" + names[i]
			}
			delete(r, "resourceGroup")
			r["id"], r["name"] = id, names[len(names)-1]
			body, err := json.Marshal(fullIDs(r))
			if err != nil {
				return err
			}
			if _, err := tx.Put(ctx, store.Record{ID: id, Type: typ, Body: body}, store.Condition{}); err != nil {
				return err
			}
			groups[rg] = true
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for rg := range groups {
		mustDo(b, c, "PUT", "/subscriptions/"+sub+"/resourceGroups/"+rg+rgAPI, `{"location":"westus2"}`, http.StatusCreated)
	}
}

// fullIDs puts the subscription in front of the file's short ids
// ("/resourceGroups/...").
func fullIDs(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fullIDs(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fullIDs(e)
		}
	case string:
		if strings.HasPrefix(x, "/resourceGroups/") {
			return "/subscriptions/" + sub + x
		}
	}
	return v
}

// BenchmarkNetworkWatcherLarge: Network Watcher requests over loopback
// HTTP on the benchmark environment (envgen.Large: 100 VNets × 10 subnets,
// 100 NSGs × 1,000 rules, a hub firewall, 1,000 computes) stored as one
// subscription, targeting a compute. "cached" is the server as it runs;
// "compiled per request" drops the cached network before each request, as
// every request compiled it before the cache.
func BenchmarkNetworkWatcherLarge(b *testing.B) {
	base, _ := benchServer(b)
	// benchServer's VNet (10.0.0.0/8) would overlap the environment's.
	mustDo(b, base, "DELETE", vnetProbe+netVersion, "", http.StatusOK)
	storeEnvironment(b, base, envgen.Generate(envgen.Large()))
	c, s := clientOn(b, base, base.st)
	compute := "/subscriptions/" + sub + "/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/mlws/computes/c10"
	watcher := "/subscriptions/" + sub + "/resourceGroups/net/providers/Microsoft.Network/networkWatchers/nw/"
	requests := []struct{ action, body string }{
		{"ipFlowVerify", `{"targetResourceId":"` + compute + `","direction":"Outbound","protocol":"TCP","localIPAddress":"10.1.0.4","localPort":"*","remoteIPAddress":"20.60.1.1","remotePort":"443"}`},
		{"nextHop", `{"targetResourceId":"` + compute + `","sourceIPAddress":"10.1.0.4","destinationIPAddress":"8.8.8.8"}`},
		{"securityGroupView", `{"targetResourceId":"` + compute + `"}`},
	}
	for _, mode := range []string{"cached", "compiled per request"} {
		for _, r := range requests {
			b.Run(mode+"/"+r.action, func(b *testing.B) {
				mustDo(b, c, "POST", watcher+r.action+netVersion, r.body, http.StatusOK) // warm the cache
				var lat []time.Duration
				for b.Loop() {
					if mode != "cached" {
						s.networks.invalidate(sub)
					}
					start := time.Now()
					mustDo(b, c, "POST", watcher+r.action+netVersion, r.body, http.StatusOK)
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
			})
		}
	}
}
