package badger

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// fakeTicker hands the GC loop a channel the test controls.
type fakeTicker struct {
	ticks    chan time.Time
	interval atomic.Int64
	started  atomic.Int32
	stopped  atomic.Int32
}

func (f *fakeTicker) new(d time.Duration) (<-chan time.Time, func()) {
	f.interval.Store(int64(d))
	f.started.Add(1)
	return f.ticks, func() { f.stopped.Add(1) }
}

func TestGCLoop(t *testing.T) {
	cases := []struct {
		name     string
		interval time.Duration
		want     time.Duration
	}{
		{"default interval", 0, DefaultGCInterval},
		{"custom interval", 90 * time.Second, 90 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeTicker{ticks: make(chan time.Time)}
			gcRuns := make(chan error, 16)
			s, err := open(Options{Dir: t.TempDir(), EncryptionKey: newKey(t), GCInterval: tc.interval},
				hooks{newTicker: ft.new, afterGC: func(err error) { gcRuns <- err }})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if got := time.Duration(ft.interval.Load()); got != tc.want {
				t.Fatalf("ticker interval = %v, want %v", got, tc.want)
			}
			for range 2 {
				ft.ticks <- time.Now() // unbuffered: the loop has taken the tick
				select {
				case err := <-gcRuns:
					// A fresh store has nothing to rewrite.
					if !errors.Is(err, badger.ErrNoRewrite) {
						t.Fatalf("GC run = %v, want ErrNoRewrite", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("GC did not run after a tick")
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if ft.stopped.Load() != 1 {
				t.Fatalf("ticker stopped %d times, want 1", ft.stopped.Load())
			}
			// goleak in TestMain checks that the loop itself has exited.
		})
	}

	t.Run("in memory runs no GC loop", func(t *testing.T) {
		ft := &fakeTicker{ticks: make(chan time.Time)}
		s, err := open(Options{InMemory: true, EncryptionKey: newKey(t)}, hooks{newTicker: ft.new})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if ft.started.Load() != 0 {
			t.Fatal("a GC ticker was started for an in-memory store")
		}
	})
}
