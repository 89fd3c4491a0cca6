//go:build linux

package netns

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Status lists the namespaces whose name starts with prefix, with their
// links and the rules of the fabric's table in each.
func Status(prefix string) ([]Namespace, error) {
	if !strings.HasPrefix(prefix, NamePrefix) {
		return nil, fmt.Errorf("status prefix %q must start with %q", prefix, NamePrefix)
	}
	names, err := namespacesWithPrefix(prefix)
	if err != nil {
		return nil, err
	}
	var out []Namespace
	var errs []error
	for _, name := range names {
		st, err := statusOf(name)
		errs = append(errs, err)
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

func statusOf(name string) (Namespace, error) {
	st := Namespace{Name: name}
	fd, err := netns.GetFromName(name)
	if err != nil {
		return st, fmt.Errorf("namespace %s: %w", name, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		return st, fmt.Errorf("namespace %s: %w", name, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return st, fmt.Errorf("links of %s: %w", name, err)
	}
	for _, l := range links {
		if l.Attrs().Name == "lo" {
			continue
		}
		text := l.Attrs().Name
		addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			text += " " + a.IPNet.String()
		}
		st.Links = append(st.Links, text)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return st, err
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return st, fmt.Errorf("nftables of %s: %w", name, err)
	}
	for _, c := range chains {
		if c.Table.Name != tableName {
			continue
		}
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			return st, fmt.Errorf("rules of %s: %w", name, err)
		}
		st.Rules += len(rules)
	}
	return st, nil
}
