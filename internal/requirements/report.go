// Package requirements holds the secure-training rules of Azure Machine
// Learning (spec azure-requirements.md §1–§10): the flows each compute needs,
// the prerequisites Azure checks, and the security findings a careful
// reviewer adds. Check evaluates them on a compiled network and returns a
// Report of findings, each with a stable code, a severity, the resource, a
// message naming the rule or route involved, and a fix.
package requirements

import "securetrain/internal/netverify"

// Severity of a finding.
type Severity string

// Severities, from most to least serious.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Finding is one thing Check found.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	// Resource is the ARM id of the offending resource; Position its file
	// and line ("env.yaml:42") when it came from a file.
	Resource string `json:"resource"`
	Position string `json:"position,omitempty"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
	// References are the Azure articles (by title) or securetrain docs
	// pages the rule comes from.
	References []string `json:"references"`
}

// FlowCheck is one flow a compute needs, and what the verifier says of it.
type FlowCheck struct {
	// Name describes the need: "outbound UDP 5831 to AzureMachineLearning".
	Name       string              `json:"name"`
	Direction  netverify.Direction `json:"direction"`
	From       string              `json:"from"`
	To         string              `json:"to"`
	Protocol   string              `json:"protocol"`
	Port       int                 `json:"port"`
	Severity   Severity            `json:"severity"` // what a blocked flow costs: error (compute fails) or warning
	Why        string              `json:"why"`
	References []string            `json:"references"` // as Finding.References
	// Verdict of the flow (Allowed when an FQDN form passes through a
	// firewall where the tag form does not).
	Verdict netverify.Verdict `json:"verdict"`
	// Result is the verifier's explained answer for the form that decided.
	Result *netverify.Result `json:"result"`
	// code is the finding a blocked flow raises.
	code string
	// dnsReported: a name that does not resolve is reported by its DNS
	// finding, not as a blocked flow.
	dnsReported bool
}

// Status of a compute.
type Status string

// Statuses: OK (no error or warning), Degraded (warnings only: works, but
// something a user needs is missing), WillFail (an error finding).
const (
	OK       Status = "ok"
	Degraded Status = "degraded"
	WillFail Status = "will fail"
)

// ComputeReport is everything Check says about one compute.
type ComputeReport struct {
	Name     string      `json:"name"` // workspace/compute
	ID       string      `json:"id"`
	Position string      `json:"position,omitempty"`
	Type     string      `json:"computeType"`
	PublicIP bool        `json:"enableNodePublicIp"`
	Region   string      `json:"region"`
	Subnet   string      `json:"subnet,omitempty"`
	Status   Status      `json:"status"`
	Summary  string      `json:"summary"`
	Flows    []FlowCheck `json:"flows"`
	Findings []Finding   `json:"findings"`
}

// Report is the result of Check.
type Report struct {
	ServiceTags string          `json:"serviceTags"`
	Computes    []ComputeReport `json:"computes"`
	// Findings are those not tied to one compute (NSGs, subnets, peerings).
	Findings []Finding `json:"findings"`
	Counts   Counts    `json:"counts"`
}

// Counts totals findings by severity over the whole report.
type Counts struct {
	Errors   int `json:"error"`
	Warnings int `json:"warning"`
	Infos    int `json:"info"`
}

// HasErrors reports whether any finding is an error (exit code 1).
func (r *Report) HasErrors() bool { return r.Counts.Errors > 0 }
