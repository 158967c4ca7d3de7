package rootkey

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[REDACTED]"

var (
	_ fmt.Stringer   = Key{}
	_ fmt.GoStringer = Key{}
	_ fmt.Formatter  = Key{}
	_ slog.LogValuer = Key{}

	_ fmt.Stringer   = Pepper{}
	_ fmt.GoStringer = Pepper{}
	_ fmt.Formatter  = Pepper{}
	_ slog.LogValuer = Pepper{}
)

// String returns [REDACTED]; use ID or PublicPrefix to name a key.
func (Key) String() string { return redacted }

// GoString returns [REDACTED], so %#v shows no secret either.
func (Key) GoString() string { return redacted }

// Format prints [REDACTED] for every verb, so %x or %d cannot dump the
// bytes behind the key.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns [REDACTED].
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// String returns [REDACTED].
func (Pepper) String() string { return redacted }

// GoString returns [REDACTED].
func (Pepper) GoString() string { return redacted }

// Format prints [REDACTED] for every verb.
func (Pepper) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns [REDACTED].
func (Pepper) LogValue() slog.Value { return slog.StringValue(redacted) }
