// Command benchreport turns `go test -bench` output, usually several -count
// runs, into a markdown section for BENCHMARKS.md: the spread of every
// metric, ratios between benchmarks, and the machine and toolchain that
// produced them.
//
// It reads standard input and writes standard output only. It must never
// run benchmarks itself or rewrite the figures it is given: a run that
// failed is reported as an error, not as a partial table.
package main
