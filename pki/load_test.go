package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
)

func TestLoadLeafRoundTrip(t *testing.T) {
	ca := newTestCA(t, "ca")
	orig := issueClient(t, ca, fixedWindow(LeafOptions{URIs: []string{"spiffe://dev.latchkey.local/admin"}}))
	tests := []struct {
		name      string
		certPEM   []byte
		keyPEM    []byte
		wantChain int
	}{
		{"PKCS#8 key", orig.CertPEM, orig.KeyPEM, 1},
		{"SEC 1 key", orig.CertPEM, sec1(t, orig.KeyPEM), 1},
		{"leaf followed by CA", append(bytes.Clone(orig.CertPEM), ca.CertPEM()...), orig.KeyPEM, 2},
		{"text around blocks", append(append([]byte("# demo workload\n"), orig.CertPEM...), "trailer\n"...), orig.KeyPEM, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := LoadLeaf(tc.certPEM, tc.keyPEM)
			if err != nil {
				t.Fatalf("LoadLeaf: %v", err)
			}
			if !bytes.Equal(l.Cert.Raw, orig.Cert.Raw) {
				t.Fatal("loaded certificate differs")
			}
			if !bytes.Equal(l.CertPEM, tc.certPEM) || !bytes.Equal(l.KeyPEM, tc.keyPEM) {
				t.Fatal("loaded PEM differs from the input")
			}
			if len(l.TLS.Certificate) != tc.wantChain || !bytes.Equal(l.TLS.Certificate[0], orig.Cert.Raw) || l.TLS.Leaf != l.Cert {
				t.Fatalf("TLS chain has %d certificates, want %d starting with the leaf", len(l.TLS.Certificate), tc.wantChain)
			}
			if tc.wantChain == 2 && !bytes.Equal(l.TLS.Certificate[1], ca.Certificate().Raw) {
				t.Fatal("second chain entry is not the CA")
			}
			if l.TLS.PrivateKey == nil {
				t.Fatal("no private key in the TLS certificate")
			}
			if err := verify(l, ca.Pool(), t0, x509.ExtKeyUsageClientAuth); err != nil {
				t.Fatalf("loaded leaf does not verify: %v", err)
			}
		})
	}
}

func TestLoadLeafErrors(t *testing.T) {
	ca := newTestCA(t, "ca")
	a := issueClient(t, ca, fixedWindow(LeafOptions{CommonName: "a"}))
	b := issueClient(t, ca, fixedWindow(LeafOptions{CommonName: "b"}))
	tests := []struct {
		name    string
		certPEM []byte
		keyPEM  []byte
		want    error
	}{
		{"another leaf's key", a.CertPEM, b.KeyPEM, ErrKeyMismatch},
		{"CA's key", a.CertPEM, ca.KeyPEM(), ErrKeyMismatch},
		{"no certificate", nil, a.KeyPEM, ErrNoCertificate},
		{"no key", a.CertPEM, nil, ErrNoPrivateKey},
		{"key only text", a.CertPEM, []byte("-----BEGIN nothing"), ErrNoPrivateKey},
		{"two keys", a.CertPEM, append(bytes.Clone(a.KeyPEM), a.KeyPEM...), ErrMalformed},
		{"key in certificate file", append(bytes.Clone(a.CertPEM), a.KeyPEM...), a.KeyPEM, ErrMalformed},
		{"certificate as key", a.CertPEM, a.CertPEM, ErrMalformed},
		{"corrupt key", a.CertPEM, pemOf("PRIVATE KEY", []byte("junk")), ErrMalformed},
		{"corrupt certificate", pemOf("CERTIFICATE", []byte("junk")), a.KeyPEM, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := LoadLeaf(tc.certPEM, tc.keyPEM)
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoadLeaf error = %v, want %v", err, tc.want)
			}
			if l != nil {
				t.Fatal("leaf returned with an error")
			}
			assertNoSecret(t, err.Error(), a.KeyPEM, b.KeyPEM, ca.KeyPEM())
		})
	}
}

func TestLoadPool(t *testing.T) {
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	third := newTestCA(t, "third")
	leafCA := issueClient(t, ca, fixedWindow(LeafOptions{}))
	leafOther := issueClient(t, other, fixedWindow(LeafOptions{}))
	leafThird := issueClient(t, third, fixedWindow(LeafOptions{}))

	bundle := append(append(append([]byte("# ca\n"), ca.CertPEM()...), "# other\n"...), other.CertPEM()...)
	tests := []struct {
		name   string
		input  []byte
		trusts []*Leaf
		denies []*Leaf
	}{
		{"one CA", ca.CertPEM(), []*Leaf{leafCA}, []*Leaf{leafOther, leafThird}},
		{"bundle with comments", bundle, []*Leaf{leafCA, leafOther}, []*Leaf{leafThird}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadPool(tc.input)
			if err != nil {
				t.Fatalf("LoadPool: %v", err)
			}
			for _, l := range tc.trusts {
				if err := verify(l, p, t0, x509.ExtKeyUsageClientAuth); err != nil {
					t.Errorf("leaf of a pooled CA: %v", err)
				}
			}
			for _, l := range tc.denies {
				assertOutcome(t, verify(l, p, t0, x509.ExtKeyUsageClientAuth), unknownAuthority)
			}
		})
	}

	errTests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, ErrNoCertificate},
		{"text only", []byte("no certificates here\n"), ErrNoCertificate},
		{"private key block", append(ca.CertPEM(), ca.KeyPEM()...), ErrMalformed},
		{"corrupt certificate", append(ca.CertPEM(), pemOf("CERTIFICATE", []byte{1, 2, 3})...), ErrMalformed},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadPool(tc.input)
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoadPool error = %v, want %v", err, tc.want)
			}
			if p != nil {
				t.Fatal("pool returned with an error")
			}
			assertNoSecret(t, err.Error(), ca.KeyPEM())
		})
	}
}
