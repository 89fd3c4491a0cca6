//go:build linux

package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"securetrain/internal/fabric"
)

// The node agent: a process of the server's own binary (the hidden
// `securetrain agent`), started inside the node's network namespace as an
// unprivileged user without capabilities, that sends the node's outbound
// flows from there and reports what each one met. It gets its flows on
// stdin and answers on stdout; nothing of the server's (its data
// directory, database, keys, tokens, environment) is handed to it, and
// as that user it can open none of them.

// agentRequest is what the fabric sends an agent.
type agentRequest struct {
	Timeout time.Duration `json:"timeout"`
	Probes  []agentProbe  `json:"probes"`
}

type agentProbe struct {
	Proto  string `json:"proto"` // tcp, udp
	Target string `json:"target"`
}

// agentResult is an agent's answer to one probe: the service's line, or
// what the probe saw instead.
type agentResult struct {
	Line   string `json:"line,omitempty"`
	Failed string `json:"failed,omitempty"`
}

// AgentMain is the node agent: it reads a request from in, sends every
// probe at once, and writes the results, in the request's order, to out.
func AgentMain(in io.Reader, out io.Writer) error {
	var req agentRequest
	if err := json.NewDecoder(io.LimitReader(in, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("node agent: read the probes: %w", err)
	}
	results := make([]agentResult, len(req.Probes))
	deadline := time.Now().Add(req.Timeout)
	var wg sync.WaitGroup
	for i, p := range req.Probes {
		wg.Go(func() {
			line, err := dial(p.Proto, p.Target, deadline, true)
			if err != nil {
				results[i].Failed = failure(err, req.Timeout)
				return
			}
			results[i].Line = line
		})
	}
	wg.Wait()
	return json.NewEncoder(out).Encode(results)
}

// agentEligible reports whether the agent sends fl: an outbound TCP or
// UDP flow between IPv4 addresses. The others are probed by the server
// (inbound ones come from the cloud) or refused with the reason.
func agentEligible(fl fabric.Flow) bool {
	proto := strings.ToLower(fl.Protocol)
	return !fl.Inbound && (proto == "tcp" || proto == "udp") && fl.Source.Is4() && fl.Destination.Is4()
}

// probeByAgent probes the node's flows (placed at the node): outbound ones
// by its agent, the others in the server.
func (f *Fabric) probeByAgent(ctx context.Context, nd *node, flows []fabric.Flow) ([]fabric.Probe, error) {
	out := make([]fabric.Probe, len(flows))
	req := agentRequest{Timeout: f.dialTimeout()}
	var sent []int
	var wg sync.WaitGroup
	for i, fl := range flows {
		if agentEligible(fl) {
			sent = append(sent, i)
			req.Probes = append(req.Probes, agentProbe{Proto: strings.ToLower(fl.Protocol), Target: addrPort(fl.Destination, fl.DestinationPort)})
			continue
		}
		wg.Go(func() { out[i] = f.probe(ctx, nd, fl) })
	}
	var results []agentResult
	var err error
	if len(sent) > 0 {
		results, err = f.runAgent(ctx, nd, req)
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for k, i := range sent {
		p := fabric.Probe{Flow: flows[i]}
		p.Passed, p.Detail = outboundVerdict(flows[i], results[k].Line, results[k].Failed)
		out[i] = p
	}
	return out, ctx.Err()
}

// agentCommand is the agent's process: the server's own binary through
// /proc/self/exe (the child opens it by the link, which needs no search
// permission on the directories the server was started from), as a.UID,
// without capabilities (the change of credentials drops them all) or
// supplementary groups, with a's environment only, in /, killed with the
// server.
func agentCommand(ctx context.Context, a Agent) *exec.Cmd {
	uid := a.UID
	if uid == 0 {
		uid = AgentUID
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe", a.Args...)
	cmd.Env = append([]string{}, a.Env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}},
		Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runAgent starts the node's agent in its namespace, hands it req and
// returns its results.
func (f *Fabric) runAgent(ctx context.Context, nd *node, req agentRequest) ([]agentResult, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("node agent of %s: %w", nd.n.Name, err)
	}
	cmd := agentCommand(ctx, *f.cfg.Agent)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The child is forked from a thread inside the node's namespace and
	// stays there; the thread returns to the server's namespace at once.
	if err := inNamespace(nd.ns.fd, cmd.Start); err != nil {
		return nil, fmt.Errorf("start the node agent of %s: %w", nd.n.Name, err)
	}
	if f.agentStarted != nil {
		f.agentStarted(cmd.Process.Pid)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("the node agent of %s: %w: %s", nd.n.Name, err, strings.TrimSpace(stderr.String()))
	}
	var results []agentResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != len(req.Probes) {
		return nil, fmt.Errorf("the node agent of %s answered %d results for %d probes (%v): %q", nd.n.Name, len(results), len(req.Probes), err, stdout.String())
	}
	return results, nil
}
