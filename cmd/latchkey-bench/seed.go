package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

// seedConcurrency is how many admin or exchange calls seeding keeps in
// flight: enough for the server to group its synced writes.
const seedConcurrency = 128

// conns are the client connections to one server: the workload identity
// exchanges, the admin identity administers and introspects.
type conns struct {
	workload, admin []*grpc.ClientConn
}

func dialConns(st devstate.State, addr string, n int) (*conns, error) {
	caPEM, err := os.ReadFile(st.CAFile)
	if err != nil {
		return nil, err
	}
	pool, err := pki.LoadPool(caPEM)
	if err != nil {
		return nil, err
	}
	c := &conns{}
	for _, who := range []struct {
		cert, key string
		into      *[]*grpc.ClientConn
	}{{st.WorkloadCertFile, st.WorkloadKeyFile, &c.workload}, {st.AdminCertFile, st.AdminKeyFile, &c.admin}} {
		cert, err := tls.LoadX509KeyPair(who.cert, who.key)
		if err != nil {
			c.close()
			return nil, err
		}
		creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}})
		for range n {
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				c.close()
				return nil, err
			}
			cc.Connect()
			*who.into = append(*who.into, cc)
		}
	}
	return c, nil
}

func (c *conns) close() {
	for _, cc := range append(c.workload, c.admin...) {
		cc.Close()
	}
}

// parallel runs fn(i) for every i in [0, n) from seedConcurrency
// goroutines and returns the first error.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, worker, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := range min(seedConcurrency, max(n, 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, w, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// createKeys makes n root keys through the admin API, as an operator would,
// each bound to the workload identity and with a per-key limit no run
// reaches.
func createKeys(ctx context.Context, c *conns, n int) ([]string, error) {
	keys := make([]string, n)
	err := parallel(ctx, n, func(ctx context.Context, w, i int) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := adminv1.NewKeyServiceClient(c.admin[w%len(c.admin)]).CreateKey(cctx, &adminv1.CreateKeyRequest{
			Owner:           "bench-team",
			Description:     fmt.Sprintf("latchkey-bench key %d", i),
			Scopes:          []string{"demo.read", "demo.write"},
			Audiences:       []string{"demo-api"},
			BoundIdentities: []string{devstate.WorkloadIdentity},
			RateLimit:       &adminv1.RateLimit{PerSecond: policy.MaxRatePerSecond, Burst: policy.MaxRateBurst},
		})
		if err != nil {
			return fmt.Errorf("CreateKey %d: %w", i, err)
		}
		keys[i] = resp.GetRootKey()
		return nil
	})
	return keys, err
}

// mintedToken is one access token and its jti.
type mintedToken struct{ token, jti string }

// mintTokens exchanges rootKey n times.
func mintTokens(ctx context.Context, c *conns, rootKey string, n int) ([]mintedToken, error) {
	out := make([]mintedToken, n)
	err := parallel(ctx, n, func(ctx context.Context, w, i int) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := latchkeyv1.NewTokenServiceClient(c.workload[w%len(c.workload)]).ExchangeToken(cctx,
			&latchkeyv1.ExchangeTokenRequest{RootKey: rootKey})
		if err != nil {
			return fmt.Errorf("ExchangeToken: %w", err)
		}
		if resp.GetAccessToken() == "" || resp.GetJti() == "" {
			return errors.New("ExchangeToken returned no token or no jti")
		}
		out[i] = mintedToken{resp.GetAccessToken(), resp.GetJti()}
		return nil
	})
	return out, err
}

// tokenAlg is the "alg" of a compact JWS, read from its header.
func tokenAlg(token string) (string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", errors.New("token is not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("token header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", fmt.Errorf("token header: %w", err)
	}
	return h.Alg, nil
}

// ensureAlg makes the server sign with alg: a store first served under
// another algorithm keeps its key until rotation, so the active key is
// revoked (an emergency revocation makes a new key of the policy's
// algorithm active at once). It fails unless tokens then carry alg.
func ensureAlg(ctx context.Context, c *conns, rootKey, alg string) error {
	exchange := func() (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := latchkeyv1.NewTokenServiceClient(c.workload[0]).ExchangeToken(cctx, &latchkeyv1.ExchangeTokenRequest{RootKey: rootKey})
		if err != nil {
			return "", fmt.Errorf("check exchange: %w", err)
		}
		return tokenAlg(resp.GetAccessToken())
	}
	got, err := exchange()
	if err != nil || got == alg {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sk := adminv1.NewSigningKeyServiceClient(c.admin[0])
	list, err := sk.ListSigningKeys(cctx, &adminv1.ListSigningKeysRequest{})
	if err != nil {
		return fmt.Errorf("ListSigningKeys: %w", err)
	}
	for _, k := range list.GetKeys() {
		if k.GetState() == adminv1.SigningKeyState_SIGNING_KEY_STATE_ACTIVE {
			if _, err := sk.RevokeSigningKey(cctx, &adminv1.RevokeSigningKeyRequest{Kid: k.GetKid()}); err != nil {
				return fmt.Errorf("RevokeSigningKey: %w", err)
			}
		}
	}
	if got, err = exchange(); err != nil {
		return err
	}
	if got != alg {
		return fmt.Errorf("tokens carry alg %q after revoking the active signing key, want %q", got, alg)
	}
	return nil
}

// importRevocations adds n live revocations to the store in dataDir, which
// no server may be serving. Most are jti revocations, with a few of each
// other kind; none matches a token of the run except the last, which
// revokes checkJTI so that the server can be asked whether it loaded them.
func importRevocations(ctx context.Context, st devstate.State, dataDir string, n int, checkJTI string) error {
	key, err := os.ReadFile(st.StoreKeyFile)
	if err != nil {
		return err
	}
	s, err := badgerstore.Open(badgerstore.Options{Dir: dataDir, EncryptionKey: key})
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	stamp := now.UnixNano()
	_, err = s.ImportRevocations(ctx, n, func(i int) store.Revocation {
		r := store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("seed-%d-%08d", stamp, i),
			At: now, ExpiresAt: now.Add(2 * time.Hour), Actor: devstate.AdminIdentity, Reason: "benchmark seed"}
		switch {
		case i == n-1:
			r.Value = checkJTI
		case i%100 == 1:
			r.Kind, r.Before = store.RevokeKeyTokens, now
		case i%100 == 2:
			r.Kind, r.Before = store.RevokeSubjectTokens, now
		case i%100 == 3:
			r.Kind = store.RevokeSigningKeyTokens
		}
		return r
	})
	return errors.Join(err, s.Close())
}

// checkIntrospect asks the server about one token and fails unless it
// reports wantActive.
func checkIntrospect(ctx context.Context, c *conns, token string, wantActive bool) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := latchkeyv1.NewTokenServiceClient(c.admin[0]).IntrospectToken(cctx, &latchkeyv1.IntrospectTokenRequest{Token: token})
	if err != nil {
		return fmt.Errorf("IntrospectToken: %w", err)
	}
	if resp.GetActive() != wantActive {
		return fmt.Errorf("IntrospectToken active = %v, want %v", resp.GetActive(), wantActive)
	}
	return nil
}
