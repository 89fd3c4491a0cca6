package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// The studio's lists of computes: a workspace of 1,000 computes shows a
// page of 50 of one type and their count, and a VNet's diagram places
// every compute in its subnet. Reading and decoding every compute's body
// for each page would cost more than the page; an index of each
// subscription's computes (their type, subnet and public IP, in id
// order), cached like the compiled network and dropped with it on every
// write, answers both, and only a page's bodies are read.

// ComputeSummary is what a list shows of a compute without its body.
type ComputeSummary struct {
	ID arm.ID
	// ComputeType is properties.computeType (ComputeInstance, AmlCompute).
	ComputeType string
	// Subnet is the subnet its nodes are in; zero outside a VNet.
	Subnet arm.ID
	// PublicIP is enableNodePublicIp (Azure's default: true).
	PublicIP bool
}

// computeIndex is a subscription's computes by workspace (arm.FoldKey of
// its id), each workspace's in id order.
type computeIndex struct {
	byWorkspace map[string][]ComputeSummary
}

// summaryOf reads what an index keeps of a stored compute (its shape was
// validated when it was written): a decode of three fields, not the
// typed compute.
func summaryOf(rec store.Record) (ComputeSummary, error) {
	var body struct {
		Properties struct {
			ComputeType string `json:"computeType"`
			Properties  struct {
				EnableNodePublicIP *bool `json:"enableNodePublicIp"`
				Subnet             struct {
					ID string `json:"id"`
				} `json:"subnet"`
			} `json:"properties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(rec.Body, &body); err != nil {
		return ComputeSummary{}, fmt.Errorf("stored compute %s: %w", rec.ID, err)
	}
	id, err := arm.ParseID(rec.ID, "")
	if err != nil {
		return ComputeSummary{}, fmt.Errorf("stored compute %s: %w", rec.ID, err)
	}
	inner := body.Properties.Properties
	c := ComputeSummary{ID: id, ComputeType: body.Properties.ComputeType, PublicIP: inner.EnableNodePublicIP == nil || *inner.EnableNodePublicIP}
	if inner.Subnet.ID != "" {
		if c.Subnet, err = arm.ParseID(inner.Subnet.ID, id.Subscription); err != nil {
			return ComputeSummary{}, fmt.Errorf("stored compute %s: subnet: %w", rec.ID, err)
		}
	}
	return c, nil
}

// indexComputes reads the subscription's computes into an index.
func (s *Server) indexComputes(ctx context.Context, sub string) (*computeIndex, error) {
	ix := &computeIndex{byWorkspace: map[string][]ComputeSummary{}}
	err := store.Each(ctx, s.store, store.Query{Scope: "/subscriptions/" + sub, Type: typeCompute}, func(rec store.Record) error {
		c, err := summaryOf(rec)
		if err != nil {
			return err
		}
		ws, _ := c.ID.Parent()
		key := arm.FoldKey(ws.String())
		ix.byWorkspace[key] = append(ix.byWorkspace[key], c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index the computes of subscription %s: %w", sub, err)
	}
	return ix, nil
}

// ComputeList is a workspace's computes of one type.
type ComputeList struct {
	// Computes are all of them, in id order (the order of the API's list).
	Computes []ComputeSummary
	// Bodies are those of Computes[offset:offset+limit] as the API
	// returns them; fewer when some went away since the index was read.
	Bodies []json.RawMessage
}

// ListComputes lists workspace ws's computes of computeType ("" for every
// type) and the bodies of limit of them from offset (none when limit is
// 0). It needs what the API's list of the workspace's computes needs
// (computes/read on the workspace, which must exist) and answers its
// errors.
func (s *Server) ListComputes(r *http.Request, ws arm.ID, computeType string, offset, limit int) (ComputeList, error) {
	// Logged as the API logs a request: the principal and the outcome.
	start := time.Now()
	who, err := s.authenticate(r)
	var out ComputeList
	if err == nil {
		out, err = s.listComputes(r.Context(), who, ws, computeType, offset, limit)
	}
	s.logCall("compute list", "workspace", ws.String(), who, start, err)
	return out, err
}

// logCall logs a studio call that is not an HTTP request as the API logs
// a request: what it was on (key, target), the principal, the status its
// error would answer and the time; a server error with its cause.
func (s *Server) logCall(name, key, target, who string, start time.Time, err error) {
	status := http.StatusOK
	if err != nil {
		if status, _, _ = ErrorAnswer(err); status == http.StatusInternalServerError {
			s.log.Error(name+" failed", key, target, "err", err)
		}
	}
	s.log.Info(name, key, target, "status", status, "principal", who, "ms", float64(time.Since(start).Microseconds())/1000)
}

func (s *Server) listComputes(ctx context.Context, who string, ws arm.ID, computeType string, offset, limit int) (ComputeList, error) {
	if offset < 0 || limit < 0 {
		return ComputeList{}, fmt.Errorf("list computes of %s: offset %d and limit %d must not be negative", ws, offset, limit)
	}
	if !strings.EqualFold(ws.Type(), typeWorkspace) {
		return ComputeList{}, newError(http.StatusBadRequest, "InvalidResourceId", "'%s' is not the id of a workspace.", ws)
	}
	if err := s.authorize(ctx, who, typeCompute+"/read", ws.String()); err != nil {
		return ComputeList{}, err
	}
	if err := s.requireScope(ctx, resourceGroupID(ws.Subscription, ws.ResourceGroup)); err != nil {
		return ComputeList{}, err
	}
	if _, err := s.store.Get(ctx, ws.String()); errors.Is(err, store.ErrNotFound) {
		return ComputeList{}, notFound(ws)
	} else if err != nil {
		return ComputeList{}, err
	}
	version, err := s.cacheVersion(ctx, ws.Subscription)
	if err != nil {
		return ComputeList{}, err
	}
	ix, err := s.computes.get(ctx, ws.Subscription, version, func(ctx context.Context) (*computeIndex, error) {
		return s.indexComputes(ctx, ws.Subscription)
	})
	if err != nil {
		return ComputeList{}, err
	}
	var out ComputeList
	for _, c := range ix.byWorkspace[arm.FoldKey(ws.String())] {
		if computeType == "" || c.ComputeType == computeType {
			out.Computes = append(out.Computes, c)
		}
	}
	lo := min(offset, len(out.Computes))
	for _, c := range out.Computes[lo : lo+min(limit, len(out.Computes)-lo)] {
		rec, err := s.store.Get(ctx, c.ID.String())
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return ComputeList{}, fmt.Errorf("list computes of %s: %w", ws, err)
		}
		out.Bodies = append(out.Bodies, rec.Body)
	}
	return out, nil
}
