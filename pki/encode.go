package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

const (
	pemCertificate = "CERTIFICATE"
	pemPKCS8       = "PRIVATE KEY"
	pemSEC1        = "EC PRIVATE KEY"
	pemPKCS1       = "RSA PRIVATE KEY"
)

// serialLimit is 2^128: serials are drawn from [1, 2^128) so they stay
// positive and within the 20 octets RFC 5280 allows.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("pki: generate serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func checkValidity(notBefore, notAfter time.Time) error {
	if notBefore.IsZero() || notAfter.IsZero() {
		return fmt.Errorf("%w: both ends are required", ErrInvalidValidity)
	}
	if !notAfter.After(notBefore) {
		return fmt.Errorf("%w: not after %s is not later than not before %s",
			ErrInvalidValidity, notAfter.UTC().Format(time.RFC3339), notBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: der}), nil
}

// decodeBlocks returns the PEM blocks in data in order. Text around the blocks
// is ignored, as bundles often carry human-readable headers.
func decodeBlocks(data []byte) []*pem.Block {
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return blocks
		}
		blocks = append(blocks, b)
	}
}

// parseCertificates accepts only CERTIFICATE blocks: a private key pasted into
// a certificate or bundle file is a mistake worth stopping on, not skipping.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	blocks := decodeBlocks(data)
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != pemCertificate {
			return nil, fmt.Errorf("%w: block %d is %q, want %q", ErrMalformed, i, b.Type, pemCertificate)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrMalformed, i, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// parsePrivateKey reads exactly one private key block. Errors never quote the
// block's bytes.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	blocks := decodeBlocks(data)
	if len(blocks) == 0 {
		return nil, ErrNoPrivateKey
	}
	if len(blocks) > 1 {
		return nil, fmt.Errorf("%w: %d PEM blocks, want one private key", ErrMalformed, len(blocks))
	}
	b := blocks[0]
	var (
		key any
		err error
	)
	switch b.Type {
	case pemPKCS8:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case pemSEC1:
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case pemPKCS1:
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("%w: block is %q, want %q", ErrMalformed, b.Type, pemPKCS8)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, key)
	}
	return signer, nil
}

func matchKey(cert *x509.Certificate, key crypto.Signer) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}
