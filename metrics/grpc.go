package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// maxMethods bounds the method label even if something other than a
	// grpc.Server drives the interceptors; Latchkey registers a few dozen.
	maxMethods = 256
	// maxMethodLen bounds one method label value.
	maxMethodLen = 256
	// numCodes is the number of gRPC codes with names; higher values are
	// counted as "other" rather than as "Code(N)".
	numCodes = int(codes.Unauthenticated) + 1
)

// methodMetrics holds one method's metric children, looked up once and then
// reused, so an RPC costs no label hashing and no allocation.
type methodMetrics struct {
	name     string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	inFlight prometheus.Gauge
	// byCode is filled lazily so a method has series only for codes it
	// has returned; the last slot is "other".
	byCode [numCodes + 1]atomic.Pointer[counterRef]
}

type counterRef struct{ c prometheus.Counter }

func (m *Metrics) newMethodMetrics(name string) *methodMetrics {
	return &methodMetrics{
		name:     name,
		requests: m.grpcRequests,
		duration: m.grpcDuration.WithLabelValues(name),
		inFlight: m.grpcInFlight.WithLabelValues(name),
	}
}

func (mm *methodMetrics) counter(code codes.Code) prometheus.Counter {
	i, label := numCodes, other
	if int64(code) < int64(numCodes) {
		i, label = int(code), code.String()
	}
	if r := mm.byCode[i].Load(); r != nil {
		return r.c
	}
	// WithLabelValues returns the same child for the same labels, so two
	// racing first calls store equivalent handles.
	r := &counterRef{c: mm.requests.WithLabelValues(mm.name, label)}
	mm.byCode[i].Store(r)
	return r.c
}

// method returns the metrics for fullMethod, folding into "other" any
// method that is not a registered one.
func (m *Metrics) method(srv any, fullMethod string) *methodMetrics {
	// grpc.Server passes a nil service only to the unknown-service
	// handler, whose method name is whatever the client sent.
	if srv == nil {
		return m.otherMethod
	}
	if v, ok := m.methods.Load(fullMethod); ok {
		return v.(*methodMetrics)
	}
	return m.addMethod(fullMethod)
}

func (m *Metrics) addMethod(name string) *methodMetrics {
	if !validMethod(name) {
		return m.otherMethod
	}
	m.methodsMu.Lock()
	defer m.methodsMu.Unlock()
	if v, ok := m.methods.Load(name); ok {
		return v.(*methodMetrics)
	}
	if m.methodCount >= maxMethods {
		return m.otherMethod
	}
	mm := m.newMethodMetrics(name)
	m.methods.Store(name, mm)
	m.methodCount++
	return mm
}

// validMethod reports whether name has the shape of a gRPC full method
// name, "/package.Service/Method", with identifier characters only.
func validMethod(name string) bool {
	if len(name) < 4 || len(name) > maxMethodLen || name[0] != '/' {
		return false
	}
	slash := 0
	for i := 1; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '/':
			if slash != 0 || i == 1 || i == len(name)-1 {
				return false
			}
			slash = i
		case c == '.':
			if slash != 0 {
				return false
			}
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return slash != 0
}

// call tracks one RPC from the interceptor's entry to its exit.
type call struct {
	m        *Metrics
	mm       *methodMetrics
	start    time.Time
	code     codes.Code
	returned bool
}

func (m *Metrics) begin(srv any, fullMethod string) call {
	mm := m.method(srv, fullMethod)
	mm.inFlight.Inc()
	m.inFlight.Add(1)
	return call{m: m, mm: mm, start: m.now()}
}

func (c *call) returnedWith(err error) {
	c.code = status.Code(err)
	c.returned = true
}

// end runs deferred, so a panicking handler still leaves the in-flight
// gauges. It is counted as Internal, the code the recovery interceptor
// outside this one turns a panic into.
func (c *call) end() {
	code := c.code
	if !c.returned {
		code = codes.Internal
	}
	c.mm.duration.Observe(c.m.now().Sub(c.start).Seconds())
	c.mm.counter(code).Inc()
	c.mm.inFlight.Dec()
	c.m.inFlight.Add(-1)
}

// UnaryInterceptor counts, times and tracks in-flight unary RPCs. It
// belongs just inside the recovery interceptor.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c := m.begin(info.Server, info.FullMethod)
		defer c.end()
		resp, err := handler(ctx, req)
		c.returnedWith(err)
		return resp, err
	}
}

// StreamInterceptor counts, times and tracks in-flight streaming RPCs; the
// duration is the life of the stream. It belongs just inside the recovery
// interceptor.
func (m *Metrics) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		c := m.begin(srv, info.FullMethod)
		defer c.end()
		err := handler(srv, ss)
		c.returnedWith(err)
		return err
	}
}

// InFlight returns how many handlers are running now across all methods.
func (m *Metrics) InFlight() int64 { return m.inFlight.Load() }
