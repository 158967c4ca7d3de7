package revocation

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// fullEntry sets every field, so that a round trip through the arena is
// checked field by field.
func fullEntry(rev uint64, kind store.RevocationKind, value string) store.Revocation {
	e := store.Revocation{
		Rev: rev, Kind: kind, Value: value,
		At:        t0.Add(time.Duration(rev) * time.Millisecond),
		ExpiresAt: t0.Add(time.Hour + time.Duration(rev)*time.Nanosecond),
		Actor:     "spiffe://example.org/admin/" + value,
		Reason:    "reason for " + value,
	}
	if kind == store.RevokeKeyTokens || kind == store.RevokeSubjectTokens {
		e.Before = t0.Add(time.Duration(rev) * time.Second)
	}
	return e
}

func TestDigestIndexEveryKind(t *testing.T) {
	kinds := []store.RevocationKind{store.RevokeJTI, store.RevokeKeyTokens, store.RevokeSubjectTokens, store.RevokeSigningKeyTokens}
	// claim puts value into the claim that kind checks, with iat.
	claim := func(kind store.RevocationKind, value string, iat time.Time) Claims {
		c := Claims{JTI: "other-jti", ClientID: "other-key", Subject: "other-sub", KID: "other-kid", IssuedAt: iat}
		switch kind {
		case store.RevokeJTI:
			c.JTI = value
		case store.RevokeKeyTokens:
			c.ClientID = value
		case store.RevokeSubjectTokens:
			c.Subject = value
		case store.RevokeSigningKeyTokens:
			c.KID = value
		}
		return c
	}
	for _, kind := range kinds {
		e := fullEntry(7, kind, "shared-value")
		bounded := kind == store.RevokeKeyTokens || kind == store.RevokeSubjectTokens
		v := NewView([]store.Revocation{e}, 7)
		tests := []struct {
			name string
			c    Claims
			want bool
		}{
			{"iat at the bound", claim(kind, e.Value, e.Before), true},
			{"iat 1ns before the bound", claim(kind, e.Value, e.Before.Add(-time.Nanosecond)), true},
			{"iat 1ns after the bound", claim(kind, e.Value, e.Before.Add(time.Nanosecond)), !bounded},
			{"iat an hour after the bound", claim(kind, e.Value, e.Before.Add(time.Hour)), !bounded},
			{"zero iat", claim(kind, e.Value, time.Time{}), true},
			{"value differing in the last byte", claim(kind, "shared-valuf", e.Before), false},
			{"value with a trailing byte", claim(kind, "shared-value\x00", e.Before), false},
			{"value as a prefix", claim(kind, "shared-valu", e.Before), false},
		}
		for _, other := range kinds {
			if other != kind {
				tests = append(tests, struct {
					name string
					c    Claims
					want bool
				}{fmt.Sprintf("same value as a %v claim", other), claim(other, e.Value, e.Before), false})
			}
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/%s", kind, tt.name), func(t *testing.T) {
				if got := v.Revoked(tt.c); got != tt.want {
					t.Fatalf("Revoked(%+v) = %v, want %v", tt.c, got, tt.want)
				}
			})
		}
	}
}

func TestIssuedAtBoundaryAtTheEdgesOfNanoseconds(t *testing.T) {
	// Bounds an int64 of nanoseconds cannot hold are saturated; the rule
	// is that this may revoke a token the exact bound would not, and never
	// the reverse.
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		before time.Time
		iat    time.Time
		want   bool
	}{
		{"last representable nanosecond, equal", time.Unix(0, math.MaxInt64-999_999_999), time.Unix(0, math.MaxInt64-999_999_999), true},
		{"last representable nanosecond, 1ns after", time.Unix(0, math.MaxInt64-1_000_000_000), time.Unix(0, math.MaxInt64-999_999_999), false},
		{"far bound, iat before it", far, far.Add(-time.Hour), true},
		{"far bound, iat equal", far, far, true},
		{"far bound, later iat revoked too (saturated)", far, far.Add(time.Hour), true},
		{"early bound, iat equal", early, early, true},
		{"early bound, later early iat revoked too (saturated)", early, early.Add(time.Hour), true},
		{"early bound, iat in range", early, t0, false},
		{"zero bound, zero iat", time.Time{}, time.Time{}, true},
		{"zero bound, iat in range", time.Time{}, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewView([]store.Revocation{{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "alice", Before: tt.before}}, 1)
			if got := v.Revoked(Claims{Subject: "alice", IssuedAt: tt.iat}); got != tt.want {
				t.Fatalf("Revoked(iat %v, bound %v) = %v, want %v", tt.iat, tt.before, got, tt.want)
			}
			if exact := !tt.iat.After(tt.before); exact && !tt.want {
				t.Fatal("table expects a release the exact rule would not make")
			}
		})
	}
}

func TestNanosIsMonotone(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(math.MinInt64/int64(time.Second), 0),
		time.Unix(math.MinInt64/int64(time.Second)+1, 0),
		time.Unix(0, math.MinInt64),
		time.Unix(0, 0),
		t0,
		time.Unix(0, math.MaxInt64-1e9),
		time.Unix(0, math.MaxInt64),
		time.Unix(math.MaxInt64/int64(time.Second), 0),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	slices.SortFunc(times, time.Time.Compare)
	for i := 1; i < len(times); i++ {
		t.Run(times[i].String(), func(t *testing.T) {
			if a, b := nanos(times[i-1]), nanos(times[i]); a > b {
				t.Fatalf("nanos(%v) = %d > nanos(%v) = %d", times[i-1], a, times[i], b)
			}
		})
	}
	if got := nanos(t0); got != t0.UnixNano() {
		t.Fatalf("nanos(t0) = %d, want %d", got, t0.UnixNano())
	}
}

func TestFilterGrowsWithApply(t *testing.T) {
	// Enough entries to outgrow the smallest filter several times over.
	const n = 4 * minFilterBits / filterBitsPerEntry
	v := NewView(nil, 0)
	for i := range n {
		if err := v.apply(jtiRevAt(uint64(i+1), fmt.Sprintf("jti-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if v.filter.full(len(v.index)) {
		t.Fatalf("filter of %d bits over-full with %d entries", len(v.filter.bits)*64, len(v.index))
	}
	missed := 0
	for i := range n {
		if !v.Revoked(Claims{JTI: fmt.Sprintf("jti-%d", i)}) {
			missed++
		}
	}
	if missed != 0 || v.Len() != n {
		t.Fatalf("%d of %d applied entries not revoked (Len %d)", missed, n, v.Len())
	}
}

func jtiRevAt(rev uint64, jti string) store.Revocation {
	e := jtiRev(jti)
	e.Rev = rev
	return e
}

// collideOn returns a digest function under which every value in same
// shares one digest, and every other value hashes as usual.
func collideOn(same ...string) Option {
	return func(o *options) {
		real := keyedDigest()
		o.digest = func(k store.RevocationKind, v string) digest {
			if slices.Contains(same, v) {
				return digest{1}
			}
			return real(k, v)
		}
	}
}

func TestDigestCollisionOnlyOverRevokes(t *testing.T) {
	exp := t0.Add(time.Hour)
	a := store.Revocation{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "alice", Before: t0, At: t0, ExpiresAt: exp.Add(time.Hour), Actor: "x", Reason: "a"}
	b := store.Revocation{Rev: 2, Kind: store.RevokeJTI, Value: "jti-b", At: t0, ExpiresAt: exp, Actor: "y", Reason: "b"}
	b2 := store.Revocation{Rev: 3, Kind: store.RevokeJTI, Value: "jti-b", At: t0.Add(time.Second), ExpiresAt: exp.Add(-time.Minute), Actor: "z", Reason: "b again"}
	v := NewView([]store.Revocation{a, b, b2}, 3, collideOn("alice", "jti-b", "bob"))

	if v.Len() != 2 {
		t.Fatalf("Len = %d, want 2", v.Len())
	}
	foldedB := b2
	foldedB.ExpiresAt = b.ExpiresAt
	snap, _ := v.Snapshot()
	if want := []store.Revocation{a, foldedB}; !reflect.DeepEqual(snap, want) {
		t.Fatalf("Snapshot = %+v, want %+v", snap, want)
	}
	tests := []struct {
		name string
		c    Claims
		want bool
	}{
		{"first entry", Claims{Subject: "alice", IssuedAt: t0}, true},
		{"second entry", Claims{JTI: "jti-b", IssuedAt: t0.Add(time.Hour)}, true},
		// The slot now revokes every issue time, since a jti entry shares
		// it: over-revocation, the only error a collision may cause.
		{"first entry after its bound", Claims{Subject: "alice", IssuedAt: t0.Add(time.Hour)}, true},
		{"unrevoked value that collides", Claims{Subject: "bob", IssuedAt: t0.Add(time.Hour)}, true},
		{"unrevoked value that does not collide", Claims{Subject: "carol", JTI: "jti-c", IssuedAt: t0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v.Revoked(tt.c); got != tt.want {
				t.Fatalf("Revoked(%+v) = %v, want %v", tt.c, got, tt.want)
			}
		})
	}

	t.Run("prune drops the spilled entry at its expiry and keeps the slot", func(t *testing.T) {
		if got := v.Prune(exp.Add(-time.Nanosecond)); got != 0 {
			t.Fatalf("Prune 1ns before the first expiry = %d, want 0", got)
		}
		if got := v.Prune(exp); got != 1 {
			t.Fatalf("Prune = %d, want 1", got)
		}
		snap, _ := v.Snapshot()
		if want := []store.Revocation{a}; !reflect.DeepEqual(snap, want) || v.Len() != 1 {
			t.Fatalf("Snapshot = %+v (Len %d), want %+v", snap, v.Len(), want)
		}
		if !v.Revoked(Claims{Subject: "alice", IssuedAt: t0}) {
			t.Fatal("entry sharing the slot no longer revoked")
		}
		if got := v.Prune(a.ExpiresAt); got != 1 || v.Len() != 0 || v.Revoked(Claims{Subject: "alice"}) || v.Revoked(Claims{JTI: "jti-b"}) {
			t.Fatalf("Prune at the last expiry = %d, Len %d; want 1, 0 and nothing revoked", got, v.Len())
		}
	})

	t.Run("a spilled entry with a later bound and expiry widens the slot", func(t *testing.T) {
		main := store.Revocation{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "alice", Before: t0, ExpiresAt: exp}
		spilled := store.Revocation{Rev: 2, Kind: store.RevokeKeyTokens, Value: "key-b", Before: t0.Add(time.Hour), ExpiresAt: exp.Add(time.Hour)}
		v := NewView([]store.Revocation{main, spilled}, 2, collideOn("alice", "key-b"))
		late := Claims{ClientID: "key-b", IssuedAt: t0.Add(30 * time.Minute)}
		if !v.Revoked(late) {
			t.Fatal("token under the spilled entry's later bound not revoked")
		}
		if got := v.Prune(exp); got != 0 {
			t.Fatalf("Prune at the first entry's expiry = %d, want 0 (the slot lives as long as the spill)", got)
		}
		if !v.Revoked(late) {
			t.Fatal("spilled entry stopped revoking when the entry it collided with expired")
		}
	})

	t.Run("a later entry for the spilled value folds into the spill", func(t *testing.T) {
		v := NewView([]store.Revocation{a, b}, 2, collideOn("alice", "jti-b"))
		c := store.Revocation{Rev: 3, Kind: store.RevokeJTI, Value: "jti-b", At: t0, ExpiresAt: exp.Add(3 * time.Hour), Actor: "w"}
		if err := v.apply(c); err != nil {
			t.Fatal(err)
		}
		snap, _ := v.Snapshot()
		if want := []store.Revocation{a, c}; !reflect.DeepEqual(snap, want) || v.Len() != 2 {
			t.Fatalf("Snapshot = %+v (Len %d), want %+v", snap, v.Len(), want)
		}
		// The slot's expiry was widened to c's, so alice's entry is kept
		// (and revokes) until then: over-retention, never a gap.
		if got := v.Prune(a.ExpiresAt); got != 0 || !v.Revoked(Claims{JTI: "jti-b"}) {
			t.Fatalf("Prune at alice's expiry = %d, want 0 with jti-b still revoked", got)
		}
	})
}
