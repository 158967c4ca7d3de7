package server

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/pki"
)

// Handshake failures: the RPC never reaches a handler and fails with
// Unavailable (SECURITY-CASES T1, T2, T3, T4, T9).
func TestMTLSRejectsBadClients(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	otherCA, err := pki.NewCA("other CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherCA.IssueClient(pki.LeafOptions{URIs: []string{idAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  *tls.Config
	}{
		{"no client certificate", e.clientTLS(nil)},
		// GetClientCertificate makes the client present the leaf even though
		// its issuer is not among the CAs the server asks for.
		{"certificate from another CA", func() *tls.Config {
			c := e.clientTLS(nil)
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign.TLS, nil }
			return c
		}()},
		{"expired certificate", e.clientTLS(e.clientLeaf(pki.LeafOptions{URIs: []string{idAdmin},
			NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Second)}))},
		{"not yet valid certificate", e.clientLeafCfg(pki.LeafOptions{URIs: []string{idAdmin},
			NotBefore: now.Add(time.Minute), NotAfter: now.Add(time.Hour)})},
		{"serverAuth-only EKU", e.clientLeafCfg(pki.LeafOptions{URIs: []string{idAdmin},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})},
		{"TLS 1.2 client", func() *tls.Config {
			c := e.clientTLS(e.leaves[idAdmin])
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := e.dialTLS(tc.cfg)
			_, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{})
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("got %v, want the handshake to fail (Unavailable)", err)
			}
		})
	}
	t.Run("valid client", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(e.conn(idNobody)).Check(ctx(t), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health check: %v %v", resp, err)
		}
	})
}

func (e *env) clientLeafCfg(o pki.LeafOptions) *tls.Config {
	return e.clientTLS(e.clientLeaf(o))
}

func TestIdentityFromCert(t *testing.T) {
	u := func(s string) *url.URL {
		p, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		cert    x509.Certificate
		want    string
		wantErr bool
	}{
		{"spiffe wins", x509.Certificate{URIs: []*url.URL{u("spiffe://a/b")}, DNSNames: []string{"d.example"}, Subject: pkix.Name{CommonName: "cn"}}, "spiffe://a/b", false},
		{"non-spiffe URI ignored", x509.Certificate{URIs: []*url.URL{u("https://x")}, DNSNames: []string{"d.example"}}, "d.example", false},
		{"dns next", x509.Certificate{DNSNames: []string{"d.example", "e.example"}, Subject: pkix.Name{CommonName: "cn"}}, "d.example", false},
		{"cn last", x509.Certificate{Subject: pkix.Name{CommonName: "cn"}}, "cn", false},
		{"two spiffe IDs", x509.Certificate{URIs: []*url.URL{u("spiffe://a/b"), u("spiffe://a/c")}}, "", true},
		{"nothing", x509.Certificate{}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IdentityFromCert(&tc.cert)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %q, %v; want %q, err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestTLSConfigIsStrict(t *testing.T) {
	e := newEnv(t)
	leaf := e.leaves[idAdmin]
	cfg, err := TLSConfig(leaf.TLS, e.ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.RequireAndVerifyClientCert || !cfg.SessionTicketsDisabled {
		t.Fatalf("TLS config not strict: min=%x auth=%v tickets-disabled=%v", cfg.MinVersion, cfg.ClientAuth, cfg.SessionTicketsDisabled)
	}
	if _, err := TLSConfig(tls.Certificate{}, e.ca.Pool()); err == nil {
		t.Fatal("empty certificate accepted")
	}
	if _, err := TLSConfig(leaf.TLS, nil); err == nil {
		t.Fatal("missing client CA accepted")
	}
}
