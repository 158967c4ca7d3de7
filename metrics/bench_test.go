package metrics

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hotPath returns a function that runs one unary call through the
// interceptor, after a first call has warmed the per-method cache.
func hotPath(m *Metrics, err error) func() {
	icpt := m.UnaryInterceptor()
	ctx := context.Background()
	info := &grpc.UnaryServerInfo{Server: struct{}{}, FullMethod: "/latchkey.v1.TokenService/ExchangeToken"}
	handler := func(context.Context, any) (any, error) { return nil, err }
	call := func() { _, _ = icpt(ctx, nil, info, handler) }
	call()
	return call
}

func TestInterceptorDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	cases := []struct {
		name string
		err  error
	}{
		{"ok", nil},
		{"status error", status.Error(codes.PermissionDenied, "denied")},
		{"unnamed code", status.Error(codes.Code(42), "future")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := hotPath(New(), tc.err)
			if n := testing.AllocsPerRun(1000, call); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
	t.Run("folded method", func(t *testing.T) {
		m := New()
		icpt := m.UnaryInterceptor()
		info := &grpc.UnaryServerInfo{Server: struct{}{}, FullMethod: "not a method"}
		handler := func(context.Context, any) (any, error) { return nil, nil }
		call := func() { _, _ = icpt(context.Background(), nil, info, handler) }
		call()
		if n := testing.AllocsPerRun(1000, call); n != 0 {
			t.Errorf("%v allocations per call, want 0", n)
		}
	})
}

func BenchmarkUnaryInterceptor(b *testing.B) {
	call := hotPath(New(), nil)
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}

func BenchmarkUnaryInterceptorParallel(b *testing.B) {
	call := hotPath(New(), nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call()
		}
	})
}
