package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/audit/alert"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/signing"
	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

// Test identities. The policy below gives each the roles its name says.
const (
	idAdmin      = "spiffe://test.local/admin"
	idIntrospect = "spiffe://test.local/rs/orders"
	idWorkloadA  = "spiffe://test.local/workload/a"
	idWorkloadB  = "spiffe://test.local/workload/b"
	idNobody     = "spiffe://test.local/nobody"
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
owners:
  strict-team:
    require_binding: true
    max_lifetime: 720h
    attestation_period: 240h
    rotation_period: 720h
`

// clock is a settable time source shared by the server and the issuer.
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

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a running server on 127.0.0.1 with a real interceptor chain, a real
// Badger store on disk and certificates minted for this test.
type env struct {
	t       *testing.T
	ca      *pki.CA
	addr    string
	srv     *Server
	store   *storetest.Faulty
	lookups *countingKeys
	pepper  rootkey.Pepper
	pepperB []byte
	keys    *signing.Manager
	clock   *clock
	logs    *syncBuffer
	leaves  map[string]*pki.Leaf
	usage   *lifecycle.Usage
	view    *revocation.View
	trail   *audit.Trail
	auditDB *faultyAudit
	metrics *metrics.Metrics
	alerts  *alertCapture
}

// faultyAudit is the store's audit log with a switch that makes every
// write fail, as a full or broken disk would.
type faultyAudit struct {
	store.AuditLog
	mu   sync.Mutex
	fail bool
}

func (f *faultyAudit) AppendAudit(ctx context.Context, recs []store.AuditRecord, meta map[string][]byte) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("%w: injected audit write failure", store.ErrUnavailable)
	}
	return f.AuditLog.AppendAudit(ctx, recs, meta)
}

func (f *faultyAudit) setFail(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = v
}

// alertCapture records the alerts the server hands to its sink.
type alertCapture struct {
	mu  sync.Mutex
	got []alert.Alert
	ch  chan alert.Alert
}

func (a *alertCapture) Enqueue(al alert.Alert) bool {
	a.mu.Lock()
	a.got = append(a.got, al)
	a.mu.Unlock()
	select {
	case a.ch <- al:
	default:
	}
	return true
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith lets a test register extra services before the server starts.
func newEnvWith(t *testing.T, register func(*Server)) *env {
	t.Helper()
	return newEnvConfig(t, nil, register)
}

// newEnvConfig also lets a test change the server's Config (limits,
// timeouts, the policy) before it is built.
func newEnvConfig(t *testing.T, configure func(*Config), register func(*Server)) *env {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	ca, err := pki.NewCA("latchkey test CA", now.Add(-time.Hour), now.Add(24*time.Hour))
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
	storeKey := make([]byte, 32)
	pepperB := make([]byte, 32)
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
	faulty := storetest.NewFaulty(bs)
	counting := &countingKeys{Store: faulty}
	clk := &clock{t: now}
	keys, err := signing.Open(context.Background(), signing.Config{Store: counting, Policy: func() *policy.Policy { return pol }, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := TLSConfig(srvLeaf.TLS, ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	revs, lastRev, err := counting.LoadRevocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	view := revocation.NewView(revs, lastRev)
	logs := &syncBuffer{}
	usage := lifecycle.NewUsage(counting)
	auditDB := &faultyAudit{AuditLog: bs}
	trail, err := audit.Open(context.Background(), audit.Config{Log: auditDB, Key: pepper.Derive("audit-chain-v1"), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	alerts := &alertCapture{ch: make(chan alert.Alert, 64)}
	cfg := Config{
		TLS: tlsCfg, Store: counting, Pepper: pepper, Keys: keys, Policy: pol, Now: clk.Now, Usage: usage,
		Revocations: view, Revoker: revocation.NewRevoker(counting, view),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit:  trail, Metrics: m, Alerts: alerts,
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if register != nil {
		register(srv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
		trail.Close()
		bs.Close()
	})
	e := &env{t: t, ca: ca, usage: usage, view: view, trail: trail, auditDB: auditDB, metrics: m, alerts: alerts, addr: lis.Addr().String(), srv: srv, store: faulty, lookups: counting,
		pepper: pepper, pepperB: pepperB, keys: keys, clock: clk, logs: logs, leaves: map[string]*pki.Leaf{}}
	for _, id := range []string{idAdmin, idIntrospect, idWorkloadA, idWorkloadB, idNobody} {
		e.leaves[id] = e.clientLeaf(pki.LeafOptions{URIs: []string{id}})
	}
	return e
}

// iss is the current issuer, as the server uses it.
func (e *env) iss() *issuer.Issuer { return e.keys.Issuer() }

func (e *env) clientLeaf(o pki.LeafOptions) *pki.Leaf {
	e.t.Helper()
	l, err := e.ca.IssueClient(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// dialTLS connects with an arbitrary client TLS config.
func (e *env) dialTLS(cfg *tls.Config) *grpc.ClientConn {
	e.t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

func (e *env) clientTLS(leaf *pki.Leaf) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: e.ca.Pool()}
	if leaf != nil {
		cfg.Certificates = []tls.Certificate{leaf.TLS}
	}
	return cfg
}

// conn dials as one of the test identities.
func (e *env) conn(id string) *grpc.ClientConn {
	return e.dialTLS(e.clientTLS(e.leaves[id]))
}

func (e *env) tokens(id string) latchkeyv1.TokenServiceClient {
	return latchkeyv1.NewTokenServiceClient(e.conn(id))
}

func (e *env) admin() adminv1.KeyServiceClient {
	return adminv1.NewKeyServiceClient(e.conn(idAdmin))
}

// createKey makes a key through the admin API and returns its secret text.
func (e *env) createKey(req *adminv1.CreateKeyRequest) (string, *adminv1.Key) {
	e.t.Helper()
	if req.Owner == "" {
		req.Owner = "orders-team"
	}
	if req.Scopes == nil {
		req.Scopes = []string{"orders.read", "orders.write"}
	}
	if req.Audiences == nil {
		req.Audiences = []string{"orders-api"}
	}
	resp, err := e.admin().CreateKey(ctx(e.t), req)
	if err != nil {
		e.t.Fatalf("CreateKey: %v", err)
	}
	return resp.GetRootKey(), resp.GetKey()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// countingKeys counts key lookups so tests can prove malformed keys never
// reach the store.
type countingKeys struct {
	store.Store
	mu   sync.Mutex
	gets int
}

func (c *countingKeys) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Store.GetKey(ctx, id)
}

func (c *countingKeys) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}
