package issuer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

func TestAppendClaimsMatchesEncodingJSON(t *testing.T) {
	cases := map[string]wireClaims{
		"typical": {Issuer: "https://latchkey.example", Subject: "orders-team", Audience: []string{"orders-api"},
			ExpiresAt: 1764229200, NotBefore: 1764228600, IssuedAt: 1764228600, JTI: "kX2v_7pQ",
			Scope: "orders.read orders.write", ClientID: "9f8e7d6c", Cnf: confirmation{X5TS256: "abc-_"}},
		"no scope, two audiences": {Issuer: "i", Subject: "s", Audience: []string{"a", "b"}, JTI: "j", ClientID: "c"},
		"nil audience":            {Issuer: "i"},
		"escapes": {Issuer: "https://x/<&>", Subject: "caf\u00e9 \"q\" \\ \n \u2028", Audience: []string{"\xff"},
			ExpiresAt: -1, NotBefore: 253402300799, JTI: "\x00", Scope: "a", ClientID: "<c>", Cnf: confirmation{X5TS256: "\t"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendClaims([]byte("prefix"), encodeIssuer(c.Issuer), &c); !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("appendClaims:\n got %s\nwant %s", got[len("prefix"):], want)
			}
		})
	}
}

func TestEncodeHeader(t *testing.T) {
	k, err := GenerateSigningKeyAlg(AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(encodeHeader(k))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"alg":"ES256","kid":"` + k.kid + `","typ":"at+jwt"}`; string(raw) != want {
		t.Fatalf("header %s, want %s", raw, want)
	}
}
