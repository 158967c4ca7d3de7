package server

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
)

// envWithPolicy runs the test server under testPolicy plus extra YAML.
func envWithPolicy(t *testing.T, extra string) *env {
	t.Helper()
	pol, err := policy.Parse([]byte(testPolicy + extra))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvConfig(t, func(c *Config) { c.Policy = pol }, nil)
}

// quota returns the limiter a ResourceExhausted error names and the wait
// it asks for.
func quota(t *testing.T, err error) (string, time.Duration) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
	var (
		subject string
		retry   time.Duration = -1
	)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.QuotaFailure:
			subject = d.GetViolations()[0].GetSubject()
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	if subject == "" || retry < 0 {
		t.Fatalf("ResourceExhausted without QuotaFailure and RetryInfo: %v", st.Details())
	}
	return subject, retry
}

// counter reads one labelled counter from the server's metrics.
func (e *env) counter(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.metrics.Registry().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m, label, value) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// SECURITY-CASES L7: key A over its limit is refused while key B is not,
// and A refills at its rate.
func TestPerKeyLimit(t *testing.T) {
	e := newEnv(t)
	a, _ := e.createKey(&adminv1.CreateKeyRequest{RateLimit: &adminv1.RateLimit{PerSecond: 2, Burst: 3}})
	b, _ := e.createKey(&adminv1.CreateKeyRequest{RateLimit: &adminv1.RateLimit{PerSecond: 2, Burst: 3}})
	client := e.tokens(idWorkloadA)
	exchange := func(k string) error {
		_, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k})
		return err
	}
	for i := range 3 {
		if err := exchange(a); err != nil {
			t.Fatalf("exchange %d of key A within its burst: %v", i+1, err)
		}
	}
	err := exchange(a)
	subject, retry := quota(t, err)
	if subject != limiterKey || retry != 500*time.Millisecond {
		t.Errorf("4th exchange refused by %q, retry %v; want key, 500ms", subject, retry)
	}
	for i := range 3 {
		if err := exchange(b); err != nil {
			t.Fatalf("key B exchange %d while A is limited: %v", i+1, err)
		}
	}
	e.clock.Advance(500 * time.Millisecond)
	if err := exchange(a); err != nil {
		t.Fatalf("key A after one refill interval: %v", err)
	}
	if err := exchange(a); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("key A refilled more than one token in 500ms: %v", err)
	}
	if got := e.counter("latchkey_rate_limited_total", "limiter", limiterKey); got != 2 {
		t.Errorf("rate-limited metric = %v, want 2", got)
	}
	evs := e.events(&adminv1.QueryAuditEventsRequest{Kind: "exchange"})
	if last := evs[len(evs)-1]; last.GetReason() != audit.ReasonRateLimited || last.GetResult() != "denied" {
		t.Errorf("rate-limited exchange audited as %v", last)
	}
}

// Failed presentations from one identity are limited before any lookup;
// other identities are untouched.
func TestFailedAuthenticationGuard(t *testing.T) {
	e := envWithPolicy(t, "limits:\n  failed_auth: {per_second: 1, burst: 3}\n")
	good, k := e.createKey(&adminv1.CreateKeyRequest{})
	wrong := otherSecret(t, k.GetKeyId())
	attacker, other := e.tokens(idWorkloadA), e.tokens(idWorkloadB)
	for i := range 3 {
		_, err := attacker.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: wrong})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	lookups := e.lookups.count()
	// Even the right key is refused now, without touching the store.
	_, err := attacker.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good})
	if subject, retry := quota(t, err); subject != limiterIdentity || retry != time.Second {
		t.Errorf("refused by %q retry %v, want identity, 1s", subject, retry)
	}
	if e.lookups.count() != lookups {
		t.Errorf("a limited caller caused %d key lookups", e.lookups.count()-lookups)
	}
	if _, err := other.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good}); err != nil {
		t.Fatalf("another identity is affected: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := attacker.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good}); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	// Successes spend nothing: the guard counts failures only.
	for range 5 {
		if _, err := attacker.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good}); err != nil {
			t.Fatalf("successful exchanges were limited by the failure guard: %v", err)
		}
	}
}

// Garbage keys create no per-key state: buckets exist only for proven
// keys and for caller identities, which the CA issues.
func TestGarbageKeysLeaveNoBuckets(t *testing.T) {
	e := envWithPolicy(t, "limits:\n  failed_auth: {per_second: 1000000, burst: 1000000}\n")
	client := e.tokens(idWorkloadA)
	for i := range 500 {
		gen, err := rootkey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		k := gen.Reveal()
		if i%2 == 0 {
			k = "lk_garbage" + k[10:]
		}
		if _, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("garbage key %d: %v", i, err)
		}
	}
	if n := e.srv.limits.keys.Len(); n != 0 {
		t.Errorf("%d per-key buckets after 500 garbage keys, want 0", n)
	}
	if n := e.srv.limits.failed.Len(); n != 1 {
		t.Errorf("%d failure buckets, want 1 (one caller identity)", n)
	}
}

func TestGlobalExchangeCeiling(t *testing.T) {
	e := envWithPolicy(t, "limits:\n  global: {per_second: 1, burst: 2}\n")
	k1, _ := e.createKey(&adminv1.CreateKeyRequest{})
	k2, _ := e.createKey(&adminv1.CreateKeyRequest{})
	a, b := e.tokens(idWorkloadA), e.tokens(idWorkloadB)
	if _, err := a.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k2}); err != nil {
		t.Fatal(err)
	}
	_, err := a.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k2})
	if subject, _ := quota(t, err); subject != limiterGlobal {
		t.Errorf("refused by %q, want global", subject)
	}
	// A reloaded policy's ceiling applies from the next exchange.
	pol, err := policy.Parse([]byte(testPolicy + "limits:\n  global: {per_second: 1000, burst: 1000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetPolicy(pol)
	// The bucket keeps the tokens it had and refills at the new rate.
	_, err = a.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k2})
	if subject, retry := quota(t, err); subject != limiterGlobal || retry > time.Millisecond {
		t.Fatalf("after raising the ceiling: refused by %q for %v, want the new rate's wait (at most 1ms)", subject, retry)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := a.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k2}); err != nil {
		t.Errorf("after raising the global ceiling: %v", err)
	}
	// Other methods are not exchanges.
	if _, err := e.tokens(idIntrospect).IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"}); err != nil {
		t.Errorf("introspection under the exchange ceiling: %v", err)
	}
}

func TestPerCallerLimit(t *testing.T) {
	e := envWithPolicy(t, "limits:\n  per_caller: {per_second: 1, burst: 2}\n")
	rs, other := e.tokens(idIntrospect), e.tokens(idWorkloadA)
	for range 2 {
		if _, err := rs.IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := rs.IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"})
	if subject, retry := quota(t, err); subject != limiterCaller || retry != time.Second {
		t.Errorf("refused by %q retry %v, want caller, 1s", subject, retry)
	}
	if got := e.counter("latchkey_rate_limited_total", "limiter", limiterCaller); got != 1 {
		t.Errorf("rate-limited metric for the caller limit = %v, want 1", got)
	}
	if _, err := other.GetJWKS(ctx(t), &latchkeyv1.GetJWKSRequest{}); err != nil {
		t.Errorf("another caller is limited: %v", err)
	}
}

// A policy reload changes limits for the next call.
func TestLimitsFollowPolicyReload(t *testing.T) {
	e := envWithPolicy(t, "limits:\n  per_caller: {per_second: 1, burst: 1}\n")
	rs := e.tokens(idIntrospect)
	rs.IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"})
	if _, err := rs.IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second call under burst 1: %v", err)
	}
	pol, err := policy.Parse([]byte(testPolicy + "limits:\n  per_caller: {per_second: 1000, burst: 1000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetPolicy(pol)
	// The bucket keeps the tokens it had, but refills at the new rate: the
	// wait it asks for is the new rate's.
	_, err = rs.IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"})
	if _, retry := quota(t, err); retry > time.Millisecond {
		t.Fatalf("after raising the limit the wait is %v, want at most 1ms", retry)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := rs.IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: "x"}); err != nil {
		t.Fatalf("after raising the limit: %v", err)
	}
}
