// Package provision runs the lifecycle of computes as Azure does in a
// virtual network: durable operations (create, resize, stop, start,
// restart, delete) recorded in the store and executed by a worker that
// resumes them after a restart; one private address per node from the
// subnet; for public-IP computes the NSG, load balancer and public IP
// Azure creates in the VNet's resource group; quotas; and nodes brought up
// on a fabric, ready only when the verifier says their required flows pass.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// OperationType is the store type of operation records.
const OperationType = "securetrain/operations"

// pendingScope holds one small record per unfinished operation, so that
// the worker finds its work without scanning every operation.
const pendingScope = "/providers/securetrain/pendingOperations"

// Operation kinds.
const (
	KindWrite   = "write" // a write that finished in its request
	KindCreate  = "create"
	KindResize  = "resize"
	KindStop    = "stop"
	KindStart   = "start"
	KindRestart = "restart"
	KindDelete  = "delete"
)

// Operation statuses (ARM's).
const (
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
)

// Operation is an operation record; its JSON is the body the
// Azure-AsyncOperation URL answers.
type Operation struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	ResourceID string    `json:"resourceId"`
	StartTime  time.Time `json:"startTime"`
	EndTime    time.Time `json:"endTime,omitzero"`
	Error      *Error    `json:"error,omitempty"`
	// Kind and Target say what to do: for resize, the node count.
	Kind   string `json:"kind,omitempty"`
	Target int    `json:"targetNodeCount,omitempty"`
	// NotBefore delays a retry (a lock that keeps a scale-down waiting).
	NotBefore time.Time `json:"notBefore,omitzero"`
}

// Error is ARM's error detail.
type Error struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Details []Error `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Terminal reports whether a status is final (case-insensitive, as the SDK
// reads it).
func Terminal(status string) bool {
	switch strings.ToLower(status) {
	case "succeeded", "failed", "canceled", "cancelled", "completed":
		return true
	}
	return false
}

// OperationID is where an operation of provider ns in location lives.
func OperationID(sub, ns, location, name string) string {
	if location == "" {
		location = "global"
	}
	return "/subscriptions/" + sub + "/providers/" + ns + "/locations/" + location + "/operations/" + name
}

// Begin records an operation on target in tx, begun at now: finished when
// kind is KindWrite, else pending for the worker. It returns the
// operation's id.
func Begin(ctx context.Context, tx store.Tx, now time.Time, target arm.ID, location, kind string, targetNodes int) (string, error) {
	now = now.UTC()
	op := Operation{Name: arm.NewGUID(), Status: StatusInProgress, ResourceID: target.String(), StartTime: now, Kind: kind, Target: targetNodes}
	op.ID = OperationID(target.Subscription, target.Provider, location, op.Name)
	if kind == KindWrite {
		op.Status, op.EndTime, op.Kind = StatusSucceeded, now, ""
	}
	if err := putJSON(ctx, tx, op.ID, OperationType, op); err != nil {
		return "", err
	}
	if kind != KindWrite {
		if err := putJSON(ctx, tx, pendingScope+"/"+op.Name, "securetrain/pendingOperations", map[string]string{"operation": op.ID}); err != nil {
			return "", err
		}
	}
	return op.ID, nil
}

// finish marks an operation done at now (err nil: Succeeded) in tx.
func finish(ctx context.Context, tx store.Tx, op Operation, err error, now time.Time) error {
	op.EndTime = now.UTC()
	op.Status = StatusSucceeded
	if err != nil {
		op.Status, op.Error = StatusFailed, asError(err)
	}
	if err := putJSON(ctx, tx, op.ID, OperationType, op); err != nil {
		return err
	}
	if err := tx.Delete(ctx, pendingScope+"/"+op.Name, store.Condition{}); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// asError gives any error ARM's shape.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var c interface{ ARMCode() (string, string) }
	if errors.As(err, &c) {
		code, msg := c.ARMCode()
		return &Error{Code: code, Message: msg}
	}
	return &Error{Code: "InternalServerError", Message: err.Error()}
}

func putJSON(ctx context.Context, tx store.Tx, id, typ string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	_, err = tx.Put(ctx, store.Record{ID: id, Type: typ, Body: body}, store.Condition{})
	return err
}
