// Package metrics exposes Latchkey's Prometheus metrics: gRPC request
// counts, latencies and in-flight handlers, domain counters (exchanges,
// issued tokens, revocations, rate limiting, alerts, audit writes, store
// errors) and gauges read from callbacks at scrape time. It owns its
// registry rather than using the process-wide default, so two servers in
// one process (as in tests) never collide.
//
// metrics must never put a secret or an unbounded value into a label: no
// root key, token, jti, key id, identity or peer address. Every label value
// comes from a fixed vocabulary (registered gRPC methods, gRPC code names,
// the small enums in this package), and anything outside it is counted as
// "other". It does not log and does no I/O beyond serving scrapes.
package metrics
