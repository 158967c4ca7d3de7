package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// Limits on fetching the JWKS.
const (
	jwksFetchTimeout = 10 * time.Second
	maxJWKSBytes     = 1 << 20
)

// jwksSource fetches the current key set.
type jwksSource func(ctx context.Context) ([]jwk, error)

func grpcJWKS(client latchkeyv1.TokenServiceClient) jwksSource {
	return func(ctx context.Context) ([]jwk, error) {
		resp, err := client.GetJWKS(ctx, &latchkeyv1.GetJWKSRequest{})
		if err != nil {
			return nil, fmt.Errorf("GetJWKS: %w", err)
		}
		out := make([]jwk, 0, len(resp.GetKeys()))
		for _, k := range resp.GetKeys() {
			out = append(out, jwkFromProto(k))
		}
		return out, nil
	}
}

func httpsJWKS(client *http.Client, url string) jwksSource {
	return func(ctx context.Context) ([]jwk, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch JWKS: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
		}
		mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || (mt != "application/jwk-set+json" && mt != "application/json") {
			return nil, errors.New("fetch JWKS: not a JSON document")
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
		if err != nil {
			return nil, fmt.Errorf("fetch JWKS: %w", err)
		}
		if len(body) > maxJWKSBytes {
			return nil, errors.New("fetch JWKS: document too large")
		}
		if err := strictObject(body); err != nil {
			return nil, fmt.Errorf("fetch JWKS: %w", err)
		}
		var doc struct {
			Keys []jwk `json:"keys"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("fetch JWKS: %w", err)
		}
		return doc.Keys, nil
	}
}

// keyCache holds the JWKS. A kid it does not know triggers one refetch, shared
// by every caller waiting on it and started at most once per
// JWKSRefetchInterval, so unknown kids cannot be used to flood Latchkey.
type keyCache struct {
	source jwksSource
	now    func() time.Time
	log    *slog.Logger
	// base bounds fetches to the Verifier's lifetime, independent of the
	// caller whose unknown kid started them.
	base context.Context

	keys    atomic.Pointer[keySet]
	fetches atomic.Int64

	mu        sync.Mutex
	inflight  chan struct{}
	lastFetch time.Time
	lastErr   error
	// revoked kids stay out of the cache even if a fetch that started
	// before the revocation still lists them.
	revoked map[string]bool
}

func newKeyCache(base context.Context, source jwksSource, now func() time.Time, log *slog.Logger) *keyCache {
	return &keyCache{source: source, now: now, log: log, base: base, revoked: map[string]bool{}}
}

// lookup returns the key for kid, refetching the set once if kid is unknown
// and the refetch interval allows. A revoked kid is ErrRevoked at once,
// without a refetch.
func (c *keyCache) lookup(ctx context.Context, kid string) (publicKey, error) {
	if k, ok := c.get(kid); ok {
		return k, nil
	}
	if c.isRevoked(kid) {
		return publicKey{}, ErrRevoked
	}
	c.refresh(ctx, false)
	if k, ok := c.get(kid); ok {
		return k, nil
	}
	return publicKey{}, errUnknownKey
}

func (c *keyCache) isRevoked(kid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.revoked[kid]
}

func (c *keyCache) get(kid string) (publicKey, bool) {
	set := c.keys.Load()
	if set == nil {
		return publicKey{}, false
	}
	k, ok := (*set)[kid]
	return k, ok
}

// refresh fetches the set unless a fetch is already running (then it waits
// for that one) or the last one started less than JWKSRefetchInterval ago.
// force skips the interval; only New uses it.
func (c *keyCache) refresh(ctx context.Context, force bool) error {
	c.mu.Lock()
	if wait := c.inflight; wait != nil {
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lastErr
	}
	if !force && !c.lastFetch.IsZero() && c.now().Sub(c.lastFetch) < JWKSRefetchInterval {
		c.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	c.inflight, c.lastFetch = done, c.now()
	c.mu.Unlock()

	err := c.fetch()
	if err != nil {
		// Tokens signed by keys not yet seen are refused until a fetch
		// succeeds; say why.
		c.log.Warn("JWKS fetch failed", "error", err)
	}

	c.mu.Lock()
	c.inflight, c.lastErr = nil, err
	c.mu.Unlock()
	close(done)
	return err
}

func (c *keyCache) fetch() error {
	c.fetches.Add(1)
	ctx, cancel := context.WithTimeout(c.base, jwksFetchTimeout)
	defer cancel()
	jwks, err := c.source(ctx)
	if err != nil {
		return err
	}
	set, err := buildKeySet(jwks)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for kid := range c.revoked {
		delete(set, kid)
	}
	c.keys.Store(&set)
	c.mu.Unlock()
	return nil
}

// forget drops a revoked signing key for good: its private half may be in
// someone else's hands, so it must not verify again even after the
// revocation entry has expired from the replica.
func (c *keyCache) forget(kid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked[kid] = true
	old := c.keys.Load()
	if old == nil {
		return
	}
	if _, ok := (*old)[kid]; !ok {
		return
	}
	set := make(keySet, len(*old))
	for k, v := range *old {
		if k != kid {
			set[k] = v
		}
	}
	c.keys.Store(&set)
}
