package verifier

import (
	"errors"
	"net/http"
	"strings"
)

// Middleware authenticates each request with its Authorization: Bearer token,
// bound to the client certificate of the TLS connection, and requires every
// scope in required. It answers 401 with an RFC 6750 challenge when the token
// is missing, invalid or revoked, 403 with error="insufficient_scope" when a
// scope is missing and 503 when revocation status is unknown. The verified
// claims are in the request context (ClaimsFromContext).
//
// Requests without a client certificate are refused: every Latchkey token is
// bound to one, and without it a stolen token would work from anywhere.
func (v *Verifier) Middleware(required []string, next http.Handler) http.Handler {
	required = append([]string(nil), required...)
	for _, s := range required {
		if !validScopeToken(s) {
			// A scope that cannot be written into the challenge is a
			// programming error, caught when the handler is built.
			panic("verifier: Middleware: not an RFC 6749 scope token: " + s)
		}
	}
	scopeParam := strings.Join(required, " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("Authorization")
		if len(vals) == 0 || (len(vals) == 1 && !hasBearerScheme(vals[0])) {
			// RFC 6750 section 3.1: no error code when no bearer
			// credentials were sent.
			challenge(w, http.StatusUnauthorized, `Bearer`)
			return
		}
		token, err := "", errNoToken
		if len(vals) == 1 {
			token, err = bearerToken(vals[0])
		}
		if err != nil {
			challenge(w, http.StatusBadRequest, `Bearer error="invalid_request"`)
			return
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			challenge(w, http.StatusUnauthorized, `Bearer error="invalid_token"`)
			return
		}
		c, err := v.Verify(r.Context(), token, r.TLS.PeerCertificates[0])
		switch {
		case errors.Is(err, ErrStale):
			w.Header().Set("Retry-After", "1")
			http.Error(w, "token revocation status is unknown; retry later", http.StatusServiceUnavailable)
			return
		case err != nil:
			challenge(w, http.StatusUnauthorized, `Bearer error="invalid_token"`)
			return
		case !c.hasScopes(required):
			challenge(w, http.StatusForbidden, `Bearer error="insufficient_scope", scope="`+scopeParam+`"`)
			return
		}
		next.ServeHTTP(w, r.WithContext(withClaims(r.Context(), c)))
	})
}

func challenge(w http.ResponseWriter, code int, value string) {
	w.Header().Set("WWW-Authenticate", value)
	http.Error(w, http.StatusText(code), code)
}

func hasBearerScheme(h string) bool {
	scheme, _, _ := strings.Cut(h, " ")
	return foldASCII(scheme, "Bearer")
}
