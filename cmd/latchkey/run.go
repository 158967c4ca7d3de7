package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/internal/gctune"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/pki"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/server"
	"github.com/latchkeyhq/latchkey/signing"
	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
	"github.com/latchkeyhq/latchkey/store/cache"
)

// shutdownGrace bounds how long in-flight calls may run after SIGINT/SIGTERM.
const shutdownGrace = 10 * time.Second

// instance is a running server and what it owns.
type instance struct {
	srv   *server.Server
	store store.Store
	lis   net.Listener
	log   *slog.Logger
	// stopLoops ends the janitor, the usage flusher and the SIGHUP handler;
	// loops is done when they have returned (the flusher after a last flush).
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
	// stopTuning hands the collector's setting back (internal/gctune).
	stopTuning func()
	// http serves the JWKS, discovery, health and metrics endpoints.
	http    *http.Server
	httpLis net.Listener
	// trail is the audit trail (nil when disabled); auditFile its
	// JSON-lines copy when that is a file.
	trail     *audit.Trail
	auditFile *auditFile
	// pprof serves the profiling endpoints when the config enables them.
	pprof *http.Server
}

// start loads every file the config names, opens the store and starts
// listening. Each failure names the file at fault.
func start(cfg *serveConfig, logOut io.Writer) (*instance, error) {
	log := newLogger(logOut, cfg.Log.Level)
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s / key %s: %w", cfg.TLS.CertFile, cfg.TLS.KeyFile, err)
	}
	caPEM, err := os.ReadFile(cfg.TLS.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA file: %w", err)
	}
	pool, err := pki.LoadPool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("client CA file %s: %w", cfg.TLS.ClientCAFile, err)
	}
	tlsCfg, err := server.TLSConfig(cert, pool)
	if err != nil {
		return nil, err
	}
	pepperBytes, err := os.ReadFile(cfg.PepperFile)
	if err != nil {
		return nil, fmt.Errorf("pepper file: %w", err)
	}
	pepper, err := rootkey.NewPepper(pepperBytes)
	if err != nil {
		return nil, fmt.Errorf("pepper file %s: %w", cfg.PepperFile, err)
	}
	storeKey, err := os.ReadFile(cfg.Store.EncryptionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("store encryption key file: %w", err)
	}
	pol, err := policy.Load(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	st, err := badgerstore.Open(badgerstore.Options{Dir: cfg.Store.Dir, EncryptionKey: storeKey, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("store %s (key file %s): %w", cfg.Store.Dir, cfg.Store.EncryptionKeyFile, err)
	}
	m := metrics.New()
	trail, auditFile, err := openAudit(cfg, st, pepper, m, log, os.Stdout)
	if err != nil {
		st.Close()
		return nil, err
	}
	inst, err := startWith(cfg, tlsCfg, st, pepper, pol, log, trail, auditFile, m)
	if err != nil {
		if trail != nil {
			trail.Close()
		}
		if auditFile != nil {
			auditFile.Close()
		}
		st.Close()
		return nil, err
	}
	inst.auditFile = auditFile
	record(trail, log, audit.Event{Kind: audit.KindServiceStart, Actor: audit.ActorSystem,
		Detail: map[string]string{"listen": inst.lis.Addr().String()}})
	return inst, nil
}

func startWith(cfg *serveConfig, tlsCfg *tls.Config, disk store.Store, pepper rootkey.Pepper, pol *policy.Policy, log *slog.Logger,
	trail *audit.Trail, auditFile *auditFile, m *metrics.Metrics) (*instance, error) {
	// Every writer goes through one cache, so key records are served from
	// memory and never stale.
	st := cache.New(disk, 0)
	loadStart := time.Now()
	cached, err := st.Preload(context.Background())
	if err != nil {
		return nil, fmt.Errorf("load key records: %w", err)
	}
	log.Info("key records loaded", "records", cached, "took", time.Since(loadStart).String())
	loadStart = time.Now()
	entries, lastRev, err := st.LoadRevocations(context.Background())
	if err != nil {
		return nil, fmt.Errorf("load revocations: %w", err)
	}
	view := revocation.NewView(entries, lastRev)
	log.Info("revocation list loaded", "entries", len(entries), "revision", lastRev, "took", time.Since(loadStart).String())
	var srv *server.Server
	currentPolicy := func() *policy.Policy {
		if srv == nil {
			return pol
		}
		return srv.Policy()
	}
	keys, err := signing.Open(context.Background(), signing.Config{Store: st, Policy: currentPolicy, Logger: log,
		OnChange: func(kid, alg, state string) {
			record(trail, log, audit.Event{Kind: audit.KindSigningRotate, Actor: audit.ActorSystem,
				Detail: map[string]string{"kid": kid, "alg": alg, "state": state}})
		}})
	if err != nil {
		return nil, err
	}
	webhook, err := openWebhook(cfg)
	if err != nil {
		return nil, err
	}
	usage := lifecycle.NewUsage(st)
	srvCfg := server.Config{
		TLS: tlsCfg, Store: st, Pepper: pepper, Keys: keys, Policy: pol, Usage: usage, Logger: log,
		Revocations: view, Revoker: revocation.NewRevoker(st, view), Audit: trail, Metrics: m,
	}
	if webhook != nil {
		srvCfg.Alerts = webhook
	}
	srv, err = server.New(srvCfg)
	if err != nil {
		return nil, err
	}
	m.SetKeyStates(keyStateCounter(st))
	httpSrv, httpLis, err := startHTTP(cfg, tlsCfg.Certificates[0], keys, pol, st, log, m.Handler())
	if err != nil {
		return nil, err
	}
	janitor, err := lifecycle.NewJanitor(lifecycle.JanitorConfig{
		Keys: st, Policy: srv.Policy, Interval: cfg.Lifecycle.JanitorInterval, Logger: log,
		OnDisable: func(ctx context.Context, keyID string, at time.Time, reason string) error {
			return srv.RevokeIssued(ctx, lifecycle.Actor, keyID, at, "key disabled: "+reason)
		},
		OnChange: func(ctx context.Context, keyID, action, reason string) {
			record(trail, log, janitorEvent(keyID, action, reason))
		},
	})
	if err != nil {
		return nil, err
	}
	// Loading the key records and the revocation list, and warming the
	// anomaly detector, leave garbage several times what they keep (a
	// million revocations: about 600 MB for a 135 MB view). Collect it and
	// hand it back now, before serving, rather than let the heap and RSS
	// carry it until the runtime gets round to it.
	debug.FreeOSMemory()
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		httpLis.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	inst := &instance{srv: srv, store: disk, lis: lis, log: log, stopLoops: cancel, http: httpSrv, httpLis: httpLis, trail: trail}
	if cfg.Debug.PprofListen != "" {
		if inst.pprof, _, err = startPprof(cfg.Debug.PprofListen, log); err != nil {
			cancel()
			lis.Close()
			httpSrv.Close()
			return nil, err
		}
	}
	inst.goLoop(func() { keys.Run(ctx) })
	if trail != nil {
		inst.goLoop(func() { pruneAudit(ctx, trail, cfg.Audit.retention, log) })
	}
	if webhook != nil {
		inst.goLoop(func() { webhook.Run(ctx) })
	}
	inst.goLoop(func() { pruneRevocations(ctx, view, time.Minute) })
	go func() {
		if err := httpSrv.ServeTLS(httpLis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("https server stopped", "error", err)
		}
	}()
	inst.goLoop(func() { usage.Run(ctx, cfg.Lifecycle.UsageFlushInterval) })
	inst.goLoop(func() { janitor.Run(ctx) })
	inst.goLoop(func() { reloadOnHangup(ctx, srv, cfg.PolicyFile, log, trail, auditFile) })
	go func() {
		if err := srv.Serve(lis); err != nil {
			log.Error("grpc server stopped", "error", err)
		}
	}()
	var tuned bool
	if inst.stopTuning, tuned = gctune.Start(cfg.gcPercent()); tuned {
		log.Info("garbage collector headroom set", "percent_of_live_heap", cfg.gcPercent(), "at_least_mib", gctune.MinHeadroom>>20)
	} else if cfg.gcPercent() != 0 {
		log.Info("garbage collector left to GOGC from the environment; memory.gc_percent not applied")
	}
	log.Info("latchkey listening", "addr", lis.Addr().String(), "https_addr", httpLis.Addr().String())
	return inst, nil
}

// reloadable refuses changes the token issuer reads only at start.
func reloadable(cur, next *policy.Policy) error {
	if cur.Issuer != next.Issuer || cur.Tokens.MaxTTL != next.Tokens.MaxTTL || cur.Tokens.Leeway != next.Tokens.Leeway {
		return errors.New("issuer, tokens.max_ttl and tokens.leeway take effect only at restart")
	}
	return nil
}

// pruneRevocations drops entries no token can need any more; the store's
// TTL forgets them on disk.
func pruneRevocations(ctx context.Context, view *revocation.View, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			view.Prune(now)
		}
	}
}

func (in *instance) goLoop(fn func()) {
	in.loops.Add(1)
	go func() {
		defer in.loops.Done()
		fn()
	}()
}

// reloadOnHangup reopens the audit file (after a log rotator moved it) and
// reloads the policy file on SIGHUP. A policy file that fails validation is
// refused and the policy in force stays; connections and calls in flight
// are never dropped.
func reloadOnHangup(ctx context.Context, srv *server.Server, path string, log *slog.Logger, trail *audit.Trail, file *auditFile) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if file != nil {
				if err := file.Reopen(); err != nil {
					log.Error("audit file not reopened; events go on to the file open before", "file", file.path, "error", err)
				} else {
					log.Info("audit file reopened", "file", file.path)
				}
			}
			p, err := policy.Load(path)
			if err == nil {
				err = reloadable(srv.Policy(), p)
			}
			if err != nil {
				log.Error("policy reload refused; the previous policy stays in force", "file", path, "error", err)
				record(trail, log, audit.Event{Kind: audit.KindPolicyReload, Actor: audit.ActorSystem,
					Result: audit.ResultDenied, Reason: "invalid policy; previous policy stays", Detail: map[string]string{"file": path}})
				continue
			}
			srv.SetPolicy(p)
			log.Info("policy reloaded", "file", path)
			record(trail, log, audit.Event{Kind: audit.KindPolicyReload, Actor: audit.ActorSystem,
				Detail: map[string]string{"file": path}})
		}
	}
}

// wait blocks until ctx ends (main cancels it on SIGINT or SIGTERM), then
// stops gracefully and closes the store, so every acknowledged write is on disk.
func (in *instance) wait(ctx context.Context) error {
	<-ctx.Done()
	in.log.Info("shutting down")
	return in.close()
}

func (in *instance) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	in.srv.Stop(ctx)
	in.http.Shutdown(ctx)
	if in.pprof != nil {
		in.pprof.Close()
	}
	// After the last call has finished: a final usage flush, the last
	// audit events, then the store.
	in.stopLoops()
	in.loops.Wait()
	if in.stopTuning != nil {
		in.stopTuning()
	}
	if in.trail != nil {
		record(in.trail, in.log, audit.Event{Kind: audit.KindServiceStop, Actor: audit.ActorSystem})
		in.trail.Close()
	}
	if in.auditFile != nil {
		in.auditFile.Close()
	}
	if err := in.store.Close(); err != nil && !errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lvl slog.Level
	switch level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// startHTTP opens the HTTPS side: JWKS, discovery and health, with the
// server certificate and no client certificate.
func startHTTP(cfg *serveConfig, cert tls.Certificate, keys *signing.Manager, pol *policy.Policy, st store.KeyStore, log *slog.Logger, metricsHandler http.Handler) (*http.Server, net.Listener, error) {
	lis, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s (https): %w", cfg.HTTP.Listen, err)
	}
	base := cfg.HTTP.BaseURL
	if base == "" {
		base = "https://" + lis.Addr().String()
	}
	metricsToken, err := readMetricsToken(cfg)
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	if !cfg.metricsOn() {
		metricsHandler = nil
	} else if metricsToken == nil && !loopback(lis.Addr()) {
		log.Warn("/metrics is open to every client that reaches the HTTPS address; set http.metrics_token_file to require a bearer token",
			"address", lis.Addr().String())
	}
	h, err := server.NewHTTPHandler(server.HTTPConfig{
		Issuer:    keys.Issuer,
		IssuerURL: pol.Issuer,
		BaseURL:   base,
		MaxAge:    pol.Signing.JWKSMaxAge,
		Ready: func(ctx context.Context) error {
			_, err := st.ListKeys(ctx, store.KeyQuery{PageSize: 1})
			return err
		},
		Logger:       log,
		Metrics:      metricsHandler,
		MetricsToken: metricsToken,
	})
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	return server.NewHTTPServer(h, cert), lis, nil
}

// readMetricsToken reads the bearer token /metrics requires, or returns
// nil when the config names none. A line ending (or other trailing white
// space) after the token is not part of it.
func readMetricsToken(cfg *serveConfig) ([]byte, error) {
	path := cfg.HTTP.MetricsTokenFile
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metrics token file: %w", err)
	}
	tok := bytes.TrimRight(b, " \t\r\n")
	if err := server.CheckMetricsToken(tok); err != nil {
		return nil, fmt.Errorf("metrics token file %s: %w", path, err)
	}
	return tok, nil
}

// loopback reports whether addr is a loopback IP address.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// janitorEvent describes a change the janitor stored.
func janitorEvent(keyID, action, reason string) audit.Event {
	kind := audit.KindKeyUpdate
	switch action {
	case lifecycle.ActionExpired:
		kind = audit.KindKeyExpire
	case lifecycle.ActionDisabled:
		kind = audit.KindKeyDisable
	case lifecycle.ActionOldSecretRetired:
		kind = audit.KindKeyRetire
	}
	return audit.Event{Kind: kind, Actor: audit.ActorJanitor, KeyID: keyID, Reason: reason,
		Result: audit.ResultOK, Detail: map[string]string{"action": action}}
}

// keyStateCounter counts root keys by state for the metrics gauge, at
// most once a minute: a scrape never walks the inventory.
func keyStateCounter(st store.KeyStore) func() map[string]int {
	var (
		mu     sync.Mutex
		last   map[string]int
		lastAt time.Time
	)
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		if last != nil && time.Since(lastAt) < time.Minute {
			return last
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		counts := map[string]int{}
		q := store.KeyQuery{PageSize: store.MaxPageSize}
		for {
			page, err := st.ListKeys(ctx, q)
			if err != nil {
				return last
			}
			for _, k := range page.Keys {
				counts[k.State.String()]++
			}
			if page.NextPageToken == "" {
				break
			}
			q.PageToken = page.NextPageToken
		}
		last, lastAt = counts, time.Now()
		return last
	}
}
