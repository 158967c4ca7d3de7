package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSecretsNeverPrinted(t *testing.T) {
	const tokenValue = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJvcmRlcnMifQ.c2lnbmF0dXJl"
	cfg := Config{Addr: "latchkey:8443", RootKey: testRootKey, Scopes: []string{"orders.read"}, TTL: time.Minute}
	tok := Token{Value: tokenValue, JTI: "jti-1", KeyID: "AbCdEfGhIjKl", ExpiresAt: time.Unix(1900000000, 0), Scopes: []string{"orders.read"}}
	fx := newFixture(t, middleRand, nil)
	held := fx.token(t)

	type wrapper struct {
		Config Config
		Token  Token
	}
	values := map[string]any{
		"Config":     cfg,
		"*Config":    &cfg,
		"Token":      tok,
		"*Token":     &tok,
		"struct":     wrapper{Config: cfg, Token: tok},
		"slice":      []Token{tok},
		"*Client":    fx.client,
		"held Token": held,
	}
	values["secret"] = secret(testRootKey)
	secrets := []string{testRootKey, tokenValue, held.Value}

	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			if j, err := json.Marshal(v); err == nil {
				assertNoSecrets(t, "JSON", string(j), secrets)
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
				out := fmt.Sprintf(verb, v)
				assertNoSecrets(t, verb+" output", out, secrets)
			}
			for _, h := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			} {
				var buf bytes.Buffer
				slog.New(h(&buf)).Info("x", "v", v)
				assertNoSecrets(t, "slog output", buf.String(), secrets)
			}
		})
	}

	t.Run("redaction marker present", func(t *testing.T) {
		tests := []struct {
			name string
			out  string
		}{
			{"Config %+v", fmt.Sprintf("%+v", cfg)},
			{"Token %#v", fmt.Sprintf("%#v", tok)},
			{"Token String", tok.String()},
			{"Config LogValue", cfg.LogValue().String()},
			{"Token LogValue", tok.LogValue().String()},
		}
		for _, tt := range tests {
			if !strings.Contains(tt.out, redacted) {
				t.Errorf("%s = %q, want %s in it", tt.name, tt.out, redacted)
			}
		}
		// What is safe to show stays visible: a redacted record must still
		// identify the token and the server.
		if s := tok.String(); !strings.Contains(s, "jti-1") || !strings.Contains(s, "AbCdEfGhIjKl") {
			t.Errorf("Token.String() = %q lost its identifying fields", s)
		}
		if s := cfg.String(); !strings.Contains(s, "latchkey:8443") {
			t.Errorf("Config.String() = %q lost the address", s)
		}
	})
}
