package revocation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func TestRevoked(t *testing.T) {
	before := t0
	entries := []store.Revocation{
		{Rev: 1, Kind: store.RevokeJTI, Value: "jti-1"},
		{Rev: 2, Kind: store.RevokeKeyTokens, Value: "key-1", Before: before},
		{Rev: 3, Kind: store.RevokeSubjectTokens, Value: "alice", Before: before},
		{Rev: 4, Kind: store.RevokeSigningKeyTokens, Value: "kid-1"},
	}
	v := NewView(entries, 4)
	clean := Claims{JTI: "jti-ok", ClientID: "key-ok", Subject: "bob", KID: "kid-ok", IssuedAt: before}
	with := func(f func(*Claims)) Claims { c := clean; f(&c); return c }

	tests := []struct {
		name string
		c    Claims
		want bool
	}{
		{"unrelated token", clean, false},
		{"jti", with(func(c *Claims) { c.JTI = "jti-1" }), true},
		{"jti revoked whatever the iat", with(func(c *Claims) { c.JTI = "jti-1"; c.IssuedAt = before.Add(time.Hour) }), true},
		{"key iat before bound", with(func(c *Claims) { c.ClientID = "key-1"; c.IssuedAt = before.Add(-time.Hour) }), true},
		{"key iat equal to bound", with(func(c *Claims) { c.ClientID = "key-1"; c.IssuedAt = before }), true},
		{"key iat 1ns after bound", with(func(c *Claims) { c.ClientID = "key-1"; c.IssuedAt = before.Add(time.Nanosecond) }), false},
		{"subject iat equal to bound", with(func(c *Claims) { c.Subject = "alice"; c.IssuedAt = before }), true},
		{"subject iat 1ns after bound", with(func(c *Claims) { c.Subject = "alice"; c.IssuedAt = before.Add(time.Nanosecond) }), false},
		{"subject iat in another zone, same instant", with(func(c *Claims) {
			c.Subject = "alice"
			c.IssuedAt = before.In(time.FixedZone("x", 3600))
		}), true},
		{"signing kid", with(func(c *Claims) { c.KID = "kid-1"; c.IssuedAt = before.Add(time.Hour) }), true},
		{"value of one kind does not match another", Claims{JTI: "key-1", ClientID: "jti-1", Subject: "kid-1", KID: "alice", IssuedAt: before}, false},
		{"empty claims", Claims{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v.Revoked(tt.c); got != tt.want {
				t.Fatalf("Revoked(%+v) = %v, want %v", tt.c, got, tt.want)
			}
		})
	}
}

func TestRevokedAllocatesNothing(t *testing.T) {
	v := NewView([]store.Revocation{{Rev: 1, Kind: store.RevokeKeyTokens, Value: "key-1", Before: t0}}, 1)
	c := Claims{JTI: "j", ClientID: "key-1", Subject: "s", KID: "k", IssuedAt: t0.Add(time.Second)}
	if n := testing.AllocsPerRun(100, func() { v.Revoked(c) }); n != 0 {
		t.Fatalf("Revoked allocates %v times per call, want 0", n)
	}
}

func TestPrune(t *testing.T) {
	exp := t0.Add(time.Hour)
	entries := []store.Revocation{
		{Rev: 1, Kind: store.RevokeJTI, Value: "a", ExpiresAt: exp},
		{Rev: 2, Kind: store.RevokeJTI, Value: "b", ExpiresAt: exp.Add(time.Minute)},
		{Rev: 3, Kind: store.RevokeJTI, Value: "forever"},
		{Rev: 4, Kind: store.RevokeKeyTokens, Value: "key", Before: t0, ExpiresAt: exp},
	}
	tests := []struct {
		name     string
		now      time.Time
		dropped  int
		wantLeft []string
	}{
		{"1ns before expiry keeps all", exp.Add(-time.Nanosecond), 0, []string{"a", "b", "forever", "key"}},
		{"at expiry drops", exp, 2, []string{"b", "forever"}},
		{"long after drops all that expire", exp.Add(24 * time.Hour), 3, []string{"forever"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewView(entries, 4)
			if got := v.Prune(tt.now); got != tt.dropped {
				t.Fatalf("Prune = %d, want %d", got, tt.dropped)
			}
			snap, rev := v.Snapshot()
			var left []string
			for _, e := range snap {
				left = append(left, e.Value)
			}
			if !slices.Equal(left, tt.wantLeft) || rev != 4 || v.Len() != len(tt.wantLeft) {
				t.Fatalf("after Prune: values %v rev %d len %d; want %v rev 4", left, rev, v.Len(), tt.wantLeft)
			}
			if got, want := v.Revoked(Claims{JTI: "a"}), slices.Contains(tt.wantLeft, "a"); got != want {
				t.Fatalf("Revoked(jti a) = %v, want %v", got, want)
			}
			if v.Prune(tt.now) != 0 {
				t.Fatal("second Prune at the same instant dropped more entries")
			}
		})
	}
}

func TestFoldKeepsWidest(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name       string
		entries    []store.Revocation
		wantBefore time.Time
		wantExp    time.Time
		wantRev    uint64
	}{
		{"later bound wins", []store.Revocation{
			{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0, ExpiresAt: exp},
			{Rev: 2, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0.Add(time.Minute), ExpiresAt: exp},
		}, t0.Add(time.Minute), exp, 2},
		{"newer entry with an earlier bound does not narrow", []store.Revocation{
			{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0.Add(time.Minute), ExpiresAt: exp.Add(time.Hour)},
			{Rev: 2, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0, ExpiresAt: exp},
		}, t0.Add(time.Minute), exp.Add(time.Hour), 2},
		{"no expiry wins", []store.Revocation{
			{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0},
			{Rev: 2, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0, ExpiresAt: exp},
		}, t0, time.Time{}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewView(tt.entries, 2)
			snap, _ := v.Snapshot()
			if len(snap) != 1 {
				t.Fatalf("Snapshot has %d entries, want 1", len(snap))
			}
			e := snap[0]
			if !e.Before.Equal(tt.wantBefore) || !e.ExpiresAt.Equal(tt.wantExp) || e.Rev != tt.wantRev {
				t.Fatalf("folded = Before %v ExpiresAt %v Rev %d; want %v %v %d", e.Before, e.ExpiresAt, e.Rev, tt.wantBefore, tt.wantExp, tt.wantRev)
			}
		})
	}
}

func TestNewViewRevision(t *testing.T) {
	tests := []struct {
		name    string
		entries []store.Revocation
		lastRev uint64
		want    uint64
		wantLen int
	}{
		{"empty", nil, 0, 0, 0},
		{"last revision from a pruned entry", []store.Revocation{{Rev: 3, Kind: store.RevokeJTI, Value: "a"}}, 9, 9, 1},
		{"entry newer than lastRev raises it", []store.Revocation{{Rev: 12, Kind: store.RevokeJTI, Value: "a"}}, 9, 12, 1},
		{"unknown kind and empty value skipped", []store.Revocation{
			{Rev: 1, Kind: store.RevocationUnspecified, Value: "a"},
			{Rev: 2, Kind: store.RevokeJTI, Value: ""},
			{Rev: 3, Kind: 99, Value: "b"},
		}, 3, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewView(tt.entries, tt.lastRev)
			if v.Revision() != tt.want || v.Len() != tt.wantLen {
				t.Fatalf("Revision, Len = %d, %d; want %d, %d", v.Revision(), v.Len(), tt.want, tt.wantLen)
			}
		})
	}
}

// Prune visits only the slots listed under minutes that have begun. The
// view is held to a plain model over random applies (new values, values
// again with a later or earlier expiry, no expiry) and prunes at rising
// times: the count pruned, Len, and which jtis are revoked all agree.
func TestPruneMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	v := NewView(nil, 0)
	model := map[string]time.Time{} // value -> expiry; zero means never
	rev := uint64(0)
	now := t0
	for step := range 4000 {
		switch {
		case step%50 == 49:
			now = now.Add(time.Duration(rng.IntN(150)) * time.Second)
			want := 0
			for val, exp := range model {
				if !exp.IsZero() && !exp.After(now) {
					delete(model, val)
					want++
				}
			}
			if got := v.Prune(now); got != want {
				t.Fatalf("step %d: Prune(%v) = %d, want %d", step, now, got, want)
			}
			if v.Len() != len(model) {
				t.Fatalf("step %d: Len %d, model %d", step, v.Len(), len(model))
			}
		default:
			val := fmt.Sprintf("jti-%d", rng.IntN(300))
			var exp time.Time
			if rng.IntN(10) > 0 {
				exp = now.Add(time.Duration(rng.IntN(600)) * time.Second)
			}
			rev++
			if err := v.apply(store.Revocation{Rev: rev, Kind: store.RevokeJTI, Value: val, At: now, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			// Folding keeps the later expiry, never winning.
			old, held := model[val]
			switch {
			case !held:
				model[val] = exp
			case old.IsZero() || exp.IsZero():
				model[val] = time.Time{}
			case exp.After(old):
				model[val] = exp
			}
		}
	}
	for i := range 300 {
		val := fmt.Sprintf("jti-%d", i)
		_, held := model[val]
		if got := v.Revoked(Claims{JTI: val}); got != held {
			t.Errorf("%s revoked %v, model holds it %v", val, got, held)
		}
	}
}

// A slot listed twice under one minute (its expiry widened within it) is
// pruned once, and a slot released and reused by another value is pruned
// at the new value's expiry, not at a listing of the old one's.
func TestPruneListingsStaleAndReused(t *testing.T) {
	base := t0.Truncate(time.Minute)
	a := store.Revocation{Rev: 1, Kind: store.RevokeJTI, Value: "a", At: base, ExpiresAt: base.Add(70 * time.Second)}
	v := NewView([]store.Revocation{a}, 1)
	a2 := a
	a2.Rev, a2.ExpiresAt = 2, base.Add(100*time.Second) // same minute, later
	if err := v.apply(a2); err != nil {
		t.Fatal(err)
	}
	a3 := a
	a3.Rev, a3.ExpiresAt = 3, base.Add(200*time.Second) // a later minute
	if err := v.apply(a3); err != nil {
		t.Fatal(err)
	}
	if got := v.Prune(base.Add(130 * time.Second)); got != 0 || !v.Revoked(Claims{JTI: "a"}) {
		t.Fatalf("Prune before the widened expiry = %d (revoked %v), want 0 and still revoked", got, v.Revoked(Claims{JTI: "a"}))
	}
	if got := v.Prune(base.Add(200 * time.Second)); got != 1 || v.Revoked(Claims{JTI: "a"}) {
		t.Fatalf("Prune at the widened expiry = %d, want 1 and a forgotten", got)
	}
	// b takes a's released slot; a's old listings are gone or stale.
	b := store.Revocation{Rev: 4, Kind: store.RevokeJTI, Value: "b", At: base, ExpiresAt: base.Add(400 * time.Second)}
	if err := v.apply(b); err != nil {
		t.Fatal(err)
	}
	if got := v.Prune(base.Add(399 * time.Second)); got != 0 || !v.Revoked(Claims{JTI: "b"}) {
		t.Fatalf("Prune before b's expiry = %d, want 0 and b revoked", got)
	}
	if got := v.Prune(base.Add(400 * time.Second)); got != 1 || v.Len() != 0 {
		t.Fatalf("Prune at b's expiry = %d (Len %d), want 1 and an empty view", got, v.Len())
	}
	if len(v.expiring) != 0 {
		t.Fatalf("%d minutes still listed in an empty view", len(v.expiring))
	}
}
