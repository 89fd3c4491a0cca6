package api

import (
	"net/http"

	"securetrain/internal/provision"
)

// usagesType is the route of Azure Machine Learning's usages (the SDK's
// UsagesClient): the dedicated cores a subscription's computes hold in a
// region, against its quotas.
const (
	mlNamespace = "Microsoft.MachineLearningServices"
	usagesType  = mlNamespace + "/locations/usages"
)

// usage is one entry of the list, in Azure's shape.
type usage struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Unit         string    `json:"unit"`
	CurrentValue int       `json:"currentValue"`
	Limit        int       `json:"limit"`
	Name         usageName `json:"name"`
}

type usageName struct {
	Value          string `json:"value"`
	LocalizedValue string `json:"localizedValue"`
}

// usagesRoute answers GET /subscriptions/{s}/providers/
// Microsoft.MachineLearningServices/locations/{l}/usages: the regional
// total ("cores", as Azure's compute usages name it) and each VM family's
// cores, in use and allowed (serve's --quotas). Reading them is a read
// action on the subscription, which a Reader there has.
func (s *Server) usagesRoute(w http.ResponseWriter, r *http.Request, who, sub, location string) error {
	if r.Method != http.MethodGet {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported on usages; use GET", r.Method)
	}
	if err := s.requireAPIVersion(r, who, usagesType); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), who, usagesType+"/read", "/subscriptions/"+sub); err != nil {
		return err
	}
	if err := checkLocation(usagesType, location); err != nil {
		return err
	}
	region := normalizeLocation(location)
	used, err := s.engine.Usage(r.Context(), s.store, sub, region)
	if err != nil {
		return err
	}
	base := "/subscriptions/" + sub + "/providers/" + mlNamespace + "/locations/" + region + "/usages/"
	out := make([]usage, len(used))
	for i, u := range used {
		typ, name := mlNamespace+"/totalCores/usages", usageName{"cores", "Total Regional vCPUs"}
		if u.Family != "" {
			typ, name = mlNamespace+"/vmFamily/usages", usageName{u.Family, provision.FamilyTitle(u.Family)}
		}
		out[i] = usage{ID: base + name.Value, Type: typ, Unit: "Count", CurrentValue: u.Used, Limit: u.Limit, Name: name}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}
