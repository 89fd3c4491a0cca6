package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"securetrain/internal/resources"
)

// The client commands talk to `securetrain serve`: SECURETRAIN_URL
// (default https://127.0.0.1:8443) and SECURETRAIN_TOKEN, or --url and
// --token; TLS trust comes from SSL_CERT_FILE as for any Go program.

// apiVersionFor picks the api-version a request on id (or a collection)
// needs: the one the Azure SDK for Go sends for its type, by the path's
// last provider (resources.SDKAPIVersion).
func apiVersionFor(id string) string {
	provider := "Microsoft.Resources/subscriptions"
	if i := strings.LastIndex(strings.ToLower(id), "/providers/"); i >= 0 {
		// namespace/type/name/type/...: the types are every other segment.
		segs := strings.Split(id[i+len("/providers/"):], "/")
		types := []string{segs[0]}
		for j := 1; j < len(segs); j += 2 {
			types = append(types, segs[j])
		}
		provider = strings.Join(types, "/")
	}
	return resources.SDKAPIVersion(provider)
}

type clientFlags struct {
	url, token, apiVersion, ca *string
}

// clientTimeout bounds one request of the client commands.
const clientTimeout = 60 * time.Second

// addClientFlags registers --url and --token (and, for commands on one
// id, --api-version). The token's default stays empty, so that -h never
// prints the one SECURETRAIN_TOKEN holds; newServerClient reads it.
func addClientFlags(fs *flag.FlagSet, apiVersionFlag bool) clientFlags {
	server := os.Getenv("SECURETRAIN_URL")
	if server == "" {
		server = "https://127.0.0.1:8443"
	}
	none := ""
	c := clientFlags{
		url:        fs.String("url", server, "server URL (env SECURETRAIN_URL)"),
		token:      fs.String("token", "", "bearer token (default: env SECURETRAIN_TOKEN)"),
		ca:         fs.String("ca", "", "PEM `file` of the CA to trust, e.g. "+defaultDataDir+"/ca.pem (default: the system's, or env SSL_CERT_FILE)"),
		apiVersion: &none,
	}
	if apiVersionFlag {
		c.apiVersion = fs.String("api-version", "", "api-version (default: the one the Azure SDK uses for the id's type)")
	}
	return c
}

// serverClient sends the requests of apply and export. Unlike
// clientFlags.call it keeps the status and headers (created or updated,
// Azure-AsyncOperation), reads ARM's error details, and escapes names in
// paths. Absolute URLs (operations, nextLink) are followed only on the
// server's own scheme and host, so the token goes nowhere else.
type serverClient struct {
	base  *url.URL
	token string
	// apiVersion overrides the one apiVersionFor picks (--api-version).
	apiVersion string
	http       *http.Client
}

func newServerClient(c clientFlags) (*serverClient, error) {
	token := *c.token
	if token == "" {
		token = os.Getenv("SECURETRAIN_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no token: set SECURETRAIN_TOKEN or --token (the admin's is in DATA/admin.token)")
	}
	base, err := url.Parse(strings.TrimSuffix(*c.url, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--url %q is not an http(s) URL", *c.url)
	}
	client, err := httpClientTrusting(*c.ca)
	if err != nil {
		return nil, err
	}
	return &serverClient{base: base, token: token, apiVersion: *c.apiVersion, http: client}, nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// armError is an ARM error answer: {"error": {code, message, target, details}}.
type armError struct {
	method, path string
	status       int
	Code         string     `json:"code"`
	Message      string     `json:"message"`
	Target       string     `json:"target,omitempty"`
	Details      []armError `json:"details,omitempty"`
}

func (e *armError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.method, e.path, e.status, e.Code, e.Message)
}

// writeAPIError prints err, and an ARM error's details one a line.
func writeAPIError(w io.Writer, err error) {
	fmt.Fprintf(w, "  %v\n", err)
	var ae *armError
	if !errors.As(err, &ae) {
		return
	}
	writeDetails(w, ae.Details, "    ")
}

// writeDetails prints ARM error details one a line, nested ones indented.
func writeDetails(w io.Writer, ds []armError, indent string) {
	for _, d := range ds {
		line := d.Code + ": " + d.Message
		if d.Target != "" {
			line += " (target " + d.Target + ")"
		}
		fmt.Fprintf(w, "%s- %s\n", indent, line)
		writeDetails(w, d.Details, indent+"  ")
	}
}

// do sends a request to ref: a path (an id or collection; its
// api-version is added) or an absolute URL on the server.
func (s *serverClient) do(method, ref string, body []byte) (*response, error) {
	resp, path, err := s.send(method, ref, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// send is do without reading the answer: the caller reads and closes the
// body of a success (a stream); an error status is read into its ARM
// error. It returns the request's path too.
func (s *serverClient) send(method, ref string, body []byte) (*http.Response, string, error) {
	var target string
	path := ref
	if strings.HasPrefix(ref, "/") {
		p, query, _ := strings.Cut(ref, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, path, fmt.Errorf("%s %s: the query: %w", method, ref, err)
		}
		if q.Get("api-version") == "" {
			v := s.apiVersion
			if v == "" {
				v = apiVersionFor(p)
			}
			q.Set("api-version", v)
		}
		target, path = s.base.String()+escapePath(p)+"?"+q.Encode(), p
	} else {
		u, err := url.Parse(ref)
		if err != nil || !strings.EqualFold(u.Scheme, s.base.Scheme) || !strings.EqualFold(u.Host, s.base.Host) {
			return nil, path, fmt.Errorf("the server sent the URL %q, which is not on %s: not sending the token there", ref, s.base)
		}
		target, path = ref, u.Path
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return nil, path, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, path, fmt.Errorf("%s %s: %w", method, path, explainTransport(err, s.base))
	}
	if resp.StatusCode < 300 {
		return resp, path, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, path, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	var e struct {
		Error *armError `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != nil && e.Error.Code != "" {
		e.Error.method, e.Error.path, e.Error.status = method, path, resp.StatusCode
		return nil, path, e.Error
	}
	return nil, path, &armError{method: method, path: path, status: resp.StatusCode, Code: http.StatusText(resp.StatusCode),
		Message: strings.TrimSpace(string(data[:min(len(data), 200)]))}
}

// escapePath escapes each segment of an id for a URL path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// runGet and runList: `securetrain get|list ID`.
func runGet(args []string, stdout, stderr io.Writer) int {
	return runClient("get", http.MethodGet, args, stdout, stderr)
}
func runList(args []string, stdout, stderr io.Writer) int {
	return runClient("list", http.MethodGet, args, stdout, stderr)
}

func runClient(name, method string, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(name, "ID [--url URL] [--token T] [--api-version V]", stderr)
	c := addClientFlags(fs, true)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 {
		fmt.Fprintf(stderr, "usage: securetrain %s ID (a resource id, or for list a collection such as /subscriptions/S/resourceGroups)\n", name)
		return exitBadInput
	}
	srv, err := newServerClient(c)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain %s: %v\n", name, err)
		return exitBadInput
	}
	if !strings.HasPrefix(rest[0], "/") {
		fmt.Fprintf(stderr, "securetrain %s: %q is not a resource id (it starts with /subscriptions/)\n", name, rest[0])
		return exitBadInput
	}
	if name != "list" {
		resp, err := srv.do(method, rest[0], nil)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain %s:\n", name)
			writeAPIError(stderr, err)
			return 1
		}
		if len(resp.body) > 0 {
			var v any
			if json.Unmarshal(resp.body, &v) == nil {
				writeJSON(stdout, v)
			}
		}
		return 0
	}
	// list follows nextLink (absolute, on the server) to the end and
	// prints one array.
	var all []json.RawMessage
	for next := rest[0]; next != ""; {
		resp, err := srv.do(method, next, nil)
		if err != nil {
			fmt.Fprintf(stderr, "securetrain list:\n")
			writeAPIError(stderr, err)
			return 1
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			fmt.Fprintf(stderr, "securetrain list: %s is not a list: %v\n", rest[0], err)
			return 1
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	if all == nil {
		all = []json.RawMessage{}
	}
	writeJSON(stdout, all)
	return 0
}
