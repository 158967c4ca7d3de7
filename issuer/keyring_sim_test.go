package issuer

import (
	"errors"
	"testing"
	"time"
)

// simToken is a token minted during the simulation.
type simToken struct {
	raw, kid string
	exp      time.Time
}

// J22: run the keyring hour by hour with a fake clock, minting a token at
// every step and checking every outstanding token and the JWKS each time.
// A quarter of the way in the rotation is forced early, half way the active
// key is revoked, and after three quarters the first retired key seen is
// revoked.
func TestKeyringSimulation(t *testing.T) {
	cases := []struct {
		name, alg    string
		days, period int
		step         time.Duration
	}{
		{"EdDSA", AlgEdDSA, 400, 30, time.Hour},
		{"ES256", AlgES256, 100, 30, time.Hour},
		{"RS256", AlgRS256, 70, 30, time.Hour},
		// A step shorter than the token lifetime catches a Retain that
		// is shorter than the lifetime, which hourly steps cannot see.
		{"EdDSA 7-minute steps", AlgEdDSA, 24, 5, 7 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			simulate(t, tc.alg, tc.days, tc.period, tc.step)
		})
	}
}

func simulate(t *testing.T, alg string, days, periodDays int, step time.Duration) {
	const (
		ttl    = time.Hour
		leeway = 30 * time.Second
	)
	p := KeyringPolicy{Alg: alg, RotationPeriod: time.Duration(periodDays) * day, PublishLead: time.Hour, Retain: ttl + leeway}
	g := &fakeGen{}
	steps := int(time.Duration(days) * day / step)
	rotateAt, revokeActiveAt, revokeRetiredAfter := steps/4, steps/2, steps*3/4
	var (
		entries     []KeyringEntry
		live        []simToken
		published   = map[string]time.Time{} // kid -> first seen in the JWKS
		firstUse    = map[string]time.Time{}
		exempt      = map[string]bool{} // kids that had to sign at once
		revokedKids = map[string]bool{}
		events      int
	)
	for n := 0; n <= steps; n++ {
		now := t0.Add(time.Duration(n) * step)
		var err error
		entries, _, err = Plan(entries, p, now, g.gen)
		if err != nil {
			t.Fatalf("step %d: Plan: %v", n, err)
		}
		if n == 0 {
			exempt[entries[0].Key.KID()] = true
		}
		switch {
		case n == rotateAt:
			events++
			entries = mustRotate(t, entries, p, now, g)
		case n == revokeActiveAt:
			events++
			entries = mustRevoke(t, entries, KeyActive, p, now, g, revokedKids, exempt)
		case n > revokeRetiredAfter && events == 2 && hasState(entries, KeyRetired):
			events++
			entries = mustRevoke(t, entries, KeyRetired, p, now, g, revokedKids, exempt)
		}
		iss, err := NewFromKeyring(Config{Issuer: testIssuer, MaxTTL: ttl, Leeway: leeway, Now: func() time.Time { return now }}, entries)
		if err != nil {
			t.Fatalf("step %d: NewFromKeyring: %v", n, err)
		}
		jwks := map[string]bool{}
		for _, j := range iss.JWKS() {
			if jwks[j.Kid] || j.Use != "sig" || j.Alg == "" {
				t.Fatalf("step %d: bad or repeated JWK %+v", n, j)
			}
			jwks[j.Kid] = true
			if _, ok := published[j.Kid]; !ok {
				published[j.Kid] = now
			}
			if revokedKids[j.Kid] {
				t.Fatalf("step %d: revoked kid %s is published", n, j.Kid)
			}
		}
		if len(jwks) > 3 {
			t.Fatalf("step %d: %d keys published", n, len(jwks))
		}
		live = checkTokens(t, n, iss, now, leeway, live, jwks, revokedKids)

		tok, err := iss.Mint(Grant{Subject: "s", ClientID: "c", Audiences: []string{"svc"}, TTL: ttl, CertThumbprint: testThumbprint})
		if err != nil {
			t.Fatalf("step %d: Mint: %v", n, err)
		}
		kid := activeKID(entries)
		if _, ok := firstUse[kid]; !ok {
			firstUse[kid] = now
			if lead := now.Sub(published[kid]); lead < p.PublishLead && !exempt[kid] {
				t.Fatalf("step %d: kid %s signed %s after it was published, want at least %s", n, kid, lead, p.PublishLead)
			}
		}
		live = append(live, simToken{raw: tok.Raw, kid: kid, exp: tok.ExpiresAt})
	}
	if events != 3 {
		t.Fatalf("only %d of the 3 scheduled events happened", events)
	}
	// Regular rotations every 30 days, plus the forced one and the
	// replacement after revocation; removed keys are dropped, so the
	// keyring stays small.
	if want := days/periodDays + 1; len(firstUse) < want {
		t.Fatalf("%d keys signed, want at least %d", len(firstUse), want)
	}
	if len(entries) > 5 {
		t.Fatalf("keyring grew to %d entries: %s", len(entries), describe(entries))
	}
}

// checkTokens verifies every outstanding token and returns those that are
// still worth checking at the next step.
func checkTokens(t *testing.T, n int, iss *Issuer, now time.Time, leeway time.Duration, live []simToken, jwks, revoked map[string]bool) []simToken {
	t.Helper()
	var keep []simToken
	for _, tok := range live {
		_, err := iss.Verify(tok.raw, VerifyOptions{Audience: "svc"})
		switch {
		case revoked[tok.kid]:
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("step %d: token of revoked kid %s: %v, want ErrUnknownKey", n, tok.kid, err)
			}
			continue
		case !now.After(tok.exp.Add(leeway)):
			if err != nil {
				t.Fatalf("step %d: unexpired token (exp %s) of kid %s rejected: %v", n, tok.exp.Sub(now), tok.kid, err)
			}
			if !jwks[tok.kid] {
				t.Fatalf("step %d: kid %s of an unexpired token is not published", n, tok.kid)
			}
			keep = append(keep, tok)
		default:
			if !errors.Is(err, ErrExpired) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("step %d: expired token: %v", n, err)
			}
		}
	}
	return keep
}

func mustRotate(t *testing.T, entries []KeyringEntry, p KeyringPolicy, now time.Time, g *fakeGen) []KeyringEntry {
	t.Helper()
	out, err := RotateNow(entries, p, now, g.gen)
	if err != nil {
		t.Fatal(err)
	}
	if hasState(entries, KeyNext) || !hasState(out, KeyNext) {
		t.Fatalf("RotateNow at a quiet time should add a next key: %s", describe(out))
	}
	for _, e := range out {
		if e.State == KeyNext && e.ActivateAt.Sub(e.CreatedAt) < p.PublishLead {
			t.Fatalf("RotateNow cut the publish lead: %s", describe(out))
		}
	}
	return out
}

func mustRevoke(t *testing.T, entries []KeyringEntry, s KeyState, p KeyringPolicy, now time.Time, g *fakeGen, revoked, exempt map[string]bool) []KeyringEntry {
	t.Helper()
	var kid string
	for _, e := range entries {
		if e.State == s {
			kid = e.Key.KID()
		}
	}
	out, err := Revoke(entries, kid, p, now, g.gen)
	if err != nil {
		t.Fatal(err)
	}
	revoked[kid] = true
	if s == KeyActive {
		// The replacement signs at once: a suspect key must not.
		exempt[activeKID(out)] = true
		if activeKID(out) == kid {
			t.Fatal("revoked key is still active")
		}
	}
	return out
}

func hasState(entries []KeyringEntry, s KeyState) bool {
	for _, e := range entries {
		if e.State == s {
			return true
		}
	}
	return false
}

func activeKID(entries []KeyringEntry) string {
	for _, e := range entries {
		if e.State == KeyActive {
			return e.Key.KID()
		}
	}
	return ""
}
