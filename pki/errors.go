package pki

import "errors"

var (
	// ErrInvalidValidity means a validity window is missing or ends before it
	// starts.
	ErrInvalidValidity = errors.New("pki: invalid validity window")

	// ErrInvalidURI means a URI SAN is not an absolute, ASCII URI.
	ErrInvalidURI = errors.New("pki: invalid URI SAN")

	// ErrInvalidCommonName means a CA was asked for without a name.
	ErrInvalidCommonName = errors.New("pki: common name is required")

	// ErrNoCertificate means PEM input held no CERTIFICATE block.
	ErrNoCertificate = errors.New("pki: no certificate in PEM input")

	// ErrNoPrivateKey means PEM input held no PRIVATE KEY block.
	ErrNoPrivateKey = errors.New("pki: no private key in PEM input")

	// ErrMalformed means a PEM block was present but could not be parsed, or
	// the input held blocks of a kind it must not hold.
	ErrMalformed = errors.New("pki: malformed PEM input")

	// ErrUnsupportedKey means a key is not ECDSA P-256.
	ErrUnsupportedKey = errors.New("pki: unsupported key type, want ECDSA P-256")

	// ErrKeyMismatch means a private key does not belong to the certificate
	// it was loaded with.
	ErrKeyMismatch = errors.New("pki: private key does not match certificate")

	// ErrNotCA means a certificate loaded as a CA may not sign certificates.
	ErrNotCA = errors.New("pki: certificate is not a CA")
)
