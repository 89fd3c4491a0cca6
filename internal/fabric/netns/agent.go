//go:build linux

package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"securetrain/internal/fabric"
	"securetrain/internal/sandbox"
)

// The node agent: a process of the server's own binary (the hidden
// `securetrain agent`), started with each node inside the node's network
// namespace as an unprivileged user without capabilities. It answers
// Azure ML's inbound management traffic on TCP 44224, and sends the
// node's outbound flows from there whenever the fabric probes the node,
// reporting what each one met. It talks to the fabric over its stdin and
// stdout (JSON, one message a line): a hello naming the node, answered
// once it listens; then probe requests, each answered with its results.
// Nothing of the server's (its data directory, database, keys, tokens,
// environment) is handed to it, and as that user it can open none of
// them. It ends when its stdin closes (the node stops, the server ends)
// and is killed with the server.

// agentHello is the fabric's first message: the node the agent is.
type agentHello struct {
	Node string `json:"node"`
}

// agentReady answers the hello: the agent listens (Error empty).
type agentReady struct {
	Error string `json:"error,omitempty"`
}

// agentRequest is a probe request.
type agentRequest struct {
	Timeout time.Duration `json:"timeout"`
	Probes  []agentProbe  `json:"probes"`
}

type agentProbe struct {
	Proto  string `json:"proto"` // tcp, udp
	Target string `json:"target"`
	// Name, for TCP, is the name the client asks for in its first bytes
	// (TLS SNI, HTTP Host): a firewall's application rules match it.
	Name string `json:"name,omitempty"`
}

// agentResult is an agent's answer to one probe: the service's line, or
// what the probe saw instead.
type agentResult struct {
	Line   string `json:"line,omitempty"`
	Failed string `json:"failed,omitempty"`
}

// AgentMain is the node agent: it reads the hello from in, listens on
// 44224, says so on out, then answers each probe request on out (every
// probe of a request sent at once, results in the request's order) until
// in ends.
func AgentMain(in io.Reader, out io.Writer) error {
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	var hello agentHello
	if err := dec.Decode(&hello); err != nil {
		return fmt.Errorf("node agent: read the hello: %w", err)
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", agentPort))
	if err != nil {
		enc.Encode(agentReady{Error: err.Error()})
		return fmt.Errorf("node agent: %w", err)
	}
	defer ln.Close()
	go serveAgent(ln, hello.Node)
	if err := enc.Encode(agentReady{}); err != nil {
		return fmt.Errorf("node agent: %w", err)
	}
	for {
		var req agentRequest
		if err := dec.Decode(&req); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("node agent: read a request: %w", err)
		}
		results := make([]agentResult, len(req.Probes))
		deadline := time.Now().Add(req.Timeout)
		var wg sync.WaitGroup
		for i, p := range req.Probes {
			wg.Go(func() {
				line, err := "", error(nil)
				if target, perr := netip.ParseAddrPort(p.Target); p.Proto == "tcp" && p.Name != "" && perr == nil {
					line, err = dialNamed(target, p.Name, deadline)
				} else {
					line, err = dial(p.Proto, p.Target, deadline, true)
				}
				if err != nil {
					results[i].Failed = failure(err, req.Timeout)
					return
				}
				results[i].Line = line
			})
		}
		wg.Wait()
		if err := enc.Encode(results); err != nil {
			return fmt.Errorf("node agent: %w", err)
		}
	}
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
func (f *Fabric) probeByAgent(ctx context.Context, nd *node, a *agentProc, flows []fabric.Flow) ([]fabric.Probe, error) {
	out := make([]fabric.Probe, len(flows))
	flows = slices.Clone(flows) // destinations resolved below
	req := agentRequest{Timeout: f.dialTimeout()}
	var sent, rest []int
	for i, fl := range flows {
		if agentEligible(fl) {
			probe := agentProbe{Proto: strings.ToLower(fl.Protocol)}
			if fl.DNSName != "" {
				// The name is resolved as the node resolves it (real DNS
				// from its namespace), then sent by the agent with the name
				// in its first bytes.
				dst, err := nd.resolveFlowDestination(fl.DNSName, fl.Destination, time.Now().Add(f.dialTimeout()))
				if err != nil {
					out[i] = fabric.Probe{Flow: fl, Detail: err.Error()}
					continue
				}
				fl.Destination = dst
				flows[i] = fl
				if probe.Proto == "tcp" {
					probe.Name = fl.DNSName
				}
			}
			probe.Target = addrPort(fl.Destination, fl.DestinationPort)
			sent = append(sent, i)
			req.Probes = append(req.Probes, probe)
		} else {
			rest = append(rest, i)
		}
	}
	// The agent must listen before anything is sent to it.
	if err := a.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("the node agent of %s: %w", nd.n.Name, err)
	}
	var wg sync.WaitGroup
	for _, i := range rest {
		wg.Go(func() { out[i] = f.probe(ctx, nd, flows[i]) })
	}
	var results []agentResult
	var err error
	if len(sent) > 0 {
		results, err = a.ask(req)
	}
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("the node agent of %s: %w", nd.n.Name, err)
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
func agentCommand(a Agent) *exec.Cmd {
	uid := a.UID
	if uid == 0 {
		uid = AgentUID
	}
	cmd := exec.Command("/proc/self/exe", a.Args...)
	cmd.Env = append([]string{}, a.Env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = sandbox.Unprivileged(uid)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return cmd
}

// agentProc is a node's running agent.
type agentProc struct {
	ready chan struct{} // closed when the agent answered the hello, or failed to
	// Set before ready closes:
	readyErr error
	cmd      *exec.Cmd // nil when it did not start
	stdin    io.WriteCloser
	dec      *json.Decoder
	stderr   *headBuffer // the agent's complaints, for the errors

	mu sync.Mutex // one request at a time
}

// startAgent starts node nd's agent in its namespace and says hello, in
// the background: Probe waits for it, so that the agents of a cluster's
// nodes start together while the nodes boot one after another.
func (f *Fabric) startAgent(nd *node) *agentProc {
	a := &agentProc{ready: make(chan struct{}), stderr: &headBuffer{}}
	go func() {
		defer close(a.ready)
		a.readyErr = a.start(f, nd)
	}()
	return a
}

func (a *agentProc) start(f *Fabric, nd *node) error {
	cmd := agentCommand(*f.cfg.Agent)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = a.stderr
	// The child is forked from a thread inside the node's namespace and
	// stays there; the thread returns to the server's namespace at once.
	// It is the keeper's thread, which never ends: the agent's
	// parent-death signal follows the forking thread.
	if err := onKeeperThread(func() error { return inNamespace(nd.ns.fd, cmd.Start) }); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	a.cmd, a.stdin, a.dec = cmd, stdin, json.NewDecoder(stdout)
	if f.agentStarted != nil {
		f.agentStarted(cmd.Process.Pid)
	}
	if err := json.NewEncoder(stdin).Encode(agentHello{Node: nd.n.Compute + "/" + nd.n.Name}); err != nil {
		return a.failed(err)
	}
	var r agentReady
	if err := a.dec.Decode(&r); err != nil {
		return a.failed(err)
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

// waitReady waits until the agent listens.
func (a *agentProc) waitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		return a.readyErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ask sends a request and reads its results. The agent answers within
// the request's timeout.
func (a *agentProc) ask(req agentRequest) ([]agentResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := json.NewEncoder(a.stdin).Encode(req); err != nil {
		return nil, a.failed(err)
	}
	var results []agentResult
	if err := a.dec.Decode(&results); err != nil {
		return nil, a.failed(err)
	}
	if len(results) != len(req.Probes) {
		return nil, fmt.Errorf("%d results for %d probes", len(results), len(req.Probes))
	}
	return results, nil
}

// failed is err with what the agent said on stderr.
func (a *agentProc) failed(err error) error {
	if msg := strings.TrimSpace(a.stderr.String()); msg != "" {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// headBuffer keeps the first 4 KiB written to it; it is written by the
// process's copying goroutine and read by the fabric's.
type headBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p[:min(len(p), max(0, 4096-b.buf.Len()))])
	return len(p), nil
}

func (b *headBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stop ends the agent: its stdin closes, and it is killed if it does not
// end by itself at once.
func (a *agentProc) stop() {
	<-a.ready
	if a.cmd == nil {
		return
	}
	a.stdin.Close()
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		a.cmd.Process.Kill()
		<-done
	}
}
