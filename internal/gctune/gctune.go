// Package gctune keeps the Go collector's headroom, the heap it lets grow
// between collections, at a chosen share of the live heap, but never below
// a floor.
//
// Go's default (GOGC=100) lets the heap grow to twice what is live. The
// server's live heap is mostly long-lived per-key state, so with many keys
// that headroom is tens of megabytes of RSS that hold nothing; with few
// keys the live heap is small and a proportional headroom makes the
// collector run very often. A share of the live heap with a floor keeps
// both: with 100,000 keys, a headroom of half the live heap; with a few
// keys, at least MinHeadroom, so small servers collect no more often than
// with Go's default.
//
// The setting is the process's own (runtime/debug.SetGCPercent): Start
// tunes it once, however many servers a process runs, and a GOGC in the
// environment turns tuning off.
package gctune

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	// DefaultPercent is the headroom as a percentage of the live heap.
	DefaultPercent = 50
	// MinHeadroom is the least headroom, in bytes, whatever the live heap.
	MinHeadroom = 32 << 20
	// MinPercent and MaxPercent bound a configured percentage.
	MinPercent = 10
	MaxPercent = 1000
	// interval is how often the live heap is read. It changes as keys
	// are added and removed, slowly next to the collections themselves.
	interval = time.Second
)

const liveMetric = "/gc/heap/live:bytes"

// PercentFor returns the GOGC value that gives a heap of live bytes a
// headroom of percent of it, or MinHeadroom if that is more.
func PercentFor(live uint64, percent int) int {
	if live == 0 {
		return percent
	}
	if floor := (uint64(MinHeadroom)*100 + live - 1) / live; floor > uint64(percent) {
		return int(floor)
	}
	return percent
}

var (
	mu      sync.Mutex
	running int // Start calls not yet stopped
	stop    chan struct{}
	done    chan struct{}
	before  int // the percentage in force before tuning started
)

// Start tunes the collector to percent (see PercentFor) until the returned
// function is called. It reports false, and does nothing, when GOGC is set
// in the environment or percent is zero. Calls while tuning runs share the
// first call's percent; the setting in force before is restored when the
// last of them stops.
func Start(percent int) (stopFn func(), on bool) {
	if _, set := os.LookupEnv("GOGC"); set || percent == 0 {
		return func() {}, false
	}
	return start(percent, interval), true
}

func start(percent int, every time.Duration) func() {
	mu.Lock()
	defer mu.Unlock()
	running++
	if running == 1 {
		stop, done = make(chan struct{}), make(chan struct{})
		before = debug.SetGCPercent(PercentFor(readLive(), percent))
		go loop(percent, every, stop, done)
	}
	var once sync.Once
	return func() { once.Do(release) }
}

func release() {
	mu.Lock()
	defer mu.Unlock()
	running--
	if running > 0 {
		return
	}
	close(stop)
	<-done
	debug.SetGCPercent(before)
}

func loop(percent int, every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	last := -1
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if p := PercentFor(readLive(), percent); p != last {
			debug.SetGCPercent(p)
			last = p
		}
	}
}

func readLive() uint64 {
	s := []metrics.Sample{{Name: liveMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
