package verifier

import (
	"context"
	"fmt"
	"slices"
	"strings"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// introspect asks Latchkey about token. Latchkey checks the signature, the
// lifetime and the revocation list; the audience is this server's to check,
// and the claims are checked again so a misconfigured issuer cannot widen
// what is accepted. An unreachable Latchkey is ErrStale: there is no local
// signature check to fall back on, so FailOpen never applies here.
func (v *Verifier) introspect(ctx context.Context, token string) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, errTooLarge
	}
	tok, err := split(token)
	if err != nil {
		return Claims{}, err
	}
	hdr, err := parseHeader(tok.header)
	if err != nil {
		return Claims{}, err
	}
	resp, err := v.client.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: token})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: introspection: %w", ErrStale, err)
	}
	if !resp.GetActive() {
		return Claims{}, errInactive
	}
	p := payload{
		iss: resp.GetIss(), sub: resp.GetSub(), jti: resp.GetJti(), scope: resp.GetScope(),
		clientID: resp.GetClientId(), cnf: resp.GetCnfX5TS256(), aud: slices.Clone(resp.GetAud()),
		exp: resp.GetExp(), iat: resp.GetIat(), nbf: resp.GetNbf(), hasNbf: resp.GetNbf() != 0,
	}
	if p.exp < 0 || p.iat < 0 || p.nbf < 0 || p.exp > latestNumericDate || p.iat > latestNumericDate || p.nbf > latestNumericDate {
		return Claims{}, fmt.Errorf("%w: introspection dates out of range", errClaims)
	}
	if !strings.EqualFold(resp.GetTokenType(), "Bearer") {
		return Claims{}, fmt.Errorf("%w: introspection token type", errClaims)
	}
	c, err := v.checkClaims(p, v.cfg.Now())
	if err != nil {
		return Claims{}, err
	}
	// Latchkey verified the signature with the key this kid names.
	c.KID = hdr.kid
	return c, nil
}
