package client

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

const redacted = "[REDACTED]"

// Config says where the Latchkey server is, how to reach it and what to ask
// for. Its String, GoString, Format and LogValue methods never print RootKey.
type Config struct {
	// Addr is the host:port of the Latchkey gRPC server; Dial needs it.
	Addr string
	// TLS carries the client certificate and the RootCAs that verify the
	// server. Dial refuses anything below TLS 1.3.
	TLS *tls.Config
	// RootKey is the workload's `lk_...` key. It is a secret.
	RootKey string
	// Scopes and Audiences are those to request; empty means every one the
	// key allows.
	Scopes, Audiences []string
	// TTL is the requested token lifetime; 0 means the server default.
	TTL time.Duration
	// Now is the time source; nil means time.Now.
	Now func() time.Time
	// Logger receives exchange outcomes; nil discards them.
	Logger *slog.Logger
}

// String prints the settings without the root key.
func (c Config) String() string {
	key := ""
	if c.RootKey != "" {
		key = redacted
	}
	return fmt.Sprintf("client.Config{Addr:%q RootKey:%s Scopes:%q Audiences:%q TTL:%s}",
		c.Addr, key, c.Scopes, c.Audiences, c.TTL)
}

// GoString is String: %#v must not bypass the redaction.
func (c Config) GoString() string { return c.String() }

// Format makes every verb print String, so no verb reaches the root key.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the settings without the root key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("root_key", redacted),
		slog.Any("scopes", c.Scopes),
		slog.Any("audiences", c.Audiences),
		slog.Duration("ttl", c.TTL),
	)
}

// MarshalJSON writes the LogValue fields, so that a Config inside a slice or
// map logged by slog's JSON handler cannot emit RootKey.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Addr      string        `json:"addr"`
		RootKey   string        `json:"root_key"`
		Scopes    []string      `json:"scopes"`
		Audiences []string      `json:"audiences"`
		TTL       time.Duration `json:"ttl"`
	}{c.Addr, redacted, c.Scopes, c.Audiences, c.TTL})
}

// validate checks what New needs and returns a copy with defaults filled and
// the slices detached from the caller's.
func (c Config) validate() (Config, error) {
	if c.RootKey == "" {
		return Config{}, errors.New("client: RootKey is required")
	}
	if c.TTL < 0 {
		return Config{}, errors.New("client: TTL must not be negative")
	}
	for _, s := range c.Scopes {
		if s == "" {
			return Config{}, errors.New("client: Scopes must not contain an empty string")
		}
	}
	for _, a := range c.Audiences {
		if a == "" {
			return Config{}, errors.New("client: Audiences must not contain an empty string")
		}
	}
	c.Scopes = slices.Clone(c.Scopes)
	c.Audiences = slices.Clone(c.Audiences)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// transport returns the TLS settings Dial uses: a copy of c.TLS with TLS 1.3
// as the floor, because the server speaks nothing older and a downgrade must
// not be negotiable from this side either.
func (c Config) transport() (*tls.Config, error) {
	if c.Addr == "" {
		return nil, errors.New("client: Addr is required")
	}
	if c.TLS == nil {
		return nil, errors.New("client: TLS is required (client certificate and RootCAs)")
	}
	if len(c.TLS.Certificates) == 0 && c.TLS.GetClientCertificate == nil {
		return nil, errors.New("client: TLS has no client certificate; the server requires mutual TLS")
	}
	if c.TLS.MaxVersion != 0 && c.TLS.MaxVersion < tls.VersionTLS13 {
		return nil, errors.New("client: TLS.MaxVersion is below TLS 1.3, which the server requires")
	}
	t := c.TLS.Clone()
	t.MinVersion = tls.VersionTLS13
	return t, nil
}
