package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// `securetrain export` writes the resources of one subscription on the
// server as an environment file that `securetrain check` reads.

const exportSynopsis = "--subscription S [-o FILE] [--url URL] [--token T]"

func runExport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("export", exportSynopsis, stderr)
	sub := fs.String("subscription", os.Getenv("SECURETRAIN_SUBSCRIPTION"), "subscription to export (env SECURETRAIN_SUBSCRIPTION)")
	output := fs.String("o", "", "write the environment file to `FILE` (default: stdout)")
	c := addClientFlags(fs, false)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		return badUsage(fs, "unexpected argument %q", rest[0])
	}
	if *sub == "" {
		// The server has no subscription list to pick one from.
		fmt.Fprintln(stderr, "securetrain export: no subscription: pass --subscription S or set SECURETRAIN_SUBSCRIPTION")
		return exitBadInput
	}
	if strings.Contains(*sub, "/") {
		fmt.Fprintf(stderr, "securetrain export: --subscription %q must be a subscription id, not a path\n", *sub)
		return exitBadInput
	}
	srv, err := newServerClient(c)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain export: %v\n", err)
		return exitBadInput
	}
	doc, skipped, err := exportSubscription(srv, *sub)
	if err != nil {
		fmt.Fprintln(stderr, "securetrain export: reading the server:")
		writeAPIError(stderr, err)
		return 1
	}
	for _, s := range skipped {
		fmt.Fprintf(stderr, "securetrain export: skipped %s\n", s)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, doc); err != nil {
		fmt.Fprintf(stderr, "securetrain export: %v\n", err)
		return 1
	}
	if *output == "" {
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			fmt.Fprintf(stderr, "securetrain export: %v\n", err)
			return 1
		}
		return 0
	}
	if err := os.WriteFile(*output, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "securetrain export: -o: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "exported %d resources of subscription %s to %s\n", len(doc.Resources), *sub, *output)
	return 0
}

// exportDoc is an environment file.
type exportDoc struct {
	Subscription string            `json:"subscription"`
	Resources    []json.RawMessage `json:"resources"`
}

// exportSubscription reads every resource of sub from the server and
// returns them as an environment file, sorted by id, and what it left
// out and why.
func exportSubscription(srv *serverClient, sub string) (*exportDoc, []string, error) {
	bodies, err := listSubscription(srv, sub)
	if err != nil {
		return nil, nil, err
	}
	doc := &exportDoc{Subscription: sub, Resources: []json.RawMessage{}}
	var skipped []string
	keys := map[string]bool{}
	type keyed struct {
		key   string
		entry json.RawMessage
	}
	var entries []keyed
	for _, b := range bodies {
		id, err := bodyID(b)
		if err != nil {
			return nil, nil, err
		}
		// An environment file holds locks on resource groups only.
		if strings.EqualFold(id.Type(), resources.TypeLock) && (id.ResourceGroup == "" || len(id.Types) != 1) {
			skipped = append(skipped, fmt.Sprintf("lock %s: environment files hold locks on resource groups only", id))
			continue
		}
		if keys[id.Key()] {
			continue // listed twice (a page boundary moved under a concurrent write)
		}
		keys[id.Key()] = true
		entry, err := exportEntry(b, sub)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", id, err)
		}
		entries = append(entries, keyed{id.Key(), entry})
	}
	slices.SortFunc(entries, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	for _, e := range entries {
		doc.Resources = append(doc.Resources, e.entry)
	}
	return doc, skipped, nil
}

// listSubscription reads the body of every resource of sub, every
// registered kind in the registry's order.
func listSubscription(srv *serverClient, sub string) ([]json.RawMessage, error) {
	var bodies []json.RawMessage
	// Every registered kind, in the registry's order: top-level kinds
	// across the subscription; children that are records of their own
	// under each parent listed (zone records, computes); children nested
	// in their parent's properties (subnets, NSG rules) come inside it.
	listed := map[*resources.Kind][]json.RawMessage{}
	for _, k := range resources.Kinds() {
		var items []json.RawMessage
		switch parent := k.Parent(); {
		case k.Inline != "":
			continue
		case parent == nil:
			var err error
			if items, err = srv.list(k.SubscriptionCollection(sub)); err != nil {
				return nil, err
			}
		default:
			for _, p := range listed[parent] {
				pid, err := bodyID(p)
				if err != nil {
					return nil, fmt.Errorf("listing %s: %w", parent.Type, err)
				}
				children, err := srv.list(pid.String() + "/" + k.Leaf())
				if err != nil {
					return nil, err
				}
				items = append(items, children...)
			}
		}
		listed[k] = items
		bodies = append(bodies, items...)
	}
	return bodies, nil
}

// exportEntry is the file entry of an ARM body (resources.FileEntry),
// without the subscription when it is the file's.
func exportEntry(body []byte, sub string) (json.RawMessage, error) {
	entry, err := resources.FileEntry(body)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(entry, &m); err != nil {
		return nil, err
	}
	var s string
	if json.Unmarshal(m["subscription"], &s) == nil && s == sub {
		delete(m, "subscription")
	}
	return json.Marshal(m)
}

// bodyID is the id an ARM body carries.
func bodyID(body []byte) (arm.ID, error) {
	var b struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return arm.ID{}, fmt.Errorf("resource body: %w", err)
	}
	id, err := arm.ParseID(b.ID, "")
	if err != nil {
		return arm.ID{}, fmt.Errorf("resource body: %w", err)
	}
	return id, nil
}

// list reads a collection to its end, following nextLink.
func (s *serverClient) list(collection string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for next := collection; next != ""; {
		resp, err := s.do(http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			return nil, fmt.Errorf("GET %s: not a list: %w", collection, err)
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	return all, nil
}
