package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/server"
	"github.com/latchkeyhq/latchkey/signing"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

const (
	idAdmin      = "spiffe://test.local/admin"
	idIntrospect = "spiffe://test.local/rs/orders"
	idWorkloadA  = "spiffe://test.local/workload/a"
	idWorkloadB  = "spiffe://test.local/workload/b"
)

const realPolicy = `
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
keys:
  require_binding: false
  max_lifetime: 0s
  default_rotation_grace: 1h
  max_rotation_grace: 48h
`

// latchkey is the real server on 127.0.0.1: real interceptor chain, Badger
// on disk, certificates minted for the test.
type latchkey struct {
	addr   string
	ca     *pki.CA
	leaves map[string]*pki.Leaf
}

func startLatchkey(t *testing.T) *latchkey {
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
	pol, err := policy.Parse([]byte(realPolicy))
	if err != nil {
		t.Fatal(err)
	}
	storeKey, pepperBytes := make([]byte, 32), make([]byte, 32)
	rand.Read(storeKey)
	rand.Read(pepperBytes)
	pepper, err := rootkey.NewPepper(pepperBytes)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := badgerstore.Open(badgerstore.Options{Dir: t.TempDir(), EncryptionKey: storeKey})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.Open(context.Background(), signing.Config{Store: bs, Policy: func() *policy.Policy { return pol }, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := server.TLSConfig(srvLeaf.TLS, ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	revs, lastRev, err := bs.LoadRevocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	view := revocation.NewView(revs, lastRev)
	srv, err := server.New(server.Config{
		TLS: tlsCfg, Store: bs, Pepper: pepper, Keys: keys, Policy: pol, Now: time.Now,
		Usage: lifecycle.NewUsage(bs), Revocations: view, Revoker: revocation.NewRevoker(bs, view),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
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
		bs.Close()
	})
	lk := &latchkey{addr: lis.Addr().String(), ca: ca, leaves: map[string]*pki.Leaf{}}
	for _, id := range []string{idAdmin, idIntrospect, idWorkloadA, idWorkloadB} {
		leaf, err := ca.IssueClient(pki.LeafOptions{URIs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		lk.leaves[id] = leaf
	}
	return lk
}

func (lk *latchkey) tls(id string) *tls.Config {
	return &tls.Config{RootCAs: lk.ca.Pool(), Certificates: []tls.Certificate{lk.leaves[id].TLS}}
}

func (lk *latchkey) conn(t *testing.T, id string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(lk.addr, grpc.WithTransportCredentials(credentials.NewTLS(lk.tls(id))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestBootstrapAgainstRealServer(t *testing.T) {
	lk := startLatchkey(t)
	admin := adminv1.NewKeyServiceClient(lk.conn(t, idAdmin))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newKey := func(t *testing.T) (string, string) {
		t.Helper()
		resp, err := admin.CreateKey(ctx, &adminv1.CreateKeyRequest{
			Owner: "orders-team", Scopes: []string{"orders.read", "orders.write"},
			Audiences: []string{"orders-api"}, BoundIdentities: []string{idWorkloadA},
		})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		return resp.GetRootKey(), resp.GetKey().GetKeyId()
	}
	var secrets []string

	t.Run("success", func(t *testing.T) {
		rootKey, keyID := newKey(t)
		secrets = append(secrets, rootKey)
		logs := &syncBuffer{}
		c, err := Bootstrap(ctx, Config{
			Addr: lk.addr, TLS: lk.tls(idWorkloadA), RootKey: rootKey,
			Scopes: []string{"orders.read"}, TTL: 5 * time.Minute,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatalf("Bootstrap: %v", err)
		}
		defer c.Close()
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tok.Value)
		if tok.KeyID != keyID || len(tok.Scopes) != 1 || tok.Scopes[0] != "orders.read" {
			t.Fatalf("token = %v, want key %s and scope orders.read", tok, keyID)
		}
		if d := time.Until(tok.ExpiresAt); d <= 4*time.Minute || d > 5*time.Minute {
			t.Fatalf("token lives %s, asked for 5m", d)
		}
		got, err := latchkeyv1.NewTokenServiceClient(lk.conn(t, idIntrospect)).
			IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: tok.Value})
		if err != nil {
			t.Fatal(err)
		}
		if !got.GetActive() || got.GetJti() != tok.JTI || got.GetClientId() != keyID {
			t.Fatalf("introspection = active %v jti match %v", got.GetActive(), got.GetJti() == tok.JTI)
		}
		if !strings.Contains(logs.String(), tok.JTI) {
			t.Fatal("the exchange was not logged")
		}
		assertNoSecrets(t, "client logs", logs.String(), secrets)
	})

	tests := []struct {
		name    string
		id      string
		rootKey func(t *testing.T) string
		want    error
		text    string
	}{
		{"revoked key", idWorkloadA, func(t *testing.T) string {
			rootKey, keyID := newKey(t)
			if _, err := admin.RevokeKey(ctx, &adminv1.RevokeKeyRequest{
				KeyId: keyID, Reason: adminv1.RevocationReason_REVOCATION_REASON_COMPROMISED,
			}); err != nil {
				t.Fatalf("RevokeKey: %v", err)
			}
			return rootKey
		}, ErrRootKeyRejected, "root key rejected (revoked, expired or unknown)"},
		{"unknown key", idWorkloadA, func(t *testing.T) string {
			rootKey, _ := newKey(t)
			// The id of a real key with an altered secret: one answer for all.
			return rootKey[:20] + strings.Repeat("x", len(rootKey)-20)
		}, ErrRootKeyRejected, "root key rejected (revoked, expired or unknown)"},
		{"wrong certificate", idWorkloadB, func(t *testing.T) string {
			rootKey, _ := newKey(t)
			return rootKey
		}, ErrCertificateNotAllowed, "this certificate may not present the root key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootKey := tt.rootKey(t)
			secrets = append(secrets, rootKey)
			logs := &syncBuffer{}
			begin := time.Now()
			c, err := Bootstrap(ctx, Config{
				Addr: lk.addr, TLS: lk.tls(tt.id), RootKey: rootKey,
				Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			if err == nil {
				c.Close()
				t.Fatal("Bootstrap succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %q", err, tt.text)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Fatalf("took %s to fail; a refusal must fail fast", d)
			}
			assertNoSecrets(t, "error", err.Error(), secrets)
			assertNoSecrets(t, "client logs", logs.String(), secrets)
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := lis.Addr().String()
		lis.Close()
		rootKey, _ := newKey(t)
		short, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		begin := time.Now()
		c, err := Bootstrap(short, Config{Addr: closed, TLS: lk.tls(idWorkloadA), RootKey: rootKey})
		if err == nil {
			c.Close()
			t.Fatal("Bootstrap succeeded against a closed port")
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), closed) {
			t.Fatalf("err = %v, want the deadline and the address", err)
		}
		if d := time.Since(begin); d < time.Second || d > 5*time.Second {
			t.Fatalf("returned after %s, want about the 1.5 s deadline", d)
		}
		assertNoSecrets(t, "error", err.Error(), []string{rootKey})
	})
}
