package lifecycle

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

type sweepResult struct {
	report SweepReport
	err    error
}

func TestJanitorRun(t *testing.T) {
	f := storetest.NewFaulty(openStore(t))
	key := create(t, f, newKey("k", func(r *store.KeyRecord) {
		r.PreviousSecretHash, r.GraceDeadline = []byte("previous-secret-hash"), t0.Add(day)
	}))
	ignore := goleak.IgnoreCurrent()

	logs := &syncBuffer{}
	now := t0.Add(day)
	j, err := NewJanitor(JanitorConfig{
		Keys:   f,
		Policy: func() *policy.Policy { return nil },
		Now:    func() time.Time { return now },
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan time.Time)
	results := make(chan sweepResult)
	j.newTicker = manualTicker(ticks)
	j.afterSweep = func(r SweepReport, err error) { results <- sweepResult{r, err} }

	f.SetFailing(true)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		j.Run(ctx)
	}()

	// The first sweep runs at once, before any tick; the store is down.
	if r := <-results; r.err == nil {
		t.Fatalf("first sweep succeeded with the store down")
	}
	if out := logs.String(); !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, "key lifecycle sweep failed") {
		t.Fatalf("store failure not logged at error level:\n%s", out)
	}

	// The loop carries on and the next tick succeeds.
	f.SetFailing(false)
	ticks <- now
	if r := <-results; r.err != nil || r.report != (SweepReport{GraceRetired: 1}) {
		t.Fatalf("second sweep = %+v, %v; want the old secret retired", r.report, r.err)
	}

	cancel()
	select {
	case <-stopped:
	case r := <-results:
		t.Fatalf("sweep after cancel: %+v", r)
	}
	goleak.VerifyNone(t, ignore)

	if got := get(t, f, "k"); got.PreviousSecretHash != nil {
		t.Fatalf("previous secret hash kept after Run")
	}
	out := logs.String()
	for _, secret := range [][]byte{key.SecretHash, key.PreviousSecretHash} {
		for _, enc := range []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)} {
			if strings.Contains(out, enc) {
				t.Fatalf("log output holds a secret hash:\n%s", out)
			}
		}
	}
	if !strings.Contains(out, `"action":"old_secret_retired"`) || !strings.Contains(out, `"key_id":"k"`) {
		t.Fatalf("change not logged:\n%s", out)
	}
}

func TestJanitorRunStopsOnCancelledContext(t *testing.T) {
	s := openStore(t)
	ignore := goleak.IgnoreCurrent()
	j := newJanitor(t, s, nil, t0)
	j.newTicker = manualTicker(make(chan time.Time))
	swept := false
	j.afterSweep = func(SweepReport, error) { swept = true }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j.Run(ctx)
	if swept {
		t.Fatalf("Run swept with a cancelled context")
	}
	goleak.VerifyNone(t, ignore)
}
