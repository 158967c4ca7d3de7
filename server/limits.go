package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/ratelimit"
	"github.com/latchkeyhq/latchkey/store"
)

// Limiter names, as metric labels and QuotaFailure subjects.
const (
	limiterKey      = "key"
	limiterIdentity = "identity"
	limiterCaller   = "caller"
	limiterGlobal   = "global"
)

// rateLimitedError is a refusal by one of the rate limits.
type rateLimitedError struct {
	limiter    string
	retryAfter time.Duration
}

func (e *rateLimitedError) Error() string { return "rate limit exceeded (" + e.limiter + ")" }

// status is ResourceExhausted with a QuotaFailure naming the limit and a
// RetryInfo saying when one more call would be allowed.
func (e *rateLimitedError) status() error {
	st := status.New(codes.ResourceExhausted, "rate limit exceeded; retry later")
	desc := map[string]string{
		limiterKey:      "exchanges per root key",
		limiterIdentity: "failed root-key presentations per caller identity",
		limiterCaller:   "calls per caller identity",
		limiterGlobal:   "exchanges across the whole service",
	}[e.limiter]
	withDetails, err := st.WithDetails(
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: e.limiter, Description: desc}}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(max(e.retryAfter, time.Millisecond))},
	)
	if err != nil {
		return st.Err()
	}
	return withDetails.Err()
}

// limiters holds every rate limit the server applies. Limits come from
// the policy in force at each call, so a reload changes them at once.
type limiters struct {
	policy  func() *policy.Policy
	keys    *ratelimit.Keyed // exchanges per root key, after the key is proven
	failed  *ratelimit.Keyed // failed presentations per caller identity
	callers *ratelimit.Keyed // every other call per caller identity
	global  *ratelimit.Global
	// globalFrom is the policy the global limit was last taken from, so
	// the limit is set again only after a reload, not on every exchange.
	globalFrom atomic.Pointer[policy.Policy]
	// limited is told which limiter refused a call.
	limited func(limiter string)
}

func newLimiters(p func() *policy.Policy, now func() time.Time, limited func(string)) *limiters {
	cfg := ratelimit.KeyedConfig{Now: now}
	return &limiters{
		policy: p,
		keys:   ratelimit.NewKeyed(cfg), failed: ratelimit.NewKeyed(cfg), callers: ratelimit.NewKeyed(cfg),
		global:  ratelimit.NewGlobal(toLimit(limitsOf(p()).Global), now),
		limited: limited,
	}
}

func toLimit(r policy.RateLimit) ratelimit.Limit {
	return ratelimit.Limit{PerSecond: r.PerSecond, Burst: r.Burst}
}

// limitsOf is the policy's limits, with the defaults standing in for any
// left unset (a policy built without Parse).
func limitsOf(p *policy.Policy) policy.LimitRules {
	l := p.Limits
	if toLimit(l.Global).Valid() && toLimit(l.FailedAuth).Valid() && toLimit(l.PerCaller).Valid() {
		return l // every parsed policy
	}
	d := policy.DefaultLimitRules()
	if !toLimit(l.Global).Valid() {
		l.Global = d.Global
	}
	if !toLimit(l.FailedAuth).Valid() {
		l.FailedAuth = d.FailedAuth
	}
	if !toLimit(l.PerCaller).Valid() {
		l.PerCaller = d.PerCaller
	}
	return l
}

func (l *limiters) refuse(limiter string, d ratelimit.Decision) error {
	if l.limited != nil {
		l.limited(limiter)
	}
	return &rateLimitedError{limiter: limiter, retryAfter: d.RetryAfter}
}

// exchangeAdmitted checks, before any work, the global exchange ceiling
// and whether this caller has used up its failed presentations.
func (l *limiters) exchangeAdmitted(identity string) error {
	p := l.policy()
	lim := limitsOf(p)
	if l.globalFrom.Swap(p) != p {
		l.global.SetLimit(toLimit(lim.Global))
	}
	if d := l.global.Allow(); !d.OK {
		return l.refuse(limiterGlobal, d)
	}
	if d := l.failed.Peek(identity, toLimit(lim.FailedAuth)); !d.OK {
		return l.refuse(limiterIdentity, d)
	}
	return nil
}

// authFailed spends one of the caller's failed presentations.
func (l *limiters) authFailed(identity string) {
	l.failed.Allow(identity, toLimit(limitsOf(l.policy()).FailedAuth))
}

// keyAllowed takes one exchange from the key's bucket: its own limit, or
// the default of the key's owner.
func (l *limiters) keyAllowed(rec store.KeyRecord) error {
	lim := ratelimit.Limit{PerSecond: rec.RateLimit.PerSecond, Burst: rec.RateLimit.Burst}
	if !lim.Valid() {
		lim = toLimit(l.policy().KeyRulesFor(rec.Owner).DefaultRateLimit)
	}
	if !lim.Valid() {
		lim = ratelimit.Limit{PerSecond: policy.DefaultRatePerSecond, Burst: policy.DefaultRateBurst}
	}
	if d := l.keys.Allow(rec.ID, lim); !d.OK {
		return l.refuse(limiterKey, d)
	}
	return nil
}

func (l *limiters) callerAllowed(ctx context.Context, method string) error {
	switch methodRules[method].limit {
	case limitExchange:
		return nil // the exchanger applies its own limits
	case limitCaller:
		c, _ := CallerFromContext(ctx)
		if d := l.callers.Allow(c.Identity, toLimit(limitsOf(l.policy()).PerCaller)); !d.OK {
			return l.refuse(limiterCaller, d).(*rateLimitedError).status()
		}
		return nil
	}
	// A method without a rule is a bug in the table; refuse rather than
	// serve it unlimited.
	return status.Error(codes.Internal, fmt.Sprintf("no rate-limit rule for %s", method))
}

func limitUnary(l *limiters) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := l.callerAllowed(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func limitStream(l *limiters) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := l.callerAllowed(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// deadlineUnary gives every unary call a deadline no later than its
// method's cap, so a stuck store cannot hold a handler forever.
func deadlineUnary(fallback time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		// A method's own cap applies when it is tighter than the server's,
		// or when the method is known to need longer (a full chain check).
		d := fallback
		if r := methodRules[info.FullMethod].deadline; r != 0 && (r < d || r > DefaultMaxDeadline) {
			d = r
		}
		// A caller's own deadline within the cap already bounds the call;
		// another context and timer on every call would only cost.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return handler(ctx, req)
	}
}
