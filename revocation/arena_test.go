package revocation

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func TestArenaRoundTrip(t *testing.T) {
	local := time.FixedZone("x", -7*3600)
	tests := []struct {
		name string
		e    store.Revocation
	}{
		{"every field", fullEntry(1, store.RevokeKeyTokens, "key-1")},
		{"only kind and value", store.Revocation{Kind: store.RevokeJTI, Value: "j"}},
		{"large revision", store.Revocation{Rev: math.MaxUint64, Kind: store.RevokeJTI, Value: "j"}},
		{"times before 1970 and far ahead", store.Revocation{Rev: 2, Kind: store.RevokeSubjectTokens, Value: "s",
			Before: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), At: time.Date(1900, 6, 1, 0, 0, 0, 999_999_999, time.UTC),
			ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}},
		{"longest strings", store.Revocation{Rev: 3, Kind: store.RevokeSigningKeyTokens,
			Value: strings.Repeat("v", store.MaxIDLength), Actor: strings.Repeat("a", store.MaxRevocationTextLength),
			Reason: strings.Repeat("r", store.MaxRevocationTextLength)}},
		{"non-ASCII text", store.Revocation{Rev: 4, Kind: store.RevokeJTI, Value: "jti-é", Actor: "ünï", Reason: "理由"}},
		{"another zone comes back as the same instant in UTC", store.Revocation{Rev: 5, Kind: store.RevokeJTI, Value: "j",
			At: t0.In(local), ExpiresAt: t0.Add(time.Hour).In(local)}},
	}
	var a arena
	offs := make([]uint64, len(tests))
	for i, tt := range tests {
		offs[i] = a.add(tt.e)
		if got := a.size(offs[i]); got != recordSize(tt.e) {
			t.Fatalf("%s: record is %d bytes, recordSize says %d", tt.name, got, recordSize(tt.e))
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.e
			for _, tp := range []*time.Time{&want.Before, &want.At, &want.ExpiresAt} {
				if !tp.IsZero() {
					*tp = tp.UTC()
				}
			}
			if got := a.get(offs[i]); !reflect.DeepEqual(got, want) {
				t.Fatalf("get = %+v, want %+v", got, want)
			}
			if got := decodeRecord(string(a.buf), int(offs[i])+recordHeader); !reflect.DeepEqual(got, want) {
				t.Fatalf("decode from string = %+v, want %+v", got, want)
			}
			if kind, value := a.kindValue(offs[i]); kind != want.Kind || value != want.Value {
				t.Fatalf("kindValue = %v %q, want %v %q", kind, value, want.Kind, want.Value)
			}
		})
	}
}

// liveRecordBytes is what a compacted arena holds for v.
func liveRecordBytes(v *View) int {
	n := 0
	for _, i := range v.index {
		n += v.arena.size(v.slots.s[i].off)
	}
	return n
}

func TestPruneCompactsArena(t *testing.T) {
	const n = 1000
	var entries []store.Revocation
	for i := range n {
		kind := []store.RevocationKind{store.RevokeJTI, store.RevokeKeyTokens, store.RevokeSubjectTokens, store.RevokeSigningKeyTokens}[i%4]
		e := fullEntry(uint64(i+1), kind, fmt.Sprintf("value-%04d", i))
		// Entries expire a minute apart per hundred; every tenth never.
		e.ExpiresAt = t0.Add(time.Duration(i/100+1) * time.Minute)
		if i%10 == 0 {
			e.ExpiresAt = time.Time{}
		}
		entries = append(entries, e)
	}
	tests := []struct {
		name      string
		now       time.Time
		wantLeft  func(i int) bool
		compacted bool
	}{
		{"a third dead is left in place", t0.Add(3 * time.Minute), func(i int) bool { return i >= 300 || i%10 == 0 }, false},
		{"over half dead is compacted", t0.Add(6 * time.Minute), func(i int) bool { return i >= 600 || i%10 == 0 }, true},
		{"all that expire dead is compacted", t0.Add(time.Hour), func(i int) bool { return i%10 == 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewView(entries, n)
			var want []store.Revocation
			for i, e := range entries {
				if tt.wantLeft(i) {
					e.At, e.Before = e.At.UTC(), e.Before.UTC()
					want = append(want, e)
				}
			}
			if got := v.Prune(tt.now); got != n-len(want) {
				t.Fatalf("Prune dropped %d, want %d", got, n-len(want))
			}
			if compacted := v.arena.dead == 0; compacted != tt.compacted {
				t.Fatalf("arena compacted = %v (dead %d of %d bytes), want %v", compacted, v.arena.dead, len(v.arena.buf), tt.compacted)
			}
			if got, want := len(v.arena.buf)-v.arena.dead, liveRecordBytes(v); got != want {
				t.Fatalf("arena holds %d live bytes, slots refer to %d", got, want)
			}
			snap, rev := v.Snapshot()
			if rev != n || !reflect.DeepEqual(snap, want) {
				t.Fatalf("Snapshot after Prune: %d entries at rev %d, want exactly the %d live ones at rev %d", len(snap), rev, len(want), n)
			}
			for i, e := range entries {
				c := claimFor(e)
				if got := v.Revoked(c); got != tt.wantLeft(i) {
					t.Fatalf("Revoked(%v %s) = %v, want %v", e.Kind, e.Value, got, tt.wantLeft(i))
				}
			}
		})
	}
}

// claimFor is a token that e, and only e among distinct values, revokes.
func claimFor(e store.Revocation) Claims {
	c := Claims{IssuedAt: e.Before}
	switch e.Kind {
	case store.RevokeJTI:
		c.JTI = e.Value
	case store.RevokeKeyTokens:
		c.ClientID = e.Value
	case store.RevokeSubjectTokens:
		c.Subject = e.Value
	case store.RevokeSigningKeyTokens:
		c.KID = e.Value
	}
	return c
}

func TestFoldedEntriesSurviveCompaction(t *testing.T) {
	// Folding leaves the replaced record dead in the arena; a later
	// compaction must keep the folded record, not either original.
	exp := t0.Add(time.Hour)
	v := NewView([]store.Revocation{
		{Rev: 1, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0.Add(time.Minute), At: t0, ExpiresAt: exp.Add(time.Hour), Actor: "first", Reason: "one"},
		{Rev: 2, Kind: store.RevokeJTI, Value: "gone", ExpiresAt: exp},
		{Rev: 3, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0, At: t0.Add(time.Second), ExpiresAt: exp, Actor: "second", Reason: "two"},
		{Rev: 4, Kind: store.RevokeJTI, Value: "gone-too", ExpiresAt: exp, Reason: strings.Repeat("x", 500)},
	}, 4)
	if got := v.Prune(exp); got != 2 {
		t.Fatalf("Prune = %d, want 2", got)
	}
	if v.arena.dead != 0 {
		t.Fatalf("arena not compacted: %d of %d bytes dead", v.arena.dead, len(v.arena.buf))
	}
	snap, _ := v.Snapshot()
	want := []store.Revocation{{Rev: 3, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0.Add(time.Minute),
		At: t0.Add(time.Second), ExpiresAt: exp.Add(time.Hour), Actor: "second", Reason: "two"}}
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("Snapshot = %+v, want %+v", snap, want)
	}
	if !v.Revoked(Claims{Subject: "s", IssuedAt: t0.Add(time.Minute)}) || v.Revoked(Claims{Subject: "s", IssuedAt: t0.Add(time.Minute + 1)}) {
		t.Fatal("folded bound not kept after compaction")
	}
}
