package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const probeService = "latchkey.metricstest.Probe"

// Full method names the tests call.
const (
	methodCheck = "/grpc.health.v1.Health/Check"
	methodWatch = "/grpc.health.v1.Health/Watch"
	methodFail  = "/" + probeService + "/Fail"
	methodPlain = "/" + probeService + "/Plain"
	methodBlock = "/" + probeService + "/Block"
	methodPanic = "/" + probeService + "/Panic"
	methodCount = "/" + probeService + "/Count"
)

// probeServer is a hand-written service whose handlers fail, block or
// panic on purpose.
type probeServer struct {
	entered chan struct{}
	release chan struct{}
}

type prober interface{ isProbe() }

func (*probeServer) isProbe() {}

func probeUnary(name string, fn func(*probeServer, context.Context) error) grpc.MethodDesc {
	full := "/" + probeService + "/" + name
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				if err := fn(srv.(*probeServer), ctx); err != nil {
					return nil, err
				}
				return &emptypb.Empty{}, nil
			}
			if icpt == nil {
				return h(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
		},
	}
}

var probeDesc = grpc.ServiceDesc{
	ServiceName: probeService,
	HandlerType: (*prober)(nil),
	Methods: []grpc.MethodDesc{
		probeUnary("Fail", func(*probeServer, context.Context) error {
			return status.Error(codes.PermissionDenied, "not allowed")
		}),
		probeUnary("Plain", func(*probeServer, context.Context) error {
			return errors.New("not a status error")
		}),
		probeUnary("Block", func(p *probeServer, ctx context.Context) error {
			p.entered <- struct{}{}
			select {
			case <-p.release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
		probeUnary("Panic", func(*probeServer, context.Context) error {
			panic("handler bug")
		}),
	},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Count",
		ServerStreams: true,
		// Sends two messages, then fails, so the stream's code is known.
		Handler: func(_ any, ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			for range 2 {
				if err := ss.SendMsg(&emptypb.Empty{}); err != nil {
					return err
				}
			}
			return status.Error(codes.NotFound, "no more")
		},
	}},
}

type testServer struct {
	srv    *grpc.Server
	conn   *grpc.ClientConn
	probe  *probeServer
	health *health.Server
}

// startServer runs a grpc.Server on loopback with recovery outside the
// metrics interceptors, as the real server orders them.
func startServer(t *testing.T, m *Metrics, extra ...grpc.ServerOption) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The server turns a panic into Internal; the interceptors count a
	// panicking handler under that code.
	recoverOpt := recovery.WithRecoveryHandler(func(any) error {
		return status.Error(codes.Internal, "internal error")
	})
	opts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(recoverOpt), m.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(recoverOpt), m.StreamInterceptor()),
	}, extra...)
	ts := &testServer{
		srv:    grpc.NewServer(opts...),
		probe:  &probeServer{entered: make(chan struct{}), release: make(chan struct{})},
		health: health.NewServer(),
	}
	healthgrpc.RegisterHealthServer(ts.srv, ts.health)
	ts.srv.RegisterService(&probeDesc, ts.probe)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = ts.srv.Serve(lis)
	}()
	ts.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ts.conn.Close()
		ts.srv.Stop()
		<-served
	})
	return ts
}

func (ts *testServer) invoke(ctx context.Context, method string) error {
	return ts.conn.Invoke(ctx, method, &emptypb.Empty{}, new(emptypb.Empty))
}

// stream calls a server-streaming method and returns how many messages
// arrived and the final error.
func (ts *testServer) stream(ctx context.Context, method string) (int, error) {
	s, err := ts.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
	if err != nil {
		return 0, err
	}
	if err := s.SendMsg(&emptypb.Empty{}); err != nil {
		return 0, err
	}
	if err := s.CloseSend(); err != nil {
		return 0, err
	}
	n := 0
	for {
		if err := s.RecvMsg(new(emptypb.Empty)); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// stepClock advances by step on every reading, so each sequential RPC
// lasts exactly step.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newStepClock(step time.Duration) *stepClock {
	return &stepClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), step: step}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

// family gathers g and returns the family called name, or nil.
func family(t *testing.T, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// series returns the metric in family name whose labels are exactly
// labels (name, value pairs, sorted by name as the registry sorts them),
// or nil.
func series(t *testing.T, g prometheus.Gatherer, name string, labels ...string) *dto.Metric {
	t.Helper()
	mf := family(t, g, name)
	if mf == nil {
		return nil
	}
	for _, metric := range mf.GetMetric() {
		if hasLabels(metric, labels) {
			return metric
		}
	}
	return nil
}

func hasLabels(metric *dto.Metric, labels []string) bool {
	if len(metric.GetLabel())*2 != len(labels) {
		return false
	}
	for i, lp := range metric.GetLabel() {
		if lp.GetName() != labels[2*i] || lp.GetValue() != labels[2*i+1] {
			return false
		}
	}
	return true
}

// labelValues returns the values label takes across family name.
func labelValues(t *testing.T, g prometheus.Gatherer, name, label string) []string {
	t.Helper()
	mf := family(t, g, name)
	var out []string
	for _, metric := range mf.GetMetric() {
		for _, lp := range metric.GetLabel() {
			if lp.GetName() == label {
				out = append(out, lp.GetValue())
			}
		}
	}
	return out
}
