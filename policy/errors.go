package policy

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors of the policy file.
var (
	// ErrInvalidPolicy matches every problem found in a policy file's content
	// (as opposed to failing to read it).
	ErrInvalidPolicy = errors.New("policy: invalid policy file")
)

// Errors of single values; the error returned wraps one of them and quotes
// the offending value.
var (
	ErrInvalidScope    = errors.New("invalid scope")
	ErrInvalidAudience = errors.New("invalid audience")
	ErrInvalidPattern  = errors.New("invalid identity pattern")
	ErrInvalidSPIFFEID = errors.New("invalid SPIFFE ID")
)

// Errors of Decide. Their messages are safe to return to the caller.
var (
	// ErrInvalidRequest is wrapped with detail for a malformed grant request.
	ErrInvalidRequest = errors.New("policy: invalid request")
	// ErrKeyHasNoScopes: the key allows no scope the catalog still knows, so
	// it can never get a token; an empty scope claim must not mean "anything".
	ErrKeyHasNoScopes = errors.New("policy: this key allows no scopes")
	// ErrKeyHasNoAudiences: the key allows no audience, and a token without
	// one would be rejected by every resource server.
	ErrKeyHasNoAudiences = errors.New("policy: this key allows no audiences")
	// ErrMisconfigured means the policy or key record is inconsistent (for
	// example a Policy built by hand without Parse); it is a server fault.
	ErrMisconfigured = errors.New("policy: misconfigured policy or key")
)

// ScopeNotAllowedError reports a requested scope that the key does not
// allow or the catalog does not know. Both read the same to the caller.
type ScopeNotAllowedError struct{ Scope string }

func (e *ScopeNotAllowedError) Error() string {
	return fmt.Sprintf("scope %q is not allowed for this key", e.Scope)
}

// AudienceNotAllowedError reports a requested audience the key does not allow.
type AudienceNotAllowedError struct{ Audience string }

func (e *AudienceNotAllowedError) Error() string {
	return fmt.Sprintf("audience %+q is not allowed for this key", e.Audience)
}

// FieldError is one problem in a policy file, located by file, line and the
// dotted path of the field, e.g. "roles.exchange[1]".
type FieldError struct {
	File string // empty when parsing bytes
	Line int    // 0 when unknown
	Path string // empty for problems of the whole document
	Err  error
	// at is the path whose line locates the problem, when that is not Path
	// (an invalid owner name is reported under "owners" but found at its key).
	at string
}

func (e *FieldError) Error() string {
	msg := "policy: "
	switch {
	case e.File != "" && e.Line > 0:
		msg += e.File + ":" + strconv.Itoa(e.Line) + ": "
	case e.File != "":
		msg += e.File + ": "
	case e.Line > 0:
		msg += "line " + strconv.Itoa(e.Line) + ": "
	}
	if e.Path != "" {
		msg += safePath(e.Path) + ": "
	}
	return msg + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// safePath quotes a path holding whitespace, control or invalid bytes (from
// an owner or role name), so that an error message cannot be used to forge
// log lines and what it names is visible.
func safePath(p string) string {
	if badText(p) == "" {
		return p
	}
	return quote(p)
}

// Is makes every FieldError match ErrInvalidPolicy.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidPolicy }

// valueError reports an invalid single value. The value is quoted as ASCII
// (so control bytes and look-alike characters are visible) and truncated,
// since it may come from an untrusted caller.
type valueError struct {
	kind   error
	value  string
	reason string
}

func (e *valueError) Error() string {
	return fmt.Sprintf("%v %s: %s", e.kind, quote(e.value), e.reason)
}

func (e *valueError) Unwrap() error { return e.kind }

const maxQuoted = 64

func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.QuoteToASCII(s[:maxQuoted]) + "..."
	}
	return strconv.QuoteToASCII(s)
}
