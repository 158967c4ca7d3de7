package alert

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
)

func TestIdentityAndNetworkAlerts(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "first use teaches and a second identity alerts once",
			steps: then(quiet(exchange(0), exchange(time.Second)),
				step{exchange(2*time.Second, actor(idB)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idB,
					Detail: map[string]string{"known_identities": "1"}}}},
				step{e: exchange(3*time.Second, actor(idB))},
			),
		},
		{
			name: "a denied exchange neither teaches nor alerts",
			steps: then(quiet(
				exchange(0, denied(audit.ReasonNotBound)),
				exchange(time.Second, actor(idB)), // the first identity the key is granted to
			),
				step{exchange(2*time.Second, actor(idA)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idA}}},
				step{e: exchange(3*time.Second, actor(idC), denied(audit.ReasonNotBound))},
			),
		},
		{
			name: "the same /24 is not a new network",
			steps: then(quiet(exchange(0), exchange(time.Second, peer("10.0.0.200:1"))),
				step{exchange(2*time.Second, peer("10.0.1.1:1")), []Alert{{Kind: NewNetwork, KeyID: "k1", Identity: idA,
					Network: "10.0.1.0/24", Detail: map[string]string{"known_networks": "1"}}}},
				step{e: exchange(3*time.Second, peer("10.0.1.9:2"))},
			),
		},
		{
			name: "the same /64 is not a new network",
			steps: then(quiet(
				exchange(0, peer("[2001:db8::1]:443")),
				exchange(time.Second, peer("[2001:db8::ffff:1%eth0]:443")),
			),
				step{exchange(2*time.Second, peer("[2001:db8:0:1::1]:443")), []Alert{{Kind: NewNetwork, KeyID: "k1",
					Identity: idA, Network: "2001:db8:0:1::/64"}}},
			),
		},
		{
			name:  "an IPv4-mapped address is its IPv4 network",
			steps: quiet(exchange(0), exchange(time.Second, peer("[::ffff:10.0.0.7]:1"))),
		},
		{
			name: "new identity and new network together",
			steps: then(quiet(exchange(0)),
				step{exchange(time.Second, actor(idB), peer("192.0.2.1:5")), []Alert{
					{Kind: NewIdentity, KeyID: "k1", Identity: idB},
					{Kind: NewNetwork, KeyID: "k1", Identity: idB, Network: "192.0.2.0/24"},
				}},
			),
		},
		{
			name: "new identity respects the cooldown and learns meanwhile",
			steps: then(quiet(exchange(0)),
				step{exchange(time.Minute, actor(idB)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idB}}},
				step{e: exchange(16*time.Minute-time.Millisecond, actor(idC))},
				step{e: exchange(17*time.Minute, actor(idC))},
				step{exchange(18*time.Minute, actor(idX)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idX}}},
			),
		},
		{
			name: "keys are independent",
			steps: then(quiet(exchange(0), exchange(time.Second, key("k2"), actor(idB))),
				step{exchange(2*time.Second, key("k2"), actor(idA)), []Alert{{Kind: NewIdentity, KeyID: "k2", Identity: idA}}},
			),
		},
		{
			name: "the least recently seen identity makes room",
			cfg:  Config{MaxKnownPerKey: 2, Cooldown: time.Millisecond},
			steps: then(quiet(exchange(0)),
				step{exchange(1*time.Second, actor(idB)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idB}}},
				step{e: exchange(2 * time.Second)}, // idA is now more recent than idB
				step{exchange(3*time.Second, actor(idC)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idC}}},
				step{e: exchange(4 * time.Second)},
				step{exchange(5*time.Second, actor(idB)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idB}}},
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustDetector(t, tc.cfg), tc.steps)
		})
	}
}

func TestFlaggedKeyUse(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
	}{
		{
			name: "even the first use of a flagged key alerts",
			steps: []step{{exchange(0, flags(audit.FlagLeaked)), []Alert{{Kind: FlaggedKeyUse, KeyID: "k1", Identity: idA,
				Detail: map[string]string{"flags": "leaked", "result": "ok"}}}}},
		},
		{
			name: "a denied exchange with a flagged key alerts",
			steps: []step{{exchange(0, actor(idX), denied(audit.ReasonKeyDisabled), flags(audit.FlagLeaked, audit.FlagRotationDue)),
				[]Alert{{Kind: FlaggedKeyUse, KeyID: "k1", Identity: idX,
					Detail: map[string]string{"flags": "leaked,rotation_due", "result": "denied"}}}}},
		},
		{
			name: "cooldown per key",
			steps: []step{
				{exchange(0, flags(audit.FlagAttestationOverdue)), []Alert{{Kind: FlaggedKeyUse, KeyID: "k1", Identity: idA}}},
				{e: exchange(15*time.Minute-time.Millisecond, flags(audit.FlagAttestationOverdue))},
				{exchange(time.Minute, key("k2"), flags(audit.FlagLeaked)), []Alert{{Kind: FlaggedKeyUse, KeyID: "k2", Identity: idA}}},
				{exchange(15*time.Minute, flags(audit.FlagAttestationOverdue)), []Alert{{Kind: FlaggedKeyUse, KeyID: "k1", Identity: idA}}},
			},
		},
		{
			name: "flags come first, then what the exchange teaches",
			steps: then(quiet(exchange(0)),
				step{exchange(time.Second, actor(idB), flags(audit.FlagLeaked)), []Alert{
					{Kind: FlaggedKeyUse, KeyID: "k1", Identity: idB},
					{Kind: NewIdentity, KeyID: "k1", Identity: idB},
				}},
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustDetector(t, Config{}), tc.steps)
		})
	}
}

func TestScopeProbe(t *testing.T) {
	scope := denied(audit.ReasonScopeDenied)
	probe := func(key string) []Alert {
		return []Alert{{Kind: ScopeProbe, KeyID: key, Identity: idA, Detail: map[string]string{"count": "5", "window": "10m0s"}}}
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name:  "the fifth denial within the window alerts",
			steps: then(quiet(every(4, 0, time.Minute, scope)...), step{exchange(4*time.Minute, scope), probe("k1")}),
		},
		{
			name:  "the fifth denial just inside the window alerts",
			steps: then(quiet(every(4, 0, time.Minute, scope)...), step{exchange(10*time.Minute-time.Millisecond, scope), probe("k1")}),
		},
		{
			name: "the window slides",
			steps: then(quiet(append(every(4, 0, time.Minute, scope), exchange(10*time.Minute, scope))...),
				step{exchange(10*time.Minute+time.Millisecond, scope), probe("k1")}),
		},
		{
			name: "other outcomes do not count",
			steps: then(quiet(append(every(4, 0, time.Second, scope),
				exchange(5*time.Second),
				exchange(6*time.Second, denied(audit.ReasonNotBound)),
				exchange(7*time.Second, denied(audit.ReasonRateLimited)))...),
				step{exchange(8*time.Second, scope), probe("k1")}),
		},
		{
			name: "keys are counted apart",
			steps: then(quiet(append(every(4, 0, time.Second, scope), every(4, 0, time.Second, scope, key("k2"))...)...),
				step{exchange(5*time.Second, scope, key("k2")), probe("k2")}),
		},
		{
			name: "an alert empties the window",
			cfg:  Config{Cooldown: time.Millisecond},
			steps: concat(
				quiet(every(4, 0, time.Second, scope)...),
				[]step{{exchange(4*time.Second, scope), probe("k1")}},
				quiet(every(4, 5*time.Second, time.Second, scope)...),
				[]step{{exchange(9*time.Second, scope), probe("k1")}},
			),
		},
		{
			name: "cooldown, then five fresh denials",
			steps: concat(
				quiet(every(4, 0, time.Minute, scope)...),
				[]step{{exchange(4*time.Minute, scope), probe("k1")}},
				quiet(every(5, 15*time.Minute, time.Second, scope)...),
				quiet(exchange(19*time.Minute-time.Millisecond, scope)),
				[]step{{exchange(19*time.Minute, scope), probe("k1")}},
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustDetector(t, tc.cfg), tc.steps)
		})
	}
}

func TestInvalidKeyBurst(t *testing.T) {
	reasons := []string{audit.ReasonMalformedKey, audit.ReasonUnknownKey, audit.ReasonBadSecret}
	// burst returns n invalid-key denials by id, two seconds apart from start,
	// cycling through the reasons that count.
	burst := func(n int, start time.Duration, id string) []audit.Event {
		out := make([]audit.Event, n)
		for i := range out {
			out[i] = exchange(start+time.Duration(i)*2*time.Second, actor(id), invalid(reasons[i%len(reasons)]))
		}
		return out
	}
	fired := func(id, reason string) []Alert {
		return []Alert{{Kind: InvalidKeyBurst, Identity: id,
			Detail: map[string]string{"count": "20", "window": "1m0s", "last_reason": reason}}}
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name:  "the twentieth within a minute alerts",
			steps: then(quiet(burst(19, 0, idX)...), step{exchange(38*time.Second, actor(idX), invalid(audit.ReasonBadSecret)), fired(idX, "bad_secret")}),
		},
		{
			name:  "twenty spanning exactly a minute do not",
			steps: then(quiet(burst(19, 0, idX)...), step{e: exchange(time.Minute, actor(idX), invalid(audit.ReasonBadSecret))}),
		},
		{
			name: "other denials do not count",
			steps: then(quiet(append(burst(19, 0, idX),
				exchange(39*time.Second, actor(idX), invalid(audit.ReasonKeyRevoked)),
				exchange(40*time.Second, actor(idX), invalid(audit.ReasonRateLimited)),
				exchange(41*time.Second, actor(idX), invalid(audit.ReasonInvalidRequest)))...),
				step{exchange(42*time.Second, actor(idX), invalid(audit.ReasonUnknownKey)), fired(idX, "unknown_key")}),
		},
		{
			name: "identities are counted apart",
			steps: then(quiet(append(burst(19, 0, idX), burst(19, 0, idY)...)...),
				step{exchange(50*time.Second, actor(idY), invalid(audit.ReasonMalformedKey)), fired(idY, "malformed_key")}),
		},
		{
			name: "bad secrets naming a real key count too",
			steps: then(quiet(every(19, 0, time.Second, actor(idX), denied(audit.ReasonBadSecret))...),
				step{exchange(19*time.Second, actor(idX), denied(audit.ReasonBadSecret)), fired(idX, "bad_secret")}),
		},
		{
			name: "an alert empties the window",
			cfg:  Config{Cooldown: time.Millisecond},
			steps: concat(
				quiet(burst(19, 0, idX)...),
				[]step{{exchange(38*time.Second, actor(idX), invalid(audit.ReasonBadSecret)), fired(idX, "bad_secret")}},
				quiet(burst(19, 39*time.Second, idX)...),
			),
		},
		{
			name: "cooldown per identity",
			steps: concat(
				quiet(burst(19, 0, idX)...),
				[]step{{exchange(38*time.Second, actor(idX), invalid(audit.ReasonBadSecret)), fired(idX, "bad_secret")}},
				quiet(burst(20, 15*time.Minute-time.Minute, idX)...),
				quiet(burst(19, 20*time.Minute, idX)...),
				[]step{{exchange(20*time.Minute+38*time.Second, actor(idX), invalid(audit.ReasonBadSecret)), fired(idX, "bad_secret")}},
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustDetector(t, tc.cfg), tc.steps)
		})
	}
}
