//go:build linux

package netns

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"securetrain/internal/ipset"
	"securetrain/internal/lazyregexp"
	"securetrain/internal/netverify"
	"securetrain/internal/resources"
)

// tableName is the one nftables table the fabric keeps in each router.
const tableName = "securetrain"

// ruleset is a router's nftables table before it is programmed: named
// interval sets (service tags and other address lists), the NSG chains,
// the forward chain that sends traffic through them, and NAT. Its text
// form (what `nft list` would roughly say) identifies it: an equal text
// is not applied again.
type ruleset struct {
	table  *nftables.Table
	sets   []*namedSet
	setBy  map[string]*namedSet
	chains []*chain
	text   strings.Builder
}

type namedSet struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

type chain struct {
	c     *nftables.Chain
	rules []*nftables.Rule
}

func newRuleset() *ruleset {
	return &ruleset{table: &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}, setBy: map[string]*namedSet{}}
}

func (rs *ruleset) chain(name string, base *nftables.Chain) *chain {
	c := base
	if c == nil {
		c = &nftables.Chain{Name: name}
	}
	c.Table = rs.table
	ch := &chain{c: c}
	rs.chains = append(rs.chains, ch)
	fmt.Fprintf(&rs.text, "chain %s\n", name)
	return ch
}

// rule is one rule being built: its expressions and its text.
type rule struct {
	rs    *ruleset
	exprs []expr.Any
	text  []string
}

func (rs *ruleset) rule() *rule { return &rule{rs: rs} }

func (r *rule) add(text string, es ...expr.Any) *rule {
	r.exprs = append(r.exprs, es...)
	r.text = append(r.text, text)
	return r
}

// to ends the rule with a verdict (and an optional comment) in chain ch.
func (r *rule) to(ch *chain, v expr.Any, verdict, comment string) {
	r.exprs = append(r.exprs, v)
	nr := &nftables.Rule{Table: r.rs.table, Chain: ch.c, Exprs: r.exprs}
	if comment != "" {
		nr.UserData = userdata.AppendString(nil, userdata.TypeComment, comment)
	}
	ch.rules = append(ch.rules, nr)
	fmt.Fprintf(&r.rs.text, "  %s %s # %s\n", strings.Join(r.text, " "), verdict, comment)
}

func (r *rule) accept(ch *chain, comment string) {
	r.to(ch, &expr.Verdict{Kind: expr.VerdictAccept}, "accept", comment)
}
func (r *rule) drop(ch *chain, comment string) {
	r.to(ch, &expr.Verdict{Kind: expr.VerdictDrop}, "drop", comment)
}
func (r *rule) ret(ch *chain, comment string) {
	r.to(ch, &expr.Verdict{Kind: expr.VerdictReturn}, "return", comment)
}
func (r *rule) jump(ch *chain, target string) {
	r.to(ch, &expr.Verdict{Kind: expr.VerdictJump, Chain: target}, "jump "+target, "")
}

func ifname(name string) []byte { return append([]byte(name), 0) }

func (r *rule) iif(name string) *rule {
	return r.add(fmt.Sprintf("iifname %q", name), &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)})
}

func (r *rule) oif(name string) *rule {
	return r.add(fmt.Sprintf("oifname %q", name), &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)})
}

func (r *rule) ctState(bits uint32, text string) *rule {
	return r.add("ct state "+text, &expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

// notDNATed matches connections that no destination NAT created.
func (r *rule) notDNATed() *rule {
	const ipsDstNAT = 1 << 5 // IPS_DST_NAT
	return r.add("ct status != dnat", &expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)})
}

var protoNumbers = map[netverify.Protocol]byte{netverify.TCP: unix.IPPROTO_TCP, netverify.UDP: unix.IPPROTO_UDP,
	netverify.ICMP: unix.IPPROTO_ICMP, netverify.ESP: unix.IPPROTO_ESP, netverify.AH: unix.IPPROTO_AH}

func (r *rule) proto(p netverify.Protocol) *rule {
	return r.add("meta l4proto "+strings.ToLower(p.String()), &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumbers[p]}})
}

// Header offsets of the fields rules match.
const (
	offSaddr = 12 // in the IPv4 header
	offDaddr = 16
	offSport = 0 // in the TCP/UDP header
	offDport = 2
)

var allAddresses = ipset.FromRanges([]ipset.Range{{Lo: 0, Hi: math.MaxUint32}})
var allPorts = ipset.FromRanges([]ipset.Range{{Lo: 0, Hi: 65535}})

// addr matches the source or destination address against set (nothing
// when set is every address): one range inline, more through a named
// interval set labelled after what the rule names (a service tag).
func (r *rule) addr(off uint32, set ipset.Set, label string) *rule {
	if set.Equal(allAddresses) {
		return r
	}
	field := map[uint32]string{offSaddr: "ip saddr", offDaddr: "ip daddr"}[off]
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
	return r.match(field, load, set, label, 4, nftables.TypeIPAddr)
}

// ports matches a TCP or UDP port against set (nothing for every port).
func (r *rule) ports(off uint32, set ipset.Set, label string) *rule {
	if set.Equal(allPorts) {
		return r
	}
	field := map[uint32]string{offSport: "th sport", offDport: "th dport"}[off]
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
	return r.match(field, load, set, label, 2, nftables.TypeInetService)
}

func (r *rule) match(field string, load *expr.Payload, set ipset.Set, label string, width int, kt nftables.SetDatatype) *rule {
	rgs := set.Ranges()
	if len(rgs) == 1 {
		lo, hi := encode(rgs[0].Lo, width), encode(rgs[0].Hi, width)
		text := rgs[0].String()
		if width == 2 { // a port range
			text = fmt.Sprintf("%d-%d", rgs[0].Lo, rgs[0].Hi)
		}
		if rgs[0].Lo == rgs[0].Hi {
			text, _, _ = strings.Cut(text, "-")
			return r.add(fmt.Sprintf("%s %s", field, text), load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: lo})
		}
		return r.add(fmt.Sprintf("%s %s", field, text), load, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: lo, ToData: hi})
	}
	ns := r.rs.namedSet(set, label, width, kt)
	return r.add(fmt.Sprintf("%s @%s", field, ns.set.Name), load, &expr.Lookup{SourceRegister: 1, SetName: ns.set.Name, SetID: ns.set.ID})
}

// fullText lists every range of set (Format abbreviates past its max):
// two sets share a name, a signature, only when they are equal.
func fullText(set ipset.Set) string { return set.Format(len(set.Ranges())) }

func encode(u uint32, width int) []byte {
	b := binary.BigEndian.AppendUint32(nil, u)
	return b[4-width:]
}

var unsafeName = lazyregexp.New(`[^A-Za-z0-9_]+`)

// namedSet returns the interval set holding set, creating it once per
// distinct content; its name says what it stands for ("AzureMachineLearning_3").
func (rs *ruleset) namedSet(set ipset.Set, label string, width int, kt nftables.SetDatatype) *namedSet {
	key := fmt.Sprintf("%d/%s", width, fullText(set))
	if ns := rs.setBy[key]; ns != nil {
		return ns
	}
	base := unsafeName.ReplaceAllString(label, "_")
	if len(base) > 40 || base == "" {
		base = base[:min(len(base), 40)] + "set"
	}
	name := fmt.Sprintf("%s_%d", base, len(rs.sets))
	s := &nftables.Set{Table: rs.table, Name: name, KeyType: kt, Interval: true, ID: uint32(len(rs.sets) + 1)}
	var elems []nftables.SetElement
	for _, g := range set.Ranges() {
		elems = append(elems, nftables.SetElement{Key: encode(g.Lo, width)})
		if end := uint64(g.Hi) + 1; end < 1<<(8*width) {
			elems = append(elems, nftables.SetElement{Key: encode(uint32(end), width), IntervalEnd: true})
		}
	}
	ns := &namedSet{set: s, elems: elems}
	rs.sets = append(rs.sets, ns)
	rs.setBy[key] = ns
	fmt.Fprintf(&rs.text, "set %s %s\n", name, key)
	return ns
}

// nsgChain adds the chain of one NSG in one direction: its rules in
// Azure's order (user rules by priority, then the defaults); an allowing
// rule returns, so that the next NSG on the path decides too, a denying
// one drops. Rules naming an AzurePlatform* tag apply to the platform
// addresses only, which are not routed here: they are left out.
func (rs *ruleset) nsgChain(name string, rules []netverify.EffectiveRule) {
	ch := rs.chain(name, nil)
	for _, er := range rules {
		if er.Platform {
			continue
		}
		comment := fmt.Sprintf("%d %s", er.Priority, er.Name)
		for _, variant := range rs.nsgVariants(er) {
			if er.Allow {
				variant.ret(ch, comment)
			} else {
				variant.drop(ch, comment)
			}
		}
	}
}

// nsgVariants are the nftables rules one NSG rule becomes: one per
// protocol it matches (one for all of them when it matches every
// protocol on every port). Protocols without ports are evaluated at port
// 0, as the verifier does.
func (rs *ruleset) nsgVariants(er netverify.EffectiveRule) []*rule {
	base := func() *rule {
		return rs.rule().addr(offSaddr, er.Source, er.SourceText).addr(offDaddr, er.Destination, er.DestinationText)
	}
	anyPort := er.SourcePorts.Equal(allPorts) && er.DestinationPorts.Equal(allPorts)
	if len(er.Protocols) == len(protoNumbers) && anyPort {
		return []*rule{base()}
	}
	var out []*rule
	for _, p := range er.Protocols {
		if p != netverify.TCP && p != netverify.UDP {
			if er.SourcePorts.Contains(0) && er.DestinationPorts.Contains(0) {
				out = append(out, base().proto(p))
			}
			continue
		}
		out = append(out, base().proto(p).ports(offSport, er.SourcePorts, "ports").ports(offDport, er.DestinationPorts, "ports"))
	}
	return out
}

// nat sets the address (and port) of a NAT rule.
func (r *rule) nat(ch *chain, typ expr.NATType, a netip.Addr, port uint16, comment string) {
	r.exprs = append(r.exprs, &expr.Immediate{Register: 1, Data: a.AsSlice()})
	n := &expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1}
	verdict := "snat to " + a.String()
	if typ == expr.NATTypeSourceNAT {
		// Many nodes leave by one address: choosing each mapping's port
		// at random avoids the race where two nodes' first packets get
		// the same mapping and one is dropped on conntrack insertion.
		n.FullyRandom = true
		verdict += " fully-random"
	}
	if typ == expr.NATTypeDestNAT {
		verdict = "dnat to " + a.String()
	}
	if port != 0 {
		r.exprs = append(r.exprs, &expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)})
		// Specified: without it the port register is ignored; with it
		// and no register, ports would be mapped to 0.
		n.RegProtoMin, n.RegProtoMax, n.Specified = 2, 2, true
		verdict += fmt.Sprintf(":%d", port)
	}
	r.to(ch, n, verdict, comment)
}

// direction names the chains of an NSG.
func direction(d resources.Direction) string {
	if d == resources.Inbound {
		return "in"
	}
	return "out"
}
