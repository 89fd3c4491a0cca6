// Package sdkcompat holds only tests: the compatibility suite of issue 4
// §7. It starts the control plane in-process over real TLS (the local CA
// of internal/certs, trusted by nothing else) and drives it through the
// unmodified Azure SDK for Go clients — armresources, armnetwork/v7,
// armmachinelearning/v4, armlocks and armauthorization/v2 — configured as
// shared/spec/arm-api-notes.md describes. It builds a secure training
// environment, reads every resource back into the SDK's typed models, and
// checks that ARM's refusals (SecurityRuleConflict, LinkedAuthorizationFailed,
// ScopeLocked) reach the caller as *azcore.ResponseError with Azure's
// status and code. BenchmarkVNetPutGetSDK measures one VNet create and
// read through the SDK on loopback.
package sdkcompat
