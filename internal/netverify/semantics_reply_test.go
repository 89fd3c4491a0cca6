package netverify

import "testing"

// Azure: "Virtual network traffic routing": Azure routes every packet
// leaving a subnet by that subnet's effective routes, replies included —
// routing keeps no connection state (what makes appliances asymmetric) —
// and the private ranges are not routable on the internet (hence the
// system routes sending 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and
// 100.64.0.0/10 to None).
func TestRepliesInsideTheVNetFollowTheDestinationsRoutes(t *testing.T) {
	q := textQuery{From: "10.1.2.10", To: "10.1.1.10", Protocol: "TCP", Port: 443}
	// Subnet b reaches a by the VNet's route; a's route table decides
	// where the reply goes.
	expect(t, flow(t, compileYAML(t, env(nil)), q), Allowed)
	none := `{name: back, properties: {addressPrefix: 10.1.2.0/24, nextHopType: None}},`
	expect(t, flow(t, compileYAML(t, env(map[string]string{"ROUTES": none})), q), NoRoute,
		"reply from subnet vnet1/a to the source: route rt-a/back 10.1.2.0/24 -> None")
	nva := `{name: back, properties: {addressPrefix: 10.1.2.0/24, nextHopType: VirtualAppliance, nextHopIpAddress: 10.1.1.10}},`
	expect(t, flow(t, compileYAML(t, env(map[string]string{"ROUTES": nva})), q), AsymmetricRoute,
		"route rt-a/back 10.1.2.0/24 -> VirtualAppliance")
	// VnetLocal returns inside the VNet only.
	local := `{name: back, properties: {addressPrefix: 10.1.2.0/24, nextHopType: VnetLocal}},`
	expect(t, flow(t, compileYAML(t, env(map[string]string{"ROUTES": local})), q), Allowed)
}

func TestInternetRouteToAPrivateAddressGoesNowhere(t *testing.T) {
	internet := `{name: out, properties: {addressPrefix: 10.1.2.0/24, nextHopType: Internet}},`
	n := compileYAML(t, env(map[string]string{"ROUTES": internet}))
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "10.1.2.10", Protocol: "TCP", Port: 443}), NoRoute,
		"route 10.1.2.0/24 -> Internet: the destination is a private address, which the internet does not route")
	// A public destination still leaves by the route to Internet.
	expect(t, flow(t, n, textQuery{From: "10.1.1.10", To: "20.1.2.3", Protocol: "TCP", Port: 443}), Allowed)
}
