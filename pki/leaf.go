package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Default validity for a leaf whose options leave it unset. The minute of
// backdating absorbs small clock differences between the two ends of a test.
const (
	defaultBackdate = time.Minute
	defaultLifetime = 24 * time.Hour
)

// LeafOptions describes a leaf certificate. The zero value is a valid request
// for a leaf with no names, valid for a day.
type LeafOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// URIs are URI SANs such as "spiffe://dev.latchkey.local/workload/demo".
	// Each must parse as an absolute ASCII URI.
	URIs []string
	// NotBefore and NotAfter default, each on its own, to one minute before
	// and 24 hours after the time of issue.
	NotBefore, NotAfter time.Time
	// ExtKeyUsage nil means the usage of the issuing method (serverAuth or
	// clientAuth); an empty non-nil slice means the certificate carries no
	// EKU extension at all.
	ExtKeyUsage []x509.ExtKeyUsage
	// KeyUsage zero means DigitalSignature, the only usage a TLS leaf with an
	// ECDSA key needs. Tests set it to mint leaves that wrongly claim
	// keyCertSign or cRLSign.
	KeyUsage x509.KeyUsage
	// IsCA mints a leaf that claims to be a CA, for tests that must reject
	// one.
	IsCA bool
}

// Leaf is an issued or loaded certificate with its private key. KeyPEM and
// TLS.PrivateKey are secret; the String, GoString, Format and LogValue
// methods print neither.
type Leaf struct {
	CertPEM []byte
	KeyPEM  []byte
	Cert    *x509.Certificate
	TLS     tls.Certificate
}

// IssueServer signs a leaf for a TLS server: KeyUsage DigitalSignature and,
// unless o says otherwise, EKU serverAuth.
func (ca *CA) IssueServer(o LeafOptions) (*Leaf, error) {
	return ca.issue(o, x509.ExtKeyUsageServerAuth)
}

// IssueClient signs a leaf for a TLS client: KeyUsage DigitalSignature and,
// unless o says otherwise, EKU clientAuth.
func (ca *CA) IssueClient(o LeafOptions) (*Leaf, error) {
	return ca.issue(o, x509.ExtKeyUsageClientAuth)
}

func (ca *CA) issue(o LeafOptions, kind x509.ExtKeyUsage) (*Leaf, error) {
	now := time.Now()
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = now.Add(-defaultBackdate)
	}
	if notAfter.IsZero() {
		notAfter = now.Add(defaultLifetime)
	}
	if err := checkValidity(notBefore, notAfter); err != nil {
		return nil, err
	}
	uris, err := parseURIs(o.URIs)
	if err != nil {
		return nil, err
	}
	eku := o.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{kind}
	}
	ku := o.KeyUsage
	if ku == 0 {
		ku = x509.KeyUsageDigitalSignature
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: o.IsCA,
		IsCA:                  o.IsCA,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPs,
		URIs:                  uris,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: create leaf certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse leaf certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Leaf{
		CertPEM: encodeCert(der),
		KeyPEM:  keyPEM,
		Cert:    cert,
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}, nil
}

func parseURIs(raw []string) ([]*url.URL, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	uris := make([]*url.URL, 0, len(raw))
	for _, s := range raw {
		if !isASCII(s) {
			return nil, fmt.Errorf("%w: %q is not ASCII", ErrInvalidURI, s)
		}
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidURI, err)
		}
		if u.Scheme == "" {
			return nil, fmt.Errorf("%w: %q has no scheme", ErrInvalidURI, s)
		}
		uris = append(uris, u)
	}
	return uris, nil
}

// isASCII reports whether s fits the IA5String a URI SAN is encoded as.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// LoadLeaf loads a certificate (optionally followed by its intermediates) and
// the private key that belongs to it. Keys may be PKCS#8, SEC 1 or PKCS#1, so
// material from other tools loads too.
func LoadLeaf(certPEM, keyPEM []byte) (*Leaf, error) {
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if err := matchKey(certs[0], key); err != nil {
		return nil, err
	}
	chain := make([][]byte, len(certs))
	for i, c := range certs {
		chain[i] = c.Raw
	}
	return &Leaf{
		CertPEM: bytes.Clone(certPEM),
		KeyPEM:  bytes.Clone(keyPEM),
		Cert:    certs[0],
		TLS:     tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: certs[0]},
	}, nil
}

// LoadPool builds a pool from PEM certificates. Text between blocks is
// ignored, but any non-certificate block is an error, and so is input with no
// certificate at all: an empty pool would silently trust nothing or, in some
// callers, fall back to the system roots.
func LoadPool(pemBytes []byte) (*x509.CertPool, error) {
	certs, err := parseCertificates(pemBytes)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}
