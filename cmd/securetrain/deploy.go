package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"securetrain/internal/template"
)

const deploySynopsis = "--template T.json [--parameters P.json] --subscription S --resource-group G [--name N] [--no-wait] [--url URL] [--token T] [--ca FILE]"

// deployPoll is how often deploy reads the deployment's progress: often
// enough for a person watching, light on the server.
const deployPoll = 250 * time.Millisecond

// runDeploy deploys an ARM template through the server's deployments API
// (as az deployment group create) and shows each resource's progress.
// Exit code: 0 succeeded, 1 failed or canceled, 2 refused or bad input.
func runDeploy(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("deploy", deploySynopsis, stderr)
	tmplFile := fs.String("template", "", "the ARM template `T.json` (required)")
	paramsFile := fs.String("parameters", "", "its parameter values (a deploymentParameters `FILE`)")
	sub := fs.String("subscription", os.Getenv("SECURETRAIN_SUBSCRIPTION"), "`SUBSCRIPTION` id (env SECURETRAIN_SUBSCRIPTION)")
	group := fs.String("resource-group", "", "resource `GROUP` to deploy into (required)")
	name := fs.String("name", "", "deployment `name` (default: the template file's base name)")
	noWait := fs.Bool("no-wait", false, "return once the deployment is accepted")
	c := addClientFlags(fs, false)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if *tmplFile == "" || *sub == "" || *group == "" || len(rest) > 0 {
		return badUsage(fs, "expected --template, --subscription and --resource-group, and no other arguments")
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "securetrain deploy: "+format+"\n", a...)
		return exitBadInput
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(*tmplFile), filepath.Ext(*tmplFile))
	}
	body, err := deploymentRequest(*tmplFile, *paramsFile)
	if err != nil {
		return fail("%v\nnothing was sent", err)
	}
	srv, err := newServerClient(c)
	if err != nil {
		return fail("%v", err)
	}
	path := "/subscriptions/" + *sub + "/resourcegroups/" + *group + "/providers/Microsoft.Resources/deployments/" + *name
	resp, err := srv.do(http.MethodPut, path, body)
	if err != nil {
		fmt.Fprintln(stderr, "securetrain deploy: the deployment was refused; nothing was deployed:")
		writeAPIError(stderr, err)
		var ae *armError
		if errors.As(err, &ae) && ae.status >= 500 {
			return 1
		}
		return exitBadInput
	}
	d, err := decodeDeployment(resp.body)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "deployment %s: %s\n", *name, d.Properties.ProvisioningState)
	if *noWait {
		fmt.Fprintf(stdout, "follow it with: securetrain get %s\n", path)
		return 0
	}
	opsPath := "/subscriptions/" + *sub + "/resourcegroups/" + *group + "/deployments/" + *name + "/operations"
	return followDeployment(srv, path, opsPath, *name, stdout, stderr)
}

// deploymentRequest builds the PUT body from the template and parameter
// files. The template is sent as written: the server evaluates it.
func deploymentRequest(tmplFile, paramsFile string) ([]byte, error) {
	tmpl, err := os.ReadFile(tmplFile)
	if err != nil {
		return nil, fmt.Errorf("--template: %w", err)
	}
	if !json.Valid(tmpl) {
		return nil, fmt.Errorf("%s is not JSON: an ARM template is a JSON object", tmplFile)
	}
	params := map[string]any{}
	if paramsFile != "" {
		raw, err := os.ReadFile(paramsFile)
		if err != nil {
			return nil, fmt.Errorf("--parameters: %w", err)
		}
		values, err := template.ParseParameters(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paramsFile, err)
		}
		for k, v := range values {
			params[k] = map[string]any{"value": template.Plain(v)}
		}
	}
	return json.Marshal(map[string]any{"properties": map[string]any{
		"mode": "Incremental", "template": json.RawMessage(tmpl), "parameters": params,
	}})
}

// deploymentView is what deploy reads of a deployment.
type deploymentView struct {
	Properties struct {
		ProvisioningState string                     `json:"provisioningState"`
		Duration          string                     `json:"duration"`
		Outputs           map[string]json.RawMessage `json:"outputs"`
		Error             *armError                  `json:"error"`
	} `json:"properties"`
}

func decodeDeployment(body []byte) (deploymentView, error) {
	var d deploymentView
	if err := json.Unmarshal(body, &d); err != nil {
		return d, fmt.Errorf("the server's answer is not a deployment: %w", err)
	}
	return d, nil
}

// operationView is what deploy reads of a deployment operation.
type operationView struct {
	OperationID string `json:"operationId"`
	Properties  struct {
		ProvisioningState string `json:"provisioningState"`
		StatusMessage     *struct {
			Error *armError `json:"error"`
		} `json:"statusMessage"`
		TargetResource struct {
			ResourceName string `json:"resourceName"`
			ResourceType string `json:"resourceType"`
		} `json:"targetResource"`
	} `json:"properties"`
}

// followDeployment polls the deployment until it ends, printing each
// resource's operation when its state changes, then the outcome.
func followDeployment(srv *serverClient, path, opsPath, name string, stdout, stderr io.Writer) int {
	shown := map[string]string{} // operation id → state printed
	deadline := time.Now().Add(pollLimit)
	for {
		resp, err := srv.do(http.MethodGet, path, nil)
		if err != nil {
			fmt.Fprintln(stderr, "securetrain deploy: reading the deployment:")
			writeAPIError(stderr, err)
			return 1
		}
		d, err := decodeDeployment(resp.body)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain deploy: %v\n", err)
			return 1
		}
		// The operations are read after the deployment, so that a
		// finished deployment's last operations are all shown.
		if err := showOperations(srv, opsPath, shown, stdout); err != nil {
			fmt.Fprintln(stderr, "securetrain deploy: reading the deployment's operations:")
			writeAPIError(stderr, err)
			return 1
		}
		if terminal(d.Properties.ProvisioningState) {
			return deploymentOutcome(d, name, stdout, stderr)
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "securetrain deploy: the deployment is still %s after %s; follow it with: securetrain get %s\n",
				d.Properties.ProvisioningState, pollLimit, path)
			return 1
		}
		time.Sleep(deployPoll)
	}
}

func showOperations(srv *serverClient, opsPath string, shown map[string]string, stdout io.Writer) error {
	resp, err := srv.do(http.MethodGet, opsPath, nil)
	if err != nil {
		return err
	}
	var page struct {
		Value []operationView `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &page); err != nil {
		return fmt.Errorf("the server's answer is not a list of operations: %w", err)
	}
	for _, op := range page.Value {
		state := op.Properties.ProvisioningState
		if shown[op.OperationID] == state {
			continue
		}
		shown[op.OperationID] = state
		fmt.Fprintf(stdout, "  %-10s %s %s\n", state, op.Properties.TargetResource.ResourceType, op.Properties.TargetResource.ResourceName)
		if m := op.Properties.StatusMessage; m != nil && m.Error != nil {
			writeDetails(stdout, []armError{*m.Error}, "    ")
		}
	}
	return nil
}

func deploymentOutcome(d deploymentView, name string, stdout, stderr io.Writer) int {
	p := d.Properties
	fmt.Fprintf(stdout, "deployment %s: %s (%s)\n", name, p.ProvisioningState, p.Duration)
	if strings.EqualFold(p.ProvisioningState, "Succeeded") {
		keys := make([]string, 0, len(p.Outputs))
		for k := range p.Outputs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i == 0 {
				fmt.Fprintln(stdout, "outputs:")
			}
			var o struct {
				Value json.RawMessage `json:"value"`
			}
			_ = json.Unmarshal(p.Outputs[k], &o) // a secure output has no value
			if o.Value == nil {
				o.Value = json.RawMessage(`(secure)`)
			}
			fmt.Fprintf(stdout, "  %s = %s\n", k, o.Value)
		}
		return 0
	}
	if p.Error != nil {
		fmt.Fprintf(stderr, "securetrain deploy: %s: %s\n", p.Error.Code, p.Error.Message)
		writeDetails(stderr, p.Error.Details, "  ")
	}
	return 1
}
