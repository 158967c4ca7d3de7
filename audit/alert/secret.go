package alert

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[REDACTED]"

// secret holds the webhook's HMAC key. It prints as [REDACTED] however it
// is formatted or logged.
type secret struct{ b []byte }

var (
	_ fmt.Stringer   = secret{}
	_ fmt.GoStringer = secret{}
	_ fmt.Formatter  = secret{}
	_ slog.LogValuer = secret{}
)

func newSecret(b []byte) secret { return secret{b: append([]byte(nil), b...)} }

// String returns [REDACTED].
func (secret) String() string { return redacted }

// GoString returns [REDACTED], so %#v shows no key either.
func (secret) GoString() string { return redacted }

// Format prints [REDACTED] for every verb, so %x cannot dump the key.
func (secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns [REDACTED].
func (secret) LogValue() slog.Value { return slog.StringValue(redacted) }
