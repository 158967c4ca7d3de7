package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
// when the config names one. The returned closer closes that file.
func openAudit(cfg *serveConfig, disk store.Store, pepper rootkey.Pepper, m *metrics.Metrics, log *slog.Logger, stdout io.Writer) (*audit.Trail, io.Closer, error) {
	if !cfg.auditOn() {
		log.Warn("audit trail disabled by audit.enabled: false; exchanges and changes are not recorded")
		return nil, io.NopCloser(nil), nil
	}
	auditLog, ok := disk.(store.AuditLog)
	if !ok {
		return nil, nil, errors.New("the store cannot hold an audit trail")
	}
	var (
		sink   io.Writer
		closer io.Closer = io.NopCloser(nil)
	)
	switch cfg.Audit.File {
	case "":
	case "-":
		sink = stdout
	default:
		f, err := os.OpenFile(cfg.Audit.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("audit file: %w", err)
		}
		sink, closer = f, f
	}
	trail, err := audit.Open(context.Background(), audit.Config{
		Log: auditLog, Key: pepper.Derive(auditChainLabel), Sink: sink, WALDir: auditLogDir(cfg),
		OnSinkError: func(err error) { log.Error("audit file write failed; the store keeps the event", "error", err) },
		OnIndexError: func(err error) {
			log.Error("audit store copy failed; its log keeps the events and it is retried", "error", err)
		},
		Observe: m.AuditWrite,
	})
	if err != nil {
		closer.Close()
		return nil, nil, fmt.Errorf("audit trail in %s: %w", cfg.Store.Dir, err)
	}
	return trail, closer, nil
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
