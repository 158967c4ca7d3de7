package pki

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestPrintingRedactsKeys(t *testing.T) {
	ca := newTestCA(t, "printed-ca")
	leaf := issueClient(t, ca, fixedWindow(LeafOptions{CommonName: "printed-leaf"}))
	secrets := [][]byte{ca.KeyPEM(), leaf.KeyPEM}

	values := []struct {
		name    string
		v       any
		subject string
	}{
		{"*CA", ca, "CN=printed-ca"},
		{"CA", *ca, "CN=printed-ca"},
		{"*Leaf", leaf, "CN=printed-leaf"},
		{"Leaf", *leaf, "CN=printed-leaf"},
		{"zero Leaf", Leaf{}, ""},
	}
	for _, val := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			t.Run(val.name+" "+verb, func(t *testing.T) {
				out := fmt.Sprintf(verb, val.v)
				if !strings.Contains(out, "[REDACTED]") || !strings.Contains(out, val.subject) {
					t.Fatalf("%s printed %q, want the subject %q and [REDACTED]", verb, out, val.subject)
				}
				assertNoSecret(t, out, secrets...)
			})
		}
		t.Run(val.name+" slog", func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", val.v)
			if !strings.Contains(buf.String(), `"key":"[REDACTED]"`) {
				t.Fatalf("slog wrote %s, want key [REDACTED]", buf.String())
			}
			assertNoSecret(t, buf.String(), secrets...)
		})
	}
}

// assertNoSecret fails if out holds any of the keys in PEM, base64 DER, or the
// private scalar in decimal or hex.
func assertNoSecret(t *testing.T, out string, keyPEMs ...[]byte) {
	t.Helper()
	for _, k := range keyPEMs {
		b, _ := pem.Decode(k)
		if b == nil {
			t.Fatal("test key is not PEM")
		}
		signer, err := parsePrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		d := signer.(*ecdsa.PrivateKey).D
		needles := []string{
			string(k),
			base64.StdEncoding.EncodeToString(b.Bytes)[:40],
			d.String(),
			d.Text(16),
			fmt.Sprintf("%x", b.Bytes[:20]),
		}
		for _, n := range needles {
			if strings.Contains(out, n) {
				t.Fatalf("output leaks key material: %q", out)
			}
		}
	}
}
