package verifier

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// fuzzKey is fixed so that the committed corpus holds tokens that verify.
func fuzzKey() testKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return testKey{kid: "kid-fuzz", alg: algEdDSA, priv: ed25519.NewKeyFromSeed(seed)}
}

// FuzzVerify feeds arbitrary strings to the local verifier. It must never
// panic, and it may accept only the exact valid token the corpus starts from:
// Ed25519 signatures are not malleable, so any other accepted input would be
// a forgery.
func FuzzVerify(f *testing.F) {
	k := fuzzKey()
	valid := k.sign(f, k.header(), claimsJSON(f, nil))
	f.Add(valid)
	f.Add(k.sign(f, `{"alg":"EdDSA","typ":"at+jwt","kid":"kid-fuzz","jku":"https://x"}`, claimsJSON(f, nil)))
	f.Add(k.sign(f, k.header(), `{"iss":1}`))
	v := offlineVerifier(f, func() time.Time { return t0 }, k)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token, nil)
		if err == nil && token != valid {
			t.Fatalf("accepted a token that was never signed: %q (%+v)", token, c)
		}
	})
}
