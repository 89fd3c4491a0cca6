//go:build !linux

package sandbox

import (
	"errors"
	"runtime"
)

// Group is a control group; there are none off Linux.
type Group struct{}

// NewGroup refuses: processes can be limited and held only on Linux.
func NewGroup(string, Limits) (*Group, error) {
	return nil, errors.New("sandbox: jobs run only on Linux (control groups); this is " + runtime.GOOS)
}

func (g *Group) add(int) error { return errors.New("sandbox: no control groups off Linux") }

// Pids lists nothing.
func (g *Group) Pids() []int { return nil }

// OOMKills is 0.
func (g *Group) OOMKills() int { return 0 }

// Kill does nothing.
func (g *Group) Kill() {}

// Remove does nothing.
func (g *Group) Remove() error { return nil }
