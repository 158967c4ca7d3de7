// Package storetest holds test helpers shared by every store backend: a
// conformance suite (Run) that each backend's tests call, RunReopen for the
// parts of the revocation-log contract that need a restart or a moving
// clock, and Faulty, a wrapper that makes a store fail on demand.
//
// It is imported only from tests. It must never depend on a particular
// backend, so that the suite checks the contract rather than one engine.
package storetest
