package interop

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/server"
)

const (
	testIssuerURL = "https://latchkey.test"
	testAudience  = "orders-api"
	testSubject   = "team-payments"
	testClientID  = "k_0123456789ab"
	testScope     = "orders.read orders.write"
	testMaxTTL    = 15 * time.Minute
	testLeeway    = 30 * time.Second
	// testMaxAge is the JWKS cache lifetime; it stays below the publish lead
	// as a deployment must keep it.
	testMaxAge = 5 * time.Minute
)

// algorithms are every signing algorithm a keyring may use.
var algorithms = []string{issuer.AlgEdDSA, issuer.AlgES256, issuer.AlgRS256}

// testThumbprint stands for the workload's client certificate.
var testThumbprint = issuer.CertThumbprint([]byte("workload client certificate"))

// testPolicy rotates hourly, publishes the next key ten minutes ahead and
// keeps a retired key for the longest token lifetime plus leeway.
func testPolicy(alg string) issuer.KeyringPolicy {
	return issuer.KeyringPolicy{
		Alg:            alg,
		RotationPeriod: time.Hour,
		PublishLead:    10 * time.Minute,
		Retain:         testMaxTTL + testLeeway,
	}
}

// clock is the issuer's time source; tests move it by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// side is the token-issuing side under test: a keyring, the issuer built from
// it, and the real HTTPS side publishing its keys on 127.0.0.1.
type side struct {
	t       *testing.T
	alg     string
	policy  issuer.KeyringPolicy
	clock   *clock
	entries []issuer.KeyringEntry
	current atomic.Pointer[issuer.Issuer]

	baseURL string
	caPEM   []byte
	// client trusts only the test CA, as a resource server pinned to its
	// deployment's CA would.
	client *http.Client
}

// startSide plans a first keyring at start and serves it. The certificates
// use the real clock because the TLS peers do; only the issuer runs on the
// injected one.
func startSide(t *testing.T, alg string, start time.Time) *side {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("latchkey interop CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueServer(pki.LeafOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &side{
		t: t, alg: alg, policy: testPolicy(alg), clock: &clock{t: start},
		baseURL: "https://" + ln.Addr().String(), caPEM: ca.CertPEM(),
	}
	s.plan()

	h, err := server.NewHTTPHandler(server.HTTPConfig{
		Issuer: s.current.Load, IssuerURL: testIssuerURL, BaseURL: s.baseURL, MaxAge: testMaxAge,
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := server.NewHTTPServer(h, leaf.TLS)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13}}
	s.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// at moves the issuer's clock and applies the rotation schedule, as the
// service's rotation loop does.
func (s *side) at(t time.Time) {
	s.t.Helper()
	s.clock.Set(t)
	s.plan()
}

func (s *side) plan() {
	s.t.Helper()
	entries, _, err := issuer.Plan(s.entries, s.policy, s.clock.Now(), issuer.GenerateSigningKeyAlg)
	if err != nil {
		s.t.Fatalf("plan: %v", err)
	}
	s.install(entries)
}

func (s *side) revoke(kid string) {
	s.t.Helper()
	entries, err := issuer.Revoke(s.entries, kid, s.policy, s.clock.Now(), issuer.GenerateSigningKeyAlg)
	if err != nil {
		s.t.Fatalf("revoke: %v", err)
	}
	s.install(entries)
}

// install builds the issuer for entries and swaps it in; the HTTPS side
// publishes its keys from the next request on.
func (s *side) install(entries []issuer.KeyringEntry) {
	s.t.Helper()
	iss, err := issuer.NewFromKeyring(s.issuerConfig(), entries)
	if err != nil {
		s.t.Fatalf("issuer from keyring: %v", err)
	}
	s.entries = entries
	s.current.Store(iss)
}

func (s *side) issuerConfig() issuer.Config {
	return issuer.Config{Issuer: testIssuerURL, Leeway: testLeeway, MaxTTL: testMaxTTL, Now: s.clock.Now}
}

// kidIn returns the kid of the entry in state, or "" when there is none.
func (s *side) kidIn(state issuer.KeyState) string {
	for _, e := range s.entries {
		if e.State == state {
			return e.Key.KID()
		}
	}
	return ""
}

func testGrant(ttl time.Duration) issuer.Grant {
	return issuer.Grant{
		Subject:        testSubject,
		ClientID:       testClientID,
		Audiences:      []string{testAudience},
		Scopes:         strings.Fields(testScope),
		TTL:            ttl,
		CertThumbprint: testThumbprint,
	}
}

// mint signs a token with the active key at the issuer's current time.
func (s *side) mint(ttl time.Duration) issuer.Token {
	s.t.Helper()
	tok, err := s.current.Load().Mint(testGrant(ttl))
	if err != nil {
		s.t.Fatalf("mint: %v", err)
	}
	return tok
}

// mintAt signs a token as if the issuer's clock read at, leaving the clock
// where it was.
func (s *side) mintAt(at time.Time, ttl time.Duration) issuer.Token {
	s.t.Helper()
	saved := s.clock.Now()
	s.clock.Set(at)
	defer s.clock.Set(saved)
	return s.mint(ttl)
}

// mintForeign signs a token with a fresh key of the same algorithm that the
// keyring has never held: same issuer name, same claims, unknown kid.
func (s *side) mintForeign(ttl time.Duration) issuer.Token {
	s.t.Helper()
	key, err := issuer.GenerateSigningKeyAlg(s.alg)
	if err != nil {
		s.t.Fatal(err)
	}
	iss, err := issuer.New(s.issuerConfig(), key)
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := iss.Mint(testGrant(ttl))
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// forgedToken is a token a verifier must refuse.
type forgedToken struct {
	name string
	raw  string
}

// forgeries mints the tokens every verifier must refuse: a payload changed
// after signing, a token from a revoked key, one from a key the keyring never
// held, an unsigned one and an expired one. It revokes the active key first,
// so that every other forgery carries a kid that is still published and fails
// for its own reason only.
func (s *side) forgeries() []forgedToken {
	s.t.Helper()
	revoked := s.mint(5 * time.Minute)
	s.revoke(s.kidIn(issuer.KeyActive))
	valid := s.mint(5 * time.Minute)
	expired := s.mintAt(s.clock.Now().Add(-time.Hour), 5*time.Minute)
	unknown := s.mintForeign(5 * time.Minute)
	return []forgedToken{
		{"tampered payload", tamperPayload(s.t, valid.Raw)},
		{"revoked kid", revoked.Raw},
		{"unknown kid", unknown.Raw},
		{"alg none", unsigned(s.t, valid.Raw)},
		{"expired", expired.Raw},
	}
}

func splitJWS(t *testing.T, raw string) (header, payload map[string]any, parts []string) {
	t.Helper()
	parts = strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for n, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[n])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload, parts
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tamperPayload widens the scope and keeps the original signature.
func tamperPayload(t *testing.T, raw string) string {
	t.Helper()
	_, payload, parts := splitJWS(t, raw)
	payload["scope"] = testScope + " orders.admin"
	return parts[0] + "." + encodeSegment(t, payload) + "." + parts[2]
}

// unsigned rewrites the header to alg "none" and drops the signature, keeping
// the kid so a verifier that trusts the header would find a key.
func unsigned(t *testing.T, raw string) string {
	t.Helper()
	header, _, parts := splitJWS(t, raw)
	header["alg"] = "none"
	return encodeSegment(t, header) + "." + parts[1] + "."
}
