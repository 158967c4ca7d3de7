package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/signing"
	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
	"github.com/latchkeyhq/latchkey/store/cache"
)

const (
	// benchParallelism multiplies GOMAXPROCS for the RunParallel benchmarks:
	// a unary call mostly waits on loopback, so a handful of callers per
	// core keeps the server busy.
	benchParallelism = 8
	// revokeRate is how many revocations per second the propagation
	// benchmark issues while exchanges run beside it.
	revokeRate = 200
	exchangers = 4
	largeLog   = 1_000_000
)

// BenchmarkRevocationPropagation measures how soon a connected
// WatchRevocations stream delivers a revision issued by RevokeTokens, while
// other callers exchange tokens. One op is one revocation, issued at a
// steady revokeRate. p50_ms and p99_ms count from the moment RevokeTokens
// returned; the view is updated before it does, so the stream often wins
// and that revocation counts as zero. send_p50_ms and send_p99_ms count
// from the moment the request was sent, which includes the synced write.
func BenchmarkRevocationPropagation(b *testing.B) {
	e := newBenchEnv(b, b.TempDir(), nil)
	rootKey := e.createKey()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := benchMust(e.tokens(idIntrospect).WatchRevocations(ctx, &latchkeyv1.WatchRevocationsRequest{}))(b)
	for msg := benchMust(stream.Recv())(b); !msg.GetSnapshotComplete(); msg = benchMust(stream.Recv())(b) {
	}
	// The buffer holds every arrival of a run far longer than any
	// -benchtime in use, so the receiver never waits on this goroutine.
	type arrival struct {
		rev uint64
		at  time.Time
	}
	got := make(chan arrival, 1<<16)
	var streamErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(got)
		for {
			msg, err := stream.Recv()
			if err != nil {
				streamErr = err
				return
			}
			for _, r := range msg.GetRevocations() {
				got <- arrival{r.GetRevision(), time.Now()}
			}
		}
	})
	var exchanges atomic.Int64
	exchangeErr := make(chan error, exchangers)
	for range exchangers {
		c := e.tokens(idWorkloadA)
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := c.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: rootKey}); err == nil {
					exchanges.Add(1)
				} else if ctx.Err() == nil {
					exchangeErr <- err
					return
				}
			}
		})
	}

	admin := e.admin()
	sent, returned := map[uint64]time.Time{}, map[uint64]time.Time{}
	tick := time.NewTicker(time.Second / revokeRate)
	defer tick.Stop()
	start := time.Now()
	for b.Loop() {
		<-tick.C
		at := time.Now()
		resp, err := admin.RevokeTokens(ctx, &adminv1.RevokeTokensRequest{
			Target: &adminv1.RevokeTokensRequest_Jti{Jti: fmt.Sprintf("bench-jti-%d", len(sent))},
		})
		if err != nil {
			b.Fatalf("RevokeTokens: %v", err)
		}
		sent[resp.GetRevision()], returned[resp.GetRevision()] = at, time.Now()
	}
	elapsed := time.Since(start)
	var fromReturn, fromSend []time.Duration
	for timeout := time.After(10 * time.Second); len(fromSend) < len(sent); {
		select {
		case a, ok := <-got:
			if !ok {
				b.Fatalf("watch ended after %d of %d revisions: %v", len(fromSend), len(sent), streamErr)
			}
			fromReturn = append(fromReturn, max(0, a.at.Sub(returned[a.rev])))
			fromSend = append(fromSend, a.at.Sub(sent[a.rev]))
		case <-timeout:
			b.Fatalf("watcher received %d of %d revisions in 10s", len(fromSend), len(sent))
		}
	}
	cancel()
	wg.Wait()
	select {
	case err := <-exchangeErr:
		b.Fatalf("ExchangeToken: %v", err)
	default:
	}
	b.ReportMetric(percentileMs(fromReturn, 0.50), "p50_ms")
	b.ReportMetric(percentileMs(fromReturn, 0.99), "p99_ms")
	b.ReportMetric(percentileMs(fromReturn, 1), "max_ms")
	b.ReportMetric(percentileMs(fromSend, 0.50), "send_p50_ms")
	b.ReportMetric(percentileMs(fromSend, 0.99), "send_p99_ms")
	b.ReportMetric(float64(exchanges.Load())/elapsed.Seconds(), "exchanges/s")
}

func percentileMs(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(0, int(math.Ceil(p*float64(len(s))))-1)
	return float64(s[i]) / float64(time.Millisecond)
}

// BenchmarkIntrospect introspects one valid token from many callers, with an
// empty revocation list and with a million entries loaded from the store.
// The token matches no entry, so every lookup is made and misses.
func BenchmarkIntrospect(b *testing.B) {
	for _, n := range []int{0, largeLog} {
		dir, key := b.TempDir(), benchStoreKey()
		writeRevocationLog(b, dir, key, n)
		e := newBenchEnv(b, dir, key)
		if e.view.Len() != n || e.view.Revision() != uint64(n) {
			b.Fatalf("view holds %d entries at revision %d, want %d", e.view.Len(), e.view.Revision(), n)
		}
		tok := e.exchange(e.createKey())
		client := e.tokens(idIntrospect)
		b.Run(fmt.Sprintf("revocations=%d", n), func(b *testing.B) {
			parallelCalls(b, func(ctx context.Context) error {
				resp, err := client.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: tok})
				if err == nil && !resp.GetActive() {
					err = fmt.Errorf("token reported inactive")
				}
				return err
			})
		})
		e.close()
	}
}

// BenchmarkHealthCheck is the baseline: the cheapest call through the same
// TLS, interceptors and connection as the other benchmarks.
func BenchmarkHealthCheck(b *testing.B) {
	e := newBenchEnv(b, b.TempDir(), nil)
	client := healthpb.NewHealthClient(e.conn(idIntrospect))
	parallelCalls(b, func(ctx context.Context) error {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("status %v", resp.GetStatus())
		}
		return err
	})
}

// parallelCalls runs call from benchParallelism callers per core and reports
// throughput and the latency each call saw under that load.
func parallelCalls(b *testing.B, call func(context.Context) error) {
	parallelCallsAt(b, benchParallelism, call)
}

// parallelCallsAt is parallelCalls with perCore callers per core.
func parallelCallsAt(b *testing.B, perCore int, call func(context.Context) error) {
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(perCore)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if err := call(ctx); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(percentileMs(all, 0.50), "p50_ms")
	b.ReportMetric(percentileMs(all, 0.99), "p99_ms")
}

// BenchmarkStartupLoad1M measures what a restart pays before it can serve:
// reading a million-entry log from a freshly opened on-disk store and
// building the view. heap-bytes is what the finished view retains.
func BenchmarkStartupLoad1M(b *testing.B) {
	dir, key := b.TempDir(), benchStoreKey()
	writeRevocationLog(b, dir, key, largeLog)
	var retained uint64
	for b.Loop() {
		b.StopTimer()
		s := benchMust(badgerstore.Open(badgerstore.Options{Dir: dir, EncryptionKey: key}))(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		v := newViewFrom(b, s)
		b.StopTimer()
		// Closed first so that Badger's caches are not counted.
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if v.Len() != largeLog {
			b.Fatalf("view holds %d entries, want %d", v.Len(), largeLog)
		}
		retained = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(v)
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	b.ReportMetric(float64(retained), "heap-bytes")
}

// benchMust(f())(b) ends the benchmark if f failed, keeping set-up to one
// line a step.
func benchMust[T any](v T, err error) func(testing.TB) T {
	return func(b testing.TB) T {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
}

// newViewFrom loads the whole revocation log, as a starting server does.
func newViewFrom(b testing.TB, s *badgerstore.Store) *revocation.View {
	entries, last, err := s.LoadRevocations(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return revocation.NewView(entries, last)
}

func benchStoreKey() []byte {
	k := make([]byte, badgerstore.EncryptionKeySize)
	rand.Read(k)
	return k
}

// writeRevocationLog fills a new store in dir with n live entries, mostly
// jti revocations with a few of each other kind, none of which matches a
// token the benchmarks mint. It writes Badger directly in store/badger's
// layout ("rlog/" + 16 hex digits, the "rlog-seq" counter, wire version 1)
// because AppendRevocation syncs every entry and a million of those take
// minutes. Callers load the log back through the store and check the count,
// so a change of layout stops the benchmark instead of measuring an empty
// list.
func writeRevocationLog(b *testing.B, dir string, key []byte, n int) {
	if n == 0 {
		return
	}
	db := benchMust(badger.Open(badger.DefaultOptions(dir).WithEncryptionKey(key).
		WithIndexCacheSize(16 << 20).WithBlockCacheSize(32 << 20).WithLogger(nil)))(b)
	now := time.Now().UTC()
	wb := db.NewWriteBatch()
	for i := 1; i <= n; i++ {
		r := store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("revoked-%08d", i),
			At: now, ExpiresAt: now.Add(2 * time.Hour), Actor: idAdmin}
		switch i % 100 {
		case 1:
			r.Kind, r.Before = store.RevokeKeyTokens, now
		case 2:
			r.Kind, r.Before = store.RevokeSubjectTokens, now
		case 3:
			r.Kind = store.RevokeSigningKeyTokens
		}
		e := badger.NewEntry([]byte(fmt.Sprintf("rlog/%016x", i)), encodeBenchRevocation(r))
		e.ExpiresAt = uint64(r.ExpiresAt.Unix() + 1)
		if err := wb.SetEntry(e); err != nil {
			b.Fatal(err)
		}
	}
	seq := badger.NewEntry([]byte("rlog-seq"), binary.BigEndian.AppendUint64(nil, uint64(n)))
	if err := errors.Join(wb.SetEntry(seq), wb.Flush(), db.Close()); err != nil {
		b.Fatal(err)
	}
}

// encodeBenchRevocation is store/badger's revocation value encoding:
// version, kind, which times are set, each set time as varint seconds and
// uvarint nanoseconds, then value, actor and reason length-prefixed.
func encodeBenchRevocation(r store.Revocation) []byte {
	out := []byte{1, byte(r.Kind), 0}
	for i, t := range []time.Time{r.Before, r.At, r.ExpiresAt} {
		if !t.IsZero() {
			out[2] |= 1 << i
			out = binary.AppendVarint(out, t.Unix())
			out = binary.AppendUvarint(out, uint64(t.Nanosecond()))
		}
	}
	for _, s := range []string{r.Value, r.Actor, r.Reason} {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// benchEnv is env for benchmarks: the production wiring with no fault
// injection or counting wrappers, on a store in dir, logging at info level
// to nowhere so that log formatting is paid as in production.
type benchEnv struct {
	b      testing.TB
	ca     *pki.CA
	addr   string
	leaves map[string]*pki.Leaf
	view   *revocation.View
	conns  []*grpc.ClientConn
	close  func()
}

// newBenchEnv serves a store in dir (a new one when key is nil).
// benchLimits raises the caller and global limits out of the way: the
// benchmarks measure load, not abuse.
const benchLimits = `
limits:
  global: {per_second: 1000000, burst: 1000000}
  per_caller: {per_second: 1000000, burst: 1000000}
`

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func newBenchEnv(b testing.TB, dir string, key []byte) *benchEnv {
	b.Helper()
	return newBenchEnvAudit(b, dir, key, true)
}

// newBenchEnvAudit runs the production configuration, or with withAudit
// false the same server without its audit trail, to measure what the
// trail costs.
func newBenchEnvAudit(b testing.TB, dir string, key []byte, withAudit bool) *benchEnv {
	b.Helper()
	if key == nil {
		key = benchStoreKey()
	}
	now := time.Now().Truncate(time.Second)
	ca := benchMust(pki.NewCA("latchkey bench CA", now.Add(-time.Hour), now.Add(24*time.Hour)))(b)
	srvLeaf := benchMust(ca.IssueServer(pki.LeafOptions{CommonName: "latchkey", IPs: []net.IP{net.ParseIP("127.0.0.1")}}))(b)
	pol := benchMust(policy.Parse([]byte(testPolicy + benchLimits)))(b)
	pepper := benchMust(rootkey.NewPepper(benchStoreKey()))(b)
	bs := benchMust(badgerstore.Open(badgerstore.Options{Dir: dir, EncryptionKey: key}))(b)
	// The real clock: rate limits refill with it, and a run may outlast a
	// token's lifetime only if the clock moves.
	clk := &realClock{}
	keys := benchMust(signing.Open(context.Background(), signing.Config{Store: bs, Policy: func() *policy.Policy { return pol }, Now: clk.Now}))(b)
	tlsCfg := benchMust(TLSConfig(srvLeaf.TLS, ca.Pool()))(b)
	view := newViewFrom(b, bs)
	var trail *audit.Trail
	if withAudit {
		trail = benchMust(audit.Open(context.Background(), audit.Config{Log: bs, Key: pepper.Derive("audit-chain-v1"), WALDir: filepath.Join(dir, "audit-log")}))(b)
	}
	srv := benchMust(New(Config{
		// As in production: key records are served from the write-through cache.
		TLS: tlsCfg, Store: cache.New(bs, 0), Pepper: pepper, Keys: keys, Policy: pol, Now: clk.Now, Usage: lifecycle.NewUsage(bs),
		Revocations: view, Revoker: revocation.NewRevoker(bs, view), Audit: trail, Metrics: metrics.New(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}))(b)
	lis := benchMust(net.Listen("tcp", "127.0.0.1:0"))(b)
	go srv.Serve(lis)
	e := &benchEnv{b: b, ca: ca, addr: lis.Addr().String(), leaves: map[string]*pki.Leaf{}, view: view}
	var once sync.Once
	e.close = func() {
		once.Do(func() {
			for _, c := range e.conns {
				c.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Stop(ctx)
			if trail != nil {
				trail.Close()
			}
			bs.Close()
		})
	}
	b.Cleanup(e.close)
	for _, id := range []string{idAdmin, idIntrospect, idWorkloadA} {
		e.leaves[id] = benchMust(ca.IssueClient(pki.LeafOptions{URIs: []string{id}}))(b)
	}
	return e
}

// conn opens a connection as one of the test identities.
func (e *benchEnv) conn(id string) *grpc.ClientConn {
	e.b.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: e.ca.Pool(), Certificates: []tls.Certificate{e.leaves[id].TLS}}
	c := benchMust(grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg))))(e.b)
	e.conns = append(e.conns, c)
	return c
}

func (e *benchEnv) tokens(id string) latchkeyv1.TokenServiceClient {
	return latchkeyv1.NewTokenServiceClient(e.conn(id))
}

func (e *benchEnv) admin() adminv1.KeyServiceClient {
	return adminv1.NewKeyServiceClient(e.conn(idAdmin))
}

// createKey makes a root key that may exchange for every test scope.
func (e *benchEnv) createKey() string {
	e.b.Helper()
	resp, err := e.admin().CreateKey(context.Background(), &adminv1.CreateKeyRequest{
		Owner: "orders-team", Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{"orders-api"},
		// Load, not abuse: the per-key limit must not be what is measured.
		RateLimit: &adminv1.RateLimit{PerSecond: policy.MaxRatePerSecond, Burst: policy.MaxRateBurst},
	})
	if err != nil {
		e.b.Fatalf("CreateKey: %v", err)
	}
	return resp.GetRootKey()
}

func (e *benchEnv) exchange(rootKey string) string {
	e.b.Helper()
	resp, err := e.tokens(idWorkloadA).ExchangeToken(context.Background(), &latchkeyv1.ExchangeTokenRequest{RootKey: rootKey})
	if err != nil {
		e.b.Fatalf("ExchangeToken: %v", err)
	}
	return resp.GetAccessToken()
}
