package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// TestNetworkChangeReprobesNodes: an NSG rule written through the API
// makes an idle node unusable without any operation, its errors naming
// the flow and the rule; removing the rule makes it idle again.
func TestNetworkChangeReprobesNodes(t *testing.T) {
	c := newClient(t)
	reprobeCycle(t, c, c)
}

// reprobeCycle runs a cluster of one node in the compute subnet through a
// broken and a fixed NSG, written through writer and seen through reader.
func reprobeCycle(t *testing.T, writer, reader *client) {
	t.Helper()
	provisionEnv(t, writer, "")
	if op := writer.start("PUT", wsML+"/computes/cpu"+mlVersion, clusterBody("compute", 1, 2, "PT1H"), http.StatusCreated); op["status"] != "Succeeded" {
		t.Fatalf("create: %v", op)
	}
	nodeState := func(want string) map[string]any {
		t.Helper()
		var node map[string]any
		poll(t, "the node "+want, patient, func() (bool, any) {
			nodes := reader.nodes("cpu")
			if len(nodes) != 1 {
				return false, nodes
			}
			node = nodes[0]
			return node["nodeState"] == want, node
		})
		return node
	}
	idle := nodeState("idle")
	nsg := netNet + "networkSecurityGroups/nsg-compute" + netVersion
	deny := `{"name":"DenyAzureMLUdp","properties":{"priority":200,"direction":"Outbound","access":"Deny","protocol":"Udp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"AzureMachineLearning","destinationPortRange":"5831"}}`
	if st, out, _ := writer.do("PUT", nsg, computeNSG(deny)); st != http.StatusOK {
		t.Fatalf("NSG with the deny: %d %v", st, out)
	}
	broken := nodeState("unusable")
	why := fmt.Sprint(broken["errors"])
	for _, want := range []string{"UDP 5831", "DenyAzureMLUdp"} {
		if !strings.Contains(why, want) {
			t.Errorf("the unusable node's errors lack %q: %s", want, why)
		}
	}
	_, inner := reader.compute("cpu")
	if counts := fmt.Sprint(inner["nodeStateCounts"]); !strings.Contains(counts, "unusableNodeCount:1") || !strings.Contains(fmt.Sprint(inner["errors"]), "DenyAzureMLUdp") {
		t.Errorf("the compute with its node unusable: counts %s, errors %v", counts, inner["errors"])
	}
	if st, out, _ := writer.do("PUT", nsg, computeNSG("")); st != http.StatusOK {
		t.Fatalf("NSG without the deny: %d %v", st, out)
	}
	healed := nodeState("idle")
	if healed["nodeId"] != idle["nodeId"] || healed["errors"] != nil {
		t.Errorf("after the fix: %v, want node %v idle without errors", healed, idle["nodeId"])
	}
	_, inner = reader.compute("cpu")
	if errs, _ := inner["errors"].([]any); len(errs) != 0 || !strings.Contains(fmt.Sprint(inner["nodeStateCounts"]), "idleNodeCount:1") {
		t.Errorf("the compute after the fix: errors %v, counts %v", inner["errors"], inner["nodeStateCounts"])
	}
}

// A job on a cluster whose only node the network made unusable (and whose
// maxNodeCount leaves no room for another) fails at once with the nodes'
// reason, instead of queueing for a fix that may never come.
func TestJobOnUnusableNodesFails(t *testing.T) {
	c := oneNodeCluster(t, nil)
	deny := `{"name":"DenyAzureMLUdp","properties":{"priority":200,"direction":"Outbound","access":"Deny","protocol":"Udp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"AzureMachineLearning","destinationPortRange":"5831"}}`
	if st, out, _ := c.do("PUT", netNet+"networkSecurityGroups/nsg-compute"+netVersion, computeNSG(deny)); st != http.StatusOK {
		t.Fatalf("NSG with the deny: %d %v", st, out)
	}
	poll(t, "the node unusable", patient, func() (bool, any) {
		nodes := c.nodes("cpu")
		return len(nodes) == 1 && nodes[0]["nodeState"] == "unusable", nodes
	})
	c.submit("stuck", jobBody("cpu", "echo never runs"))
	p := c.waitJob("stuck")
	e := arm.EnsureField(p, "error")
	if msg := fmt.Sprint(e["message"]); p["status"] != resources.JobFailed || e["code"] != "NodesUnusable" ||
		!strings.Contains(msg, "UDP 5831") || !strings.Contains(msg, "DenyAzureMLUdp") {
		t.Fatalf("job on the unusable node: %v", p)
	}
}
