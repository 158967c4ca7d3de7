package store_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func TestKeyStateString(t *testing.T) {
	tests := []struct {
		state store.KeyState
		want  string
	}{
		{store.KeyStateUnspecified, "unspecified"},
		{store.KeyStateActive, "active"},
		{store.KeyStateDisabled, "disabled"},
		{store.KeyStateRevoked, "revoked"},
		{store.KeyStateExpired, "expired"},
		{store.KeyState(9), "KeyState(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.state.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			parsed, err := store.ParseKeyState(tt.want)
			if tt.state > store.KeyStateExpired {
				if !errors.Is(err, store.ErrInvalidArgument) {
					t.Fatalf("ParseKeyState(%q) error = %v, want ErrInvalidArgument", tt.want, err)
				}
				return
			}
			if err != nil || parsed != tt.state {
				t.Fatalf("ParseKeyState(%q) = %v, %v; want %v", tt.want, parsed, err, tt.state)
			}
		})
	}
}

func TestRevocationReasonString(t *testing.T) {
	tests := []struct {
		reason store.RevocationReason
		want   string
	}{
		{store.ReasonUnspecified, "unspecified"},
		{store.ReasonCompromised, "compromised"},
		{store.ReasonLeaked, "leaked"},
		{store.ReasonDecommissioned, "decommissioned"},
		{store.ReasonSuperseded, "superseded"},
		{store.ReasonOther, "other"},
		{store.RevocationReason(200), "RevocationReason(200)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.reason.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			parsed, err := store.ParseRevocationReason(tt.want)
			if tt.reason > store.ReasonOther {
				if !errors.Is(err, store.ErrInvalidArgument) {
					t.Fatalf("ParseRevocationReason(%q) error = %v, want ErrInvalidArgument", tt.want, err)
				}
				return
			}
			if err != nil || parsed != tt.reason {
				t.Fatalf("ParseRevocationReason(%q) = %v, %v; want %v", tt.want, parsed, err, tt.reason)
			}
		})
	}
}

// secretHash is printable ASCII on purpose: if a formatter leaked the raw
// bytes, the test would find them as text.
var (
	secretHash = []byte("SECRET-HASH-BYTES-0123456789abcd")
	prevHash   = []byte("PREVIOUS-HASH-BYTES-0123456789ab")
)

func TestRecordsRedactSecrets(t *testing.T) {
	key := store.KeyRecord{ID: "k1", Owner: "team-a", SecretHash: secretHash, State: store.KeyStateActive,
		PreviousSecretHash: prevHash}
	sign := store.SigningKeyRecord{KID: "s1", Alg: "EdDSA", Private: secretHash}
	// Secrets must not leak in any spelling a formatter might choose.
	var forms []string
	for _, h := range [][]byte{secretHash, prevHash} {
		forms = append(forms, string(h), fmt.Sprintf("%x", h), fmt.Sprint(h), base64.StdEncoding.EncodeToString(h))
	}

	render := map[string]func(v any) string{
		"%v":  func(v any) string { return fmt.Sprintf("%v", v) },
		"%+v": func(v any) string { return fmt.Sprintf("%+v", v) },
		"%#v": func(v any) string { return fmt.Sprintf("%#v", v) },
		"%s":  func(v any) string { return fmt.Sprintf("%s", v) },
		"%x":  func(v any) string { return fmt.Sprintf("%x", v) },
		"%q":  func(v any) string { return fmt.Sprintf("%q", v) },
		"pointer %v": func(v any) string {
			switch r := v.(type) {
			case store.KeyRecord:
				return fmt.Sprintf("%v", &r)
			case store.SigningKeyRecord:
				return fmt.Sprintf("%v", &r)
			}
			return ""
		},
		"slog text": func(v any) string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "rec", v)
			return buf.String()
		},
		"slog json": func(v any) string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "rec", v)
			return buf.String()
		},
	}
	for _, rec := range []any{key, sign} {
		for name, fn := range render {
			t.Run(fmt.Sprintf("%T/%s", rec, name), func(t *testing.T) {
				out := fn(rec)
				if !strings.Contains(out, "[REDACTED]") {
					t.Fatalf("output %q does not mark the secret as redacted", out)
				}
				for _, f := range forms {
					if strings.Contains(out, f) {
						t.Fatalf("output %q contains the secret as %q", out, f)
					}
				}
			})
		}
	}
}

func TestCloneDoesNotAlias(t *testing.T) {
	orig := store.KeyRecord{
		ID:              "k1",
		Labels:          map[string]string{"env": "prod"},
		SecretHash:      []byte{1, 2, 3},
		Scopes:          []string{"read"},
		Audiences:       []string{"svc"},
		BoundIdentities: []string{"spiffe://td/a"},

		PreviousSecretHash: []byte{4, 5},
		History:            []store.KeyEvent{{Action: "created"}},
	}
	c := orig.Clone()
	c.PreviousSecretHash[0] = 9
	c.History[0].Action = "revoked"
	if orig.PreviousSecretHash[0] != 4 || orig.History[0].Action != "created" {
		t.Fatalf("mutating the clone changed the original: %+v", orig)
	}
	c.Labels["env"] = "dev"
	c.SecretHash[0] = 9
	c.Scopes[0] = "write"
	c.Audiences[0] = "other"
	c.BoundIdentities[0] = "spiffe://td/b"
	if orig.Labels["env"] != "prod" || orig.SecretHash[0] != 1 || orig.Scopes[0] != "read" ||
		orig.Audiences[0] != "svc" || orig.BoundIdentities[0] != "spiffe://td/a" {
		t.Fatalf("mutating the clone changed the original: %+v", orig)
	}

	s := store.SigningKeyRecord{KID: "s", Private: []byte{7}}
	sc := s.Clone()
	sc.Private[0] = 8
	if s.Private[0] != 7 {
		t.Fatal("mutating the signing key clone changed the original")
	}
}

func TestKeyRecordValidate(t *testing.T) {
	valid := store.KeyRecord{ID: "k1", State: store.KeyStateActive, CreatedAt: time.Unix(1, 0)}
	tests := []struct {
		name   string
		mutate func(*store.KeyRecord)
		ok     bool
	}{
		{"valid", func(*store.KeyRecord) {}, true},
		{"every stored state", func(r *store.KeyRecord) { r.State = store.KeyStateExpired }, true},
		{"max id length", func(r *store.KeyRecord) { r.ID = strings.Repeat("a", store.MaxIDLength) }, true},
		{"empty id", func(r *store.KeyRecord) { r.ID = "" }, false},
		{"id too long", func(r *store.KeyRecord) { r.ID = strings.Repeat("a", store.MaxIDLength+1) }, false},
		{"id not utf8", func(r *store.KeyRecord) { r.ID = "k\xff" }, false},
		{"unspecified state", func(r *store.KeyRecord) { r.State = store.KeyStateUnspecified }, false},
		{"unknown state", func(r *store.KeyRecord) { r.State = store.KeyStateExpired + 1 }, false},
		{"unknown reason", func(r *store.KeyRecord) { r.RevocationReason = store.ReasonOther + 1 }, false},
		{"negative ttl", func(r *store.KeyRecord) { r.MaxTTL = -time.Second }, false},
		{"rotation period", func(r *store.KeyRecord) { r.RotationPeriod = time.Hour }, true},
		{"negative rotation period", func(r *store.KeyRecord) { r.RotationPeriod = -1 }, false},
		{"rate limit", func(r *store.KeyRecord) { r.RateLimit = store.RateLimit{PerSecond: 0.5, Burst: 1} }, true},
		{"negative rate", func(r *store.KeyRecord) { r.RateLimit.PerSecond = -1 }, false},
		{"NaN rate", func(r *store.KeyRecord) { r.RateLimit.PerSecond = math.NaN() }, false},
		{"infinite rate", func(r *store.KeyRecord) { r.RateLimit.PerSecond = math.Inf(1) }, false},
		{"negative burst", func(r *store.KeyRecord) { r.RateLimit.Burst = -1 }, false},
		{"any use count", func(r *store.KeyRecord) { r.UseCount = math.MaxUint64 }, true},
		{"full history", func(r *store.KeyRecord) { r.History = make([]store.KeyEvent, store.MaxKeyHistory) }, true},
		{"history over the cap", func(r *store.KeyRecord) {
			r.History = make([]store.KeyEvent, store.MaxKeyHistory+1)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := valid
			tt.mutate(&rec)
			err := rec.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("Validate() = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestSigningKeyRecordValidate(t *testing.T) {
	tests := []struct {
		name string
		rec  store.SigningKeyRecord
		ok   bool
	}{
		{"valid", store.SigningKeyRecord{KID: "s1", Alg: "EdDSA", Private: []byte{1}}, true},
		{"empty kid", store.SigningKeyRecord{Alg: "EdDSA", Private: []byte{1}}, false},
		{"empty alg", store.SigningKeyRecord{KID: "s1", Private: []byte{1}}, false},
		{"empty private", store.SigningKeyRecord{KID: "s1", Alg: "EdDSA"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rec.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("Validate() = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestAddEventKeepsTheNewest(t *testing.T) {
	events := func(from, to int) []store.KeyEvent {
		var out []store.KeyEvent
		for i := from; i < to; i++ {
			out = append(out, store.KeyEvent{Detail: fmt.Sprint(i)})
		}
		return out
	}
	tests := []struct {
		name     string
		have     int
		wantFrom int // Detail of the oldest event kept
		wantLen  int
	}{
		{"empty", 0, 0, 1},
		{"one below the cap", store.MaxKeyHistory - 1, 0, store.MaxKeyHistory},
		{"at the cap", store.MaxKeyHistory, 1, store.MaxKeyHistory},
		{"over the cap", store.MaxKeyHistory + 50, 51, store.MaxKeyHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := events(0, tt.have)
			r := store.KeyRecord{History: orig}
			r.AddEvent(store.KeyEvent{Detail: "new"})
			if len(r.History) != tt.wantLen {
				t.Fatalf("len = %d, want %d", len(r.History), tt.wantLen)
			}
			if last := r.History[len(r.History)-1].Detail; last != "new" {
				t.Fatalf("newest event = %q, want %q", last, "new")
			}
			for i, e := range r.History[:len(r.History)-1] {
				if want := fmt.Sprint(tt.wantFrom + i); e.Detail != want {
					t.Fatalf("History[%d] = %q, want %q", i, e.Detail, want)
				}
			}
			for i, e := range orig {
				if e.Detail != fmt.Sprint(i) {
					t.Fatalf("AddEvent wrote into the caller's slice at %d: %q", i, e.Detail)
				}
			}
		})
	}
}
