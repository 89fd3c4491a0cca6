package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"securetrain/internal/provision"
	"strconv"
	"strings"
	"text/tabwriter"
)

// `securetrain compute SUBCOMMAND` creates and runs Azure ML computes on
// the server, as the Azure ML SDK v1 sample of the seed article does:
// AmlCompute/ComputeInstance.provisioning_configuration, then
// ComputeTarget.create and wait_for_completion(show_output=True). Every
// long-running request is followed with serverClient.await, the poller
// apply uses.

const computeSynopsis = "create|show|list|resize|stop|start|restart|delete|nodes|exec [NAME] --subscription S -g GROUP -w WORKSPACE [flags]"

type computeSubcommand struct {
	name, synopsis, summary string
	run                     func(name string, args []string, stdout, stderr io.Writer) int
}

// computeSubcommands are the subcommands, in the order usage lists them
// (a function: the subcommands read their own synopsis from it).
func computeSubcommands() []computeSubcommand {
	return []computeSubcommand{
		{"create", "NAME --type amlcompute|computeinstance [--vm-size S] [--min-nodes N] [--max-nodes N] [--idle-seconds N] [--location L] [--vnet-resource-group RG] [--vnet V --subnet S] [--no-public-ip] [--ssh-public-access --admin-ssh-key KEY|@FILE] [--no-wait]",
			"create a compute (or use the existing one of that name) and wait for it", runComputeCreate},
		{"show", "NAME", "print a compute as JSON", runComputeShow},
		{"list", "", "list the workspace's computes", runComputeList},
		{"resize", "NAME --nodes N [--no-wait]", "resize a cluster to N nodes, within its scale settings", runComputeResize},
		{"stop", "NAME [--no-wait]", "stop a compute instance", runComputeAction},
		{"start", "NAME [--no-wait]", "start a compute instance", runComputeAction},
		{"restart", "NAME [--no-wait]", "restart a compute instance", runComputeAction},
		{"delete", "NAME [--no-wait]", "delete a compute and what Azure ML created for it", runComputeDelete},
		{"nodes", "NAME", "list a compute's nodes: addresses, state, errors", runComputeNodes},
		{"exec", "[WORKSPACE/]NAME [--node N] [--timeout SECONDS] -- CMD [ARG...]", "run a command in a node (what SSH is in Azure), with its exit code", runComputeExec},
	}
}

func runCompute(args []string, stdout, stderr io.Writer) int {
	return runGroup("compute", computeSynopsis, computeSubcommands(), args, stdout, stderr)
}

// runGroup runs a subcommand of a command group (compute, job).
func runGroup(group, synopsis string, subs []computeSubcommand, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintf(stderr, "usage: securetrain %s %s\n\n", group, synopsis)
		for _, sc := range subs {
			fmt.Fprintf(stderr, "  %-8s %s\n", sc.name, sc.summary)
		}
		fmt.Fprintf(stderr, "\nRun securetrain %s SUBCOMMAND -h for its flags.\n", group)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return exitBadInput
		}
		return 0
	}
	for _, sc := range subs {
		if sc.name == args[0] {
			return sc.run(sc.name, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "securetrain %s: unknown subcommand %q\n\n", group, args[0])
	usage()
	return exitBadInput
}

// computeCmd holds what every subcommand shares: the workspace, the
// server, and the compute's name.
type computeCmd struct {
	command string // the command group, which NAME names one of: compute, job
	name    string // subcommand
	fs      *flag.FlagSet
	client  clientFlags
	sub     string
	group   string
	ws      string
	stderr  io.Writer

	srv *serverClient
	// compute is the positional NAME ("" for list): the compute's, or
	// the job's in a job command.
	compute   string
	validName func(string) error
	exit      int // the exit code when ready returned false
}

// newComputeCmd registers the workspace flags (-g and -w as short forms,
// as az ml has them) and the client flags.
func newComputeCmd(name string, stderr io.Writer) *computeCmd {
	return newWorkspaceCmd("compute", computeSubcommands(), name, validComputeName, stderr)
}

// newWorkspaceCmd is the subcommand name of group (compute, job), one of
// subs, on resources of a workspace, each named by a NAME that valid
// checks.
func newWorkspaceCmd(group string, subs []computeSubcommand, name string, valid func(string) error, stderr io.Writer) *computeCmd {
	synopsis := ""
	for _, sc := range subs {
		if sc.name == name {
			synopsis = sc.synopsis
		}
	}
	c := &computeCmd{command: group, name: name, stderr: stderr, validName: valid}
	c.fs = newFlagSet(group+" "+name, strings.TrimSpace(synopsis+" --subscription S -g GROUP -w WORKSPACE [--url URL] [--token T]"), stderr)
	c.fs.StringVar(&c.sub, "subscription", os.Getenv("SECURETRAIN_SUBSCRIPTION"), "the workspace's `subscription` (env SECURETRAIN_SUBSCRIPTION)")
	c.fs.StringVar(&c.group, "resource-group", "", "the workspace's resource `group`")
	c.fs.StringVar(&c.group, "g", "", "short for --resource-group")
	c.fs.StringVar(&c.ws, "workspace", "", "the Azure ML `workspace`")
	c.fs.StringVar(&c.ws, "w", "", "short for --workspace")
	c.client = addClientFlags(c.fs, false)
	return c
}

// parse reads the arguments (wantName: exactly one NAME, else none).
// When it returns false the command is over (-h, bad input) and code is
// its exit code.
func (c *computeCmd) parse(args []string, wantName bool) (ok bool, code int) {
	code = c.parseCode(args, wantName)
	return code < 0, max(code, 0)
}

// parseCode is parse's work; -1 means go on.
func (c *computeCmd) parseCode(args []string, wantName bool) int {
	rest, err := parseArgs(c.fs, args)
	if err != nil {
		return flagExit(err)
	}
	switch {
	case wantName && len(rest) != 1:
		return c.badInput("expected one %s NAME, got %d arguments", c.command, len(rest))
	case !wantName && len(rest) > 0:
		return c.badInput("unexpected argument %q", rest[0])
	}
	if wantName {
		// Before the workspace flags: a NAME may name the workspace too
		// (compute exec WORKSPACE/NAME).
		c.compute = rest[0]
		if err := c.validName(c.compute); err != nil {
			return c.badInput("%v", err)
		}
	}
	for _, f := range []struct{ flag, value, rule string }{
		{"--subscription", c.sub, " (or set SECURETRAIN_SUBSCRIPTION)"},
		{"--resource-group (-g)", c.group, ""},
		{"--workspace (-w)", c.ws, ""},
	} {
		if f.value == "" {
			return c.badInput("%s is required%s", f.flag, f.rule)
		}
		// A / or ? would change the path the request goes to.
		if strings.ContainsAny(f.value, "/?#") {
			return c.badInput("%s %q must not contain /, ? or #", f.flag, f.value)
		}
	}
	return -1
}

// connect makes the server client (after the flags are checked, so that
// bad input is named before a missing token).
func (c *computeCmd) connect() bool {
	var err error
	if c.srv, err = newServerClient(c.client); err != nil {
		fmt.Fprintf(c.stderr, "securetrain %s %s: %v\n", c.command, c.name, err)
		return false
	}
	return true
}

// validComputeName applies the character rule both compute kinds share
// (spec §9: letters, digits and hyphens, starting with a letter); the
// lengths, which Azure's documents disagree on, are the server's to check.
func validComputeName(name string) error {
	if name == "" {
		return errors.New("the compute name is empty")
	}
	for i, r := range name {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("compute name %q must start with a letter", name)
		}
		if !letter && !(r >= '0' && r <= '9') && r != '-' {
			return fmt.Errorf("compute name %q may contain only letters, digits and hyphens", name)
		}
	}
	return nil
}

func (c *computeCmd) badInput(format string, args ...any) int {
	return badUsage(c.fs, format, args...)
}

// fail prints an ARM or transport error and returns exit code 1.
func (c *computeCmd) fail(err error) int {
	what := c.compute
	if what == "" {
		what = c.ws
	}
	fmt.Fprintf(c.stderr, "securetrain %s %s %s:\n", c.command, c.name, what)
	writeAPIError(c.stderr, err)
	return 1
}

func (c *computeCmd) workspaceID() string {
	return "/subscriptions/" + c.sub + "/resourceGroups/" + c.group + "/providers/Microsoft.MachineLearningServices/workspaces/" + c.ws
}

func (c *computeCmd) computeID() string { return c.workspaceID() + "/computes/" + c.compute }

// computeBody is what the commands read of a compute.
type computeBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties struct {
		ComputeType        string `json:"computeType"`
		ProvisioningState  string `json:"provisioningState"`
		ProvisioningErrors []struct {
			Error armError `json:"error"`
		} `json:"provisioningErrors"`
		Properties struct {
			VMSize           string `json:"vmSize"`
			AllocationState  string `json:"allocationState"`
			CurrentNodeCount int    `json:"currentNodeCount"`
			TargetNodeCount  int    `json:"targetNodeCount"`
			State            string `json:"state"`
			ScaleSettings    struct {
				MinNodeCount int `json:"minNodeCount"`
				MaxNodeCount int `json:"maxNodeCount"`
			} `json:"scaleSettings"`
			NodeStateCounts *provision.NodeStateCounts `json:"nodeStateCounts"`
			Subnet          *struct {
				ID string `json:"id"`
			} `json:"subnet"`
			EnableNodePublicIP *bool `json:"enableNodePublicIp"`
		} `json:"properties"`
	} `json:"properties"`
}

func (b *computeBody) cluster() bool {
	return strings.EqualFold(b.Properties.ComputeType, "AmlCompute")
}

// getCompute reads the compute; a 404 is (nil, nil).
func (c *computeCmd) getCompute() (*computeBody, error) {
	resp, err := c.srv.do(http.MethodGet, c.computeID(), nil)
	var ae *armError
	if errors.As(err, &ae) && ae.status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b computeBody
	if err := json.Unmarshal(resp.body, &b); err != nil {
		return nil, fmt.Errorf("GET %s: the answer is not a compute: %w", c.computeID(), err)
	}
	return &b, nil
}

// writeComputeSummary prints a compute's state, one field a line, and
// its provisioning errors when withErrors (not when the failed
// operation's error, the same one, was just printed).
func writeComputeSummary(w io.Writer, b *computeBody, withErrors bool) {
	p := b.Properties
	in := p.Properties
	fmt.Fprintf(w, "%s (%s, %s)\n", b.Name, p.ComputeType, in.VMSize)
	fmt.Fprintf(w, "  provisioningState: %s\n", p.ProvisioningState)
	if b.cluster() {
		fmt.Fprintf(w, "  allocationState:   %s\n", in.AllocationState)
		fmt.Fprintf(w, "  nodes:             %d current, %d target (min %d, max %d)\n",
			in.CurrentNodeCount, in.TargetNodeCount, in.ScaleSettings.MinNodeCount, in.ScaleSettings.MaxNodeCount)
		if n := in.NodeStateCounts; n != nil && in.CurrentNodeCount > 0 {
			fmt.Fprintf(w, "  node states:       idle %d, running %d, preparing %d, unusable %d, leaving %d, preempted %d\n",
				n.Idle, n.Running, n.Preparing, n.Unusable, n.Leaving, n.Preempted)
		}
	} else if in.State != "" {
		fmt.Fprintf(w, "  state:             %s\n", in.State)
	}
	if in.Subnet != nil && in.Subnet.ID != "" {
		fmt.Fprintf(w, "  subnet:            %s\n", in.Subnet.ID)
	}
	if !withErrors {
		return
	}
	for _, pe := range p.ProvisioningErrors {
		writeOperationError(w, &pe.Error, "  error: ")
	}
}

// writeOperationError prints an operation's (or compute's) error: code
// and message, then each detail on its own line — for a blocked network
// these name the flow, the deciding NSG rule or route, and the fix.
func writeOperationError(w io.Writer, e *armError, prefix string) {
	fmt.Fprintf(w, "%s%s: %s\n", prefix, e.Code, e.Message)
	indent := strings.Repeat(" ", len(prefix)-len(strings.TrimLeft(prefix, " ")))
	writeDetails(w, e.Details, indent+"  ")
}

// wait follows a long-running answer with await (unless --no-wait) and
// prints its outcome. It returns false when the operation failed, having
// printed why.
func (c *computeCmd) wait(resp *response, noWait bool, stdout io.Writer) bool {
	op := resp.header.Get("Azure-AsyncOperation")
	if noWait {
		if op != "" {
			fmt.Fprintf(stdout, "not waiting; the operation: %s\n", op)
		}
		return true
	}
	if err := c.srv.await(resp, c.computeID()); err != nil {
		var ae *armError
		if errors.As(err, &ae) {
			// The operation's own error, not await's wrapping: it names
			// the verb PUT whatever the request was.
			fmt.Fprintln(stdout, "Failed")
			writeOperationError(c.stderr, ae, "securetrain compute "+c.name+" "+c.compute+": ")
		} else {
			fmt.Fprintf(c.stderr, "securetrain compute %s %s: %v\n", c.name, c.compute, err)
		}
		return false
	}
	return true
}

// current reads the compute after an operation; a non-zero code (having
// printed why) when it cannot.
func (c *computeCmd) current() (*computeBody, int) {
	b, err := c.getCompute()
	if err != nil {
		return nil, c.fail(err)
	}
	if b == nil {
		fmt.Fprintf(c.stderr, "securetrain compute %s: compute %s is gone\n", c.name, c.compute)
		return nil, 1
	}
	return b, 0
}

const (
	typeAmlCompute      = "AmlCompute"
	typeComputeInstance = "ComputeInstance"
)

// runComputeCreate is ComputeTarget.create then wait_for_completion.
func runComputeCreate(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	fs := c.fs
	kind := fs.String("type", "", "amlcompute (a cluster) or computeinstance (required)")
	vmSize := fs.String("vm-size", "Standard_DS3_v2", "VM `size`")
	minNodes := fs.Int("min-nodes", 0, "cluster: minimum nodes (0 lets it scale to none)")
	maxNodes := fs.Int("max-nodes", 4, "cluster: maximum nodes")
	idle := fs.Int("idle-seconds", 120, "cluster: idle `seconds` before a node is removed")
	location := fs.String("location", "", "region (default: the workspace's)")
	vnetGroup := fs.String("vnet-resource-group", "", "the VNet's resource `group` (default: -g)")
	vnet := fs.String("vnet", "", "virtual network `name`")
	subnet := fs.String("subnet", "", "subnet `name` in --vnet, or a subnet resource id")
	noPublicIP := fs.Bool("no-public-ip", false, "no public IP on the nodes (needs a workspace private endpoint)")
	sshPublic := fs.Bool("ssh-public-access", false, "open SSH to the nodes from the internet (needs --admin-ssh-key)")
	sshKey := fs.String("admin-ssh-key", "", "SSH public `key`, or @FILE to read it from")
	noWait := fs.Bool("no-wait", false, "return once the create is accepted")
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Validate everything before the first request.
	var computeType string
	switch strings.ToLower(*kind) {
	case "":
		return c.badInput("--type is required: amlcompute or computeinstance")
	case "amlcompute":
		computeType = typeAmlCompute
	case "computeinstance":
		computeType = typeComputeInstance
	default:
		return c.badInput("--type %q must be amlcompute or computeinstance", *kind)
	}
	if computeType == typeComputeInstance {
		for _, f := range []string{"min-nodes", "max-nodes", "idle-seconds"} {
			if set[f] {
				return c.badInput("--%s applies to --type amlcompute only (an instance is one node)", f)
			}
		}
	}
	switch {
	case *vmSize == "":
		return c.badInput("--vm-size must not be empty")
	case *minNodes < 0:
		return c.badInput("--min-nodes %d must be 0 or more", *minNodes)
	case *maxNodes < *minNodes:
		return c.badInput("--max-nodes %d must be at least --min-nodes %d", *maxNodes, *minNodes)
	case *idle < 0:
		return c.badInput("--idle-seconds %d must be 0 or more", *idle)
	}
	subnetID := ""
	switch {
	case strings.HasPrefix(*subnet, "/"):
		// A full id names its VNet and group (az ml's network_settings.subnet).
		if *vnet != "" || *vnetGroup != "" {
			return c.badInput("--subnet is a resource id: drop --vnet and --vnet-resource-group")
		}
		subnetID = *subnet
	case *subnet != "" && *vnet == "":
		return c.badInput("--subnet needs --vnet (the virtual network the subnet is in), or a subnet resource id")
	case *vnet != "" && *subnet == "":
		return c.badInput("--vnet needs --subnet (the subnet the nodes go in)")
	case *vnetGroup != "" && *vnet == "":
		return c.badInput("--vnet-resource-group needs --vnet and --subnet")
	case *subnet != "":
		if strings.ContainsAny(*vnet+*subnet+*vnetGroup, "/?#") {
			return c.badInput("--vnet, --subnet and --vnet-resource-group are names: no /, ? or #")
		}
		g := *vnetGroup
		if g == "" {
			g = c.group
		}
		subnetID = "/subscriptions/" + c.sub + "/resourceGroups/" + g + "/providers/Microsoft.Network/virtualNetworks/" + *vnet + "/subnets/" + *subnet
	}
	if *noPublicIP && subnetID == "" {
		return c.badInput("--no-public-ip needs --vnet and --subnet (a compute without public IP lives in your subnet)")
	}
	if *sshPublic && *noPublicIP {
		return c.badInput("--ssh-public-access needs a public IP: drop --no-public-ip or --ssh-public-access")
	}
	key, err := readSSHKey(*sshKey)
	if err != nil {
		return c.badInput("--admin-ssh-key: %v", err)
	}
	if *sshPublic && key == "" {
		return c.badInput("--ssh-public-access needs --admin-ssh-key (SSH needs a key to log in with)")
	}

	if !c.connect() {
		return exitBadInput
	}
	// As the SDK sample does: use a compute of that name if there is one.
	existing, err := c.getCompute()
	if err != nil {
		return c.fail(err)
	}
	if existing != nil {
		return c.useExisting(existing, computeType, stdout)
	}
	loc := *location
	if loc == "" {
		resp, err := c.srv.do(http.MethodGet, c.workspaceID(), nil)
		if err != nil {
			return c.fail(fmt.Errorf("reading the workspace's location (or pass --location): %w", err))
		}
		var ws struct {
			Location string `json:"location"`
		}
		if err := json.Unmarshal(resp.body, &ws); err != nil || ws.Location == "" {
			fmt.Fprintf(stderr, "securetrain compute create: workspace %s has no location: pass --location\n", c.ws)
			return 1
		}
		loc = ws.Location
	}

	body := computeCreateBody(computeType, computeSpec{
		location: loc, vmSize: *vmSize, subnetID: subnetID, publicIP: !*noPublicIP,
		sshPublic: *sshPublic, sshKey: key, minNodes: *minNodes, maxNodes: *maxNodes, idleSeconds: *idle,
	})
	raw, err := json.Marshal(body)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain compute create: encode the body: %v\n", err)
		return 1
	}
	resp, err := c.srv.do(http.MethodPut, c.computeID(), raw)
	if err != nil {
		return c.fail(err)
	}
	var created computeBody
	_ = json.Unmarshal(resp.body, &created) // a body without a state prints none
	if s := created.Properties.ProvisioningState; s != "" {
		fmt.Fprintln(stdout, s)
	}
	if !c.wait(resp, *noWait, stdout) {
		// The compute's record says what was left (provisioningState Failed).
		if b, err := c.getCompute(); err == nil && b != nil {
			writeComputeSummary(stdout, b, false)
		}
		return 1
	}
	if *noWait {
		return 0
	}
	b, code := c.showAfterProgress(stdout)
	if code != 0 {
		return code
	}
	return c.finalVerdict(b)
}

// showAfterProgress prints wait_for_completion's closing lines, then the
// summary.
func (c *computeCmd) showAfterProgress(stdout io.Writer) (*computeBody, int) {
	b, code := c.current()
	if code != 0 {
		return nil, code
	}
	p := b.Properties
	fmt.Fprintln(stdout, p.ProvisioningState)
	if b.cluster() {
		fmt.Fprintln(stdout, "AmlCompute wait for completion finished")
		if strings.EqualFold(p.ProvisioningState, "Succeeded") && p.Properties.CurrentNodeCount >= p.Properties.ScaleSettings.MinNodeCount {
			fmt.Fprintln(stdout, "Minimum number of nodes requested have been provisioned")
		}
	} else if p.Properties.State != "" {
		fmt.Fprintln(stdout, p.Properties.State)
	}
	writeComputeSummary(stdout, b, true)
	return b, 0
}

// finalVerdict is the exit code of a compute's state: a Failed compute
// (or an unusable instance) is a failure.
func (c *computeCmd) finalVerdict(b *computeBody) int {
	p := b.Properties
	switch {
	case strings.EqualFold(p.ProvisioningState, "Failed"):
		fmt.Fprintf(c.stderr, "securetrain compute %s: compute %s is in state Failed; delete it and create it again once the cause is fixed\n", c.name, c.compute)
		return 1
	case strings.EqualFold(p.Properties.State, "Unusable") || strings.EqualFold(p.Properties.State, "CreateFailed"):
		fmt.Fprintf(c.stderr, "securetrain compute %s: compute instance %s is %s\n", c.name, c.compute, p.Properties.State)
		return 1
	}
	return 0
}

// useExisting is the SDK sample's "Found existing cluster, use it.".
func (c *computeCmd) useExisting(b *computeBody, computeType string, stdout io.Writer) int {
	fmt.Fprintf(stdout, "Found existing compute target %s, using it.\n", c.compute)
	writeComputeSummary(stdout, b, true)
	if !strings.EqualFold(b.Properties.ComputeType, computeType) {
		// Using it would give the caller another kind of compute than asked.
		fmt.Fprintf(c.stderr, "securetrain compute create: %s is a %s, not a %s: pick another name, or delete it first\n",
			c.compute, b.Properties.ComputeType, computeType)
		return 1
	}
	if state := b.Properties.ProvisioningState; !terminal(state) {
		// A GET gives no operation to follow (another create's, or a
		// delete's): say so rather than wait on something else.
		fmt.Fprintf(stdout, "It is %s: follow it with securetrain compute show %s.\n", state, c.compute)
	}
	return c.finalVerdict(b)
}

// computeSpec is what create's flags ask for.
type computeSpec struct {
	location, vmSize, subnetID, sshKey string
	publicIP, sshPublic                bool
	minNodes, maxNodes, idleSeconds    int
}

// computeCreateBody builds the PUT body as the Azure SDK for Go sends it
// (shared/fixtures/arm-requests/amlcompute.put.json and
// computeinstance.put.json).
func computeCreateBody(computeType string, s computeSpec) map[string]any {
	in := map[string]any{"vmSize": s.vmSize, "enableNodePublicIp": s.publicIP}
	if s.subnetID != "" {
		in["subnet"] = map[string]any{"id": s.subnetID}
	}
	access := "Disabled"
	if s.sshPublic {
		access = "Enabled"
	}
	switch computeType {
	case typeAmlCompute:
		in["osType"] = "Linux"
		in["vmPriority"] = "Dedicated"
		in["remoteLoginPortPublicAccess"] = access
		in["scaleSettings"] = map[string]any{
			"minNodeCount":                s.minNodes,
			"maxNodeCount":                s.maxNodes,
			"nodeIdleTimeBeforeScaleDown": "PT" + strconv.Itoa(s.idleSeconds) + "S",
		}
		if s.sshKey != "" {
			// azureuser is the admin Azure ML's own tools default to.
			in["userAccountCredentials"] = map[string]any{"adminUserName": "azureuser", "adminUserSshPublicKey": s.sshKey}
		}
	case typeComputeInstance:
		ssh := map[string]any{"sshPublicAccess": access}
		if s.sshKey != "" {
			ssh["adminPublicKey"] = s.sshKey
		}
		in["sshSettings"] = ssh
	}
	return map[string]any{
		"location":   s.location,
		"properties": map[string]any{"computeType": computeType, "properties": in},
	}
}

// readSSHKey reads --admin-ssh-key: the key, or @FILE.
func readSSHKey(v string) (string, error) {
	if path, ok := strings.CutPrefix(v, "@"); ok {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading the key: %w", err)
		}
		v = string(data)
	}
	v = strings.TrimSpace(v)
	if v != "" && !strings.HasPrefix(v, "ssh-") && !strings.HasPrefix(v, "ecdsa-") {
		return "", errors.New("not an OpenSSH public key (ssh-rsa AAAA…, ssh-ed25519 …)")
	}
	return v, nil
}

func runComputeShow(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	if !c.connect() {
		return exitBadInput
	}
	return c.showJSON(stdout, c.computeID())
}

// showJSON prints the resource id as JSON.
func (c *computeCmd) showJSON(stdout io.Writer, id string) int {
	resp, err := c.srv.do(http.MethodGet, id, nil)
	if err != nil {
		return c.fail(err)
	}
	var v any
	if err := json.Unmarshal(resp.body, &v); err != nil {
		fmt.Fprintf(c.stderr, "securetrain %s show: the answer is not JSON: %v\n", c.command, err)
		return 1
	}
	writeJSON(stdout, v)
	return 0
}

func runComputeList(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	if ok, code := c.parse(args, false); !ok {
		return code
	}
	if !c.connect() {
		return exitBadInput
	}
	var all []computeBody
	// Follow nextLink (absolute, on the server) to the last page.
	for next := c.workspaceID() + "/computes"; next != ""; {
		resp, err := c.srv.do(http.MethodGet, next, nil)
		if err != nil {
			return c.fail(err)
		}
		var page struct {
			Value    []computeBody `json:"value"`
			NextLink string        `json:"nextLink"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			fmt.Fprintf(stderr, "securetrain compute list: the answer is not a list of computes: %v\n", err)
			return 1
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVM SIZE\tPROVISIONING\tSTATE\tNODES")
	for _, b := range all {
		p := b.Properties
		state, nodes := p.Properties.State, "-"
		if b.cluster() {
			state = p.Properties.AllocationState
			nodes = fmt.Sprintf("%d/%d (min %d, max %d)", p.Properties.CurrentNodeCount, p.Properties.TargetNodeCount,
				p.Properties.ScaleSettings.MinNodeCount, p.Properties.ScaleSettings.MaxNodeCount)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, p.ComputeType, dash(p.Properties.VMSize), dash(p.ProvisioningState), dash(state), nodes)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "securetrain compute list: %v\n", err)
		return 1
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runComputeResize(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	nodes := c.fs.Int("nodes", -1, "the node count to reach (required; within the scale settings)")
	noWait := c.fs.Bool("no-wait", false, "return once the resize is accepted")
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	if *nodes < 0 {
		return c.badInput("--nodes is required: a node count of 0 or more")
	}
	if !c.connect() {
		return exitBadInput
	}
	body, _ := json.Marshal(map[string]int{"targetNodeCount": *nodes}) // an int always encodes
	fmt.Fprintf(stdout, "Resizing %s to %d nodes\n", c.compute, *nodes)
	return c.operation(http.MethodPost, c.computeID()+"/resize", body, *noWait, stdout)
}

// runComputeAction runs stop, start and restart of an instance.
func runComputeAction(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	noWait := c.fs.Bool("no-wait", false, "return once the "+name+" is accepted")
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	if !c.connect() {
		return exitBadInput
	}
	verb := map[string]string{"stop": "Stopping", "start": "Starting", "restart": "Restarting"}[name]
	fmt.Fprintf(stdout, "%s %s\n", verb, c.compute)
	return c.operation(http.MethodPost, c.computeID()+"/"+name, nil, *noWait, stdout)
}

// operation sends a long-running request on the compute, waits for it,
// and prints the compute's state after it.
func (c *computeCmd) operation(method, ref string, body []byte, noWait bool, stdout io.Writer) int {
	resp, err := c.srv.do(method, ref, body)
	if err != nil {
		return c.fail(err)
	}
	if !c.wait(resp, noWait, stdout) {
		return 1
	}
	if noWait {
		return 0
	}
	fmt.Fprintln(stdout, "Succeeded")
	b, code := c.current()
	if code != 0 {
		return code
	}
	writeComputeSummary(stdout, b, true)
	return c.finalVerdict(b)
}

func runComputeDelete(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	noWait := c.fs.Bool("no-wait", false, "return once the delete is accepted")
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	if !c.connect() {
		return exitBadInput
	}
	fmt.Fprintf(stdout, "Deleting %s\n", c.compute)
	// Azure ML's DELETE must say what happens to the underlying resource:
	// Delete removes it (Detach would keep it, for attached computes).
	resp, err := c.srv.do(http.MethodDelete, c.computeID()+"?underlyingResourceAction=Delete", nil)
	if err != nil {
		return c.fail(err)
	}
	if resp.status == http.StatusNoContent {
		fmt.Fprintf(stderr, "securetrain compute delete: compute %s not found in workspace %s: nothing was deleted\n", c.compute, c.ws)
		return 1
	}
	if !c.wait(resp, *noWait, stdout) {
		return 1
	}
	if !*noWait {
		fmt.Fprintf(stdout, "Deleted compute target %s\n", c.compute)
	}
	return 0
}

func runComputeNodes(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	if !c.connect() {
		return exitBadInput
	}
	resp, err := c.srv.do(http.MethodPost, c.computeID()+"/listNodes", nil)
	if err != nil {
		return c.fail(err)
	}
	var info struct {
		Nodes []struct {
			NodeID    string     `json:"nodeId"`
			PrivateIP string     `json:"privateIpAddress"`
			PublicIP  string     `json:"publicIpAddress"`
			Port      int        `json:"port"`
			NodeState string     `json:"nodeState"`
			Errors    []armError `json:"errors"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(resp.body, &info); err != nil {
		fmt.Fprintf(stderr, "securetrain compute nodes: the answer is not a node list: %v\n", err)
		return 1
	}
	if len(info.Nodes) == 0 {
		fmt.Fprintf(stdout, "%s has no nodes\n", c.compute)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPRIVATE IP\tPUBLIC IP:PORT\tSTATE")
	for _, n := range info.Nodes {
		public := "-"
		if n.PublicIP != "" {
			public = n.PublicIP
			if n.Port != 0 {
				public += ":" + strconv.Itoa(n.Port)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.NodeID, dash(n.PrivateIP), public, dash(n.NodeState))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "securetrain compute nodes: %v\n", err)
		return 1
	}
	// Errors after the table: they are sentences, too long for a column.
	for _, n := range info.Nodes {
		for i := range n.Errors {
			writeOperationError(stdout, &n.Errors[i], n.NodeID+": ")
		}
	}
	return 0
}
