package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// The client commands talk to `securetrain serve`: SECURETRAIN_URL
// (default https://127.0.0.1:8443) and SECURETRAIN_TOKEN, or --url and
// --token; TLS trust comes from SSL_CERT_FILE as for any Go program.

// clientAPIVersions picks the api-version a request needs, by the id's
// last provider (what the Azure SDK for Go modules send).
var clientAPIVersions = []struct{ provider, version string }{
	{"microsoft.authorization/locks", "2016-09-01"},
	{"microsoft.authorization/", "2022-04-01"},
	{"", "2021-04-01"}, // resource groups and subscriptions
}

func apiVersionFor(id string) string {
	lower := strings.ToLower(id)
	provider := ""
	if i := strings.LastIndex(lower, "/providers/"); i >= 0 {
		provider = lower[i+len("/providers/"):]
	}
	for _, v := range clientAPIVersions {
		if strings.HasPrefix(provider, v.provider) {
			return v.version
		}
	}
	return ""
}

type clientFlags struct {
	url, token, apiVersion *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	url := os.Getenv("SECURETRAIN_URL")
	if url == "" {
		url = "https://127.0.0.1:8443"
	}
	return clientFlags{
		url:        fs.String("url", url, "server URL (env SECURETRAIN_URL)"),
		token:      fs.String("token", os.Getenv("SECURETRAIN_TOKEN"), "bearer token (env SECURETRAIN_TOKEN)"),
		apiVersion: fs.String("api-version", "", "api-version (default: the one the Azure SDK uses for the id's type)"),
	}
}

// call sends one request for id and returns the body, or an error that
// carries ARM's code and message.
func (c clientFlags) call(method, id string, body []byte) ([]byte, error) {
	if *c.token == "" {
		return nil, fmt.Errorf("no token: set SECURETRAIN_TOKEN or --token (the admin's is in DATA/admin.token)")
	}
	if !strings.HasPrefix(id, "/") {
		return nil, fmt.Errorf("%q is not a resource id (it starts with /subscriptions/)", id)
	}
	target := strings.TrimSuffix(*c.url, "/") + id
	if !strings.Contains(id, "api-version=") { // a nextLink carries its own
		v := *c.apiVersion
		if v == "" {
			v = apiVersionFor(id)
		}
		sep := "?"
		if strings.Contains(id, "?") {
			sep = "&"
		}
		target += sep + "api-version=" + v
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+*c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return nil, fmt.Errorf("%s %s: %d %s: %s", method, id, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return nil, fmt.Errorf("%s %s: %d", method, id, resp.StatusCode)
	}
	return data, nil
}

// runGet, runList and runDelete: `securetrain get|list|delete ID`.
func runGet(args []string, stdout, stderr io.Writer) int {
	return runClient("get", http.MethodGet, args, stdout, stderr)
}
func runList(args []string, stdout, stderr io.Writer) int {
	return runClient("list", http.MethodGet, args, stdout, stderr)
}
func runDelete(args []string, stdout, stderr io.Writer) int {
	return runClient("delete", http.MethodDelete, args, stdout, stderr)
}

func runClient(name, method string, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(name, "ID [--url URL] [--token T] [--api-version V]", stderr)
	c := addClientFlags(fs)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 {
		fmt.Fprintf(stderr, "usage: securetrain %s ID (a resource id, or for list a collection such as /subscriptions/S/resourceGroups)\n", name)
		return exitBadInput
	}
	if name != "list" {
		data, err := c.call(method, rest[0], nil)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain %s: %v\n", name, err)
			return 1
		}
		if len(data) > 0 {
			var v any
			if json.Unmarshal(data, &v) == nil {
				writeJSON(stdout, v)
			}
		}
		return 0
	}
	// list follows nextLink to the end and prints one array.
	var all []json.RawMessage
	next := rest[0]
	for next != "" {
		data, err := c.call(method, next, nil)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain list: %v\n", err)
			return 1
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			fmt.Fprintf(stderr, "securetrain list: %s is not a list: %v\n", rest[0], err)
			return 1
		}
		all = append(all, page.Value...)
		// The server's nextLink is absolute on the URL we used.
		next = strings.TrimPrefix(page.NextLink, strings.TrimSuffix(*c.url, "/"))
	}
	if all == nil {
		all = []json.RawMessage{}
	}
	writeJSON(stdout, all)
	return 0
}
