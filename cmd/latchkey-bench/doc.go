// Command latchkey-bench drives a real latchkey server, started as a child
// process on loopback, with a fixed matrix of calls, and reports what each
// call costs the server (CPU time per operation, peak memory, latency,
// throughput) beside the physical floor: the cheapest call the server
// answers and the signature or verification each token operation must do.
//
// Every store variant is served by a server process of its own, all of
// them alive together, and the measurements go round them: one repetition
// of every scenario at every concurrency, then the next, so that a ratio
// between variants compares figures taken close in time on a machine whose
// speed drifts over minutes.
//
// It must never talk to anything but 127.0.0.1, never point a server at a
// store it did not create in its own temporary folder, and never judge the
// harness broken because of a timing: only failures to start, seed, check
// or answer make it exit non-zero.
package main
