package provision

import (
	"encoding/json"
	"strings"
	"testing"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// TestReprobedReplacesOnlyTheNodesErrors: after a re-probe the compute's
// NodeUnusable error says what the nodes are now, and its other errors
// (an allocation's shortfall) stay; an instance follows its node.
func TestReprobedReplacesOnlyTheNodesErrors(t *testing.T) {
	stored := func(errs ...Error) arm.Body {
		pe := make([]any, 0, len(errs))
		for _, e := range errs {
			pe = append(pe, arm.Body{"error": e})
		}
		raw, _ := json.Marshal(arm.Body{"properties": arm.Body{"provisioningErrors": pe, "properties": arm.Body{"state": "Unusable"}}})
		var body arm.Body
		if err := json.Unmarshal(raw, &body); err != nil { // as read from the store
			t.Fatal(err)
		}
		return body
	}
	codes := func(body arm.Body) string {
		raw, _ := json.Marshal(body["properties"].(arm.Body)["provisioningErrors"])
		var es []struct{ Error Error }
		json.Unmarshal(raw, &es)
		var out []string
		for _, e := range es {
			out = append(out, e.Error.Code+": "+e.Error.Message)
		}
		return strings.Join(out, "\n")
	}
	shortfall := Error{Code: "AllocationFailed", Message: "subnet full"}
	old := Error{Code: codeNodeUnusable, Message: "1 of 2 nodes are unusable: UDP 5831 denied by DenyOld"}
	cluster := spec{Compute: &resources.Compute{ComputeType: resources.ComputeAml}}

	body := stored(old, shortfall)
	reprobed(body, cluster, []node{{NodeID: "tvm-0000", State: NodeIdle}, {NodeID: "tvm-0001", State: NodeIdle}})
	if got := codes(body); got != "AllocationFailed: subnet full" {
		t.Errorf("all nodes idle: errors\n%s\nwant only the shortfall", got)
	}

	body = stored(shortfall)
	why := Error{Code: "NSGBlocksRequiredFlow", Message: "UDP 5831 denied by DenyNew"}
	reprobed(body, cluster, []node{{NodeID: "tvm-0000", State: NodeUnusable, Errors: []Error{why}}, {NodeID: "tvm-0001", State: NodeIdle}})
	if got := codes(body); !strings.HasPrefix(got, codeNodeUnusable+": 1 of 2 nodes are unusable: UDP 5831 denied by DenyNew\n") || !strings.HasSuffix(got, "AllocationFailed: subnet full") {
		t.Errorf("a node unusable: errors\n%s", got)
	}

	instance := spec{Compute: &resources.Compute{ComputeType: resources.ComputeInstance}}
	body = stored(old)
	reprobed(body, instance, []node{{NodeID: "tvm-0000", State: NodeIdle}})
	if state := body["properties"].(arm.Body)["properties"].(arm.Body)["state"]; state != "Running" || codes(body) != "" {
		t.Errorf("an instance whose node is idle again: state %v, errors %q", state, codes(body))
	}
	reprobed(body, instance, []node{{NodeID: "tvm-0000", State: NodeUnusable, Errors: []Error{why}}})
	if state := body["properties"].(arm.Body)["properties"].(arm.Body)["state"]; state != "Unusable" {
		t.Errorf("an instance whose node is unusable: state %v", state)
	}
}
