package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	ca := newTestCA(t, "test-ca")
	c := ca.Certificate()
	if c.Subject.CommonName != "test-ca" {
		t.Errorf("CN = %q, want test-ca", c.Subject.CommonName)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v, want a CA with path length 0",
			c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v, want CertSign|CRLSign", c.KeyUsage)
	}
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("SignatureAlgorithm = %v, want ECDSAWithSHA256", c.SignatureAlgorithm)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	if !c.NotBefore.Equal(t0.Add(-time.Hour)) || !c.NotAfter.Equal(t0.Add(48*time.Hour)) {
		t.Errorf("validity %v..%v, want %v..%v", c.NotBefore, c.NotAfter, t0.Add(-time.Hour), t0.Add(48*time.Hour))
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %x is not a positive 128-bit number", c.SerialNumber)
	}
	assertPKCS8P256(t, ca.KeyPEM())
	assertSingleCert(t, ca.CertPEM(), c)
}

func TestNewCAErrors(t *testing.T) {
	tests := []struct {
		name      string
		cn        string
		notBefore time.Time
		notAfter  time.Time
		want      error
	}{
		{"empty common name", "", t0, t0.Add(time.Hour), ErrInvalidCommonName},
		{"zero not before", "ca", time.Time{}, t0, ErrInvalidValidity},
		{"zero not after", "ca", t0, time.Time{}, ErrInvalidValidity},
		{"empty window", "ca", t0, t0, ErrInvalidValidity},
		{"inverted window", "ca", t0, t0.Add(-time.Second), ErrInvalidValidity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := NewCA(tc.cn, tc.notBefore, tc.notAfter)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewCA error = %v, want %v", err, tc.want)
			}
			if ca != nil {
				t.Fatalf("NewCA returned a CA with an error")
			}
		})
	}
}

func TestSerialsAreDistinct(t *testing.T) {
	ca := newTestCA(t, "ca")
	seen := map[string]bool{ca.Certificate().SerialNumber.String(): true}
	for i := 0; i < 20; i++ {
		l := issueClient(t, ca, fixedWindow(LeafOptions{}))
		s := l.Cert.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		if l.Cert.SerialNumber.Sign() <= 0 || l.Cert.SerialNumber.BitLen() > 128 {
			t.Fatalf("serial %x is not a positive 128-bit number", l.Cert.SerialNumber)
		}
		seen[s] = true
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	orig := newTestCA(t, "round-trip")
	loaded, err := LoadCA(orig.CertPEM(), orig.KeyPEM())
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !bytes.Equal(loaded.Certificate().Raw, orig.Certificate().Raw) {
		t.Fatal("loaded certificate differs from the original")
	}
	if !bytes.Equal(loaded.CertPEM(), orig.CertPEM()) || !bytes.Equal(loaded.KeyPEM(), orig.KeyPEM()) {
		t.Fatal("loaded PEM differs from the original")
	}
	// The loaded CA must sign with the original key: its leaves verify
	// against the original's pool.
	l := issueServer(t, loaded, fixedWindow(LeafOptions{DNSNames: []string{"localhost"}}))
	if err := verify(l, orig.Pool(), t0, x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatalf("leaf of the loaded CA does not verify against the original: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	leaf := issueServer(t, ca, fixedWindow(LeafOptions{CommonName: "leaf"}))
	caLeaf := issueClient(t, ca, fixedWindow(LeafOptions{CommonName: "pretend-ca", IsCA: true}))
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER})
	sec1PEM := sec1(t, ca.KeyPEM())

	tests := []struct {
		name    string
		certPEM []byte
		keyPEM  []byte
		want    error
	}{
		{"other CA's key", ca.CertPEM(), other.KeyPEM(), ErrKeyMismatch},
		{"leaf certificate", leaf.CertPEM, leaf.KeyPEM, ErrNotCA},
		{"CA flag without keyCertSign", caLeaf.CertPEM, caLeaf.KeyPEM, ErrNotCA},
		{"empty certificate", nil, ca.KeyPEM(), ErrNoCertificate},
		{"text only certificate", []byte("not pem"), ca.KeyPEM(), ErrNoCertificate},
		{"empty key", ca.CertPEM(), nil, ErrNoPrivateKey},
		{"two certificates", append(ca.CertPEM(), other.CertPEM()...), ca.KeyPEM(), ErrMalformed},
		{"key in certificate file", append(ca.CertPEM(), ca.KeyPEM()...), ca.KeyPEM(), ErrMalformed},
		{"certificate in key file", ca.CertPEM(), ca.CertPEM(), ErrMalformed},
		{"two keys", ca.CertPEM(), append(ca.KeyPEM(), ca.KeyPEM()...), ErrMalformed},
		{"corrupt certificate", pemOf("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01}), ca.KeyPEM(), ErrMalformed},
		{"corrupt key", ca.CertPEM(), pemOf("PRIVATE KEY", []byte{0x30, 0x00}), ErrMalformed},
		{"encrypted key", ca.CertPEM(), pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}), ErrMalformed},
		{"P-384 key", ca.CertPEM(), p384PEM, ErrUnsupportedKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadCA(tc.certPEM, tc.keyPEM)
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoadCA error = %v, want %v", err, tc.want)
			}
			if got != nil {
				t.Fatal("LoadCA returned a CA with an error")
			}
		})
	}

	t.Run("SEC 1 key is accepted", func(t *testing.T) {
		got, err := LoadCA(ca.CertPEM(), sec1PEM)
		if err != nil {
			t.Fatalf("LoadCA: %v", err)
		}
		if !bytes.Equal(got.Certificate().Raw, ca.Certificate().Raw) {
			t.Fatal("loaded certificate differs")
		}
	})
}

func TestCAReturnsCopies(t *testing.T) {
	ca := newTestCA(t, "ca")
	want := ca.CertPEM()
	got := ca.CertPEM()
	got[0] ^= 0xff
	if !bytes.Equal(ca.CertPEM(), want) {
		t.Fatal("mutating CertPEM's result changed the CA")
	}
	key := ca.KeyPEM()
	wantKey := bytes.Clone(key)
	key[0] ^= 0xff
	if !bytes.Equal(ca.KeyPEM(), wantKey) {
		t.Fatal("mutating KeyPEM's result changed the CA")
	}

	other := newTestCA(t, "other")
	otherLeaf := issueClient(t, other, fixedWindow(LeafOptions{}))
	widened := ca.Pool()
	widened.AddCert(other.Certificate())
	if err := verify(otherLeaf, widened, t0, x509.ExtKeyUsageClientAuth); err != nil {
		t.Fatalf("leaf does not verify against the widened pool: %v", err)
	}
	assertOutcome(t, verify(otherLeaf, ca.Pool(), t0, x509.ExtKeyUsageClientAuth), unknownAuthority)
}

func assertPKCS8P256(t *testing.T, keyPEM []byte) {
	t.Helper()
	b, rest := pem.Decode(keyPEM)
	if b == nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key PEM is not exactly one block")
	}
	if b.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM type %q, want PRIVATE KEY", b.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("ParsePKCS8PrivateKey: %v", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", k)
	}
}

func assertSingleCert(t *testing.T, certPEM []byte, want *x509.Certificate) {
	t.Helper()
	b, rest := pem.Decode(certPEM)
	if b == nil || len(bytes.TrimSpace(rest)) != 0 || b.Type != "CERTIFICATE" {
		t.Fatalf("certificate PEM is not exactly one CERTIFICATE block")
	}
	if !bytes.Equal(b.Bytes, want.Raw) {
		t.Fatal("certificate PEM does not hold the certificate")
	}
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// sec1 re-encodes a PKCS#8 EC key as an "EC PRIVATE KEY" block.
func sec1(t *testing.T, pkcs8PEM []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(pkcs8PEM)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("EC PRIVATE KEY", der)
}
