package badger

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// decodeKeyWireFast decodes b into w when b is in the form encodeKey writes:
// compact JSON with no escapes in its strings, each member known and given
// once. It reports false for anything else (white space, an escape, a null,
// an unknown or repeated member, a number in another form), and then w
// must be cleared and b given to encoding/json, which decides what such
// input means. Whatever it accepts, encoding/json decodes the same way
// (FuzzKeyWireFastMatchesJSON).
//
// A sweep of every key record decodes each of them, and encoding/json
// (reflection, and a validation pass over the whole input before it)
// was four fifths of the time a sweep of 100,000 keys took.
func decodeKeyWireFast(b []byte, w *keyWire, history bool) bool {
	r := wireReader{b: b}
	var seen uint64
	return r.object(func(name []byte) bool {
		bit, ok := keyMemberBit(name)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return r.keyMember(name, w, history)
	}) && r.i == len(r.b)
}

// keyMembers lists keyWire's JSON member names; a member's bit in the
// seen mask is its index.
var keyMembers = [...]string{
	"v", "id", "owner", "description", "created_by", "labels", "secret_hash",
	"scopes", "audiences", "bound_identities", "max_ttl_ns", "state",
	"revocation_reason", "created_at", "expires_at", "revoked_at",
	"rotation_period_ns", "rate_limit_per_second", "rate_limit_burst",
	"last_used_at", "use_count", "last_attested_at", "rotated_at",
	"previous_secret_hash", "grace_deadline", "disabled_at", "disabled_reason",
	"enabled_at", "rotation_flagged_at", "history",
}

func keyMemberBit(name []byte) (uint64, bool) {
	for i, m := range keyMembers {
		if string(name) == m {
			return 1 << i, true
		}
	}
	return 0, false
}

func (r *wireReader) keyMember(name []byte, w *keyWire, history bool) bool {
	var ok bool
	switch string(name) {
	case "v":
		w.V, ok = r.intN()
	case "id":
		w.ID, ok = r.str()
	case "owner":
		w.Owner, ok = r.str()
	case "description":
		w.Description, ok = r.str()
	case "created_by":
		w.CreatedBy, ok = r.str()
	case "labels":
		w.Labels, ok = r.labels()
	case "secret_hash":
		w.SecretHash, ok = r.base64()
	case "scopes":
		w.Scopes, ok = r.strs()
	case "audiences":
		w.Audiences, ok = r.strs()
	case "bound_identities":
		w.BoundIdentities, ok = r.strs()
	case "max_ttl_ns":
		var v int64
		v, ok = r.int()
		w.MaxTTL = time.Duration(v)
	case "state":
		w.State, ok = r.str()
	case "revocation_reason":
		w.RevocationReason, ok = r.str()
	case "created_at":
		ok = r.time(&w.CreatedAt)
	case "expires_at":
		ok = r.time(&w.ExpiresAt)
	case "revoked_at":
		ok = r.time(&w.RevokedAt)
	case "rotation_period_ns":
		var v int64
		v, ok = r.int()
		w.RotationPeriod = time.Duration(v)
	case "rate_limit_per_second":
		w.RateLimitPerSecond, ok = r.float()
	case "rate_limit_burst":
		w.RateLimitBurst, ok = r.intN()
	case "last_used_at":
		ok = r.time(&w.LastUsedAt)
	case "use_count":
		w.UseCount, ok = r.uint()
	case "last_attested_at":
		ok = r.time(&w.LastAttestedAt)
	case "rotated_at":
		ok = r.time(&w.RotatedAt)
	case "previous_secret_hash":
		w.PreviousSecretHash, ok = r.base64()
	case "grace_deadline":
		ok = r.time(&w.GraceDeadline)
	case "disabled_at":
		ok = r.time(&w.DisabledAt)
	case "disabled_reason":
		w.DisabledReason, ok = r.str()
	case "enabled_at":
		ok = r.time(&w.EnabledAt)
	case "rotation_flagged_at":
		ok = r.time(&w.RotationFlaggedAt)
	case "history":
		// Without history the events are still read, and so checked, as
		// encoding/json checks all of its input; they are not kept.
		var events []eventWire
		events, ok = r.events(history)
		if history {
			w.History = events
		}
	}
	return ok
}

// events reads an array of history events, keeping them when keep is set.
func (r *wireReader) events(keep bool) ([]eventWire, bool) {
	var out []eventWire
	if keep {
		out = []eventWire{}
	}
	ok := r.list('[', ']', func() bool {
		e, ok := r.event(keep)
		if keep {
			out = append(out, e)
		}
		return ok
	})
	return out, ok
}

// event reads one history event; unless keep is set its strings are
// checked but not copied out.
func (r *wireReader) event(keep bool) (eventWire, bool) {
	str := r.str
	if !keep {
		str = r.skipStr
	}
	var e eventWire
	var seen uint8
	ok := r.object(func(name []byte) bool {
		var bit uint8
		var ok bool
		switch string(name) {
		case "at":
			bit, ok = 1, r.time(&e.At)
		case "action":
			bit = 2
			e.Action, ok = str()
		case "actor":
			bit = 4
			e.Actor, ok = str()
		case "reason":
			bit = 8
			e.Reason, ok = str()
		case "detail":
			bit = 16
			e.Detail, ok = str()
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return e, ok
}

// wireReader reads the canonical JSON of encodeKey; each method reports
// false for anything outside it.
type wireReader struct {
	b []byte
	i int
}

func (r *wireReader) peek(c byte) bool { return r.i < len(r.b) && r.b[r.i] == c }

func (r *wireReader) byte(c byte) bool {
	if !r.peek(c) {
		return false
	}
	r.i++
	return true
}

// list reads open, items separated by commas, and close; item reads one
// item and reports whether it could.
func (r *wireReader) list(open, close byte, item func() bool) bool {
	if !r.byte(open) {
		return false
	}
	for i := 0; !r.peek(close); i++ {
		if i > 0 && !r.byte(',') {
			return false
		}
		if !item() {
			return false
		}
	}
	return r.byte(close)
}

// object reads an object: names, each followed by a colon and the value
// that member reads.
func (r *wireReader) object(member func(name []byte) bool) bool {
	return r.list('{', '}', func() bool {
		name, ok := r.quoted()
		return ok && r.byte(':') && member(name)
	})
}

// quoted returns the content of a string with no escapes, control
// characters or invalid UTF-8.
func (r *wireReader) quoted() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	start := r.i
	ascii := true
	for ; r.i < len(r.b); r.i++ {
		switch c := r.b[r.i]; {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (r *wireReader) str() (string, bool) {
	s, ok := r.quoted()
	return string(s), ok
}

// skipStr reads a string and returns it empty.
func (r *wireReader) skipStr() (string, bool) {
	_, ok := r.quoted()
	return "", ok
}

// strs reads an array of strings; an empty array is an empty slice, as
// encoding/json makes it. Room for two is made at once: most keys have one
// or two scopes, audiences or bound identities.
func (r *wireReader) strs() ([]string, bool) {
	out := make([]string, 0, 2)
	ok := r.list('[', ']', func() bool {
		s, ok := r.str()
		out = append(out, s)
		return ok
	})
	return out, ok
}

// labels reads an object of strings; a repeated name keeps its last value,
// as encoding/json does.
func (r *wireReader) labels() (map[string]string, bool) {
	out := map[string]string{}
	ok := r.object(func(name []byte) bool {
		v, ok := r.str()
		out[string(name)] = v
		return ok
	})
	return out, ok
}

func (r *wireReader) base64() ([]byte, bool) {
	s, ok := r.quoted()
	if !ok {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	return out[:n], err == nil
}

// time reads a string and gives it, quotes included, to
// time.Time.UnmarshalJSON, as encoding/json does.
func (r *wireReader) time(t *time.Time) bool {
	start := r.i
	if _, ok := r.quoted(); !ok {
		return false
	}
	return t.UnmarshalJSON(r.b[start:r.i]) == nil
}

// digits reads an integer in JSON's form: an optional minus, then 0 or a
// digit from 1 to 9 and more digits.
func (r *wireReader) digits() ([]byte, bool) {
	start := r.i
	r.byte('-')
	switch {
	case r.byte('0'):
	case r.i < len(r.b) && r.b[r.i] >= '1' && r.b[r.i] <= '9':
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
		}
	default:
		return nil, false
	}
	return r.b[start:r.i], true
}

// intEnd reports whether an integer ends here: a fraction or an exponent
// would make it a number encoding/json does not put in an integer field.
func (r *wireReader) intEnd() bool {
	return r.i == len(r.b) || strings.IndexByte(".eE", r.b[r.i]) < 0
}

func (r *wireReader) int() (int64, bool) {
	d, ok := r.digits()
	if !ok || !r.intEnd() {
		return 0, false
	}
	v, err := strconv.ParseInt(string(d), 10, 64)
	return v, err == nil
}

// intN reads an integer that fits an int.
func (r *wireReader) intN() (int, bool) {
	v, ok := r.int()
	return int(v), ok && int64(int(v)) == v
}

func (r *wireReader) uint() (uint64, bool) {
	if r.peek('-') {
		return 0, false
	}
	d, ok := r.digits()
	if !ok || !r.intEnd() {
		return 0, false
	}
	v, err := strconv.ParseUint(string(d), 10, 64)
	return v, err == nil
}

// float reads a number in JSON's full form.
func (r *wireReader) float() (float64, bool) {
	start := r.i
	if _, ok := r.digits(); !ok {
		return 0, false
	}
	if r.byte('.') && !r.someDigits() {
		return 0, false
	}
	if r.byte('e') || r.byte('E') {
		if !r.byte('+') {
			r.byte('-')
		}
		if !r.someDigits() {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(string(r.b[start:r.i]), 64)
	return v, err == nil
}

func (r *wireReader) someDigits() bool {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}
