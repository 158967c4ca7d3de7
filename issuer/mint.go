package issuer

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	canonb64 "github.com/latchkeyhq/latchkey/internal/b64url"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// tokenType is the RFC 9068 typ of an access token.
const tokenType = "at+jwt"

// Grant is what a token is minted for. Policy decisions (which scopes, which
// audiences, how long) are made before Mint; Mint only refuses grants it could
// not encode faithfully.
type Grant struct {
	Subject, ClientID string
	Audiences, Scopes []string
	// TTL is the lifetime, at least one second and at most Config.MaxTTL.
	// Sub-second parts are dropped because JWT dates are whole seconds.
	TTL time.Duration
	// CertThumbprint is the x5t#S256 of the client certificate the token is
	// bound to, as returned by CertThumbprint. Required.
	CertThumbprint string
}

// Token is a minted access token. Raw is the bearer secret: String, Format and
// LogValue leave it out.
type Token struct {
	Raw                 string
	JTI                 string
	IssuedAt, ExpiresAt time.Time
}

// Mint signs a token for g with the active key.
func (i *Issuer) Mint(g Grant) (Token, error) {
	if err := i.checkGrant(g); err != nil {
		return Token{}, err
	}
	jti, err := newJTI(i.rand)
	if err != nil {
		return Token{}, err
	}
	iat := i.now().Truncate(time.Second)
	exp := iat.Add(g.TTL.Truncate(time.Second))
	claims := wireClaims{
		Issuer:    i.iss,
		Subject:   g.Subject,
		Audience:  g.Audiences,
		ExpiresAt: exp.Unix(),
		NotBefore: iat.Unix(),
		IssuedAt:  iat.Unix(),
		JTI:       jti,
		Scope:     strings.Join(g.Scopes, " "),
		ClientID:  g.ClientID,
		Cnf:       confirmation{X5TS256: g.CertThumbprint},
	}
	scratch := claimsBuffers.Get().(*[]byte)
	defer claimsBuffers.Put(scratch)
	// The claims are encoded at the start of the scratch space, and the
	// token is built after them: header, base64 of the claims, then the
	// signature over both. Only the finished token is copied out.
	payload := appendClaims((*scratch)[:0], i.opening, &claims)
	enc := base64.RawURLEncoding
	full := slices.Grow(payload, len(i.header)+1+enc.EncodedLen(len(payload))+1+enc64Max)
	tok := full[len(payload):]
	tok = append(tok, i.header...)
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, payload)
	var sig []byte
	if ed, ok := i.active.priv.(ed25519.PrivateKey); ok {
		// What golang-jwt's EdDSA method computes, without first copying
		// the signing input into a string and back.
		sig = ed25519.Sign(ed, tok)
	} else if sig, err = i.signer.Sign(string(tok), i.active.priv); err != nil {
		return Token{}, fmt.Errorf("issuer: sign: %w", err)
	}
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, sig)
	raw := string(tok)
	// The scratch space goes back to the pool without the bearer token.
	clear(payload)
	clear(tok)
	*scratch = full[:0]
	return Token{Raw: raw, JTI: jti, IssuedAt: iat.UTC(), ExpiresAt: exp.UTC()}, nil
}

func (i *Issuer) checkGrant(g Grant) error {
	if g.TTL < time.Second || g.TTL > i.maxTTL {
		return fmt.Errorf("%w: TTL must be between 1s and %s", ErrInvalidGrant, i.maxTTL)
	}
	if !nonEmptyUTF8(g.Subject) {
		return fmt.Errorf("%w: subject must be a non-empty UTF-8 string", ErrInvalidGrant)
	}
	if !nonEmptyUTF8(g.ClientID) {
		return fmt.Errorf("%w: client id must be a non-empty UTF-8 string", ErrInvalidGrant)
	}
	if len(g.Audiences) == 0 {
		return fmt.Errorf("%w: at least one audience is required", ErrInvalidGrant)
	}
	for _, a := range g.Audiences {
		if !nonEmptyUTF8(a) {
			return fmt.Errorf("%w: audiences must be non-empty UTF-8 strings", ErrInvalidGrant)
		}
	}
	for _, s := range g.Scopes {
		if !validScopeToken(s) {
			return fmt.Errorf("%w: scope %q is not an RFC 6749 scope token", ErrInvalidGrant, s)
		}
	}
	if !validThumbprint(g.CertThumbprint) {
		return fmt.Errorf("%w: certificate thumbprint must be base64url SHA-256", ErrInvalidGrant)
	}
	return nil
}

func nonEmptyUTF8(s string) bool { return s != "" && utf8.ValidString(s) }

// validScopeToken follows RFC 6749 section 3.3: printable ASCII except space,
// double quote and backslash. Anything else would not survive the
// space-delimited encoding.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func validThumbprint(s string) bool {
	b, err := canonb64.Decode(s)
	return err == nil && len(b) == 32
}

// newJTI returns 128 random bits, enough that ids never collide and cannot be
// guessed, which revocation by jti relies on.
func newJTI(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("issuer: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// String describes the token without its bearer value.
func (t Token) String() string {
	return fmt.Sprintf("Token{JTI:%s IssuedAt:%s ExpiresAt:%s Raw:%s}",
		t.JTI, t.IssuedAt.Format(time.RFC3339), t.ExpiresAt.Format(time.RFC3339), redacted)
}

// GoString is String, so %#v cannot reveal Raw either.
func (t Token) GoString() string { return t.String() }

// Format implements fmt.Formatter so that every verb goes through String.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue implements slog.LogValuer without the bearer value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("jti", t.JTI),
		slog.Time("iat", t.IssuedAt),
		slog.Time("exp", t.ExpiresAt),
		slog.String("raw", redacted),
	)
}
