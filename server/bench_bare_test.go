package server

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/internal/gctune"
	"github.com/latchkeyhq/latchkey/pki"
)

// The bare server is the least a token server can do per call, in a process
// of its own, measured the way BenchmarkExchangeProcess measures Latchkey:
// the same mTLS configuration, the same kept handler goroutines, the same
// response messages, and nothing else. Its exchange signs one token; its
// durable exchange also appends a record to a preallocated log and returns
// after the fdatasync that covers it (callers share syncs); its
// introspection verifies one signature. No key lookup, policy, rate limit,
// interceptor, metric or claim check.
const (
	bareServeEnv   = "LATCHKEY_BENCH_BARE"
	bareDurableEnv = "LATCHKEY_BENCH_BARE_DURABLE"
	// bareLogSize is the preallocated log; writes wrap around it.
	bareLogSize = 64 << 20
	// bareRecordSize is about what an audit event of an exchange takes.
	bareRecordSize = 320
)

// bareRootKey is what the bare server's callers present; it is not checked.
const bareRootKey = "lk_0123456789abcdef.0123456789abcdef0123456789abcdef"

// bareHeader is an EdDSA JWT header, encoded once as Latchkey's issuer does.
var bareHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"k-3f2a9c1e0b7d4e6f","typ":"at+jwt"}`))

type bareTokens struct {
	latchkeyv1.UnimplementedTokenServiceServer
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	jti  atomic.Uint64
	log  *bareLog // nil: exchanges write nothing
}

func (t *bareTokens) ExchangeToken(ctx context.Context, req *latchkeyv1.ExchangeTokenRequest) (*latchkeyv1.ExchangeTokenResponse, error) {
	if req.GetRootKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "no root key")
	}
	now := time.Now()
	jti := fmt.Sprintf("%022d", t.jti.Add(1))
	claims := `{"aud":["orders-api"],"client_id":"lk_0123456789abcdef","exp":` + strconv.FormatInt(now.Add(5*time.Minute).Unix(), 10) +
		`,"iat":` + strconv.FormatInt(now.Unix(), 10) + `,"iss":"https://latchkey.example","jti":"` + jti +
		`","scope":"orders.read","sub":"spiffe://test.local/workload/a"}`
	signing := bareHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	sig := ed25519.Sign(t.priv, []byte(signing))
	if t.log != nil {
		if err := t.log.append(jti); err != nil {
			return nil, status.Error(codes.Unavailable, "log write failed")
		}
	}
	return &latchkeyv1.ExchangeTokenResponse{
		AccessToken: signing + "." + base64.RawURLEncoding.EncodeToString(sig),
		TokenType:   "Bearer",
		ExpiresAt:   timestamppb.New(now.Add(5 * time.Minute)),
		Jti:         jti,
		KeyId:       "lk_0123456789abcdef",
		Scopes:      []string{"orders.read"},
		Audiences:   []string{"orders-api"},
	}, nil
}

func (t *bareTokens) IntrospectToken(ctx context.Context, req *latchkeyv1.IntrospectTokenRequest) (*latchkeyv1.IntrospectTokenResponse, error) {
	tok := req.GetToken()
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 {
		return &latchkeyv1.IntrospectTokenResponse{}, nil
	}
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(t.pub, []byte(tok[:dot]), sig) {
		return &latchkeyv1.IntrospectTokenResponse{}, nil
	}
	return &latchkeyv1.IntrospectTokenResponse{Active: true}, nil
}

// bareLog is a group commit: each caller adds its record and waits; one
// goroutine writes all that is waiting, fdatasyncs once, and releases them.
type bareLog struct {
	f    *os.File
	off  int64
	kick chan struct{}

	mu      sync.Mutex
	pending []byte
	waiters []chan error
}

func openBareLog(path string) (*bareLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	// Zero-filled and synced ahead, as the audit trail's segments are, so
	// a sync writes data and not the file's growth.
	zero := make([]byte, 1<<20)
	for off := int64(0); off < bareLogSize; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero, off); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	l := &bareLog{f: f, kick: make(chan struct{}, 1)}
	go l.run()
	return l, nil
}

func (l *bareLog) append(id string) error {
	var rec [bareRecordSize]byte
	copy(rec[:], id)
	done := make(chan error, 1)
	l.mu.Lock()
	l.pending = append(l.pending, rec[:]...)
	l.waiters = append(l.waiters, done)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return <-done
}

func (l *bareLog) run() {
	var buf []byte
	var waiters []chan error
	for range l.kick {
		l.mu.Lock()
		buf, l.pending = l.pending, buf[:0]
		waiters, l.waiters = l.waiters, waiters[:0]
		l.mu.Unlock()
		if len(waiters) == 0 {
			continue
		}
		if l.off+int64(len(buf)) > bareLogSize {
			l.off = 0
		}
		_, err := l.f.WriteAt(buf, l.off)
		l.off += int64(len(buf))
		if err == nil {
			err = syscall.Fdatasync(int(l.f.Fd()))
		}
		for _, w := range waiters {
			w <- err
		}
		clear(waiters)
	}
}

// TestBareServerProcess is the bare server's child process. It does nothing
// in a normal test run.
func TestBareServerProcess(t *testing.T) {
	dir := os.Getenv(bareServeEnv)
	if dir == "" {
		t.Skip("only as the server of BenchmarkBareServer")
	}
	stopTuning, _ := gctune.Start(gctune.DefaultPercent)
	defer stopTuning()
	now := time.Now().Truncate(time.Second)
	ca := benchMust(pki.NewCA("latchkey bench CA", now.Add(-time.Hour), now.Add(24*time.Hour)))(t)
	srvLeaf := benchMust(ca.IssueServer(pki.LeafOptions{CommonName: "latchkey", IPs: []net.IP{net.ParseIP("127.0.0.1")}}))(t)
	tlsCfg := benchMust(TLSConfig(srvLeaf.TLS, ca.Pool()))(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &bareTokens{priv: priv, pub: pub}
	if os.Getenv(bareDurableEnv) == "on" {
		tokens.log = benchMust(openBareLog(filepath.Join(dir, "log")))(t)
	}
	gs := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.MaxConcurrentStreams(DefaultMaxConcurrentStreams),
		grpc.NumStreamWorkers(DefaultStreamWorkers),
	)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	latchkeyv1.RegisterTokenServiceServer(gs, tokens)
	lis := benchMust(net.Listen("tcp", "127.0.0.1:0"))(t)
	go gs.Serve(lis)
	defer gs.Stop()
	files := map[string][]byte{"ca.pem": ca.CertPEM()}
	for _, who := range []string{"workload", "rs"} {
		leaf := benchMust(ca.IssueClient(pki.LeafOptions{URIs: []string{"spiffe://test.local/" + who}}))(t)
		files[who+".pem"], files[who+"-key.pem"] = leaf.CertPEM, leaf.KeyPEM
	}
	serveChild(t, dir, lis.Addr().String(), files)
}

func startBareServer(b *testing.B, durable bool) *childServer {
	b.Helper()
	mode := "off"
	if durable {
		mode = "on"
	}
	srv := startChild(b, "TestBareServerProcess", "bare-durable-"+mode, bareServeEnv, bareDurableEnv+"="+mode)
	b.Cleanup(srv.stop)
	return srv
}

// floorConns are clients of one service over exchangeConns connections,
// taken in turn.
func floorConns[C any](b *testing.B, srv *childServer, who string, newClient func(grpc.ClientConnInterface) C) func() C {
	var clients []C
	for range exchangeConns {
		conn := srv.dial(b, who)
		waitReady(b, conn)
		clients = append(clients, newClient(conn))
	}
	var next atomic.Uint64
	return func() C { return clients[next.Add(1)%uint64(len(clients))] }
}

// waitReady connects conn, so that its TLS handshake is not part of what
// the first benchmark on it measures.
func waitReady(b *testing.B, conn *grpc.ClientConn) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn.Connect()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			b.Fatalf("connection not ready: %v", conn.GetState())
		}
	}
}

// mintTokens takes n tokens from exchange, from 64 concurrent callers.
func mintTokens(b *testing.B, n int, exchange func(context.Context) (string, error)) []string {
	b.Helper()
	toks := make([]string, n)
	var next atomic.Int64
	err := callsFrom(n, 64, func(ctx context.Context) error {
		tok, err := exchange(ctx)
		if err == nil {
			toks[next.Add(1)-1] = tok
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return toks
}

// floorWarmup is how many calls warm each server up before it is measured.
const floorWarmup = 5000

// floorDistinctTokens is how many tokens the introspections cycle through:
// more than the verified-token cache holds, so every call verifies.
const floorDistinctTokens = 3 * verifiedCacheSize

// BenchmarkBareServer measures Ed25519 signing and verification alone and,
// at 64 and 256 callers, the bare server's health check, exchange (with and
// without a durable record) and introspection of distinct tokens, beside
// Latchkey's health check, exchange (audit trail on and off) and
// introspection of distinct tokens, each server in its own process. The ratio of Latchkey's CPU per
// call to the bare server's is what Latchkey adds to the least a server
// must do for the same call on the same connections.
func BenchmarkBareServer(b *testing.B) {
	// The signature and verification alone, in this process, one goroutine:
	// the floor's terms as the driver measures them.
	msg := []byte(bareHeader + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 220)))
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	sig := ed25519.Sign(priv, msg)
	perOp := func(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / 1e3 / float64(b.N) }
	var signUS, verifyUS float64
	b.Run("ed25519-sign", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
		signUS = perOp(b)
	})
	b.Run("ed25519-verify", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("signature did not verify")
			}
		}
		verifyUS = perOp(b)
	})
	for _, callers := range []int{64, 256} {
		perCore := max(1, callers/runtime.GOMAXPROCS(0))
		// The health checks' CPU per call on Latchkey (the targets'
		// baseline, through Latchkey's interceptors) and on the bare
		// server.
		var lkHealthUS, bareHealthUS float64
		// floor is a health check's CPU plus the signature's or the
		// verification's, 0 when a term was not measured in this run.
		floor := func(health, crypto *float64) func() float64 {
			return func() float64 {
				if *health == 0 || *crypto == 0 {
					return 0
				}
				return *health + *crypto
			}
		}
		// at reports the server's CPU per call; keep, when given, receives
		// it. Each floor reports that CPU as a multiple of the floor, under
		// the floor's unit.
		type floorUnit struct {
			unit string
			of   func() float64
		}
		at := func(name string, srv *childServer, call func(context.Context) error, keep *float64, floors ...floorUnit) {
			// Warmed up first, so a fresh process's first moments are not
			// part of its figure.
			if err := callsFrom(floorWarmup, perCore*runtime.GOMAXPROCS(0), call); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("c=%d/%s", callers, name), func(b *testing.B) {
				before := srv.cpu(b)
				defer func() {
					cpu := float64((srv.cpu(b) - before).Microseconds()) / float64(b.N)
					b.ReportMetric(cpu, "server_cpu_us/op")
					if keep != nil {
						*keep = cpu
					}
					for _, f := range floors {
						if v := f.of(); v > 0 {
							b.ReportMetric(cpu/v, f.unit)
						}
					}
				}()
				parallelCallsAt(b, perCore, call)
			})
		}
		// x_floor: over the targets' floor, Latchkey's health check plus the
		// crypto; x_bare_floor: over the bare server's health check plus
		// the crypto.
		lkExchange := floorUnit{"x_floor", floor(&lkHealthUS, &signUS)}
		lkIntrospect := floorUnit{"x_floor", floor(&lkHealthUS, &verifyUS)}
		bareExchangeFloor := floorUnit{"x_bare_floor", floor(&bareHealthUS, &signUS)}
		bareIntrospectFloor := floorUnit{"x_bare_floor", floor(&bareHealthUS, &verifyUS)}
		health := func(srv *childServer, who string) func(context.Context) error {
			client := floorConns(b, srv, who, healthpb.NewHealthClient)
			return func(ctx context.Context) error {
				resp, err := client().Check(ctx, &healthpb.HealthCheckRequest{})
				if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					err = fmt.Errorf("status %v", resp.GetStatus())
				}
				return err
			}
		}
		var toks []string
		introspect := func(client func() latchkeyv1.TokenServiceClient) func(context.Context) error {
			var next atomic.Uint64
			return func(ctx context.Context) error {
				tok := toks[next.Add(1)%uint64(len(toks))]
				resp, err := client().IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: tok})
				if err == nil && !resp.GetActive() {
					err = errors.New("token reported inactive")
				}
				return err
			}
		}

		// Latchkey as in production (audit trail on), then with the trail off.
		for _, audit := range []string{"on", "off"} {
			t := newExchangeTarget(b, audit)
			// One call on each of its connections first, as the other
			// clients' connections are ready before they are measured.
			for range exchangeConns {
				if err := t.call(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			if audit == "on" {
				at("latchkey/health", t.srv, health(t.srv, "workload"), &lkHealthUS)
			}
			at("latchkey/exchange-audit="+audit, t.srv, t.call, nil, lkExchange, bareExchangeFloor)
			if audit == "on" {
				toks = mintTokens(b, floorDistinctTokens, t.exchange)
				at("latchkey/introspect-distinct", t.srv, introspect(floorConns(b, t.srv, "rs", latchkeyv1.NewTokenServiceClient)), nil, lkIntrospect, bareIntrospectFloor)
			}
			t.srv.stop()
		}

		bare := startBareServer(b, false)
		at("bare/health", bare, health(bare, "workload"), &bareHealthUS)
		bareTokenClient := floorConns(b, bare, "workload", latchkeyv1.NewTokenServiceClient)
		bareExchange := func(ctx context.Context) (string, error) {
			r, err := bareTokenClient().ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: bareRootKey})
			if err == nil && r.GetAccessToken() == "" {
				err = errors.New("no token")
			}
			return r.GetAccessToken(), err
		}
		at("bare/exchange", bare, func(ctx context.Context) error {
			_, err := bareExchange(ctx)
			return err
		}, nil, lkExchange, bareExchangeFloor)
		toks = mintTokens(b, floorDistinctTokens, bareExchange)
		at("bare/introspect-distinct", bare, introspect(floorConns(b, bare, "rs", latchkeyv1.NewTokenServiceClient)), nil, lkIntrospect, bareIntrospectFloor)
		bare.stop()

		durable := startBareServer(b, true)
		durableClient := floorConns(b, durable, "workload", latchkeyv1.NewTokenServiceClient)
		at("bare/exchange-durable", durable, func(ctx context.Context) error {
			r, err := durableClient().ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: bareRootKey})
			if err == nil && r.GetAccessToken() == "" {
				err = errors.New("no token")
			}
			return err
		}, nil, lkExchange, bareExchangeFloor)
		durable.stop()
	}
}
