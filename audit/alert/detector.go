package alert

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
)

// Detector turns audit events into alerts. It is safe for concurrent use.
type Detector struct {
	cfg   Config
	alpha float64
	// Windows and cooldowns in milliseconds, the unit of the stored times.
	scopeWindow, invalidWindow, cooldown int64

	mu     sync.Mutex
	keys   *lru[keyState]
	idents *lru[identState]
}

// NewDetector validates cfg, fills its defaults and returns an empty Detector.
func NewDetector(cfg Config) (*Detector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Detector{
		cfg: cfg,
		// The usual span-N smoothing factor: the last BaselineMinutes
		// minutes carry about 86% of the weight.
		alpha:         2 / (float64(cfg.BaselineMinutes) + 1),
		scopeWindow:   cfg.ScopeProbeWindow.Milliseconds(),
		invalidWindow: cfg.InvalidKeyWindow.Milliseconds(),
		cooldown:      cfg.Cooldown.Milliseconds(),
		keys:          newLRU[keyState](),
		idents:        newLRU[identState](),
	}, nil
}

// Observe considers an exchange event and returns the alerts it raises, or
// nil. Other kinds of event, alert events included, are ignored. The
// event's Time is the clock, so a replay yields the same alerts.
func (d *Detector) Observe(e audit.Event) []Alert {
	return d.observe(&e, true)
}

// Warm learns from a past event exactly as Observe would but never alerts
// and starts no cooldown, so that after a restart known identities and
// networks stay known and baselines keep their history.
func (d *Detector) Warm(e audit.Event) {
	d.observe(&e, false)
}

// WarmAlert restarts the cooldown of an alert raised before a restart, at
// its time, so that a condition which lasts across the restart is not
// alerted again before its cooldown ends. Call it after Warm has learned
// the exchanges: a key the Detector does not know keeps no cooldown.
// Unknown kinds are ignored.
func (d *Detector) WarmAlert(kind Kind, keyID, identity string, at time.Time) {
	ms := at.UnixMilli()
	d.mu.Lock()
	defer d.mu.Unlock()
	if kind == InvalidKeyBurst {
		if identity == "" {
			return
		}
		st := d.idents.get(identity)
		if st == nil {
			st = d.idents.add(identity)
		}
		st.cool.warm(ms)
		d.shrink()
		return
	}
	st := d.keys.get(keyID)
	if keyID == "" || st == nil {
		return
	}
	switch kind {
	case NewIdentity:
		st.coolIdentity.warm(ms)
	case NewNetwork:
		st.coolNetwork.warm(ms)
	case RateSpike:
		st.coolRate.warm(ms)
	case ScopeProbe:
		st.coolScope.warm(ms)
	case FlaggedKeyUse:
		st.coolFlagged.warm(ms)
	}
}

// Tracked reports how many keys and identities the Detector holds state for.
func (d *Detector) Tracked() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keys.len() + d.idents.len()
}

func (d *Detector) observe(e *audit.Event, alerting bool) []Alert {
	if e.Kind != audit.KindExchange {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Alert
	if e.Result == audit.ResultDenied && invalidKeyReason(e.Reason) {
		out = d.observeInvalidKey(e, alerting, out)
	}
	if e.KeyID != "" {
		out = d.observeKey(e, alerting, out)
	}
	d.shrink()
	return out
}

func invalidKeyReason(r string) bool {
	return r == audit.ReasonMalformedKey || r == audit.ReasonUnknownKey || r == audit.ReasonBadSecret
}

// provesKey reports whether an event shows that its KeyID names a real key.
// Only such events may start tracking a key, so that made-up key ids cannot
// push real keys' history out of the table.
func provesKey(e *audit.Event) bool {
	if e.Result == audit.ResultOK || len(e.KeyFlags) > 0 {
		return true
	}
	if e.Result != audit.ResultDenied {
		return false
	}
	switch e.Reason {
	case audit.ReasonBadSecret, audit.ReasonKeyRevoked, audit.ReasonKeyDisabled,
		audit.ReasonKeyExpired, audit.ReasonNotBound, audit.ReasonScopeDenied:
		return true
	}
	return false
}

func (d *Detector) observeInvalidKey(e *audit.Event, alerting bool, out []Alert) []Alert {
	st := d.idents.get(e.Actor)
	if st == nil {
		st = d.idents.add(e.Actor)
	}
	now := e.Time.UnixMilli()
	st.invalid.add(now, d.cfg.InvalidKeyCount)
	if !alerting || !st.invalid.burst(now, d.invalidWindow) || !st.cool.allow(now, d.cooldown) {
		return out
	}
	st.invalid.reset()
	window := d.cfg.InvalidKeyWindow.String()
	return append(out, Alert{
		Kind:     InvalidKeyBurst,
		At:       e.Time,
		Identity: e.Actor,
		Message: fmt.Sprintf("Identity %q presented %d invalid root keys within %s.",
			e.Actor, d.cfg.InvalidKeyCount, window),
		Detail: map[string]string{
			"count":       strconv.Itoa(d.cfg.InvalidKeyCount),
			"window":      window,
			"last_reason": e.Reason,
		},
	})
}

func (d *Detector) observeKey(e *audit.Event, alerting bool, out []Alert) []Alert {
	st := d.keys.get(e.KeyID)
	if st == nil {
		if !provesKey(e) {
			return out
		}
		st = d.keys.add(e.KeyID)
	}
	now := e.Time.UnixMilli()

	if len(e.KeyFlags) > 0 && alerting && st.coolFlagged.allow(now, d.cooldown) {
		flags := strings.Join(e.KeyFlags, ",")
		out = append(out, Alert{
			Kind:     FlaggedKeyUse,
			At:       e.Time,
			KeyID:    e.KeyID,
			Identity: e.Actor,
			Message: fmt.Sprintf("Key %q flagged %s was presented by identity %q (result %s).",
				e.KeyID, flags, e.Actor, e.Result),
			Detail: map[string]string{"flags": flags, "result": string(e.Result)},
		})
	}

	if e.Result == audit.ResultOK {
		out = d.learnIdentity(e, st, now, alerting, out)
		out = d.learnNetwork(e, st, now, alerting, out)
	}

	out = d.countRate(e, st, alerting, out)

	if e.Result == audit.ResultDenied && e.Reason == audit.ReasonScopeDenied {
		out = d.countScopeDenial(e, st, now, alerting, out)
	}
	return out
}

func (d *Detector) learnIdentity(e *audit.Event, st *keyState, now int64, alerting bool, out []Alert) []Alert {
	if e.Actor == "" {
		return out
	}
	if i := st.idents.find(e.Actor); i >= 0 {
		st.idents.at(i).last = now
		return out
	}
	known := st.idents.len()
	// A new identity is learned even when the alert is held back by the
	// cooldown: the first alert has already drawn attention to the key.
	st.idents.remember(e.Actor, now, d.cfg.MaxKnownPerKey)
	if known == 0 || !alerting || !st.coolIdentity.allow(now, d.cooldown) {
		return out
	}
	return append(out, Alert{
		Kind:     NewIdentity,
		At:       e.Time,
		KeyID:    e.KeyID,
		Identity: e.Actor,
		Message:  fmt.Sprintf("Key %q was used by identity %q, which had not used it before.", e.KeyID, e.Actor),
		Detail:   map[string]string{"known_identities": strconv.Itoa(known)},
	})
}

func (d *Detector) learnNetwork(e *audit.Event, st *keyState, now int64, alerting bool, out []Alert) []Alert {
	net, ok := networkOf(e.Peer)
	if !ok {
		return out
	}
	if i := st.nets.find(net); i >= 0 {
		st.nets.at(i).last = now
		return out
	}
	known := st.nets.len()
	st.nets.remember(net, now, d.cfg.MaxKnownPerKey)
	if known == 0 || !alerting || !st.coolNetwork.allow(now, d.cooldown) {
		return out
	}
	return append(out, Alert{
		Kind:     NewNetwork,
		At:       e.Time,
		KeyID:    e.KeyID,
		Identity: e.Actor,
		Network:  net.String(),
		Message: fmt.Sprintf("Key %q was used from network %s, which had not used it before.",
			e.KeyID, net),
		Detail: map[string]string{"known_networks": strconv.Itoa(known)},
	})
}

// networkOf returns the /24 (IPv4) or /64 (IPv6) holding the peer address.
func networkOf(peer netip.AddrPort) (netip.Prefix, bool) {
	addr := peer.Addr().Unmap().WithZone("")
	if !addr.IsValid() {
		return netip.Prefix{}, false
	}
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, err := addr.Prefix(bits)
	return p, err == nil
}

func (d *Detector) countRate(e *audit.Event, st *keyState, alerting bool, out []Alert) []Alert {
	minute := floorDiv(e.Time.Unix(), 60)
	st.rate.add(minute, d.alpha, d.cfg.BaselineMinutes)
	if !alerting || int(st.rate.history) < d.cfg.BaselineMinutes {
		return out
	}
	base := st.rate.baseline()
	threshold := max(d.cfg.RateSpikeFactor*base, float64(d.cfg.RateSpikeMin))
	if float64(st.rate.count) <= threshold || !st.coolRate.allow(e.Time.UnixMilli(), d.cooldown) {
		return out
	}
	baseText := strconv.FormatFloat(base, 'f', 2, 64)
	return append(out, Alert{
		Kind:     RateSpike,
		At:       e.Time,
		KeyID:    e.KeyID,
		Identity: e.Actor,
		Message: fmt.Sprintf("Key %q made %d exchanges in one minute against a baseline of %s per minute.",
			e.KeyID, st.rate.count, baseText),
		Detail: map[string]string{
			"count":            strconv.Itoa(int(st.rate.count)),
			"baseline_per_min": baseText,
			"threshold":        strconv.FormatFloat(threshold, 'f', 2, 64),
			"window":           "1m",
		},
	})
}

func (d *Detector) countScopeDenial(e *audit.Event, st *keyState, now int64, alerting bool, out []Alert) []Alert {
	if st.scope == nil {
		st.scope = &window{}
	}
	st.scope.add(now, d.cfg.ScopeProbeCount)
	if !alerting || !st.scope.burst(now, d.scopeWindow) || !st.coolScope.allow(now, d.cooldown) {
		return out
	}
	st.scope.reset()
	window := d.cfg.ScopeProbeWindow.String()
	return append(out, Alert{
		Kind:     ScopeProbe,
		At:       e.Time,
		KeyID:    e.KeyID,
		Identity: e.Actor,
		Message: fmt.Sprintf("Key %q was refused requested scopes %d times within %s.",
			e.KeyID, d.cfg.ScopeProbeCount, window),
		Detail: map[string]string{
			"count":  strconv.Itoa(d.cfg.ScopeProbeCount),
			"window": window,
		},
	})
}

// shrink forgets the least recently seen entries beyond MaxTracked. Keys
// and caller identities each have a protected share (three quarters and one
// quarter): a flood of callers presenting invalid keys evicts only other
// callers, never what real keys have learned, and the reverse.
func (d *Detector) shrink() {
	identShare := d.cfg.MaxTracked / 4
	for d.keys.len()+d.idents.len() > d.cfg.MaxTracked {
		if d.idents.len() > identShare || d.keys.len() == 0 {
			d.idents.removeOldest()
		} else {
			d.keys.removeOldest()
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
