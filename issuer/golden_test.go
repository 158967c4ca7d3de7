package issuer

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// The golden files pin the wire format of a minted token: any change to the
// header or claims, to their names or JSON types, or to how a kid is derived
// shows up as a diff.
func TestGoldenTokens(t *testing.T) {
	keys := []struct {
		file string
		key  *SigningKey
	}{
		{"eddsa.json", fixedKey("golden")},
		{"es256.json", fixedECKey(t, "golden")},
		{"rs256.json", fixedRSAKey(t)},
	}
	for _, tc := range keys {
		t.Run(tc.key.Alg(), func(t *testing.T) {
			iss := newTestIssuer(t, testConfig(), tc.key)
			iss.rand = &countingReader{}
			g := testGrant()
			g.Audiences = []string{"svc", "billing"}
			tok, err := iss.Mint(g)
			if err != nil {
				t.Fatal(err)
			}
			segs := strings.Split(tok.Raw, ".")
			header, claims := decodeOrdered(t, segs[0]), decodeOrdered(t, segs[1])
			checkShape(t, tc.key, header, claims)

			got, err := json.MarshalIndent(map[string]any{"header": header, "claims": claims}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./issuer -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from the minted token:\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

// decodeOrdered decodes a segment keeping numbers as written; encoding/json
// re-emits map keys sorted, which gives the files a stable order.
func decodeOrdered(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := b64url.Strict().DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func checkShape(t *testing.T, k *SigningKey, header, claims map[string]any) {
	t.Helper()
	keys := func(m map[string]any) []string {
		var out []string
		for name := range m {
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	if got, want := keys(header), []string{"alg", "kid", "typ"}; !slices.Equal(got, want) {
		t.Fatalf("header members %v, want %v", got, want)
	}
	if header["alg"] != k.Alg() || header["typ"] != "at+jwt" || header["kid"] != k.KID() {
		t.Fatalf("header %v", header)
	}
	want := []string{"aud", "client_id", "cnf", "exp", "iat", "iss", "jti", "nbf", "scope", "sub"}
	if got := keys(claims); !slices.Equal(got, want) {
		t.Fatalf("claims %v, want %v", got, want)
	}
	if _, ok := claims["aud"].([]any); !ok {
		t.Fatalf("aud is %T, want an array", claims["aud"])
	}
	cnf, ok := claims["cnf"].(map[string]any)
	if !ok || len(cnf) != 1 || cnf["x5t#S256"] != testThumbprint {
		t.Fatalf("cnf %v", claims["cnf"])
	}
	for _, name := range []string{"exp", "iat", "nbf"} {
		if _, ok := claims[name].(json.Number); !ok {
			t.Fatalf("%s is %T, want a number", name, claims[name])
		}
	}
}
