package issuer

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeClaimsReference is the map-based decoding that wireClaims'
// UnmarshalJSON replaced, kept as the reference it must agree with on
// every payload the strict check accepts.
func decodeClaimsReference(data []byte) (wireClaims, error) {
	var c wireClaims
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return c, errClaimPayload
	}
	var err error
	for name, raw := range members {
		switch name {
		case "iss":
			c.present |= hasIss
			c.Issuer, err = jsonString(raw)
		case "sub":
			c.present |= hasSub
			c.Subject, err = jsonString(raw)
		case "aud":
			c.present |= hasAud
			c.Audience, err = audienceReference(raw)
		case "exp":
			c.present |= hasExp
			c.ExpiresAt, err = numericDate(raw)
		case "nbf":
			c.present |= hasNbf
			c.NotBefore, err = numericDate(raw)
		case "iat":
			c.present |= hasIat
			c.IssuedAt, err = numericDate(raw)
		case "jti":
			c.present |= hasJTI
			c.JTI, err = jsonString(raw)
		case "scope":
			c.present |= hasScope
			c.Scope, err = jsonString(raw)
		case "client_id":
			c.present |= hasClientID
			c.ClientID, err = jsonString(raw)
		case "cnf":
			c.present |= hasCnf
			var m map[string]json.RawMessage
			if raw[0] != '{' || json.Unmarshal(raw, &m) != nil || len(m) != 1 {
				return c, errClaimCnf
			}
			v, ok := m["x5t#S256"]
			if !ok {
				return c, errClaimCnf
			}
			if c.Cnf.X5TS256, err = jsonString(v); err != nil {
				err = errClaimCnf
			}
		default:
			c.present |= hasUnknown
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// audienceReference is the decoder-based reading of aud that the scanner's
// element walk replaced.
func audienceReference(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := jsonString(raw)
		return []string{s}, err
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errClaimAud
	}
	var members []json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, errClaimAud
	}
	out := make([]string, 0, len(members))
	for _, m := range members {
		s, err := jsonString(m)
		if err != nil {
			return nil, errClaimAud
		}
		out = append(out, s)
	}
	return out, nil
}

var claimsSeeds = []string{
	`{"iss":"https://latchkey.test","sub":"orders-team","aud":["orders-api"],"exp":1764229200,"nbf":1764228600,"iat":1764228600,"jti":"kX2v_7pQ","scope":"a b","client_id":"9f8e","cnf":{"x5t#S256":"abc"}}`,
	`{"iss":"x","aud":"single","exp":1}`, `{"\u0069ss":"escaped name","sub":"caf\u00e9 \"q\""}`,
	`{"aud":[]}`, `{"aud":["a",1]}`, `{"aud":null}`, `{"exp":-1}`, `{"exp":1.5}`, `{"exp":"1"}`, `{"exp":253402300800}`,
	`{"iss":null}`, `{"iss":1}`, `{"cnf":{}}`, `{"cnf":{"x5t#S256":1}}`, `{"cnf":{"other":"a"}}`, `{"cnf":{"x5t#S256":"a","b":"c"}}`,
	`{"cnf":[]}`, `{"unknown":{"deep":[1,{"x":null}]}}`, `{}`, `[]`, `null`, `{"iss":"a\u0000b"}`, `{"sub":"\ud800"}`,
	` { "iss" : "spaced" , "exp" : 5 } `,
	`{"aud":["a","b"]}`, `{"aud":[ "a" , "b" ]}`, `{"aud":[["a"]]}`, `{"aud":["caf\u00e9","\"q\""]}`,
	`{"aud":[{"x":1}]}`, `{"aud":[null]}`, `{"aud":["a",null]}`, `{"aud":[""]}`, `{"aud":"\ud800"}`,
}

func TestClaimsDecodingMatchesReference(t *testing.T) {
	for _, in := range claimsSeeds {
		compareClaimsDecoding(t, []byte(in))
	}
}

func FuzzClaimsDecoding(f *testing.F) {
	for _, in := range claimsSeeds {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { compareClaimsDecoding(t, in) })
}

func compareClaimsDecoding(t *testing.T, in []byte) {
	t.Helper()
	var got wireClaims
	gotErr := got.UnmarshalJSON(in)
	if checkStrictObject(in) != nil {
		if gotErr == nil {
			t.Fatalf("%q fails the strict check but decodes", in)
		}
		return
	}
	want, wantErr := decodeClaimsReference(in)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: decoded with error %v, reference %v", in, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
	}
}
