package pki

import (
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[REDACTED]"

// The printing methods use value receivers so that printing a dereferenced
// CA or Leaf is redacted too; without them fmt would walk the struct and
// print the key.

// String describes the CA by subject and serial, never by key.
func (ca CA) String() string { return describe("pki.CA", ca.cert) }

// GoString is String: %#v must not print the key either.
func (ca CA) GoString() string { return ca.String() }

// Format prints String for every verb.
func (ca CA) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, ca.String()) }

// LogValue gives slog the subject and serial only.
func (ca CA) LogValue() slog.Value { return logValue(ca.cert) }

// String describes the leaf by subject and serial, never by key.
func (l Leaf) String() string { return describe("pki.Leaf", l.Cert) }

// GoString is String: %#v must not print the key either.
func (l Leaf) GoString() string { return l.String() }

// Format prints String for every verb.
func (l Leaf) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, l.String()) }

// LogValue gives slog the subject and serial only.
func (l Leaf) LogValue() slog.Value { return logValue(l.Cert) }

func describe(kind string, c *x509.Certificate) string {
	if c == nil {
		return kind + "{key=" + redacted + "}"
	}
	return fmt.Sprintf("%s{subject=%q, serial=%x, key=%s}", kind, c.Subject.String(), c.SerialNumber, redacted)
}

func logValue(c *x509.Certificate) slog.Value {
	if c == nil {
		return slog.GroupValue(slog.String("key", redacted))
	}
	return slog.GroupValue(
		slog.String("subject", c.Subject.String()),
		slog.String("serial", fmt.Sprintf("%x", c.SerialNumber)),
		slog.String("key", redacted),
	)
}
