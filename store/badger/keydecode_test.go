package badger

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// fullRecord sets every field of a key record, with a history.
func fullRecord() store.KeyRecord {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
	return store.KeyRecord{
		ID: "k-full", Owner: "payments-team", Description: "card authorisation, région Île-de-France",
		CreatedBy:  "spiffe://example.org/admin",
		Labels:     map[string]string{"env": "prod", "tier": "1", "": "empty name"},
		SecretHash: []byte{0, 1, 2, 250, 251, 252, 253, 254, 255}, PreviousSecretHash: []byte("prev-hash-bytes-32-long-enough!!"),
		Scopes: []string{"payments.read", "payments.write"}, Audiences: []string{"payments-api"},
		BoundIdentities: []string{"spiffe://example.org/ns/pay/sa/auth"}, MaxTTL: 15 * time.Minute,
		State: store.KeyStateRevoked, RevocationReason: store.ReasonCompromised,
		CreatedAt: at, ExpiresAt: at.Add(365 * 24 * time.Hour), RevokedAt: at.Add(time.Hour),
		RotationPeriod: 90 * 24 * time.Hour, RateLimit: store.RateLimit{PerSecond: 12.5, Burst: 40},
		LastUsedAt: at.Add(time.Minute), UseCount: 1<<63 + 12345, LastAttestedAt: at.Add(2 * time.Minute),
		RotatedAt: at.Add(3 * time.Minute), GraceDeadline: at.Add(4 * time.Minute),
		DisabledAt: at.Add(5 * time.Minute), DisabledReason: "attestation_overdue", EnabledAt: at.Add(6 * time.Minute),
		RotationFlaggedAt: at.Add(7 * time.Minute),
		History: []store.KeyEvent{
			{At: at, Action: "created", Actor: "spiffe://example.org/admin"},
			{At: at.Add(time.Hour), Action: "revoked", Actor: "janitor", Reason: "key_compromise", Detail: "expiry time 2027-03-04T05:06:07Z reached"},
			{At: at.Add(2 * time.Hour), Action: "note"},
		},
	}
}

// decodeBoth decodes b with the fast path and with encoding/json, as
// decodeKeyWith would with and without history.
func decodeBoth(t testing.TB, b []byte, history bool) (fast keyWire, accepted bool, slow keyWire, slowErr error) {
	t.Helper()
	accepted = decodeKeyWireFast(b, &fast, history)
	if history {
		slowErr = json.Unmarshal(b, &slow)
	} else {
		var lean keyWireNoHistory
		slowErr = json.Unmarshal(b, &lean)
		slow = lean.keyWire
	}
	return fast, accepted, slow, slowErr
}

// What encodeKey writes takes the fast path, and decodes to what
// encoding/json makes of it, with and without history.
func TestKeyWireFastTakesWhatEncodeKeyWrites(t *testing.T) {
	minimal := store.KeyRecord{ID: "k-min", State: store.KeyStateActive}
	empties := fullRecord()
	empties.Labels, empties.Scopes, empties.History = map[string]string{}, []string{}, nil
	negative := fullRecord()
	negative.RateLimit = store.RateLimit{PerSecond: 1e-7, Burst: 1}
	records := []store.KeyRecord{fullRecord(), minimal, empties, negative, legacyRecord()}
	rng := rand.New(rand.NewPCG(7, 9))
	for i := range 200 {
		r := fullRecord()
		r.ID = fmt.Sprintf("k-%d", i)
		r.UseCount = rng.Uint64()
		r.RateLimit.PerSecond = rng.Float64() * 1e6
		r.MaxTTL = time.Duration(rng.Int64N(int64(24 * time.Hour)))
		r.CreatedAt = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
		r.History = r.History[:rng.IntN(len(r.History)+1)]
		records = append(records, r)
	}
	for _, rec := range records {
		b, err := encodeKey(rec)
		if err != nil {
			t.Fatal(err)
		}
		for _, history := range []bool{true, false} {
			fast, ok, slow, err := decodeBoth(t, b, history)
			if err != nil {
				t.Fatalf("%s: encoding/json: %v", rec.ID, err)
			}
			if !ok {
				t.Fatalf("%s (history %v): the fast path declined what encodeKey wrote:\n%s", rec.ID, history, b)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%s (history %v): fast path\n%+v\nencoding/json\n%+v", rec.ID, history, fast, slow)
			}
		}
		got, err := decodeKey(rec.ID, b)
		if err != nil {
			t.Fatal(err)
		}
		if want := rec.Clone(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded\n%+v\nwant\n%+v", rec.ID, got, want)
		}
	}
}

// Input outside the canonical form is left to encoding/json, which decodes
// it or refuses it as before; where the fast path accepts, both agree.
func TestKeyWireFastDeclinesOtherForms(t *testing.T) {
	base := `{"v":2,"id":"k","state":"active"}`
	cases := []struct {
		name, in string
		fast     bool // the fast path takes it
		jsonOK   bool // encoding/json accepts it
	}{
		{"canonical", base, true, true},
		{"leading space", " " + base, false, true},
		{"trailing space", base + " ", false, true},
		{"space inside", `{"v": 2,"id":"k","state":"active"}`, false, true},
		{"trailing data", base + `{}`, false, false},
		{"repeated member", `{"v":2,"id":"k","id":"j","state":"active"}`, false, true},
		{"unknown member", `{"v":2,"id":"k","state":"active","extra":1}`, false, true},
		{"other case", `{"V":2,"id":"k","state":"active"}`, false, true},
		{"escape", `{"v":2,"id":"k\u0041","state":"active"}`, false, true},
		{"escaped quote", `{"v":2,"id":"k","owner":"a\"b","state":"active"}`, false, true},
		{"control character", "{\"v\":2,\"id\":\"k\",\"owner\":\"a\tb\",\"state\":\"active\"}", false, false},
		{"invalid UTF-8", "{\"v\":2,\"id\":\"k\",\"owner\":\"a\xffb\",\"state\":\"active\"}", false, true},
		{"valid UTF-8", `{"v":2,"id":"k","owner":"équipe","state":"active"}`, true, true},
		{"null", `{"v":2,"id":"k","owner":null,"state":"active"}`, false, true},
		{"leading zero", `{"v":02,"id":"k","state":"active"}`, false, false},
		{"negative zero", `{"v":-0,"id":"k","state":"active"}`, true, true},
		{"fraction in an int", `{"v":2.0,"id":"k","state":"active"}`, false, false},
		{"exponent in an int", `{"v":2e0,"id":"k","state":"active"}`, false, false},
		{"int overflow", `{"v":2,"id":"k","state":"active","max_ttl_ns":9223372036854775808}`, false, false},
		{"negative count", `{"v":2,"id":"k","state":"active","use_count":-1}`, false, false},
		{"largest count", `{"v":2,"id":"k","state":"active","use_count":18446744073709551615}`, true, true},
		{"float forms", `{"v":2,"id":"k","state":"active","rate_limit_per_second":-1.5E+3}`, true, true},
		{"float without digits", `{"v":2,"id":"k","state":"active","rate_limit_per_second":1.}`, false, false},
		{"float overflow", `{"v":2,"id":"k","state":"active","rate_limit_per_second":1e400}`, false, false},
		{"bad base64", `{"v":2,"id":"k","state":"active","secret_hash":"*"}`, false, false},
		{"bad time", `{"v":2,"id":"k","state":"active","created_at":"yesterday"}`, false, false},
		{"time as number", `{"v":2,"id":"k","state":"active","created_at":5}`, false, false},
		{"labels repeated", `{"v":2,"id":"k","state":"active","labels":{"a":"1","a":"2"}}`, true, true},
		{"empty collections", `{"v":2,"id":"k","state":"active","labels":{},"scopes":[],"history":[]}`, true, true},
		{"event unknown member", `{"v":2,"id":"k","state":"active","history":[{"action":"x","extra":"y"}]}`, false, true},
		{"event repeated member", `{"v":2,"id":"k","state":"active","history":[{"action":"x","action":"y"}]}`, false, true},
		{"history malformed", `{"v":2,"id":"k","state":"active","history":[{"action":"x"},]}`, false, false},
		{"unterminated", `{"v":2,"id":"k","state":"active"`, false, false},
		{"unterminated string", `{"v":2,"id":"k`, false, false},
		{"empty", ``, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, history := range []bool{true, false} {
				fast, ok, slow, err := decodeBoth(t, []byte(tc.in), history)
				if ok != tc.fast {
					t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
				}
				if (err == nil) != tc.jsonOK {
					t.Fatalf("encoding/json: %v, want accepted %v", err, tc.jsonOK)
				}
				if ok && !reflect.DeepEqual(fast, slow) {
					t.Fatalf("fast path\n%+v\nencoding/json\n%+v", fast, slow)
				}
			}
		})
	}
	// A declined record still decodes, through encoding/json.
	rec, err := decodeKey("k", []byte(`{ "v":2, "id":"k", "owner":"a\u003cb", "state":"active" }`))
	if err != nil || rec.Owner != "a<b" {
		t.Fatalf("decodeKey = %+v, %v; want owner a<b", rec, err)
	}
}

// Whatever the fast path accepts, encoding/json accepts and decodes to the
// same value.
func FuzzKeyWireFastMatchesJSON(f *testing.F) {
	for _, rec := range []store.KeyRecord{fullRecord(), legacyRecord(), {ID: "k", State: store.KeyStateActive}} {
		b, err := encodeKey(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add([]byte(strings.Replace(string(b), `"v":2`, `"v":2,"v":3`, 1)))
	}
	f.Add([]byte(legacyV1))
	f.Add([]byte(`{"v":2,"id":"k","state":"active","labels":{"a":"1","a":"2"},"use_count":0,"rate_limit_per_second":0.5e-3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, history := range []bool{true, false} {
			fast, ok, slow, err := decodeBoth(t, b, history)
			if !ok {
				continue
			}
			if err != nil {
				t.Fatalf("fast path took %q, encoding/json refused it: %v", b, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q (history %v): fast path\n%+v\nencoding/json\n%+v", b, history, fast, slow)
			}
		}
	})
}
