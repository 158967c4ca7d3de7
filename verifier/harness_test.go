package verifier

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/server"
	"github.com/latchkeyhq/latchkey/signing"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

// Test identities; the policy gives each the role its name says.
const (
	idAdmin     = "spiffe://test.local/admin"
	idRS        = "spiffe://test.local/rs/orders"
	idWorkloadA = "spiffe://test.local/workload/a"
	idWorkloadB = "spiffe://test.local/workload/b"
)

const (
	testIssuer   = "https://latchkey.test"
	testAudience = "orders-api"
)

const testPolicy = `
issuer: https://latchkey.test
tokens:
  default_ttl: 10m
  max_ttl: 1h
  leeway: 30s
roles:
  admin: ["spiffe://test.local/admin"]
  introspect: ["spiffe://test.local/rs/*"]
  exchange: ["spiffe://test.local/workload/*"]
scopes:
  - name: orders.read
  - name: orders.write
  - name: billing.read
keys:
  require_binding: false
  max_lifetime: 0s
  default_rotation_grace: 1h
  max_rotation_grace: 48h
`

// clock is a settable time source shared by Latchkey and the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// latchkey is a real Latchkey server on 127.0.0.1: the real interceptor
// chain, a real Badger store on disk, certificates minted for the test. It can
// be stopped and started again on the same address with the same state.
type latchkey struct {
	t      *testing.T
	ca     *pki.CA
	addr   string
	clock  *clock
	pol    *policy.Policy
	pepper rootkey.Pepper
	store  *badgerstore.Store
	keys   *signing.Manager
	tlsCfg *tls.Config
	leaves map[string]*pki.Leaf

	mu  sync.Mutex
	srv *server.Server
}

func startLatchkey(t *testing.T) *latchkey {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	ca, err := pki.NewCA("latchkey test CA", now.Add(-time.Hour), now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srvLeaf, err := ca.IssueServer(pki.LeafOptions{CommonName: "latchkey", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	storeKey, pepperB := make([]byte, 32), make([]byte, 32)
	rand.Read(storeKey)
	rand.Read(pepperB)
	pepper, err := rootkey.NewPepper(pepperB)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir(), EncryptionKey: storeKey})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: now}
	keys, err := signing.Open(context.Background(), signing.Config{Store: bs, Policy: func() *policy.Policy { return pol }, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := server.TLSConfig(srvLeaf.TLS, ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	l := &latchkey{t: t, ca: ca, addr: "127.0.0.1:0", clock: clk, pol: pol, pepper: pepper,
		store: bs, keys: keys, tlsCfg: tlsCfg, leaves: map[string]*pki.Leaf{}}
	for _, id := range []string{idAdmin, idRS, idWorkloadA, idWorkloadB} {
		leaf, err := ca.IssueClient(pki.LeafOptions{URIs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		l.leaves[id] = leaf
	}
	l.start()
	t.Cleanup(func() {
		l.stop()
		bs.Close()
	})
	return l
}

// start serves on l.addr; after the first start the address stays the same,
// as a restarted Latchkey would.
func (l *latchkey) start() {
	l.t.Helper()
	// A restart loads the revocation list from the store, as the binary does.
	revs, lastRev, err := l.store.LoadRevocations(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	view := revocation.NewView(revs, lastRev)
	srv, err := server.New(server.Config{
		TLS: l.tlsCfg.Clone(), Store: l.store, Pepper: l.pepper, Keys: l.keys, Policy: l.pol, Now: l.clock.Now,
		Revocations: view, Revoker: revocation.NewRevoker(l.store, view),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		l.t.Fatal(err)
	}
	var lis net.Listener
	for range 50 {
		if lis, err = net.Listen("tcp", l.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the old socket may linger briefly
	}
	if err != nil {
		l.t.Fatal(err)
	}
	l.addr = lis.Addr().String()
	l.mu.Lock()
	l.srv = srv
	l.mu.Unlock()
	go srv.Serve(lis)
}

// stop closes every connection at once, cutting open streams.
func (l *latchkey) stop() {
	l.mu.Lock()
	srv := l.srv
	l.srv = nil
	l.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Stop(ctx)
}

func (l *latchkey) clientTLS(id string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: l.ca.Pool(), Certificates: []tls.Certificate{l.leaves[id].TLS}}
}

// dial connects as one of the test identities; the connection is closed when
// the test ends.
func (l *latchkey) dial(id string) *grpc.ClientConn {
	l.t.Helper()
	conn, err := grpc.NewClient(l.addr, grpc.WithTransportCredentials(credentials.NewTLS(l.clientTLS(id))))
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { conn.Close() })
	return conn
}

func (l *latchkey) admin() adminv1.KeyServiceClient {
	return adminv1.NewKeyServiceClient(l.dial(idAdmin))
}

func (l *latchkey) signingAdmin() adminv1.SigningKeyServiceClient {
	return adminv1.NewSigningKeyServiceClient(l.dial(idAdmin))
}

// createKey makes a root key allowed orders.read and orders.write for
// orders-api and returns its secret and id.
func (l *latchkey) createKey() (secret, id string) {
	l.t.Helper()
	resp, err := l.admin().CreateKey(testCtx(l.t), &adminv1.CreateKeyRequest{
		Owner: "orders-team", Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{testAudience, "billing-api"},
	})
	if err != nil {
		l.t.Fatalf("CreateKey: %v", err)
	}
	return resp.GetRootKey(), resp.GetKey().GetKeyId()
}

// exchange mints a token as workload A.
func (l *latchkey) exchange(rootKey string, scopes ...string) *latchkeyv1.ExchangeTokenResponse {
	l.t.Helper()
	return l.exchangeAs(idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: rootKey, Scopes: scopes})
}

func (l *latchkey) exchangeAs(id string, req *latchkeyv1.ExchangeTokenRequest) *latchkeyv1.ExchangeTokenResponse {
	l.t.Helper()
	resp, err := latchkeyv1.NewTokenServiceClient(l.dial(id)).ExchangeToken(testCtx(l.t), req)
	if err != nil {
		l.t.Fatalf("ExchangeToken: %v", err)
	}
	return resp
}

func (l *latchkey) revokeTokens(req *adminv1.RevokeTokensRequest) {
	l.t.Helper()
	if _, err := l.admin().RevokeTokens(testCtx(l.t), req); err != nil {
		l.t.Fatalf("RevokeTokens: %v", err)
	}
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// newVerifier starts a verifier as the resource server identity, closed when
// the test ends.
func (l *latchkey) newVerifier(mod func(*Config)) *Verifier {
	l.t.Helper()
	cfg := Config{Conn: l.dial(idRS), Issuer: testIssuer, Audience: testAudience, Now: l.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(testCtx(l.t), cfg)
	if err != nil {
		l.t.Fatalf("New: %v", err)
	}
	l.t.Cleanup(func() { v.Close() })
	return v
}

// waitFor polls cond every millisecond until it holds or the bound passes,
// and returns how long it took.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}
