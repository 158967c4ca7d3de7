package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/rootkey"
)

// Strings shaped like secrets and unbounded identifiers that a careless
// caller might pass where a label value is expected.
const (
	jwtLike      = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJzcGlmZmU6Ly94In0.c2lnbmF0dXJl"
	jtiLike      = "01J8ZQ6W3C2V9XK7M4N5P6R7S8"
	identityLike = "spiffe://prod.example/ns/payments/sa/api"
)

func TestDomainCounters(t *testing.T) {
	cases := []struct {
		name      string
		record    func(*Metrics, string)
		family    string
		label     string
		vocab     []string
		value     string
		wantLabel string
	}{
		{"exchange granted", (*Metrics).Exchange, "latchkey_exchanges_total", "result", exchangeResults, "granted", "granted"},
		{"exchange denial reason", (*Metrics).Exchange, "latchkey_exchanges_total", "result", exchangeResults, audit.ReasonBadSecret, "bad_secret"},
		{"exchange last reason", (*Metrics).Exchange, "latchkey_exchanges_total", "result", exchangeResults, audit.ReasonInternal, "internal_error"},
		{"exchange unknown result", (*Metrics).Exchange, "latchkey_exchanges_total", "result", exchangeResults, "ok", other},
		{"exchange token as result", (*Metrics).Exchange, "latchkey_exchanges_total", "result", exchangeResults, jwtLike, other},
		{"exchange case differs", (*Metrics).Exchange, "latchkey_exchanges_total", "result", exchangeResults, "Granted", other},
		{"token EdDSA", (*Metrics).TokenIssued, "latchkey_tokens_issued_total", "alg", tokenAlgs, "EdDSA", "EdDSA"},
		{"token RS256", (*Metrics).TokenIssued, "latchkey_tokens_issued_total", "alg", tokenAlgs, "RS256", "RS256"},
		{"token none", (*Metrics).TokenIssued, "latchkey_tokens_issued_total", "alg", tokenAlgs, "none", other},
		{"revocation signing key", (*Metrics).Revocation, "latchkey_revocations_total", "kind", revocationKinds, "signing_key", "signing_key"},
		{"revocation jti", (*Metrics).Revocation, "latchkey_revocations_total", "kind", revocationKinds, jtiLike, other},
		{"rate limited global", (*Metrics).RateLimited, "latchkey_rate_limited_total", "limiter", limiters, "global", "global"},
		{"rate limited identity value", (*Metrics).RateLimited, "latchkey_rate_limited_total", "limiter", limiters, identityLike, other},
		{"alert scope probe", (*Metrics).Alert, "latchkey_alerts_total", "kind", alertKinds, "scope_probe", "scope_probe"},
		{"alert flagged key use", (*Metrics).Alert, "latchkey_alerts_total", "kind", alertKinds, "flagged_key_use", "flagged_key_use"},
		{"alert unknown", (*Metrics).Alert, "latchkey_alerts_total", "kind", alertKinds, "", other},
		{"store signing", (*Metrics).StoreError, "latchkey_store_errors_total", "op", storeOps, "signing", "signing"},
		{"store free-form op", (*Metrics).StoreError, "latchkey_store_errors_total", "op", storeOps, "UpdateKey", other},
		{"store other", (*Metrics).StoreError, "latchkey_store_errors_total", "op", storeOps, "other", other},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			tc.record(m, tc.value)
			tc.record(m, tc.value)

			if got := series(t, m.Registry(), tc.family, tc.label, tc.wantLabel).GetCounter().GetValue(); got != 2 {
				t.Errorf("%s{%s=%q} = %v, want 2", tc.family, tc.label, tc.wantLabel, got)
			}
			// Every vocabulary value and "other" exist from the start, and
			// nothing else ever does.
			if n, err := testutil.GatherAndCount(m.Registry(), tc.family); err != nil || n != len(tc.vocab)+1 {
				t.Errorf("%s has %d series (err %v), want %d", tc.family, n, err, len(tc.vocab)+1)
			}
			var total float64
			for _, metric := range family(t, m.Registry(), tc.family).GetMetric() {
				total += metric.GetCounter().GetValue()
			}
			if total != 2 {
				t.Errorf("%s sums to %v across series, want 2", tc.family, total)
			}
		})
	}
}

func TestExchangeVocabularyMatchesAuditReasons(t *testing.T) {
	m := New()
	for _, r := range []string{
		audit.ReasonMalformedKey, audit.ReasonUnknownKey, audit.ReasonBadSecret,
		audit.ReasonKeyRevoked, audit.ReasonKeyDisabled, audit.ReasonKeyExpired,
		audit.ReasonNotBound, audit.ReasonScopeDenied, audit.ReasonInvalidRequest,
		audit.ReasonRateLimited, audit.ReasonInternal,
	} {
		t.Run(r, func(t *testing.T) {
			m.Exchange(r)
			if got := series(t, m.Registry(), "latchkey_exchanges_total", "result", r).GetCounter().GetValue(); got != 1 {
				t.Errorf("exchanges{result=%q} = %v, want 1", r, got)
			}
		})
	}
	if got := series(t, m.Registry(), "latchkey_exchanges_total", "result", other).GetCounter().GetValue(); got != 0 {
		t.Errorf("exchanges{result=other} = %v, want 0", got)
	}
}

func TestAuditWrite(t *testing.T) {
	errDisk := errors.New("disk full")
	type write struct {
		d      time.Duration
		events int
		err    error
	}
	cases := []struct {
		name       string
		writes     []write
		wantCount  uint64
		wantSum    float64
		wantEvents float64
		wantErrors float64
	}{
		{"one batch", []write{{2 * time.Millisecond, 3, nil}}, 1, 0.002, 3, 0},
		{"batches add up", []write{{time.Millisecond, 1, nil}, {3 * time.Millisecond, 4, nil}}, 2, 0.004, 5, 0},
		{"failed write is timed, its events not counted", []write{{time.Second, 7, errDisk}}, 1, 1, 0, 1},
		{"negative duration clamps to zero", []write{{-time.Second, 1, nil}}, 1, 0, 1, 0},
		{"negative event count ignored", []write{{0, -5, nil}}, 1, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			for _, w := range tc.writes {
				m.AuditWrite(w.d, w.events, w.err)
			}
			h := series(t, m.Registry(), "latchkey_audit_write_seconds").GetHistogram()
			if h.GetSampleCount() != tc.wantCount || !closeTo(h.GetSampleSum(), tc.wantSum) {
				t.Errorf("audit_write_seconds count=%d sum=%v, want %d and %v", h.GetSampleCount(), h.GetSampleSum(), tc.wantCount, tc.wantSum)
			}
			if got := testutil.ToFloat64(m.auditEvents); got != tc.wantEvents {
				t.Errorf("audit_events_total = %v, want %v", got, tc.wantEvents)
			}
			if got := testutil.ToFloat64(m.auditWriteErrors); got != tc.wantErrors {
				t.Errorf("audit_write_errors_total = %v, want %v", got, tc.wantErrors)
			}
		})
	}
}

// scrape fetches the exposition from Handler through a real HTTP server.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape status %d: %s", resp.StatusCode, body)
	}
	return string(body)
}

func TestHandlerExposesEveryFamilyAndNoSecret(t *testing.T) {
	key, err := rootkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{key.Reveal(), key.ID(), jwtLike, jtiLike, identityLike}

	m := New()
	ts := startServer(t, m, grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return status.Error(codes.Unimplemented, "no such method")
	}))
	if err := ts.invoke(t.Context(), methodCheck); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		m.Exchange(s)
		m.TokenIssued(s)
		m.Revocation(s)
		m.RateLimited(s)
		m.Alert(s)
		m.StoreError(s)
		callDirect(t, m, s, nil)
		for _, method := range []string{"/latchkey.v1.TokenService/" + s, "/" + s + "/Get"} {
			if err := ts.invoke(t.Context(), method); status.Code(err) != codes.Unimplemented {
				t.Fatalf("%s: got %v, want Unimplemented", method, err)
			}
		}
	}
	m.AuditWrite(time.Millisecond, 1, nil)
	m.SetKeyStates(func() map[string]int {
		states := map[string]int{"active": 2}
		for _, s := range secrets {
			states[s] = 1
		}
		return states
	})
	m.SetWatchers(func() int { return 1 })
	m.SetRateLimitBuckets(func() int { return 1 })

	body := scrape(t, m)
	families := []string{
		familyRequests, familyDuration, familyInFlight,
		"latchkey_exchanges_total", "latchkey_tokens_issued_total", "latchkey_revocations_total",
		"latchkey_rate_limited_total", "latchkey_alerts_total", "latchkey_store_errors_total",
		"latchkey_audit_write_seconds", "latchkey_audit_events_total", "latchkey_audit_write_errors_total",
		"latchkey_root_keys", "latchkey_revocation_watchers", "latchkey_rate_limit_buckets",
		"go_goroutines", "process_start_time_seconds", "promhttp_metric_handler_errors_total",
	}
	for _, f := range families {
		t.Run("family "+f, func(t *testing.T) {
			if !strings.Contains(body, "\n# TYPE "+f+" ") {
				t.Errorf("exposition lacks %s", f)
			}
		})
	}
	for _, s := range secrets {
		t.Run("secret "+s[:8], func(t *testing.T) {
			if strings.Contains(body, s) {
				t.Errorf("exposition contains %q", s)
			}
		})
	}
	for _, want := range []string{
		`latchkey_exchanges_total{result="other"} 5`,
		`latchkey_store_errors_total{op="other"} 5`,
		`latchkey_root_keys{state="other"} 5`,
		`latchkey_root_keys{state="active"} 2`,
		`latchkey_grpc_requests_total{code="OK",method="other"} 5`,
		`latchkey_grpc_requests_total{code="Unimplemented",method="other"} 10`,
		`latchkey_grpc_requests_total{code="OK",method="/grpc.health.v1.Health/Check"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}
