package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"securetrain/internal/arm"
)

// askUser returns where a confirmation is read from, and whether a
// person is there to answer (standard input is a terminal).
var askUser = func() (io.Reader, bool) {
	st, err := os.Stdin.Stat()
	return os.Stdin, err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runDelete: `securetrain delete ID [--yes]`. Deleting a resource group
// deletes everything in it, so it lists what will go and asks first (on a
// terminal; elsewhere --yes must say so); a delete of nothing says "not
// found" rather than "deleted".
func runDelete(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("delete", "ID [--yes] [--url URL] [--token T] [--api-version V]", stderr)
	c := addClientFlags(fs, true)
	yes := fs.Bool("yes", false, "delete a resource group without asking")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 {
		return badUsage(fs, "expected one resource ID, got %d arguments", len(rest))
	}
	if !strings.HasPrefix(rest[0], "/") {
		return badUsage(fs, "%q is not a resource id (it starts with /subscriptions/)", rest[0])
	}
	id, parseErr := arm.ParseID(rest[0], "")
	srv, err := newServerClient(c)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain delete: %v\n", err)
		return exitBadInput
	}
	var contents []string
	isGroup := parseErr == nil && id.ResourceGroup != "" && len(id.Types) == 0
	if isGroup {
		if _, err := srv.do(http.MethodGet, rest[0], nil); err != nil {
			return deleteFailed(stderr, rest[0], err)
		}
		if contents, err = resourcesIn(srv, id); err != nil {
			fmt.Fprintln(stderr, "securetrain delete: listing what the resource group holds:")
			writeAPIError(stderr, err)
			return 1
		}
		if code, ok := confirmGroupDelete(id, contents, *yes, stderr); !ok {
			return code
		}
	}
	resp, err := srv.do(http.MethodDelete, rest[0], nil)
	if err != nil {
		return deleteFailed(stderr, rest[0], err)
	}
	switch {
	case resp.status == http.StatusNoContent:
		fmt.Fprintf(stderr, "securetrain delete: %s not found: nothing was deleted\n", rest[0])
		return 1
	case resp.status == http.StatusAccepted:
		fmt.Fprintf(stdout, "Deleting %s: accepted, the server finishes it in the background\n", rest[0])
	case isGroup:
		fmt.Fprintf(stdout, "Deleted resource group %s and %s in it\n", id.ResourceGroup, plural(len(contents), "resource", "resources"))
		for _, r := range contents {
			fmt.Fprintf(stdout, "  %s\n", r)
		}
	default:
		fmt.Fprintf(stdout, "Deleted %s\n", rest[0])
	}
	return 0
}

// deleteFailed reports a refused delete; a missing resource is "not found".
func deleteFailed(stderr io.Writer, id string, err error) int {
	var ae *armError
	if errors.As(err, &ae) && ae.status == http.StatusNotFound {
		fmt.Fprintf(stderr, "securetrain delete: %s not found (%s): nothing was deleted\n", id, ae.Code)
		return 1
	}
	fmt.Fprintln(stderr, "securetrain delete:")
	writeAPIError(stderr, err)
	return 1
}

// confirmGroupDelete lists what deleting group takes with it and asks the
// person at the terminal; without one, --yes must have said so. ok false
// means stop, with code.
func confirmGroupDelete(group arm.ID, contents []string, yes bool, stderr io.Writer) (code int, ok bool) {
	if yes {
		return 0, true
	}
	in, interactive := askUser()
	if !interactive {
		fmt.Fprintf(stderr, "securetrain delete: deleting resource group %s deletes the %s in it; no terminal to ask on, so pass --yes to confirm\n",
			group.ResourceGroup, plural(len(contents), "resource", "resources"))
		return exitBadInput, false
	}
	fmt.Fprintf(stderr, "Deleting resource group %s deletes it and the %s in it:\n", group.ResourceGroup, plural(len(contents), "resource", "resources"))
	for _, r := range contents {
		fmt.Fprintf(stderr, "  %s\n", r)
	}
	fmt.Fprint(stderr, "Delete them? [y/N] ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		fmt.Fprintln(stderr, "securetrain delete: not confirmed: nothing was deleted")
		return 1, false
	}
	return 0, true
}

// resourcesIn lists the ids of the resources in resource group group,
// sorted.
func resourcesIn(srv *serverClient, group arm.ID) ([]string, error) {
	bodies, err := listSubscription(srv, group.Subscription)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, b := range bodies {
		id, err := bodyID(b)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(id.ResourceGroup, group.ResourceGroup) && len(id.Types) > 0 {
			ids = append(ids, id.String())
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
