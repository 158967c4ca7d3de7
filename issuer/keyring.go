package issuer

import (
	"fmt"
	"slices"
	"time"
)

// KeyState is where a signing key is in its life.
type KeyState string

// Key states, in the order a key normally passes through them. Revoked is
// reached from any published state by Revoke.
const (
	// KeyNext is published and verifies, but does not sign yet, so that
	// relying parties have fetched it before the first token they see.
	KeyNext KeyState = "next"
	// KeyActive signs new tokens. There is exactly one.
	KeyActive KeyState = "active"
	// KeyRetired no longer signs but stays published and verifying until
	// every token it signed has expired.
	KeyRetired KeyState = "retired"
	// KeyRemoved is neither published nor verifying.
	KeyRemoved KeyState = "removed"
	// KeyRevoked is withdrawn early, because it is compromised or suspect:
	// neither published nor verifying, and never reinstated.
	KeyRevoked KeyState = "revoked"
)

// KeyringEntry is one key and its schedule. Times that do not apply to the
// state yet are zero.
type KeyringEntry struct {
	Key       *SigningKey
	State     KeyState
	CreatedAt time.Time
	// ActivateAt is when a next key becomes active.
	ActivateAt time.Time
	// ActivatedAt, RetiredAt and RevokedAt record when the key entered
	// those states; RemoveAt is when a retired key leaves the JWKS.
	ActivatedAt, RetiredAt, RemoveAt, RevokedAt time.Time
}

// KeyringPolicy says how keys are rotated.
type KeyringPolicy struct {
	// Alg is the algorithm of newly generated keys. Existing keys keep
	// theirs, so changing it migrates at the next rotation.
	Alg string
	// RotationPeriod is how long after activation an active key is
	// replaced. Must be positive.
	RotationPeriod time.Duration
	// PublishLead is the least time a next key is published before it
	// signs, so relying parties that cache the JWKS have it in time. Must
	// be positive.
	PublishLead time.Duration
	// Retain is how long a retired key stays published and verifying: at
	// least the longest token lifetime plus the verifiers' leeway. Must be
	// positive.
	Retain time.Duration
}

// keyGenerator makes a new signing key for an algorithm;
// GenerateSigningKeyAlg is the real one.
type keyGenerator = func(alg string) (*SigningKey, error)

func (p KeyringPolicy) validate() error {
	switch p.Alg {
	case AlgEdDSA, AlgES256, AlgRS256:
	default:
		return fmt.Errorf("%w: keyring algorithm %q is not supported", ErrInvalidConfig, p.Alg)
	}
	if p.RotationPeriod <= 0 || p.PublishLead <= 0 || p.Retain <= 0 {
		return fmt.Errorf("%w: rotation period, publish lead and retain must be positive", ErrInvalidConfig)
	}
	return nil
}

// keyring is a working copy of the entries with the indexes of the active and
// next keys (-1 when absent).
type keyring struct {
	entries      []KeyringEntry
	active, next int
}

// load copies entries, sorts the copy by CreatedAt and checks the invariants
// every operation relies on. The caller's slice is never modified.
func load(entries []KeyringEntry) (*keyring, error) {
	kr := &keyring{entries: slices.Clone(entries), active: -1, next: -1}
	slices.SortStableFunc(kr.entries, func(a, b KeyringEntry) int { return a.CreatedAt.Compare(b.CreatedAt) })
	seen := make(map[string]struct{}, len(kr.entries))
	for n, e := range kr.entries {
		if !e.Key.usable() {
			return nil, fmt.Errorf("%w: entry %d has no usable key", ErrInvalidKeyring, n)
		}
		if _, dup := seen[e.Key.kid]; dup {
			return nil, fmt.Errorf("%w: kid %s appears twice", ErrInvalidKeyring, e.Key.kid)
		}
		seen[e.Key.kid] = struct{}{}
		slot := (*int)(nil)
		switch e.State {
		case KeyActive:
			slot = &kr.active
		case KeyNext:
			slot = &kr.next
		case KeyRetired, KeyRemoved, KeyRevoked:
		default:
			return nil, fmt.Errorf("%w: entry %d has unknown state %q", ErrInvalidKeyring, n, e.State)
		}
		if slot != nil {
			if *slot >= 0 {
				return nil, fmt.Errorf("%w: more than one %s key", ErrInvalidKeyring, e.State)
			}
			*slot = n
		}
	}
	return kr, nil
}

// add appends a new key created at now. Keys are created in time order, so the
// slice stays sorted unless the clock went backwards, which only reorders
// entries and breaks no invariant.
func (kr *keyring) add(gen keyGenerator, alg string, now time.Time, state KeyState) (int, error) {
	k, err := gen(alg)
	if err != nil {
		return -1, fmt.Errorf("issuer: generate signing key: %w", err)
	}
	if !k.usable() {
		return -1, fmt.Errorf("%w: generator returned no usable key", ErrInvalidSigningKey)
	}
	for _, e := range kr.entries {
		if e.Key.kid == k.kid {
			return -1, fmt.Errorf("%w: generated kid %s already exists", ErrInvalidKeyring, k.kid)
		}
	}
	e := KeyringEntry{Key: k, State: state, CreatedAt: now}
	kr.entries = append(kr.entries, e)
	return len(kr.entries) - 1, nil
}

// activate makes entry n the active key at now. The previous active key, if
// any, is retired; the caller has already dealt with it otherwise.
func (kr *keyring) activate(n int, now time.Time, p KeyringPolicy) {
	if kr.active >= 0 {
		old := &kr.entries[kr.active]
		old.State, old.RetiredAt, old.RemoveAt = KeyRetired, now, now.Add(p.Retain)
	}
	e := &kr.entries[n]
	e.State, e.ActivatedAt = KeyActive, now
	if e.ActivateAt.IsZero() || e.ActivateAt.After(now) {
		e.ActivateAt = now
	}
	kr.active = n
	if kr.next == n {
		kr.next = -1
	}
}

// Plan returns the entries as they should be at now, and whether anything
// changed; gen makes new keys. It applies these rules until none applies:
//
//   - no active key but a next key: the next key becomes active now;
//   - neither: a new key is generated and active now;
//   - a next key whose ActivateAt has come: it becomes active and the old
//     active key is retired, to be removed Retain later;
//   - an active key due for rotation within PublishLead and no next key: a
//     next key is generated, activating at the later of now+PublishLead and
//     the end of the rotation period;
//   - a retired key whose RemoveAt has come: removed;
//   - a key removed for Retain longer (RemoveAt+Retain has come): dropped
//     from the slice, so the keyring stays bounded. Revoked entries are kept
//     for good, as the record that the kid must never verify again.
//
// The result is sorted by CreatedAt. The input slice is not modified.
func Plan(entries []KeyringEntry, p KeyringPolicy, now time.Time, gen func(alg string) (*SigningKey, error)) ([]KeyringEntry, bool, error) {
	if err := p.validate(); err != nil {
		return nil, false, err
	}
	kr, err := load(entries)
	if err != nil {
		return nil, false, err
	}
	changed := false
	for {
		step, err := kr.step(p, now, gen)
		if err != nil {
			return nil, false, err
		}
		if !step {
			break
		}
		changed = true
	}
	return kr.entries, changed, nil
}

// step applies the first rule that matches and reports whether one did.
func (kr *keyring) step(p KeyringPolicy, now time.Time, gen keyGenerator) (bool, error) {
	switch {
	case kr.active < 0 && kr.next >= 0:
		kr.activate(kr.next, now, p)
		return true, nil
	case kr.active < 0:
		n, err := kr.add(gen, p.Alg, now, KeyNext)
		if err != nil {
			return false, err
		}
		kr.activate(n, now, p)
		return true, nil
	case kr.next >= 0 && !now.Before(kr.entries[kr.next].ActivateAt):
		kr.activate(kr.next, now, p)
		return true, nil
	case kr.next < 0 && !now.Before(kr.entries[kr.active].ActivatedAt.Add(p.RotationPeriod-p.PublishLead)):
		n, err := kr.add(gen, p.Alg, now, KeyNext)
		if err != nil {
			return false, err
		}
		kr.entries[n].ActivateAt = later(now.Add(p.PublishLead), kr.entries[kr.active].ActivatedAt.Add(p.RotationPeriod))
		kr.next = n
		return true, nil
	}
	for n := range kr.entries {
		e := &kr.entries[n]
		if e.State == KeyRetired && !now.Before(e.RemoveAt) {
			e.State = KeyRemoved
			return true, nil
		}
		if e.State == KeyRemoved && !now.Before(e.RemoveAt.Add(p.Retain)) {
			kr.drop(n)
			return true, nil
		}
	}
	return false, nil
}

func (kr *keyring) drop(n int) {
	kr.entries = slices.Delete(kr.entries, n, n+1)
	for _, idx := range []*int{&kr.active, &kr.next} {
		if *idx > n {
			*idx--
		}
	}
}

func later(a, b time.Time) time.Time {
	if !a.Before(b) {
		return a
	}
	return b
}

// RotateNow brings the next rotation forward without shortening the publish
// lead: with no next key it generates one activating at now+PublishLead; with
// one, it moves its ActivateAt to the later of CreatedAt+PublishLead and now.
// Plan carries the activation out when its time comes.
func RotateNow(entries []KeyringEntry, p KeyringPolicy, now time.Time, gen func(string) (*SigningKey, error)) ([]KeyringEntry, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	kr, err := load(entries)
	if err != nil {
		return nil, err
	}
	if kr.next >= 0 {
		e := &kr.entries[kr.next]
		e.ActivateAt = later(e.CreatedAt.Add(p.PublishLead), now)
		return kr.entries, nil
	}
	n, err := kr.add(gen, p.Alg, now, KeyNext)
	if err != nil {
		return nil, err
	}
	kr.entries[n].ActivateAt = now.Add(p.PublishLead)
	return kr.entries, nil
}

// Revoke withdraws kid at once: it leaves the JWKS and stops verifying, so
// every token it signed fails from the next Issuer built. Revoking the active
// key activates the next key now if there is one (its publish lead is cut
// short, which is the price of not signing with a suspect key), otherwise a
// newly generated key.
func Revoke(entries []KeyringEntry, kid string, p KeyringPolicy, now time.Time, gen func(string) (*SigningKey, error)) ([]KeyringEntry, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	kr, err := load(entries)
	if err != nil {
		return nil, err
	}
	n := slices.IndexFunc(kr.entries, func(e KeyringEntry) bool { return e.Key.kid == kid })
	if n < 0 {
		return nil, fmt.Errorf("%w: no keyring entry has that kid", ErrUnknownKey)
	}
	e := &kr.entries[n]
	if e.State == KeyRemoved || e.State == KeyRevoked {
		return nil, fmt.Errorf("%w: cannot revoke a %s key", ErrKeyState, e.State)
	}
	wasActive := e.State == KeyActive
	e.State, e.RevokedAt = KeyRevoked, now
	switch {
	case kr.next == n:
		kr.next = -1
	case wasActive:
		kr.active = -1
		repl := kr.next
		if repl < 0 {
			if repl, err = kr.add(gen, p.Alg, now, KeyNext); err != nil {
				return nil, err
			}
		}
		kr.activate(repl, now, p)
	}
	return kr.entries, nil
}
