package devstate

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/pki"
)

func TestEnsureRenewsExpiringLeaves(t *testing.T) {
	leafEnd := t0.AddDate(1, 0, 0)
	tests := []struct {
		name    string
		now     time.Time
		reissue bool
	}{
		{"a week and a second left", leafEnd.Add(-renewBefore - time.Second), false},
		{"exactly a week left", leafEnd.Add(-renewBefore), true},
		{"a day left", leafEnd.Add(-24 * time.Hour), true},
		{"at expiry", leafEnd, true},
		{"expired a second ago", leafEnd.Add(time.Second), true},
		{"expired a month ago", leafEnd.AddDate(0, 1, 0), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := freshState(t)
			before := snapshot(t, s)
			if _, err := Ensure(s.Dir, tc.now); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			after := snapshot(t, s)
			assertUnchanged(t, before, after, s.CAFile, s.CAKeyFile, s.PepperFile, s.StoreKeyFile, s.PolicyFile)
			leafFiles := []string{s.ServerCertFile, s.ServerKeyFile, s.AdminCertFile, s.AdminKeyFile, s.WorkloadCertFile, s.WorkloadKeyFile}
			if !tc.reissue {
				assertUnchanged(t, before, after, leafFiles...)
				return
			}
			assertChanged(t, before, after, leafFiles...)
			for _, lc := range leafCases(s) {
				assertLeaf(t, s, lc, tc.now, tc.now.AddDate(1, 0, 0))
			}
		})
	}
}

func TestEnsureRepairsLeaves(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, s State)
		reissued []string // leaf names
	}{
		{"server certificate missing", func(t *testing.T, s State) {
			if err := os.Remove(s.ServerCertFile); err != nil {
				t.Fatal(err)
			}
		}, []string{"server"}},
		{"admin key missing", func(t *testing.T, s State) {
			if err := os.Remove(s.AdminKeyFile); err != nil {
				t.Fatal(err)
			}
		}, []string{"admin"}},
		{"workload key belongs to another leaf", func(t *testing.T, s State) {
			mustWrite(t, s.WorkloadKeyFile, mustRead(t, s.AdminKeyFile), 0o600)
		}, []string{"workload"}},
		{"server certificate corrupt", func(t *testing.T, s State) {
			mustWrite(t, s.ServerCertFile, []byte("garbage"), 0o644)
		}, []string{"server"}},
		{"admin pair from another CA", func(t *testing.T, s State) {
			other, err := pki.NewCA("other", t0.Add(-time.Hour), t0.AddDate(5, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			writeLeaf(t, s.AdminCertFile, s.AdminKeyFile)(other.IssueClient(pki.LeafOptions{
				CommonName: "latchkey-dev-admin", URIs: []string{AdminIdentity},
				NotBefore: t0.Add(-time.Minute), NotAfter: t0.AddDate(1, 0, 0),
			}))
		}, []string{"admin"}},
		{"workload pair with another identity", func(t *testing.T, s State) {
			writeLeaf(t, s.WorkloadCertFile, s.WorkloadKeyFile)(loadCA(t, s).IssueClient(pki.LeafOptions{
				CommonName: "latchkey-dev-workload", URIs: []string{"spiffe://dev.latchkey.local/workload/other"},
				NotBefore: t0.Add(-time.Minute), NotAfter: t0.AddDate(1, 0, 0),
			}))
		}, []string{"workload"}},
		{"admin pair without clientAuth", func(t *testing.T, s State) {
			writeLeaf(t, s.AdminCertFile, s.AdminKeyFile)(loadCA(t, s).IssueServer(pki.LeafOptions{
				CommonName: "latchkey-dev-admin", URIs: []string{AdminIdentity},
				NotBefore: t0.Add(-time.Minute), NotAfter: t0.AddDate(1, 0, 0),
			}))
		}, []string{"admin"}},
		{"server pair without the IPv6 loopback", func(t *testing.T, s State) {
			writeLeaf(t, s.ServerCertFile, s.ServerKeyFile)(loadCA(t, s).IssueServer(pki.LeafOptions{
				CommonName: "latchkey-dev-server", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
				NotBefore: t0.Add(-time.Minute), NotAfter: t0.AddDate(1, 0, 0),
			}))
		}, []string{"server"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := freshState(t)
			tc.damage(t, s)
			broken := snapshotPresent(t, s)
			if _, err := Ensure(s.Dir, t0); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			after := snapshot(t, s)
			assertUnchanged(t, broken, after, s.CAFile, s.CAKeyFile, s.PepperFile, s.StoreKeyFile, s.PolicyFile)
			for _, lc := range leafCases(s) {
				if slices.Contains(tc.reissued, lc.name) {
					assertLeaf(t, s, lc, t0, t0.AddDate(1, 0, 0))
					continue
				}
				assertUnchanged(t, broken, after, lc.certFile, lc.keyFile)
			}
		})
	}
}

func TestEnsureReplacesIncompleteCA(t *testing.T) {
	tests := []struct {
		name   string
		remove func(State) string
	}{
		{"CA key missing", func(s State) string { return s.CAKeyFile }},
		{"CA certificate missing", func(s State) string { return s.CAFile }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := freshState(t)
			before := snapshot(t, s)
			if err := os.Remove(tc.remove(s)); err != nil {
				t.Fatal(err)
			}
			now := t0.Add(time.Hour)
			if _, err := Ensure(s.Dir, now); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			after := snapshot(t, s)
			assertChanged(t, before, after, s.CAFile, s.CAKeyFile)
			assertUnchanged(t, before, after, s.PepperFile, s.StoreKeyFile, s.PolicyFile)
			for _, lc := range leafCases(s) {
				assertLeaf(t, s, lc, now, now.AddDate(1, 0, 0))
			}
		})
	}
}

func TestEnsureCAEndOfLife(t *testing.T) {
	caEnd := t0.AddDate(10, 0, 0)

	t.Run("leaves are capped at the CA's end", func(t *testing.T) {
		s := freshState(t)
		now := caEnd.Add(-renewBefore - time.Hour)
		if _, err := Ensure(s.Dir, now); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		for _, lc := range leafCases(s) {
			assertLeaf(t, s, lc, now, caEnd)
		}
	})

	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"a week left", caEnd.Add(-renewBefore), ErrCAExpiring},
		{"expired", caEnd.Add(time.Second), ErrCAExpiring},
		{"not yet valid", t0.Add(-time.Hour), ErrCAExpiring},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := freshState(t)
			before := snapshot(t, s)
			_, err := Ensure(s.Dir, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Ensure error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), s.CAFile) || !strings.Contains(err.Error(), "remove") {
				t.Fatalf("error %q does not say which files to remove", err)
			}
			assertUnchanged(t, before, snapshot(t, s), s.writtenFiles()...)
		})
	}

	t.Run("corrupt CA key", func(t *testing.T) {
		s := freshState(t)
		mustWrite(t, s.CAKeyFile, []byte("not a key"), 0o600)
		_, err := Ensure(s.Dir, t0)
		if !errors.Is(err, pki.ErrNoPrivateKey) || !strings.Contains(err.Error(), s.CAKeyFile) {
			t.Fatalf("Ensure error = %v, want pki.ErrNoPrivateKey naming %s", err, s.CAKeyFile)
		}
		if string(mustRead(t, s.CAKeyFile)) != "not a key" {
			t.Fatal("Ensure replaced a CA key it could not read")
		}
	})
}

func writeLeaf(t *testing.T, certFile, keyFile string) func(*pki.Leaf, error) {
	return func(l *pki.Leaf, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, keyFile, l.KeyPEM, 0o600)
		mustWrite(t, certFile, l.CertPEM, 0o644)
	}
}

// snapshotPresent is snapshot for a folder some of whose files are missing.
func snapshotPresent(t *testing.T, s State) map[string]fileSnap {
	t.Helper()
	m := map[string]fileSnap{}
	for _, p := range s.writtenFiles() {
		info, err := os.Lstat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m[p] = fileSnap{data: mustRead(t, p), info: info}
	}
	return m
}
