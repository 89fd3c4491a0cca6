package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"securetrain/internal/resources"
	"securetrain/internal/store"
)

// The studio's network page lists a subscription's NSGs, firewalls, NAT
// gateways, load balancers and public IPs. A public-IP compute with
// nodes has Azure ML create an NSG, a load balancer and a public IP
// (tagged createdBy AzureML with its computeId): 1,000 such computes are
// 3,000 resources that the page counts rather than lists (each is linked
// from its compute's row). Reading and decoding them for each page would
// cost more than the page; an index of each subscription's resources of
// these types (the bodies of those users wrote, the count of those Azure
// ML created), cached like the compiled network and dropped with it on
// every write, answers the page.

// indexedNetworkTypes are the types the index holds.
var indexedNetworkTypes = []string{resources.TypeNSG, resources.TypeFirewall, resources.TypeNATGateway, resources.TypeLoadBalancer, resources.TypePublicIP}

// NetworkList is a subscription's resources of one type as the network
// page shows them.
type NetworkList struct {
	// Bodies are those users wrote, in id order, as the API returns them
	// (the cached index's own: not to be changed).
	Bodies []json.RawMessage
	// AzureML counts those Azure ML created for computes.
	AzureML int
}

// networkIndex is a subscription's NetworkList of each indexed type (by
// its lower-case type).
type networkIndex struct {
	byType map[string]NetworkList
}

// createdByAzureML reads whether a stored body is one Azure ML created
// for a compute (resources.CreatedByAzureML of its tags).
func createdByAzureML(body []byte) (bool, error) {
	var b struct {
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return false, err
	}
	return resources.CreatedByAzureML(b.Tags), nil
}

// indexNetwork reads the subscription's resources of the indexed types.
func (s *Server) indexNetwork(ctx context.Context, sub string) (*networkIndex, error) {
	ix := &networkIndex{byType: map[string]NetworkList{}}
	for _, typ := range indexedNetworkTypes {
		var list NetworkList
		err := store.Each(ctx, s.store, store.Query{Scope: "/subscriptions/" + sub, Type: typ}, func(rec store.Record) error {
			azureML, err := createdByAzureML(rec.Body)
			if err != nil {
				return fmt.Errorf("stored %s %s: %w", typ, rec.ID, err)
			}
			if azureML {
				list.AzureML++
			} else {
				list.Bodies = append(list.Bodies, rec.Body)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("index the network of subscription %s: %w", sub, err)
		}
		ix.byType[strings.ToLower(typ)] = list
	}
	return ix, nil
}

// ListNetwork lists subscription sub's resources of type typ (an NSG,
// firewall, NAT gateway, load balancer or public IP): the bodies of
// those users wrote and the count of those Azure ML created. It needs
// what the API's list of the subscription's resources of that type
// needs (typ/read on the subscription) and answers its errors.
func (s *Server) ListNetwork(r *http.Request, sub, typ string) (NetworkList, error) {
	start := time.Now()
	who, err := s.authenticate(r)
	var out NetworkList
	if err == nil {
		out, err = s.listNetwork(r.Context(), who, sub, typ)
	}
	s.logCall("network list", "type", typ, who, start, err)
	return out, err
}

func (s *Server) listNetwork(ctx context.Context, who, sub, typ string) (NetworkList, error) {
	if !slices.ContainsFunc(indexedNetworkTypes, func(t string) bool { return strings.EqualFold(t, typ) }) {
		return NetworkList{}, fmt.Errorf("list the network of subscription %s: %s is not one of the listed types (%s)", sub, typ, strings.Join(indexedNetworkTypes, ", "))
	}
	if err := s.authorize(ctx, who, typ+"/read", "/subscriptions/"+sub); err != nil {
		return NetworkList{}, err
	}
	version, err := s.cacheVersion(ctx, sub)
	if err != nil {
		return NetworkList{}, err
	}
	ix, err := s.networkLists.get(ctx, sub, version, func(ctx context.Context) (*networkIndex, error) {
		return s.indexNetwork(ctx, sub)
	})
	if err != nil {
		return NetworkList{}, err
	}
	return ix.byType[strings.ToLower(typ)], nil
}
