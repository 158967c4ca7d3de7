package server

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/audit/alert"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// alertQueue bounds alerts waiting to be handled; beyond it they are
// dropped (and counted) rather than slowing the audit writer.
const alertQueue = 1024

// AlertSink receives every alert, e.g. a webhook; it must not block.
type AlertSink interface {
	Enqueue(alert.Alert) bool
}

// alerter turns durable exchange events into alerts: each becomes an
// audit event of its own, a metric, a webhook delivery, and, when the
// policy says so, the quarantine of the key it concerns.
type alerter struct {
	detector *alert.Detector
	trail    *audit.Trail
	keys     store.KeyStore
	revoker  *tokenRevoker
	policy   func() *policy.Policy
	sink     AlertSink
	counted  func(kind string)
	log      *slog.Logger
	now      func() time.Time

	queue   chan alert.Alert
	stop    chan struct{}
	wg      sync.WaitGroup
	dropped func()
}

func detectorConfig(r policy.AlertRules) alert.Config {
	if r.RateSpikeFactor == 0 { // a policy built without Parse
		r = policy.DefaultAlertRules()
	}
	// The detector reads zero as "default"; the policy's zero cooldown
	// means "every occurrence", its smallest is a millisecond.
	r.Cooldown = max(r.Cooldown, time.Millisecond)
	r.ScopeProbeWindow = max(r.ScopeProbeWindow, time.Millisecond)
	r.InvalidKeyWindow = max(r.InvalidKeyWindow, time.Millisecond)
	return alert.Config{
		RateSpikeFactor: r.RateSpikeFactor, RateSpikeMin: r.RateSpikeMin, BaselineMinutes: r.BaselineMinutes,
		ScopeProbeCount: r.ScopeProbeCount, ScopeProbeWindow: r.ScopeProbeWindow,
		InvalidKeyCount: r.InvalidKeyCount, InvalidKeyWindow: r.InvalidKeyWindow,
		Cooldown: r.Cooldown,
	}
}

// warmEvents bounds the audit history read at start: the newest events,
// of which the exchanges teach the detector.
const warmEvents = 200_000

// warm teaches the detector the recent history, so a restart does not
// make every key look new: the exchanges since since among the newest
// limit events, oldest first, as they happened. The alerts among them
// then restart their cooldowns, so a condition that lasts across the
// restart is not alerted again at once.
func (a *alerter) warm(ctx context.Context, since time.Time, limit uint64) error {
	var from uint64
	if head := a.trail.Head(); head > limit {
		from = head - limit + 1
	}
	err := a.eachEvent(ctx, audit.KindExchange, since, from, a.detector.Warm)
	if err != nil {
		return err
	}
	return a.eachEvent(ctx, audit.KindAlert, since, from, func(e audit.Event) {
		a.detector.WarmAlert(alert.Kind(e.Alert), e.KeyID, e.Detail["identity"], e.Time)
	})
}

// eachEvent calls fn with every event of kind since since, from sequence
// number from on, oldest first.
func (a *alerter) eachEvent(ctx context.Context, kind audit.Kind, since time.Time, from uint64, fn func(audit.Event)) error {
	q := audit.Query{Filter: audit.Filter{Kind: kind}, Since: since, FromSeq: from, PageSize: audit.MaxPageSize}
	for {
		page, err := a.trail.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			fn(e)
		}
		if page.NextPageToken == "" {
			return nil
		}
		q.PageToken = page.NextPageToken
	}
}

func (a *alerter) start() {
	a.trail.AddHook(a.observe)
	a.wg.Go(a.run)
}

// observe runs on the audit writer goroutine: it must only look.
func (a *alerter) observe(e audit.Event) {
	if e.Kind != audit.KindExchange {
		return
	}
	for _, al := range a.detector.Observe(e) {
		select {
		case a.queue <- al:
		default:
			if a.dropped != nil {
				a.dropped()
			}
		}
	}
}

func (a *alerter) run() {
	for {
		select {
		case <-a.stop:
			return
		case al := <-a.queue:
			a.handle(al)
		}
	}
}

func (a *alerter) close() {
	close(a.stop)
	a.wg.Wait()
}

func (a *alerter) handle(al alert.Alert) {
	ctx := context.Background()
	if a.counted != nil {
		a.counted(string(al.Kind))
	}
	detail := maps.Clone(al.Detail)
	if detail == nil {
		detail = map[string]string{}
	}
	if al.Identity != "" {
		detail["identity"] = al.Identity
	}
	if al.Network != "" {
		detail["network"] = al.Network
	}
	if _, err := a.trail.Record(ctx, audit.Event{
		Kind: audit.KindAlert, Actor: audit.ActorAlerts, KeyID: al.KeyID, Alert: string(al.Kind),
		Result: audit.ResultOK, Reason: al.Message, Detail: detail,
	}); err != nil {
		a.log.Error("alert could not be recorded", "alert", al.Kind, "key_id", al.KeyID, "error", err)
	}
	if a.sink != nil && !a.sink.Enqueue(al) {
		a.log.Warn("alert webhook queue full; alert not delivered", "alert", al.Kind, "key_id", al.KeyID)
	}
	if al.KeyID != "" && a.policy().Alerts.Quarantines(string(al.Kind)) {
		a.quarantine(ctx, al)
	}
}

// quarantine disables the key and revokes every token it issued, as an
// administrator's DisableKey would.
func (a *alerter) quarantine(ctx context.Context, al alert.Alert) {
	reason := "quarantined: " + string(al.Kind)
	now := a.now()
	changed := false
	_, err := a.keys.UpdateKey(ctx, al.KeyID, func(r *store.KeyRecord) error {
		changed = r.State == store.KeyStateActive
		if changed {
			r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, now, reason
			r.AddEvent(store.KeyEvent{At: now, Actor: audit.ActorAlerts, Action: "disabled", Reason: reason})
		}
		return nil
	})
	if err == nil && changed {
		_, err = a.revoker.revokeIssued(ctx, audit.ActorAlerts, al.KeyID, now, "key disabled: "+reason)
	}
	result := audit.ResultOK
	if err != nil {
		result = audit.ResultError
		a.log.Error("quarantine failed", "key_id", al.KeyID, "alert", al.Kind, "error", err)
	}
	if !changed && err == nil {
		return // already disabled, revoked or expired
	}
	if _, rerr := a.trail.Record(ctx, audit.Event{
		Kind: audit.KindKeyDisable, Actor: audit.ActorAlerts, KeyID: al.KeyID, Result: result, Reason: reason,
		Alert: string(al.Kind),
	}); rerr != nil {
		a.log.Error("quarantine could not be recorded", "key_id", al.KeyID, "error", rerr)
	}
}
