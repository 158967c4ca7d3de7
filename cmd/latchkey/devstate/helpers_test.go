package devstate

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/pki"
)

// t0 is the fixed "now" of the first Ensure in every test.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

func freshState(t *testing.T) State {
	t.Helper()
	s, err := Ensure(filepath.Join(t.TempDir(), "state"), t0)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return s
}

type fileSnap struct {
	data []byte
	info fs.FileInfo
}

// snapshot records content and identity of every file Ensure may write, so a
// later comparison catches a rewrite even when the bytes come out the same.
func snapshot(t *testing.T, s State) map[string]fileSnap {
	t.Helper()
	m := map[string]fileSnap{}
	for _, p := range s.writtenFiles() {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		m[p] = fileSnap{data: data, info: info}
	}
	return m
}

func assertUnchanged(t *testing.T, before, after map[string]fileSnap, paths ...string) {
	t.Helper()
	for _, p := range paths {
		b, a := before[p], after[p]
		if !bytes.Equal(b.data, a.data) || !os.SameFile(b.info, a.info) {
			t.Errorf("%s was rewritten", filepath.Base(p))
		}
	}
}

func assertChanged(t *testing.T, before, after map[string]fileSnap, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if bytes.Equal(before[p].data, after[p].data) {
			t.Errorf("%s was not rewritten", filepath.Base(p))
		}
	}
}

func loadCA(t *testing.T, s State) *pki.CA {
	t.Helper()
	ca, err := pki.LoadCA(mustRead(t, s.CAFile), mustRead(t, s.CAKeyFile))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	return ca
}

func loadLeaf(t *testing.T, certFile, keyFile string) *pki.Leaf {
	t.Helper()
	l, err := pki.LoadLeaf(mustRead(t, certFile), mustRead(t, keyFile))
	if err != nil {
		t.Fatalf("LoadLeaf(%s): %v", filepath.Base(certFile), err)
	}
	return l
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// leafCase is what a test expects of one of the three leaves.
type leafCase struct {
	name, certFile, keyFile string
	usage, wrongUsage       x509.ExtKeyUsage
	cn                      string
	dns                     []string
	ips                     []string
	uris                    []string
}

func leafCases(s State) []leafCase {
	return []leafCase{
		{"server", s.ServerCertFile, s.ServerKeyFile, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth,
			"latchkey-dev-server", []string{"localhost"}, []string{"127.0.0.1", "::1"}, nil},
		{"admin", s.AdminCertFile, s.AdminKeyFile, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth,
			"latchkey-dev-admin", nil, nil, []string{AdminIdentity}},
		{"workload", s.WorkloadCertFile, s.WorkloadKeyFile, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth,
			"latchkey-dev-workload", nil, nil, []string{WorkloadIdentity}},
	}
}

// assertLeaf checks that the leaf on disk chains to ca.pem at now for its
// usage only, carries exactly its names and ends at notAfter.
func assertLeaf(t *testing.T, s State, lc leafCase, now, notAfter time.Time) {
	t.Helper()
	roots, err := pki.LoadPool(mustRead(t, s.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	l := loadLeaf(t, lc.certFile, lc.keyFile)
	c := l.Cert
	opts := func(u x509.ExtKeyUsage) x509.VerifyOptions {
		return x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{u}}
	}
	if _, err := c.Verify(opts(lc.usage)); err != nil {
		t.Errorf("%s does not chain to ca.pem: %v", lc.name, err)
	}
	var inv x509.CertificateInvalidError
	if _, err := c.Verify(opts(lc.wrongUsage)); !errors.As(err, &inv) || inv.Reason != x509.IncompatibleUsage {
		t.Errorf("%s verified for the wrong usage: %v", lc.name, err)
	}
	if c.Subject.CommonName != lc.cn {
		t.Errorf("%s CN = %q, want %q", lc.name, c.Subject.CommonName, lc.cn)
	}
	if !slices.Equal(c.DNSNames, lc.dns) {
		t.Errorf("%s DNS = %v, want %v", lc.name, c.DNSNames, lc.dns)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, lc.ips) {
		t.Errorf("%s IPs = %v, want %v", lc.name, ips, lc.ips)
	}
	var uris []string
	for _, u := range c.URIs {
		uris = append(uris, u.String())
	}
	if !slices.Equal(uris, lc.uris) {
		t.Errorf("%s URIs = %v, want %v", lc.name, uris, lc.uris)
	}
	if !c.NotAfter.Equal(notAfter) {
		t.Errorf("%s NotAfter = %v, want %v", lc.name, c.NotAfter, notAfter)
	}
	if want := now.Add(-time.Minute); !c.NotBefore.Equal(want) {
		t.Errorf("%s NotBefore = %v, want %v", lc.name, c.NotBefore, want)
	}
}
