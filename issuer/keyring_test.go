package issuer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const day = 24 * time.Hour

var testPolicy = KeyringPolicy{Alg: AlgEdDSA, RotationPeriod: 30 * day, PublishLead: time.Hour, Retain: time.Hour + 30*time.Second}

// fakeGen makes reproducible keys named gen-1, gen-2, ... and counts calls.
type fakeGen struct {
	calls int
	err   error
	fixed *SigningKey
}

func (g *fakeGen) gen(alg string) (*SigningKey, error) {
	g.calls++
	if g.err != nil || g.fixed != nil {
		return g.fixed, g.err
	}
	label := fmt.Sprintf("gen-%d", g.calls)
	switch alg {
	case AlgEdDSA:
		return fixedKey(label), nil
	default:
		return GenerateSigningKeyAlg(alg)
	}
}

// entry builders; t0 is when key "a" became active.
var t0 = testNow

func activeAt(k *SigningKey, at time.Time) KeyringEntry {
	return KeyringEntry{Key: k, State: KeyActive, CreatedAt: at, ActivateAt: at, ActivatedAt: at}
}

func nextAt(k *SigningKey, created, activate time.Time) KeyringEntry {
	return KeyringEntry{Key: k, State: KeyNext, CreatedAt: created, ActivateAt: activate}
}

func retiredAt(k *SigningKey, created, retired time.Time, retain time.Duration) KeyringEntry {
	return KeyringEntry{Key: k, State: KeyRetired, CreatedAt: created, ActivateAt: created, ActivatedAt: created,
		RetiredAt: retired, RemoveAt: retired.Add(retain)}
}

func withState(e KeyringEntry, s KeyState, f func(*KeyringEntry)) KeyringEntry {
	e.State = s
	if f != nil {
		f(&e)
	}
	return e
}

// sameEntries compares by kid and every field, so that generated keys can be
// named by the label fakeGen gives them.
func sameEntries(t *testing.T, got, want []KeyringEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d:\n got  %s\n want %s", len(got), len(want), describe(got), describe(want))
	}
	for n := range got {
		g, w := got[n], want[n]
		if g.Key.KID() != w.Key.KID() || g.State != w.State || !g.CreatedAt.Equal(w.CreatedAt) ||
			!g.ActivateAt.Equal(w.ActivateAt) || !g.ActivatedAt.Equal(w.ActivatedAt) || !g.RetiredAt.Equal(w.RetiredAt) ||
			!g.RemoveAt.Equal(w.RemoveAt) || !g.RevokedAt.Equal(w.RevokedAt) {
			t.Fatalf("entry %d differs:\n got  %s\n want %s", n, describe(got), describe(want))
		}
	}
}

func describe(es []KeyringEntry) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("{%.6s %s c=%s a=%s act=%s ret=%s rm=%s rev=%s} ", e.Key.KID(), e.State,
			rel(e.CreatedAt), rel(e.ActivateAt), rel(e.ActivatedAt), rel(e.RetiredAt), rel(e.RemoveAt), rel(e.RevokedAt))
	}
	return s
}

// rel shows a time as an offset from t0, or "-" when unset.
func rel(at time.Time) string {
	if at.IsZero() {
		return "-"
	}
	return at.Sub(t0).String()
}

func TestPlanRules(t *testing.T) {
	a, b, c, g1 := fixedKey("a"), fixedKey("b"), fixedKey("c"), fixedKey("gen-1")
	p := testPolicy
	due := t0.Add(p.RotationPeriod - p.PublishLead)
	rot := t0.Add(p.RotationPeriod)
	cases := []struct {
		name    string
		in      []KeyringEntry
		now     time.Time
		want    []KeyringEntry
		changed bool
		gens    int
	}{
		{"empty keyring gets an active key now", nil, t0,
			[]KeyringEntry{activeAt(g1, t0)}, true, 1},
		{"active key before its lead window", []KeyringEntry{activeAt(a, t0)}, due.Add(-time.Nanosecond),
			[]KeyringEntry{activeAt(a, t0)}, false, 0},
		{"next key generated exactly PublishLead before rotation", []KeyringEntry{activeAt(a, t0)}, due,
			[]KeyringEntry{activeAt(a, t0), nextAt(g1, due, rot)}, true, 1},
		{"overdue rotation still publishes for the full lead", []KeyringEntry{activeAt(a, t0)}, t0.Add(40 * day),
			[]KeyringEntry{activeAt(a, t0), nextAt(g1, t0.Add(40*day), t0.Add(40*day+time.Hour))}, true, 1},
		{"next key waits for ActivateAt", []KeyringEntry{activeAt(a, t0), nextAt(b, due, rot)}, rot.Add(-time.Nanosecond),
			[]KeyringEntry{activeAt(a, t0), nextAt(b, due, rot)}, false, 0},
		{"next key activates and the old key retires", []KeyringEntry{activeAt(a, t0), nextAt(b, due, rot)}, rot,
			[]KeyringEntry{retiredAt(a, t0, rot, p.Retain), withState(nextAt(b, due, rot), KeyActive, func(e *KeyringEntry) { e.ActivatedAt = rot })}, true, 0},
		{"no active key promotes the next key early", []KeyringEntry{nextAt(b, t0, t0.Add(day))}, t0.Add(time.Minute),
			[]KeyringEntry{{Key: b, State: KeyActive, CreatedAt: t0, ActivateAt: t0.Add(time.Minute), ActivatedAt: t0.Add(time.Minute)}}, true, 0},
		{"retired key stays until RemoveAt", []KeyringEntry{retiredAt(a, t0, rot, p.Retain), activeAt(b, rot)}, rot.Add(p.Retain - time.Nanosecond),
			[]KeyringEntry{retiredAt(a, t0, rot, p.Retain), activeAt(b, rot)}, false, 0},
		{"retired key removed at RemoveAt", []KeyringEntry{retiredAt(a, t0, rot, p.Retain), activeAt(b, rot)}, rot.Add(p.Retain),
			[]KeyringEntry{withState(retiredAt(a, t0, rot, p.Retain), KeyRemoved, nil), activeAt(b, rot)}, true, 0},
		{"removed key kept for Retain more", []KeyringEntry{withState(retiredAt(a, t0, rot, p.Retain), KeyRemoved, nil), activeAt(b, rot)}, rot.Add(2*p.Retain - time.Nanosecond),
			[]KeyringEntry{withState(retiredAt(a, t0, rot, p.Retain), KeyRemoved, nil), activeAt(b, rot)}, false, 0},
		{"removed key dropped after Retain more", []KeyringEntry{withState(retiredAt(a, t0, rot, p.Retain), KeyRemoved, nil), activeAt(b, rot)}, rot.Add(2 * p.Retain),
			[]KeyringEntry{activeAt(b, rot)}, true, 0},
		{"revoked key kept for good", []KeyringEntry{withState(activeAt(a, t0), KeyRevoked, func(e *KeyringEntry) { e.RevokedAt = t0 }), activeAt(b, t0.Add(999*day))}, t0.Add(1000 * day),
			[]KeyringEntry{withState(activeAt(a, t0), KeyRevoked, func(e *KeyringEntry) { e.RevokedAt = t0 }), activeAt(b, t0.Add(999*day))}, false, 0},
		{"catch-up after an outage applies every rule in one call",
			[]KeyringEntry{retiredAt(a, t0, rot, p.Retain), activeAt(b, rot), nextAt(c, rot.Add(29*day), rot.Add(30*day))}, rot.Add(100 * day),
			[]KeyringEntry{retiredAt(b, rot, rot.Add(100*day), p.Retain),
				withState(nextAt(c, rot.Add(29*day), rot.Add(30*day)), KeyActive, func(e *KeyringEntry) { e.ActivatedAt = rot.Add(100 * day) })}, true, 0},
		{"entries come back sorted by CreatedAt", []KeyringEntry{activeAt(b, rot), retiredAt(a, t0, rot, p.Retain)}, rot,
			[]KeyringEntry{retiredAt(a, t0, rot, p.Retain), activeAt(b, rot)}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			g := &fakeGen{}
			got, changed, err := Plan(in, p, tc.now, g.gen)
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, got, tc.want)
			if changed != tc.changed || g.calls != tc.gens {
				t.Fatalf("changed %v, generated %d; want %v, %d", changed, g.calls, tc.changed, tc.gens)
			}
			sameEntries(t, in, tc.in)
			again, changed, err := Plan(got, p, tc.now, g.gen)
			if err != nil || changed {
				t.Fatalf("second Plan at the same instant changed %v, err %v", changed, err)
			}
			sameEntries(t, again, got)
		})
	}
}

var errGen = errors.New("entropy exhausted")

func TestKeyringRejectsInvalidInput(t *testing.T) {
	a, b := fixedKey("a"), fixedKey("b")
	good := []KeyringEntry{activeAt(a, t0)}
	pol := func(f func(*KeyringPolicy)) KeyringPolicy { p := testPolicy; f(&p); return p }
	cases := []struct {
		name    string
		entries []KeyringEntry
		p       KeyringPolicy
		gen     *fakeGen
		want    error
	}{
		{"two active keys", []KeyringEntry{activeAt(a, t0), activeAt(b, t0)}, testPolicy, &fakeGen{}, ErrInvalidKeyring},
		{"two next keys", []KeyringEntry{activeAt(a, t0), nextAt(b, t0, t0), nextAt(fixedKey("c"), t0, t0)}, testPolicy, &fakeGen{}, ErrInvalidKeyring},
		{"nil key", []KeyringEntry{{State: KeyActive}}, testPolicy, &fakeGen{}, ErrInvalidKeyring},
		{"zero key", []KeyringEntry{{Key: &SigningKey{}, State: KeyActive}}, testPolicy, &fakeGen{}, ErrInvalidKeyring},
		{"duplicate kid", []KeyringEntry{activeAt(a, t0), withState(activeAt(fixedKey("a"), t0), KeyRetired, nil)}, testPolicy, &fakeGen{}, ErrInvalidKeyring},
		{"unknown state", []KeyringEntry{withState(activeAt(a, t0), "paused", nil)}, testPolicy, &fakeGen{}, ErrInvalidKeyring},
		{"no algorithm", good, pol(func(p *KeyringPolicy) { p.Alg = "" }), &fakeGen{}, ErrInvalidConfig},
		{"HS256", good, pol(func(p *KeyringPolicy) { p.Alg = "HS256" }), &fakeGen{}, ErrInvalidConfig},
		{"zero rotation period", good, pol(func(p *KeyringPolicy) { p.RotationPeriod = 0 }), &fakeGen{}, ErrInvalidConfig},
		{"zero publish lead", good, pol(func(p *KeyringPolicy) { p.PublishLead = 0 }), &fakeGen{}, ErrInvalidConfig},
		{"negative retain", good, pol(func(p *KeyringPolicy) { p.Retain = -time.Hour }), &fakeGen{}, ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Plan(tc.entries, tc.p, t0, tc.gen.gen); !errors.Is(err, tc.want) {
				t.Errorf("Plan: %v, want %v", err, tc.want)
			}
			if _, err := RotateNow(tc.entries, tc.p, t0, tc.gen.gen); !errors.Is(err, tc.want) {
				t.Errorf("RotateNow: %v, want %v", err, tc.want)
			}
			if _, err := Revoke(tc.entries, a.KID(), tc.p, t0, tc.gen.gen); !errors.Is(err, tc.want) {
				t.Errorf("Revoke: %v, want %v", err, tc.want)
			}
		})
	}
	gens := []struct {
		name string
		gen  *fakeGen
		want error
	}{
		{"generator fails", &fakeGen{err: errGen}, errGen},
		{"generator repeats a kid", &fakeGen{fixed: a}, ErrInvalidKeyring},
		{"generator returns nil", &fakeGen{fixed: &SigningKey{}}, ErrInvalidSigningKey},
	}
	for _, tc := range gens {
		t.Run(tc.name, func(t *testing.T) {
			due := []KeyringEntry{activeAt(a, t0)}
			if _, _, err := Plan(due, testPolicy, t0.Add(60*day), tc.gen.gen); !errors.Is(err, tc.want) {
				t.Errorf("Plan: %v, want %v", err, tc.want)
			}
			if _, err := RotateNow(due, testPolicy, t0, tc.gen.gen); !errors.Is(err, tc.want) {
				t.Errorf("RotateNow: %v, want %v", err, tc.want)
			}
			if _, err := Revoke(due, a.KID(), testPolicy, t0, tc.gen.gen); !errors.Is(err, tc.want) {
				t.Errorf("Revoke: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRotateNow(t *testing.T) {
	a, b, g1 := fixedKey("a"), fixedKey("b"), fixedKey("gen-1")
	now := t0.Add(10 * day)
	cases := []struct {
		name string
		in   []KeyringEntry
		want []KeyringEntry
		gens int
	}{
		{"no next key: one is published for the full lead", []KeyringEntry{activeAt(a, t0)},
			[]KeyringEntry{activeAt(a, t0), nextAt(g1, now, now.Add(time.Hour))}, 1},
		{"next key published long ago activates now", []KeyringEntry{activeAt(a, t0), nextAt(b, t0.Add(day), t0.Add(30*day))},
			[]KeyringEntry{activeAt(a, t0), nextAt(b, t0.Add(day), now)}, 0},
		{"next key published minutes ago keeps the lead", []KeyringEntry{activeAt(a, t0), nextAt(b, now.Add(-10*time.Minute), t0.Add(30*day))},
			[]KeyringEntry{activeAt(a, t0), nextAt(b, now.Add(-10*time.Minute), now.Add(50*time.Minute))}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			g := &fakeGen{}
			got, err := RotateNow(in, testPolicy, now, g.gen)
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, got, tc.want)
			sameEntries(t, in, tc.in)
			if g.calls != tc.gens {
				t.Fatalf("generated %d keys, want %d", g.calls, tc.gens)
			}
			// Plan activates the next key at ActivateAt and not before.
			at := got[len(got)-1].ActivateAt
			early, _, err := Plan(got, testPolicy, at.Add(-time.Nanosecond), g.gen)
			if err != nil || early[len(early)-1].State != KeyNext {
				t.Fatalf("next key activated early: %s, %v", describe(early), err)
			}
			late, _, err := Plan(got, testPolicy, at, g.gen)
			if err != nil || late[len(late)-1].State != KeyActive || late[len(late)-2].State != KeyRetired {
				t.Fatalf("next key not activated at ActivateAt: %s, %v", describe(late), err)
			}
			if pub := late[len(late)-1]; pub.ActivatedAt.Sub(pub.CreatedAt) < testPolicy.PublishLead {
				t.Fatalf("key signed %s after it was created", pub.ActivatedAt.Sub(pub.CreatedAt))
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	a, b, c, g1 := fixedKey("a"), fixedKey("b"), fixedKey("c"), fixedKey("gen-1")
	rot := t0.Add(30 * day)
	now := rot.Add(time.Hour)
	revoked := func(e KeyringEntry) KeyringEntry {
		return withState(e, KeyRevoked, func(e *KeyringEntry) { e.RevokedAt = now })
	}
	retired := retiredAt(a, t0, rot, 2*time.Hour)
	active := activeAt(b, rot)
	next := nextAt(c, now.Add(-30*time.Minute), now.Add(time.Hour))
	cases := []struct {
		name string
		in   []KeyringEntry
		kid  string
		want []KeyringEntry
		gens int
		err  error
	}{
		{"retired key", []KeyringEntry{retired, active}, a.KID(), []KeyringEntry{revoked(retired), active}, 0, nil},
		{"next key", []KeyringEntry{active, next}, c.KID(), []KeyringEntry{active, revoked(next)}, 0, nil},
		{"active key hands over to the next key", []KeyringEntry{retired, active, next}, b.KID(),
			[]KeyringEntry{retired, revoked(active), withState(next, KeyActive, func(e *KeyringEntry) { e.ActivateAt, e.ActivatedAt = now, now })}, 0, nil},
		{"active key without a next key gets a new one", []KeyringEntry{retired, active}, b.KID(),
			[]KeyringEntry{retired, revoked(active), activeAt(g1, now)}, 1, nil},
		{"unknown kid", []KeyringEntry{active}, "no-such-kid", nil, 0, ErrUnknownKey},
		{"removed key", []KeyringEntry{withState(retired, KeyRemoved, nil), active}, a.KID(), nil, 0, ErrKeyState},
		{"revoked key", []KeyringEntry{revoked(retired), active}, a.KID(), nil, 0, ErrKeyState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			g := &fakeGen{}
			got, err := Revoke(in, tc.kid, testPolicy, now, g.gen)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			sameEntries(t, in, tc.in)
			if tc.err != nil {
				return
			}
			sameEntries(t, got, tc.want)
			if g.calls != tc.gens {
				t.Fatalf("generated %d keys, want %d", g.calls, tc.gens)
			}
		})
	}
}

func TestNewFromKeyring(t *testing.T) {
	removed, revoked, retired, active, next := fixedKey("removed"), fixedKey("revoked"), fixedKey("retired"), fixedKey("active"), fixedECKey(t, "next")
	rot := t0.Add(30 * day)
	entries := []KeyringEntry{
		withState(retiredAt(removed, t0.Add(-60*day), t0.Add(-30*day), time.Hour), KeyRemoved, nil),
		withState(activeAt(revoked, t0.Add(-40*day)), KeyRevoked, func(e *KeyringEntry) { e.RevokedAt = t0 }),
		retiredAt(retired, t0.Add(-30*day), t0, time.Hour),
		activeAt(active, t0),
		nextAt(next, rot.Add(-time.Hour), rot),
	}
	iss, err := NewFromKeyring(testConfig(), entries)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, j := range iss.JWKS() {
		kids = append(kids, j.Kid)
	}
	if want := []string{active.KID(), retired.KID(), next.KID()}; !slices.Equal(kids, want) {
		t.Fatalf("JWKS kids %v, want %v", kids, want)
	}
	tok, err := iss.Mint(testGrant())
	if err != nil {
		t.Fatal(err)
	}
	if hdr := decodeSegment(t, tok.Raw[:strings.IndexByte(tok.Raw, '.')]); string(hdr["kid"]) != `"`+active.KID()+`"` {
		t.Fatalf("minted with kid %s", hdr["kid"])
	}
	for _, tc := range []struct {
		name string
		key  *SigningKey
		want error
	}{
		{"active", active, nil}, {"retired", retired, nil}, {"next", next, nil},
		{"removed", removed, ErrUnknownKey}, {"revoked", revoked, ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.Verify(signWith(t, tc.key), VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
	bad := []struct {
		name    string
		cfg     Config
		entries []KeyringEntry
		want    error
	}{
		{"empty keyring", testConfig(), nil, ErrInvalidKeyring},
		{"no active key", testConfig(), entries[:3], ErrInvalidKeyring},
		{"two active keys", testConfig(), append(slices.Clone(entries), activeAt(fixedKey("x"), t0)), ErrInvalidKeyring},
		{"bad config", Config{}, entries, ErrInvalidConfig},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if iss, err := NewFromKeyring(tc.cfg, tc.entries); !errors.Is(err, tc.want) || iss != nil {
				t.Fatalf("got %v, %v; want %v", iss, err, tc.want)
			}
		})
	}
}

// signWith signs the valid test claims with any of our keys, as Mint would.
func signWith(t testing.TB, k *SigningKey) string {
	t.Helper()
	return signMaps(t, validHeader(k), validClaims(), jwt.GetSigningMethod(k.Alg()), k.priv)
}
