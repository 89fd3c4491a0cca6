package main

import (
	"fmt"
	"io"
	"os"

	"securetrain/internal/envgen"
)

func runGen(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gen", "[flags]", stderr)
	o := envgen.Large()
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	fs.IntVar(&o.VNets, "vnets", o.VNets, "virtual networks (at most 250)")
	fs.IntVar(&o.SubnetsPerVNet, "subnets", o.SubnetsPerVNet, "subnets per VNet (at most 250)")
	fs.IntVar(&o.NSGs, "nsgs", o.NSGs, "network security groups, shared round-robin by the subnets")
	fs.IntVar(&o.RulesPerNSG, "rules", o.RulesPerNSG, "rules per NSG (at most 1000, Azure's limit)")
	fs.IntVar(&o.RoutesPerVNet, "routes", o.RoutesPerVNet, "user-defined routes per VNet route table")
	fs.IntVar(&o.Computes, "computes", o.Computes, "computes spread over the subnets")
	fs.BoolVar(&o.Firewall, "firewall", o.Firewall, "add a hub VNet with an Azure Firewall")
	out := fs.String("o", "-", "output file (- for stdout)")
	if _, err := parseArgs(fs, args); err != nil {
		return flagExit(err)
	}
	switch {
	case o.VNets < 0 || o.VNets > 250, o.SubnetsPerVNet < 0 || o.SubnetsPerVNet > 250:
		fmt.Fprintln(stderr, "securetrain gen: --vnets and --subnets must be within 0-250 (addresses are 10.VNET.SUBNET.0/24)")
		return exitBadInput
	case o.RulesPerNSG < 0 || o.RulesPerNSG > 1000, o.NSGs < 0, o.RoutesPerVNet < 0 || o.RoutesPerVNet > 400, o.Computes < 0:
		fmt.Fprintln(stderr, "securetrain gen: --rules must be within 0-1000, --routes within 0-400, counts not negative")
		return exitBadInput
	}
	data := envgen.Generate(o)
	if *out == "-" {
		_, _ = stdout.Write(data)
		return 0
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "securetrain gen: %v\n", err)
		return 1
	}
	return 0
}
