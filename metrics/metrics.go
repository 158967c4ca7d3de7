package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "latchkey"

// maxConcurrentScrapes bounds parallel scrapes, so a misconfigured scraper
// cannot make the server gather metrics many times at once.
const maxConcurrentScrapes = 4

var (
	// grpcBuckets span a cached introspection (~50µs) to a slow store
	// behind an exchange (seconds).
	grpcBuckets = []float64{
		0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	}
	// auditBuckets span a batched in-memory append to a synced disk write
	// on a struggling volume.
	auditBuckets = []float64{
		0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
	}
)

// Metrics holds every Latchkey metric and the registry that exposes them.
// All methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	// now is replaced by tests so durations are exact.
	now func() time.Time

	grpcRequests *prometheus.CounterVec
	grpcDuration *prometheus.HistogramVec
	grpcInFlight *prometheus.GaugeVec
	inFlight     atomic.Int64
	methods      sync.Map // full method name -> *methodMetrics
	methodsMu    sync.Mutex
	methodCount  int // guarded by methodsMu
	otherMethod  *methodMetrics

	exchanges   *vocabCounter
	tokens      *vocabCounter
	revocations *vocabCounter
	rateLimited *vocabCounter
	alerts      *vocabCounter
	storeErrors *vocabCounter

	auditWrite       prometheus.Histogram
	auditEvents      prometheus.Counter
	auditWriteErrors prometheus.Counter

	keyStates *keyStatesCollector
	watchers  *intGauge
	rlBuckets *intGauge
}

// New returns Metrics with a fresh registry holding the Latchkey metrics and
// the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := &Metrics{reg: reg, now: time.Now}

	m.grpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "grpc", Name: "requests_total",
		Help: "gRPC requests handled, by full method name and status code.",
	}, []string{"method", "code"})
	m.grpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "grpc", Name: "request_duration_seconds",
		Help:    "Time from a gRPC request reaching the handler chain to its return, by full method name.",
		Buckets: grpcBuckets,
	}, []string{"method"})
	m.grpcInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "grpc", Name: "in_flight",
		Help: "gRPC handlers running now, by full method name.",
	}, []string{"method"})
	reg.MustRegister(m.grpcRequests, m.grpcDuration, m.grpcInFlight)
	m.otherMethod = m.newMethodMetrics(other)

	m.exchanges = newVocabCounter(reg, prometheus.CounterOpts{
		Name: "exchanges_total",
		Help: "Root-key exchanges, by result: granted or the denial reason.",
	}, "result", exchangeResults)
	m.tokens = newVocabCounter(reg, prometheus.CounterOpts{
		Name: "tokens_issued_total",
		Help: "Access tokens signed, by JWS algorithm.",
	}, "alg", tokenAlgs)
	m.revocations = newVocabCounter(reg, prometheus.CounterOpts{
		Name: "revocations_total",
		Help: "Revocations recorded, by what was revoked.",
	}, "kind", revocationKinds)
	m.rateLimited = newVocabCounter(reg, prometheus.CounterOpts{
		Name: "rate_limited_total",
		Help: "Requests refused by a rate limiter, by limiter.",
	}, "limiter", limiters)
	m.alerts = newVocabCounter(reg, prometheus.CounterOpts{
		Name: "alerts_total",
		Help: "Anomaly alerts raised, by kind.",
	}, "kind", alertKinds)
	m.storeErrors = newVocabCounter(reg, prometheus.CounterOpts{
		Name: "store_errors_total",
		Help: "Storage operations that failed, by operation.",
	}, "op", storeOps)

	m.auditWrite = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "audit_write_seconds",
		Help:    "Time to write a batch of audit events durably.",
		Buckets: auditBuckets,
	})
	m.auditEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "audit_events_total",
		Help: "Audit events written durably.",
	})
	m.auditWriteErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "audit_write_errors_total",
		Help: "Audit writes that failed.",
	})
	reg.MustRegister(m.auditWrite, m.auditEvents, m.auditWriteErrors)

	m.keyStates = newKeyStatesCollector()
	m.watchers = newIntGauge("revocation_watchers",
		"Clients streaming the revocation list now.")
	m.rlBuckets = newIntGauge("rate_limit_buckets",
		"Token buckets the rate limiters hold now.")
	reg.MustRegister(m.keyStates, m.watchers, m.rlBuckets)

	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg,
		// A failing or panicking collector must not hide the others, and
		// its error text (which may quote a callback's panic value) must
		// not reach the scraper.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxConcurrentScrapes,
	})
	return m
}

// Registry returns the registry holding every metric, for tests and for
// callers that gather programmatically.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Exchange counts one root-key exchange. result is "granted" or one of the
// audit.Reason* denial reasons; anything else is counted as "other".
func (m *Metrics) Exchange(result string) { m.exchanges.inc(result) }

// TokenIssued counts one signed token by JWS algorithm (EdDSA, ES256, RS256).
func (m *Metrics) TokenIssued(alg string) { m.tokens.inc(alg) }

// Revocation counts one revocation: token, key, subject or signing_key.
func (m *Metrics) Revocation(kind string) { m.revocations.inc(kind) }

// RateLimited counts one request refused by the key, identity, caller or
// global limiter.
func (m *Metrics) RateLimited(limiter string) { m.rateLimited.inc(limiter) }

// Alert counts one anomaly alert: new_identity, new_network, rate_spike,
// scope_probe, invalid_key_burst or flagged_key_use.
func (m *Metrics) Alert(kind string) { m.alerts.inc(kind) }

// StoreError counts one failed storage operation. op is one of get, put,
// list, revoke, audit, usage, signing; any other value is counted as
// "other", so callers may pass whatever names their operation.
func (m *Metrics) StoreError(op string) { m.storeErrors.inc(op) }

// AuditWrite records one audit write of events events that took d. A failed
// write is timed and counted as an error, but its events are not counted
// as written.
func (m *Metrics) AuditWrite(d time.Duration, events int, err error) {
	m.auditWrite.Observe(max(d, 0).Seconds())
	if err != nil {
		m.auditWriteErrors.Inc()
		return
	}
	if events > 0 {
		m.auditEvents.Add(float64(events))
	}
}

// SetKeyStates sets the callback that counts root keys by state at scrape
// time. States other than active, disabled, revoked and expired are
// reported as "other". nil removes the callback; latchkey_root_keys is then
// absent from scrapes.
func (m *Metrics) SetKeyStates(f func() map[string]int) { m.keyStates.set(f) }

// SetWatchers sets the callback that reports how many clients stream the
// revocation list. nil removes it; the gauge is then absent from scrapes.
func (m *Metrics) SetWatchers(f func() int) { m.watchers.set(f) }

// SetRateLimitBuckets sets the callback that reports how many rate-limit
// buckets are held. nil removes it; the gauge is then absent from scrapes.
func (m *Metrics) SetRateLimitBuckets(f func() int) { m.rlBuckets.set(f) }
