package requirements

// Rule describes a finding code: what it means, where the rule comes from,
// and how to fix it. Codes are stable: reports, SARIF rule ids and
// docs/findings.md use them.
type Rule struct {
	Code     string
	Severity Severity // the usual severity; some findings are raised at another level, as their message says
	Title    string
	// References are the Azure articles (by title) or securetrain docs
	// pages the rule comes from.
	References []string
	Meaning    string
	Fix        string
}

// Rules is every finding Check can raise, in documentation order.
var Rules = []Rule{
	// Required flows (spec §2, §4.3, §5).
	{"required-outbound-blocked", Error, "A flow the compute needs is blocked", []string{articleNetworkTraffic, articleTrainingVNet},
		"An outbound flow Azure ML needs from the compute's nodes (to a service tag, or its FQDN form through a firewall) is denied, has no route, or has no way out. Errors stop the compute from being created or working; warnings lose a feature.",
		"Allow the flow where the report says it is blocked: an NSG rule above the denying one, a firewall rule, a route, or a NAT gateway."},
	{"required-inbound-blocked", Error, "Azure ML cannot reach a public-IP compute", []string{articleNetworkTraffic, articleTrainingVNet},
		"Inbound TCP 44224 from AzureMachineLearning to a compute with a public IP is denied, or its reply leaves through an appliance (asymmetric routing).",
		"Allow inbound TCP 44224 from AzureMachineLearning in the subnet NSG; behind a firewall add a route AzureMachineLearning -> Internet; or use a compute without public IP."},
	{"package-host-blocked", Warning, "Package hosts are unreachable", []string{articleNetworkTraffic},
		"The compute works but cannot install packages from PyPI, conda, CRAN or PyTorch.",
		"Allow outbound HTTPS to the package hosts (firewall application rules for pypi.org, *.pythonhosted.org, *.anaconda.org, …)."},
	{"workspace-dns-not-private", Error, "The workspace name does not resolve to its private endpoint", []string{articleCustomDNS, articleTrainingVNet},
		"From the compute, the workspace's API name (<workspace-guid>.workspace.<region>.api.azureml.ms) does not resolve to an address of the workspace's private endpoint; or, for a compute instance of a workspace with public network access disabled, its notebooks name (ml-<workspace>-<region>-<workspace-guid>.<region>.notebooks.azure.net) does not (zone not linked, record missing, or a custom DNS server that does not forward to 168.63.129.16).",
		"Link privatelink.api.azureml.ms and privatelink.notebooks.azure.net to the compute's VNet with the endpoint's records, or forward these zones to 168.63.129.16 from the custom DNS server."},
	{"storage-refuses-compute", Error, "The default storage refuses the compute", []string{articleStorageFirewall, articleNetworkTraffic, articleTrainingVNet},
		"The compute reaches the workspace's default storage account through its public endpoint, and the account's own network rules refuse it: publicNetworkAccess Disabled (private endpoints only); networkAcls.defaultAction Deny with the compute's subnet not in virtualNetworkRules (traffic through a Microsoft.Storage service endpoint), or with the address the compute leaves by not in ipRules (ipRules have no effect on requests from the account's own region). bypass AzureServices admits trusted Azure services, not the compute.",
		"Add the compute's subnet, with the Microsoft.Storage service endpoint, to the account's virtualNetworkRules; or give the account private endpoints (blob and file) in the compute's VNet or a peered VNet with the privatelink DNS zones linked."},
	{"storage-dns-not-private", Error, "The default storage does not resolve to its private endpoint", []string{articleCustomDNS, articleStorageFirewall},
		"The workspace's storage account has a private endpoint, but from the compute its blob or file name resolves elsewhere. An error when the account does not accept the compute through its public endpoint (network rules, publicNetworkAccess Disabled); otherwise a warning: the compute works, without the private path.",
		"Link privatelink.blob.core.windows.net and privatelink.file.core.windows.net to the compute's VNet with the endpoint's records."},
	// Prerequisites and limitations (spec §1, §4, §8.3, §9, §10).
	{"vnet-other-subscription", Error, "The VNet is in another subscription", []string{articleTrainingVNet},
		"Azure ML computes must use a virtual network in the workspace's subscription.",
		"Use a VNet in the workspace's subscription."},
	{"subnet-delegated", Error, "The subnet is delegated", []string{articleTrainingVNet, articleDelegation},
		"A subnet delegated to a service cannot hold Azure ML computes (AllocationFailed).",
		"Remove the delegation or use another subnet."},
	{"subnet-too-small", Error, "Not enough free addresses", []string{articleTrainingVNet, articleVNetFAQ},
		"The subnet's usable addresses (size minus 5 reserved, minus addresses in use) do not cover one per instance and one per cluster node at maxNodeCount of every compute in it. An instance that does not fit fails (error); a cluster allocates only what fits (warning).",
		"Use a larger subnet, or lower maxNodeCount."},
	{"no-public-ip-needs-private-endpoint", Error, "A compute without public IP needs a workspace private endpoint", []string{articleTrainingVNet},
		"enableNodePublicIp false requires the workspace to have a private endpoint (Azure: \"EnableNodePublicIp 'False' requires workspace private endpoint\").",
		"Add a private endpoint for the workspace, or give the compute a public IP."},
	{"instance-location-mismatch", Error, "A compute instance is outside the workspace's region or VNet", []string{articleTrainingVNet},
		"Only clusters may use another region or VNet; a compute instance must be in the workspace's region and, with a workspace private endpoint, in the endpoint's VNet.",
		"Create the instance in the workspace's region and VNet."},
	{"vnet-other-region", Error, "The VNet is in another region than the compute", []string{articleTrainingVNet, articleBatchVNet},
		"A compute's nodes are created in its region (its location, else the workspace's), and only in a VNet of that region (Azure Batch: \"The VNet must be in the same subscription and region as the Batch account\"). Azure refuses the compute.",
		"Use a VNet in the compute's region; a cluster may be created in another region than its workspace: set its location to the VNet's region."},
	{"compute-name-invalid", Error, "Invalid compute name", []string{articleCompute, docSemantics},
		"Instance names: 3–24 letters, digits and hyphens, starting with a letter, every hyphen followed later by a letter. Cluster names: 2–16 letters, digits and hyphens (ARM naming rules).",
		"Rename the compute."},
	{"instance-name-not-unique", Error, "Compute instance name used twice in a region", []string{articleCompute},
		"Compute instance names are unique across all computes of a region.",
		"Rename one of them."},
	{"docker-bridge-overlap", Error, "The address space overlaps Docker's bridge", []string{articleTrainingVNet},
		"Azure ML nodes run Docker, whose bridge uses 172.17.0.0/16: a compute subnet there breaks node networking (error); elsewhere in the VNet it is risky (warning).",
		"Use an address space outside 172.17.0.0/16."},
	{"attached-vm-ssh-blocked", Error, "Azure ML cannot reach an attached VM over SSH", []string{articleTrainingVNet},
		"Azure ML manages an attached VirtualMachine compute over SSH from the AzureMachineLearning service tag: inbound TCP 22 must reach the VM's public IP through its NSGs.",
		"Give the VM's NIC a public IP and allow inbound TCP 22 from AzureMachineLearning in its subnet and NIC NSGs."},
	{"attached-vm-not-ubuntu", Error, "An attached VM does not run Ubuntu", []string{articleTrainingVNet},
		"Azure ML attaches Ubuntu virtual machines only. The VM (Microsoft.Compute/virtualMachines, matched by the compute's resourceId) has a marketplace image that is not Ubuntu (publisher Canonical, or an offer or SKU naming Ubuntu), or a Windows OS disk.",
		"Attach an Ubuntu VM, or use a compute cluster or instance."},
	{"databricks-other-subscription", Error, "An attached Databricks workspace is in another subscription", []string{articleTrainingVNet},
		"Azure ML can use a Databricks workspace only from the same subscription (and region) as the ML workspace; the compute's resourceId names another subscription.",
		"Attach a Databricks workspace from the ML workspace's subscription, or create the ML workspace there."},
	{"attached-compute-not-verified", Info, "An attached compute is not verified", []string{articleTrainingVNet},
		"HDInsight and Databricks computes are not modelled; for an attached VM, a VM missing from the file or built from a custom image (no marketplace image reference) cannot be checked for Ubuntu, and a VM whose network interface or public IP address is not in the file cannot be checked for SSH.",
		"Add the VM (with storageProfile.imageReference), its network interface (with properties.virtualMachine) and its public IP address to the file to have it checked."},
	{"lock-on-vnet-resource-group", Error, "A lock on the VNet's resource group", []string{articleTrainingVNet},
		"Azure ML creates an NSG, a load balancer and a public IP in the VNet's resource group for a compute with a public IP, and removes them when a cluster scales to 0 or a compute is deleted. A ReadOnly lock stops creation (error); a CanNotDelete lock leaves a cluster stuck resizing (error) and makes deleting an instance fail (warning).",
		"Remove the lock from the VNet's resource group, or use computes without public IP."},
	{"policy-denies-network-resources", Error, "A policy forbids what Azure ML must create", []string{articleTrainingVNet},
		"An enforced \"Not allowed resource types\" policy assignment covering the VNet's resource group lists a type Azure ML creates for public-IP computes (NSG, load balancer, public IP), or covering the workspace's group lists workspaces/computes: creation fails with RequestDisallowedByPolicy.",
		"Exempt the resource group (notScopes or a policy exemption), or use computes without public IP."},
	// Region rules Azure enforces when it links resources.
	{"dns-ruleset-link-other-region", Error, "A DNS forwarding ruleset is linked to a VNet in another region", []string{articleDNSResolver},
		"A ruleset link joins a DNS forwarding ruleset to a VNet of another region; Azure refuses it (\"A ruleset can't be linked to a virtual network in another region\").",
		"Link the VNet to a ruleset of its own region, with an outbound endpoint of a DNS resolver in that region."},
	{"service-endpoint-policy-other-region", Error, "A subnet uses a service endpoint policy of another region", []string{articleSEPolicy},
		"A subnet's serviceEndpointPolicies names a policy whose region is not the VNet's; Azure refuses it (\"Virtual networks must be in the same region as the service endpoint policy\").",
		"Create the service endpoint policy in the VNet's region and attach that one."},
	{"service-endpoint-policy-without-endpoint", Error, "A service endpoint policy on a subnet without the matching service endpoint", []string{articleSEPolicy},
		"A subnet uses a service endpoint policy listing a service (Microsoft.Storage; Global aliases such as /services/Azure/MachineLearning filter storage traffic too) for which the subnet has no service endpoint; Azure refuses it (\"You can only apply service endpoint policy on a subnet if service endpoints are configured for the Azure services listed in the policy\").",
		"Enable the service endpoint (Microsoft.Storage) on the subnet together with the policy."},
	// Security findings beyond Azure's checks (spec §6, §8).
	{"port-open-to-internet", Error, "A port is open to the internet", []string{articleNSG},
		"An NSG allows inbound traffic from Internet, * or 0.0.0.0/0. SSH (22) and RDP (3389) are errors; other ports warnings.",
		"Restrict the rule's source to the addresses that need access, or use Azure Bastion / a private path."},
	{"storage-exfiltration-risk", Warning, "Outbound to all of Storage or Front Door without a service endpoint policy", []string{articleExfiltration},
		"A compute subnet allows outbound traffic to Storage (or AzureFrontDoor.Frontend) with no service endpoint policy: data can be copied to any storage account.",
		"Attach a service endpoint policy listing the workspace's storage accounts (and /services/Azure/MachineLearning), and enable the Microsoft.Storage service endpoint."},
	{"default-outbound-access", Warning, "Relies on default outbound access", []string{articleDefaultOutbound},
		"A compute subnet reaches the internet through Azure's implicit default outbound access, which is retired for new VNets and has changing addresses.",
		"Attach a NAT gateway, or route 0.0.0.0/0 to a firewall."},
	{"nsg-rule-shadowed", Warning, "An NSG rule can never match", []string{articleNSG},
		"Every flow the rule matches is matched first by a rule with a lower priority number, so it never decides anything.",
		"Remove the rule, or move it above the rule that shadows it."},
	{"nsg-rule-duplicate", Warning, "Two NSG rules are the same", []string{articleNSG},
		"Two rules of one NSG and direction match the same flows with the same access.",
		"Remove one of them."},
	{"address-space-overlap", Error, "Peered or connected address spaces overlap", []string{articleVNetFAQ},
		"Peered VNets whose address spaces overlap cannot route to each other (error); unpeered VNets that overlap cannot be peered later (info).",
		"Re-address one of the VNets."},
}

// RuleFor returns the rule of a code.
func RuleFor(code string) (Rule, bool) {
	for _, r := range Rules {
		if r.Code == code {
			return r, true
		}
	}
	return Rule{}, false
}

// The Azure articles the rules come from, by title (learn.microsoft.com),
// and the securetrain page that records the readings where they disagree.
const (
	articleTrainingVNet    = "Secure an Azure Machine Learning training environment with virtual networks"
	articleNetworkTraffic  = "Configure inbound and outbound network traffic"
	articleExfiltration    = "Azure Machine Learning data exfiltration prevention"
	articleCustomDNS       = "How to use your workspace with a custom DNS server"
	articleNSG             = "Azure network security groups overview"
	articleRouting         = "Virtual network traffic routing"
	articleVNetFAQ         = "Azure Virtual Network frequently asked questions (FAQ)"
	articleDefaultOutbound = "Default outbound access in Azure"
	articleDelegation      = "What is subnet delegation?"
	articleCompute         = "Create an Azure Machine Learning compute instance"
	articleBatchVNet       = "Create an Azure Batch pool in a virtual network"
	articleDNSResolver     = "Azure DNS Private Resolver endpoints and rulesets"
	articleSEPolicy        = "Virtual network service endpoint policies for Azure Storage"
	articleStorageFirewall = "Configure Azure Storage firewalls and virtual networks"
	docSemantics           = "securetrain docs/semantics.md"
)
