package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/audit/alert"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

// Limits applied when Config leaves them zero.
const (
	DefaultMaxRecvMsgSize       = 64 << 10
	DefaultMaxConcurrentStreams = 100
	DefaultMaxDeadline          = 30 * time.Second
	DefaultConnectionTimeout    = 10 * time.Second
	// DefaultMaxHeaderListSize bounds a request's metadata; ours needs
	// well under 1 KiB.
	DefaultMaxHeaderListSize = 16 << 10
	// DefaultStreamWorkers handlers run on long-lived goroutines whose
	// stacks have already grown; a fresh goroutine per call spends a tenth
	// of an exchange's CPU growing its stack. Calls beyond it get their own.
	DefaultStreamWorkers = 256
)

// Config is everything a Server needs. cmd/latchkey builds it from files.
type Config struct {
	TLS    *tls.Config // from TLSConfig
	Store  store.Store
	Pepper rootkey.Pepper
	// Keys is the signing keyring; its issuer changes as keys rotate.
	Keys   SigningKeys
	Policy *policy.Policy
	// Revocations is the in-memory revocation list; Revoker appends to it
	// durably.
	Revocations *revocation.View
	Revoker     *revocation.Revoker
	// Usage, when set, counts exchanges per key for the inventory.
	Usage UsageTracker
	// Audit is the audit trail. Without one nothing is audited; that is
	// for measuring its cost, never for production.
	Audit *audit.Trail
	// Metrics, when set, counts calls, outcomes and limits for /metrics.
	Metrics *metrics.Metrics
	// Alerts, when set, receives every anomaly alert (a webhook).
	Alerts AlertSink
	Logger *slog.Logger
	Now    func() time.Time

	MaxRecvMsgSize       int
	MaxConcurrentStreams uint32
	// MaxDeadline caps every unary call; a call with no deadline gets this one.
	MaxDeadline       time.Duration
	ConnectionTimeout time.Duration
	// StreamWorkers is how many goroutines are kept to run handlers.
	StreamWorkers uint32
}

// Server is the Latchkey gRPC server.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	policy atomic.Pointer[policy.Policy]
	log    *slog.Logger
	// revoker records every revocation this server makes, whoever asks.
	revoker *tokenRevoker
	limits  *limiters
	metrics *metrics.Metrics
	alerter *alerter
}

// New validates cfg, fills defaults and builds the server with every service
// registered.
func New(cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Server{health: health.NewServer(), log: cfg.Logger, metrics: cfg.Metrics}
	s.policy.Store(cfg.Policy)
	getPolicy := s.policy.Load
	var limited func(string)
	if cfg.Metrics != nil {
		limited = cfg.Metrics.RateLimited
	}
	s.limits = newLimiters(getPolicy, cfg.Now, limited)
	s.grpc = grpc.NewServer(s.options(cfg)...)

	dummy := cfg.Pepper.Hash(rootkey.Key{})
	issuerNow := cfg.Keys.Issuer
	s.revoker = &tokenRevoker{
		issuer: issuerNow, keys: cfg.Store, revoker: cfg.Revoker, keyring: cfg.Keys,
		policy: getPolicy, now: cfg.Now,
	}
	latchkeyv1.RegisterTokenServiceServer(s.grpc, &tokenService{
		log:    cfg.Logger,
		issuer: issuerNow,
		exchanger: &exchanger{
			keys: cfg.Store, pepper: cfg.Pepper, issuer: issuerNow,
			policy: getPolicy, usage: cfg.Usage, limits: s.limits, now: cfg.Now, dummyHash: dummy,
		},
		checker: &introspector{
			issuer: issuerNow, keys: cfg.Store, revoked: cfg.Revocations, now: cfg.Now,
			verified: newVerifiedCache(verifiedCacheSize),
		},
		revoker: s.revoker,
		view:    cfg.Revocations,
	})
	adminv1.RegisterSigningKeyServiceServer(s.grpc, &signingService{log: cfg.Logger, keys: cfg.Keys})
	adminv1.RegisterKeyServiceServer(s.grpc, &keyService{
		log: cfg.Logger, keys: cfg.Store, pepper: cfg.Pepper, policy: getPolicy, usage: cfg.Usage, now: cfg.Now,
		revoker: s.revoker,
	})
	adminv1.RegisterAuditServiceServer(s.grpc, &auditService{log: cfg.Logger, trail: cfg.Audit})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	if cfg.Audit != nil {
		if err := s.startAlerts(cfg); err != nil {
			return nil, err
		}
	}
	s.registerGauges(cfg)
	return s, nil
}

// alertHistory is how much audit history teaches the detector at start.
const alertHistory = 24 * time.Hour

func (s *Server) startAlerts(cfg Config) error {
	det, err := alert.NewDetector(detectorConfig(cfg.Policy.Alerts))
	if err != nil {
		return fmt.Errorf("server: alert thresholds: %w", err)
	}
	a := &alerter{
		detector: det, trail: cfg.Audit, keys: cfg.Store, revoker: s.revoker, policy: s.policy.Load,
		sink: cfg.Alerts, log: cfg.Logger, now: cfg.Now,
		queue: make(chan alert.Alert, alertQueue), stop: make(chan struct{}),
	}
	if cfg.Metrics != nil {
		a.counted = cfg.Metrics.Alert
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.warm(ctx, cfg.Now().Add(-alertHistory), warmEvents); err != nil {
		return fmt.Errorf("server: reading audit history for the anomaly detector: %w", err)
	}
	a.start()
	s.alerter = a
	return nil
}

func (s *Server) registerGauges(cfg Config) {
	if cfg.Metrics == nil {
		return
	}
	cfg.Metrics.SetRateLimitBuckets(func() int {
		return s.limits.keys.Len() + s.limits.failed.Len() + s.limits.callers.Len()
	})
	if cfg.Revocations != nil {
		if w, ok := any(cfg.Revocations).(interface{ Watchers() int }); ok {
			cfg.Metrics.SetWatchers(w.Watchers)
		}
	}
}

// countEvent turns each audited call into the metrics it implies, whether
// or not a trail records it.
func (s *Server) countEvent(ev *audit.Event) {
	m := s.metrics
	if m == nil {
		return
	}
	if ev.Kind == audit.KindExchange {
		if ev.Result == audit.ResultOK {
			m.Exchange("granted")
			m.TokenIssued(s.policy.Load().Signing.Algorithm)
		} else {
			m.Exchange(ev.Reason)
		}
		return
	}
	if ev.Result != audit.ResultOK {
		return
	}
	switch ev.Kind {
	case audit.KindTokenRevoke:
		m.Revocation("token")
	case audit.KindKeyRevoke:
		m.Revocation("key")
	case audit.KindTokensRevoke:
		m.Revocation(ev.Detail["by"])
	case audit.KindSigningRevoke:
		m.Revocation("signing_key")
	}
}

func (c *Config) fill() error {
	switch {
	case c.TLS == nil:
		return errors.New("server: TLS config is required")
	case c.Store == nil:
		return errors.New("server: store is required")
	case c.Keys == nil:
		return errors.New("server: signing keys are required")
	case c.Revocations == nil || c.Revoker == nil:
		return errors.New("server: revocation list is required")
	case c.Policy == nil:
		return errors.New("server: policy is required")
	case c.Pepper.IsZero():
		return errors.New("server: pepper is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.MaxDeadline == 0 {
		c.MaxDeadline = DefaultMaxDeadline
	}
	if c.ConnectionTimeout == 0 {
		c.ConnectionTimeout = DefaultConnectionTimeout
	}
	if c.StreamWorkers == 0 {
		c.StreamWorkers = DefaultStreamWorkers
	}
	return nil
}

// callLogLevel is the level of a finished call's log line: debug for a
// call that succeeded, as the audit trail already holds every exchange
// and change.
func callLogLevel(c codes.Code) logging.Level {
	if c == codes.OK {
		return logging.LevelDebug
	}
	return logging.DefaultServerCodeToLevel(c)
}

func (s *Server) options(cfg Config) []grpc.ServerOption {
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		cfg.Logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	// Only the outcome of each call is logged, never a payload: requests and
	// responses carry root keys and tokens.
	// Streams are few and long; unary calls are logged by callLogUnary.
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(callLogLevel)}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		// The panic value may hold request data; log its type and the stack only.
		cfg.Logger.ErrorContext(ctx, "panic in handler", "panic_type", fmt.Sprintf("%T", p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	roles := policyRoles{s}
	unary := []grpc.UnaryServerInterceptor{recovery.UnaryServerInterceptor(recoverOpt)}
	stream := []grpc.StreamServerInterceptor{recovery.StreamServerInterceptor(recoverOpt)}
	if cfg.Metrics != nil {
		unary = append(unary, cfg.Metrics.UnaryInterceptor())
		stream = append(stream, cfg.Metrics.StreamInterceptor())
	}
	unary = append(unary,
		callLogUnary(cfg.Logger),
		identityUnary(),
		// Audit sits outside authorization so refused calls are recorded too.
		auditUnary(cfg.Audit, cfg.Logger, s.countEvent),
		authzUnary(roles),
		limitUnary(s.limits),
		deadlineUnary(cfg.MaxDeadline),
	)
	stream = append(stream,
		logging.StreamServerInterceptor(logger, logOpts...),
		identityStream(),
		authzStream(roles),
		limitStream(s.limits),
	)
	return []grpc.ServerOption{
		grpc.Creds(identityCreds{credentials.NewTLS(cfg.TLS)}),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.MaxHeaderListSize(DefaultMaxHeaderListSize),
		grpc.ConnectionTimeout(cfg.ConnectionTimeout),
		grpc.NumStreamWorkers(cfg.StreamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             30 * time.Second,
			PermitWithoutStream: false,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     15 * time.Minute,
			MaxConnectionAge:      2 * time.Hour,
			MaxConnectionAgeGrace: 30 * time.Second,
			Time:                  2 * time.Minute,
			Timeout:               20 * time.Second,
		}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
}

type policyRoles struct{ s *Server }

func (r policyRoles) HasRole(identity string, role policy.Role) bool {
	return r.s.policy.Load().HasRole(identity, role)
}

// SetPolicy swaps the policy for calls that start afterwards; connections
// and calls in flight are untouched.
func (s *Server) SetPolicy(p *policy.Policy) { s.policy.Store(p) }

// RevokeIssued revokes every token of a root key issued at or before
// before, as RevokeKey and DisableKey do; the janitor calls it when it
// disables a key, so replicas see that quarantine too.
func (s *Server) RevokeIssued(ctx context.Context, actor, keyID string, before time.Time, reason string) error {
	_, err := s.revoker.revokeIssued(ctx, actor, keyID, before, reason)
	return err
}

// Policy is the policy in force.
func (s *Server) Policy() *policy.Policy { return s.policy.Load() }

// GRPC exposes the underlying server (service info, tests).
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve accepts connections on lis until Stop.
func (s *Server) Serve(lis net.Listener) error {
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return s.grpc.Serve(lis)
}

// Stop drains in-flight calls until ctx ends, then closes every
// connection and stops the alert handler. The audit trail and the store
// are the caller's to close, after Stop.
func (s *Server) Stop(ctx context.Context) {
	defer func() {
		if s.alerter != nil {
			s.alerter.close()
		}
	}()
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}
