package issuer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	key := fixedKey("active")
	edit := func(f func(*Config)) Config { c := testConfig(); f(&c); return c }
	cases := []struct {
		name       string
		cfg        Config
		active     *SigningKey
		verifyOnly []*SigningKey
	}{
		{"no issuer", edit(func(c *Config) { c.Issuer = "" }), key, nil},
		{"issuer bad UTF-8", edit(func(c *Config) { c.Issuer = "\xff" }), key, nil},
		{"leeway over 60s", edit(func(c *Config) { c.Leeway = MaxLeeway + time.Second }), key, nil},
		{"negative leeway", edit(func(c *Config) { c.Leeway = -time.Second }), key, nil},
		{"no max TTL", edit(func(c *Config) { c.MaxTTL = 0 }), key, nil},
		{"negative max TTL", edit(func(c *Config) { c.MaxTTL = -time.Minute }), key, nil},
		{"sub-second max TTL", edit(func(c *Config) { c.MaxTTL = time.Millisecond }), key, nil},
		{"negative max token bytes", edit(func(c *Config) { c.MaxTokenBytes = -1 }), key, nil},
		{"no active key", testConfig(), nil, nil},
		{"nil verify-only key", testConfig(), key, []*SigningKey{nil}},
		{"zero-value key", testConfig(), &SigningKey{}, nil},
		{"duplicate kid", testConfig(), key, []*SigningKey{fixedKey("old"), fixedKey("active")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := New(tc.cfg, tc.active, tc.verifyOnly...)
			if !errors.Is(err, ErrInvalidConfig) || iss != nil {
				t.Fatalf("got %v, %v; want ErrInvalidConfig", iss, err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	iss := newTestIssuer(t, Config{Issuer: testIssuer, MaxTTL: testMaxTTL}, fixedKey("active"))
	if iss.leeway != DefaultLeeway || iss.maxTokenBytes != DefaultMaxTokenBytes || iss.now == nil {
		t.Fatalf("defaults: leeway %v, max bytes %d", iss.leeway, iss.maxTokenBytes)
	}
	// The default clock is the real one: a token minted now verifies now.
	tok, err := iss.Mint(testGrant())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(tok.Raw, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Rotation: keys passed as verify-only still verify; keys never passed do not.
func TestVerifyOnlyKeys(t *testing.T) {
	oldKey, newKey, stranger := fixedKey("old"), fixedKey("new"), fixedKey("stranger")
	before := newTestIssuer(t, testConfig(), oldKey)
	after := newTestIssuer(t, testConfig(), newKey, oldKey)
	retired := newTestIssuer(t, testConfig(), newKey)
	outsider := newTestIssuer(t, testConfig(), stranger)

	mint := func(iss *Issuer) string {
		tok, err := iss.Mint(testGrant())
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	cases := []struct {
		name   string
		raw    string
		verify *Issuer
		want   error
	}{
		{"old token, old key verify-only", mint(before), after, nil},
		{"new token, new key active", mint(after), after, nil},
		{"old token after retirement", mint(before), retired, ErrUnknownKey},
		{"token from an unknown key", mint(outsider), after, ErrUnknownKey},
		{"stranger signs under our kid", signEd(t, validHeader(oldKey), validClaims(), stranger), after, ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.verify.Verify(tc.raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
	t.Run("mints with the active key only", func(t *testing.T) {
		raw := mint(after)
		hdr := decodeSegment(t, raw[:strings.IndexByte(raw, '.')])
		if string(hdr["kid"]) != `"`+newKey.KID()+`"` {
			t.Fatalf("minted with kid %s, want the active key %s", hdr["kid"], newKey.KID())
		}
	})
}
