package alert

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
)

// t0 is the start of a wall-clock minute, so offsets below a minute stay in it.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	idA = "spiffe://example.org/ns/prod/sa/a"
	idB = "spiffe://example.org/ns/prod/sa/b"
	idC = "spiffe://example.org/ns/prod/sa/c"
	idX = "spiffe://example.org/ns/dev/sa/x"
	idY = "spiffe://example.org/ns/dev/sa/y"
)

type opt func(*audit.Event)

// exchange is a granted exchange of key k1 by idA from 10.0.0.1 at t0+at.
func exchange(at time.Duration, opts ...opt) audit.Event {
	e := audit.Event{
		Kind:   audit.KindExchange,
		Time:   t0.Add(at),
		Actor:  idA,
		Peer:   netip.MustParseAddrPort("10.0.0.1:40000"),
		Method: "/latchkey.v1.TokenService/ExchangeToken",
		KeyID:  "k1",
		Result: audit.ResultOK,
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func actor(id string) opt   { return func(e *audit.Event) { e.Actor = id } }
func key(id string) opt     { return func(e *audit.Event) { e.KeyID = id } }
func peer(ap string) opt    { return func(e *audit.Event) { e.Peer = netip.MustParseAddrPort(ap) } }
func flags(f ...string) opt { return func(e *audit.Event) { e.KeyFlags = f } }
func kind(k audit.Kind) opt { return func(e *audit.Event) { e.Kind = k } }

func denied(reason string) opt {
	return func(e *audit.Event) { e.Result, e.Reason = audit.ResultDenied, reason }
}

// invalid is a denial for a key that could not be used, with no key id.
func invalid(reason string) opt {
	return func(e *audit.Event) { e.Result, e.Reason, e.KeyID = audit.ResultDenied, reason, "" }
}

// step is one event and the alerts it must raise, in order. Of each wanted
// alert, Kind, KeyID, Identity and Network are compared exactly, as are the
// Detail entries listed; At must be the event's time.
type step struct {
	e    audit.Event
	want []Alert
}

func quiet(events ...audit.Event) []step {
	s := make([]step, len(events))
	for i, e := range events {
		s[i] = step{e: e}
	}
	return s
}

func then(steps []step, more ...step) []step { return append(steps, more...) }

// every returns n events at start, start+gap, ... built from opts.
func every(n int, start, gap time.Duration, opts ...opt) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = exchange(start+time.Duration(i)*gap, opts...)
	}
	return out
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func runSteps(t *testing.T, d *Detector, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := d.Observe(s.e)
		if len(got) != len(s.want) {
			t.Fatalf("step %d (%s %s/%s at %s): got %d alerts %v, want %d %v",
				i, s.e.Result, s.e.Reason, s.e.Actor, s.e.Time.Sub(t0), len(got), kinds(got), len(s.want), kinds(s.want))
		}
		for j, w := range s.want {
			checkAlert(t, i, got[j], w, s.e.Time)
		}
	}
}

func checkAlert(t *testing.T, i int, got, want Alert, at time.Time) {
	t.Helper()
	if got.Kind != want.Kind || got.KeyID != want.KeyID || got.Identity != want.Identity || got.Network != want.Network {
		t.Errorf("step %d: got {%s key=%q id=%q net=%q}, want {%s key=%q id=%q net=%q}", i,
			got.Kind, got.KeyID, got.Identity, got.Network, want.Kind, want.KeyID, want.Identity, want.Network)
	}
	if !got.At.Equal(at) {
		t.Errorf("step %d: At = %s, want %s", i, got.At, at)
	}
	if got.Message == "" || strings.ContainsAny(got.Message, "\r\n") {
		t.Errorf("step %d: Message %q is not one line", i, got.Message)
	}
	for k, v := range want.Detail {
		if got.Detail[k] != v {
			t.Errorf("step %d: Detail[%q] = %q, want %q (all: %v)", i, k, got.Detail[k], v, got.Detail)
		}
	}
}

func kinds(as []Alert) []Kind {
	out := make([]Kind, len(as))
	for i, a := range as {
		out[i] = a.Kind
	}
	return out
}

func mustDetector(t testing.TB, cfg Config) *Detector {
	t.Helper()
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatalf("NewDetector: %v", err)
	}
	return d
}
