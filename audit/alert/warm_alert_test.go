package alert

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
)

// An alert raised before a restart keeps its cooldown after it: the same
// condition is not alerted again until the cooldown ends.
func TestWarmAlertRestartsTheCooldown(t *testing.T) {
	newDetector := func(t *testing.T) *Detector {
		d, err := NewDetector(Config{Cooldown: time.Minute, InvalidKeyCount: 3, InvalidKeyWindow: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		d.Warm(exchange(0))
		return d
	}
	kinds := func(as []Alert) []Kind {
		var out []Kind
		for _, a := range as {
			out = append(out, a.Kind)
		}
		return out
	}

	t.Run("new identity", func(t *testing.T) {
		d := newDetector(t)
		d.WarmAlert(NewIdentity, "k1", idB, t0.Add(10*time.Second))
		if got := d.Observe(exchange(40*time.Second, actor(idC))); len(got) != 0 {
			t.Errorf("within the cooldown: %v, want none", kinds(got))
		}
		if got := d.Observe(exchange(2*time.Minute, actor(idX))); len(got) != 1 || got[0].Kind != NewIdentity {
			t.Errorf("after the cooldown: %v, want a new identity", kinds(got))
		}
	})
	t.Run("without it the same use alerts", func(t *testing.T) {
		d := newDetector(t)
		if got := d.Observe(exchange(40*time.Second, actor(idC))); len(got) != 1 || got[0].Kind != NewIdentity {
			t.Errorf("no warmed alert: %v, want a new identity", kinds(got))
		}
	})
	t.Run("an older alert does not shorten a later cooldown", func(t *testing.T) {
		d := newDetector(t)
		d.WarmAlert(NewNetwork, "k1", "", t0.Add(50*time.Second))
		d.WarmAlert(NewNetwork, "k1", "", t0.Add(5*time.Second))
		if got := d.Observe(exchange(90*time.Second, peer("192.0.2.1:1"))); len(got) != 0 {
			t.Errorf("inside the later cooldown: %v, want none", kinds(got))
		}
	})
	t.Run("invalid key burst", func(t *testing.T) {
		d := newDetector(t)
		d.WarmAlert(InvalidKeyBurst, "", idX, t0.Add(10*time.Second))
		var got []Alert
		for i := range 4 {
			got = append(got, d.Observe(exchange(time.Duration(20+i)*time.Second, actor(idX), invalid(audit.ReasonUnknownKey)))...)
		}
		if len(got) != 0 {
			t.Errorf("a burst within the cooldown: %v, want none", kinds(got))
		}
	})
	t.Run("flagged key use", func(t *testing.T) {
		d := newDetector(t)
		d.WarmAlert(FlaggedKeyUse, "k1", idA, t0.Add(10*time.Second))
		if got := d.Observe(exchange(30*time.Second, flags(audit.FlagLeaked))); len(got) != 0 {
			t.Errorf("within the cooldown: %v, want none", kinds(got))
		}
		if got := d.Observe(exchange(2*time.Minute, flags(audit.FlagLeaked))); len(got) != 1 || got[0].Kind != FlaggedKeyUse {
			t.Errorf("after the cooldown: %v, want a flagged key use", kinds(got))
		}
	})
	t.Run("scope probe", func(t *testing.T) {
		d := newDetector(t)
		d.WarmAlert(ScopeProbe, "k1", idA, t0.Add(10*time.Second))
		var got []Alert
		for i := range 6 { // the default count is 5 within 10 minutes
			got = append(got, d.Observe(exchange(time.Duration(11+i)*time.Second, denied(audit.ReasonScopeDenied)))...)
		}
		if len(got) != 0 {
			t.Errorf("probes within the cooldown: %v, want none", kinds(got))
		}
		fresh := newDetector(t)
		for i := range 6 {
			got = append(got, fresh.Observe(exchange(time.Duration(11+i)*time.Second, denied(audit.ReasonScopeDenied)))...)
		}
		if len(got) != 1 || got[0].Kind != ScopeProbe {
			t.Errorf("the same probes without the warmed alert: %v, want one scope probe", kinds(got))
		}
	})
	t.Run("an unknown key keeps nothing", func(t *testing.T) {
		d := newDetector(t)
		before := d.Tracked()
		d.WarmAlert(RateSpike, "k-unknown", "", t0)
		d.WarmAlert(Kind("no_such_kind"), "k1", "", t0)
		d.WarmAlert(InvalidKeyBurst, "", "", t0)
		if d.Tracked() != before {
			t.Errorf("tracked %d after warming unknown alerts, want %d", d.Tracked(), before)
		}
	})
}
