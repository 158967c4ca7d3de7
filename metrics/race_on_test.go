//go:build race

package metrics

// raceEnabled skips allocation checks: the race detector's instrumentation
// changes what escapes to the heap.
const raceEnabled = true
