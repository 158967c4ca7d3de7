package client

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Token is a token obtained from Latchkey. Value is the bearer secret; the
// String, GoString, Format and LogValue methods print everything but it.
type Token struct {
	// Value is the signed JWT to send as "authorization: Bearer <Value>".
	Value     string
	ExpiresAt time.Time
	// JTI is the token's unique id, safe to log.
	JTI string
	// KeyID is the id of the root key the token derives from, safe to log.
	KeyID  string
	Scopes []string
}

// String describes the token without its value.
func (t Token) String() string {
	v := ""
	if t.Value != "" {
		v = redacted
	}
	return fmt.Sprintf("client.Token{Value:%s JTI:%q KeyID:%q ExpiresAt:%s Scopes:%q}",
		v, t.JTI, t.KeyID, t.ExpiresAt.UTC().Format(time.RFC3339), t.Scopes)
}

// GoString is String: %#v must not bypass the redaction.
func (t Token) GoString() string { return t.String() }

// Format makes every verb print String, so no verb reaches the value.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue logs the token's identifying fields without its value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("value", redacted),
		slog.String("jti", t.JTI),
		slog.String("key_id", t.KeyID),
		slog.Time("expires_at", t.ExpiresAt),
		slog.Any("scopes", t.Scopes),
	)
}

// MarshalJSON writes the LogValue fields: encoding/json (and so slog's JSON
// handler, for a Token inside a slice or map) would otherwise emit Value.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Value     string    `json:"value"`
		JTI       string    `json:"jti"`
		KeyID     string    `json:"key_id"`
		ExpiresAt time.Time `json:"expires_at"`
		Scopes    []string  `json:"scopes"`
	}{redacted, t.JTI, t.KeyID, t.ExpiresAt, t.Scopes})
}

// usable reports whether the token can still be presented at now: exp is
// the first instant at which it is no longer valid.
func (t Token) usable(now time.Time) bool {
	return t.Value != "" && now.Before(t.ExpiresAt)
}

// clone returns a copy whose Scopes the caller may modify freely.
func (t Token) clone() Token {
	if t.Scopes != nil {
		t.Scopes = append([]string(nil), t.Scopes...)
	}
	return t
}
