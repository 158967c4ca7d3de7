package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimalConfig = `listen: 127.0.0.1:0
tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem}
store: {dir: data, encryption_key_file: store.key}
pepper_file: pepper
policy_file: policy.yaml
`

// loadMinimalWith loads minimalConfig with extra appended from a file in
// dir. When wantErr is set it checks that loading fails naming it and
// returns nil.
func loadMinimalWith(t *testing.T, dir, extra, wantErr string) *serveConfig {
	t.Helper()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(minimalConfig+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadServeConfig(p)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one naming %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigGCPercent(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        int
		err         string
	}{
		{"default", "", 50, ""},
		{"chosen", "memory: {gc_percent: 80}\n", 80, ""},
		{"off", "memory: {gc_percent: 0}\n", 0, ""},
		{"lowest", "memory: {gc_percent: 10}\n", 10, ""},
		{"highest", "memory: {gc_percent: 1000}\n", 1000, ""},
		{"too low", "memory: {gc_percent: 5}\n", 0, "memory.gc_percent 5: want 0 (Go's default) or 10 to 1000"},
		{"negative", "memory: {gc_percent: -1}\n", 0, "memory.gc_percent -1"},
		{"too high", "memory: {gc_percent: 1001}\n", 0, "memory.gc_percent 1001"},
		{"not a number", "memory: {gc_percent: lots}\n", 0, "lots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadMinimalWith(t, t.TempDir(), tc.extra, tc.err)
			if c == nil {
				return
			}
			if got := c.gcPercent(); got != tc.want {
				t.Fatalf("gcPercent() = %d, want %d", got, tc.want)
			}
		})
	}
}

// The example in `serve --help` is a valid config, and sets the default.
func TestExampleConfigLoads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(exampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadServeConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.gcPercent() != 50 || c.Audit.retention != defaultAuditRetention {
		t.Fatalf("gcPercent %d, retention %v", c.gcPercent(), c.Audit.retention)
	}
}

func TestConfigLifecycleIntervals(t *testing.T) {
	for _, tc := range []struct {
		name, extra      string
		janitor, flushes time.Duration
		err              string
	}{
		{"defaults", "", time.Minute, time.Minute, ""},
		{"set", "lifecycle: {janitor_interval: 5m, usage_flush_interval: 30s}\n", 5 * time.Minute, 30 * time.Second, ""},
		{"one second", "lifecycle: {janitor_interval: 1s, usage_flush_interval: 1s}\n", time.Second, time.Second, ""},
		{"janitor too often", "lifecycle: {janitor_interval: 10ms}\n", 0, 0, "must be at least 1s (got 10ms and 1m0s)"},
		{"flush too often", "lifecycle: {usage_flush_interval: 1ns}\n", 0, 0, "must be at least 1s (got 1m0s and 1ns)"},
		{"negative", "lifecycle: {janitor_interval: -1m}\n", 0, 0, "must be at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadMinimalWith(t, t.TempDir(), tc.extra, tc.err)
			if c == nil {
				return
			}
			if c.Lifecycle.JanitorInterval != tc.janitor || c.Lifecycle.UsageFlushInterval != tc.flushes {
				t.Fatalf("intervals %v and %v, want %v and %v",
					c.Lifecycle.JanitorInterval, c.Lifecycle.UsageFlushInterval, tc.janitor, tc.flushes)
			}
		})
	}
}

func TestConfigMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		on          bool
		tokenFile   string // relative to the config's folder
		err         string
	}{
		{"default", "", true, "", ""},
		{"off", "http: {metrics: false}\n", false, "", ""},
		{"on with a token", "http: {metrics: true, metrics_token_file: metrics.token}\n", true, "metrics.token", ""},
		{"token without saying on", "http: {metrics_token_file: /abs/metrics.token}\n", true, "/abs/metrics.token", ""},
		{"off with a token", "http: {metrics: false, metrics_token_file: metrics.token}\n", false, "",
			"http.metrics_token_file guards /metrics, which http.metrics: false turns off"},
		{"not a bool", "http: {metrics: sometimes}\n", false, "", "sometimes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := loadMinimalWith(t, dir, tc.extra, tc.err)
			if c == nil {
				return
			}
			want := tc.tokenFile
			if want != "" && !filepath.IsAbs(want) {
				want = filepath.Join(dir, want)
			}
			if c.metricsOn() != tc.on || c.HTTP.MetricsTokenFile != want {
				t.Fatalf("metricsOn() = %v, token file %q; want %v, %q", c.metricsOn(), c.HTTP.MetricsTokenFile, tc.on, want)
			}
		})
	}
}

func TestReadMetricsToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const tok = "0123456789abcdef-token"
	for _, tc := range []struct {
		name, path, want, err string
	}{
		{"none", "", "", ""},
		{"bare", write("bare", tok), tok, ""},
		{"line ending", write("lf", tok+"\n"), tok, ""},
		{"CRLF and spaces", write("crlf", tok+" \r\n"), tok, ""},
		{"missing", filepath.Join(dir, "nope"), "", "nope"},
		{"short", write("short", "tiny\n"), "", "at least 16"},
		{"space inside", write("space", "0123456789 abcdef\n"), "", "visible ASCII"},
		{"two lines", write("lines", tok+"\n"+tok+"\n"), "", "visible ASCII"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c serveConfig
			c.HTTP.MetricsTokenFile = tc.path
			got, err := readMetricsToken(&c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.path) {
					t.Fatalf("err = %v, want one naming %q and the file", err, tc.err)
				}
				if strings.Contains(err.Error(), tok) {
					t.Fatalf("error %q shows the token", err)
				}
				return
			}
			if err != nil || string(got) != tc.want || (tc.want == "") != (got == nil) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The warning about open metrics is for addresses other hosts can reach.
func TestLoopback(t *testing.T) {
	for addr, want := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}:   true,
		&net.TCPAddr{IP: net.IPv4(127, 9, 9, 9)}:   true,
		&net.TCPAddr{IP: net.IPv6loopback}:         true,
		&net.TCPAddr{IP: net.IPv4zero}:             false,
		&net.TCPAddr{IP: net.IPv6unspecified}:      false,
		&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3)}:    false,
		&net.UnixAddr{Name: "/tmp/x", Net: "unix"}: false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%v) = %v, want %v", addr, got, want)
		}
	}
}
