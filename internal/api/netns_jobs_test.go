//go:build linux

package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// netnsJobClient is a server whose jobs run on a netns fabric of its own,
// with the test network.
func netnsJobClient(t *testing.T) *client {
	t.Helper()
	nf, server := netnsFabric(t, "j", nil)
	opts := jobOptions(t, nil)
	opts.Fabric = nf
	c := newClient(t, opts)
	server.Store(c.srv)
	provisionEnv(t, c, "")
	return c
}

// On the netns fabric a 2-node PyTorch-style job runs in its nodes'
// namespaces: its ranks meet over TCP at node 0's private address. An NSG
// rule denying the rendezvous port inside the subnet fails the next one,
// and the failure names the rule; an NSG rule denying storage fails a job
// in Preparing, as Azure's storage mount does, naming the flow and rule.
func TestNetnsJobRendezvousMeetsTheNSG(t *testing.T) {
	bin := rankBinary(t)
	c := netnsJobClient(t)
	c.start("PUT", wsML+"/computes/gpu"+mlVersion, clusterBody("compute", 0, 2, "PT1H"), http.StatusCreated)
	c.submit("ddp", rendezvousJob("gpu", bin, 30))
	if p := c.waitJob("ddp"); p["status"] != resources.JobCompleted {
		t.Fatalf("job: %v\nrank 0: %s\nrank 1: %s", p, c.log("ddp", "std_log_process_0.txt"), c.log("ddp", "std_log_process_1.txt"))
	}
	rank0, rank1 := c.log("ddp", "std_log_process_0.txt"), c.log("ddp", "std_log_process_1.txt")
	meet := regexp.MustCompile(`rank 0 of 2 meets at (10\.0\.1\.\d+):29500\n`).FindStringSubmatch(rank0)
	if meet == nil || !strings.Contains(rank0, "rank 0 met rank 1") || !strings.Contains(rank1, "rank 1 met rank 0") || !strings.Contains(rank1, "meets at "+meet[1]+":29500") {
		t.Fatalf("the ranks did not meet at node 0's private address:\nrank 0: %s\nrank 1: %s", rank0, rank1)
	}

	deny := `{"properties":{"priority":200,"direction":"Inbound","access":"Deny","protocol":"Tcp","sourceAddressPrefix":"10.0.1.0/24","sourcePortRange":"*","destinationAddressPrefix":"10.0.1.0/24","destinationPortRange":"29500"}}`
	if st, out, _ := c.do("PUT", netNet+"networkSecurityGroups/nsg-compute/securityRules/DenyRendezvous"+netVersion, deny); st != http.StatusCreated {
		t.Fatalf("PUT rule: %d %v", st, out)
	}
	c.submit("blocked", rendezvousJob("gpu", bin, 3))
	p := c.waitJob("blocked")
	msg := fmt.Sprint(arm.EnsureField(p, "error")["message"])
	if p["status"] != resources.JobFailed || !strings.Contains(msg, "rendezvous flow TCP 10.0.1.") || !strings.Contains(msg, "DenyRendezvous") {
		t.Fatalf("job with the rendezvous denied: %v", p)
	}
	// Each rank ran until its own deadline: rank 1 gave up first, saying
	// why, and rank 0 stopped waiting after it. Nothing else ends a rank
	// early (docs/jobs.md: what ends a job's processes), not even another
	// server's job ending on the same host.
	if r0, r1 := c.log("blocked", "std_log_process_0.txt"), c.log("blocked", "std_log_process_1.txt"); !strings.Contains(r1, "no rank 0 at "+meet[1]) ||
		!strings.Contains(r0, "i/o timeout") || strings.Contains(r0, "rank 0 met rank 1") {
		t.Errorf("the ranks did not each give up on their own:\nrank 0: %s\nrank 1: %s", r0, r1)
	}

	denyStorage := `{"properties":{"priority":210,"direction":"Outbound","access":"Deny","protocol":"Tcp","sourceAddressPrefix":"VirtualNetwork","sourcePortRange":"*","destinationAddressPrefix":"Storage","destinationPortRanges":["443","445"]}}`
	if st, out, _ := c.do("PUT", netNet+"networkSecurityGroups/nsg-compute/securityRules/DenyStorage"+netVersion, denyStorage); st != http.StatusCreated {
		t.Fatalf("PUT rule: %d %v", st, out)
	}
	c.submit("nostorage", jobBody("gpu", "echo never runs"))
	p = c.waitJob("nostorage")
	e := arm.EnsureField(p, "error")
	msg = fmt.Sprint(e["message"])
	if p["status"] != resources.JobFailed || e["code"] != "StorageMountError" || !strings.Contains(msg, "Failed to mount storage") ||
		!strings.Contains(msg, "DenyStorage") || !strings.Contains(msg, "Storage") {
		t.Fatalf("job with storage denied: %v", p)
	}
	t.Logf("rendezvous failure: %s\nstorage failure: %s", fmt.Sprint(arm.EnsureField(c.job("blocked"), "error")["message"]), msg)
	if logs, _ := c.get("/jobs/nostorage/userLogs", ""); strings.Contains(logs, "std_log") {
		t.Errorf("the job ran although its storage could not be mounted: %s", logs)
	}
}
