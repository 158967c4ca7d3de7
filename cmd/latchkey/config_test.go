package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimalConfig = `listen: 127.0.0.1:0
tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem}
store: {dir: data, encryption_key_file: store.key}
pepper_file: pepper
policy_file: policy.yaml
`

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
			p := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(p, []byte(minimalConfig+tc.extra), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := loadServeConfig(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
