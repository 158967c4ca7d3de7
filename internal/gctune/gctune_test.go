package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live    uint64
		percent int
		want    int
	}{
		{0, 50, 50},                       // nothing read yet: the configured share
		{64 * mib, 50, 50},                // half of 64 MiB is the floor itself
		{100 * mib, 50, 50},               // large heaps: the share
		{1000 * mib, 20, 20},              //
		{32 * mib, 50, 100},               // the floor is the whole live heap
		{mib, 50, 3200},                   // tiny heaps: the floor
		{3 * mib, 50, 1067},               // rounded up, never below the floor
		{200 * mib, 100, 100},             // Go's default growth when configured
		{8 * mib, MaxPercent, MaxPercent}, // a share above the floor wins
	} {
		got := PercentFor(tc.live, tc.percent)
		if got != tc.want {
			t.Errorf("PercentFor(%d MiB, %d) = %d, want %d", tc.live/mib, tc.percent, got, tc.want)
		}
		if tc.live > 0 && tc.live*uint64(got)/100 < MinHeadroom {
			t.Errorf("PercentFor(%d, %d) = %d leaves less than the floor", tc.live, tc.percent, got)
		}
	}
}

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// waitFor collects and reads the collector's percentage until ok accepts
// it, for at most ten seconds.
func waitFor(t *testing.T, what string, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		if p := gogc(); ok(p) {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d, want %s", p, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var retained []byte

func TestTuningFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := start(50, 5*time.Millisecond)
	// A test binary's live heap is a few MB: the floor sets the pace.
	waitFor(t, "the floor's percentage for a small heap", func(p int) bool { return p > 500 })
	retained = make([]byte, 128<<20)
	for i := range retained {
		retained[i] = byte(i)
	}
	waitFor(t, "50 with 128 MiB live", func(p int) bool { return p == 50 })
	retained = nil
	waitFor(t, "the floor again once the heap shrank", func(p int) bool { return p > 500 })
	stop()
	stop() // a second call is harmless
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC after stopping = %d, want the 100 in force before", p)
	}
}

func TestStartsShareOneTuner(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(80))
	first := start(50, 5*time.Millisecond)
	second := start(MaxPercent, 5*time.Millisecond)
	retained = make([]byte, 128<<20)
	for i := range retained {
		retained[i] = byte(i)
	}
	waitFor(t, "the first start's 50", func(p int) bool { return p == 50 })
	retained = nil
	first()
	if p := gogc(); p == 80 {
		t.Fatal("the first stop restored the setting while another start still tunes")
	}
	second()
	if p := gogc(); p != 80 {
		t.Fatalf("GOGC after the last stop = %d, want the 80 in force before", p)
	}
}

func TestEnvironmentOrZeroTurnsTuningOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(70))
	t.Setenv("GOGC", "70")
	stop, on := Start(50)
	time.Sleep(3 * interval / 2)
	if on || gogc() != 70 {
		t.Fatalf("with GOGC set: on=%v, GOGC %d; want off and 70", on, gogc())
	}
	stop()
	if p := gogc(); p != 70 {
		t.Fatalf("GOGC after stop = %d, want 70", p)
	}
	stop, on = Start(0)
	if on {
		t.Fatal("a percentage of zero tunes")
	}
	stop()
}
