package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/audit/alert"
	"github.com/latchkeyhq/latchkey/metrics"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

// auditPruneEvery is how often events past their retention are removed.
const auditPruneEvery = time.Hour

// auditChainLabel derives the audit chain key from the pepper: the chain
// verifies only on a server that holds the pepper.
const auditChainLabel = "audit-chain-v1"

// openAudit opens the audit trail in the store, with its JSON-lines copy
// when the config names one. The returned file is that copy when it is a
// file (nil otherwise), to be reopened on SIGHUP and closed last.
func openAudit(cfg *serveConfig, disk store.Store, pepper rootkey.Pepper, m *metrics.Metrics, log *slog.Logger, stdout io.Writer) (*audit.Trail, *auditFile, error) {
	if !cfg.auditOn() {
		log.Warn("audit trail disabled by audit.enabled: false; exchanges and changes are not recorded")
		return nil, nil, nil
	}
	auditLog, ok := disk.(store.AuditLog)
	if !ok {
		return nil, nil, errors.New("the store cannot hold an audit trail")
	}
	var (
		sink io.Writer
		file *auditFile
	)
	switch cfg.Audit.File {
	case "":
	case "-":
		sink = stdout
	default:
		var err error
		if file, err = openAuditFile(cfg.Audit.File); err != nil {
			return nil, nil, err
		}
		sink = file
	}
	trail, err := audit.Open(context.Background(), audit.Config{
		Log: auditLog, Key: pepper.Derive(auditChainLabel), Sink: sink, WALDir: auditLogDir(cfg),
		OnSinkError: func(err error) { log.Error("audit file write failed; the store keeps the event", "error", err) },
		OnIndexError: func(err error) {
			log.Error("audit store copy failed; its log keeps the events and it is retried", "error", err)
		},
		OnBlockingSync: func(reason error) {
			log.Info("audit log syncs with blocking fdatasync: native asynchronous I/O unavailable", "reason", reason)
		},
		Observe: m.AuditWrite,
	})
	if err != nil {
		if file != nil {
			file.Close()
		}
		return nil, nil, fmt.Errorf("audit trail in %s: %w", cfg.Store.Dir, err)
	}
	return trail, file, nil
}

// auditFile is the JSON-lines copy of the trail in a file that can be
// reopened at its path, so a log rotator can move it away and signal the
// server (SIGHUP) to start a new one. The trail writes through it from
// one goroutine; Reopen swaps the file between two writes.
type auditFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openAuditFile(path string) (*auditFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit file: %w", err)
	}
	return &auditFile{path: path, f: f}, nil
}

func (a *auditFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Write(p)
}

// Reopen opens the file at its path again, creating it if it was moved
// away, and closes the old one. On failure the old file stays in use.
func (a *auditFile) Reopen() error {
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("reopen audit file: %w", err)
	}
	a.mu.Lock()
	old := a.f
	a.f = f
	a.mu.Unlock()
	return old.Close()
}

func (a *auditFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}

// auditLogDir is where the trail's write-ahead log lives: beside the
// store's own files, so one volume holds all the state.
func auditLogDir(cfg *serveConfig) string { return filepath.Join(cfg.Store.Dir, "audit-log") }

// record writes a system event; a failure is logged, since the action it
// describes has already happened.
func record(trail *audit.Trail, log *slog.Logger, e audit.Event) {
	if trail == nil {
		return
	}
	if e.Result == "" {
		e.Result = audit.ResultOK
	}
	if _, err := trail.Record(context.Background(), e); err != nil {
		log.Error("audit event not recorded", "kind", e.Kind, "key_id", e.KeyID, "error", err)
	}
}

// pruneAudit removes events older than the retention once an hour.
func pruneAudit(ctx context.Context, trail *audit.Trail, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(auditPruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := trail.Prune(ctx, now.Add(-retention))
			if err != nil {
				log.Error("audit retention failed", "error", err)
			} else if n > 0 {
				log.Info("audit events past retention removed", "events", n)
			}
		}
	}
}

// openWebhook builds the alert webhook the config names, or nil.
func openWebhook(cfg *serveConfig) (*alert.Webhook, error) {
	if cfg.Alerts.WebhookURL == "" {
		return nil, nil
	}
	secret, err := os.ReadFile(cfg.Alerts.WebhookSecretFile)
	if err != nil {
		return nil, fmt.Errorf("alerts webhook secret file: %w", err)
	}
	w, err := alert.NewWebhook(alert.WebhookConfig{
		URL: cfg.Alerts.WebhookURL, Secret: secret,
	})
	if err != nil {
		return nil, fmt.Errorf("alerts webhook (%s): %w", cfg.Alerts.WebhookSecretFile, err)
	}
	return w, nil
}
