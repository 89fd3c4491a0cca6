package api

import (
	"net/http"
	"slices"
	"strings"

	"securetrain/internal/resources"
)

// regions are the locations of Azure's public cloud as ARM names them
// (GET /subscriptions/{s}/locations): every location a resource group or
// a regional resource may take. Service-tag region ids are not used: some
// differ from ARM's names ("centralfrance" for francecentral).
var regions = []string{
	"australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast",
	"belgiumcentral", "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast",
	"centralindia", "centralus", "centraluseuap", "chilecentral", "denmarkeast",
	"eastasia", "eastus", "eastus2", "eastus2euap", "francecentral", "francesouth",
	"germanynorth", "germanywestcentral", "indonesiacentral", "israelcentral", "italynorth",
	"japaneast", "japanwest", "jioindiacentral", "jioindiawest", "koreacentral", "koreasouth",
	"malaysiawest", "mexicocentral", "newzealandnorth", "northcentralus", "northeurope",
	"norwayeast", "norwaywest", "polandcentral", "qatarcentral", "southafricanorth",
	"southafricawest", "southcentralus", "southeastasia", "southindia", "spaincentral",
	"swedencentral", "swedensouth", "switzerlandnorth", "switzerlandwest", "uaecentral",
	"uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westindia",
	"westus", "westus2", "westus3",
}

// normalizeLocation writes a location as ARM does: lower case, no spaces
// ("West US 2" is westus2).
func normalizeLocation(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }

// checkLocation refuses a location that is not one of typ's: ARM's
// LocationNotAvailableForResourceGroup for a resource group,
// LocationNotAvailableForResourceType for the rest.
func checkLocation(typ, location string) error {
	allowed := regions
	if k := resources.KindOf(typ); k != nil && k.Global {
		allowed = []string{"global"}
	}
	if slices.Contains(allowed, normalizeLocation(location)) {
		return nil
	}
	if strings.EqualFold(typ, typeResourceGroup) {
		return newError(http.StatusBadRequest, "LocationNotAvailableForResourceGroup",
			"The provided location %s is not available for resource group. List of available regions is '%s'.",
			resources.Quote(location), strings.Join(allowed, ","))
	}
	return newError(http.StatusBadRequest, "LocationNotAvailableForResourceType",
		"The provided location %s is not available for resource type '%s'. List of available regions for the resource type is '%s'.",
		resources.Quote(location), typ, strings.Join(allowed, ","))
}
