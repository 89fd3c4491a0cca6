package resources

// Decoders of Azure Machine Learning workspaces and computes, and of the
// storage accounts they depend on.

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"securetrain/internal/arm"
)

func decodeStorageAccount(r *res) *StorageAccount {
	p := r.props
	p.ignore("accessTier", "allowBlobPublicAccess", "allowCrossTenantReplication", "allowedCopyScope",
		"azureFilesIdentityBasedAuthentication", "blobRestoreStatus", "creationTime", "customDomain",
		"defaultToOAuthAuthentication", "dnsEndpointType", "dualStackEndpointPreference", "enableExtendedGroups",
		"encryption", "failoverInProgress", "geoReplicationStats", "immutableStorageWithVersioning", "isHnsEnabled",
		"isLocalUserEnabled", "isNfsV3Enabled", "isSftpEnabled", "isSkuConversionBlocked", "keyCreationTime",
		"keyPolicy", "largeFileSharesState", "lastGeoFailoverTime", "minimumTlsVersion", "primaryEndpoints",
		"primaryLocation", "privateEndpointConnections", "routingPreference", "sasPolicy", "secondaryEndpoints",
		"secondaryLocation", "statusOfPrimary", "statusOfSecondary", "storageAccountSkuConversionStatus",
		"supportsHttpsTrafficOnly", "accountMigrationInProgress", "provisioningState")
	p.enum("accountType", false, olderStorageAccountTypes...)
	sa := &StorageAccount{Meta: r.meta(),
		PublicNetworkAccess:  p.enum("publicNetworkAccess", false, "Enabled", "Disabled", "SecuredByPerimeter"),
		AllowSharedKeyAccess: p.optBool("allowSharedKeyAccess"),
	}
	acl := p.child("networkAcls")
	// Resource access rules admit Azure resource instances, not networks.
	acl.ignore("resourceAccessRules", "ipv6Rules")
	sa.DefaultAction = acl.enum("defaultAction", !acl.v.IsZero(), "Allow", "Deny")
	if b := acl.get("bypass", arm.String); !b.IsZero() {
		for part := range strings.SplitSeq(b.Str(), ",") {
			if _, ok := canonical(strings.TrimSpace(part), storageBypass); !ok {
				acl.errf(b.Line(), "networkAcls.bypass %q must be a comma list of %s", b.Str(), strings.Join(storageBypass, ", "))
				break
			}
		}
		sa.Bypass = b.Str()
	}
	for _, it := range acl.items("ipRules") {
		it.enum("action", false, "Allow")
		v := it.needStr("value")
		if v == "" {
			continue
		}
		var err error
		if strings.Contains(v, "/") {
			_, err = parseIPv4Prefix(v)
		} else {
			_, err = parseIPv4(v)
		}
		if err != nil {
			it.errf(it.lineOf("value"), "%s %v", it.name("value"), err)
			continue
		}
		sa.IPRules = append(sa.IPRules, v)
	}
	for _, it := range acl.items("virtualNetworkRules") {
		it.ignore("state")
		it.enum("action", false, "Allow")
		if ref := it.idString("id", TypeSubnet, true, false); ref.IsSet() {
			sa.VirtualNetworkRules = append(sa.VirtualNetworkRules, ref)
		}
	}
	return sa
}

var storageBypass = []string{"None", "Logging", "Metrics", "AzureServices"}

func decodeWorkspace(r *res) *Workspace {
	id := r.env.child("identity")
	id.enum("type", false, "None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned")
	id.ignore("userAssignedIdentities", "principalId", "tenantId")
	p := r.props
	// serverlessComputeSettings places serverless jobs, which are not computes of the file.
	p.ignore("friendlyName", "description", "v1LegacyMode", "allowPublicAccessWhenBehindVnet", "imageBuildCompute",
		"primaryUserAssignedIdentity", "encryption", "discoveryUrl", "mlFlowTrackingUri", "notebookInfo",
		"privateEndpointConnections", "privateLinkCount", "serviceProvisionedResourceGroup", "storageHnsEnabled",
		"tenantId", "sharedPrivateLinkResources", "serverlessComputeSettings", "enableDataIsolation",
		"featureStoreSettings", "associatedWorkspaces", "hubResourceId", "systemDatastoresAuthMode",
		"workspaceHubConfig", "ipAllowlist", "keyVaults", "containerRegistries", "storageAccounts",
		"existingWorkspaces", "softDeleteRetentionInDays", "softDeleteEnabled", "enableServiceSideCMKEncryption",
		"enableSoftwareBillOfMaterials", "allowRoleAssignmentOnRG", "agentsEndpointUri", "provisionNetworkNow",
		"provisioningState")
	p.ignore(olderWorkspaceFields...)
	// The workspace's dependencies may live outside the file.
	ws := &Workspace{Meta: r.meta(),
		StorageAccount:      p.idString("storageAccount", TypeStorageAccount, false, true),
		KeyVault:            p.idString("keyVault", TypeKeyVault, false, true),
		ApplicationInsights: p.idString("applicationInsights", TypeAppInsights, false, true),
		ContainerRegistry:   p.idString("containerRegistry", TypeRegistry, false, true),
		PublicNetworkAccess: p.enum("publicNetworkAccess", false, "Enabled", "Disabled"),
		// The machine-learning-advanced quickstart sends "false".
		HBIWorkspace: p.textBoolean("hbiWorkspace", false),
		WorkspaceID:  p.str("workspaceId"),
	}
	mn := p.child("managedNetwork")
	mn.ignore("outboundRules", "status", "firewallSku", "networkId", "changeableIsolationModes")
	ws.ManagedNetworkIsolation = mn.enum("isolationMode", false, "Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound")
	if ws.ManagedNetworkIsolation == "" {
		ws.ManagedNetworkIsolation = "Disabled"
	}
	return ws
}

var (
	computeTypes = []string{ComputeAml, ComputeInstance, ComputeVM, ComputeHDInsight, ComputeDatabricks}
	// azureComputeTypes are all of Azure's; the ones beyond computeTypes are
	// recognised only to say they are not supported.
	azureComputeTypes = append(slices.Clone(computeTypes), "AKS", "Kubernetes", "DataFactory", "DataLakeAnalytics", "SynapseSpark")
	// attachedResourceTypes are the types of resourceId for attached computes.
	attachedResourceTypes = map[string]string{
		ComputeVM:         TypeVirtualMachine,
		ComputeHDInsight:  "Microsoft.HDInsight/clusters",
		ComputeDatabricks: "Microsoft.Databricks/workspaces",
	}
)

// Runtime fields are what the control plane's provisioning owns in a
// compute's body: requests cannot set them, the server writes them, and the
// decoder reads past them (only a cluster's currentNodeCount is typed).
var (
	// ComputeRuntimeProperties are in properties.
	ComputeRuntimeProperties = []string{"provisioningState", "provisioningErrors", "createdOn", "modifiedOn", "isAttachedCompute"}
	// ClusterRuntimeFields and InstanceRuntimeFields are in
	// properties.properties of an AmlCompute and a ComputeInstance.
	ClusterRuntimeFields = []string{"allocationState", "allocationStateTransitionTime", "currentNodeCount", "targetNodeCount",
		"nodeStateCounts", "errors"}
	InstanceRuntimeFields = []string{"errors", "state", "lastOperation", "connectivityEndpoints", "applications", "createdBy",
		"versions", "osImageMetadata"}
)

// decodeCompute reads a workspace compute. Naming and sizing rules (§9)
// are findings of a later check, not shape errors.
func decodeCompute(r *res) *Compute {
	p := r.props
	p.ignore("disableLocalAuth")
	p.ignore(ComputeRuntimeProperties...)
	c := &Compute{Meta: r.meta(), EnableNodePublicIP: true, Description: p.str("description")}
	c.Body, _ = plain(r.env.v).(arm.Body)
	c.Workspace, _ = r.id.Parent()
	if c.ComputeLocation = p.str("computeLocation"); c.ComputeLocation == "" {
		c.ComputeLocation = r.meta().Location
	}
	c.ComputeType = p.enum("computeType", true, azureComputeTypes...)
	if c.ComputeType != "" && !slices.Contains(computeTypes, c.ComputeType) {
		p.errf(p.lineOf("computeType"), "computeType %s is not supported; supported: %s", c.ComputeType, strings.Join(computeTypes, ", "))
		c.ComputeType = ""
	}
	attached := attachedResourceTypes[c.ComputeType]
	// The attached resource may live anywhere.
	c.ResourceID = p.idString("resourceId", attached, attached != "", true)
	in := p.child("properties")
	switch c.ComputeType {
	case ComputeAml:
		amlComputeProperties(in, c)
	case ComputeInstance:
		computeInstanceProperties(in, c)
	case ComputeVM, ComputeHDInsight:
		in.ignore("address", "administratorAccount", "isNotebookInstanceCompute", "notebookServerPort")
		// Azure ML manages an attached VM over SSH; the check is on port 22.
		if port, ok := in.integer("sshPort", 1, 65535, false); ok && port != 22 {
			in.refuse("sshPort", strconv.Itoa(port), "Azure ML's SSH to an attached VM is checked on port 22")
		}
		c.VMSize = in.str("virtualMachineSize")
	case ComputeDatabricks:
		in.ignore("databricksAccessToken", "workspaceUrl")
	default:
		// Without a valid computeType the shape of properties is unknown.
		in.ignoreRest()
	}
	return c
}

func amlComputeProperties(in *obj, c *Compute) {
	in.ignore("userAccountCredentials", "virtualMachineImage", "propertyBag", "isolatedNetwork")
	in.ignore(ClusterRuntimeFields...)
	c.VMSize = in.str("vmSize")
	c.VMPriority = in.enum("vmPriority", false, "Dedicated", "LowPriority")
	c.Subnet = in.ref("subnet", TypeSubnet)
	c.EnableNodePublicIP = in.boolean("enableNodePublicIp", true)
	c.RemoteLoginPortPublicAccess = in.enum("remoteLoginPortPublicAccess", false, "Enabled", "Disabled", "NotSpecified")
	c.OSType = in.enum("osType", false, "Linux", "Windows")
	c.CurrentNodeCount, _ = in.integer("currentNodeCount", 0, math.MaxInt32, false)
	ss := in.child("scaleSettings")
	c.NodeIdleTimeBeforeScaleDown = ss.str("nodeIdleTimeBeforeScaleDown")
	c.MinNodeCount, _ = ss.integer("minNodeCount", 0, math.MaxInt32, false)
	maxNodes, ok := ss.integer("maxNodeCount", 0, math.MaxInt32, true)
	c.MaxNodeCount = maxNodes
	if ok && c.MinNodeCount > maxNodes {
		ss.errf(ss.lineOf("minNodeCount"), "%s %d is greater than maxNodeCount %d", ss.name("minNodeCount"), c.MinNodeCount, maxNodes)
	}
}

func computeInstanceProperties(in *obj, c *Compute) {
	in.ignore("computeInstanceAuthorizationType", "applicationSharingPolicy", "personalComputeInstanceSettings",
		"customServices", "schedules", "setupScripts", "idleTimeBeforeShutdown", "enableOSPatching", "enableRootAccess",
		"enableSSO", "releaseQuotaOnStop", "containers", "dataDisks", "dataMounts")
	in.ignore(InstanceRuntimeFields...)
	c.VMSize = in.str("vmSize")
	c.Subnet = in.ref("subnet", TypeSubnet)
	c.EnableNodePublicIP = in.boolean("enableNodePublicIp", true)
	ssh := in.child("sshSettings")
	ssh.ignore("adminPublicKey", "adminUserName", "sshPort")
	c.SSHPublicAccess = ssh.enum("sshPublicAccess", false, "Enabled", "Disabled")
	// A cluster's setting that templates also send to instances, where
	// Azure does not act on it (an instance's SSH is sshSettings').
	in.enum("remoteLoginPortPublicAccess", false, "Enabled", "Disabled", "NotSpecified")
}

func decodeVirtualMachine(r *res) *VirtualMachine {
	p := r.props
	// Only the image and OS type matter here; the rest of a VM's
	// properties are accepted as Azure returns them.
	p.ignore("hardwareProfile", "osProfile", "networkProfile", "diagnosticsProfile", "securityProfile",
		"additionalCapabilities", "availabilitySet", "billingProfile", "capacityReservation", "evictionPolicy",
		"extensionsTimeBudget", "host", "hostGroup", "instanceView", "licenseType", "platformFaultDomain",
		"priority", "provisioningState", "proximityPlacementGroup", "scheduledEventsProfile", "timeCreated",
		"userData", "vmId", "virtualMachineScaleSet", "applicationProfile")
	vm := &VirtualMachine{Meta: r.meta()}
	sp := p.child("storageProfile")
	sp.ignore("dataDisks", "diskControllerType", "alignRegionalDisksToVMZone")
	img := sp.child("imageReference")
	img.ignore("version", "exactVersion", "id", "sharedGalleryImageId", "communityGalleryImageId")
	vm.ImagePublisher, vm.ImageOffer, vm.ImageSKU = img.str("publisher"), img.str("offer"), img.str("sku")
	disk := sp.child("osDisk")
	disk.ignoreRest()
	vm.OSType = disk.enum("osType", false, "Linux", "Windows")
	return vm
}
