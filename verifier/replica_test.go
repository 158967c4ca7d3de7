package verifier

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func rv(rev uint64, kind latchkeyv1.RevocationKind, value string, before time.Time) *latchkeyv1.Revocation {
	r := &latchkeyv1.Revocation{Revision: rev, Kind: kind, Value: value, ExpiresAt: timestamppb.New(t0.Add(2 * time.Hour))}
	if !before.IsZero() {
		r.IssuedBefore = timestamppb.New(before)
	}
	return r
}

const (
	kindJTI     = latchkeyv1.RevocationKind_REVOCATION_KIND_JTI
	kindKey     = latchkeyv1.RevocationKind_REVOCATION_KIND_KEY
	kindSubject = latchkeyv1.RevocationKind_REVOCATION_KIND_SUBJECT
	kindKID     = latchkeyv1.RevocationKind_REVOCATION_KIND_SIGNING_KEY
)

// The replica follows the stream protocol: a snapshot in chunks replaces the
// set only when complete, live batches skip what was already applied, and
// messages out of protocol are refused and force a fresh snapshot.
func TestReplicaProtocol(t *testing.T) {
	clk := &clock{t: t0}
	claims := func(jti, client, sub, kid string, iat time.Time) *Claims {
		return &Claims{JTI: jti, ClientID: client, Subject: sub, KID: kid, IssuedAt: iat}
	}
	t.Run("live batch before any snapshot", func(t *testing.T) {
		r := newReplica(clk.Now)
		err := r.apply(&latchkeyv1.WatchRevocationsResponse{Revision: 3, Revocations: []*latchkeyv1.Revocation{rv(3, kindJTI, "a", time.Time{})}})
		if !errors.Is(err, errProtocol) || r.resumeFrom() != 0 {
			t.Fatalf("apply: %v, resume from %d; want errProtocol and 0", err, r.resumeFrom())
		}
	})
	t.Run("snapshot in chunks, then live, then replay", func(t *testing.T) {
		r := newReplica(clk.Now)
		var kids []string
		r.onSigningKey = func(k string) { kids = append(kids, k) }
		steps := []*latchkeyv1.WatchRevocationsResponse{
			{Resync: true, Revision: 4, Revocations: []*latchkeyv1.Revocation{rv(1, kindJTI, "j1", time.Time{}), rv(2, kindKey, "k1", t0)}},
			{Revision: 4, SnapshotComplete: true, Revocations: []*latchkeyv1.Revocation{rv(3, kindSubject, "s1", t0), rv(4, kindKID, "kid1", time.Time{})}},
			{Revision: 5, Revocations: []*latchkeyv1.Revocation{rv(5, kindJTI, "j5", time.Time{})}},
			// A replayed event (at or below the revision applied) is skipped.
			{Revision: 5, Revocations: []*latchkeyv1.Revocation{rv(5, kindJTI, "j5", time.Time{}), rv(4, kindJTI, "late", time.Time{})}},
		}
		for i, m := range steps {
			if err := r.apply(m); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if i == 0 && r.isSynced() {
				t.Fatal("synced before snapshot_complete")
			}
		}
		if r.revision() != 5 || r.resumeFrom() != 5 || len(kids) != 1 || kids[0] != "kid1" {
			t.Fatalf("revision %d, resume %d, kids %v", r.revision(), r.resumeFrom(), kids)
		}
		cases := []struct {
			name string
			c    *Claims
			want bool
		}{
			{"jti in snapshot", claims("j1", "x", "x", "x", t0), true},
			{"jti live", claims("j5", "x", "x", "x", t0), true},
			{"replayed entry below the revision", claims("late", "x", "x", "x", t0), false},
			{"key, issued at the bound", claims("x", "k1", "x", "x", t0), true},
			{"key, issued after the bound", claims("x", "k1", "x", "x", t0.Add(time.Second)), false},
			{"subject, issued before", claims("x", "x", "s1", "x", t0.Add(-time.Hour)), true},
			{"signing key", claims("x", "x", "x", "kid1", t0.Add(time.Hour)), true},
			{"nothing matches", claims("x", "x", "x", "x", t0), false},
		}
		for _, tc := range cases {
			if got, _ := r.check(tc.c, time.Minute); got != tc.want {
				t.Errorf("%s: revoked=%v, want %v", tc.name, got, tc.want)
			}
		}
		// Entries past their expiry are pruned on a later apply.
		clk.Advance(3 * time.Hour)
		if err := r.apply(&latchkeyv1.WatchRevocationsResponse{Revision: 6}); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.check(claims("j1", "x", "x", "x", t0), time.Minute); got {
			t.Fatal("expired entry not pruned")
		}
	})
	t.Run("snapshot_complete outside a snapshot", func(t *testing.T) {
		r := newReplica(clk.Now)
		r.apply(&latchkeyv1.WatchRevocationsResponse{Resync: true, SnapshotComplete: true, Revision: 2})
		if err := r.apply(&latchkeyv1.WatchRevocationsResponse{SnapshotComplete: true, Revision: 3}); !errors.Is(err, errProtocol) {
			t.Fatalf("apply: %v", err)
		}
		if r.resumeFrom() != 0 {
			t.Fatal("a protocol error must force a fresh snapshot")
		}
	})
	t.Run("missing issued_before covers every token", func(t *testing.T) {
		clk := &clock{t: t0}
		r := newReplica(clk.Now)
		r.apply(&latchkeyv1.WatchRevocationsResponse{Resync: true, SnapshotComplete: true, Revision: 1,
			Revocations: []*latchkeyv1.Revocation{rv(1, kindKey, "k", time.Time{})}})
		if got, _ := r.check(claims("x", "k", "x", "x", clk.Now().Add(time.Hour)), time.Minute); !got {
			t.Fatal("a key revocation without issued_before must cover every token")
		}
	})
	t.Run("unknown kind reported", func(t *testing.T) {
		r := newReplica(clk.Now)
		var unknown []latchkeyv1.RevocationKind
		r.onUnknown = func(k latchkeyv1.RevocationKind) { unknown = append(unknown, k) }
		r.apply(&latchkeyv1.WatchRevocationsResponse{Resync: true, SnapshotComplete: true, Revision: 1,
			Revocations: []*latchkeyv1.Revocation{rv(1, latchkeyv1.RevocationKind(99), "v", time.Time{})}})
		if len(unknown) != 1 || unknown[0] != 99 {
			t.Fatalf("unknown kinds reported: %v", unknown)
		}
	})
	t.Run("never synced is stale", func(t *testing.T) {
		r := newReplica(clk.Now)
		if _, stale := r.check(claims("x", "x", "x", "x", t0), time.Hour); !stale {
			t.Fatal("a replica that never applied a snapshot must be stale")
		}
	})
}
