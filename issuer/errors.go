package issuer

import (
	"errors"
	"fmt"
)

// ErrInvalidToken is wrapped by every error Verify returns. Callers that only
// need "active or not" test for it; the finer errors below exist for metrics
// and logs, never for the token holder.
var ErrInvalidToken = errors.New("issuer: invalid token")

// Reasons a token is rejected. Each wraps ErrInvalidToken.
var (
	ErrMalformed   = fmt.Errorf("%w: malformed", ErrInvalidToken)
	ErrHeader      = fmt.Errorf("%w: unacceptable header", ErrInvalidToken)
	ErrUnknownKey  = fmt.Errorf("%w: unknown key id", ErrInvalidToken)
	ErrAlgorithm   = fmt.Errorf("%w: algorithm not allowed for key", ErrInvalidToken)
	ErrSignature   = fmt.Errorf("%w: bad signature", ErrInvalidToken)
	ErrExpired     = fmt.Errorf("%w: expired", ErrInvalidToken)
	ErrNotYetValid = fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	ErrClaims      = fmt.Errorf("%w: invalid claims", ErrInvalidToken)
)

// Errors from building an Issuer, handling signing keys and minting.
var (
	ErrInvalidConfig     = errors.New("issuer: invalid config")
	ErrInvalidSigningKey = errors.New("issuer: invalid signing key")
	ErrInvalidGrant      = errors.New("issuer: invalid grant")
)

// errTooLarge is allocated once so that rejecting an oversized token costs no
// allocation, however large the input.
var errTooLarge = fmt.Errorf("%w: token exceeds size limit", ErrMalformed)

// Errors from the keyring state machine. Revoking a kid that no entry holds
// returns ErrUnknownKey.
var (
	// ErrKeyState means the operation is not allowed in the key's current
	// state, such as revoking a key that is already removed or revoked.
	ErrKeyState = errors.New("issuer: key state does not allow this")
	// ErrInvalidKeyring means the entries break an invariant: a missing or
	// duplicate key, an unknown state, or more than one active or next key.
	ErrInvalidKeyring = errors.New("issuer: invalid keyring")
)
