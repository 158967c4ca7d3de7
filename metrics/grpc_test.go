package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/rootkey"
)

const (
	familyRequests = "latchkey_grpc_requests_total"
	familyDuration = "latchkey_grpc_request_duration_seconds"
	familyInFlight = "latchkey_grpc_in_flight"
)

func TestInterceptorsCountEachCall(t *testing.T) {
	const step = 3 * time.Millisecond
	m := New()
	m.now = newStepClock(step).Now
	ts := startServer(t, m)
	ctx := t.Context()

	cases := []struct {
		name     string
		method   string
		calls    int
		call     func() error
		wantCode codes.Code
	}{
		{"health check serving", methodCheck, 3, func() error { return ts.invoke(ctx, methodCheck) }, codes.OK},
		{"handler returns status", methodFail, 2, func() error { return ts.invoke(ctx, methodFail) }, codes.PermissionDenied},
		{"handler returns plain error", methodPlain, 1, func() error { return ts.invoke(ctx, methodPlain) }, codes.Unknown},
		{"handler panics", methodPanic, 2, func() error { return ts.invoke(ctx, methodPanic) }, codes.Internal},
		{"server stream fails after sending", methodCount, 2, func() error {
			n, err := ts.stream(ctx, methodCount)
			if n != 2 {
				return fmt.Errorf("received %d messages, want 2", n)
			}
			return err
		}, codes.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.calls {
				if err := tc.call(); status.Code(err) != tc.wantCode {
					t.Fatalf("call %d: got %v, want code %v", i, err, tc.wantCode)
				}
			}
			// The server writes the status after the interceptors return,
			// so the client seeing it means the metrics are final.
			if got := m.InFlight(); got != 0 {
				t.Errorf("InFlight() = %d after the calls returned, want 0", got)
			}
			if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues(tc.method, tc.wantCode.String())); got != float64(tc.calls) {
				t.Errorf("requests{method=%q,code=%q} = %v, want %d", tc.method, tc.wantCode, got, tc.calls)
			}
			h := series(t, m.Registry(), familyDuration, "method", tc.method).GetHistogram()
			if h.GetSampleCount() != uint64(tc.calls) {
				t.Errorf("duration count = %d, want %d", h.GetSampleCount(), tc.calls)
			}
			if want := float64(tc.calls) * step.Seconds(); !closeTo(h.GetSampleSum(), want) {
				t.Errorf("duration sum = %v, want %v", h.GetSampleSum(), want)
			}
			if got := testutil.ToFloat64(m.grpcInFlight.WithLabelValues(tc.method)); got != 0 {
				t.Errorf("in_flight{method=%q} = %v, want 0", tc.method, got)
			}
		})
	}

	// Exactly one series per (method, code) pair that occurred: nothing
	// was created for codes a method never returned.
	if n := testutil.CollectAndCount(m.grpcRequests, familyRequests); n != len(cases) {
		t.Errorf("%s has %d series, want %d", familyRequests, n, len(cases))
	}
}

func closeTo(got, want float64) bool {
	d := got - want
	return d < 1e-9 && d > -1e-9
}

func TestInFlightWhileHandlersBlock(t *testing.T) {
	m := New()
	ts := startServer(t, m)
	ctx := t.Context()

	const blocked = 2
	errs := make(chan error, blocked)
	for range blocked {
		go func() { errs <- ts.invoke(ctx, methodBlock) }()
	}
	for range blocked {
		<-ts.probe.entered
	}
	if got := m.InFlight(); got != blocked {
		t.Errorf("InFlight() while %d handlers block = %d", blocked, got)
	}
	if got := testutil.ToFloat64(m.grpcInFlight.WithLabelValues(methodBlock)); got != blocked {
		t.Errorf("in_flight{method=Block} = %v, want %d", got, blocked)
	}
	if got := testutil.ToFloat64(m.grpcInFlight.WithLabelValues(methodCheck)); got != 0 {
		t.Errorf("in_flight{method=Check} = %v, want 0", got)
	}

	for range blocked {
		ts.probe.release <- struct{}{}
	}
	for range blocked {
		if err := <-errs; err != nil {
			t.Fatalf("Block: %v", err)
		}
	}
	if got := m.InFlight(); got != 0 {
		t.Errorf("InFlight() after release = %d, want 0", got)
	}
	if got := testutil.ToFloat64(m.grpcInFlight.WithLabelValues(methodBlock)); got != 0 {
		t.Errorf("in_flight{method=Block} after release = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues(methodBlock, "OK")); got != blocked {
		t.Errorf("requests{Block,OK} = %v, want %d", got, blocked)
	}
}

func TestStreamInFlightUntilCancelled(t *testing.T) {
	m := New()
	ts := startServer(t, m)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	watch, err := ts.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, methodWatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.SendMsg(&healthgrpc.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := watch.RecvMsg(new(healthgrpc.HealthCheckResponse)); err != nil {
		t.Fatalf("first Watch message: %v", err)
	}
	if got := m.InFlight(); got != 1 {
		t.Errorf("InFlight() during Watch = %d, want 1", got)
	}
	if got := testutil.ToFloat64(m.grpcInFlight.WithLabelValues(methodWatch)); got != 1 {
		t.Errorf("in_flight{Watch} = %v, want 1", got)
	}

	cancel()
	// GracefulStop returns only once every handler has returned.
	ts.srv.GracefulStop()
	if got := m.InFlight(); got != 0 {
		t.Errorf("InFlight() after Watch ended = %d, want 0", got)
	}
	if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues(methodWatch, "Canceled")); got != 1 {
		t.Errorf("requests{Watch,Canceled} = %v, want 1", got)
	}
}

func TestUnknownServiceCountedAsOther(t *testing.T) {
	key, err := rootkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	ts := startServer(t, m, grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return status.Error(codes.Unimplemented, "no such method")
	}))
	ctx := t.Context()

	// Names a client chose: well-formed, so only the unknown-service
	// check keeps them out of the label.
	names := []string{
		"/" + key.Reveal() + "/Get",
		"/latchkey.v1.Secret/" + key.ID(),
		"/grpc.health.v1.Health/Nope",
	}
	for _, name := range names {
		if err := ts.invoke(ctx, name); status.Code(err) != codes.Unimplemented {
			t.Fatalf("%s: got %v, want Unimplemented", name, err)
		}
	}
	if got := labelValues(t, m.Registry(), familyRequests, "method"); len(got) != 1 || got[0] != other {
		t.Errorf("method labels = %q, want only %q", got, other)
	}
	if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues(other, "Unimplemented")); got != float64(len(names)) {
		t.Errorf("requests{other,Unimplemented} = %v, want %d", got, len(names))
	}
}

// callDirect runs the unary interceptor outside a server, as something
// other than grpc.Server might.
func callDirect(t *testing.T, m *Metrics, method string, err error) {
	t.Helper()
	icpt := m.UnaryInterceptor()
	info := &grpc.UnaryServerInfo{Server: struct{}{}, FullMethod: method}
	_, got := icpt(t.Context(), nil, info, func(context.Context, any) (any, error) { return nil, err })
	if got != err {
		t.Fatalf("interceptor returned %v, want the handler's %v", got, err)
	}
}

func TestMethodAndCodeLabelsAreBounded(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		err        error
		wantMethod string
		wantCode   string
	}{
		{"registered shape", "/latchkey.v1.TokenService/ExchangeToken", nil, "/latchkey.v1.TokenService/ExchangeToken", "OK"},
		{"no leading slash", "latchkey.v1.TokenService/ExchangeToken", nil, other, "OK"},
		{"no method", "/latchkey.v1.TokenService/", nil, other, "OK"},
		{"no service", "//ExchangeToken", nil, other, "OK"},
		{"extra segment", "/a.B/C/D", nil, other, "OK"},
		{"dot in method", "/a.B/C.D", nil, other, "OK"},
		{"space", "/a.B/C D", nil, other, "OK"},
		{"non-ascii", "/a.B/Cé", nil, other, "OK"},
		{"too long", "/a.B/" + strings.Repeat("x", maxMethodLen), nil, other, "OK"},
		{"empty", "", nil, other, "OK"},
		{"unnamed code", "/a.B/C", status.Error(codes.Code(99), "future"), "/a.B/C", other},
		{"highest named code", "/a.B/C", status.Error(codes.Unauthenticated, "x"), "/a.B/C", "Unauthenticated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			callDirect(t, m, tc.method, tc.err)
			if n := testutil.CollectAndCount(m.grpcRequests); n != 1 {
				t.Fatalf("%d request series, want 1", n)
			}
			if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues(tc.wantMethod, tc.wantCode)); got != 1 {
				t.Errorf("requests{%q,%q} = %v, want 1", tc.wantMethod, tc.wantCode, got)
			}
		})
	}

	t.Run("distinct methods beyond the cap", func(t *testing.T) {
		m := New()
		const extra = 10
		for i := range maxMethods + extra {
			callDirect(t, m, fmt.Sprintf("/a.B/M%d", i), nil)
		}
		if n := testutil.CollectAndCount(m.grpcRequests); n != maxMethods+1 {
			t.Errorf("%d request series, want %d", n, maxMethods+1)
		}
		if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues(other, "OK")); got != extra {
			t.Errorf("requests{other,OK} = %v, want %d", got, extra)
		}
		// A method seen before the cap keeps its own series.
		callDirect(t, m, "/a.B/M0", nil)
		if got := testutil.ToFloat64(m.grpcRequests.WithLabelValues("/a.B/M0", "OK")); got != 2 {
			t.Errorf("requests{M0,OK} = %v, want 2", got)
		}
	})
}

func TestValidMethod(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"/grpc.health.v1.Health/Check", true},
		{"/a/b", true},
		{"/a_b.C9/D_e", true},
		{"/a/", false},
		{"//b", false},
		{"/a", false},
		{"a/b", false},
		{"/a/b/c", false},
		{"/a/b.c", false},
		{"/a-b/c", false},
		{"/a/b\n", false},
		{"/" + strings.Repeat("a", maxMethodLen-3) + "/b", true},
		{"/" + strings.Repeat("a", maxMethodLen-2) + "/b", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%.40q", tc.in), func(t *testing.T) {
			if got := validMethod(tc.in); got != tc.want {
				t.Errorf("validMethod(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
