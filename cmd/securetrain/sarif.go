package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/requirements"
)

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/): the subset
// securetrain check writes.

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	// sarifSrcRoot is the base of relative artifact URIs: the directory
	// securetrain ran in.
	sarifSrcRoot = "%SRCROOT%"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                        `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifactLocation `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult                    `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name    string      `json:"name"`
	Version string      `json:"version"`
	Rules   []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      *sarifText         `json:"fullDescription,omitempty"`
	Help                 *sarifText         `json:"help,omitempty"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           map[string]string  `json:"properties,omitempty"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID           string                 `json:"ruleId"`
	RuleIndex        int                    `json:"ruleIndex"`
	Level            string                 `json:"level"`
	Message          sarifText              `json:"message"`
	Locations        []sarifLocation        `json:"locations"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
	Properties       map[string]string      `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogicalLocation struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s requirements.Severity) string {
	switch s {
	case requirements.Error:
		return "error"
	case requirements.Warning:
		return "warning"
	}
	return "note"
}

// toSARIF converts a report: one rule per requirements.Rules entry, one
// result per finding, located at the finding's file and line (or the
// environment file envPath when the finding has no position).
func toSARIF(rep *requirements.Report, envPath string) (*sarifLog, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	driver := sarifDriver{Name: "securetrain", Version: version, Rules: []sarifRule{}}
	index := map[string]int{}
	for _, r := range requirements.Rules {
		index[r.Code] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   r.Code,
			ShortDescription:     sarifText{r.Title},
			FullDescription:      &sarifText{r.Meaning},
			Help:                 &sarifText{r.Fix},
			DefaultConfiguration: sarifConfiguration{sarifLevel(r.Severity)},
			Properties:           map[string]string{"references": strings.Join(r.References, "; ")},
		})
	}
	run := sarifRun{Results: []sarifResult{}}
	relative := false
	// Compute findings first, in report order, then the environment's.
	var all []requirements.Finding
	for _, cr := range rep.Computes {
		all = append(all, cr.Findings...)
	}
	for _, f := range append(all, rep.Findings...) {
		i, ok := index[f.Code]
		if !ok {
			// A code missing from requirements.Rules still needs a rule for
			// the result to be valid.
			i = len(driver.Rules)
			index[f.Code] = i
			driver.Rules = append(driver.Rules, sarifRule{ID: f.Code, ShortDescription: sarifText{f.Code},
				DefaultConfiguration: sarifConfiguration{sarifLevel(f.Severity)}})
		}
		text := f.Message
		if f.Fix != "" {
			text += " Fix: " + f.Fix
		}
		file, line := arm.SplitPosition(f.Position)
		if file == "" {
			file = envPath
		}
		loc := sarifPhysicalLocation{ArtifactLocation: artifactLocation(file, cwd)}
		relative = relative || loc.ArtifactLocation.URIBaseID != ""
		if line > 0 {
			loc.Region = &sarifRegion{StartLine: line}
		}
		res := sarifResult{RuleID: f.Code, RuleIndex: i, Level: sarifLevel(f.Severity), Message: sarifText{text},
			Locations: []sarifLocation{{PhysicalLocation: loc}}}
		if f.Resource != "" {
			res.LogicalLocations = []sarifLogicalLocation{{FullyQualifiedName: f.Resource, Kind: "resource"}}
		}
		if len(f.References) > 0 {
			res.Properties = map[string]string{"references": strings.Join(f.References, "; ")}
		}
		run.Results = append(run.Results, res)
	}
	if relative {
		base := fileURI(cwd)
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		run.OriginalURIBaseIDs = map[string]sarifArtifactLocation{sarifSrcRoot: {URI: base}}
	}
	run.Tool.Driver = driver
	return &sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}, nil
}

// artifactLocation makes a file path a SARIF artifact location: relative
// to cwd (uriBaseId %SRCROOT%) when the file is below it, else an absolute
// file URI.
func artifactLocation(path, cwd string) sarifArtifactLocation {
	abs, err := filepath.Abs(path)
	if err != nil {
		return sarifArtifactLocation{URI: relativeURI(path)}
	}
	if rel, err := filepath.Rel(cwd, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return sarifArtifactLocation{URI: relativeURI(rel), URIBaseID: sarifSrcRoot}
	}
	return sarifArtifactLocation{URI: fileURI(abs)}
}

// relativeURI is the relative URI reference of a relative path, with
// forward slashes and escapes.
func relativeURI(path string) string {
	u := (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath()
	if first, _, _ := strings.Cut(u, "/"); strings.Contains(first, ":") {
		u = "./" + u // not a scheme
	}
	return u
}

// fileURI is the file: URI of an absolute path.
func fileURI(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x -> /C:/x
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}
