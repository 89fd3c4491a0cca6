//go:build linux

// Package netnstest holds what tests of the netns fabric share: the root
// requirement, stated visibly, and the leak check.
package netnstest

import (
	"os"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// RequireRoot skips, saying why, when the test cannot create namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("NOT RUN: the netns fabric needs root (CAP_NET_ADMIN); CI runs these tests as root")
	}
}

// HostState is what the fabric must never change or leave behind.
type HostState struct {
	Namespaces int // named namespaces with the prefix
	Links      []string
	Tables     []string
}

// State reads the host's state for prefix.
func State(t testing.TB, prefix string) HostState {
	t.Helper()
	var s HostState
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			s.Namespaces++
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		s.Links = append(s.Links, l.Attrs().Name)
	}
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		s.Tables = append(s.Tables, tb.Name)
	}
	return s
}

// NoLeaks checks, when the test ends, that no namespace with prefix is
// left and the host's links and nftables tables are as they were.
func NoLeaks(t testing.TB, prefix string) {
	t.Helper()
	before := State(t, prefix)
	t.Cleanup(func() {
		after := State(t, prefix)
		if after.Namespaces != 0 {
			t.Errorf("%d namespaces %s* left behind", after.Namespaces, prefix)
		}
		if strings.Join(after.Links, ",") != strings.Join(before.Links, ",") {
			t.Errorf("host links changed: before %v, after %v", before.Links, after.Links)
		}
		if strings.Join(after.Tables, ",") != strings.Join(before.Tables, ",") {
			t.Errorf("host nftables tables changed: before %v, after %v", before.Tables, after.Tables)
		}
	})
}
