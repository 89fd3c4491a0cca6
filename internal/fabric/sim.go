package fabric

import (
	"context"
	"sync"
)

// Sim is the simulated fabric: machines are entries in memory, and a flow
// passes exactly when the verifier predicts it does.
type Sim struct {
	mu       sync.Mutex
	machines map[string]string // node key → "running" | "stopped"
}

// NewSim returns an empty simulated fabric.
func NewSim() *Sim { return &Sim{machines: map[string]string{}} }

func key(n Node) string { return n.Compute + "/" + n.Name }

func (s *Sim) set(n Node, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == "" {
		delete(s.machines, key(n))
		return
	}
	s.machines[key(n)] = state
}

// Boot starts the node's machine.
func (s *Sim) Boot(_ context.Context, n Node) error { s.set(n, "running"); return nil }

// Probe answers each flow with the verifier's prediction.
func (s *Sim) Probe(_ context.Context, _ Node, flows []Flow) ([]Probe, error) {
	out := make([]Probe, len(flows))
	for i, f := range flows {
		out[i] = Probe{Flow: f, Passed: f.Predicted, Detail: "predicted by the verifier"}
	}
	return out, nil
}

// Stop marks the machine stopped.
func (s *Sim) Stop(_ context.Context, n Node) error { s.set(n, "stopped"); return nil }

// Start marks the machine running.
func (s *Sim) Start(_ context.Context, n Node) error { s.set(n, "running"); return nil }

// Remove forgets the machine.
func (s *Sim) Remove(_ context.Context, n Node) error { s.set(n, ""); return nil }

// Machines counts the machines by state, for tests and diagnostics.
func (s *Sim) Machines() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, st := range s.machines {
		out[st]++
	}
	return out
}
