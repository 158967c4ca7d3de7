package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/latchkeyhq/latchkey/policy"
)

// The abuse service exists only in these tests: Block holds its handler
// slot until released, so an attacker's work piles up where it can be
// counted; NoRule has an authorization rule but no rate-limit rule.
const (
	abuseBlock  = "/latchkey.test.Abuse/Block"
	abuseNoRule = "/latchkey.test.Abuse/NoRule"
)

// emptyGRPCMessage is a length-prefixed gRPC message with no bytes: an
// uncompressed flag and a zero length.
var emptyGRPCMessage = []byte{0, 0, 0, 0, 0}

// blocker counts the handlers running now, the most ever running at once
// and every call that reached a handler. It ignores the call's context on
// purpose: work a client cancelled must still be bounded by the server.
type blocker struct {
	running, peak, calls atomic.Int64
	release              chan struct{}
	once                 sync.Once
}

func (b *blocker) hold() {
	b.calls.Add(1)
	n := b.running.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-b.release
	b.running.Add(-1)
}

func (b *blocker) open() { b.once.Do(func() { close(b.release) }) }

func abuseDesc(b *blocker) *grpc.ServiceDesc {
	method := func(full string, fn func()) grpc.MethodHandler {
		return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: full}
			return icpt(ctx, in, info, func(context.Context, any) (any, error) { fn(); return &emptypb.Empty{}, nil })
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: "latchkey.test.Abuse",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Block", Handler: method(abuseBlock, b.hold)},
			{MethodName: "NoRule", Handler: method(abuseNoRule, func() { b.calls.Add(1) })},
		},
	}
}

// newAbuseEnv is a server with the abuse service registered.
func newAbuseEnv(t *testing.T) (*env, *blocker) {
	t.Helper()
	methodRoles[abuseBlock] = []policy.Role{anyCaller}
	methodRoles[abuseNoRule] = []policy.Role{anyCaller}
	methodRules[abuseBlock] = methodRule{limit: limitCaller}
	// Registered before the server so the tables are restored only after
	// it has stopped reading them.
	t.Cleanup(func() {
		delete(methodRoles, abuseBlock)
		delete(methodRoles, abuseNoRule)
		delete(methodRules, abuseBlock)
	})
	b := &blocker{release: make(chan struct{})}
	e := newEnvWith(t, func(s *Server) { s.GRPC().RegisterService(abuseDesc(b), struct{}{}) })
	// Runs before the server stops, so a failed test cannot leave handlers
	// blocked during shutdown.
	t.Cleanup(b.open)
	return e, b
}

// noLeaks fails the test if goroutines it started outlive it. Call it
// first, so its check runs after every other cleanup.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// waitUntil polls cond until it holds or limit passes.
func waitUntil(limit time.Duration, cond func() bool) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// settle waits, at most five seconds, until n has not changed for 300 ms.
func settle(n func() int64) {
	last, since := n(), time.Now()
	waitUntil(5*time.Second, func() bool {
		if v := n(); v != last {
			last, since = v, time.Now()
		}
		return time.Since(since) >= 300*time.Millisecond
	})
}

// SECURITY-CASES L1: streams opened and reset at once still hold their
// handler slots, so the handlers running never exceed MaxConcurrentStreams
// however fast a client resets.
func TestRapidResetKeepsHandlersWithinStreamLimit(t *testing.T) {
	noLeaks(t)
	e, b := newAbuseEnv(t)
	h := e.dialH2(t)
	const streams = 1000
	h.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	sent := 0
	for id := uint32(1); sent < streams; id += 2 {
		err := h.call(id, abuseBlock)
		if err == nil {
			err = h.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) })
		}
		if err != nil {
			// A server that stops reading while every slot is taken is
			// defending itself; what matters is how many handlers run.
			t.Logf("writes stalled after %d streams: %v", sent, err)
			break
		}
		sent++
	}
	if sent <= DefaultMaxConcurrentStreams {
		t.Fatalf("only %d streams sent; the attack must exceed the limit of %d", sent, DefaultMaxConcurrentStreams)
	}
	settle(b.running.Load)
	if p := b.peak.Load(); p <= 0 || p > DefaultMaxConcurrentStreams {
		t.Fatalf("peak handlers in flight %d, want within (0, %d]", p, DefaultMaxConcurrentStreams)
	}
	t.Logf("%d streams opened and reset; at most %d handlers ran at once", sent, b.peak.Load())
	if got := e.metrics.InFlight(); got > DefaultMaxConcurrentStreams {
		t.Fatalf("metrics in flight %d, want at most %d", got, DefaultMaxConcurrentStreams)
	}
	b.open()
	if !waitUntil(10*time.Second, func() bool { return b.running.Load() == 0 && e.metrics.InFlight() == 0 }) {
		t.Fatalf("after release: %d handlers and %d metered calls still in flight", b.running.Load(), e.metrics.InFlight())
	}
}

// A well-behaved client with more calls than the stream limit gets exactly
// the limit running at once; the rest wait their turn and succeed.
func TestManyConcurrentStreamsStayWithinLimit(t *testing.T) {
	noLeaks(t)
	e, b := newAbuseEnv(t)
	conn := e.conn(idAdmin)
	const calls = 300
	errs := make(chan error, calls)
	for range calls {
		go func() {
			c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs <- conn.Invoke(c, abuseBlock, &emptypb.Empty{}, &emptypb.Empty{})
		}()
	}
	if !waitUntil(10*time.Second, func() bool { return b.running.Load() == DefaultMaxConcurrentStreams }) {
		t.Fatalf("%d handlers running, want %d", b.running.Load(), DefaultMaxConcurrentStreams)
	}
	// Give the queued calls a chance to break through before judging.
	settle(b.running.Load)
	if p := b.peak.Load(); p != DefaultMaxConcurrentStreams {
		t.Fatalf("peak handlers in flight %d, want %d", p, DefaultMaxConcurrentStreams)
	}
	if got := e.metrics.InFlight(); got != DefaultMaxConcurrentStreams {
		t.Fatalf("metrics in flight %d, want %d", got, DefaultMaxConcurrentStreams)
	}
	b.open()
	timeout := time.After(20 * time.Second)
	for i := range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		case <-timeout:
			t.Fatalf("only %d of %d calls finished", i, calls)
		}
	}
	if got := b.calls.Load(); got != calls {
		t.Fatalf("%d handlers ran, want %d", got, calls)
	}
}

// Metadata past MaxHeaderListSize never reaches a handler, and the server
// goes on serving.
func TestOversizedMetadataIsRefused(t *testing.T) {
	noLeaks(t)
	e, b := newAbuseEnv(t)
	const pads, padLen = 20, 1 << 10 // 20 KiB against a 16 KiB limit
	var fields []hpack.HeaderField
	md := metadata.MD{}
	for i := range pads {
		name, value := fmt.Sprintf("x-pad-%02d", i), strings.Repeat("a", padLen)
		fields = append(fields, hpack.HeaderField{Name: name, Value: value})
		md.Set(name, value)
	}
	cases := []struct {
		name   string
		attack func(t *testing.T)
	}{
		{"a gRPC client is held to the advertised limit", func(t *testing.T) {
			conn := e.conn(idAdmin)
			// The first call's response comes after the server's SETTINGS,
			// so the client knows the limit before the oversized call.
			if _, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			err := conn.Invoke(metadata.NewOutgoingContext(ctx(t), md), abuseBlock, &emptypb.Empty{}, &emptypb.Empty{})
			want := fmt.Sprintf("header list size to send violates the maximum size (%d bytes) set by server", DefaultMaxHeaderListSize)
			if status.Code(err) != codes.Internal || status.Convert(err).Message() != want {
				t.Fatalf("got %v, want Internal %q", err, want)
			}
		}},
		{"a raw client's stream is reset by the server", func(t *testing.T) {
			h := e.dialH2(t)
			if err := h.writeHeaders(1, abuseBlock, fields, true); err != nil {
				t.Fatal(err)
			}
			ev := h.waitEvent(t, http2.FrameRSTStream, 5*time.Second)
			if ev.streamID != 1 || ev.code != http2.ErrCodeFrameSize {
				t.Fatalf("got RST_STREAM(stream %d, %v), want RST_STREAM(stream 1, %v)", ev.streamID, ev.code, http2.ErrCodeFrameSize)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.attack(t)
			if n := b.calls.Load(); n != 0 {
				t.Fatalf("%d handlers ran for oversized metadata, want 0", n)
			}
			resp, err := healthpb.NewHealthClient(e.conn(idNobody)).Check(ctx(t), &healthpb.HealthCheckRequest{})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health on a new connection: %v %v, want SERVING", resp, err)
			}
		})
	}
}

// SECURITY-CASES L4: a connection that never finishes its handshake is
// closed after ConnectionTimeout, whichever step it stalls at.
func TestSilentConnectionIsClosed(t *testing.T) {
	noLeaks(t)
	const timeout = 300 * time.Millisecond
	e := newEnvConfig(t, func(c *Config) { c.ConnectionTimeout = timeout }, nil)
	cases := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"tcp connect without a ClientHello", func() (net.Conn, error) {
			return net.DialTimeout("tcp", e.addr, 5*time.Second)
		}},
		{"tls handshake without the HTTP/2 preface", func() (net.Conn, error) {
			cfg := e.clientTLS(e.leaves[idAdmin])
			cfg.NextProtos = []string{"h2"}
			return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.addr, cfg)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(start.Add(5 * time.Second))
			// Whatever the server sends first (its SETTINGS) is read and
			// dropped; only the close ends the copy.
			_, err = io.Copy(io.Discard, c)
			elapsed := time.Since(start)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after %s", elapsed)
			}
			if elapsed < timeout-50*time.Millisecond {
				t.Fatalf("closed after %s (%v), before the %s timeout", elapsed, err, timeout)
			}
		})
	}
}

// SECURITY-CASES L5: pings faster than the enforcement policy allows get
// GOAWAY ENHANCE_YOUR_CALM "too_many_pings", with or without a stream open.
func TestPingFloodGetsGoAway(t *testing.T) {
	noLeaks(t)
	e := newEnv(t)
	cases := []struct {
		name       string
		openStream bool
	}{
		{"no streams", false},
		{"one open watch stream", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := e.dialH2(t)
			if tc.openStream {
				if err := h.call(1, healthpb.Health_Watch_FullMethodName); err != nil {
					t.Fatal(err)
				}
				// The first status update proves the stream is open.
				if ev := h.waitEvent(t, http2.FrameData, 5*time.Second); ev.streamID != 1 {
					t.Fatalf("data on stream %d, want 1", ev.streamID)
				}
			}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			timeout := time.After(5 * time.Second)
			for seq := uint64(1); ; seq++ {
				select {
				case ev := <-h.events:
					if ev.kind != http2.FrameGoAway {
						continue
					}
					if ev.code != http2.ErrCodeEnhanceYourCalm || ev.debug != "too_many_pings" {
						t.Fatalf("got GOAWAY(%v, %q), want GOAWAY(%v, \"too_many_pings\")", ev.code, ev.debug, http2.ErrCodeEnhanceYourCalm)
					}
					return
				case <-tick.C:
					var data [8]byte
					binary.BigEndian.PutUint64(data[:], seq)
					// Once the server has hung up, writes fail; the GOAWAY
					// sent before that is what the test waits for.
					h.write(func(fr *http2.Framer) error { return fr.WritePing(false, data) })
				case <-timeout:
					t.Fatalf("no GOAWAY after %d pings", seq)
				}
			}
		})
	}
}

// SECURITY-CASES L9: every method has a rate-limit rule, and a method
// without one is refused rather than served unlimited.
func TestEveryMethodHasARateLimitRule(t *testing.T) {
	noLeaks(t)
	t.Run("every registered method has a rule and every rule a method", func(t *testing.T) {
		e := newEnv(t)
		registered := map[string]bool{}
		for svc, info := range e.srv.GRPC().GetServiceInfo() {
			for _, m := range info.Methods {
				full := "/" + svc + "/" + m.Name
				registered[full] = true
				if r, ok := methodRules[full]; !ok || r.limit == limitUnset {
					t.Errorf("method %s has no rate-limit rule", full)
				}
			}
		}
		for m := range methodRules {
			if !registered[m] {
				t.Errorf("rate-limit rule for unregistered method %s", m)
			}
		}
	})
	t.Run("a method with authorization but no rule fails closed", func(t *testing.T) {
		e, b := newAbuseEnv(t)
		err := e.conn(idAdmin).Invoke(ctx(t), abuseNoRule, &emptypb.Empty{}, &emptypb.Empty{})
		want := "no rate-limit rule for " + abuseNoRule
		if status.Code(err) != codes.Internal || status.Convert(err).Message() != want {
			t.Fatalf("got %v, want Internal %q", err, want)
		}
		if n := b.calls.Load(); n != 0 {
			t.Fatalf("handler ran %d times, want 0", n)
		}
	})
}
