package verifier

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// spyConn wraps a real connection and records what the verifier asks of
// Latchkey: how often it fetched the JWKS and the revision each
// WatchRevocations stream resumed from. failProbes makes IntrospectToken fail
// without reaching the server.
type spyConn struct {
	grpc.ClientConnInterface

	mu         sync.Mutex
	jwks       int
	introspect int
	watchFrom  []uint64
	failProbes bool
}

func (c *spyConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c.mu.Lock()
	switch method {
	case latchkeyv1.TokenService_GetJWKS_FullMethodName:
		c.jwks++
	case latchkeyv1.TokenService_IntrospectToken_FullMethodName:
		c.introspect++
		if c.failProbes {
			c.mu.Unlock()
			return errProbeRefused
		}
	}
	c.mu.Unlock()
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

func (c *spyConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := c.ClientConnInterface.NewStream(ctx, desc, method, opts...)
	if err != nil || method != latchkeyv1.TokenService_WatchRevocations_FullMethodName {
		return s, err
	}
	return &spyStream{ClientStream: s, conn: c}, nil
}

type spyStream struct {
	grpc.ClientStream
	conn *spyConn
}

func (s *spyStream) SendMsg(m any) error {
	if req, ok := m.(*latchkeyv1.WatchRevocationsRequest); ok {
		s.conn.mu.Lock()
		s.conn.watchFrom = append(s.conn.watchFrom, req.GetFromRevision())
		s.conn.mu.Unlock()
	}
	return s.ClientStream.SendMsg(m)
}

func (c *spyConn) jwksFetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jwks
}

func (c *spyConn) watches() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint64(nil), c.watchFrom...)
}

func (c *spyConn) setFailProbes(fail bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failProbes = fail
}

type probeRefused struct{}

func (probeRefused) Error() string { return "probe refused by the test" }

var errProbeRefused error = probeRefused{}

// newSpiedVerifier is newVerifier over a spyConn.
func (l *latchkey) newSpiedVerifier(mod func(*Config)) (*Verifier, *spyConn) {
	spy := &spyConn{ClientConnInterface: l.dial(idRS)}
	v := l.newVerifier(func(c *Config) {
		c.Conn = spy
		if mod != nil {
			mod(c)
		}
	})
	return v, spy
}
