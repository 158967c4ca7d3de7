package verifier

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// failOpenLogEvery bounds the fail-open warning to one line per interval, so
// a stale replica under load does not flood the log.
const failOpenLogEvery = 10 * time.Second

// Verifier checks Latchkey access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	client latchkeyv1.TokenServiceClient
	keys   *keyCache
	rep    *replica

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once
	// ownHTTP is the HTTP client New made, whose idle connections Close
	// releases.
	ownHTTP *http.Client

	lastFailOpenLog atomic.Int64
}

// New validates cfg and, in local mode, fetches the JWKS and starts the
// revocation replica. It returns once the first snapshot of the revocation
// list has been applied, so a new Verifier never answers from an empty
// replica. ctx bounds only this start-up; Close stops the replica.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	v := &Verifier{cfg: cfg, client: latchkeyv1.NewTokenServiceClient(cfg.Conn), ctx: base, cancel: cancel}
	if cfg.Mode == ModeIntrospect {
		return v, nil
	}

	source := grpcJWKS(v.client)
	if cfg.JWKSURL != "" {
		hc := cfg.HTTPClient
		if hc == nil {
			hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
			v.ownHTTP = hc
		}
		source = httpsJWKS(hc, cfg.JWKSURL)
	}
	v.keys = newKeyCache(base, source, cfg.Now, cfg.Logger)
	if err := v.keys.refresh(ctx, true); err != nil {
		v.Close()
		return nil, fmt.Errorf("verifier: initial JWKS: %w", err)
	}

	v.rep = newReplica(cfg.Now)
	v.rep.onSigningKey = v.keys.forget
	v.rep.onUnknown = func(kind latchkeyv1.RevocationKind) {
		v.cfg.Logger.Warn("revocation of an unknown kind ignored", "kind", kind.String())
	}
	w := &watcher{client: v.client, rep: v.rep, log: cfg.Logger, probeEvery: cfg.MaxStaleness / 3, first: make(chan error, 1)}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		w.run(base)
	}()
	select {
	case err := <-w.first:
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("verifier: revocation stream: %w", err)
		}
	case <-ctx.Done():
		v.Close()
		return nil, fmt.Errorf("verifier: waiting for the revocation snapshot: %w", ctx.Err())
	}
	return v, nil
}

// Verify checks token and returns its claims. When peerCert is not nil the
// token must be bound to it (cnf x5t#S256); resource servers reached over mTLS
// should always pass it, or a stolen token works from anywhere.
//
// Errors wrap ErrInvalid, ErrRevoked or ErrStale and never quote the token.
func (v *Verifier) Verify(ctx context.Context, token string, peerCert *x509.Certificate) (Claims, error) {
	if v.closed.Load() {
		return Claims{}, errClosed
	}
	var (
		c   Claims
		err error
	)
	if v.cfg.Mode == ModeIntrospect {
		c, err = v.introspect(ctx, token)
	} else {
		c, err = v.verifyLocal(ctx, token)
	}
	if err != nil {
		return Claims{}, err
	}
	if peerCert != nil {
		if err := checkBinding(c.CertThumbprint, peerCert); err != nil {
			return Claims{}, err
		}
	}
	if v.cfg.Mode == ModeIntrospect {
		// Latchkey has just applied its revocation list.
		return c, nil
	}
	revoked, stale := v.rep.check(&c, v.cfg.MaxStaleness)
	if revoked {
		return Claims{}, ErrRevoked
	}
	if stale {
		if !v.cfg.FailOpen {
			return Claims{}, ErrStale
		}
		v.warnFailOpen()
	}
	return c, nil
}

func (v *Verifier) verifyLocal(ctx context.Context, token string) (Claims, error) {
	payload, kid, err := v.verifySignature(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	p, err := parsePayload(payload)
	if err != nil {
		return Claims{}, err
	}
	c, err := v.checkClaims(p, v.cfg.Now())
	if err != nil {
		return Claims{}, err
	}
	c.KID = kid
	return c, nil
}

func (v *Verifier) warnFailOpen() {
	now := v.cfg.Now().UnixNano()
	last := v.lastFailOpenLog.Load()
	if last != 0 && now-last < int64(failOpenLogEvery) {
		return
	}
	if v.lastFailOpenLog.CompareAndSwap(last, now) {
		v.cfg.Logger.Warn("revocation replica is stale; accepting tokens because FailOpen is set",
			"max_staleness", v.cfg.MaxStaleness)
	}
}

// Close stops the revocation replica and waits for it. Verify returns
// ErrStale afterwards. Close is safe to call more than once.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.closed.Store(true)
		v.cancel()
		v.wg.Wait()
		if v.ownHTTP != nil {
			v.ownHTTP.CloseIdleConnections()
		}
	})
	return nil
}
