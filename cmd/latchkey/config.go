package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/latchkeyhq/latchkey/internal/gctune"
)

// serveConfig is the file named by `latchkey serve --config`. Every secret is
// a file path, never a value, so the config itself can be shared and reviewed.
type serveConfig struct {
	Listen string `yaml:"listen"`
	TLS    struct {
		CertFile     string `yaml:"cert_file"`
		KeyFile      string `yaml:"key_file"`
		ClientCAFile string `yaml:"client_ca_file"`
	} `yaml:"tls"`
	Store struct {
		Dir               string `yaml:"dir"`
		EncryptionKeyFile string `yaml:"encryption_key_file"`
	} `yaml:"store"`
	HTTP struct {
		// Listen is the HTTPS address for the JWKS, discovery and health.
		Listen string `yaml:"listen"`
		// BaseURL is how resource servers reach it (for jwks_uri); default
		// https://<listen address>.
		BaseURL string `yaml:"base_url"`
		// Metrics turns /metrics on (the default) or off.
		Metrics *bool `yaml:"metrics"`
		// MetricsTokenFile, when set, holds the bearer token /metrics
		// requires; otherwise any client reaching the address reads them.
		MetricsTokenFile string `yaml:"metrics_token_file"`
	} `yaml:"http"`
	PepperFile string `yaml:"pepper_file"`
	PolicyFile string `yaml:"policy_file"`
	Log        struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Lifecycle struct {
		// JanitorInterval is how often expiry, unused and attestation rules run.
		JanitorInterval time.Duration `yaml:"janitor_interval"`
		// UsageFlushInterval is how often last-used times are written.
		UsageFlushInterval time.Duration `yaml:"usage_flush_interval"`
	} `yaml:"lifecycle"`
	Audit struct {
		// Enabled defaults to true; off is only for measuring its cost.
		Enabled *bool `yaml:"enabled"`
		// File receives every event as a JSON line for a SIEM: a path,
		// or "-" for standard output. Empty: the store only.
		File string `yaml:"file"`
		// Retention is how long events are kept, e.g. "400d".
		Retention string `yaml:"retention"`
		retention time.Duration
	} `yaml:"audit"`
	Alerts struct {
		// WebhookURL receives each alert as a signed JSON POST.
		WebhookURL string `yaml:"webhook_url"`
		// WebhookSecretFile holds the HMAC key (>= 16 bytes) for the
		// Latchkey-Signature header.
		WebhookSecretFile string `yaml:"webhook_secret_file"`
	} `yaml:"alerts"`
	Memory struct {
		// GCPercent is the garbage collector's headroom, the heap it lets
		// grow between collections, as a percentage of the live heap and
		// never less than 32 MiB (internal/gctune). Nil means 50; 0 leaves
		// Go's default (100), as does GOGC in the environment.
		GCPercent *int `yaml:"gc_percent"`
	} `yaml:"memory"`
	Debug struct {
		// PprofListen, when set, serves Go's profiling endpoints there;
		// loopback only.
		PprofListen string `yaml:"pprof_listen"`
	} `yaml:"debug"`
}

// gcPercent is the collector headroom to tune to; 0 means no tuning.
func (c *serveConfig) gcPercent() int {
	if c.Memory.GCPercent == nil {
		return gctune.DefaultPercent
	}
	return *c.Memory.GCPercent
}

// metricsOn reports whether /metrics is served.
func (c *serveConfig) metricsOn() bool { return c.HTTP.Metrics == nil || *c.HTTP.Metrics }

// auditOn reports whether the audit trail is enabled.
func (c *serveConfig) auditOn() bool { return c.Audit.Enabled == nil || *c.Audit.Enabled }

// Lifecycle defaults.
const (
	defaultJanitorInterval = time.Minute
	// Each flush rewrites the record of every key used since the last
	// one: with 100,000 busy keys that is seconds of CPU, so once a minute.
	defaultUsageFlushInterval = time.Minute
	// minLifecycleInterval bounds how often the janitor sweeps every key
	// and usage is written: each reads or writes the whole key set.
	minLifecycleInterval  = time.Second
	defaultAuditRetention = 400 * 24 * time.Hour
)

const exampleConfig = `listen: 0.0.0.0:7443
tls:
  cert_file: /etc/latchkey/server.pem       # server certificate chain (PEM)
  key_file: /etc/latchkey/server-key.pem    # its private key (PEM, mode 0600)
  client_ca_file: /etc/latchkey/clients-ca.pem  # CAs that issue client certificates
http:
  listen: 0.0.0.0:7444                      # HTTPS: /.well-known/jwks.json, openid-configuration, healthz, readyz
  base_url: https://latchkey.example.com:7444  # how resource servers reach it (jwks_uri)
  metrics: true                             # Prometheus /metrics on this side; false turns it off
  metrics_token_file: /etc/latchkey/metrics.token  # >= 16 visible characters; /metrics then needs "Authorization: Bearer <token>" (omit: open to any client)
store:
  dir: /var/lib/latchkey                    # Badger data directory (one process only)
  encryption_key_file: /etc/latchkey/store.key  # 32 bytes, AES-256 encryption at rest
pepper_file: /etc/latchkey/pepper           # >= 32 bytes, HMAC key for root-key hashes
policy_file: /etc/latchkey/policy.yaml
log:
  level: info                               # debug, info, warn, error
lifecycle:
  janitor_interval: 1m                      # expiry, unused-disable, attestation, rotation checks (>= 1s)
  usage_flush_interval: 1m                  # how often last-used times reach the store (>= 1s)
audit:
  enabled: true                             # every exchange and change, durably, before the response
  file: /var/log/latchkey/audit.jsonl       # JSON lines for a SIEM; "-" for stdout; omit for the store only; reopened on SIGHUP
  retention: 400d                           # older events are pruned; the chain still verifies
alerts:
  webhook_url: https://alerts.example.com/latchkey  # signed JSON POST per alert (optional)
  webhook_secret_file: /etc/latchkey/webhook.key    # >= 16 bytes, HMAC key of Latchkey-Signature
memory:
  gc_percent: 50                            # heap growth between collections, % of the live heap (at least 32 MiB); 0: Go's default; GOGC overrides
# debug:
#   pprof_listen: 127.0.0.1:6061            # Go profiling endpoints, plain HTTP, loopback only; off by default
`

// loadServeConfig reads and validates a config file. Relative paths inside it
// are taken relative to the file's folder.
func loadServeConfig(path string) (*serveConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var c serveConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	base := filepath.Dir(path)
	if f := c.Audit.File; f != "" && f != "-" && !filepath.IsAbs(f) {
		c.Audit.File = filepath.Join(base, f)
	}
	for _, p := range []*string{&c.TLS.CertFile, &c.TLS.KeyFile, &c.TLS.ClientCAFile,
		&c.Store.Dir, &c.Store.EncryptionKeyFile, &c.PepperFile, &c.PolicyFile, &c.Alerts.WebhookSecretFile, &c.HTTP.MetricsTokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

func (c *serveConfig) validate() error {
	required := []struct{ name, val string }{
		{"listen", c.Listen},
		{"tls.cert_file", c.TLS.CertFile},
		{"tls.key_file", c.TLS.KeyFile},
		{"tls.client_ca_file", c.TLS.ClientCAFile},
		{"store.dir", c.Store.Dir},
		{"store.encryption_key_file", c.Store.EncryptionKeyFile},
		{"pepper_file", c.PepperFile},
		{"policy_file", c.PolicyFile},
	}
	var errs []error
	for _, r := range required {
		if r.val == "" {
			errs = append(errs, fmt.Errorf("%s is required", r.name))
		}
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = defaultHTTPAddr
	}
	if c.Debug.PprofListen != "" {
		if err := checkPprofListen(c.Debug.PprofListen); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Lifecycle.JanitorInterval == 0 {
		c.Lifecycle.JanitorInterval = defaultJanitorInterval
	}
	if c.Lifecycle.UsageFlushInterval == 0 {
		c.Lifecycle.UsageFlushInterval = defaultUsageFlushInterval
	}
	if c.Lifecycle.JanitorInterval < minLifecycleInterval || c.Lifecycle.UsageFlushInterval < minLifecycleInterval {
		errs = append(errs, fmt.Errorf("lifecycle.janitor_interval and lifecycle.usage_flush_interval must be at least %v (got %v and %v)",
			minLifecycleInterval, c.Lifecycle.JanitorInterval, c.Lifecycle.UsageFlushInterval))
	}
	c.Audit.retention = defaultAuditRetention
	if c.Audit.Retention != "" {
		d, err := parseDays(c.Audit.Retention)
		if err != nil || d < 24*time.Hour {
			errs = append(errs, fmt.Errorf("audit.retention %q: want a duration of at least 1d, e.g. 400d", c.Audit.Retention))
		}
		c.Audit.retention = d
	}
	if !c.metricsOn() && c.HTTP.MetricsTokenFile != "" {
		errs = append(errs, errors.New("http.metrics_token_file guards /metrics, which http.metrics: false turns off"))
	}
	if (c.Alerts.WebhookURL == "") != (c.Alerts.WebhookSecretFile == "") {
		errs = append(errs, errors.New("alerts.webhook_url and alerts.webhook_secret_file go together"))
	}
	if p := c.Memory.GCPercent; p != nil && *p != 0 && (*p < gctune.MinPercent || *p > gctune.MaxPercent) {
		errs = append(errs, fmt.Errorf("memory.gc_percent %d: want 0 (Go's default) or %d to %d", *p, gctune.MinPercent, gctune.MaxPercent))
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	return errors.Join(errs...)
}
