package client

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestNewValidatesConfig(t *testing.T) {
	conn := idleConn(t)
	if _, err := New(nil, Config{RootKey: testRootKey}); err == nil || !strings.Contains(err.Error(), "conn is required") {
		t.Fatalf("New(nil conn): err = %v", err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no root key", Config{}, "RootKey is required"},
		{"negative ttl", Config{RootKey: testRootKey, TTL: -time.Second}, "TTL must not be negative"},
		{"empty scope", Config{RootKey: testRootKey, Scopes: []string{"a", ""}}, "Scopes must not contain"},
		{"empty audience", Config{RootKey: testRootKey, Audiences: []string{""}}, "Audiences must not contain"},
		{"minimal", Config{RootKey: testRootKey}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(conn, tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testRootKey) {
				t.Fatal("error contains the root key")
			}
		})
	}
}

// idleConn is a connection that is never used, so never dials.
func idleConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestValidateDetachesSlices(t *testing.T) {
	scopes := []string{"orders.read"}
	c, err := Config{RootKey: testRootKey, Scopes: scopes}.validate()
	if err != nil {
		t.Fatal(err)
	}
	scopes[0] = "billing.read"
	if c.Scopes[0] != "orders.read" {
		t.Fatal("the client shares the caller's Scopes slice")
	}
	if c.Now == nil || c.Logger == nil {
		t.Fatal("defaults not filled")
	}
}

func TestDialValidatesTransport(t *testing.T) {
	cert := tls.Certificate{Certificate: [][]byte{{1}}}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no addr", Config{RootKey: testRootKey, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "Addr is required"},
		{"no tls", Config{RootKey: testRootKey, Addr: "127.0.0.1:1"}, "TLS is required"},
		{"no client certificate", Config{RootKey: testRootKey, Addr: "127.0.0.1:1", TLS: &tls.Config{}}, "no client certificate"},
		{"max below 1.3", Config{RootKey: testRootKey, Addr: "127.0.0.1:1",
			TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}}, "below TLS 1.3"},
		{"no root key", Config{Addr: "127.0.0.1:1", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "RootKey is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial accepted the config")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTransportEnforcesTLS13(t *testing.T) {
	cert := tls.Certificate{Certificate: [][]byte{{1}}}
	for _, min := range []uint16{0, tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(min), func(t *testing.T) {
			orig := &tls.Config{MinVersion: min, Certificates: []tls.Certificate{cert}}
			got, err := Config{Addr: "x:1", TLS: orig}.transport()
			if err != nil {
				t.Fatal(err)
			}
			if got.MinVersion != tls.VersionTLS13 {
				t.Fatalf("MinVersion = %x, want TLS 1.3", got.MinVersion)
			}
			if orig.MinVersion != min || got == orig {
				t.Fatal("the caller's tls.Config was modified")
			}
		})
	}
}
