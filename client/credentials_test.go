package client

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/latchkeyhq/latchkey/pki"
)

// resourceServer is a gRPC server standing for a workload's resource
// server: it records the authorization header of each call and answers as
// refuse decides.
type resourceServer struct {
	lis     *bufconn.Listener
	tlsConf *tls.Config // for clients; nil when the server is plaintext

	mu     sync.Mutex
	seen   []string
	refuse func(call int, auth string) error
}

func newResourceServer(t *testing.T, secure bool) *resourceServer {
	t.Helper()
	rs := &resourceServer{lis: bufconn.Listen(1 << 20)}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(rs.intercept)}
	if secure {
		now := time.Now()
		ca, err := pki.NewCA("resource test CA", now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ca.IssueServer(pki.LeafOptions{DNSNames: []string{"orders.test"}})
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{leaf.TLS},
		})))
		rs.tlsConf = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool(), ServerName: "orders.test"}
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(rs.lis)
	t.Cleanup(srv.Stop)
	return rs
}

func (rs *resourceServer) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := ""
	if v := md.Get("authorization"); len(v) == 1 {
		auth = v[0]
	}
	rs.mu.Lock()
	rs.seen = append(rs.seen, auth)
	n, refuse := len(rs.seen), rs.refuse
	rs.mu.Unlock()
	if refuse != nil {
		if err := refuse(n, auth); err != nil {
			return nil, err
		}
	}
	return h(ctx, req)
}

func (rs *resourceServer) headers() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...)
}

func (rs *resourceServer) dial(t *testing.T, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	t.Helper()
	creds := insecure.NewCredentials()
	if rs.tlsConf != nil {
		creds = credentials.NewTLS(rs.tlsConf)
	}
	opts = append(opts,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return rs.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds))
	conn, err := grpc.NewClient("passthrough:///orders.test", opts...)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, err
}

func check(conn *grpc.ClientConn, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, opts...)
	return err
}

func TestCredentialsRequireTransportSecurity(t *testing.T) {
	fx := newFixture(t, middleRand, nil)
	creds := fx.client.Credentials()
	if !creds.RequireTransportSecurity() {
		t.Fatal("RequireTransportSecurity() = false")
	}

	t.Run("dial option on plaintext", func(t *testing.T) {
		rs := newResourceServer(t, false)
		if _, err := rs.dial(t, grpc.WithPerRPCCredentials(creds)); err == nil {
			t.Fatal("plaintext connection with the credentials was allowed")
		}
	})
	t.Run("call option on plaintext", func(t *testing.T) {
		rs := newResourceServer(t, false)
		conn, err := rs.dial(t)
		if err != nil {
			t.Fatal(err)
		}
		err = check(conn, grpc.PerRPCCredentials(creds))
		assertCode(t, err, codes.Unauthenticated)
		if h := rs.headers(); len(h) != 0 {
			t.Fatalf("resource server saw %d calls, want 0", len(h))
		}
		if n := fx.server.count(); n != 0 {
			t.Fatalf("exchanges = %d; a token was fetched for a call that cannot carry it", n)
		}
	})

	tests := []struct {
		name string
		ctx  context.Context
		ok   bool
	}{
		{"no request info", context.Background(), false},
		{"integrity only", credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{
			AuthInfo: credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.IntegrityOnly}},
		}), false},
		{"no security", credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{
			AuthInfo: credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}},
		}), false},
		{"privacy and integrity", credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{
			AuthInfo: credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}},
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := creds.GetRequestMetadata(tt.ctx, "https://orders.test")
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if md != nil {
					t.Fatalf("metadata %v returned with an error", len(md))
				}
				return
			}
			if len(md) != 1 || md["authorization"] != "Bearer "+fx.server.tokens()[0] {
				t.Fatal("metadata is not exactly the bearer token")
			}
		})
	}
}

func TestCredentialsAttachBearerOverTLS(t *testing.T) {
	fx := newFixture(t, middleRand, nil)
	rs := newResourceServer(t, true)
	conn, err := rs.dial(t, grpc.WithPerRPCCredentials(fx.client.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := check(conn); err != nil {
			t.Fatal(err)
		}
	}
	want := "Bearer " + fx.server.tokens()[0]
	for i, h := range rs.headers() {
		if h != want {
			t.Fatalf("call %d: authorization header is not the cached bearer token", i)
		}
	}
	if n := fx.server.count(); n != 1 {
		t.Fatalf("exchanges = %d, want 1", n)
	}

	// An exchange failure fails the call before anything is sent. The
	// failure is set first: Invalidate wakes the refresher, which would
	// otherwise exchange a new token before the failure takes effect.
	fx.server.set(func(f *fakeTokens) { f.fail = unavailable })
	fx.client.Invalidate(fx.server.tokens()[0])
	assertCode(t, check(conn), codes.Unavailable)
	if n := len(rs.headers()); n != 5 {
		t.Fatalf("resource server saw %d calls, want 5", n)
	}
}

func TestUnaryInterceptorRetriesOnceOnUnauthenticated(t *testing.T) {
	refused := status.Error(codes.Unauthenticated, "token revoked")
	tests := []struct {
		name      string
		noCreds   bool
		refuse    func(call int, auth string) error
		wantCode  codes.Code
		wantCalls int
		wantExch  int
	}{
		{"accepted", false, nil, codes.OK, 1, 1},
		{"first token refused", false, func(call int, _ string) error {
			if call == 1 {
				return refused
			}
			return nil
		}, codes.OK, 2, 2},
		{"every token refused", false, func(int, string) error { return refused }, codes.Unauthenticated, 2, 2},
		{"permission denied is not retried", false, func(int, string) error {
			return status.Error(codes.PermissionDenied, "scope missing")
		}, codes.PermissionDenied, 1, 1},
		{"unavailable is not retried", false, func(int, string) error {
			return status.Error(codes.Unavailable, "down")
		}, codes.Unavailable, 1, 1},
		{"no token was sent", true, func(int, string) error { return refused }, codes.Unauthenticated, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, middleRand, nil)
			rs := newResourceServer(t, true)
			rs.refuse = tt.refuse
			opts := []grpc.DialOption{grpc.WithUnaryInterceptor(fx.client.UnaryInterceptor())}
			if !tt.noCreds {
				opts = append(opts, grpc.WithPerRPCCredentials(fx.client.Credentials()))
			}
			conn, err := rs.dial(t, opts...)
			if err != nil {
				t.Fatal(err)
			}
			assertCode(t, check(conn), tt.wantCode)
			seen := rs.headers()
			if len(seen) != tt.wantCalls {
				t.Fatalf("resource calls = %d, want %d", len(seen), tt.wantCalls)
			}
			if n := fx.server.count(); n != tt.wantExch {
				t.Fatalf("exchanges = %d, want %d", n, tt.wantExch)
			}
			// A retry carries the fresh token, never the refused one again.
			issued := fx.server.tokens()
			for i, h := range seen {
				want := ""
				if !tt.noCreds {
					want = "Bearer " + issued[i]
				}
				if h != want {
					t.Fatalf("call %d carried the wrong authorization header", i)
				}
			}
		})
	}
}
