package verifier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/pki"
)

// resourceServer is a gRPC server on 127.0.0.1 guarded by the verifier's
// interceptors, serving the standard health service. seen records the claims
// the handlers found in their context.
type resourceServer struct {
	addr string
	mu   sync.Mutex
	seen []Claims
}

func (l *latchkey) startResourceServer(v *Verifier, scopes map[string][]string) *resourceServer {
	t := l.t
	t.Helper()
	leaf, err := l.ca.IssueServer(pki.LeafOptions{CommonName: "orders-api", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	rs := &resourceServer{}
	record := func(ctx context.Context) {
		if c, ok := ClaimsFromContext(ctx); ok {
			rs.mu.Lock()
			rs.seen = append(rs.seen, c)
			rs.mu.Unlock()
		}
	}
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{leaf.TLS},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: l.ca.Pool(),
		})),
		grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor(scopes),
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				record(ctx)
				return h(ctx, req)
			}),
		grpc.ChainStreamInterceptor(v.StreamServerInterceptor(scopes),
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				record(ss.Context())
				return h(srv, ss)
			}),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs.addr = lis.Addr().String()
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return rs
}

func (rs *resourceServer) claims() []Claims {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]Claims(nil), rs.seen...)
}

func (l *latchkey) healthClient(addr, id string) healthpb.HealthClient {
	l.t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(l.clientTLS(id))))
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func bearer(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// The interceptors map every outcome to the right status code and hand the
// claims to the handler.
func TestInterceptors(t *testing.T) {
	l := startLatchkey(t)
	v := l.newVerifier(nil)
	rs := l.startResourceServer(v, map[string][]string{
		healthpb.Health_Check_FullMethodName: {"orders.read"},
		healthpb.Health_Watch_FullMethodName: {"orders.read"},
		healthpb.Health_List_FullMethodName:  {"orders.write", "billing.read"},
	})
	secret, keyID := l.createKey()
	readTok := l.exchange(secret, "orders.read").GetAccessToken()
	writeTok := l.exchange(secret, "orders.write").GetAccessToken()
	asA, asB := l.healthClient(rs.addr, idWorkloadA), l.healthClient(rs.addr, idWorkloadB)

	cases := []struct {
		name  string
		call  func(ctx context.Context) error
		want  codes.Code
		stale bool
	}{
		{"unary with the scope", func(ctx context.Context) error {
			_, err := asA.Check(bearer(ctx, readTok), &healthpb.HealthCheckRequest{})
			return err
		}, codes.OK, false},
		{"no token", func(ctx context.Context) error {
			_, err := asA.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unauthenticated, false},
		{"garbage token", func(ctx context.Context) error {
			_, err := asA.Check(bearer(ctx, "not.a.token"), &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unauthenticated, false},
		{"basic scheme", func(ctx context.Context) error {
			_, err := asA.Check(metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+readTok), &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unauthenticated, false},
		{"token bound to another certificate", func(ctx context.Context) error {
			_, err := asB.Check(bearer(ctx, readTok), &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unauthenticated, false},
		{"missing scope", func(ctx context.Context) error {
			_, err := asA.Check(bearer(ctx, writeTok), &healthpb.HealthCheckRequest{})
			return err
		}, codes.PermissionDenied, false},
		{"one of two scopes", func(ctx context.Context) error {
			_, err := asA.List(bearer(ctx, writeTok), &healthpb.HealthListRequest{})
			return err
		}, codes.PermissionDenied, false},
		{"stream with the scope", func(ctx context.Context) error {
			s, err := asA.Watch(bearer(ctx, readTok), &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.OK, false},
		{"stream without a token", func(ctx context.Context) error {
			s, err := asA.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.Unauthenticated, false},
		{"stream missing scope", func(ctx context.Context) error {
			s, err := asA.Watch(bearer(ctx, writeTok), &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied, false},
		{"stale replica", func(ctx context.Context) error {
			_, err := asA.Check(bearer(ctx, readTok), &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unavailable, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stale {
				l.stop()
				waitFor(t, 2*time.Second, "stream down", func() bool { return !v.rep.isUp() })
				l.clock.Advance(DefaultMaxStaleness + time.Second)
			}
			if got := status.Code(tc.call(testCtx(t))); got != tc.want {
				t.Fatalf("code %v, want %v", got, tc.want)
			}
		})
	}
	seen := rs.claims()
	if len(seen) != 2 || seen[0].ClientID != keyID || seen[1].ClientID != keyID {
		t.Fatalf("handlers saw claims %+v; want the two allowed calls", seen)
	}
}

// A method missing from the scope table is denied even with a valid token.
func TestInterceptorDeniesUnlistedMethod(t *testing.T) {
	l := startLatchkey(t)
	v := l.newVerifier(nil)
	rs := l.startResourceServer(v, map[string][]string{healthpb.Health_Check_FullMethodName: nil})
	secret, _ := l.createKey()
	tok := l.exchange(secret).GetAccessToken()
	c := l.healthClient(rs.addr, idWorkloadA)
	if _, err := c.Check(bearer(testCtx(t), tok), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("listed with no scopes: %v", err)
	}
	if _, err := c.List(bearer(testCtx(t), tok), &healthpb.HealthListRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("unlisted method: %v, want PermissionDenied", err)
	}
}

// The HTTP middleware answers with RFC 6750 challenges.
func TestMiddleware(t *testing.T) {
	l := startLatchkey(t)
	v := l.newVerifier(nil)
	secret, keyID := l.createKey()
	readTok := l.exchange(secret, "orders.read").GetAccessToken()
	writeTok := l.exchange(secret, "orders.write").GetAccessToken()
	certA, certB := l.leaves[idWorkloadA].Cert, l.leaves[idWorkloadB].Cert

	var got Claims
	h := v.Middleware([]string{"orders.read"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = ClaimsFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	cases := []struct {
		name      string
		auth      []string
		cert      *x509.Certificate
		stale     bool
		code      int
		challenge string
	}{
		{"valid", []string{"Bearer " + readTok}, certA, false, http.StatusNoContent, ""},
		{"scheme in lower case", []string{"bearer " + readTok}, certA, false, http.StatusNoContent, ""},
		{"no credentials", nil, certA, false, http.StatusUnauthorized, `Bearer`},
		{"invalid token", []string{"Bearer x.y.z"}, certA, false, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"another certificate", []string{"Bearer " + readTok}, certB, false, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"no client certificate", []string{"Bearer " + readTok}, nil, false, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"basic scheme", []string{"Basic dXNlcjpwYXNz"}, certA, false, http.StatusUnauthorized, `Bearer`},
		{"bearer without a token", []string{"Bearer "}, certA, false, http.StatusBadRequest, `Bearer error="invalid_request"`},
		{"two authorization headers", []string{"Bearer " + readTok, "Bearer " + readTok}, certA, false, http.StatusBadRequest, `Bearer error="invalid_request"`},
		{"missing scope", []string{"Bearer " + writeTok}, certA, false, http.StatusForbidden, `Bearer error="insufficient_scope", scope="orders.read"`},
		{"stale", []string{"Bearer " + readTok}, certA, true, http.StatusServiceUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stale {
				l.stop()
				waitFor(t, 2*time.Second, "stream down", func() bool { return !v.rep.isUp() })
				l.clock.Advance(DefaultMaxStaleness + time.Second)
			}
			got = Claims{}
			r := httptest.NewRequest(http.MethodGet, "https://orders.test/orders", nil)
			for _, a := range tc.auth {
				r.Header.Add("Authorization", a)
			}
			if tc.cert != nil {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tc.cert}}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code || w.Header().Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("%d %q, want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.code, tc.challenge)
			}
			if (tc.code == http.StatusNoContent) != (got.ClientID == keyID) {
				t.Fatalf("handler claims %+v", got)
			}
		})
	}
}
