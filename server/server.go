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

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
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
	Usage  UsageTracker
	Logger *slog.Logger
	Now    func() time.Time

	MaxRecvMsgSize       int
	MaxConcurrentStreams uint32
	// MaxDeadline caps every unary call; a call with no deadline gets this one.
	MaxDeadline       time.Duration
	ConnectionTimeout time.Duration
}

// Server is the Latchkey gRPC server.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	policy atomic.Pointer[policy.Policy]
	log    *slog.Logger
	// revoker records every revocation this server makes, whoever asks.
	revoker *tokenRevoker
}

// New validates cfg, fills defaults and builds the server with every service
// registered.
func New(cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Server{health: health.NewServer(), log: cfg.Logger}
	s.policy.Store(cfg.Policy)
	s.grpc = grpc.NewServer(s.options(cfg)...)

	getPolicy := s.policy.Load
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
			policy: getPolicy, usage: cfg.Usage, now: cfg.Now, dummyHash: dummy,
		},
		checker: &introspector{
			issuer: issuerNow, keys: cfg.Store, revoked: cfg.Revocations, now: cfg.Now,
		},
		revoker: s.revoker,
		view:    cfg.Revocations,
	})
	adminv1.RegisterSigningKeyServiceServer(s.grpc, &signingService{log: cfg.Logger, keys: cfg.Keys})
	adminv1.RegisterKeyServiceServer(s.grpc, &keyService{
		log: cfg.Logger, keys: cfg.Store, pepper: cfg.Pepper, policy: getPolicy, usage: cfg.Usage, now: cfg.Now,
		revoker: s.revoker,
	})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s, nil
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
	return nil
}

func (s *Server) options(cfg Config) []grpc.ServerOption {
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		cfg.Logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	// Only the outcome of each call is logged, never a payload: requests and
	// responses carry root keys and tokens.
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		// The panic value may hold request data; log its type and the stack only.
		cfg.Logger.ErrorContext(ctx, "panic in handler", "panic_type", fmt.Sprintf("%T", p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	roles := policyRoles{s}
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(cfg.TLS)),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.ConnectionTimeout(cfg.ConnectionTimeout),
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
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recoverOpt),
			logging.UnaryServerInterceptor(logger, logOpts...),
			identityUnary(),
			authzUnary(roles),
			deadlineUnary(cfg.MaxDeadline),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recoverOpt),
			logging.StreamServerInterceptor(logger, logOpts...),
			identityStream(),
			authzStream(roles),
		),
	}
}

// deadlineUnary gives every unary call a deadline no later than max, so a
// stuck store cannot hold a handler forever.
func deadlineUnary(max time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, max)
		defer cancel()
		return handler(ctx, req)
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

// Stop drains in-flight calls until ctx ends, then closes every connection.
func (s *Server) Stop(ctx context.Context) {
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
