package devstate

import (
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/latchkeyhq/latchkey/pki"
)

const (
	caName = "latchkey-dev-ca"

	caYears   = 10
	leafYears = 1

	// renewBefore is how close to expiry a leaf is re-issued: a week leaves
	// room for a dev server left running over a holiday.
	renewBefore = 7 * 24 * time.Hour

	// backdate absorbs clock differences between the processes that use the
	// certificates.
	backdate = time.Minute
)

// leafSpec is one leaf Ensure keeps current, described by exactly what it
// would issue.
type leafSpec struct {
	certFile, keyFile string
	server            bool
	opts              pki.LeafOptions
}

func (s State) leaves() []leafSpec {
	return []leafSpec{
		{
			certFile: s.ServerCertFile, keyFile: s.ServerKeyFile, server: true,
			opts: pki.LeafOptions{
				CommonName: "latchkey-dev-server",
				DNSNames:   []string{"localhost"},
				IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			},
		},
		{
			certFile: s.AdminCertFile, keyFile: s.AdminKeyFile,
			opts: pki.LeafOptions{CommonName: "latchkey-dev-admin", URIs: []string{AdminIdentity}},
		},
		{
			certFile: s.WorkloadCertFile, keyFile: s.WorkloadKeyFile,
			opts: pki.LeafOptions{CommonName: "latchkey-dev-workload", URIs: []string{WorkloadIdentity}},
		},
	}
}

func (l leafSpec) usage() x509.ExtKeyUsage {
	if l.server {
		return x509.ExtKeyUsageServerAuth
	}
	return x509.ExtKeyUsageClientAuth
}

// ensureCA loads the dev CA, or creates one if either of its files is
// missing: without both halves it cannot sign, and leaves signed by an old CA
// are re-issued because they no longer chain.
func ensureCA(s State, now time.Time) (*pki.CA, error) {
	certPEM, certFound, err := readOptional(s.CAFile)
	if err != nil {
		return nil, err
	}
	keyPEM, keyFound, err := readOptional(s.CAKeyFile)
	if err != nil {
		return nil, err
	}
	if !certFound || !keyFound {
		return createCA(s, now)
	}
	ca, err := pki.LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("devstate: load dev CA from %s and %s (remove both to create a new CA): %w",
			s.CAFile, s.CAKeyFile, err)
	}
	c := ca.Certificate()
	if now.Before(c.NotBefore) || c.NotAfter.Sub(now) <= renewBefore {
		return nil, fmt.Errorf("%w: %s is valid from %s to %s; remove %s and %s to create a new CA",
			ErrCAExpiring, s.CAFile, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339),
			s.CAFile, s.CAKeyFile)
	}
	return ca, nil
}

func createCA(s State, now time.Time) (*pki.CA, error) {
	ca, err := pki.NewCA(caName, now.Add(-backdate), now.AddDate(caYears, 0, 0))
	if err != nil {
		return nil, fmt.Errorf("devstate: create dev CA: %w", err)
	}
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which the next run replaces.
	if err := writeAtomic(s.CAKeyFile, ca.KeyPEM(), privateMode); err != nil {
		return nil, err
	}
	if err := writeAtomic(s.CAFile, ca.CertPEM(), publicMode); err != nil {
		return nil, err
	}
	return ca, nil
}

// ensureLeaf re-issues the leaf unless its files hold a matching pair that
// chains to ca for the right usage, names what l names, and stays valid for
// more than renewBefore.
func ensureLeaf(ca *pki.CA, l leafSpec, now time.Time) error {
	ok, err := leafUsable(ca, l, now)
	if err != nil || ok {
		return err
	}
	o := l.opts
	o.NotBefore = now.Add(-backdate)
	o.NotAfter = now.AddDate(leafYears, 0, 0)
	if caEnd := ca.Certificate().NotAfter; o.NotAfter.After(caEnd) {
		o.NotAfter = caEnd
	}
	issue := ca.IssueClient
	if l.server {
		issue = ca.IssueServer
	}
	leaf, err := issue(o)
	if err != nil {
		return fmt.Errorf("devstate: issue %s: %w", l.certFile, err)
	}
	// Key first: after a crash between the writes the old certificate no
	// longer matches its key, so the next run re-issues the pair.
	if err := writeAtomic(l.keyFile, leaf.KeyPEM, privateMode); err != nil {
		return err
	}
	return writeAtomic(l.certFile, leaf.CertPEM, publicMode)
}

// leafUsable returns an error only for I/O failures; anything wrong with the
// content means "re-issue".
func leafUsable(ca *pki.CA, l leafSpec, now time.Time) (bool, error) {
	certPEM, certFound, err := readOptional(l.certFile)
	if err != nil {
		return false, err
	}
	keyPEM, keyFound, err := readOptional(l.keyFile)
	if err != nil {
		return false, err
	}
	if !certFound || !keyFound {
		return false, nil
	}
	leaf, err := pki.LoadLeaf(certPEM, keyPEM)
	if err != nil {
		return false, nil
	}
	c := leaf.Cert
	if _, err := c.Verify(x509.VerifyOptions{
		Roots:       ca.Pool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{l.usage()},
	}); err != nil {
		return false, nil
	}
	if c.NotAfter.Sub(now) <= renewBefore {
		return false, nil
	}
	return namesMatch(c, l.opts), nil
}

func namesMatch(c *x509.Certificate, o pki.LeafOptions) bool {
	if c.Subject.CommonName != o.CommonName || !slices.Equal(c.DNSNames, o.DNSNames) {
		return false
	}
	if !slices.EqualFunc(c.IPAddresses, o.IPs, net.IP.Equal) {
		return false
	}
	uris := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		uris[i] = u.String()
	}
	return slices.Equal(uris, o.URIs)
}
