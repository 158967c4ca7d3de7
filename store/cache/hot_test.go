package cache

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unique"
	"unsafe"

	"github.com/latchkeyhq/latchkey/store"
)

func fullRecord() store.KeyRecord {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	return store.KeyRecord{
		ID: "lk_0123456789abcdef", Owner: "team-payments", Description: "cold", CreatedBy: "admin",
		Labels:     map[string]string{"env": "prod"},
		SecretHash: []byte{1, 2, 3, 4}, PreviousSecretHash: []byte{9, 8, 7},
		Scopes: []string{"read", "write"}, Audiences: []string{"api"}, BoundIdentities: []string{"spiffe://x/*", "ci"},
		MaxTTL: 15 * time.Minute, State: store.KeyStateRevoked, RevocationReason: store.ReasonLeaked,
		CreatedAt: at("2026-01-02T03:04:05.123456789+02:00"), ExpiresAt: at("9999-12-31T23:59:59.999999999Z"),
		RevokedAt: at("2026-05-01T00:00:00Z"), RotationPeriod: 90 * 24 * time.Hour,
		RateLimit:  store.RateLimit{PerSecond: 2.5, Burst: 7},
		LastUsedAt: at("2026-04-01T00:00:00Z"), UseCount: 12, LastAttestedAt: at("1970-01-01T00:00:00Z"),
		RotatedAt: at("1900-06-01T12:00:00.5Z"), GraceDeadline: at("2026-03-01T00:00:00Z"),
		DisabledAt: at("2026-02-01T00:00:00Z"), DisabledReason: "cold", EnabledAt: at("2026-02-02T00:00:00Z"),
		RotationFlaggedAt: at("2026-02-03T00:00:00Z"),
		History:           []store.KeyEvent{{Action: "created"}},
	}
}

// The round trip of fullRecord covers whatever Hot keeps only if every
// field is set.
func TestFullRecordSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(fullRecord())
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("fullRecord leaves %s zero", v.Type().Field(i).Name)
		}
	}
}

// utcHot is rec.Hot() with its times in UTC, the form decodeHot returns.
func utcHot(rec store.KeyRecord) store.KeyRecord {
	h := rec.Hot()
	for _, t := range []*time.Time{&h.CreatedAt, &h.ExpiresAt, &h.LastAttestedAt, &h.RotatedAt, &h.GraceDeadline} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	return h
}

func TestHotRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		rec  store.KeyRecord
	}{
		{"every field", fullRecord()},
		{"only an id", store.KeyRecord{ID: "k"}},
		{"empty lists and zero times", store.KeyRecord{ID: "k", Owner: "o", State: store.KeyStateActive, SecretHash: []byte{0}}},
		{"negative and extreme numbers", store.KeyRecord{ID: "k", MaxTTL: -1, RotationPeriod: math.MaxInt64,
			RateLimit: store.RateLimit{PerSecond: math.Inf(1), Burst: math.MinInt64}}},
		{"long and unusual strings", store.KeyRecord{ID: strings.Repeat("i", 300), Owner: "ünïcode\x00",
			Scopes: []string{"", strings.Repeat("s", 200)}, BoundIdentities: []string{""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, a, b := encodeHot(&tc.rec)
			if h.own[a:b] != tc.rec.ID {
				t.Fatalf("id span = %q, want %q", h.own[a:b], tc.rec.ID)
			}
			got, ok := decodeHot(h)
			if !ok {
				t.Fatal("decodeHot refused its own encoding")
			}
			if want := utcHot(tc.rec); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			state, expires := hotStatus(h.own)
			if state != tc.rec.State || !expires.Equal(tc.rec.ExpiresAt) || expires.IsZero() != tc.rec.ExpiresAt.IsZero() {
				t.Fatalf("hotStatus = %v, %v; want %v, %v", state, expires, tc.rec.State, tc.rec.ExpiresAt)
			}
		})
	}
}

// Every cut or extension of either part of a valid encoding is refused,
// never decoded into a different record and never a panic.
func TestHotDecodeRefusesDamage(t *testing.T) {
	rec := fullRecord()
	h, _, _ := encodeHot(&rec)
	prof := h.prof.Value()
	for n := range len(h.own) {
		if _, ok := decodeHot(hot{h.own[:n], h.prof}); ok {
			t.Fatalf("decodeHot accepted the first %d of %d bytes of the key's own part", n, len(h.own))
		}
	}
	for n := range len(prof) {
		if _, ok := decodeHot(hot{h.own, unique.Make(prof[:n])}); ok {
			t.Fatalf("decodeHot accepted the first %d of %d bytes of the profile", n, len(prof))
		}
	}
	for name, damaged := range map[string]hot{
		"a trailing byte on the key's own part": {h.own + "x", h.prof},
		"a trailing byte on the profile":        {h.own, unique.Make(prof + "x")},
		"an unknown version":                    {"\x01" + h.own[1:], h.prof},
		"a non-zero reserved byte":              {h.own[:3] + "\x01" + h.own[4:], h.prof},
		"no profile":                            {h.own, unique.Handle[string]{}},
		"the zero record":                       {},
	} {
		if _, ok := decodeHot(damaged); ok {
			t.Errorf("decodeHot accepted %s", name)
		}
	}
}

// Keys with the same profile share one copy of it, and keys differing in
// any profile field do not: a profile is never taken for another.
func TestHotProfilesAreShared(t *testing.T) {
	a, b := fullRecord(), fullRecord()
	b.ID, b.SecretHash, b.State, b.CreatedAt = "other", []byte{5}, store.KeyStateActive, time.Unix(1, 0)
	ha, _, _ := encodeHot(&a)
	hb, _, _ := encodeHot(&b)
	if ha.prof != hb.prof || unsafe.StringData(ha.prof.Value()) != unsafe.StringData(hb.prof.Value()) {
		t.Fatal("two keys of one profile do not share it")
	}
	if ha.own == hb.own {
		t.Fatal("two different keys encoded the same own part")
	}
	for name, change := range map[string]func(*store.KeyRecord){
		"owner":            func(r *store.KeyRecord) { r.Owner += "x" },
		"max TTL":          func(r *store.KeyRecord) { r.MaxTTL++ },
		"rotation period":  func(r *store.KeyRecord) { r.RotationPeriod++ },
		"rate":             func(r *store.KeyRecord) { r.RateLimit.PerSecond++ },
		"burst":            func(r *store.KeyRecord) { r.RateLimit.Burst++ },
		"a scope":          func(r *store.KeyRecord) { r.Scopes = []string{"read", "writ"} },
		"a scope moved":    func(r *store.KeyRecord) { r.Scopes, r.Audiences = []string{"read"}, []string{"write", "api"} },
		"an audience":      func(r *store.KeyRecord) { r.Audiences = nil },
		"a bound identity": func(r *store.KeyRecord) { r.BoundIdentities = r.BoundIdentities[:1] },
	} {
		c := fullRecord()
		change(&c)
		hc, _, _ := encodeHot(&c)
		if hc.prof == ha.prof {
			t.Errorf("a different %s shares the profile", name)
		}
		got, ok := decodeHot(hc)
		if want := utcHot(c); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: round trip:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

func FuzzHotDecode(f *testing.F) {
	rec := fullRecord()
	h, _, _ := encodeHot(&rec)
	f.Add(h.own, h.prof.Value())
	small := store.KeyRecord{ID: "k"}
	h, _, _ = encodeHot(&small)
	f.Add(h.own, h.prof.Value())
	f.Fuzz(func(t *testing.T, own, prof string) {
		rec, ok := decodeHot(hot{own, unique.Make(prof)})
		if !ok {
			return
		}
		// Whatever decodes encodes to a record that decodes again, to the
		// same bytes.
		again, _, _ := encodeHot(&rec)
		rec2, ok := decodeHot(again)
		if !ok {
			t.Fatalf("the re-encoding of a decoded record is refused: %q %q", again.own, again.prof.Value())
		}
		if third, _, _ := encodeHot(&rec2); third != again {
			t.Fatalf("round trip changed the bytes:\n%q %q\n%q %q", again.own, again.prof.Value(), third.own, third.prof.Value())
		}
	})
}

func BenchmarkHotDecode(b *testing.B) {
	rec := fullRecord()
	h, _, _ := encodeHot(&rec)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decodeHot(h); !ok {
			b.Fatal("refused")
		}
	}
}
