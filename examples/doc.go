// Package examples holds runnable programs that show a resource server and a
// workload using Latchkey's verifier and client libraries against
// `latchkey dev`, and the end-to-end test that runs them.
//
// Nothing here is imported by Latchkey itself, and nothing here may import
// Latchkey's server, store, issuer or policy packages: the examples use only
// what a real resource server or workload would link.
package examples
