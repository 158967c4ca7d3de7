package pki

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// t0 is the fixed "now" of every test that does not exercise the defaults.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

func newTestCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, t0.Add(-time.Hour), t0.Add(48*time.Hour))
	if err != nil {
		t.Fatalf("NewCA(%q): %v", name, err)
	}
	return ca
}

func issueServer(t *testing.T, ca *CA, o LeafOptions) *Leaf {
	t.Helper()
	l, err := ca.IssueServer(o)
	if err != nil {
		t.Fatalf("IssueServer: %v", err)
	}
	return l
}

func issueClient(t *testing.T, ca *CA, o LeafOptions) *Leaf {
	t.Helper()
	l, err := ca.IssueClient(o)
	if err != nil {
		t.Fatalf("IssueClient: %v", err)
	}
	return l
}

// fixedWindow is a leaf validity around t0.
func fixedWindow(o LeafOptions) LeafOptions {
	o.NotBefore = t0.Add(-time.Minute)
	o.NotAfter = t0.Add(time.Hour)
	return o
}

func verify(l *Leaf, roots *x509.CertPool, at time.Time, eku x509.ExtKeyUsage) error {
	_, err := l.Cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{eku},
	})
	return err
}

// Each verifyOutcome names the exact x509 failure a case expects.
type verifyOutcome int

const (
	verifies verifyOutcome = iota
	wrongUsage
	expired
	unknownAuthority
)

func (o verifyOutcome) String() string {
	return [...]string{"verifies", "incompatible usage", "expired", "unknown authority"}[o]
}

func classify(err error) (verifyOutcome, bool) {
	if err == nil {
		return verifies, true
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.IncompatibleUsage:
			return wrongUsage, true
		case x509.Expired:
			return expired, true
		}
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return unknownAuthority, true
	}
	return 0, false
}

func assertOutcome(t *testing.T, err error, want verifyOutcome) {
	t.Helper()
	got, ok := classify(err)
	if !ok {
		t.Fatalf("error %v is none of the expected kinds, want %v", err, want)
	}
	if got != want {
		t.Fatalf("outcome = %v (err %v), want %v", got, err, want)
	}
}
