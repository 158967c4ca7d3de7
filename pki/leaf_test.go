package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func TestIssuedLeafVerification(t *testing.T) {
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	nb, na := t0.Add(-time.Minute), t0.Add(time.Hour)
	window := LeafOptions{NotBefore: nb, NotAfter: na}
	withEKU := func(eku ...x509.ExtKeyUsage) LeafOptions {
		o := window
		o.ExtKeyUsage = eku
		return o
	}
	server := func(c *CA, o LeafOptions) func(*testing.T) *Leaf {
		return func(t *testing.T) *Leaf { return issueServer(t, c, o) }
	}
	client := func(c *CA, o LeafOptions) func(*testing.T) *Leaf {
		return func(t *testing.T) *Leaf { return issueClient(t, c, o) }
	}
	tests := []struct {
		name  string
		issue func(*testing.T) *Leaf
		at    time.Time
		usage x509.ExtKeyUsage
		want  verifyOutcome
	}{
		{"server leaf for serverAuth", server(ca, window), t0, x509.ExtKeyUsageServerAuth, verifies},
		{"server leaf for clientAuth", server(ca, window), t0, x509.ExtKeyUsageClientAuth, wrongUsage},
		{"client leaf for clientAuth", client(ca, window), t0, x509.ExtKeyUsageClientAuth, verifies},
		{"client leaf for serverAuth", client(ca, window), t0, x509.ExtKeyUsageServerAuth, wrongUsage},
		{"client leaf with serverAuth only", client(ca, withEKU(x509.ExtKeyUsageServerAuth)), t0, x509.ExtKeyUsageClientAuth, wrongUsage},
		{"leaf with both usages as client", server(ca, withEKU(x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)), t0, x509.ExtKeyUsageClientAuth, verifies},
		// Go accepts a leaf without an EKU extension for any usage.
		{"leaf without EKU as client", client(ca, withEKU()), t0, x509.ExtKeyUsageClientAuth, verifies},
		{"other CA's leaf", client(other, window), t0, x509.ExtKeyUsageClientAuth, unknownAuthority},
		{"one second before not before", client(ca, window), nb.Add(-time.Second), x509.ExtKeyUsageClientAuth, expired},
		{"at not before", client(ca, window), nb, x509.ExtKeyUsageClientAuth, verifies},
		{"at not after", client(ca, window), na, x509.ExtKeyUsageClientAuth, verifies},
		{"one second after not after", client(ca, window), na.Add(time.Second), x509.ExtKeyUsageClientAuth, expired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.issue(t)
			assertOutcome(t, verify(l, ca.Pool(), tc.at, tc.usage), tc.want)
		})
	}
}

func TestIssuedLeafContents(t *testing.T) {
	ca := newTestCA(t, "ca")
	opts := LeafOptions{
		CommonName: "demo",
		DNSNames:   []string{"localhost", "demo.internal"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		URIs:       []string{"spiffe://dev.latchkey.local/workload/demo"},
		NotBefore:  t0.Add(-2 * time.Minute),
		NotAfter:   t0.Add(90 * time.Minute),
	}
	tests := []struct {
		name  string
		issue func(LeafOptions) (*Leaf, error)
		eku   x509.ExtKeyUsage
	}{
		{"server", ca.IssueServer, x509.ExtKeyUsageServerAuth},
		{"client", ca.IssueClient, x509.ExtKeyUsageClientAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.issue(opts)
			if err != nil {
				t.Fatal(err)
			}
			c := l.Cert
			if c.Subject.CommonName != "demo" {
				t.Errorf("CN = %q", c.Subject.CommonName)
			}
			if !slices.Equal(c.DNSNames, opts.DNSNames) {
				t.Errorf("DNSNames = %v, want %v", c.DNSNames, opts.DNSNames)
			}
			if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(opts.IPs[0]) || !c.IPAddresses[1].Equal(opts.IPs[1]) {
				t.Errorf("IPAddresses = %v, want %v", c.IPAddresses, opts.IPs)
			}
			if len(c.URIs) != 1 || c.URIs[0].String() != opts.URIs[0] {
				t.Errorf("URIs = %v, want %v", c.URIs, opts.URIs)
			}
			if !c.NotBefore.Equal(opts.NotBefore) || !c.NotAfter.Equal(opts.NotAfter) {
				t.Errorf("validity %v..%v, want %v..%v", c.NotBefore, c.NotAfter, opts.NotBefore, opts.NotAfter)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %v, want DigitalSignature", c.KeyUsage)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{tc.eku}) {
				t.Errorf("ExtKeyUsage = %v, want [%v]", c.ExtKeyUsage, tc.eku)
			}
			if c.IsCA || c.BasicConstraintsValid {
				t.Errorf("leaf has basic constraints IsCA=%v valid=%v", c.IsCA, c.BasicConstraintsValid)
			}
			if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Errorf("SignatureAlgorithm = %v", c.SignatureAlgorithm)
			}
			if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
			}
			if !bytes.Equal(c.RawIssuer, ca.Certificate().RawSubject) {
				t.Error("issuer is not the CA's subject")
			}
			if err := c.CheckSignatureFrom(ca.Certificate()); err != nil {
				t.Errorf("signature: %v", err)
			}
			assertPKCS8P256(t, l.KeyPEM)
			assertSingleCert(t, l.CertPEM, c)
			if len(l.TLS.Certificate) != 1 || !bytes.Equal(l.TLS.Certificate[0], c.Raw) || l.TLS.Leaf != c {
				t.Error("TLS certificate does not carry the leaf")
			}
			if err := matchKey(c, l.TLS.PrivateKey.(*ecdsa.PrivateKey)); err != nil {
				t.Errorf("TLS private key: %v", err)
			}
		})
	}
}

func TestIssueOptions(t *testing.T) {
	ca := newTestCA(t, "ca")
	tests := []struct {
		name  string
		opts  LeafOptions
		check func(*testing.T, *x509.Certificate)
	}{
		{"no EKU", LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{}}, func(t *testing.T, c *x509.Certificate) {
			if len(c.ExtKeyUsage) != 0 || len(c.UnknownExtKeyUsage) != 0 {
				t.Errorf("ExtKeyUsage = %v, want none", c.ExtKeyUsage)
			}
		}},
		{"leaf claiming CA", LeafOptions{IsCA: true}, func(t *testing.T, c *x509.Certificate) {
			if !c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA=%v valid=%v, want a CA claim", c.IsCA, c.BasicConstraintsValid)
			}
		}},
		{"keyCertSign", LeafOptions{KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}, func(t *testing.T, c *x509.Certificate) {
			if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign {
				t.Errorf("KeyUsage = %v", c.KeyUsage)
			}
		}},
		{"two URI SANs", LeafOptions{URIs: []string{"spiffe://a.test/x", "spiffe://b.test/y"}}, func(t *testing.T, c *x509.Certificate) {
			if len(c.URIs) != 2 || c.URIs[0].String() != "spiffe://a.test/x" || c.URIs[1].String() != "spiffe://b.test/y" {
				t.Errorf("URIs = %v", c.URIs)
			}
		}},
		{"no names", LeafOptions{}, func(t *testing.T, c *x509.Certificate) {
			if c.Subject.CommonName != "" || len(c.DNSNames)+len(c.IPAddresses)+len(c.URIs) != 0 {
				t.Errorf("leaf has names: CN=%q DNS=%v IP=%v URI=%v", c.Subject.CommonName, c.DNSNames, c.IPAddresses, c.URIs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, issueClient(t, ca, fixedWindow(tc.opts)).Cert)
		})
	}
}

func TestIssueDefaultValidity(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("ca", now.Add(-time.Hour), now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Truncate(time.Second)
	l := issueServer(t, ca, LeafOptions{})
	after := time.Now()
	c := l.Cert
	// Certificates carry whole seconds, so the bounds are widened by one.
	if lo, hi := before.Add(-time.Minute-time.Second), after.Add(-time.Minute); c.NotBefore.Before(lo) || c.NotBefore.After(hi) {
		t.Errorf("NotBefore = %v, want within [%v, %v]", c.NotBefore, lo, hi)
	}
	if lo, hi := before.Add(24*time.Hour-time.Second), after.Add(24*time.Hour); c.NotAfter.Before(lo) || c.NotAfter.After(hi) {
		t.Errorf("NotAfter = %v, want within [%v, %v]", c.NotAfter, lo, hi)
	}

	t.Run("only not after given", func(t *testing.T) {
		na := now.Add(time.Hour).Truncate(time.Second)
		l := issueServer(t, ca, LeafOptions{NotAfter: na})
		if !l.Cert.NotAfter.Equal(na) || !l.Cert.NotBefore.Before(now) {
			t.Errorf("validity %v..%v, want ..%v starting before now", l.Cert.NotBefore, l.Cert.NotAfter, na)
		}
	})
}

func TestIssueErrors(t *testing.T) {
	ca := newTestCA(t, "ca")
	tests := []struct {
		name string
		opts LeafOptions
		want error
	}{
		{"URI without scheme", LeafOptions{URIs: []string{"dev.latchkey.local/workload"}}, ErrInvalidURI},
		{"URI with bad escape", LeafOptions{URIs: []string{"spiffe://dev/%zz"}}, ErrInvalidURI},
		{"URI with space in host", LeafOptions{URIs: []string{"spiffe://dev latchkey/x"}}, ErrInvalidURI},
		{"non-ASCII URI", LeafOptions{URIs: []string{"spiffe://dev/caf\u00e9"}}, ErrInvalidURI},
		{"empty URI", LeafOptions{URIs: []string{""}}, ErrInvalidURI},
		{"inverted window", LeafOptions{NotBefore: t0, NotAfter: t0.Add(-time.Second)}, ErrInvalidValidity},
		{"empty window", LeafOptions{NotBefore: t0, NotAfter: t0}, ErrInvalidValidity},
		{"not before after the default not after", LeafOptions{NotBefore: time.Now().Add(48 * time.Hour)}, ErrInvalidValidity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, issue := range []func(LeafOptions) (*Leaf, error){ca.IssueServer, ca.IssueClient} {
				l, err := issue(tc.opts)
				if !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want %v", err, tc.want)
				}
				if l != nil {
					t.Fatal("leaf returned with an error")
				}
			}
		})
	}
}
