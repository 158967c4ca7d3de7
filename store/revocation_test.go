package store

import (
	"errors"
	"testing"
)

func TestRevocationKindNames(t *testing.T) {
	cases := []struct {
		kind RevocationKind
		name string
	}{
		{RevokeJTI, "jti"},
		{RevokeKeyTokens, "key"},
		{RevokeSubjectTokens, "subject"},
		{RevokeSigningKeyTokens, "signing_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.kind.String(); got != tc.name {
				t.Fatalf("String() = %q, want %q", got, tc.name)
			}
			if got, err := ParseRevocationKind(tc.name); err != nil || got != tc.kind {
				t.Fatalf("ParseRevocationKind(%q) = %v, %v; want %v", tc.name, got, err, tc.kind)
			}
		})
	}
	if got := RevocationKind(9).String(); got != "RevocationKind(9)" {
		t.Fatalf("String() of an unknown kind = %q", got)
	}
	for _, name := range []string{"unspecified", "", "JTI", "signing-key", "RevocationKind(9)"} {
		t.Run("reject "+name, func(t *testing.T) {
			if _, err := ParseRevocationKind(name); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("ParseRevocationKind(%q) = %v, want ErrInvalidArgument", name, err)
			}
		})
	}
}
