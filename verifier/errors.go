package verifier

import (
	"errors"
	"fmt"
)

// Errors Verify returns. Callers branch on these with errors.Is; the wrapped
// detail is for logs and never quotes the token.
var (
	// ErrInvalid means the token is not one Latchkey issued for this
	// audience and this caller, or it is no longer within its lifetime.
	ErrInvalid = errors.New("verifier: invalid token")
	// ErrRevoked means the token verifies but the revocation list covers it.
	ErrRevoked = errors.New("verifier: token revoked")
	// ErrStale means the verifier cannot currently tell whether the token is
	// revoked: the revocation stream has been down for longer than
	// MaxStaleness, introspection is unreachable, or the Verifier is closed.
	ErrStale = errors.New("verifier: revocation status unknown")
	// ErrInsufficientScope means the token is valid but lacks a scope the
	// request needs.
	ErrInsufficientScope = errors.New("verifier: insufficient scope")
	// ErrConfig means New was given a Config it cannot work with.
	ErrConfig = errors.New("verifier: invalid config")
)

// Finer reasons a token is invalid. Each wraps ErrInvalid so that callers
// which only care about "valid or not" need one check.
var (
	errTooLarge    = fmt.Errorf("%w: token exceeds size limit", ErrInvalid)
	errMalformed   = fmt.Errorf("%w: malformed", ErrInvalid)
	errHeader      = fmt.Errorf("%w: unacceptable header", ErrInvalid)
	errUnknownKey  = fmt.Errorf("%w: unknown key id", ErrInvalid)
	errAlgorithm   = fmt.Errorf("%w: algorithm not allowed for key", ErrInvalid)
	errSignature   = fmt.Errorf("%w: bad signature", ErrInvalid)
	errExpired     = fmt.Errorf("%w: expired", ErrInvalid)
	errNotYetValid = fmt.Errorf("%w: not yet valid", ErrInvalid)
	errClaims      = fmt.Errorf("%w: invalid claims", ErrInvalid)
	errIssuer      = fmt.Errorf("%w: wrong issuer", ErrInvalid)
	errAudience    = fmt.Errorf("%w: wrong audience", ErrInvalid)
	errBinding     = fmt.Errorf("%w: not bound to the presented certificate", ErrInvalid)
	errInactive    = fmt.Errorf("%w: introspection says inactive", ErrInvalid)
)

// errClosed is returned by Verify after Close.
var errClosed = fmt.Errorf("%w: verifier closed", ErrStale)
